#pragma once

// A raw, non-blocking POSIX socket for clients that misbehave on purpose: a tiny receive buffer,
// never reading, sending one byte at a time, hanging up with a reset or vanishing without a word.
// POSIX, not Asio: these clients are about socket options and ways of leaving that Asio keeps
// out of reach.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "support/socket.hpp"

namespace facts::test {

/// Milliseconds left until `deadline`, for poll(); at least 0.
int poll_ms(steady_clock::time_point deadline);

/**
 * Represents one TCP connection to 127.0.0.1 driven byte by byte: non-blocking, every call
 * bounded by a deadline, and able to leave the way real clients leave (FIN, RST, or nothing).
 */
class raw_socket {
 public:
  enum class io { ok, closed, timeout };

  /// Connects to 127.0.0.1:`port`. A `rcvbuf` > 0 is set before connecting, so the window the
  /// kernel advertises is that small from the first segment on.
  explicit raw_socket(std::uint16_t port, int rcvbuf = 0,
                      std::chrono::milliseconds timeout = default_timeout);

  ~raw_socket() { close(); }
  raw_socket(raw_socket const&) = delete;
  raw_socket& operator=(raw_socket const&) = delete;

  int fd() const { return fd_; }

  /// Our own port, as the server sees it (its logs name the client as 127.0.0.1:<this>).
  std::uint16_t local_port() const;

  /// Sends all of `bytes`; `closed` when the peer has reset or closed the connection.
  io send_all(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout);

  /// Reads into received() until `done(received())` holds, the peer ends the connection
  /// (`closed`, also on a reset) or the deadline passes (`timeout`).
  io read_until(std::function<bool(std::string const&)> const& done,
                std::chrono::milliseconds timeout = default_timeout);

  /// Reads until the peer ends the connection; false when it did not before the deadline.
  bool read_until_closed(std::chrono::milliseconds timeout = default_timeout);

  std::string const& received() const { return received_; }
  bool peer_closed() const { return peer_closed_; }
  bool reset_seen() const { return reset_seen_; }

  /// Hangs up with a reset (SO_LINGER 0): no FIN, the peer sees ECONNRESET.
  void reset_close();

  /**
   * Disappears without a word, like a phone that lost its network: with TCP_REPAIR on, close()
   * sends neither FIN nor RST, so the peer learns it only when it next writes (our kernel then
   * answers the data with a reset). Needs CAP_NET_ADMIN; false (and nothing done) without it.
   */
  bool vanish();

  void close();

 private:
  [[noreturn]] void fail(char const* what);

  int fd_ = -1;
  std::string received_;
  bool peer_closed_ = false;
  bool reset_seen_ = false;
};

}  // namespace facts::test
