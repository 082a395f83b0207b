#include "facts/http/sse_session.hpp"

#include <spdlog/spdlog.h>

namespace facts::http {

sse_session::sse_session(beast::tcp_stream&& stream, broadcaster& hub, limits const& lim,
                         metrics& stats)
    : stream_(std::move(stream)), hub_(hub), limits_(lim), stats_(stats) {
  beast::error_code ec;
  auto const endpoint = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

sse_session::~sse_session() {
  spdlog::debug("[sse {}] gone", remote_);
}

void sse_session::run(std::string header, std::chrono::milliseconds retry,
                      std::optional<std::string> last_event_id) {
  frame snapshot;
  try {
    snapshot = hub_.subscribe(shared_from_this(), last_event_id);
  } catch (std::exception const& e) {
    // A catch-up read from the store failed: end this stream, keep serving the others.
    spdlog::error("[sse {}] cannot start the stream: {}", remote_, e.what());
    hub_.unsubscribe(this);
    return do_close(stream_end::error);
  }
  if (!snapshot && hub_.shutting_down()) return do_close(stream_end::shutdown);
  if (!snapshot) {
    // At --max-clients: 200 with a jittered retry: and close, as for a refusal at routing.
    auto const later = jittered_retry(std::chrono::seconds(2), std::chrono::seconds(5));
    closing_ = true;
    enqueue(std::make_shared<std::string const>(std::move(header) + make_retry(later) + "\n"));
    return do_write();
  }
  spdlog::debug("[sse {}] open", remote_);
  subscribed_ = true;
  beast::error_code ec;
  stream_.socket().non_blocking(true, ec);  // so the hang-up read below can never block
  // Header, retry line and snapshot go out in the first write. Frames delivered after
  // subscribe() are posted to this strand, so they can only queue behind these.
  enqueue(std::make_shared<std::string const>(std::move(header) + make_retry(retry)));
  enqueue(std::move(snapshot));
  do_write();
  do_wait_hangup();
}

void sse_session::deliver(frame f, frame_meta meta) {
  net::post(stream_.get_executor(), [self = shared_from_this(), f = std::move(f), meta]() mutable {
    self->on_deliver(std::move(f), meta);
  });
}

void sse_session::heartbeat(frame f) {
  net::post(stream_.get_executor(), [self = shared_from_this(), f = std::move(f)]() mutable {
    self->on_heartbeat(std::move(f));
  });
}

void sse_session::close() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->on_shutdown(); });
}

void sse_session::on_deliver(frame f, frame_meta meta) {
  if (closed_ || closing_) return;
  // A stream that had nothing pending takes any frame, however large a batch made it; only a
  // stream that is already behind can be too slow.
  bool const was_behind = queued_bytes_ + in_flight_bytes_ > 0;
  enqueue(std::move(f), meta);
  auto const backlog = queued_bytes_ + in_flight_bytes_;
  if (was_behind && backlog > limits_.max_queue_bytes) {
    spdlog::info("[sse {}] cut off as too slow: {} bytes queued (--max-queue-bytes {})", remote_,
                 backlog, limits_.max_queue_bytes);
    return do_close(stream_end::slow);
  }
  do_write();
  set_lagging(!queue_.empty());
}

void sse_session::on_heartbeat(frame f) {
  if (closed_ || closing_) return;
  bool const idle = idle_since_tick_ && in_flight_.empty() && queue_.empty();
  idle_since_tick_ = true;
  if (!idle) return;
  enqueue(std::move(f));
  do_write();
  idle_since_tick_ = true;  // a heartbeat is not activity: the next tick may need one too
}

void sse_session::on_shutdown() {
  if (closed_ || closing_) return;
  closing_ = true;
  // A last retry: spread over a few seconds, so a restarted server is not met by every
  // client in the same instant.
  auto const retry = jittered_retry(std::chrono::seconds(1), std::chrono::seconds(10));
  enqueue(std::make_shared<std::string const>(make_retry(retry) + "\n"));
  do_write();
}

void sse_session::enqueue(frame f, frame_meta meta) {
  // Only live events count against the queue bound: a large snapshot must not cut off the
  // client it was built for.
  if (meta.events > 0) queued_bytes_ += f->size();
  queue_.push_back({std::move(f), meta});
}

void sse_session::do_write() {
  if (closed_ || !in_flight_.empty()) return;
  if (queue_.empty()) {
    if (closing_) do_close(stream_end::shutdown);
    return;
  }
  // Everything queued goes out in one gather write: a stream that fell behind catches up in
  // one system call instead of one per event.
  in_flight_.swap(queue_);
  in_flight_bytes_ = std::exchange(queued_bytes_, 0);
  buffers_.clear();
  for (auto const& q : in_flight_)
    buffers_.emplace_back(net::buffer(*q.bytes));
  idle_since_tick_ = false;
  // Re-armed before every write: a deadline that ran out while idle would fail the next write.
  stream_.expires_after(limits_.write_timeout);
  net::async_write(stream_, buffers_,
                   beast::bind_front_handler(&sse_session::on_write, shared_from_this()));
}

void sse_session::on_write(beast::error_code ec, std::size_t bytes) {
  if (ec) {
    if (ec == beast::error::timeout) {
      spdlog::info("[sse {}] cut off: a write took longer than {}s (--write-timeout)", remote_,
                   limits_.write_timeout.count());
      return do_close(stream_end::timeout);
    }
    spdlog::debug("[sse {}] write failed: {}", remote_, ec.message());
    return do_close(closing_ ? stream_end::shutdown : stream_end::client_closed);
  }
  auto const now = std::chrono::steady_clock::now();
  std::uint64_t events = 0;
  for (auto const& q : in_flight_) {
    if (q.meta.events == 0) continue;
    events += q.meta.events;
    stats_.publish_to_write(now - q.meta.published);
  }
  stats_.written(events, bytes);
  in_flight_bytes_ = 0;
  in_flight_.clear();
  buffers_.clear();
  do_write();
  set_lagging(!queue_.empty());
}

void sse_session::set_lagging(bool lagging) {
  if (lagging == lagging_) return;
  lagging_ = lagging;
  stats_.lagging_changed(lagging ? 1 : -1);
}

void sse_session::do_wait_hangup() {
  // A stream's client sends nothing after its request; readability means it hung up (or sent
  // junk, which we drop). Waiting needs no buffer, which matters at tens of thousands of streams.
  stream_.socket().async_wait(
      tcp::socket::wait_read,
      beast::bind_front_handler(&sse_session::on_readable, shared_from_this()));
}

void sse_session::on_readable(beast::error_code ec) {
  // Aborted: the stream is being closed elsewhere (a write timeout closes the socket), and
  // that path knows why.
  if (ec == net::error::operation_aborted) return;
  if (ec) return do_close(closing_ ? stream_end::shutdown : stream_end::error);
  char scratch[256];
  auto const n = stream_.socket().read_some(net::buffer(scratch), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) return do_wait_hangup();
  if (ec || n == 0) return do_close(stream_end::client_closed);
  do_wait_hangup();
}

void sse_session::do_close(stream_end why) {
  if (closed_) return;
  closed_ = true;
  spdlog::debug("[sse {}] closed ({})", remote_, static_cast<int>(why));
  if (subscribed_) stats_.stream_ended(why);  // a refused stream never counted as open
  set_lagging(false);
  // Leave before anything else so /status drops at once; never called under the hub's lock.
  hub_.unsubscribe(this);
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  queue_.clear();
}

}  // namespace facts::http
