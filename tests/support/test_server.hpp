#pragma once

// The whole daemon in-process on 127.0.0.1 and a port the kernel picks.

#include <cstdint>
#include <functional>
#include <memory>

#include "facts/config.hpp"

namespace facts {
class server;
}  // namespace facts

namespace facts::test {

/// The configuration every in-process test starts from: loopback, port 0, two threads, memory.
config test_config();

/** Represents a started server that is stopped when the test ends, whatever the outcome. */
class test_server {
 public:
  explicit test_server(config cfg = test_config());

  /// A server built from test_config() after `tweak` has changed it.
  explicit test_server(std::function<void(config&)> const& tweak);

  ~test_server();
  test_server(test_server&&) noexcept;
  test_server& operator=(test_server&&) noexcept;

  std::uint16_t port() const { return port_; }
  facts::server& get() { return *server_; }
  void stop();

 private:
  std::unique_ptr<facts::server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace facts::test
