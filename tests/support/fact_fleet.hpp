#pragma once

// Many event streams that keep every fact they received with its id: the snapshot array is
// unrolled (its event's id is the id of its last element, the elements' ids run up to it), the
// live events follow. What the scale-out tests compare between streams and instances.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
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
inline std::uint64_t event_id(sse_event const& e) {
  if (!e.id || !all_digits(*e.id)) return 0;
  return std::stoull(*e.id);
}

/// The "info" string of a compact fact object as factsd sends it, found without parsing the
/// whole event (a test reads hundreds of thousands); the data itself when it has none.
inline std::string info_of(std::string const& data) {
  constexpr std::string_view field = "\"info\":\"";
  auto const at = data.find(field);
  if (data.empty() || data.front() != '{' || at == std::string::npos) return data;
  auto const from = at + field.size();
  auto const to = data.find('"', from);
  return to == std::string::npos ? data : data.substr(from, to - from);
}

/**
 * Represents `count` streams on GET /events of one instance, all sent the same
 * `Last-Event-ID` (none when 0).
 */
class fact_fleet : public stream_fleet<fact_record> {
 public:
  fact_fleet(std::uint16_t port, std::size_t count, std::uint64_t last_event_id = 0)
      : stream_fleet(
            port, count,
            events_request(last_event_id == 0
                               ? std::string{}
                               : "Last-Event-ID: " + std::to_string(last_event_id) + "\r\n"),
            16 * 1024, &fact_fleet::scan) {}

  /// The smallest newest-id over the streams: every stream has received every id up to it.
  std::uint64_t min_last_id() const {
    auto least = std::numeric_limits<std::uint64_t>::max();
    for (auto const& s : streams())
      least = std::min(least, s->last_id.load());
    return streams().empty() ? 0 : least;
  }

  /// Every stream was answered 200 and has received its first event (the snapshot).
  bool all_have_snapshot() const {
    return opened() == streams().size() &&
           std::all_of(streams().begin(), streams().end(),
                       [](auto const& s) { return s->received.load() > 0; });
  }

  /// Streams that were refused or ended.
  std::size_t failed() const {
    return static_cast<std::size_t>(std::count_if(streams().begin(), streams().end(), [](auto& s) {
      return s->refused.load() || s->ended.load();
    }));
  }

  /// The facts one stream received, in the order received (call after stop()). `first_type`
  /// gets the snapshot's event type ("message", or "reset").
  static std::vector<received_fact> facts_of(stream const& s, std::string* first_type = nullptr) {
    std::vector<received_fact> out;
    for (std::size_t i = 0; i < s.events.size(); ++i) {
      auto const& e = s.events[i];
      auto const id = event_id(e);
      if (i == 0) {
        auto const data = nlohmann::json::parse(e.data, nullptr, false);
        if (first_type) *first_type = e.type;
        if (!data.is_array()) return out;  // no snapshot: the caller's checks will tell
        auto next = id + 1 - data.size();
        for (auto const& fact : data)
          out.push_back({next++, fact.is_object() ? fact.value("info", std::string{}) : ""});
        continue;
      }
      out.push_back({id, info_of(e.data)});
    }
    return out;
  }

 private:
  static void scan(stream& s, std::string_view bytes) {
    s.parser.feed(bytes);
    s.heartbeats = s.parser.comments();
    while (s.parser.has_event()) {
      s.events.push_back(s.parser.pop());
      ++s.received;
      if (auto const id = event_id(s.events.back()); id > s.last_id) s.last_id = id;
    }
  }
};

}  // namespace facts::test
