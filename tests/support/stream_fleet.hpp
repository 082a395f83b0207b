#pragma once

// Many GET /events streams at once, all asynchronous on one io_context driven by one thread: the
// way to hold a thousand streams open from a test without a thousand threads. What a stream keeps
// of what it reads is up to the fleet built on this one: sse_fleet keeps every event, tally_fleet
// a few bytes of each, so that streams of many megabytes stay cheap.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace facts::test {

/** Represents the part of a stream_fleet's stream that does not depend on its `Record`. */
struct fleet_stream {
  explicit fleet_stream(std::size_t chunk_bytes) : chunk(chunk_bytes) {}
  std::vector<char> chunk;
  std::string head;  ///< the response head, once it is complete
  bool head_done = false;
  std::atomic<bool> refused{false};  ///< the response was not 200
  std::atomic<bool> ended{false};    ///< the connection ended, or never opened
  std::string error;                 ///< why it ended: "" when the server ended the stream
};

/**
 * Represents the I/O of a stream_fleet, whatever its `Record`: the io_context, its thread, one
 * socket per stream, and the counters. Each stream sends `request` and reads the answer in
 * chunks of its `chunk` size; the bytes after the response head go to `on_body`.
 */
class fleet_io {
 public:
  using body_handler = std::function<void(fleet_stream&, std::string_view)>;

  fleet_io(std::uint16_t port, std::string request, body_handler on_body);
  ~fleet_io();
  fleet_io(fleet_io const&) = delete;
  fleet_io& operator=(fleet_io const&) = delete;

  /// Gives `s` a socket and starts connecting it; `s` must outlive stop().
  void open(fleet_stream& s);
  /// Starts the fleet's thread, which runs the streams until stop().
  void run();

  std::size_t opened() const;
  std::size_t ended() const;

  /// Stops the I/O thread and closes every stream.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/**
 * Represents `count` connections to 127.0.0.1:`port`, each sending `request` and reading the
 * answer in chunks of `chunk_bytes`. The response head is kept whole; the bytes after it go to
 * `on_body`, on the fleet's thread, with the stream they came on, whose `Record` part is where a
 * fleet keeps what it reads. A stream's plain members may be read only after stop(); its atomics
 * and the counters at any time.
 */
template <class Record>
class stream_fleet {
 public:
  struct stream : Record, fleet_stream {
    explicit stream(std::size_t chunk_bytes) : fleet_stream(chunk_bytes) {}
  };

  /// Runs on the fleet's thread until stop(), so it must not refer to anything that dies first.
  using body_handler = std::function<void(stream&, std::string_view)>;

  stream_fleet(std::uint16_t port, std::size_t count, std::string request, std::size_t chunk_bytes,
               body_handler on_body)
      : io_(port, std::move(request),
            [on_body = std::move(on_body)](fleet_stream& s, std::string_view bytes) {
              on_body(static_cast<stream&>(s), bytes);
            }) {
    streams_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      streams_.push_back(std::make_unique<stream>(chunk_bytes));
      io_.open(*streams_.back());
    }
    io_.run();
  }

  ~stream_fleet() { stop(); }
  stream_fleet(stream_fleet const&) = delete;
  stream_fleet& operator=(stream_fleet const&) = delete;

  /// How many streams were answered 200.
  std::size_t opened() const { return io_.opened(); }
  std::size_t ended() const { return io_.ended(); }

  /// Stops the I/O thread and closes every stream; afterwards streams() may be read.
  void stop() { io_.stop(); }

  std::vector<std::unique_ptr<stream>> const& streams() const { return streams_; }

 private:
  fleet_io io_;
  std::vector<std::unique_ptr<stream>> streams_;  // only on the fleet's thread until stop()
};

}  // namespace facts::test
