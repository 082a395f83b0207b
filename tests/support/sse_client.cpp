#include "support/sse_client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace facts::test {

void sse_parser::feed(std::string_view bytes) {
  for (char const c : bytes) {
    // CRLF, LF and CR all end a line; the LF of a CRLF split across reads is skipped here.
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;
    }
    if (c == '\r' || c == '\n') {
      skip_lf_ = c == '\r';
      on_line(line_);
      line_.clear();
    } else {
      line_ += c;
    }
  }
}

sse_event sse_parser::pop() {
  auto e = std::move(ready_.front());
  ready_.pop_front();
  return e;
}

void sse_parser::on_line(std::string_view line) {
  if (line.empty()) return dispatch();
  if (line.front() == ':') {
    ++comments_;
    return;
  }
  auto const colon = line.find(':');
  auto const field = line.substr(0, colon);
  auto value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    current_.type = std::string(value);
  } else if (field == "data") {
    data_ += value;
    data_ += '\n';
    has_data_ = true;
  } else if (field == "id") {
    current_.id = std::string(value);
  } else if (field == "retry") {
    if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos)
      retry_ = std::string(value);
  }
}

void sse_parser::dispatch() {
  // As in the browser: a block without data is not an event.
  if (has_data_) {
    data_.pop_back();  // the '\n' after the last data line
    current_.data = std::move(data_);
    current_.retry = retry_;
    ready_.push_back(std::move(current_));
  }
  current_ = {};
  data_.clear();
  has_data_ = false;
}

std::size_t head_end(std::string_view bytes) {
  auto const at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? at : at + 4;
}

std::string events_request(std::string_view extra_headers) {
  std::string out = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  out += extra_headers;
  out += "\r\n";
  return out;
}

http::response<http::empty_body> parse_head(std::string_view head) {
  http::response_parser<http::empty_body> parser;
  beast::error_code ec;
  parser.put(net::buffer(head.data(), head.size()), ec);
  if (ec && ec != http::error::need_more)
    throw std::runtime_error("bad response head: " + ec.message());
  if (!parser.is_header_done()) throw std::runtime_error("incomplete response head");
  return parser.release();
}

struct sse_client::io {
  net::io_context ioc;
  tcp::socket socket{ioc};
};

sse_client::sse_client(std::uint16_t port, header_list const& headers,
                       std::chrono::milliseconds timeout, std::string_view target)
    : io_(std::make_unique<io>()) {
  auto const deadline = steady_clock::now() + timeout;
  connect_loopback(io_->ioc, io_->socket, port, deadline);
  auto req = make_request(http::verb::get, target, {}, headers);
  req.set(http::field::accept, "text/event-stream");
  write(req, deadline);

  std::string bytes;
  while (head_end(bytes) == std::string::npos) {
    auto const n = read_some(deadline);
    if (!n) throw std::runtime_error("no response head from GET /events before the deadline");
    if (eof_ && *n == 0) throw std::runtime_error("connection closed before the response head");
    bytes.append(chunk_.data(), *n);
  }
  auto const end = head_end(bytes);
  head_ = parse_head(std::string_view(bytes).substr(0, end));
  parser_.feed(std::string_view(bytes).substr(end));
}

sse_client::~sse_client() = default;

template <class Predicate>
bool sse_client::read_until(Predicate done, std::chrono::milliseconds timeout) {
  auto const deadline = steady_clock::now() + timeout;
  while (!done()) {
    if (eof_) return false;
    auto const n = read_some(deadline);
    if (!n) return done();
    parser_.feed(std::string_view(chunk_.data(), *n));
  }
  return true;
}

std::optional<sse_event> sse_client::next_event(std::chrono::milliseconds timeout) {
  if (!read_until([this] { return parser_.has_event(); }, timeout)) return std::nullopt;
  return parser_.pop();
}

bool sse_client::wait_for_comments(std::size_t count, std::chrono::milliseconds timeout) {
  return read_until([&] { return parser_.comments() >= count; }, timeout);
}

bool sse_client::wait_closed(std::chrono::milliseconds timeout) {
  read_until([] { return false; }, timeout);
  return eof_;
}

void sse_client::close() {
  hang_up(io_->socket);
}

void sse_client::write(http::request<http::string_body> const& req,
                       steady_clock::time_point deadline) {
  auto const result = run_with_deadline(io_->ioc, io_->socket, deadline, [&](auto handler) {
    http::async_write(io_->socket, req, handler);
  });
  if (!result.in_time) {
    beast::error_code ignored;
    io_->socket.close(ignored);
    throw std::runtime_error("timed out sending GET /events");
  }
  if (result.ec) throw std::runtime_error("GET /events write failed: " + result.ec.message());
}

std::optional<std::size_t> sse_client::read_some(steady_clock::time_point deadline) {
  if (eof_) return 0;
  auto const result = run_with_deadline(io_->ioc, io_->socket, deadline, [&](auto handler) {
    io_->socket.async_read_some(net::buffer(chunk_), handler);
  });
  if (result.ec && result.ec != net::error::operation_aborted) eof_ = true;
  if (!result.in_time && result.bytes == 0) return std::nullopt;
  return result.bytes;
}

}  // namespace facts::test
