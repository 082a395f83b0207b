#pragma once

#include <chrono>
#include <cstdint>

#include "facts/sse.hpp"

namespace facts {

/** Represents what a live frame carries besides its bytes, for the metrics. */
struct frame_meta {
  std::uint32_t events = 0;                         ///< facts in the frame
  std::chrono::steady_clock::time_point published;  ///< when the broadcaster fanned it out
};

/**
 * Represents one live stream as the broadcaster sees it: something that takes frames. It never
 * exposes a socket, so the broadcaster can be tested with fakes.
 */
class subscriber {
 public:
  virtual ~subscriber() = default;

  /// Queues a frame. Called from any thread, under the broadcaster's lock: must not block.
  virtual void deliver(frame f, frame_meta meta) = 0;

  /// Sent to idle streams on each heartbeat tick; same rules as deliver().
  virtual void heartbeat(frame f) = 0;

  /// Ends the stream (server shutdown). Same rules as deliver().
  virtual void close() = 0;
};

}  // namespace facts
