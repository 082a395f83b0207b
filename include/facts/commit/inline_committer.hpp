#pragma once

#include <mutex>
#include <vector>

#include "facts/commit/committer.hpp"
#include "facts/commit/fan_out_answers.hpp"

namespace facts {

/**
 * Represents the committer of a store whose append never waits (memory:): a batch is stored on
 * the thread that submits it, under a lock that keeps batches one at a time and in order.
 * Handing a batch to another thread and its answers back cost two thread wake-ups, more than
 * storing it.
 */
class inline_committer final : public committer {
 public:
  inline_committer(fact_store& store, broadcaster& hub, std::chrono::milliseconds fan_out_timeout);
  ~inline_committer() override;

  void submit_all(std::vector<submission> batch) override;
  bool stop(std::chrono::steady_clock::time_point deadline) override;

 private:
  fact_store& store_;
  fan_out_answers answers_;
  // Held for a batch's whole commit: batches take it in the order they commit, so seqs and
  // fan-out keep that order; another thread's batch waits as long as storing in memory takes.
  std::mutex commit_mutex_;
  bool stopping_ = false;  // guarded by commit_mutex_
};

}  // namespace facts
