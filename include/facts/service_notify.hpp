#pragma once

#include <string>
#include <string_view>

namespace facts {

/**
 * Represents the service manager's notification socket (`$NOTIFY_SOCKET`, systemd's
 * `Type=notify`): one datagram per state change, `READY=1` once the daemon serves and
 * `STOPPING=1` when it begins to stop. The protocol is small enough that no libsystemd is needed.
 * Without a socket (not started by systemd), every notify() does nothing.
 */
class service_notifier {
 public:
  /// `socket_path` is an absolute path, or `@name` for an abstract socket; empty: no socket.
  explicit service_notifier(std::string socket_path);

  /// The socket named by `$NOTIFY_SOCKET`, read once, here: the caller is main().
  static service_notifier from_environment();

  /// Sends `state` (e.g. "READY=1") as one datagram. Returns false when there is no socket or
  /// the send failed; never throws, as a failed notification must not stop the daemon.
  bool notify(std::string_view state) const;

  bool enabled() const { return !socket_path_.empty(); }

 private:
  std::string socket_path_;
};

}  // namespace facts
