#pragma once

// The one place the test clients wait on a socket: each operation runs on the client's own
// io_context under a deadline, so no test can block forever, and a timed-out operation is
// cancelled and its handler run before the caller's frame (which the handler refers to) is left.

#include <boost/asio/ts/netfwd.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace boost::beast::http {}

namespace facts::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
// Only declared here (boost/asio/ts/netfwd.hpp): what uses a socket includes Asio itself, and
// names tcp::socket as net::basic_stream_socket<tcp>, which is the same type.
using tcp = net::ip::tcp;
using steady_clock = std::chrono::steady_clock;

/// The deadline of a single wait: generous, because the suite runs under ASan on small machines.
inline constexpr std::chrono::milliseconds default_timeout{5000};

/**
 * Runs `ioc` until `done` is set by a handler or `deadline` passes. Returns whether `done` was
 * set. The caller must cancel its operations and drain the context after a `false`, because the
 * pending handlers still refer to its locals.
 */
bool run_until(net::io_context& ioc, bool const& done, steady_clock::time_point deadline);

/// Drains handlers left after a timeout (their operations were cancelled or the socket closed).
void drain(net::io_context& ioc);

/** Represents how one operation on a socket ended. */
struct socket_result {
  beast::error_code ec;
  std::size_t bytes = 0;
  bool in_time = false;  ///< false: the deadline passed first and the operation was cancelled
};

/// The completion handler run_with_deadline() gives the operation it starts.
using socket_handler = std::function<void(beast::error_code, std::size_t)>;

/**
 * Starts an operation through `start(handler)` and runs `ioc` until it completes or `deadline`
 * passes. On a timeout the socket's operations are cancelled and the handler is run before this
 * returns, so `bytes` and `ec` still tell what the operation did.
 */
socket_result run_with_deadline(net::io_context& ioc, net::basic_stream_socket<tcp>& socket,
                                steady_clock::time_point deadline,
                                std::function<void(socket_handler)> const& start);

/// Shuts down both directions, then closes: the server sees the FIN a departing client sends.
void hang_up(net::basic_stream_socket<tcp>& socket);

/// Connects `socket` to 127.0.0.1:`port` within `deadline`; throws when it cannot.
void connect_loopback(net::io_context& ioc, net::basic_stream_socket<tcp>& socket,
                      std::uint16_t port, steady_clock::time_point deadline);

}  // namespace facts::test
