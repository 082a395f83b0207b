#pragma once

#include <chrono>
#include <cstddef>

namespace facts {

/// Most bytes of fact JSON in the snapshot array of a stream that resumes or catches up: a
/// resume's snapshot is its own (shared only with the same id), so a crowd of slow clients
/// resuming from scattered ids holds this much each at most; the rest follows as events read
/// in chunks. The broadcaster builds resume snapshots to it, the catch-up reader first chunks.
inline constexpr std::size_t resume_snapshot_bytes = 64 * 1024;

/// The slowest a stream that catches up may take its chunk while holding it: chunks are shared
/// and their total is bounded, so one that holds a chunk for longer than
/// catch_up_floor_grace, having taken less than this rate over that time, gives it back (only
/// the rest of the event it is in the middle of is kept, copied) and reads on in chunks of
/// catch_up_slow_chunk_bytes, which it takes in about a grace period. It is never cut off for
/// it: --write-timeout alone ends a stream that takes nothing.
inline constexpr std::size_t catch_up_floor_bytes_per_second = 32 * 1024;
inline constexpr std::chrono::seconds catch_up_floor_grace{2};
inline constexpr std::size_t catch_up_slow_chunk_bytes = 32 * 1024;

/** Represents every bound the server enforces, each with its default (see README). */
struct limits {
  /// Largest POST /fact body; a larger Content-Length is refused before the body is read.
  std::size_t max_fact_bytes = 64 * 1024;
  /// Largest request head (request line plus headers); larger answers 431.
  std::size_t max_header_bytes = 16 * 1024;
  /// Longest request target; longer answers 414.
  std::size_t max_url_bytes = 8 * 1024;
  /// Bytes of live events queued for one stream before it is cut off as too slow.
  std::size_t max_queue_bytes = 1024 * 1024;
  /// Open event streams; past it /events asks the client to retry later.
  std::size_t max_clients = 50'000;
  /// Time to receive a whole request once its first byte arrived (slowloris).
  std::chrono::seconds request_timeout{10};
  /// Time a keep-alive connection may wait for its next request.
  std::chrono::seconds idle_timeout{60};
  /// Time an answer may take to write, or a stream's socket may take nothing while the stream
  /// has bytes to send, before the connection is cut off.
  std::chrono::seconds write_timeout{30};
};

}  // namespace facts
