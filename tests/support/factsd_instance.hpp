#pragma once

// factsd instances as child processes for the scale-out tests: several daemons on free loopback
// ports sharing one store URL. Each is the binary the tests were built with (FACTSD_BINARY,
// under the sanitizer of the tree), killed and reaped by its pid when its guard goes away.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace facts::test {

/// The flags of the scale-out tests: short bounds, so that the failures the tests provoke
/// resolve within seconds, and one heartbeat a second to count.
inline std::vector<std::string> nats_test_flags(std::vector<std::string> more = {}) {
  std::vector<std::string> flags{"--threads",         "2", "--heartbeat",       "1",
                                 "--publish-timeout", "2", "--connect-timeout", "10"};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

/** Represents one running factsd and the port it reported in its start line. */
class factsd_instance {
 public:
  /// Long enough for an ASan binary that waits up to --connect-timeout for its log.
  static constexpr std::chrono::seconds start_timeout{40};

  /// Starts factsd on 127.0.0.1:0 with `--store store` and `flags`; throws when it does not
  /// report its port in time (the message carries its stderr).
  factsd_instance(std::string store, std::vector<std::string> flags)
      : store_(std::move(store)), flags_(std::move(flags)) {
    start();
  }

  /// SIGKILL and reap: the crash.
  void kill_hard() {
    process_->kill_hard();
    port_ = 0;
  }

  /// Starts it again (after kill_hard) with the same store and flags, on a new port.
  void start() {
    std::vector<std::string> args{FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", store_};
    args.insert(args.end(), flags_.begin(), flags_.end());
    process_ = std::make_unique<child_process>(args);
    auto const port = process_->wait_for_port(start_timeout);
    if (!port) throw std::runtime_error("factsd did not start: " + log_tail());
    port_ = *port;
  }

  std::uint16_t port() const { return port_; }
  child_process& process() { return *process_; }

  /// The end of its stderr, for a failed check's message.
  std::string log_tail(std::size_t bytes = 2000) const {
    auto const err = process_->err();
    return err.substr(err.size() > bytes ? err.size() - bytes : 0);
  }

 private:
  std::string store_;
  std::vector<std::string> flags_;
  std::unique_ptr<child_process> process_;
  std::uint16_t port_ = 0;
};

}  // namespace facts::test
