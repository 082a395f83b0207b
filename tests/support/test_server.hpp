#pragma once

// The whole daemon in-process on 127.0.0.1 and a port the kernel picks.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "facts/config.hpp"
#include "facts/server.hpp"

namespace facts::test {

/// The configuration every in-process test starts from: loopback, port 0, two threads, memory.
inline config test_config() {
  config cfg;
  cfg.listen_host = "127.0.0.1";
  cfg.listen_port = 0;
  cfg.threads = 2;
  cfg.store_url = "memory:";  // explicitly: the default is going to change
  cfg.heartbeat = std::chrono::seconds(15);
  return cfg;
}

/** Represents a started server that is stopped when the test ends, whatever the outcome. */
class test_server {
 public:
  explicit test_server(config cfg = test_config()) {
    // Each server logs its start and stop at info; keep the test output to what matters.
    spdlog::set_level(spdlog::level::warn);
    server_ = std::make_unique<facts::server>(std::move(cfg));
    server_->start();
    port_ = server_->port();
  }

  /// A server built from test_config() after `tweak` has changed it.
  explicit test_server(std::function<void(config&)> const& tweak)
      : test_server([&] {
          auto cfg = test_config();
          tweak(cfg);
          return cfg;
        }()) {}

  std::uint16_t port() const { return port_; }
  facts::server& get() { return *server_; }
  void stop() { server_->stop(); }

 private:
  std::unique_ptr<facts::server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace facts::test
