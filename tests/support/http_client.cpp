#include "support/http_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace facts::test {

http::request<http::string_body> make_request(http::verb method, std::string_view target,
                                              std::string body, header_list const& headers) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (auto const& [name, value] : headers)
    req.set(name, value);
  req.body() = std::move(body);
  if (!req.body().empty() || method == http::verb::post || method == http::verb::put)
    req.prepare_payload();
  return req;
}

struct http_connection::io {
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;
};

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout)
    : io_(std::make_unique<io>()) {
  connect_loopback(io_->ioc, io_->socket, port, steady_clock::now() + timeout);
}

http_connection::~http_connection() = default;

response http_connection::send(http::request<http::string_body> const& req,
                               std::chrono::milliseconds timeout) {
  auto const deadline = steady_clock::now() + timeout;
  auto const wrote = run_with_deadline(io_->ioc, io_->socket, deadline, [&](auto handler) {
    http::async_write(io_->socket, req, handler);
  });
  check(wrote, "writing the request", "write failed: ");
  return read(deadline, "reading the response");
}

response http_connection::read_response(std::chrono::milliseconds timeout) {
  return read(steady_clock::now() + timeout, "reading a response");
}

void http_connection::send_raw(std::string_view bytes, std::chrono::milliseconds timeout) {
  auto const wrote = run_with_deadline(
      io_->ioc, io_->socket, steady_clock::now() + timeout,
      [&](auto handler) { net::async_write(io_->socket, net::buffer(bytes), handler); });
  check(wrote, "writing raw bytes", "raw write failed: ");
}

std::string http_connection::read_until_close(bool& closed, std::chrono::milliseconds timeout) {
  auto const deadline = steady_clock::now() + timeout;
  std::string out = beast::buffers_to_string(io_->buffer.data());
  io_->buffer.clear();
  closed = false;
  char chunk[4096];
  for (;;) {
    auto const result = run_with_deadline(io_->ioc, io_->socket, deadline, [&](auto handler) {
      io_->socket.async_read_some(net::buffer(chunk), handler);
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

void http_connection::close() {
  hang_up(io_->socket);
}

response http_connection::read(steady_clock::time_point deadline, char const* what) {
  response res;
  auto const result = run_with_deadline(io_->ioc, io_->socket, deadline, [&](auto handler) {
    http::async_read(io_->socket, io_->buffer, res, handler);
  });
  check(result, what, "read failed: ");
  return res;
}

void http_connection::check(socket_result const& result, char const* what, char const* failed) {
  if (!result.in_time) {
    beast::error_code ignored;
    io_->socket.close(ignored);
    throw std::runtime_error(std::string("timed out ") + what);
  }
  if (result.ec) throw std::runtime_error(failed + result.ec.message());
}

response request(std::uint16_t port, http::verb method, std::string_view target, std::string body,
                 header_list const& headers, std::chrono::milliseconds timeout) {
  http_connection conn(port, timeout);
  return conn.send(make_request(method, target, std::move(body), headers), timeout);
}

response get(std::uint16_t port, std::string_view target, header_list const& headers) {
  return request(port, http::verb::get, target, {}, headers);
}

response post_fact(std::uint16_t port, std::string body, std::string const& content_type,
                   header_list headers) {
  if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
  return request(port, http::verb::post, "/fact", std::move(body), headers);
}

raw_result raw_exchange(std::uint16_t port, std::string_view bytes,
                        std::chrono::milliseconds timeout) {
  http_connection conn(port, timeout);
  conn.send_raw(bytes, timeout);
  raw_result result;
  result.bytes = conn.read_until_close(result.closed, timeout);
  return result;
}

response parse_response(std::string_view raw) {
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

std::string header(response const& res, std::string_view name) {
  auto const it = res.find(name);
  return it == res.end() ? std::string{} : std::string(it->value());
}

bool has_header(response const& res, std::string_view name) {
  return res.find(name) != res.end();
}

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::uint64_t seq_from_location(response const& res) {
  auto const location = header(res, "Location");
  constexpr std::string_view prefix = "/facts/";
  if (location.rfind(prefix, 0) != 0 || !all_digits(location.substr(prefix.size()))) return 0;
  try {
    return std::stoull(location.substr(prefix.size()));
  } catch (std::out_of_range const&) {
    return 0;
  }
}

bool is_json_error(response const& res) {
  if (header(res, "Content-Type").rfind("application/json", 0) != 0) return false;
  auto const body = nlohmann::json::parse(res.body(), nullptr, false);
  return body.is_object() && body.contains("error") && body["error"].is_string() &&
         !body["error"].get<std::string>().empty();
}

bool lists_token(std::string_view value, std::string_view token) {
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

nlohmann::json status(std::uint16_t port) {
  auto const res = get(port, "/status");
  if (res.result() != http::status::ok)
    throw std::runtime_error("GET /status answered " + std::to_string(res.result_int()));
  return nlohmann::json::parse(res.body());
}

std::int64_t wait_for_status(std::uint16_t port, char const* key, std::int64_t value,
                             std::chrono::milliseconds timeout) {
  auto const deadline = steady_clock::now() + timeout;
  std::int64_t seen = status(port).at(key).get<std::int64_t>();
  while (seen != value && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    seen = status(port).at(key).get<std::int64_t>();
  }
  return seen;
}

}  // namespace facts::test
