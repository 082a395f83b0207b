#pragma once

// A bulk load of facts for tests that need tens of thousands of them and check what factsd
// serves afterwards, not how each POST went (that is publish_load's job). Plain sockets and
// HTTP/1.1 pipelining: under AddressSanitizer a Beast client per POST cost the tests more CPU
// than the factsd they published to.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace facts::test {

struct bulk_publish_options {
  int connections = 32;  ///< keep-alive connections, one thread each
  int depth = 16;        ///< POSTs written at once on a connection before their answers are read
  std::chrono::seconds give_up_after{240};  ///< for the whole load
};

/// POSTs `count` facts {"info": "<tag>-<n>", "source": "bulk"} to factsd on 127.0.0.1:`port`
/// and returns each one's info by the id its Location header names. Every POST must be answered
/// 201: the first other answer, a connection that fails or the deadline ends the load with a
/// std::runtime_error that says which.
std::map<std::uint64_t, std::string> bulk_publish(std::uint16_t port, std::size_t count,
                                                  std::string const& tag,
                                                  bulk_publish_options opts = {});

}  // namespace facts::test
