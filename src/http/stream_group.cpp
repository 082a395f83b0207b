#include "facts/http/stream_group.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "facts/http/sse_session.hpp"

namespace facts::http {

namespace {

// How often blocked streams are checked against --write-timeout: a fraction of a second, so
// the cut-off comes at most that late; cheap, since only one pass over the list.
constexpr std::chrono::milliseconds stall_check_interval{250};

}  // namespace

stream_group::stream_group(net::io_context& ioc, broadcaster& hub, limits const& lim,
                           metrics& stats)
    : ioc_(ioc), hub_(hub), limits_(lim), stats_(stats), stall_timer_(ioc) {}

stream_group::~stream_group() = default;

void stream_group::start() {
  net::post(ioc_, [self = shared_from_this()] { self->schedule_stall_check(); });
}

void stream_group::deliver(frame f, frame_meta meta) {
  std::lock_guard lock(inbox_mutex_);
  inbox_.emplace_back(std::move(f), meta);
  if (pass_posted_) return;  // the queued pass takes this frame too
  pass_posted_ = true;
  // Two hops to the pass: the writer queues the answers to this batch's POSTs right after this
  // post, so they go out before the pass, their publishers' next facts arrive while it runs,
  // and the next pass carries them all in one write per stream instead of one pass each.
  net::post(ioc_,
            [self = shared_from_this()] { net::post(self->ioc_, [self] { self->run_pass(); }); });
}

void stream_group::heartbeat(frame f) {
  net::post(ioc_, [self = shared_from_this(), f = std::move(f)] { self->on_tick(f); });
}

void stream_group::close() {
  net::post(ioc_, [self = shared_from_this()] { self->on_close(); });
}

void stream_group::take_inbox() {
  std::vector<std::pair<frame, frame_meta>> arrived;
  {
    std::lock_guard lock(inbox_mutex_);
    arrived.swap(inbox_);
    pass_posted_ = false;
  }
  for (auto& [f, meta] : arrived)
    log_.append(std::move(f), meta);
}

void stream_group::open(tcp::socket socket, std::string head, std::chrono::milliseconds retry,
                        std::optional<std::string> const& last_event_id) {
  auto stream = std::make_shared<sse_session>(std::move(socket), *this);
  std::optional<joined_stream> joined;
  try {
    joined = hub_.join(last_event_id);
  } catch (std::exception const& e) {
    // A catch-up read from the store failed: end this stream, keep serving the others.
    spdlog::error("[sse] cannot start a stream: {}", e.what());
    return;  // the socket closes with the session
  }
  if (!joined) {
    if (closing_ || hub_.shutting_down()) return;
    // At --max-clients: 200 with a jittered retry: and close, as for a refusal at routing.
    auto const later = jittered_retry(std::chrono::seconds(2), std::chrono::seconds(5));
    stream->refuse(std::make_shared<std::string const>(std::move(head) + make_retry(later) + "\n"));
    stream->flush(tally_);
    stats_.add(tally_);
    return;
  }
  // Everything up to joined->seq is in the snapshot, and every frame above it either is in the
  // inbox already or comes later: take the inbox first, so the position is found among all of
  // them.
  take_inbox();
  stream->start(std::make_shared<std::string const>(std::move(head) + make_retry(retry)),
                std::move(joined->snapshot), log_.position_after(joined->seq));
  stream->slot = streams_.size();
  streams_.push_back(stream);
  if (closing_)
    stream->finish(std::make_shared<std::string const>(
        make_retry(jittered_retry(std::chrono::seconds(1), std::chrono::seconds(10))) + "\n"));
  stream->flush(tally_);
  stats_.add(tally_);
}

void stream_group::run_pass() {
  take_inbox();
  // Index-based: a stream that ends during its flush is swapped out of its slot (see forget).
  auto lowest = log_.end_offset();
  for (std::size_t i = 0; i < streams_.size();) {
    auto* const stream = streams_[i].get();
    stream->flush(tally_);
    if (i < streams_.size() && streams_[i].get() == stream) {
      lowest = std::min(lowest, stream->position());
      ++i;
    }
  }
  log_.trim_before(lowest);
  stats_.add(tally_);
}

void stream_group::flush_one(sse_session& stream) {
  stream.flush(tally_);
  stats_.add(tally_);
}

void stream_group::forget(sse_session& stream) {
  auto const slot = stream.slot;
  if (slot >= streams_.size() || streams_[slot].get() != &stream) return;  // never listed
  retired_.push_back(std::move(streams_[slot]));
  if (slot + 1 != streams_.size()) {
    streams_[slot] = std::move(streams_.back());
    streams_[slot]->slot = slot;
  }
  streams_.pop_back();
  // Released later, not here: forget() runs inside the stream's own methods.
  if (release_posted_) return;
  release_posted_ = true;
  net::post(ioc_, [self = shared_from_this()] {
    self->release_posted_ = false;
    self->retired_.clear();
  });
}

void stream_group::on_tick(frame f) {
  for (std::size_t i = 0; i < streams_.size();) {
    auto* const stream = streams_[i].get();
    stream->tick(f);
    stream->flush(tally_);
    if (i < streams_.size() && streams_[i].get() == stream) ++i;
  }
  stats_.add(tally_);
}

void stream_group::on_close() {
  closing_ = true;
  stall_timer_.cancel();
  // The writer stopped before the hub closed us: every fact is in the inbox or the log, and
  // goes out before each stream's last retry:, spread over a few seconds so that a restarted
  // server is not met by every client in the same instant.
  take_inbox();
  for (std::size_t i = 0; i < streams_.size();) {
    auto* const stream = streams_[i].get();
    stream->finish(std::make_shared<std::string const>(
        make_retry(jittered_retry(std::chrono::seconds(1), std::chrono::seconds(10))) + "\n"));
    stream->flush(tally_);
    if (i < streams_.size() && streams_[i].get() == stream) ++i;
  }
  stats_.add(tally_);
}

void stream_group::schedule_stall_check() {
  if (closing_) return;
  stall_timer_.expires_after(stall_check_interval);
  stall_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    auto const now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < self->streams_.size();) {
      auto* const stream = self->streams_[i].get();
      stream->check_stall(now);
      if (i < self->streams_.size() && self->streams_[i].get() == stream) ++i;
    }
    self->schedule_stall_check();
  });
}

}  // namespace facts::http
