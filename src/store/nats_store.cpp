#include "facts/store/nats_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "facts/store/nats_calls.hpp"
#include "facts/store/nats_stream_shape.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

// How far a range read of the log goes beyond what its caller asked for: a page of GET /facts
// (1,000 facts, 1 MiB of their JSON). read_bounded() and catch-up reads go in steps of a few
// facts; with JetStream 2.9 each step that reached the log was a consumer of its own.
constexpr std::uint64_t read_ahead_facts = 1000;
constexpr std::size_t read_ahead_bytes = 1024 * 1024;
// Range reads kept ahead: several pages or catch-ups going on at once each find theirs.
constexpr std::size_t read_ahead_ranges = 4;

}  // namespace

nats_store::nats_store(options opts)
    : opts_(std::move(opts)),
      subject_(opts_.url.subject()),
      connection_(opts_.url, opts_.timings, &on_ack, this, opts_.retention),
      payloads_(opts_.url.describe(), opts_.max_fact_bytes),
      log_(connection_, payloads_, opts_.url, opts_.timings),
      recent_(opts_.window, opts_.window_bytes),
      ahead_(read_ahead_ranges) {
  note_log_seq(connection_.last_seq_at_start());
  note_stream_state(connection_.first_seq_at_start(), 0, nats_limits_for(opts_.retention).max_msgs);
  last_info_ok_ = clock::now();
  last_progress_ = clock::now();
  publisher_ = std::thread([this] { publish_loop(); });
  monitor_ = std::thread([this] { monitor(); });
}

nats_store::~nats_store() {
  // Nothing here waits for NATS to answer: closing the connection (at once, unless stop_following
  // did already) ends every request, fetch and ack wait, so what is left is for our threads and
  // nats.c's to leave our code, each within timings.shutdown_wait.
  close_connection();
  {
    // What is still queued or in flight is answered `unavailable` (the writer has stopped).
    std::lock_guard lock(publish_mutex_);
    publish_stopping_ = true;
  }
  publish_wake_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  repeats_.stop();  // after the publisher, the last to hand it a duplicate
  {
    std::lock_guard lock(monitor_mutex_);
    stopping_ = true;
  }
  monitor_wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  stop_following();
  {
    // nats.c calls a subscription's callbacks until it says it is done with it.
    std::unique_lock lock(follow_mutex_);
    subscriptions_done_.wait_for(lock, opts_.timings.shutdown_wait,
                                 [this] { return subscriptions_live_ == 0; });
  }
  take_back_unacked();
}

void nats_store::close_connection() {
  connection_.close();
  {
    // Taken, so that the publisher cannot miss the change between its check and its wait.
    std::lock_guard lock(publish_mutex_);
  }
  publish_wake_.notify_all();  // what waits for an ack is answered at once
}

void nats_store::take_back_unacked() {
  if (!handed_over_) return;  // nats.c has no pending map before the first asynchronous publish
  // The messages whose acks never came are nats.c's to report, at their timeouts, through
  // on_ack: taken back, they never are. One whose handler is running now is already out of
  // nats.c's map but still counted, until the handler returns: that much is waited for.
  natsMsgList unacked{};
  if (js_PublishAsyncGetPendingList(&unacked, connection_.js()) == NATS_OK)
    natsMsgList_Destroy(&unacked);
  {
    std::lock_guard lock(publish_mutex_);
    in_flight_.clear();  // those messages are gone
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = opts_.timings.shutdown_wait.count();
  if (js_PublishAsyncComplete(connection_.js(), &wait) != NATS_OK)
    spdlog::error("[nats] an ack handler still running after {} ms",
                  opts_.timings.shutdown_wait.count());
}

void nats_store::note_log_seq(std::uint64_t seq) {
  auto known = log_last_seq_.load();
  while (seq > known && !log_last_seq_.compare_exchange_weak(known, seq)) {
  }
}

void nats_store::note_stream_state(std::uint64_t first_seq, std::uint64_t bytes,
                                   std::int64_t max_msgs) {
  auto known = log_first_seq_.load();
  while (first_seq > known && !log_first_seq_.compare_exchange_weak(known, first_seq)) {
  }
  stream_bytes_ = bytes;
  max_msgs_ = max_msgs;
}

std::uint64_t nats_store::first_seq() const {
  auto const first = log_first_seq_.load();
  auto const last = last_seq();
  auto const max_msgs = max_msgs_.load();
  if (max_msgs > 0 && last >= static_cast<std::uint64_t>(max_msgs))
    return std::max(first, last - static_cast<std::uint64_t>(max_msgs) + 1);
  return std::min(first, last + 1);
}

std::uint64_t nats_store::count() const {
  auto const first = first_seq();
  auto const last = last_seq();
  return last + 1 > first ? last + 1 - first : 0;
}

retention_figures nats_store::retention() const {
  return {first_seq() - 1, stream_bytes_.load(), 0};
}

std::vector<fact> nats_store::read_after(std::uint64_t after, std::size_t max) const {
  if (max == 0) return {};
  // The window and the read-ahead may still hold facts the stream's limits removed.
  after = std::max(after, first_seq() - 1);
  auto window = recent_.read_after(after, max);
  if (window.covered) return std::move(window.facts);
  // Older than the window (or nothing followed yet): ask JetStream, then join the window on.
  auto const window_start = window.first_seq;
  auto const log_last = window_start != 0 ? window_start - 1 : last_seq();
  if (after >= log_last) return {};
  auto out = read_log(after, std::min<std::uint64_t>(max, log_last - after), log_last);
  if (out.size() < max && !out.empty() && out.back().seq + 1 == window_start) {
    // The window may have moved on meanwhile: then this page ends here and the next read
    // asks the log again, never an empty answer while facts remain.
    auto more = recent_.read_after(out.back().seq, max - out.size()).facts;
    out.insert(out.end(), std::make_move_iterator(more.begin()),
               std::make_move_iterator(more.end()));
  }
  return out;
}

std::vector<fact> nats_store::read_log(std::uint64_t after, std::uint64_t wanted,
                                       std::uint64_t log_last) const {
  auto out = ahead_.read_after(after, wanted);  // what an earlier range read brought along
  if (out.size() == wanted) return out;
  auto const from = out.empty() ? after : out.back().seq;
  auto const need = wanted - out.size();
  if (need == 1) {  // one fact (GET /facts/<id>): a direct get, no consumer
    if (auto one = log_.get(from + 1)) out.push_back(std::move(*one));
    return out;
  }
  // One consumer reads what is needed and, up to a page more, what the next steps will ask for.
  auto const last =
      from + std::min<std::uint64_t>(std::max(need, read_ahead_facts), log_last - from);
  auto more = log_.range(from + 1, last, read_ahead_bytes, need);
  auto const taken = std::min<std::size_t>(more.size(), need);
  out.insert(out.end(), std::make_move_iterator(more.begin()),
             std::make_move_iterator(more.begin() + static_cast<std::ptrdiff_t>(taken)));
  more.erase(more.begin(), more.begin() + static_cast<std::ptrdiff_t>(taken));
  ahead_.keep(std::move(more));
  return out;
}

std::vector<fact> nats_store::read_latest(std::size_t max) const {
  auto const last = last_seq();
  auto const after = max == 0 || last <= max ? 0 : last - max;
  auto latest = read_after(after, max == 0 ? SIZE_MAX : max);
  // At startup the window is empty: what we read becomes its start, and following goes on
  // from its end, so reads of recent history need no round trip.
  recent_.seed(latest);
  return latest;
}

std::uint64_t nats_store::log_newest_seq() const {
  auto const deadline = clock::now() + opts_.timings.request;
  if (!connection_.wait_connected(deadline))
    throw nats_failure(opts_.url, "asking the stream for its newest fact failed: " +
                                      std::string(connection_.closing() ? "the store is closing"
                                                                        : "not connected to NATS"));
  auto call = js_call(millis_left(deadline));
  jsStreamInfo* info = nullptr;
  jsErrCode code = no_js_error;
  natsStatus const s =
      js_GetStreamInfo(&info, connection_.js(), opts_.url.stream.c_str(), &call, &code);
  if (s != NATS_OK)
    throw nats_failure(opts_.url, "asking the stream for its newest fact failed: " + nats_error(s));
  auto const newest = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return newest;
}

std::optional<fact> nats_store::find_fact(std::uint64_t seq) const {
  if (seq == 0 || seq < first_seq()) return std::nullopt;
  if (auto near = recent_.read_after(seq - 1, 1).facts; !near.empty() && near.front().seq == seq)
    return near.front();
  return log_.get(seq);
}

log_health nats_store::health() const {
  log_health h;
  h.last_seq = last_seq();
  h.acked = acked_;
  h.duplicate = duplicates_;
  h.timeout = timeouts_;
  h.no_quorum = no_quorum_;
  h.invalid = payloads_.invalid_count();
  std::lock_guard lock(health_mutex_);
  if (!connection_.connected()) {
    h.reachable = false;
    h.error = "not connected to NATS";
  } else if (clock::now() - last_info_ok_ > opts_.timings.health_grace) {
    h.reachable = false;
    h.error = "the stream does not answer: " + last_error_;
  }
  return h;
}

void nats_store::monitor() {
  std::unique_lock lock(monitor_mutex_);
  while (!stopping_) {
    lock.unlock();
    poll_stream_info();
    check_follow_stall();
    lock.lock();
    monitor_wake_.wait_for(lock, nats_timings::poll_interval, [this] { return stopping_; });
  }
}

void nats_store::poll_stream_info() {
  // Not worth asking: the request would fail at once, or wait for nats.c's lock through a
  // connection attempt.
  if (!connection_.connected()) {
    std::lock_guard lock(health_mutex_);
    last_error_ = "not connected to NATS";
    return;
  }
  auto call = js_call(opts_.timings.request);
  jsStreamInfo* info = nullptr;
  jsErrCode code = no_js_error;
  natsStatus const s =
      js_GetStreamInfo(&info, connection_.js(), opts_.url.stream.c_str(), &call, &code);
  if (s == NATS_OK) {
    note_log_seq(info->State.LastSeq);
    note_stream_state(info->State.FirstSeq, info->State.Bytes, info->Config->MaxMsgs);
    jsStreamInfo_Destroy(info);
    std::lock_guard lock(health_mutex_);
    last_info_ok_ = clock::now();
    last_error_.clear();
  } else {
    std::lock_guard lock(health_mutex_);
    last_error_ = nats_error(s);
  }
}

}  // namespace facts
