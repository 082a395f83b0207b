#pragma once

// A small HTTP/1.1 client for the integration tests: one request per connection, a keep-alive
// connection for several, and raw bytes for malformed input. Every operation is asynchronous
// and runs on the client's own io_context under a deadline, so no test can block forever.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/socket.hpp"

namespace facts::test {

using response = http::response<http::string_body>;
using header_list = std::vector<std::pair<std::string, std::string>>;

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
    auto const wrote = run_with_deadline(
        ioc_, socket_, deadline, [&](auto handler) { http::async_write(socket_, req, handler); });
    check(wrote, "writing the request", "write failed: ");
    return read(deadline, "reading the response");
  }

  /// Reads one response without sending anything (after send_raw()).
  response read_response(std::chrono::milliseconds timeout = default_timeout) {
    return read(steady_clock::now() + timeout, "reading a response");
  }

  /// Writes `bytes` as they are.
  void send_raw(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    auto const wrote = run_with_deadline(
        ioc_, socket_, steady_clock::now() + timeout,
        [&](auto handler) { net::async_write(socket_, net::buffer(bytes), handler); });
    check(wrote, "writing raw bytes", "raw write failed: ");
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
      auto const result = run_with_deadline(ioc_, socket_, deadline, [&](auto handler) {
        socket_.async_read_some(net::buffer(chunk), handler);
      });
      out.append(chunk, result.bytes);
      if (!result.in_time) return out;
      if (result.ec) {
        // EOF or a reset: either way the server ended the connection.
        closed = true;
        return out;
      }
    }
  }

  /// Closes our side, as a client that goes away does.
  void close() { hang_up(socket_); }

 private:
  response read(steady_clock::time_point deadline, char const* what) {
    response res;
    auto const result = run_with_deadline(ioc_, socket_, deadline, [&](auto handler) {
      http::async_read(socket_, buffer_, res, handler);
    });
    check(result, what, "read failed: ");
    return res;
  }

  /// Throws when the operation timed out (closing the connection, which is then unusable) or
  /// failed.
  void check(socket_result const& result, char const* what, char const* failed) {
    if (!result.in_time) {
      beast::error_code ignored;
      socket_.close(ignored);
      throw std::runtime_error(std::string("timed out ") + what);
    }
    if (result.ec) throw std::runtime_error(failed + result.ec.message());
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

/// True when `text` is one or more ASCII digits and nothing else.
inline bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

/// The seq in a `Location: /facts/<seq>` header, or 0 when the response has no such header.
inline std::uint64_t seq_from_location(response const& res) {
  auto const location = header(res, "Location");
  constexpr std::string_view prefix = "/facts/";
  if (location.rfind(prefix, 0) != 0 || !all_digits(location.substr(prefix.size()))) return 0;
  try {
    return std::stoull(location.substr(prefix.size()));
  } catch (std::out_of_range const&) {
    return 0;
  }
}

/// True for an error answer as the daemon promises them: a JSON object {"error": "<text>"}.
inline bool is_json_error(response const& res) {
  if (header(res, "Content-Type").rfind("application/json", 0) != 0) return false;
  auto const body = nlohmann::json::parse(res.body(), nullptr, false);
  return body.is_object() && body.contains("error") && body["error"].is_string() &&
         !body["error"].get<std::string>().empty();
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
