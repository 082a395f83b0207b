#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the facts the nats:// store's last few range reads brought from the log, beyond
 * what their callers asked for. A range read of JetStream 2.9 is a consumer of its own, so a page
 * or a catch-up read in steps of 16 facts would cost a consumer per step; a fact never changes
 * once stored, so the next steps are served from here. Holds at most `ranges` reads (the most
 * recently used); thread-safe, one lock held only to look up or to swap a range in.
 */
class nats_read_ahead {
 public:
  explicit nats_read_ahead(std::size_t ranges) : max_ranges_(ranges) {}

  /// At most `max` facts with seq > `after`, oldest first, from one range read kept here that
  /// holds `after + 1`; empty when none does.
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const;

  /// Keeps `facts` (consecutive seqs, oldest first), dropping the range used least recently.
  void keep(std::vector<fact> facts);

 private:
  using range = std::shared_ptr<std::vector<fact> const>;

  std::size_t const max_ranges_;
  mutable std::mutex mutex_;         // guards ranges_
  mutable std::list<range> ranges_;  // the most recently used first
};

}  // namespace facts
