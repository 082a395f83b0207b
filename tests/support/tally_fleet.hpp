#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "support/http_client.hpp"
#include "support/sse_client.hpp"
#include "support/stream_fleet.hpp"

namespace facts::test {

/** Represents one event as the tally keeps it: everything but the bulk of its data. */
struct event_record {
  std::string type = "message";
  std::string id;           ///< the `id:` field ("" when the event had none)
  std::string data_prefix;  ///< the first bytes of the data (prefix_bytes at most)
  std::size_t data_size = 0;
};

/** Represents what one stream of a tally_fleet keeps of what it reads. */
struct tally_record {
  // The line being read: its first line_bytes bytes and its full length.
  std::string line;
  std::size_t line_size = 0;
  event_record current;
  bool has_data = false;
  std::vector<event_record> events;
  std::vector<std::string> retries;       ///< every `retry:` value, in order
  std::string last_line;                  ///< the last non-empty line (first prefix_bytes bytes)
  std::string bad_id;                     ///< the first `id:` value that was not digits only
  std::atomic<std::uint64_t> last_id{0};  ///< the newest numeric id received
};

/**
 * Represents `count` event streams that read in 64 KiB chunks and scan for line ends only, so a
 * hundred streams can take megabytes each. It records each stream's events (snapshot first),
 * every `retry:` value, the last non-empty line before the stream ended, and any `id:` line
 * that is not digits only.
 */
class tally_fleet : public stream_fleet<tally_record> {
 public:
  static constexpr std::size_t prefix_bytes = 96;
  static constexpr std::size_t line_bytes = prefix_bytes + 16;

  tally_fleet(std::uint16_t port, std::size_t count, std::string const& extra_headers = {})
      : stream_fleet(port, count, events_request(extra_headers), 64 * 1024, &tally_fleet::scan) {}

  /// The smallest newest-id over the streams: every stream has received every id up to it.
  std::uint64_t min_last_id() const {
    auto least = std::numeric_limits<std::uint64_t>::max();
    for (auto const& s : streams())
      least = std::min(least, s->last_id.load());
    return streams().empty() ? 0 : least;
  }

 private:
  static void scan(stream& s, std::string_view bytes) {
    while (!bytes.empty()) {
      auto const nl = bytes.find('\n');
      auto const piece = bytes.substr(0, nl);
      // Enough of the line for its field name and prefix_bytes of its value.
      if (s.line.size() < line_bytes) s.line.append(piece.substr(0, line_bytes - s.line.size()));
      s.line_size += piece.size();
      if (nl == std::string_view::npos) return;
      bytes.remove_prefix(nl + 1);
      on_line(s);
      s.line.clear();
      s.line_size = 0;
    }
  }

  static void on_line(stream& s) {
    std::string_view line = s.line;
    auto size = s.line_size;
    if (!line.empty() && line.back() == '\r' && size == line.size()) {
      line.remove_suffix(1);
      --size;
    }
    if (size == 0) return dispatch(s);
    s.last_line = std::string(line);
    if (line.front() == ':') return;
    auto const colon = line.find(':');
    auto const field = line.substr(0, colon);
    std::size_t skip = colon == std::string_view::npos ? line.size() : colon + 1;
    if (skip < line.size() && line[skip] == ' ') ++skip;
    auto const value = line.substr(std::min(skip, line.size()));
    if (field == "data") {
      if (s.has_data) ++s.current.data_size;  // the '\n' joining two data lines
      if (s.current.data_prefix.size() < prefix_bytes)
        s.current.data_prefix.append(value.substr(0, prefix_bytes - s.current.data_prefix.size()));
      s.current.data_size += size - skip;
      s.has_data = true;
    } else if (field == "id") {
      s.current.id = std::string(value);
      if (!all_digits(value) && s.bad_id.empty()) s.bad_id = "'" + std::string(value) + "'";
    } else if (field == "event") {
      s.current.type = std::string(value);
    } else if (field == "retry") {
      s.retries.emplace_back(value);
    }
  }

  static void dispatch(stream& s) {
    if (s.has_data) {
      std::uint64_t id = 0;
      auto const& text = s.current.id;
      auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
      if (ec == std::errc{} && end == text.data() + text.size()) s.last_id = id;
      s.events.push_back(std::move(s.current));
    }
    s.current = {};
    s.has_data = false;
  }
};

}  // namespace facts::test
