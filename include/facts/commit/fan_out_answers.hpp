#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

#include "facts/commit/committer.hpp"

namespace facts {

class broadcaster;

/**
 * Represents the answers a committer owes: a stored fact is answered once the hub has fanned it
 * out, or as `unavailable` when it has not come back by its deadline (stored, but a 201 now
 * would break its promise; the client's retry with the same Idempotency-Key finds it). The one
 * place that rule lives, for every way of committing; stop() waits here for what is owed.
 */
class fan_out_answers {
 public:
  using clock = std::chrono::steady_clock;

  fan_out_answers(broadcaster& hub, std::chrono::milliseconds timeout);

  fan_out_answers(fan_out_answers const&) = delete;
  fan_out_answers& operator=(fan_out_answers const&) = delete;

  /// Counts `n` more answers owed, before their facts go to the store.
  void owe(std::size_t n);

  /// Answers one owed fact with what the store made of it, once the hub has it; `asked`: when
  /// the store was asked, from which the deadline counts.
  void settle(append_result result, committer::completion done, clock::time_point asked);

  /// Answers one owed fact that was not stored.
  void refuse(committer::completion& done);

  /// A local store's commit: appends the owed `batch` to `store` as one unit (one transaction,
  /// one sync), then settles each, or refuses all when the store failed (nothing stored).
  void append_and_settle(fact_store& store, std::vector<committer::submission>& batch);

  /// Waits until nothing is owed; false when something still is at `deadline`.
  bool wait_settled(clock::time_point deadline);

 private:
  void answered();

  broadcaster& hub_;
  std::chrono::milliseconds timeout_;
  // Counted without a lock, one fact at a time on the publishing path; mutex_ is taken only to
  // wake wait_settled() when the count reaches 0.
  std::atomic<std::size_t> owed_{0};
  std::mutex mutex_;
  std::condition_variable settled_;
};

}  // namespace facts
