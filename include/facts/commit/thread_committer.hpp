#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "facts/commit/committer.hpp"
#include "facts/commit/fan_out_answers.hpp"

namespace facts {

/**
 * Represents the committer of a store whose append may wait on a disk (sqlite:): a thread of
 * its own appends what was submitted meanwhile as one batch (group commit), one batch at a
 * time, so that no I/O thread ever waits for an fsync.
 */
class thread_committer final : public committer {
 public:
  thread_committer(fact_store& store, broadcaster& hub, std::chrono::milliseconds fan_out_timeout);
  ~thread_committer() override;

  void submit_all(std::vector<submission> batch) override;
  bool stop(std::chrono::steady_clock::time_point deadline) override;

 private:
  void run();

  fact_store& store_;
  fan_out_answers answers_;
  std::mutex mutex_;                  // guards queue_, stopping_ and done_
  std::condition_variable wake_;      // signalled on submit and stop
  std::condition_variable finished_;  // signalled when the thread has stored everything
  std::vector<submission> queue_;
  bool stopping_ = false;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace facts
