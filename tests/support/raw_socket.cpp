#include "support/raw_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace facts::test {

int poll_ms(steady_clock::time_point deadline) {
  auto const left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, std::min<std::int64_t>(left.count(), 1000)));
}

raw_socket::raw_socket(std::uint16_t port, int rcvbuf, std::chrono::milliseconds timeout) {
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

std::uint16_t raw_socket::local_port() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

raw_socket::io raw_socket::send_all(std::string_view bytes, std::chrono::milliseconds timeout) {
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

raw_socket::io raw_socket::read_until(std::function<bool(std::string const&)> const& done,
                                      std::chrono::milliseconds timeout) {
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

bool raw_socket::read_until_closed(std::chrono::milliseconds timeout) {
  return read_until([](std::string const&) { return false; }, timeout) == io::closed;
}

void raw_socket::reset_close() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

bool raw_socket::vanish() {
  if (fd_ < 0) return false;
  int on = 1;
  if (::setsockopt(fd_, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) return false;
  close();
  return true;
}

void raw_socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void raw_socket::fail(char const* what) {
  std::string const message = std::string(what) + ": " + std::strerror(errno);
  close();
  throw std::runtime_error(message);
}

}  // namespace facts::test
