#pragma once

// A network namespace of the test's own: a loopback nobody else uses, where the test may drop
// packets with iptables without touching the machine's network. Linux keeps the network
// namespace per thread: the guard moves the calling thread in, and back out when it ends.
// Sockets keep the namespace they were made in, so everything (the server's listener, the
// clients, the iptables child) must be made on this thread while the guard lives.

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
#include <string>
#include <vector>

#include "support/process.hpp"

namespace facts::test {

/** Represents the calling thread inside a fresh network namespace with lo up. */
class net_namespace {
 public:
  /// Throws with the reason when it cannot (it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN).
  net_namespace() {
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

  ~net_namespace() {
    // Back to where the thread was; the namespace goes when its last socket closes.
    if (::setns(home_, CLONE_NEWNET) != 0) std::terminate();
    ::close(home_);
  }

  net_namespace(net_namespace const&) = delete;
  net_namespace& operator=(net_namespace const&) = delete;

 private:
  static void bring_loopback_up() {
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

  [[noreturn]] static void fail(std::string const& what) {
    throw std::runtime_error("network namespace: " + what + ": " + std::strerror(errno));
  }

  int home_ = -1;
};

/// Runs iptables (in the calling thread's namespace) with `args`; "" when it exits 0, else
/// what it said.
inline std::string iptables(std::vector<std::string> const& args) {
  std::vector<std::string> argv{"/usr/sbin/iptables"};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process proc(argv);
  if (!proc.wait_exit(std::chrono::seconds(20))) return "iptables did not finish";
  if (proc.exit_code() == 0) return {};
  return "iptables exit " + std::to_string(proc.exit_code()) + ": " + proc.err();
}

}  // namespace facts::test
