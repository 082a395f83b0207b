#pragma once

#include <chrono>
#include <cstddef>

namespace facts {

/** Represents every bound the server enforces, each with its default. */
struct limits {
  /// Largest POST /fact body; a larger Content-Length is refused before the body is read.
  std::size_t max_fact_bytes = 64 * 1024;
  /// Largest request header block (request line plus headers).
  std::size_t max_header_bytes = 16 * 1024;
  /// Bytes queued for one stream before it is cut off as too slow to keep up.
  std::size_t max_queue_bytes = 1024 * 1024;
  /// Time to receive a whole request, and the keep-alive idle time between requests.
  std::chrono::seconds request_timeout{30};
  /// Time one write to a stream may take before the stream is cut off.
  std::chrono::seconds write_timeout{30};
};

}  // namespace facts
