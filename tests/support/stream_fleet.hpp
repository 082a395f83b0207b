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
#include <thread>
#include <utility>
#include <vector>

#include "support/socket.hpp"
#include "support/sse_client.hpp"

namespace facts::test {

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
  struct stream : Record {
    stream(net::io_context& ioc, std::size_t chunk_bytes) : socket(ioc), chunk(chunk_bytes) {}
    tcp::socket socket;
    std::vector<char> chunk;
    std::string head;  ///< the response head, once it is complete
    bool head_done = false;
    std::atomic<bool> refused{false};  ///< the response was not 200
    std::atomic<bool> ended{false};    ///< the connection ended, or never opened
    std::string error;                 ///< why it ended: "" when the server ended the stream
  };

  /// Runs on the fleet's thread until stop(), so it must not refer to anything that dies first.
  using body_handler = std::function<void(stream&, std::string_view)>;

  stream_fleet(std::uint16_t port, std::size_t count, std::string request, std::size_t chunk_bytes,
               body_handler on_body)
      : endpoint_(net::ip::make_address_v4("127.0.0.1"), port),
        request_(std::move(request)),
        on_body_(std::move(on_body)),
        work_(net::make_work_guard(ioc_)) {
    streams_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      streams_.push_back(std::make_unique<stream>(ioc_, chunk_bytes));
      do_connect(*streams_.back());
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~stream_fleet() { stop(); }
  stream_fleet(stream_fleet const&) = delete;
  stream_fleet& operator=(stream_fleet const&) = delete;

  /// How many streams were answered 200.
  std::size_t opened() const { return opened_.load(); }
  std::size_t ended() const { return ended_.load(); }

  /// Stops the I/O thread and closes every stream; afterwards streams() may be read.
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    ioc_.stop();
    thread_.join();
    for (auto& s : streams_) {
      beast::error_code ec;
      s->socket.close(ec);
    }
  }

  std::vector<std::unique_ptr<stream>> const& streams() const { return streams_; }

 private:
  void do_connect(stream& s) {
    s.socket.async_connect(endpoint_, [this, &s](beast::error_code ec) {
      if (ec) return end(s, "connect: " + ec.message());
      net::async_write(s.socket, net::buffer(request_),
                       [this, &s](beast::error_code e, std::size_t) {
                         if (e) return end(s, "write: " + e.message());
                         do_read(s);
                       });
    });
  }

  void do_read(stream& s) {
    s.socket.async_read_some(net::buffer(s.chunk), [this, &s](beast::error_code ec, std::size_t n) {
      if (n > 0) on_bytes(s, std::string_view(s.chunk.data(), n));
      if (ec) return end(s, ec == net::error::eof ? std::string{} : "read: " + ec.message());
      do_read(s);
    });
  }

  void on_bytes(stream& s, std::string_view bytes) {
    if (s.head_done) return on_body_(s, bytes);
    s.head.append(bytes);
    auto const at = head_end(s.head);
    if (at == std::string::npos) return;
    s.head_done = true;
    if (s.head.rfind("HTTP/1.1 200 ", 0) == 0)
      ++opened_;
    else
      s.refused = true;
    std::string const rest = s.head.substr(at);
    s.head.resize(at);
    on_body_(s, rest);
  }

  void end(stream& s, std::string why) {
    if (s.ended) return;
    // The reason first: whoever sees `ended` may then read it.
    s.error = std::move(why);
    s.ended = true;
    ++ended_;
  }

  tcp::endpoint endpoint_;
  std::string const request_;
  body_handler const on_body_;
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::unique_ptr<stream>> streams_;  // only on thread_ until stop()
  std::atomic<std::size_t> opened_{0};
  std::atomic<std::size_t> ended_{0};
  std::thread thread_;
};

}  // namespace facts::test
