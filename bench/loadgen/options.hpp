#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

/// How a peer's protocol differs from factsd's, as far as the generator cares.
enum class protocol {
  factsd,    ///< GET /events: a snapshot array first, then one event per fact; POST answers JSON
  tutorial,  ///< the same shape, chunked body, no ids
  nchan,     ///< no snapshot: a ": hi" comment, then stored messages one event each; POST
             ///< answers text
  floor,     ///< like factsd, with an always-empty snapshot (no history)
};

/// One run of the generator against one server: connect, then the phases asked for.
struct session_options {
  // The server: given, or started by us.
  std::string server = "";         ///< HOST:PORT
  std::vector<std::string> spawn;  ///< a server command to start (port from its log)
  int server_pid = 0;              ///< whose /proc figures to report
  protocol proto = protocol::factsd;
  std::string events_path = "/events";
  std::string publish_path = "/fact";

  // Tags of the records.
  std::string label = "factsd";
  std::string table = "pinned";

  std::size_t streams = 100;
  std::size_t connect_window = 256;  ///< streams connecting at once
  double idle_seconds = 0;           ///< hold the streams idle this long, then read RSS

  std::uint64_t preload = 0;  ///< facts published before any stream connects

  double paced_events_per_s = 0;  ///< offered delivered events/s = fact rate x streams
  std::uint64_t paced_facts = 0;

  std::uint64_t max_facts = 0;  ///< at most this many facts as fast as possible
  double max_seconds = 0;       ///< ... or for this long (0: no time bound)
  std::size_t in_flight = 8;

  double drain_seconds = 30;  ///< longest wait for delivery after the last answer
  bool check = false;         ///< exit 1 unless every fact reached every stream exactly once
  std::string records;        ///< also append the record lines to this file
};

}  // namespace loadgen
