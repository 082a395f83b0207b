#pragma once

#include <mutex>
#include <vector>

#include "facts/commit/committer.hpp"
#include "facts/commit/fan_out_answers.hpp"

namespace facts {

/**
 * Represents the committer of a shared log (nats://), where an append waits a network round
 * trip: each fact goes to the log at once, many are in flight, and each is answered as soon as
 * its own ack is in and its own fact has come back through the hub, not with the slowest of a
 * batch.
 */
class log_committer final : public committer {
 public:
  log_committer(fact_store& store, broadcaster& hub, std::chrono::milliseconds fan_out_timeout);
  ~log_committer() override;

  void submit_all(std::vector<submission> batch) override;
  bool stop(std::chrono::steady_clock::time_point deadline) override;
  bool answers_each_alone() const override { return true; }

 private:
  fact_store& store_;
  fan_out_answers answers_;
  std::mutex mutex_;  // guards stopping_
  bool stopping_ = false;
};

}  // namespace facts
