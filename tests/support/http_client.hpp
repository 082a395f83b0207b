#pragma once

// A small HTTP/1.1 client for the integration tests: one request per connection, a keep-alive
// connection for several, and raw bytes for malformed input. Every operation is asynchronous
// and runs on the client's own io_context under a deadline, so no test can block forever.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace facts::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using steady_clock = std::chrono::steady_clock;

using response = http::response<http::string_body>;
using header_list = std::vector<std::pair<std::string, std::string>>;

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

/// Connects `socket` to 127.0.0.1:`port` within `deadline`; throws when it cannot.
inline void connect_loopback(net::io_context& ioc, tcp::socket& socket, std::uint16_t port,
                             steady_clock::time_point deadline) {
  bool done = false;
  beast::error_code ec;
  socket.async_connect({net::ip::make_address_v4("127.0.0.1"), port}, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!run_until(ioc, done, deadline)) {
    socket.close();
    drain(ioc);
    throw std::runtime_error("connect to port " + std::to_string(port) + " timed out");
  }
  if (ec) throw std::runtime_error("connect failed: " + ec.message());
}

/// Builds a request with Host set and the payload prepared.
inline http::request<http::string_body> make_request(http::verb method, std::string_view target,
                                                     std::string body = {},
                                                     header_list const& headers = {}) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (auto const& [name, value] : headers)
    req.set(name, value);
  req.body() = std::move(body);
  if (!req.body().empty() || method == http::verb::post || method == http::verb::put)
    req.prepare_payload();
  return req;
}

/**
 * Represents one client connection that may carry several requests (HTTP/1.1 keep-alive), or
 * arbitrary bytes.
 */
class http_connection {
 public:
  explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = default_timeout)
      : socket_(ioc_) {
    connect_loopback(ioc_, socket_, port, steady_clock::now() + timeout);
  }

  /// Sends `req` and reads one response; throws on timeout or a broken connection.
  response send(http::request<http::string_body> const& req,
                std::chrono::milliseconds timeout = default_timeout) {
    auto const deadline = steady_clock::now() + timeout;
    bool done = false;
    beast::error_code ec;
    http::async_write(socket_, req, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc_, done, deadline)) fail_timeout("writing the request");
    if (ec) throw std::runtime_error("write failed: " + ec.message());

    response res;
    done = false;
    http::async_read(socket_, buffer_, res, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc_, done, deadline)) fail_timeout("reading the response");
    if (ec) throw std::runtime_error("read failed: " + ec.message());
    return res;
  }

  /// Reads one response without sending anything (after send_raw()).
  response read_response(std::chrono::milliseconds timeout = default_timeout) {
    response res;
    bool done = false;
    beast::error_code ec;
    http::async_read(socket_, buffer_, res, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc_, done, steady_clock::now() + timeout)) fail_timeout("reading a response");
    if (ec) throw std::runtime_error("read failed: " + ec.message());
    return res;
  }

  /// Writes `bytes` as they are.
  void send_raw(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    bool done = false;
    beast::error_code ec;
    net::async_write(socket_, net::buffer(bytes), [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(ioc_, done, steady_clock::now() + timeout)) fail_timeout("writing raw bytes");
    if (ec) throw std::runtime_error("raw write failed: " + ec.message());
  }

  /**
   * Reads until the peer closes or `timeout` passes; returns everything read (including what an
   * earlier send() left buffered). `closed` tells which of the two ended it.
   */
  std::string read_until_close(bool& closed, std::chrono::milliseconds timeout = default_timeout) {
    auto const deadline = steady_clock::now() + timeout;
    std::string out = beast::buffers_to_string(buffer_.data());
    buffer_.clear();
    closed = false;
    char chunk[4096];
    for (;;) {
      bool done = false;
      beast::error_code ec;
      std::size_t n = 0;
      socket_.async_read_some(net::buffer(chunk), [&](beast::error_code e, std::size_t k) {
        ec = e;
        n = k;
        done = true;
      });
      bool const in_time = run_until(ioc_, done, deadline);
      if (!in_time) {
        socket_.cancel();
        drain(ioc_);
      }
      out.append(chunk, n);
      if (!in_time) return out;
      if (ec) {
        // EOF or a reset: either way the server ended the connection.
        closed = true;
        return out;
      }
    }
  }

  /// Closes our side, as a client that goes away does.
  void close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  [[noreturn]] void fail_timeout(char const* what) {
    beast::error_code ec;
    socket_.close(ec);
    drain(ioc_);
    throw std::runtime_error(std::string("timed out ") + what);
  }

  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

/// One request on a fresh connection.
inline response request(std::uint16_t port, http::verb method, std::string_view target,
                        std::string body = {}, header_list const& headers = {},
                        std::chrono::milliseconds timeout = default_timeout) {
  http_connection conn(port, timeout);
  return conn.send(make_request(method, target, std::move(body), headers), timeout);
}

inline response get(std::uint16_t port, std::string_view target, header_list const& headers = {}) {
  return request(port, http::verb::get, target, {}, headers);
}

/// POST /fact; an empty `content_type` sends no Content-Type header at all.
inline response post_fact(std::uint16_t port, std::string body,
                          std::string const& content_type = "application/json",
                          header_list headers = {}) {
  if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
  return request(port, http::verb::post, "/fact", std::move(body), headers);
}

/// What came back for raw bytes: everything read, and whether the server closed the connection.
struct raw_result {
  std::string bytes;
  bool closed = false;
};

/// Sends `bytes` on a fresh connection and reads until the server closes it or `timeout` passes.
inline raw_result raw_exchange(std::uint16_t port, std::string_view bytes,
                               std::chrono::milliseconds timeout = default_timeout) {
  http_connection conn(port, timeout);
  conn.send_raw(bytes, timeout);
  raw_result result;
  result.bytes = conn.read_until_close(result.closed, timeout);
  return result;
}

/// Parses one complete response from raw bytes (a close-delimited body ends with the bytes).
inline response parse_response(std::string_view raw) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  beast::error_code ec;
  auto const used = parser.put(net::buffer(raw.data(), raw.size()), ec);
  if (ec) throw std::runtime_error("not an HTTP response: " + ec.message());
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done())
      throw std::runtime_error("incomplete HTTP response (" + std::to_string(used) + " of " +
                               std::to_string(raw.size()) + " bytes parsed)");
  }
  return parser.release();
}

/// The value of header `name`, or "" when the response has none.
inline std::string header(response const& res, std::string_view name) {
  auto const it = res.find(name);
  return it == res.end() ? std::string{} : std::string(it->value());
}

inline bool has_header(response const& res, std::string_view name) {
  return res.find(name) != res.end();
}

/// True when the comma-separated header value lists `token` (case-insensitively).
inline bool lists_token(std::string_view value, std::string_view token) {
  std::size_t start = 0;
  while (start <= value.size()) {
    auto const comma = value.find(',', start);
    auto item = value.substr(start, comma == std::string_view::npos ? value.npos : comma - start);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (beast::iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

/// GET /status, parsed.
inline nlohmann::json status(std::uint16_t port) {
  auto const res = get(port, "/status");
  if (res.result() != http::status::ok)
    throw std::runtime_error("GET /status answered " + std::to_string(res.result_int()));
  return nlohmann::json::parse(res.body());
}

/**
 * Polls GET /status until `key` equals `value` or `timeout` passes; returns the last value seen
 * so that a failed check prints what the server reported.
 */
inline std::int64_t wait_for_status(std::uint16_t port, char const* key, std::int64_t value,
                                    std::chrono::milliseconds timeout = default_timeout) {
  auto const deadline = steady_clock::now() + timeout;
  std::int64_t seen = status(port).at(key).get<std::int64_t>();
  while (seen != value && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    seen = status(port).at(key).get<std::int64_t>();
  }
  return seen;
}

}  // namespace facts::test
