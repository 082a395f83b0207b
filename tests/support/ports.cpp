#include "support/ports.hpp"

#include <boost/asio.hpp>
#include <memory>

namespace facts::test {

std::vector<std::uint16_t> free_loopback_ports(std::size_t count) {
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
