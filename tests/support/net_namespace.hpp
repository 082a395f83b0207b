#pragma once

// A network namespace of the test's own: a loopback nobody else uses, where the test may drop
// packets with iptables without touching the machine's network. Linux keeps the network
// namespace per thread: the guard moves the calling thread in, and back out when it ends.
// Sockets keep the namespace they were made in, so everything (the server's listener, the
// clients, the iptables child) must be made on this thread while the guard lives.

#include <string>
#include <vector>

namespace facts::test {

/** Represents the calling thread inside a fresh network namespace with lo up. */
class net_namespace {
 public:
  /// Throws with the reason when it cannot (it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN).
  net_namespace();

  ~net_namespace();

  net_namespace(net_namespace const&) = delete;
  net_namespace& operator=(net_namespace const&) = delete;

 private:
  int home_ = -1;
};

/// Runs iptables (in the calling thread's namespace) with `args`; "" when it exits 0, else
/// what it said.
std::string iptables(std::vector<std::string> const& args);

}  // namespace facts::test
