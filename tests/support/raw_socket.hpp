#pragma once

// A raw, non-blocking POSIX socket for clients that misbehave on purpose: a tiny receive buffer,
// never reading, sending one byte at a time, hanging up with a reset or vanishing without a word.
// POSIX, not Asio: these clients are about socket options and ways of leaving that Asio keeps
// out of reach.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "support/socket.hpp"

namespace facts::test {

/// Milliseconds left until `deadline`, for poll(); at least 0.
inline int poll_ms(steady_clock::time_point deadline) {
  auto const left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, std::min<std::int64_t>(left.count(), 1000)));
}

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
                      std::chrono::milliseconds timeout = default_timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    if (rcvbuf > 0 && ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0)
      fail("setsockopt SO_RCVBUF");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) {
      if (errno != EINPROGRESS) fail("connect");
      pollfd p{fd_, POLLOUT, 0};
      auto const deadline = steady_clock::now() + timeout;
      while (::poll(&p, 1, poll_ms(deadline)) == 0)
        if (steady_clock::now() >= deadline) fail("connect timed out");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        fail("connect");
      }
    }
  }

  ~raw_socket() { close(); }
  raw_socket(raw_socket const&) = delete;
  raw_socket& operator=(raw_socket const&) = delete;

  int fd() const { return fd_; }

  /// Our own port, as the server sees it (its logs name the client as 127.0.0.1:<this>).
  std::uint16_t local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

  /// Sends all of `bytes`; `closed` when the peer has reset or closed the connection.
  io send_all(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    auto const deadline = steady_clock::now() + timeout;
    while (!bytes.empty()) {
      auto const n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return io::closed;
      if (steady_clock::now() >= deadline) return io::timeout;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, poll_ms(deadline));
    }
    return io::ok;
  }

  /// Reads into received() until `done(received())` holds, the peer ends the connection
  /// (`closed`, also on a reset) or the deadline passes (`timeout`).
  io read_until(std::function<bool(std::string const&)> const& done,
                std::chrono::milliseconds timeout = default_timeout) {
    auto const deadline = steady_clock::now() + timeout;
    char chunk[16 * 1024];
    for (;;) {
      if (done(received_)) return io::ok;
      if (peer_closed_) return io::closed;
      auto const n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        received_.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        peer_closed_ = true;
        if (n < 0) reset_seen_ = true;
        continue;
      }
      if (steady_clock::now() >= deadline) return io::timeout;
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, poll_ms(deadline));
    }
  }

  /// Reads until the peer ends the connection; false when it did not before the deadline.
  bool read_until_closed(std::chrono::milliseconds timeout = default_timeout) {
    return read_until([](std::string const&) { return false; }, timeout) == io::closed;
  }

  std::string const& received() const { return received_; }
  bool peer_closed() const { return peer_closed_; }
  bool reset_seen() const { return reset_seen_; }

  /// Hangs up with a reset (SO_LINGER 0): no FIN, the peer sees ECONNRESET.
  void reset_close() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  /**
   * Disappears without a word, like a phone that lost its network: with TCP_REPAIR on, close()
   * sends neither FIN nor RST, so the peer learns it only when it next writes (our kernel then
   * answers the data with a reset). Needs CAP_NET_ADMIN; false (and nothing done) without it.
   */
  bool vanish() {
    if (fd_ < 0) return false;
    int on = 1;
    if (::setsockopt(fd_, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) return false;
    close();
    return true;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  [[noreturn]] void fail(char const* what) {
    std::string const message = std::string(what) + ": " + std::strerror(errno);
    close();
    throw std::runtime_error(message);
  }

  int fd_ = -1;
  std::string received_;
  bool peer_closed_ = false;
  bool reset_seen_ = false;
};

}  // namespace facts::test
