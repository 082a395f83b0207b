#include "support/notify_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace facts::test {

notify_socket::notify_socket(std::string path) : address_(std::move(path)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  int const on = 1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (address_.empty() || address_.size() >= sizeof addr.sun_path)
    fail("notify socket address too long");
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  bool const abstract = address_.front() == '@';
  if (abstract) addr.sun_path[0] = '\0';
  auto const len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                          (abstract ? 0 : 1));
  if (::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) fail("SO_PASSCRED");
  if (::bind(fd_, reinterpret_cast<sockaddr const*>(&addr), len) != 0) fail("bind");
}

std::string notify_socket::unique_abstract_name() {
  static std::atomic<int> counter{0};
  return "@factsd-test-notify-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

notify_socket::~notify_socket() {
  ::close(fd_);
  if (!address_.empty() && address_.front() == '/') ::unlink(address_.c_str());
}

std::optional<notification> notify_socket::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  int const ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) return std::nullopt;
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  auto const n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  notification out;
  out.text.assign(buf, static_cast<std::size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.sender = cred.pid;
    }
  }
  return out;
}

void notify_socket::fail(char const* what) {
  int const err = errno;
  ::close(fd_);
  throw std::runtime_error(std::string(what) + ": " + std::strerror(err));
}

}  // namespace facts::test
