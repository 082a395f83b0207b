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
 * consecutive seqs, at most `capacity` of them and at most `max_bytes` of their JSON (the
 * newest one is kept whatever its size): reads of recent history, and the fact a POST's client
 * asks for right after its 201, need no round trip to the log. The byte bound keeps the window
 * small whatever the facts weigh: 100,000 facts of 64 KiB would otherwise be 6.4 GB.
 * Thread-safe: one lock guards them, held only to copy in or out.
 */
class recent_facts {
 public:
  recent_facts(std::size_t capacity, std::size_t max_bytes)
      : capacity_(capacity), max_bytes_(max_bytes) {}

  /** Represents one read of the window, all of it seen under one lock. */
  struct read_result {
    /// Fact `after + 1` is kept or would be the next one kept: `facts` is the answer, and it is
    /// empty only when nothing newer than `after` has been followed yet.
    bool covered = false;
    std::uint64_t first_seq = 0;  ///< the oldest seq kept then; 0 while none is
    std::vector<fact> facts;      ///< at most `max`, oldest first
  };

  /// At most `max` facts with seq > `after` when the window covers `after + 1`; otherwise only
  /// where it starts, so that the caller reads what is older from the log. One lock, so a
  /// window that moves on meanwhile cannot answer "nothing" for facts it has just dropped.
  read_result read_after(std::uint64_t after, std::size_t max) const;

  /// The JSON bytes of the facts kept.
  std::size_t bytes() const;

  /// While none is kept: keeps the newest of `latest` (consecutive, oldest first) within the
  /// bounds, so that following goes on from its end.
  void seed(std::vector<fact> const& latest);

  /// Keeps `f`, dropping the oldest beyond the bounds; an `f` that does not follow the newest
  /// kept starts them over, so that they stay consecutive.
  void push(fact const& f);

 private:
  void trim_locked();

  std::size_t const capacity_;
  std::size_t const max_bytes_;
  mutable std::mutex mutex_;  // guards facts_ and bytes_
  std::deque<fact> facts_;
  std::size_t bytes_ = 0;  // the sum of facts_' JSON sizes
};

}  // namespace facts
