#pragma once

// A small HTTP/1.1 client for the integration tests: one request per connection, a keep-alive
// connection for several, and raw bytes for malformed input. Every operation is asynchronous
// and runs on the client's own io_context under a deadline, so no test can block forever.

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/socket.hpp"

namespace facts::test {

using response = http::response<http::string_body>;
using header_list = std::vector<std::pair<std::string, std::string>>;

/// Builds a request with Host set and the payload prepared.
http::request<http::string_body> make_request(http::verb method, std::string_view target,
                                              std::string body = {},
                                              header_list const& headers = {});

/**
 * Represents one client connection that may carry several requests (HTTP/1.1 keep-alive), or
 * arbitrary bytes.
 */
class http_connection {
 public:
  explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = default_timeout);
  ~http_connection();

  /// Sends `req` and reads one response; throws on timeout or a broken connection.
  response send(http::request<http::string_body> const& req,
                std::chrono::milliseconds timeout = default_timeout);

  /// Reads one response without sending anything (after send_raw()).
  response read_response(std::chrono::milliseconds timeout = default_timeout);

  /// Writes `bytes` as they are.
  void send_raw(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout);

  /**
   * Reads until the peer closes or `timeout` passes; returns everything read (including what an
   * earlier send() left buffered). `closed` tells which of the two ended it.
   */
  std::string read_until_close(bool& closed, std::chrono::milliseconds timeout = default_timeout);

  /// Closes our side, as a client that goes away does.
  void close();

 private:
  struct io;  // the io_context, the socket and the read buffer

  response read(steady_clock::time_point deadline, char const* what);

  /// Throws when the operation timed out (closing the connection, which is then unusable) or
  /// failed.
  void check(socket_result const& result, char const* what, char const* failed);

  std::unique_ptr<io> io_;
};

/// One request on a fresh connection.
response request(std::uint16_t port, http::verb method, std::string_view target,
                 std::string body = {}, header_list const& headers = {},
                 std::chrono::milliseconds timeout = default_timeout);

response get(std::uint16_t port, std::string_view target, header_list const& headers = {});

/// POST /fact; an empty `content_type` sends no Content-Type header at all.
response post_fact(std::uint16_t port, std::string body,
                   std::string const& content_type = "application/json", header_list headers = {});

/// What came back for raw bytes: everything read, and whether the server closed the connection.
struct raw_result {
  std::string bytes;
  bool closed = false;
};

/// Sends `bytes` on a fresh connection and reads until the server closes it or `timeout` passes.
raw_result raw_exchange(std::uint16_t port, std::string_view bytes,
                        std::chrono::milliseconds timeout = default_timeout);

/// Parses one complete response from raw bytes (a close-delimited body ends with the bytes).
response parse_response(std::string_view raw);

/// The value of header `name`, or "" when the response has none.
std::string header(response const& res, std::string_view name);

bool has_header(response const& res, std::string_view name);

/// True when `text` is one or more ASCII digits and nothing else.
bool all_digits(std::string_view text);

/// The seq in a `Location: /facts/<seq>` header, or 0 when the response has no such header.
std::uint64_t seq_from_location(response const& res);

/// True for an error answer as the daemon promises them: a JSON object {"error": "<text>"}.
bool is_json_error(response const& res);

/// True when the comma-separated header value lists `token` (case-insensitively).
bool lists_token(std::string_view value, std::string_view token);

/// GET /status, parsed.
nlohmann::json status(std::uint16_t port);

/**
 * Polls GET /status until `key` equals `value` or `timeout` passes; returns the last value seen
 * so that a failed check prints what the server reported.
 */
std::int64_t wait_for_status(std::uint16_t port, char const* key, std::int64_t value,
                             std::chrono::milliseconds timeout = default_timeout);

}  // namespace facts::test
