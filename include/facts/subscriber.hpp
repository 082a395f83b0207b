#pragma once

#include <chrono>
#include <cstdint>

#include "facts/sse.hpp"

namespace facts {

/** Represents what a live frame carries besides its bytes, for the metrics. */
struct frame_meta {
  std::uint32_t events = 0;                         ///< facts in the frame
  std::chrono::steady_clock::time_point published;  ///< when the broadcaster fanned it out
  std::uint64_t last_seq = 0;                       ///< seq of the frame's newest fact
};

/**
 * Represents what takes the broadcaster's frames: in the server, one group of streams per I/O
 * thread; in tests, fakes. It never exposes a socket. It receives every published frame (and
 * may drop one that none of its streams, present or joining, can need); a stream that joined at
 * seq S sends only the frames whose last_seq is above S.
 */
class subscriber {
 public:
  virtual ~subscriber() = default;

  /// Queues a frame. Called from any thread, under the broadcaster's lock: must not block.
  virtual void deliver(frame f, frame_meta meta) = 0;

  /// The heartbeat tick: each idle stream sends `f`; same rules as deliver().
  virtual void heartbeat(frame f) = 0;

  /// Ends every stream (server shutdown). Same rules as deliver().
  virtual void close() = 0;
};

}  // namespace facts
