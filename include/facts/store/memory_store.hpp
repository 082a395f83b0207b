#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>

#include "facts/store/append_plan.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/store/idempotency_keys.hpp"
#include "facts/store/retention_bounds.hpp"

namespace facts {

/**
 * Represents a store that keeps facts in memory only: for tests and throwaway use. Retention
 * drops the oldest facts as new ones arrive (facts past the age bound also when the store is
 * read), so memory stays within the bounds.
 */
class memory_store final : public fact_store {
 public:
  explicit memory_store(retention_bounds bounds = {}) : bounds_(bounds) {}

  using fact_store::append;
  std::vector<append_result> append(std::vector<append_request> const& requests) override;
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const override;
  std::vector<fact> read_latest(std::size_t max) const override;
  std::uint64_t last_seq() const override;
  std::uint64_t count() const override;
  std::uint64_t first_seq() const override;
  retention_figures retention() const override;
  std::string describe() const override { return "memory:"; }
  bool appends_without_waiting() const override { return true; }

 private:
  /** Represents one fact kept, with when it was stored, for the age bound. */
  struct kept_fact {
    fact stored;
    std::int64_t created = 0;  ///< unix seconds
  };

  /// Drops the oldest facts beyond the bounds at `now`; under mutex_.
  void drop_beyond_bounds(std::int64_t now) const;

  retention_bounds bounds_;
  mutable std::mutex mutex_;  // guards everything below but the atomics
  // facts_[i].stored.seq == first_seq_ + i. A deque: growing never moves the facts already
  // stored, which a vector does all at once (a stall of the I/O thread that stores,
  // proportional to the count), and the oldest go from its front. Mutable: a read drops the
  // facts that aged out while no fact arrived.
  mutable std::deque<kept_fact> facts_;
  mutable idempotency_keys keys_;
  mutable std::uint64_t json_bytes_ = 0;  // JSON bytes of facts_
  std::uint64_t last_seq_ = 0;
  mutable std::atomic<std::uint64_t> first_seq_{1};  // written under mutex_, read anywhere
  mutable std::atomic<std::uint64_t> removed_{0};    // written under mutex_, read anywhere
  mutable std::atomic<std::uint64_t> stored_bytes_{0};
};

}  // namespace facts
