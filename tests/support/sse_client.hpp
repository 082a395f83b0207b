#pragma once

// An EventSource-like client for the integration tests: it opens GET /events, reads the
// response head, then parses the raw event stream the way the WHATWG event-stream parser does
// (fields `name: value`, an event ends at a blank line, lines starting with ':' are comments).
// Comments are counted rather than dropped, so heartbeats can be observed.

#include <array>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
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
  void feed(std::string_view bytes);

  bool has_event() const { return !ready_.empty(); }

  sse_event pop();

  std::size_t comments() const { return comments_; }

 private:
  void on_line(std::string_view line);
  void dispatch();

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
std::size_t head_end(std::string_view bytes);

/// The request line and headers of a GET /events, as an EventSource sends them.
std::string events_request(std::string_view extra_headers = {});

/// Parses a response header block (a status line and fields, ending with a blank line).
http::response<http::empty_body> parse_head(std::string_view head);

/**
 * Represents one open event stream, read synchronously with a deadline on every call. The
 * constructor connects, sends GET /events with `headers`, and reads the response head; bytes
 * that arrive with the head are parsed as the start of the stream.
 */
class sse_client {
 public:
  explicit sse_client(std::uint16_t port, header_list const& headers = {},
                      std::chrono::milliseconds timeout = default_timeout,
                      std::string_view target = "/events");
  ~sse_client();

  sse_client(sse_client const&) = delete;
  sse_client& operator=(sse_client const&) = delete;

  http::response<http::empty_body> const& head() const { return head_; }

  /// The next event, or nullopt when none arrives before `timeout` or the stream ends.
  std::optional<sse_event> next_event(std::chrono::milliseconds timeout = default_timeout);

  /// Reads until at least `count` comment lines have arrived in total; false on timeout/close.
  bool wait_for_comments(std::size_t count, std::chrono::milliseconds timeout = default_timeout);

  /// Reads (keeping any events for next_event) until the server ends the stream.
  bool wait_closed(std::chrono::milliseconds timeout = default_timeout);

  std::size_t comments() const { return parser_.comments(); }

  /// Hangs up, as a browser tab that goes away does.
  void close();

 private:
  struct io;  // the io_context and the socket

  void write(http::request<http::string_body> const& req, steady_clock::time_point deadline);

  /// One read into chunk_: the byte count, or nullopt on timeout. Sets eof_ when the stream ends.
  std::optional<std::size_t> read_some(steady_clock::time_point deadline);

  template <class Predicate>
  bool read_until(Predicate done, std::chrono::milliseconds timeout);

  std::unique_ptr<io> io_;
  std::array<char, 16 * 1024> chunk_{};
  http::response<http::empty_body> head_;
  sse_parser parser_;
  bool eof_ = false;  // the server ended the stream (or the connection broke)
};

}  // namespace facts::test
