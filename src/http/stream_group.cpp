#include "facts/http/stream_group.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "facts/http/sse_session.hpp"

namespace facts::http {

namespace {

// How often blocked streams are checked against --write-timeout: a fraction of a second, so
// the cut-off comes at most that late; cheap, since only one pass over the list.
constexpr std::chrono::milliseconds stall_check_interval{250};

// Streams a pass serves before it lets the thread's other handlers run: about half a
// millisecond of writes, which is what a request on this thread may wait for at most.
constexpr std::size_t pass_slice = 64;

// Soonest first: std::push_heap keeps the greatest on top.
bool later(auto const& a, auto const& b) {
  return a.at > b.at;
}

}  // namespace

stream_group::stream_group(net::io_context& ioc, broadcaster& hub, catch_up_reader& reader,
                           limits const& lim, metrics& stats, std::chrono::milliseconds heartbeat)
    : ioc_(ioc),
      hub_(hub),
      reader_(reader),
      limits_(lim),
      stats_(stats),
      heartbeat_(heartbeat),
      stall_timer_(ioc),
      token_expired_(std::make_shared<std::string const>(
          "event: auth\ndata: {\"reason\":\"token expired\"}\n\n")) {}

stream_group::~stream_group() = default;

void stream_group::start() {
  net::post(ioc_, [self = shared_from_this()] { self->schedule_stall_check(); });
}

void stream_group::deliver(frame f, frame_meta meta) {
  // No stream here needs it, nor will one: deliver() runs under the hub's lock, after
  // publish() moved last_seq on, and open() counts a stream before it joins under that lock.
  // So a join that this call did not see comes later and its snapshot holds this frame. With
  // no stream on this thread (all POSTs, or --threads 2 with one stream), the thread is not
  // woken for a pass per published batch.
  if (members_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(inbox_mutex_);
  inbox_.emplace_back(std::move(f), meta);
  if (pass_active_) return;  // the pass under way, or the next one, takes this frame too
  pass_active_ = true;
  net::post(ioc_, [self = shared_from_this()] { self->run_pass(); });
}

void stream_group::heartbeat(frame f) {
  net::post(ioc_, [self = shared_from_this(), f = std::move(f)] { self->on_tick(f); });
}

void stream_group::close() {
  net::post(ioc_, [self = shared_from_this()] { self->on_close(); });
}

void stream_group::take_inbox(std::uint64_t split_after) {
  {
    std::lock_guard lock(inbox_mutex_);
    arrived_.swap(inbox_);
  }
  log_.append_merged(arrived_, split_after);
  arrived_.clear();
}

void stream_group::open(tcp::socket socket, std::string head, std::chrono::milliseconds retry,
                        std::optional<std::string> const& last_event_id,
                        std::optional<std::chrono::system_clock::time_point> expires) {
  auto stream = std::make_shared<sse_session>(std::move(socket), *this);
  // Counted before the join: from the join on, deliver() must queue every frame for it.
  members_.fetch_add(1, std::memory_order_relaxed);
  // No store read here: a stream that must catch up reads later, on the reader's thread.
  auto joined = hub_.join(last_event_id);
  if (!joined) {
    members_.fetch_sub(1, std::memory_order_relaxed);
    if (closing_ || hub_.shutting_down()) return;
    // At --max-clients: 200 with a jittered retry: and close (a non-200 would make EventSource
    // give up for good). The bound is for streams only: the other routes go on being served.
    spdlog::debug("[http] /events refused: --max-clients {} streams open", limits_.max_clients);
    auto const later = jittered_retry(std::chrono::seconds(2), std::chrono::seconds(5));
    stream->refuse(std::make_shared<std::string const>(std::move(head) + make_retry(later) + "\n"));
    stream->flush(tally_);
    stats_.add(tally_);
    return;
  }
  // Everything up to joined->seq is in the snapshot, and every frame above it either is in the
  // inbox already or comes later: take the inbox first, so the position is found among all of
  // them.
  take_inbox(joined->seq);
  stream->start(std::make_shared<std::string const>(std::move(head) + make_retry(retry)), *joined,
                log_.position_after(joined->seq));
  stream->slot = streams_.size();
  // No need to check closing_: once the hub has begun its shutdown it lets no stream in, and
  // on_close(), queued behind this handler, ends this one too.
  streams_.push_back(stream);
  if (expires) {
    // The steady clock from here on: a wall clock set back must not lengthen a token's life.
    auto const left = *expires - std::chrono::system_clock::now();
    expiries_.push_back({std::chrono::steady_clock::now() +
                             std::chrono::duration_cast<std::chrono::steady_clock::duration>(left),
                         stream});
    std::push_heap(expiries_.begin(), expiries_.end(), later<expiry, expiry>);
  }
  stream->flush(tally_);
  stats_.add(tally_);
}

void stream_group::run_pass() {
  if (pass_next_ == 0) {
    take_inbox();
    pass_lowest_ = pass_end_ = log_.end_offset();
  }
  // A pass goes over the streams a slice at a time, and lets the thread's other handlers run
  // in between: requests on this thread, the answers to POSTs among them, wait for a slice,
  // never for a whole pass over tens of thousands of streams.
  auto const slice_end = std::min(streams_.size(), pass_next_ + pass_slice);
  for (; pass_next_ < slice_end; ++pass_next_) {
    // A raw pointer: the stream may end in flush(), which moves it out of its slot.
    if (auto* const stream = streams_[pass_next_].get()) {
      stream->flush(tally_);
      if (!stream->closed()) pass_lowest_ = std::min(pass_lowest_, stream->position());
    }
  }
  stats_.add(tally_);
  if (pass_next_ < streams_.size()) {
    net::post(ioc_, [self = shared_from_this()] { self->run_pass(); });
    return;
  }
  pass_next_ = 0;
  log_.trim_before(pass_lowest_);
  compact();
  // Frames that came while the pass ran (or that a new stream took in) need another one.
  std::lock_guard lock(inbox_mutex_);
  if (inbox_.empty() && pass_end_ == log_.end_offset()) {
    pass_active_ = false;
    return;
  }
  net::post(ioc_, [self = shared_from_this()] { self->run_pass(); });
}

void stream_group::compact() {
  if (holes_ == 0) return;
  std::erase(streams_, nullptr);
  for (std::size_t i = 0; i < streams_.size(); ++i)
    streams_[i]->slot = i;
  holes_ = 0;
}

void stream_group::watch_stall(std::shared_ptr<sse_session> stream) {
  blocked_.push_back(std::move(stream));
}

void stream_group::read_catch_up(std::shared_ptr<sse_session> stream, std::uint64_t after,
                                 std::uint64_t until, chunk_form form, std::size_t bytes) {
  // The read runs on the reader's thread (or not at all: the chunk may be shared already);
  // the chunk is handed to the stream on ours, like everything the stream touches.
  auto done = [self = shared_from_this(),
               stream = std::move(stream)](std::shared_ptr<catch_up_chunk const> chunk) mutable {
    net::post(self->ioc_, [stream = std::move(stream), chunk = std::move(chunk)]() mutable {
      stream->on_chunk(std::move(chunk));
    });
  };
  if (form == chunk_form::events)
    reader_.read(after, std::move(done), bytes);
  else
    reader_.read_first(after, until, form == chunk_form::reset_array, std::move(done));
}

void stream_group::flush_one(sse_session& stream) {
  stream.flush(tally_);
  stats_.add(tally_);
}

void stream_group::forget(sse_session& stream) {
  auto const slot = stream.slot;
  if (slot >= streams_.size() || streams_[slot].get() != &stream) return;  // never listed
  // A hole, not a swap: a pass under way keeps its place. Filled at the end of a pass.
  retired_.push_back(std::move(streams_[slot]));
  ++holes_;
  members_.fetch_sub(1, std::memory_order_relaxed);
  // Released later, not here: forget() runs inside the stream's own methods.
  if (release_posted_) return;
  release_posted_ = true;
  net::post(ioc_, [self = shared_from_this()] {
    self->release_posted_ = false;
    self->retired_.clear();
  });
}

void stream_group::on_tick(frame f) {
  // Silent since then or longer: by the next tick it would pass the period.
  auto const silent_since =
      std::chrono::steady_clock::now() - (heartbeat_ - heartbeat_tick(heartbeat_));
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    if (auto* const stream = streams_[i].get()) {
      stream->tick(f, silent_since);
      stream->flush(tally_);
    }
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
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    if (auto* const stream = streams_[i].get()) {
      stream->finish(std::make_shared<std::string const>(
          make_retry(jittered_retry(std::chrono::seconds(1), std::chrono::seconds(10))) + "\n"));
      stream->flush(tally_);
    }
  }
  stats_.add(tally_);
}

void stream_group::schedule_stall_check() {
  if (closing_) return;
  stall_timer_.expires_after(stall_check_interval);
  stall_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    // Only the streams that found their socket full since the last check: walking all of
    // them would touch tens of thousands of objects a few times a second for nothing.
    auto const now = std::chrono::steady_clock::now();
    auto waiting = std::move(self->blocked_);
    self->blocked_.clear();
    for (auto const& stream : waiting)
      if (stream->check_stall(now)) self->blocked_.push_back(stream);
    self->end_expired(now);
    if (self->pass_next_ == 0) self->compact();  // between passes: no slot is being served
    self->schedule_stall_check();
  });
}

void stream_group::end_expired(std::chrono::steady_clock::time_point now) {
  while (!expiries_.empty() && expiries_.front().at <= now) {
    std::pop_heap(expiries_.begin(), expiries_.end(), later<expiry, expiry>);
    auto const stream = expiries_.back().stream.lock();
    expiries_.pop_back();
    if (!stream || stream->closed()) continue;
    // What it owes goes out first, ids and all, so that it resumes where it ended.
    stream->expire(token_expired_);
    stream->flush(tally_);
  }
  stats_.add(tally_);
}

}  // namespace facts::http
