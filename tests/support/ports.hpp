#pragma once

// Free loopback ports for servers that must be told their port in advance (nats-server's routes
// name each other, and a node restarted after a crash must come back on the same ports). All
// the ports are bound at once and released together, so the ones asked for are distinct.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace facts::test {

/// `count` distinct loopback ports that were free a moment ago (the system gave them for port 0).
std::vector<std::uint16_t> free_loopback_ports(std::size_t count);

}  // namespace facts::test
