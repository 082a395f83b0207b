#include "facts/service_notify.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace facts {

service_notifier::service_notifier(std::string socket_path)
    : socket_path_(std::move(socket_path)) {}

service_notifier service_notifier::from_environment() {
  char const* path = std::getenv("NOTIFY_SOCKET");
  return service_notifier(path ? path : "");
}

bool service_notifier::notify(std::string_view state) const {
  if (socket_path_.empty()) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // A path, or '@' for Linux's abstract namespace, where the name starts with a NUL byte.
  bool const abstract = socket_path_.front() == '@';
  if ((socket_path_.front() != '/' && !abstract) ||
      socket_path_.size() >= sizeof address.sun_path) {
    spdlog::warn("[notify] NOTIFY_SOCKET '{}' is not a socket path; not notifying", socket_path_);
    return false;
  }
  std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
  if (abstract) address.sun_path[0] = '\0';
  auto const length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size() +
                                             (abstract ? 0 : 1));

  int const fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    spdlog::warn("[notify] cannot make a socket: {}", std::strerror(errno));
    return false;
  }
  auto const sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<sockaddr const*>(&address), length);
  int const send_errno = errno;
  ::close(fd);
  if (sent != static_cast<ssize_t>(state.size())) {
    spdlog::warn("[notify] cannot send to {}: {}", socket_path_, std::strerror(send_errno));
    return false;
  }
  return true;
}

}  // namespace facts
