#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
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
  sse_fleet(std::uint16_t port, std::size_t count, std::string final_id)
      : stream_fleet(port, count, events_request(), 4 * 1024,
                     [final_id = std::move(final_id)](stream& s, std::string_view bytes) {
                       s.parser.feed(bytes);
                       while (s.parser.has_event()) {
                         s.events.push_back(s.parser.pop());
                         if (s.events.size() > 1 && s.events.back().id == final_id)
                           s.finished = true;
                       }
                     }) {}

  std::size_t finished() const {
    return count([](stream const& s) { return s.finished.load(); });
  }

  /// Streams that were refused or ended: while the server runs, a stream should do neither.
  std::size_t failed() const {
    return count([](stream const& s) { return s.refused.load() || s.ended.load(); });
  }

 private:
  template <class Predicate>
  std::size_t count(Predicate holds) const {
    return static_cast<std::size_t>(std::count_if(streams().begin(), streams().end(),
                                                  [&](auto const& s) { return holds(*s); }));
  }
};

}  // namespace facts::test
