#pragma once

// A slow event-stream reader: a small receive buffer and reads of a few kilobytes at a time,
// as a client on a slow link. It checks what it gets as it goes: the first event is an array,
// and every fact comes once, in seq order, whether in an array or as a single event.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "support/raw_socket.hpp"
#include "support/sse_client.hpp"

namespace facts::test {

/** Represents one slow client of GET /events, read a little at a time by its owner. */
class paced_stream {
 public:
  /// Opens GET /events on 127.0.0.1:`port` with a `rcvbuf`-byte receive buffer.
  paced_stream(std::uint16_t port, std::optional<std::uint64_t> last_event_id, int rcvbuf = 4096)
      : socket_(port, rcvbuf) {
    std::string request =
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    if (last_event_id) request += "Last-Event-ID: " + std::to_string(*last_event_id) + "\r\n";
    socket_.send_all(request + "\r\n");
    if (last_event_id) next_ = *last_event_id + 1;
  }

  /// Reads at most `max_bytes` that are already there, without waiting; false once the server
  /// closed the stream.
  bool pump(std::size_t max_bytes) {
    char buffer[64 * 1024];
    while (max_bytes > 0 && !closed_) {
      auto const n = ::recv(socket_.fd(), buffer, std::min(max_bytes, sizeof buffer), 0);
      if (n > 0) {
        take({buffer, static_cast<std::size_t>(n)});
        max_bytes -= static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      closed_ = true;
    }
    return !closed_;
  }

  /// The seq of the next fact it expects: every one before it came, once and in order.
  std::uint64_t next_seq() const { return next_; }
  bool closed() const { return closed_; }
  /// What went wrong first (a gap, a repeat, no array first), or empty.
  std::string const& error() const { return error_; }
  std::size_t bytes_read() const { return bytes_; }

 private:
  void take(std::string_view bytes) {
    bytes_ += bytes.size();
    if (!head_done_) {
      head_ += bytes;
      auto const end = head_end(head_);
      if (end == std::string::npos) return;
      head_done_ = true;
      bytes = std::string_view(head_).substr(end);
      parser_.feed(bytes);
      head_.clear();
    } else {
      parser_.feed(bytes);
    }
    while (parser_.has_event())
      check(parser_.pop());
  }

  // Facts carry their seq as "n", so each array element and event is checked against it.
  void check(sse_event const& e) {
    auto const data = nlohmann::json::parse(e.data, nullptr, false);
    if (events_++ == 0 && !data.is_array()) fail("the first event is not an array");
    auto const one = [&](nlohmann::json const& f) {
      auto const n = f.is_object() && f.contains("n") ? f["n"].get<std::uint64_t>() : 0;
      if (next_ == 0) next_ = n;  // a new client starts wherever the window starts
      if (n != next_) fail("expected fact " + std::to_string(next_) + ", got " + std::to_string(n));
      ++next_;
    };
    // An empty array first (a stream that catches up) names the id the facts follow.
    if (data.is_array() && data.empty() && next_ == 0 && e.id) next_ = std::stoull(*e.id) + 1;
    if (data.is_array()) {
      for (auto const& f : data)
        one(f);
    } else {
      one(data);
    }
    if (e.id && next_ != 0 && std::to_string(next_ - 1) != *e.id)
      fail("event id " + *e.id + " is not the newest fact " + std::to_string(next_ - 1));
  }

  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }

  raw_socket socket_;
  std::string head_;
  bool head_done_ = false;
  sse_parser parser_;
  std::uint64_t next_ = 0;  // 0: not known yet (a new client)
  std::size_t events_ = 0;
  std::size_t bytes_ = 0;
  bool closed_ = false;
  std::string error_;
};

}  // namespace facts::test
