#include "facts/http/sse_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "facts/http/stream_group.hpp"

namespace facts::http {

namespace {

// Buffers per sendmsg: enough for a stream far behind, small enough to live on the stack.
constexpr std::size_t max_buffers = 64;

// Bytes a stream's client may send after its request before it is closed. A stream reads
// nothing, so there is no reason to send anything at all; a little is allowed for a client that
// pipelined a request or two behind its GET, anything more is someone feeding us a stream.
constexpr std::size_t max_client_bytes = 4 * 1024;

}  // namespace

sse_session::sse_session(tcp::socket socket, stream_group& group)
    : socket_(std::move(socket)), group_(group) {
  beast::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  // Writes are attempted at once and must never block the thread, nor the hang-up read.
  socket_.non_blocking(true, ec);
}

std::string sse_session::peer() const {
  return remote_.address().to_string() + ":" + std::to_string(remote_.port());
}

sse_session::~sse_session() {
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("[sse {}] gone", peer());
}

void sse_session::start(frame head, joined_stream const& joined, std::uint64_t position) {
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("[sse {}] open", peer());
  joined_ = true;
  last_byte_ = std::chrono::steady_clock::now();  // the head goes out now, or the socket is full
  out_.move_to(position);
  out_.push_own(head, head->size());
  if (joined.snapshot) out_.push_own(joined.snapshot, joined.snapshot->size());
  catching_up_ = true;
  catch_up_until_ = joined.seq;
  sent_through_ = joined.catch_up_after.value_or(joined.seq);
  first_pending_ = joined.catch_up_after.has_value();
  reset_ = joined.reset;
  wait_hangup();
}

void sse_session::refuse(frame last) {
  closing_ = true;
  out_.push_own(last, last->size());
}

bool sse_session::reads_log() const {
  return joined_ && !catching_up_ && !skip_log_;
}

bool sse_session::owes_nothing() const {
  // Once the last frame has begun, the log is done: what came after it is not this stream's.
  bool const log_owed = joined_ && !skip_log_ && !out_.last_started() &&
                        (catching_up_ || out_.position() != group_.log().end_offset());
  return out_.own_empty() && !log_owed && !out_.last_owed();
}

void sse_session::advance_catch_up() {
  // Pulled, not pushed: the next chunk is asked for once the socket took the last one, so a
  // stream holds one chunk at most, shared with every stream at the same place.
  if (!catching_up_ || !out_.own_empty() || chunk_pending_ || closed_) return;
  if (sent_through_ >= catch_up_until_) {
    catching_up_ = false;  // the history is written: the log from its position on follows
    return;
  }
  if (closing_) return;
  chunk_pending_ = true;
  auto const form = !first_pending_ ? chunk_form::events
                    : reset_        ? chunk_form::reset_array
                                    : chunk_form::array;
  group_.read_catch_up(shared_from_this(), sent_through_, catch_up_until_, form,
                       slow_catch_up_ ? catch_up_slow_chunk_bytes : 0);
}

void sse_session::give_back_chunk() {
  auto const& chunk = *held_;
  // Its response head still goes first: judged again at the next check.
  if (out_.front_own() != &chunk.bytes) return;
  auto const sent = out_.front_own_sent();
  // The event in progress: [begin, end) of the chunk. A snapshot chunk is one event.
  std::size_t begin = 0;
  std::size_t end = chunk.bytes.size();
  std::uint64_t before = chunk.first_seq - 1;  // the newest seq written whole before it
  if (!chunk.ends.empty()) {
    auto const done = static_cast<std::size_t>(
        std::upper_bound(chunk.ends.begin(), chunk.ends.end(), sent) - chunk.ends.begin());
    begin = done == 0 ? 0 : chunk.ends[done - 1];
    end = chunk.ends[done];
    before += done;
  }
  if (sent == begin) {
    out_.replace_front_own(nullptr);
    sent_through_ = before;
    if (chunk.ends.empty()) first_pending_ = true;  // the snapshot is read again, whole
  } else {
    out_.replace_front_own(
        std::make_shared<std::string const>(chunk.bytes.substr(sent, end - sent)));
    if (!chunk.ends.empty()) sent_through_ = before + 1;
  }
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("[sse {}] gave back a catch-up chunk: {} bytes taken in {} ms", peer(),
                  held_taken_,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - held_since_)
                      .count());
  held_.reset();
  slow_catch_up_ = true;
  group_.stats().catch_up_given_back();
}

void sse_session::on_chunk(std::shared_ptr<catch_up_chunk const> chunk) {
  chunk_pending_ = false;
  if (closed_) return;
  if (!chunk || chunk->empty() || chunk->first_seq != sent_through_ + 1) {
    // The store failed or lost facts: close, and the client resumes from the last id it got.
    // Facts removed by retention while the stream caught up are no failure: its resume from
    // there gets the `reset` event.
    if (chunk && !chunk->empty() && chunk->first_seq > sent_through_ + 1)
      spdlog::info("[sse {}] facts after {} were removed by retention while it caught up: closed",
                   peer(), sent_through_);
    else
      spdlog::error("[sse {}] cannot catch up after {}: the store has no such facts", peer(),
                    sent_through_);
    return end(stream_end::error);
  }
  first_pending_ = false;
  auto const through = std::min(chunk->last_seq, catch_up_until_);
  auto const size = chunk->bytes_through(through);
  // The frame shares the chunk's ownership: the chunk lives while a stream still sends it.
  out_.push_own(frame(chunk, &chunk->bytes), size);
  sent_through_ = through;
  held_ = std::move(chunk);
  held_since_ = std::chrono::steady_clock::now();
  held_taken_ = 0;
  group_.flush_one(*this);
}

void sse_session::keep_log_bounded() {
  // A stream that still owes history holds the log from where its history ends. Past the
  // bound it does not hold more, nor is it cut off: it moves to the log's end and reads what
  // it skipped from the store, where every logged fact already is.
  auto const& log = group_.log();
  if (log.end_offset() - out_.position() <= group_.lim().max_queue_bytes || log.entries().empty())
    return;
  catch_up_until_ = log.entries().back().meta.last_seq;
  out_.move_to(log.end_offset());
}

void sse_session::flush(metrics::write_tally& tally) {
  if (closed_) return;
  auto const& log = group_.log();
  if (catching_up_) keep_log_bounded();
  if (blocked_) {
    // Only a stream that is already behind can be too slow: one that had nothing pending took
    // whatever came, however large a batch made it.
    auto const backlog = log.end_offset() - out_.position();
    if (joined_ && !catching_up_ && backlog > group_.lim().max_queue_bytes) {
      spdlog::info("[sse {}] cut off as too slow: {} bytes queued (--max-queue-bytes {})", peer(),
                   backlog, group_.lim().max_queue_bytes);
      end(stream_end::slow);
    }
    return;
  }
  for (;;) {
    advance_catch_up();
    std::array<iovec, max_buffers> iov;  // only the first `count` are filled and read
    std::size_t count = 0;
    std::size_t total = 0;
    out_.for_each(log, reads_log(), [&](stream_bytes::part, char const* data, std::size_t size) {
      iov[count].iov_base = const_cast<char*>(data);
      iov[count].iov_len = size;
      total += iov[count].iov_len;
      return ++count < max_buffers;
    });
    if (count == 0) break;

    // One buffer, the usual case for a stream that keeps up, needs no iovec copied in.
    auto const sent =
        count == 1 ? ::send(socket_.native_handle(), iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                   : [&] {
                       msghdr msg{};
                       msg.msg_iov = iov.data();
                       msg.msg_iovlen = count;
                       return ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL);
                     }();
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable();
      int const err = errno;
      if (spdlog::should_log(spdlog::level::debug))
        spdlog::debug("[sse {}] write failed: {}", peer(), std::strerror(err));
      if (closing_) return end(closing_why_);
      if (err == ETIMEDOUT) return end_unacknowledged();
      return end(stream_end::client_closed);
    }
    consume(static_cast<std::size_t>(sent), tally);
    if (static_cast<std::size_t>(sent) < total) return wait_writable();
  }
  set_lagging(false);
  if (closing_ && owes_nothing()) end(closing_why_);
}

void sse_session::consume(std::size_t bytes, metrics::write_tally& tally) {
  tally.bytes_written(bytes);
  // Any byte counts, a heartbeat's too: the client (and every proxy on the way) saw the
  // connection alive then.
  auto const now = std::chrono::steady_clock::now();
  last_byte_ = now;
  stalled_since_ = {};
  auto const& log = group_.log();
  auto const from = out_.position();
  auto const logged = out_.take(bytes, log, reads_log());
  if (held_) {
    held_taken_ += bytes;
    if (out_.own_empty()) held_.reset();  // written whole: the chunk is not ours any more
  }
  if (logged == 0) return;
  // The log's frames this write completed, for the publish-to-write latency.
  auto const& entries = log.entries();
  auto i = log.index_at(from);
  if (i < entries.size() && entries[i].end() <= out_.position()) {
    for (; i < entries.size() && entries[i].end() <= out_.position(); ++i)
      tally.frame_written(entries[i].meta.events, entries[i].meta.published, now);
  }
}

void sse_session::wait_writable() {
  blocked_ = true;
  if (stalled_since_ == std::chrono::steady_clock::time_point{})
    stalled_since_ = std::chrono::steady_clock::now();
  set_lagging(true);
  if (!watched_) {
    watched_ = true;
    group_.watch_stall(shared_from_this());
  }
  socket_.async_wait(tcp::socket::wait_write,
                     beast::bind_front_handler(&sse_session::on_writable, shared_from_this()));
}

void sse_session::on_writable(beast::error_code ec) {
  if (closed_ || ec == net::error::operation_aborted) return;
  blocked_ = false;
  if (ec) return end(closing_ ? closing_why_ : stream_end::error);
  group_.flush_one(*this);
}

void sse_session::tick(frame const& f, std::chrono::steady_clock::time_point silent_since) {
  // A stream that owes bytes is writing or waiting for room: a heartbeat would only queue
  // behind them, and a full socket has the stall check. One waiting for a catch-up read owes
  // nothing it could write yet: it gets its heartbeat too.
  bool const waits_for_read = chunk_pending_ && out_.own_empty();
  if (closed_ || closing_ || blocked_ || !(owes_nothing() || waits_for_read) ||
      last_byte_ > silent_since)
    return;
  // Owing nothing, the heartbeat is the first of the bytes the next writes take.
  out_.push_own(f, f->size());
}

void sse_session::finish(frame last) {
  close_after(std::move(last), stream_end::shutdown);
}

void sse_session::expire(frame last) {
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("[sse {}] token expired", peer());
  close_after(std::move(last), stream_end::expired);
}

void sse_session::close_after(frame last, stream_end why) {
  if (closed_ || closing_) return;
  closing_ = true;
  closing_why_ = why;
  out_.set_last(std::move(last));
  // Mid catch-up, the log does not follow what was sent: stop after the events queued, whose
  // ids say where the client resumes.
  if (catching_up_) skip_log_ = true;
}

bool sse_session::check_stall(std::chrono::steady_clock::time_point now) {
  watched_ = !closed_ && blocked_;
  if (watched_ && held_ && now - held_since_ >= catch_up_floor_grace &&
      static_cast<double>(held_taken_) <
          catch_up_floor_bytes_per_second *
              std::chrono::duration<double>(now - held_since_).count())
    give_back_chunk();
  if (!watched_ || now - stalled_since_ < group_.lim().write_timeout) return watched_;
  spdlog::info("[sse {}] cut off: the socket took nothing for {}s (--write-timeout)", peer(),
               group_.lim().write_timeout.count());
  end(stream_end::timeout);
  return watched_ = false;
}

void sse_session::end_unacknowledged() {
  // The kernel gave up (TCP_USER_TIMEOUT, keepalive): the peer acknowledged nothing for
  // --write-timeout, whether it is gone or only keeps its window shut. Either way it is cut off
  // as the stall check would have, and logged the same way.
  spdlog::info("[sse {}] cut off: the peer acknowledged nothing for {}s (--write-timeout)", peer(),
               group_.lim().write_timeout.count());
  end(stream_end::timeout);
}

void sse_session::set_lagging(bool lagging) {
  if (lagging == lagging_) return;
  lagging_ = lagging;
  group_.stats().lagging_changed(lagging ? 1 : -1);
}

void sse_session::wait_hangup() {
  // A stream's client sends nothing after its request; readability means it hung up (or sent
  // a little junk, which we drop). Waiting needs no buffer, which matters at tens of thousands
  // of streams.
  socket_.async_wait(tcp::socket::wait_read,
                     beast::bind_front_handler(&sse_session::on_readable, shared_from_this()));
}

void sse_session::on_readable(beast::error_code ec) {
  // Aborted: the stream was closed elsewhere, and that path knows why.
  if (closed_ || ec == net::error::operation_aborted) return;
  if (ec && closing_) return end(closing_why_);
  if (ec == net::error::timed_out) return end_unacknowledged();
  if (ec) return end(stream_end::error);
  // One read a little over the bound: a client that keeps sending is found on its first
  // wake-up past the bound, not drained a few bytes per wake-up for as long as it likes.
  char scratch[max_client_bytes + 1];
  auto const n = socket_.read_some(net::buffer(scratch), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) return wait_hangup();
  if (closing_ && (ec || n == 0)) return end(closing_why_);
  if (ec == net::error::timed_out) return end_unacknowledged();
  if (ec || n == 0) return end(stream_end::client_closed);
  client_bytes_ += n;
  if (client_bytes_ > max_client_bytes) {
    spdlog::info("[sse {}] closed: the client sent {} bytes on its stream (at most {})", peer(),
                 client_bytes_, max_client_bytes);
    return end(stream_end::client_sent);
  }
  wait_hangup();
}

void sse_session::end(stream_end why) {
  if (closed_) return;
  closed_ = true;
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("[sse {}] closed ({})", peer(), static_cast<int>(why));
  set_lagging(false);
  held_.reset();
  if (joined_) {
    group_.stats().stream_ended(why);  // a refused stream never counted as open
    group_.hub().leave();
  }
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  out_.clear();
  group_.forget(*this);
}

}  // namespace facts::http
