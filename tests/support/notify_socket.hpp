#pragma once

// The service manager's end of `$NOTIFY_SOCKET`, owned by the test: a datagram socket bound to a
// path or an abstract name, which hands back each datagram with the pid of the process that sent
// it (SO_PASSCRED), as systemd checks it for NotifyAccess=main.

#include <sys/types.h>

#include <chrono>
#include <optional>
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
  explicit notify_socket(std::string path);

  /// An abstract name no other test run uses.
  static std::string unique_abstract_name();

  ~notify_socket();
  notify_socket(notify_socket const&) = delete;
  notify_socket& operator=(notify_socket const&) = delete;

  std::string const& address() const { return address_; }

  /// The next datagram, or nullopt when none arrives within `timeout`.
  std::optional<notification> receive(std::chrono::milliseconds timeout);

 private:
  [[noreturn]] void fail(char const* what);

  std::string address_;
  int fd_ = -1;
};

}  // namespace facts::test
