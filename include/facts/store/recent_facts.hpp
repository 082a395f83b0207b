#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the newest facts a shared-log store has followed (or read at startup), with
 * consecutive seqs, at most `capacity` of them: reads of recent history, and the fact a POST's
 * client asks for right after its 201, need no round trip to the log. Thread-safe: one lock
 * guards them, held only to copy in or out.
 */
class recent_facts {
 public:
  explicit recent_facts(std::size_t capacity) : capacity_(capacity) {}

  /// The oldest seq kept; 0 while none is.
  std::uint64_t first_seq() const;

  /// At most `max` facts with seq > `after`, oldest first, when fact `after + 1` is kept;
  /// nothing otherwise.
  std::vector<fact> after(std::uint64_t after, std::size_t max) const;

  /// While none is kept: keeps the newest of `latest` (consecutive, oldest first), so that
  /// following goes on from its end.
  void seed(std::vector<fact> const& latest);

  /// Keeps `f`, dropping the oldest beyond capacity; an `f` that does not follow the newest
  /// kept starts them over, so that they stay consecutive.
  void push(fact const& f);

 private:
  std::size_t const capacity_;
  mutable std::mutex mutex_;  // guards facts_
  std::deque<fact> facts_;
};

}  // namespace facts
