#include "facts/http/http_session.hpp"

#include <spdlog/spdlog.h>

#include "facts/http/sse_session.hpp"

namespace facts::http {

namespace {

// Endings that are part of normal life for a connection: not worth more than a debug line.
bool benign(beast::error_code ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
         ec == net::error::connection_reset || ec == net::error::eof ||
         ec == beast::error::timeout || ec == net::error::broken_pipe;
}

}  // namespace

http_session::http_session(tcp::socket&& socket, session_context const& ctx)
    : stream_(std::move(socket)), ctx_(ctx) {}

void http_session::run() {
  // Start on the connection's strand: every handler of this session is serialized by it.
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&http_session::do_read, shared_from_this()));
}

void http_session::do_read() {
  // A fresh parser per request: limits apply to each one, not to the connection's total.
  parser_.emplace();
  parser_->body_limit(ctx_.lim.max_fact_bytes);
  parser_->header_limit(static_cast<std::uint32_t>(ctx_.lim.max_header_bytes));
  // One deadline covers waiting for the next request (keep-alive idle) and receiving all of it.
  stream_.expires_after(ctx_.lim.request_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == bhttp::error::end_of_stream) return do_close();
  if (ec == bhttp::error::body_limit) {
    // Refused from the Content-Length alone: the body is never read, so the connection
    // cannot carry another request.
    auto res = error_response(bhttp::status::payload_too_large,
                              "fact is larger than " + std::to_string(ctx_.lim.max_fact_bytes) +
                                  " bytes (--max-fact-bytes)",
                              parser_->get(), ctx_.routes.cors);
    res.keep_alive(false);
    return do_write(std::move(res));
  }
  if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
      ec != bhttp::error::partial_message) {
    auto res = error_response(bhttp::status::bad_request, "malformed HTTP request: " + ec.message(),
                              request_header{}, ctx_.routes.cors);
    res.keep_alive(false);
    return do_write(std::move(res));
  }
  if (ec) {
    if (benign(ec) || ec == bhttp::error::partial_message)
      spdlog::debug("[http] read ended: {}", ec.message());
    else
      spdlog::warn("[http] read failed: {}", ec.message());
    return do_close();
  }

  req_ = parser_->release();
  auto decision = route_request(req_, ctx_.routes);
  switch (decision.what) {
    case route_decision::action::respond:
      return do_write(std::move(decision.res));
    case route_decision::action::open_stream: {
      stream_.expires_never();
      auto header = stream_header_bytes(decision.res) + make_retry(ctx_.retry);
      auto const last_id = req_.find("Last-Event-ID");
      std::optional<std::string> id;
      if (last_id != req_.end()) id = std::string(last_id->value());
      std::make_shared<sse_session>(std::move(stream_), ctx_.hub, ctx_.lim)
          ->run(std::move(header), std::move(id));
      return;
    }
    case route_decision::action::publish:
      ctx_.writer.submit({std::move(decision.fact_json), std::move(decision.idempotency_key)},
                         [self = shared_from_this()](auto result) {
                           net::post(
                               self->stream_.get_executor(),
                               [self, result = std::move(result)] { self->on_published(result); });
                         });
      return;
  }
}

void http_session::on_published(std::optional<append_result> const& result) {
  do_write(publish_answer(result, req_, ctx_.routes.cors));
}

void http_session::do_write(response res) {
  res_ = std::move(res);
  bool const keep_alive = res_->keep_alive();
  stream_.expires_after(ctx_.lim.write_timeout);
  bhttp::async_write(
      stream_, *res_,
      beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  if (ec) {
    spdlog::debug("[http] write failed: {}", ec.message());
    return do_close();
  }
  res_.reset();
  if (!keep_alive) return do_close();
  do_read();
}

void http_session::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return stream_.close();
  // Closing with unread bytes (a refused body) would send RST and could destroy the answer
  // before the client reads it; drain for a short while instead, as servers' lingering close.
  buffer_.clear();
  stream_.expires_after(std::chrono::seconds(2));
  do_linger();
}

void http_session::do_linger() {
  stream_.async_read_some(buffer_.prepare(16 * 1024),
                          beast::bind_front_handler(&http_session::on_linger, shared_from_this()));
}

void http_session::on_linger(beast::error_code ec, std::size_t bytes) {
  lingered_bytes_ += bytes;
  if (ec || lingered_bytes_ > linger_limit) return stream_.close();
  do_linger();
}

}  // namespace facts::http
