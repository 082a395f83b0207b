#include "facts/http/http_session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>

#include "facts/http/request_fields.hpp"
#include "facts/http/response_bytes.hpp"

namespace facts::http {

namespace {

// Endings that are part of normal life for a connection: not worth more than a debug line.
bool benign(beast::error_code ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == net::error::operation_aborted || ec == net::error::connection_reset ||
         ec == net::error::eof || ec == beast::error::timeout || ec == net::error::broken_pipe;
}

bool is_parse_error(beast::error_code ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

}  // namespace

http_session::http_session(tcp::socket&& socket, session_context const& ctx, stream_group& streams,
                           post_batch& posts)
    : socket_(std::move(socket)), ctx_(ctx), streams_(streams), posts_(posts) {}

http_session::~http_session() {
  if (answering_) --ctx_.requests_in_flight;
}

void http_session::run() {
  deadline_.emplace(socket_.get_executor(), weak_from_this(), [this] {
    // Closing cancels the pending read or write: its handler ends the connection.
    spdlog::debug("[http] connection timed out");
    beast::error_code ignored;
    socket_.close(ignored);
  });
  // Start on the connection's I/O thread, the only one that runs its io_context: every
  // handler of this session runs there, one at a time.
  net::dispatch(socket_.get_executor(),
                beast::bind_front_handler(&http_session::do_read, shared_from_this()));
}

void http_session::do_read() {
  if (buffer_.size() > 0) return do_read_request();  // a pipelined request is already here
  // Waiting for the next request is bounded by the idle timeout; receiving it, once it has
  // started, by the (shorter) request timeout, so a slow sender cannot hold a connection.
  // A new connection gets no keep-alive grace: until it sends something it is only a descriptor.
  deadline_->expire_after(served_ ? ctx_.lim.idle_timeout : ctx_.lim.request_timeout);
  socket_.async_read_some(
      buffer_.prepare(4096),
      beast::bind_front_handler(&http_session::on_first_bytes, shared_from_this()));
}

void http_session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec) {
    spdlog::debug("[http] idle connection ended: {}", ec.message());
    return close();
  }
  buffer_.commit(bytes);
  do_read_request();
}

void http_session::do_read_request() {
  // A fresh parser per request: limits apply to each one, not to the connection's total.
  parser_.emplace();
  parser_->body_limit(ctx_.lim.max_fact_bytes);
  parser_->header_limit(static_cast<std::uint32_t>(ctx_.lim.max_header_bytes));
  // A keep-alive client's request usually arrived whole in one read: parsed from the buffer at
  // once, it skips two asynchronous reads (and their timers) that would find nothing to read.
  beast::error_code ec;
  parse_buffered(ec);
  if (ec || parser_->is_done()) return on_read(ec, 0);
  deadline_->expire_after(ctx_.lim.request_timeout);
  if (parser_->is_header_done()) return on_read_header(ec, 0);
  // The head first: a client that sent `Expect: 100-continue` waits for our go-ahead before it
  // sends the body (and a body over the limit is refused from its Content-Length before that).
  bhttp::async_read_header(
      socket_, buffer_, *parser_,
      beast::bind_front_handler(&http_session::on_read_header, shared_from_this()));
}

void http_session::parse_buffered(beast::error_code& ec) {
  while (buffer_.size() > 0 && !parser_->is_done()) {
    auto const used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec || used == 0) return;
  }
}

void http_session::on_read_header(beast::error_code ec, std::size_t bytes) {
  if (ec || parser_->is_done()) return on_read(ec, bytes);
  auto const& head = parser_->get();
  auto const expect = head.find(bhttp::field::expect);
  if (expect == head.end() || !beast::iequals(expect->value(), "100-continue"))
    return do_read_body();
  // The client waits for our go-ahead before it sends the body: refuse now whatever the head
  // alone refuses (a body over --max-fact-bytes was refused by the parser already), so that a
  // refused client never sends a body for nothing.
  if (auto refused = refusal_before_body(head, ctx_.routes)) return refuse(std::move(*refused));
  // HTTP/1.0 knows no 1xx answers (RFC 9110, 15.2): such a client gets none and sends its body
  // when it tires of waiting.
  if (head.version() < 11) return do_read_body();
  static constexpr std::string_view go_ahead = "HTTP/1.1 100 Continue\r\n\r\n";
  net::async_write(socket_, net::buffer(go_ahead.data(), go_ahead.size()),
                   [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                     if (write_ec) return self->close();
                     self->do_read_body();
                   });
}

void http_session::do_read_body() {
  bhttp::async_read(socket_, buffer_, *parser_,
                    beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, std::size_t) {
  if (ec == bhttp::error::end_of_stream) return do_close();
  if (ec == bhttp::error::body_limit)
    // Refused from the Content-Length alone: the body is never read, so the connection
    // cannot carry another request.
    return refuse(bhttp::status::payload_too_large, "fact is larger than " +
                                                        std::to_string(ctx_.lim.max_fact_bytes) +
                                                        " bytes (--max-fact-bytes)");
  if (ec == bhttp::error::header_limit)
    return refuse(bhttp::status::request_header_fields_too_large,
                  "request head is larger than " + std::to_string(ctx_.lim.max_header_bytes) +
                      " bytes (--max-header-bytes)");
  if (ec && is_parse_error(ec) && ec != bhttp::error::partial_message)
    return refuse(bhttp::status::bad_request, "malformed HTTP request: " + ec.message());
  if (ec) {
    if (benign(ec))
      spdlog::debug("[http] read ended: {}", ec.message());
    else
      spdlog::warn("[http] read failed: {}", ec.message());
    return do_close();
  }

  req_ = parser_->release();
  if (spdlog::should_log(spdlog::level::trace))
    spdlog::trace("[http] {} {}", std::string(req_.method_string()), target_for_log(req_.target()));
  // Nothing is read or written until the answer: storing a fact is bounded by the store.
  deadline_->expire_never();
  answering_ = true;
  served_ = true;
  ++ctx_.requests_in_flight;
  route_decision decision;
  try {
    decision = route_request(req_, ctx_.routes);
  } catch (std::exception const& e) {
    return do_write(failure_answer(e));
  }
  switch (decision.what) {
    case route_decision::action::respond:
      return do_write(std::move(decision.res));
    case route_decision::action::open_stream:
      stream_expires_ = decision.expires;
      return open_stream(std::move(decision.res));
    case route_decision::action::read:
      return answer_read(std::move(decision.read));
    case route_decision::action::publish:
      posts_.add({std::move(decision.fact_json), std::move(decision.idempotency_key)},
                 [self = shared_from_this()](auto result) { self->on_published(result); });
      return;
  }
}

response http_session::failure_answer(std::exception const& e) const {
  // A store read failed, or memory ran out: this request fails, the server keeps serving.
  spdlog::error("[http] {} {} failed: {}", std::string(req_.method_string()),
                target_for_log(req_.target()), e.what());
  return error_response(bhttp::status::service_unavailable,
                        "the server could not answer this request", req_, ctx_.routes.cors);
}

void http_session::answer_read(std::function<response()> read) {
  // req_ stays as it is until the answer is written: the read refers to it from the pool.
  ctx_.reads.run(
      [self = shared_from_this(), read = std::move(read), ex = socket_.get_executor()]() mutable {
        std::optional<response> res;
        try {
          res = read();
        } catch (std::exception const& e) {
          res = self->failure_answer(e);
        }
        net::post(ex, [self = std::move(self), res = std::move(*res)]() mutable {
          self->do_write(std::move(res));
        });
      });
}

void http_session::open_stream(response header) {
  ctx_.stats.request_answered("events", 200);
  answer_done();
  deadline_->expire_never();
  auto const last_id = req_.find("Last-Event-ID");
  std::optional<std::string> id;
  if (last_id != req_.end())
    id = std::string(last_id->value());
  else if (auto const param = query_param(req_.target(), "lastEventId"); param && !param->empty())
    // A new EventSource cannot set Last-Event-ID, so a page that already holds facts (one tab
    // taking over the stream of another) names the newest in the URL. Empty is what a page
    // with no facts yet sends: a new client, as with no header.
    id = std::string(*param);
  auto head = stream_header_bytes(header);
  // Resume anywhere: an id this instance has not fanned out yet but the shared log has (it
  // lags the instance the client came from) is waited for, woken by the hub, never blocking
  // the thread; an id beyond the log's newest is a reset, as before.
  std::uint64_t wanted = 0;
  if (id) {
    auto [end, ec] = std::from_chars(id->data(), id->data() + id->size(), wanted);
    if (ec != std::errc{} || end != id->data() + id->size()) wanted = 0;
  }
  if (wanted <= ctx_.hub.fanned_out_seq())
    return streams_.open(std::move(socket_), std::move(head), ctx_.retry, id, stream_expires_);
  if (wanted <= ctx_.routes.store.last_seq())
    return wait_for_fan_out(wanted, std::move(head), std::move(id));
  // Beyond the newest this instance knows of: what it knows lags the other instances, so the
  // log itself is asked, on the read pool (it is a round trip, and NATS may be stopped).
  ctx_.reads.run([self = shared_from_this(), ex = socket_.get_executor(), wanted,
                  head = std::move(head), id = std::move(id)]() mutable {
    std::uint64_t newest = 0;
    try {
      newest = self->ctx_.routes.store.log_newest_seq();
    } catch (std::exception const& e) {
      spdlog::warn("[http] cannot ask the log for its newest id: {}", e.what());
    }
    net::post(ex, [self = std::move(self), wanted, newest, head = std::move(head),
                   id = std::move(id)]() mutable {
      if (wanted <= newest) return self->wait_for_fan_out(wanted, std::move(head), std::move(id));
      self->streams_.open(std::move(self->socket_), head, self->ctx_.retry, id,
                          self->stream_expires_);
    });
  });
}

void http_session::wait_for_fan_out(std::uint64_t wanted, std::string head,
                                    std::optional<std::string> id) {
  ctx_.hub.when_fanned_out(
      wanted, std::chrono::steady_clock::now() + ctx_.catch_up_wait,
      [self = shared_from_this(), head = std::move(head), id = std::move(id)](bool) mutable {
        // Reached or not, the hub decides what the stream gets: with the id not reached, a
        // reset, as for any id beyond this instance's newest.
        auto const ex = self->socket_.get_executor();
        net::post(ex, [self = std::move(self), head = std::move(head), id = std::move(id)] {
          self->streams_.open(std::move(self->socket_), head, self->ctx_.retry, id,
                              self->stream_expires_);
        });
      });
}

void http_session::on_published(std::optional<append_result> const& result) {
  using outcome = append_result::outcome;
  if (!result || (result->what != outcome::created && result->what != outcome::replayed))
    return do_write(publish_answer(result, req_, ctx_.routes.cors));
  if (result->what == outcome::created) ctx_.stats.facts_published(1);
  ctx_.stats.request_answered(route_name(req_.target()), 201);
  res_.reset();
  answer_.clear();
  send_answer(append_stored_answer(answer_, *result, req_, ctx_.routes.cors));
}

void http_session::refuse(bhttp::status status, std::string const& message) {
  refuse(error_response(status, message, parser_->get(), ctx_.routes.cors));
}

void http_session::refuse(response res) {
  // Whatever is left of this request is unread, so the connection cannot carry another one.
  res.keep_alive(false);
  req_ = request{parser_->get().base()};  // so /metrics counts it under its own route
  if (!answering_) {
    answering_ = true;
    ++ctx_.requests_in_flight;
  }
  do_write(std::move(res));
}

void http_session::do_write(response res) {
  ctx_.stats.request_answered(route_name(req_.target()), res.result_int());
  res_ = std::move(res);
  answer_.clear();
  append_head(answer_, *res_);
  send_answer(res_->keep_alive());
}

void http_session::send_answer(bool keep_alive) {
  // answer_'s buffer is kept for the connection's life, so a keep-alive publisher's answers
  // reuse it; a response's body is written from the response itself, in the same call.
  std::array<net::const_buffer, 2> const bytes{
      net::buffer(answer_), res_ ? net::buffer(res_->body()) : net::const_buffer{}};
  deadline_->expire_after(ctx_.lim.write_timeout);
  net::async_write(
      socket_, bytes,
      beast::bind_front_handler(&http_session::on_write, shared_from_this(), keep_alive));
}

void http_session::on_write(bool keep_alive, beast::error_code ec, std::size_t) {
  answer_done();
  if (ec) {
    spdlog::debug("[http] write failed: {}", ec.message());
    return close();
  }
  res_.reset();
  if (!keep_alive) return do_close();
  do_read();
}

void http_session::answer_done() {
  if (!answering_) return;
  answering_ = false;
  --ctx_.requests_in_flight;
}

void http_session::do_close() {
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return close();
  // Closing with unread bytes (a refused body) would send RST and could destroy the answer
  // before the client reads it; drain for a short while instead, as servers' lingering close.
  buffer_.clear();
  deadline_->expire_after(std::chrono::seconds(2));
  do_linger();
}

void http_session::close() {
  beast::error_code ignored;
  socket_.close(ignored);
  deadline_->expire_never();
}

void http_session::do_linger() {
  socket_.async_read_some(buffer_.prepare(16 * 1024),
                          beast::bind_front_handler(&http_session::on_linger, shared_from_this()));
}

void http_session::on_linger(beast::error_code ec, std::size_t bytes) {
  lingered_bytes_ += bytes;
  if (ec || lingered_bytes_ > linger_limit) return close();
  do_linger();
}

}  // namespace facts::http
