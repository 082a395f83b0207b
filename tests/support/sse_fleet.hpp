#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/sse_client.hpp"
#include "support/stream_fleet.hpp"

namespace facts::test {

/** Represents what one stream of an sse_fleet keeps: every event, parsed. */
struct sse_record {
  sse_parser parser;
  std::vector<sse_event> events;      ///< the snapshot first, then the live events
  std::atomic<bool> finished{false};  ///< a live event carried the fleet's final id
};

/**
 * Represents `count` streams on GET /events, each recording its first event (the snapshot) and
 * every event after it. A stream is "finished" once it has seen a live event whose id is
 * `final_id`. Events may be read only after stop().
 */
class sse_fleet : public stream_fleet<sse_record> {
 public:
  sse_fleet(std::uint16_t port, std::size_t count, std::string final_id);

  std::size_t finished() const;

  /// Streams that were refused or ended: while the server runs, a stream should do neither.
  std::size_t failed() const;

 private:
  template <class Predicate>
  std::size_t count(Predicate holds) const;
};

}  // namespace facts::test
