#pragma once

// factsd instances as child processes for the scale-out tests: several daemons on free loopback
// ports sharing one store URL. Each is the binary the tests were built with (FACTSD_BINARY,
// under the sanitizer of the tree), killed and reaped by its pid when its guard goes away.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace facts::test {

/// The flags of the scale-out tests: short bounds, so that the failures the tests provoke
/// resolve within seconds, and one heartbeat a second to count.
std::vector<std::string> nats_test_flags(std::vector<std::string> more = {});

/** Represents one running factsd and the port it reported in its start line. */
class factsd_instance {
 public:
  /// Long enough for an ASan binary that waits up to --connect-timeout for its log.
  static constexpr std::chrono::seconds start_timeout{40};

  /// Starts factsd on 127.0.0.1:0 with `--store store` and `flags`; throws when it does not
  /// report its port in time (the message carries its stderr).
  factsd_instance(std::string store, std::vector<std::string> flags);

  /// SIGKILL and reap: the crash.
  void kill_hard();

  /// Starts it again (after kill_hard) with the same store and flags, on a new port.
  void start();

  std::uint16_t port() const { return port_; }
  child_process& process() { return *process_; }

  /// The end of its stderr, for a failed check's message.
  std::string log_tail(std::size_t bytes = 2000) const;

 private:
  std::string store_;
  std::vector<std::string> flags_;
  std::unique_ptr<child_process> process_;
  std::uint16_t port_ = 0;
};

}  // namespace facts::test
