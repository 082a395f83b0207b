#pragma once

// The service manager's end of `$NOTIFY_SOCKET`, owned by the test: a datagram socket bound to a
// path or an abstract name, which hands back each datagram with the pid of the process that sent
// it (SO_PASSCRED), as systemd checks it for NotifyAccess=main.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace facts::test {

/** Represents one notification as the manager receives it. */
struct notification {
  std::string text;  ///< e.g. "READY=1"
  pid_t sender = 0;  ///< from the kernel's credentials, not from the text
};

/** Represents a bound AF_UNIX datagram socket; NOTIFY_SOCKET=address() reaches it. */
class notify_socket {
 public:
  /// Bound to `path` (a file system path), or to an abstract name when `path` starts with '@'.
  explicit notify_socket(std::string path) : address_(std::move(path)) {
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

  /// An abstract name no other test run uses.
  static std::string unique_abstract_name() {
    static std::atomic<int> counter{0};
    return "@factsd-test-notify-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  }

  ~notify_socket() {
    ::close(fd_);
    if (!address_.empty() && address_.front() == '/') ::unlink(address_.c_str());
  }
  notify_socket(notify_socket const&) = delete;
  notify_socket& operator=(notify_socket const&) = delete;

  std::string const& address() const { return address_; }

  /// The next datagram, or nullopt when none arrives within `timeout`.
  std::optional<notification> receive(std::chrono::milliseconds timeout) {
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

 private:
  [[noreturn]] void fail(char const* what) {
    int const err = errno;
    ::close(fd_);
    throw std::runtime_error(std::string(what) + ": " + std::strerror(err));
  }

  std::string address_;
  int fd_ = -1;
};

}  // namespace facts::test
