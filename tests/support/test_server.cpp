#include "support/test_server.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "facts/server.hpp"

namespace facts::test {

config test_config() {
  config cfg;
  cfg.listen_host = "127.0.0.1";
  cfg.listen_port = 0;
  cfg.threads = 2;
  cfg.store_url = "memory:";  // explicitly: the default is going to change
  cfg.heartbeat = std::chrono::seconds(15);
  return cfg;
}

test_server::test_server(config cfg) {
  // Each server logs its start and stop at info; keep the test output to what matters.
  spdlog::set_level(spdlog::level::warn);
  server_ = std::make_unique<facts::server>(std::move(cfg));
  server_->start();
  port_ = server_->port();
}

test_server::test_server(std::function<void(config&)> const& tweak)
    : test_server([&] {
        auto cfg = test_config();
        tweak(cfg);
        return cfg;
      }()) {}

test_server::~test_server() = default;
test_server::test_server(test_server&&) noexcept = default;
test_server& test_server::operator=(test_server&&) noexcept = default;

void test_server::stop() {
  server_->stop();
}

}  // namespace facts::test
