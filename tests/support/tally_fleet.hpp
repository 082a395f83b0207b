#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

  tally_fleet(std::uint16_t port, std::size_t count, std::string const& extra_headers = {});

  /// The smallest newest-id over the streams: every stream has received every id up to it.
  std::uint64_t min_last_id() const;

 private:
  static void scan(stream& s, std::string_view bytes);
  static void on_line(stream& s);
  static void dispatch(stream& s);
};

}  // namespace facts::test
