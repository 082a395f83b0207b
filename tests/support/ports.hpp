#pragma once

// Free loopback ports for servers that must be told their port in advance (nats-server's routes
// name each other, and a node restarted after a crash must come back on the same ports). All
// the ports are bound at once and released together, so the ones asked for are distinct.

#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace facts::test {

/// `count` distinct loopback ports that were free a moment ago (the system gave them for port 0).
inline std::vector<std::uint16_t> free_loopback_ports(std::size_t count) {
  namespace net = boost::asio;
  net::io_context ioc;
  std::vector<std::unique_ptr<net::ip::tcp::acceptor>> held;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    held.push_back(std::make_unique<net::ip::tcp::acceptor>(
        ioc, net::ip::tcp::endpoint{net::ip::make_address_v4("127.0.0.1"), 0}));
    ports.push_back(held.back()->local_endpoint().port());
  }
  return ports;
}

}  // namespace facts::test
