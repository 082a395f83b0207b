#pragma once

// A slow event-stream reader: a small receive buffer and reads of a few kilobytes at a time,
// as a client on a slow link. It checks what it gets as it goes: the first event is an array,
// and every fact comes once, in seq order, whether in an array or as a single event.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "support/raw_socket.hpp"
#include "support/sse_client.hpp"

namespace facts::test {

/** Represents one slow client of GET /events, read a little at a time by its owner. */
class paced_stream {
 public:
  /// Opens GET /events on 127.0.0.1:`port` with a `rcvbuf`-byte receive buffer.
  paced_stream(std::uint16_t port, std::optional<std::uint64_t> last_event_id, int rcvbuf = 4096);

  /// Reads at most `max_bytes` that are already there, without waiting; false once the server
  /// closed the stream.
  bool pump(std::size_t max_bytes);

  /// The seq of the next fact it expects: every one before it came, once and in order.
  std::uint64_t next_seq() const { return next_; }
  bool closed() const { return closed_; }
  /// What went wrong first (a gap, a repeat, no array first), or empty.
  std::string const& error() const { return error_; }
  std::size_t bytes_read() const { return bytes_; }

 private:
  void take(std::string_view bytes);

  // Facts carry their seq as "n", so each array element and event is checked against it.
  void check(sse_event const& e);

  void fail(std::string why);

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
