#include "support/socket.hpp"

#include <boost/asio.hpp>
#include <stdexcept>
#include <string>

namespace facts::test {

bool run_until(net::io_context& ioc, bool const& done, steady_clock::time_point deadline) {
  ioc.restart();
  while (!done) {
    auto const now = steady_clock::now();
    if (now >= deadline) return false;
    if (ioc.run_one_for(deadline - now) == 0 && ioc.stopped()) return done;
  }
  return true;
}

void drain(net::io_context& ioc) {
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2));
}

socket_result run_with_deadline(net::io_context& ioc, tcp::socket& socket,
                                steady_clock::time_point deadline,
                                std::function<void(socket_handler)> const& start) {
  socket_result result;
  bool done = false;
  start([&result, &done](beast::error_code ec, std::size_t n) {
    result.ec = ec;
    result.bytes = n;
    done = true;
  });
  result.in_time = run_until(ioc, done, deadline);
  if (!result.in_time) {
    beast::error_code ignored;
    socket.cancel(ignored);
    drain(ioc);
  }
  return result;
}

void hang_up(tcp::socket& socket) {
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void connect_loopback(net::io_context& ioc, tcp::socket& socket, std::uint16_t port,
                      steady_clock::time_point deadline) {
  tcp::endpoint const endpoint{net::ip::make_address_v4("127.0.0.1"), port};
  auto const result = run_with_deadline(ioc, socket, deadline, [&](auto handler) {
    socket.async_connect(endpoint, [handler](beast::error_code ec) mutable { handler(ec, 0); });
  });
  if (!result.in_time) {
    beast::error_code ignored;
    socket.close(ignored);
    throw std::runtime_error("connect to port " + std::to_string(port) + " timed out");
  }
  if (result.ec) throw std::runtime_error("connect failed: " + result.ec.message());
}

}  // namespace facts::test
