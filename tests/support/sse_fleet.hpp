#pragma once

// Many event streams at once, all asynchronous on one io_context driven by one thread: the way
// to hold a thousand streams open from a test without a thousand threads.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "support/sse_client.hpp"

namespace facts::test {

/**
 * Represents `count` streams on GET /events, each recording its first event (the snapshot) and
 * every event after it. A stream is "finished" once it has seen the event whose id is
 * `final_id`. Results may be read only after stop().
 */
class sse_fleet {
 public:
  struct stream {
    explicit stream(net::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    std::array<char, 4096> chunk{};
    std::string head;  // bytes up to the end of the response head
    bool head_done = false;
    sse_parser parser;
    std::vector<sse_event> events;  // the snapshot first, then the live events
    std::string error;              // why the stream ended, if it did
  };

  sse_fleet(std::uint16_t port, std::size_t count, std::string final_id)
      : endpoint_(net::ip::make_address_v4("127.0.0.1"), port),
        final_id_(std::move(final_id)),
        work_(net::make_work_guard(ioc_)) {
    streams_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      streams_.push_back(std::make_unique<stream>(ioc_));
      do_connect(*streams_.back());
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~sse_fleet() { stop(); }

  sse_fleet(sse_fleet const&) = delete;
  sse_fleet& operator=(sse_fleet const&) = delete;

  std::size_t opened() const { return opened_.load(); }
  std::size_t finished() const { return finished_.load(); }
  std::size_t failed() const { return failed_.load(); }

  /// Stops the I/O thread; afterwards streams() may be read from this thread.
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    ioc_.stop();
    thread_.join();
  }

  std::vector<std::unique_ptr<stream>> const& streams() const { return streams_; }

 private:
  void do_connect(stream& s) {
    s.socket.async_connect(endpoint_, [this, &s](beast::error_code ec) {
      if (ec) return fail(s, "connect: " + ec.message());
      net::async_write(s.socket, net::buffer(request_),
                       [this, &s](beast::error_code e, std::size_t) {
                         if (e) return fail(s, "write: " + e.message());
                         do_read(s);
                       });
    });
  }

  void do_read(stream& s) {
    s.socket.async_read_some(net::buffer(s.chunk), [this, &s](beast::error_code ec, std::size_t n) {
      if (ec) return fail(s, "read: " + ec.message());
      on_bytes(s, std::string_view(s.chunk.data(), n));
      do_read(s);
    });
  }

  void on_bytes(stream& s, std::string_view bytes) {
    if (!s.head_done) {
      s.head.append(bytes);
      auto const end = head_end(s.head);
      if (end == std::string::npos) return;
      s.head_done = true;
      if (s.head.rfind("HTTP/1.1 200 ", 0) != 0) return fail(s, "not 200: " + s.head);
      ++opened_;
      bytes = std::string_view(s.head).substr(end);
    }
    s.parser.feed(bytes);
    while (s.parser.has_event()) {
      s.events.push_back(s.parser.pop());
      if (s.events.size() > 1 && s.events.back().id == final_id_) ++finished_;
    }
  }

  void fail(stream& s, std::string why) {
    if (s.error.empty()) {
      s.error = std::move(why);
      ++failed_;
    }
  }

  std::string const request_ =
      "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  tcp::endpoint endpoint_;
  std::string final_id_;
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::unique_ptr<stream>> streams_;  // only on thread_ until stop()
  std::atomic<std::size_t> opened_{0};
  std::atomic<std::size_t> finished_{0};
  std::atomic<std::size_t> failed_{0};
  std::thread thread_;
};

}  // namespace facts::test
