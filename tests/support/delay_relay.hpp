#pragma once

// A TCP relay on 127.0.0.1 that holds back everything the server sends for a fixed delay: a
// client whose view of the server lags (a slow link, a busy peer), for the tests of what an
// instance does when what it has seen of the log is behind the log.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace facts::test {

/** Represents a relay from a port of its own to 127.0.0.1:`target`, server-to-client delayed. */
class delay_relay {
 public:
  delay_relay(std::uint16_t target, std::chrono::milliseconds to_client_delay);
  ~delay_relay();

  delay_relay(delay_relay const&) = delete;
  delay_relay& operator=(delay_relay const&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  void run();

  std::uint16_t target_;
  std::chrono::milliseconds delay_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace facts::test
