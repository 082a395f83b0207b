#pragma once

// The one place the test clients wait on a socket: each operation runs on the client's own
// io_context under a deadline, so no test can block forever, and a timed-out operation is
// cancelled and its handler run before the caller's frame (which the handler refers to) is left.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace facts::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using steady_clock = std::chrono::steady_clock;

/// The deadline of a single wait: generous, because the suite runs under ASan on small machines.
inline constexpr std::chrono::milliseconds default_timeout{5000};

/**
 * Runs `ioc` until `done` is set by a handler or `deadline` passes. Returns whether `done` was
 * set. The caller must cancel its operations and drain the context after a `false`, because the
 * pending handlers still refer to its locals.
 */
inline bool run_until(net::io_context& ioc, bool const& done, steady_clock::time_point deadline) {
  ioc.restart();
  while (!done) {
    auto const now = steady_clock::now();
    if (now >= deadline) return false;
    if (ioc.run_one_for(deadline - now) == 0 && ioc.stopped()) return done;
  }
  return true;
}

/// Drains handlers left after a timeout (their operations were cancelled or the socket closed).
inline void drain(net::io_context& ioc) {
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2));
}

/** Represents how one operation on a socket ended. */
struct socket_result {
  beast::error_code ec;
  std::size_t bytes = 0;
  bool in_time = false;  ///< false: the deadline passed first and the operation was cancelled
};

/**
 * Starts an operation through `start(handler)` and runs `ioc` until it completes or `deadline`
 * passes. On a timeout the socket's operations are cancelled and the handler is run before this
 * returns, so `bytes` and `ec` still tell what the operation did.
 */
template <class Start>
socket_result run_with_deadline(net::io_context& ioc, tcp::socket& socket,
                                steady_clock::time_point deadline, Start&& start) {
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

/// Shuts down both directions, then closes: the server sees the FIN a departing client sends.
inline void hang_up(tcp::socket& socket) {
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

/// Connects `socket` to 127.0.0.1:`port` within `deadline`; throws when it cannot.
inline void connect_loopback(net::io_context& ioc, tcp::socket& socket, std::uint16_t port,
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
