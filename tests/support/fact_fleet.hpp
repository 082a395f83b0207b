#pragma once

// Many event streams that keep every fact they received with its id: the snapshot array is
// unrolled (its event's id is the id of its last element, the elements' ids run up to it), the
// live events follow. What the scale-out tests compare between streams and instances.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/sse_client.hpp"
#include "support/stream_fleet.hpp"

namespace facts::test {

/** Represents one fact as a stream received it. */
struct received_fact {
  std::uint64_t id = 0;
  std::string info;  ///< the fact's "info" field: the tests make it unique per POST

  friend bool operator==(received_fact const&, received_fact const&) = default;
};

/** Represents what one stream of a fact_fleet keeps. */
struct fact_record {
  sse_parser parser;
  std::vector<sse_event> events;           ///< the snapshot first, then the live events
  std::atomic<std::uint64_t> last_id{0};   ///< the newest id received (the snapshot's counts)
  std::atomic<std::size_t> heartbeats{0};  ///< comment lines received
  std::atomic<std::size_t> received{0};    ///< events received, the snapshot included
};

/// The `id:` of an event as a number; 0 when it has none or it is not a number.
std::uint64_t event_id(sse_event const& e);

/// The "info" string of a compact fact object as factsd sends it, found without parsing the
/// whole event (a test reads hundreds of thousands); the data itself when it has none.
std::string info_of(std::string const& data);

/**
 * Represents `count` streams on GET /events of one instance, all sent the same
 * `Last-Event-ID` (none when 0).
 */
class fact_fleet : public stream_fleet<fact_record> {
 public:
  fact_fleet(std::uint16_t port, std::size_t count, std::uint64_t last_event_id = 0);

  /// The smallest newest-id over the streams: every stream has received every id up to it.
  std::uint64_t min_last_id() const;

  /// Every stream was answered 200 and has received its first event (the snapshot).
  bool all_have_snapshot() const;

  /// Streams that were refused or ended.
  std::size_t failed() const;

  /// The facts one stream received, in the order received (call after stop()). `first_type`
  /// gets the snapshot's event type ("message", or "reset").
  static std::vector<received_fact> facts_of(stream const& s, std::string* first_type = nullptr);
};

}  // namespace facts::test
