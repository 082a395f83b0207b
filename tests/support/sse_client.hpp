#pragma once

// An EventSource-like client for the integration tests: it opens GET /events, reads the
// response head, then parses the raw event stream the way the WHATWG event-stream parser does
// (fields `name: value`, an event ends at a blank line, lines starting with ':' are comments).
// Comments are counted rather than dropped, so heartbeats can be observed.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "support/http_client.hpp"
#include "support/socket.hpp"

namespace facts::test {

/** Represents one dispatched event. */
struct sse_event {
  std::string type = "message";      ///< `event:` field, "message" when absent
  std::optional<std::string> id;     ///< the `id:` field of this event, when it had one
  std::string data;                  ///< `data:` lines joined with '\n'
  std::optional<std::string> retry;  ///< the last `retry:` value seen before this event
};

/** Represents the event-stream parser: bytes in, events and a comment count out. */
class sse_parser {
 public:
  void feed(std::string_view bytes) {
    for (char const c : bytes) {
      // CRLF, LF and CR all end a line; the LF of a CRLF split across reads is skipped here.
      if (skip_lf_) {
        skip_lf_ = false;
        if (c == '\n') continue;
      }
      if (c == '\r' || c == '\n') {
        skip_lf_ = c == '\r';
        on_line(line_);
        line_.clear();
      } else {
        line_ += c;
      }
    }
  }

  bool has_event() const { return !ready_.empty(); }

  sse_event pop() {
    auto e = std::move(ready_.front());
    ready_.pop_front();
    return e;
  }

  std::size_t comments() const { return comments_; }

 private:
  void on_line(std::string_view line) {
    if (line.empty()) return dispatch();
    if (line.front() == ':') {
      ++comments_;
      return;
    }
    auto const colon = line.find(':');
    auto const field = line.substr(0, colon);
    auto value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
      current_.type = std::string(value);
    } else if (field == "data") {
      data_ += value;
      data_ += '\n';
      has_data_ = true;
    } else if (field == "id") {
      current_.id = std::string(value);
    } else if (field == "retry") {
      if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos)
        retry_ = std::string(value);
    }
  }

  void dispatch() {
    // As in the browser: a block without data is not an event.
    if (has_data_) {
      data_.pop_back();  // the '\n' after the last data line
      current_.data = std::move(data_);
      current_.retry = retry_;
      ready_.push_back(std::move(current_));
    }
    current_ = {};
    data_.clear();
    has_data_ = false;
  }

  std::string line_;
  bool skip_lf_ = false;
  sse_event current_;
  std::string data_;
  bool has_data_ = false;
  std::optional<std::string> retry_;
  std::size_t comments_ = 0;
  std::deque<sse_event> ready_;
};

/// Where the header block of a response ends (just after the blank line), or npos.
inline std::size_t head_end(std::string_view bytes) {
  auto const at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? at : at + 4;
}

/// The request line and headers of a GET /events, as an EventSource sends them.
inline std::string events_request(std::string_view extra_headers = {}) {
  std::string out = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  out += extra_headers;
  out += "\r\n";
  return out;
}

/// Parses a response header block (a status line and fields, ending with a blank line).
inline http::response<http::empty_body> parse_head(std::string_view head) {
  http::response_parser<http::empty_body> parser;
  beast::error_code ec;
  parser.put(net::buffer(head.data(), head.size()), ec);
  if (ec && ec != http::error::need_more)
    throw std::runtime_error("bad response head: " + ec.message());
  if (!parser.is_header_done()) throw std::runtime_error("incomplete response head");
  return parser.release();
}

/**
 * Represents one open event stream, read synchronously with a deadline on every call. The
 * constructor connects, sends GET /events with `headers`, and reads the response head; bytes
 * that arrive with the head are parsed as the start of the stream.
 */
class sse_client {
 public:
  explicit sse_client(std::uint16_t port, header_list const& headers = {},
                      std::chrono::milliseconds timeout = default_timeout)
      : socket_(ioc_) {
    auto const deadline = steady_clock::now() + timeout;
    connect_loopback(ioc_, socket_, port, deadline);
    auto req = make_request(http::verb::get, "/events", {}, headers);
    req.set(http::field::accept, "text/event-stream");
    write(req, deadline);

    std::string bytes;
    while (head_end(bytes) == std::string::npos) {
      auto const n = read_some(deadline);
      if (!n) throw std::runtime_error("no response head from GET /events before the deadline");
      if (eof_ && *n == 0) throw std::runtime_error("connection closed before the response head");
      bytes.append(chunk_.data(), *n);
    }
    auto const end = head_end(bytes);
    head_ = parse_head(std::string_view(bytes).substr(0, end));
    parser_.feed(std::string_view(bytes).substr(end));
  }

  sse_client(sse_client const&) = delete;
  sse_client& operator=(sse_client const&) = delete;

  http::response<http::empty_body> const& head() const { return head_; }

  /// The next event, or nullopt when none arrives before `timeout` or the stream ends.
  std::optional<sse_event> next_event(std::chrono::milliseconds timeout = default_timeout) {
    if (!read_until([this] { return parser_.has_event(); }, timeout)) return std::nullopt;
    return parser_.pop();
  }

  /// Reads until at least `count` comment lines have arrived in total; false on timeout/close.
  bool wait_for_comments(std::size_t count, std::chrono::milliseconds timeout = default_timeout) {
    return read_until([&] { return parser_.comments() >= count; }, timeout);
  }

  /// Reads (keeping any events for next_event) until the server ends the stream.
  bool wait_closed(std::chrono::milliseconds timeout = default_timeout) {
    read_until([] { return false; }, timeout);
    return eof_;
  }

  std::size_t comments() const { return parser_.comments(); }

  /// Hangs up, as a browser tab that goes away does.
  void close() { hang_up(socket_); }

 private:
  void write(http::request<http::string_body> const& req, steady_clock::time_point deadline) {
    auto const result = run_with_deadline(
        ioc_, socket_, deadline, [&](auto handler) { http::async_write(socket_, req, handler); });
    if (!result.in_time) {
      beast::error_code ignored;
      socket_.close(ignored);
      throw std::runtime_error("timed out sending GET /events");
    }
    if (result.ec) throw std::runtime_error("GET /events write failed: " + result.ec.message());
  }

  /// One read into chunk_: the byte count, or nullopt on timeout. Sets eof_ when the stream ends.
  std::optional<std::size_t> read_some(steady_clock::time_point deadline) {
    if (eof_) return 0;
    auto const result = run_with_deadline(ioc_, socket_, deadline, [&](auto handler) {
      socket_.async_read_some(net::buffer(chunk_), handler);
    });
    if (result.ec && result.ec != net::error::operation_aborted) eof_ = true;
    if (!result.in_time && result.bytes == 0) return std::nullopt;
    return result.bytes;
  }

  template <class Predicate>
  bool read_until(Predicate done, std::chrono::milliseconds timeout) {
    auto const deadline = steady_clock::now() + timeout;
    while (!done()) {
      if (eof_) return false;
      auto const n = read_some(deadline);
      if (!n) return done();
      parser_.feed(std::string_view(chunk_.data(), *n));
    }
    return true;
  }

  net::io_context ioc_;
  tcp::socket socket_;
  std::array<char, 16 * 1024> chunk_{};
  http::response<http::empty_body> head_;
  sse_parser parser_;
  bool eof_ = false;  // the server ended the stream (or the connection broke)
};

}  // namespace facts::test
