#pragma once

#include <deque>
#include <mutex>

#include "facts/store/append_plan.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/store/idempotency_keys.hpp"

namespace facts {

/** Represents a store that keeps facts in memory only: for tests and throwaway use. */
class memory_store final : public fact_store {
 public:
  using fact_store::append;
  std::vector<append_result> append(std::vector<append_request> const& requests) override;
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const override;
  std::vector<fact> read_latest(std::size_t max) const override;
  std::uint64_t last_seq() const override;
  std::uint64_t count() const override;
  std::string describe() const override { return "memory:"; }
  bool appends_without_waiting() const override { return true; }

 private:
  mutable std::mutex mutex_;  // guards facts_ and keys_
  // facts_[i].seq == i + 1. A deque: growing never moves the facts already stored, which a
  // vector does all at once (a stall of the I/O thread that stores, proportional to the count).
  std::deque<fact> facts_;
  idempotency_keys keys_;
};

}  // namespace facts
