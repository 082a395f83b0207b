#include "support/net_namespace.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "support/process.hpp"

namespace facts::test {

namespace {

[[noreturn]] void fail(std::string const& what) {
  throw std::runtime_error("network namespace: " + what + ": " + std::strerror(errno));
}

void bring_loopback_up() {
  int const fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool const ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
                  (ifr.ifr_flags |= IFF_UP, ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
  auto const err = errno;
  ::close(fd);
  errno = err;
  if (!ok) fail("bringing lo up");
}

}  // namespace

net_namespace::net_namespace() {
  home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_ < 0) fail("open /proc/thread-self/ns/net");
  if (::unshare(CLONE_NEWNET) != 0) {
    auto const err = errno;
    ::close(home_);
    errno = err;
    fail("unshare(CLONE_NEWNET) (run the tests as root)");
  }
  bring_loopback_up();
}

net_namespace::~net_namespace() {
  // Back to where the thread was; the namespace goes when its last socket closes.
  if (::setns(home_, CLONE_NEWNET) != 0) std::terminate();
  ::close(home_);
}

std::string iptables(std::vector<std::string> const& args) {
  std::vector<std::string> argv{"/usr/sbin/iptables"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process proc(argv);
  if (!proc.wait_exit(std::chrono::seconds(20))) return "iptables did not finish";
  if (proc.exit_code() == 0) return {};
  return "iptables exit " + std::to_string(proc.exit_code()) + ": " + proc.err();
}

}  // namespace facts::test
