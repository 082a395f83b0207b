#pragma once

#include "facts/sse.hpp"

namespace facts {

/**
 * Represents one live stream as the broadcaster sees it: something that takes frames. It never
 * exposes a socket, so the broadcaster can be tested with fakes.
 */
class subscriber {
 public:
  virtual ~subscriber() = default;

  /// Queues a frame. Called from any thread, under the broadcaster's lock: must not block.
  virtual void deliver(frame f) = 0;

  /// Sent to idle streams on each heartbeat tick; same rules as deliver().
  virtual void heartbeat(frame f) = 0;

  /// Ends the stream (server shutdown). Same rules as deliver().
  virtual void close() = 0;
};

}  // namespace facts
