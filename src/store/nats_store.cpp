#include "facts/store/nats_store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "facts/store/nats_stream_shape.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::int64_t max_fetch_batch = 1000;

// nats.c's last error on this thread, without its "(conn.c:2088): " source position.
std::string nats_error(natsStatus status) {
  char const* last = nats_GetLastError(nullptr);
  if (last == nullptr || *last == '\0') return natsStatus_GetText(status);
  std::string text(last);
  if (text.starts_with('(')) {
    if (auto const end = text.find("): "); end != std::string::npos) text.erase(0, end + 3);
  }
  return text;
}

[[noreturn]] void fail(nats_url const& url, std::string const& why) {
  throw store_error("store " + url.describe() + ": " + why);
}

// What is left of `deadline`, at least 1 ms: nats.c takes 0 as "its default wait".
std::chrono::milliseconds millis_left(clock::time_point deadline) {
  auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return std::max(std::chrono::milliseconds(1), left);
}

// A message JetStream handed back (a get or a consumer's delivery), as a fact.
fact fact_of(natsMsg* msg, std::uint64_t seq) {
  auto const* data = natsMsg_GetData(msg);
  return {seq, std::string(data == nullptr ? "" : data,
                           static_cast<std::size_t>(natsMsg_GetDataLength(msg)))};
}

}  // namespace

nats_store::nats_store(options opts) : opts_(std::move(opts)), subject_(opts_.url.subject()) {
  auto const deadline = clock::now() + opts_.timings.connect;
  try {
    connect(deadline);
    ensure_stream(deadline);
  } catch (...) {
    close_connection();
    throw;
  }
  last_info_ok_ = clock::now();
  last_progress_ = clock::now();
  publisher_ = std::thread([this] { publish_loop(); });
  monitor_ = std::thread([this] { monitor(); });
}

nats_store::~nats_store() {
  {
    // What is still queued or in flight is answered `unavailable` (the writer has stopped).
    std::lock_guard lock(publish_mutex_);
    publish_stopping_ = true;
  }
  publish_wake_.notify_all();
  if (publisher_.joinable()) publisher_.join();
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
  // Acks still due would call on_ack on a destroyed store: wait them out (each has a deadline).
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = opts_.timings.acks_drain.count();
  js_PublishAsyncComplete(js_, &wait);
  close_connection();
}

void nats_store::close_connection() {
  closing_ = true;
  jsCtx_Destroy(js_);
  js_ = nullptr;
  if (conn_ != nullptr) {
    natsConnection_Close(conn_);
    std::unique_lock lock(closed_mutex_);
    closed_wake_.wait_for(lock, opts_.timings.shutdown_wait, [this] { return closed_; });
  }
  natsConnection_Destroy(conn_);
  conn_ = nullptr;
  natsOptions_Destroy(nats_opts_);
  nats_opts_ = nullptr;
}

void nats_store::on_closed(natsConnection*, void* closure) {
  auto* self = static_cast<nats_store*>(closure);
  std::lock_guard lock(self->closed_mutex_);
  self->closed_ = true;
  self->closed_wake_.notify_all();
}

void nats_store::connect(clock::time_point deadline) {
  auto const& url = opts_.url;
  std::vector<char const*> servers;
  for (auto const& s : url.servers)
    servers.push_back(s.c_str());
  natsStatus s = natsOptions_Create(&nats_opts_);
  if (s == NATS_OK)
    s = natsOptions_SetServers(nats_opts_, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK && !url.user.empty())
    s = natsOptions_SetUserInfo(nats_opts_, url.user.c_str(), url.password.c_str());
  if (s == NATS_OK && !url.token.empty()) s = natsOptions_SetToken(nats_opts_, url.token.c_str());
  // Once connected, reconnect forever: a factsd without NATS still serves its streams and
  // answers 503 to POSTs, and must come back by itself.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats_opts_, -1);
  auto const& t = opts_.timings;
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(nats_opts_, t.reconnect_pause.count());
  // A dead server is noticed within seconds, not the default two minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(nats_opts_, t.ping_interval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(nats_opts_, 2);
  if (s == NATS_OK) s = natsOptions_SetTimeout(nats_opts_, t.connect_attempt.count());
  // Each publish is written at once: nats.c's flusher thread otherwise waits 1 ms for more to
  // come (conn.c, 3.4.1), which one POST at a time pays in full (2.2 -> 1.5 ms p50 measured).
  if (s == NATS_OK) s = natsOptions_SetSendAsap(nats_opts_, true);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(nats_opts_, &on_disconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(nats_opts_, &on_closed, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(nats_opts_, &on_reconnected, this);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(nats_opts_, &on_async_error, this);
  if (s != NATS_OK) fail(url, "cannot set up the NATS client: " + nats_error(s));

  for (;;) {
    s = natsConnection_Connect(&conn_, nats_opts_);
    if (s == NATS_OK) break;
    if (clock::now() + nats_timings::reconnect_pause >= deadline)
      fail(url, fmt::format("NATS not reachable within --connect-timeout {} s: {}",
                            std::chrono::duration_cast<std::chrono::seconds>(t.connect).count(),
                            nats_error(s)));
    std::this_thread::sleep_for(nats_timings::reconnect_pause);
  }
  connected_ = true;

  jsOptions js_opts;
  jsOptions_Init(&js_opts);
  js_opts.Wait = t.publish.count();
  js_opts.PublishAsync.AckHandler = &on_ack;
  js_opts.PublishAsync.AckHandlerClosure = this;
  s = natsConnection_JetStream(&js_, conn_, &js_opts);
  if (s != NATS_OK) fail(url, "cannot use JetStream: " + nats_error(s));
}

void nats_store::ensure_stream(clock::time_point deadline) {
  auto const& url = opts_.url;
  char const* subjects[] = {subject_.c_str()};
  jsStreamConfig wanted;
  fill_stream_config(wanted, url, subjects);
  // In a cluster that has just started, the meta leader may not be elected yet: keep asking.
  for (;;) {
    jsOptions call;
    jsOptions_Init(&call);
    call.Wait = std::min(opts_.timings.connect_attempt, millis_left(deadline)).count();
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&info, js_, url.stream.c_str(), &call, &code);
    if (s != NATS_OK && code == JSStreamNotFoundErr) {
      s = js_AddStream(&info, js_, &wanted, &call, &code);
      if (s == NATS_OK) spdlog::info("[nats] created stream {} on {}", url.stream, subject_);
      // Another instance created it at the same moment: read it as any existing stream.
      if (s != NATS_OK && code == JSStreamNameExistErr) continue;
    }
    if (s == NATS_OK) {
      auto const difference = stream_shape_difference(*info->Config, url);
      auto const last = info->State.LastSeq;
      jsStreamInfo_Destroy(info);
      if (!difference.empty())
        fail(url, "stream " + url.stream + " exists with another shape: " + difference);
      note_log_seq(last);
      return;
    }
    if (code == JSNotEnabledErr) fail(url, "JetStream is not enabled on the NATS server");
    if (clock::now() + nats_timings::reconnect_pause >= deadline)
      fail(url,
           "stream " + url.stream + " not available within --connect-timeout: " + nats_error(s));
    std::this_thread::sleep_for(nats_timings::reconnect_pause);
  }
}

void nats_store::note_log_seq(std::uint64_t seq) {
  auto known = log_last_seq_.load();
  while (seq > known && !log_last_seq_.compare_exchange_weak(known, seq)) {
  }
}

std::vector<fact> nats_store::window_after(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(window_mutex_);
  if (window_.empty() || after + 1 < window_.front().seq) return {};
  auto const skip = after + 1 - window_.front().seq;
  if (skip >= window_.size()) return {};
  auto const first = window_.begin() + static_cast<std::ptrdiff_t>(skip);
  auto const n = std::min<std::size_t>(max, static_cast<std::size_t>(window_.end() - first));
  return {first, first + static_cast<std::ptrdiff_t>(n)};
}

std::vector<fact> nats_store::read_after(std::uint64_t after, std::size_t max) const {
  if (max == 0) return {};
  std::uint64_t window_start = 0;
  {
    std::lock_guard lock(window_mutex_);
    if (!window_.empty()) window_start = window_.front().seq;
  }
  if (window_start != 0 && after + 1 >= window_start) return window_after(after, max);
  // Older than the window (or nothing followed yet): ask JetStream, then join the window on.
  auto const log_last = window_start != 0 ? window_start - 1 : last_seq();
  if (after >= log_last) return {};
  auto const last = after + std::min<std::uint64_t>(max, log_last - after);
  std::vector<fact> out;
  if (last == after + 1) {
    if (auto one = fetch_one(after + 1)) out.push_back(std::move(*one));
  } else {
    out = fetch_range(after + 1, last);
  }
  if (out.size() < max && !out.empty() && out.back().seq + 1 == window_start) {
    auto more = window_after(out.back().seq, max - out.size());
    out.insert(out.end(), std::make_move_iterator(more.begin()),
               std::make_move_iterator(more.end()));
  }
  return out;
}

std::vector<fact> nats_store::read_latest(std::size_t max) const {
  auto const last = last_seq();
  auto const after = max == 0 || last <= max ? 0 : last - max;
  auto latest = read_after(after, max == 0 ? SIZE_MAX : max);
  // At startup the window is empty: what we read becomes its start, and following goes on
  // from its end, so reads of recent history need no round trip.
  std::lock_guard lock(window_mutex_);
  if (window_.empty() && !latest.empty()) {
    auto const keep = std::min(latest.size(), opts_.window);
    window_.assign(latest.end() - static_cast<std::ptrdiff_t>(keep), latest.end());
  }
  return latest;
}

std::optional<fact> nats_store::find_fact(std::uint64_t seq) const {
  if (seq == 0) return std::nullopt;
  if (auto near = window_after(seq - 1, 1); !near.empty() && near.front().seq == seq)
    return near.front();
  return fetch_one(seq);
}

std::optional<fact> nats_store::fetch_one(std::uint64_t seq) const {
  jsDirectGetMsgOptions get;
  jsDirectGetMsgOptions_Init(&get);
  get.Sequence = seq;
  jsOptions call;
  jsOptions_Init(&call);
  call.Wait = opts_.timings.request.count();
  natsMsg* msg = nullptr;
  // Any replica answers a direct get; one that lags may not have it yet: then the leader.
  natsStatus s = js_DirectGetMsg(&msg, js_, opts_.url.stream.c_str(), &call, &get);
  if (s != NATS_OK) {
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_GetMsg(&msg, js_, opts_.url.stream.c_str(), seq, &call, &code);
    if (s != NATS_OK) {
      if (code == JSNoMessageFoundErr) return std::nullopt;
      throw store_error("store " + describe() + ": reading fact " + std::to_string(seq) +
                        " failed: " + nats_error(s));
    }
  }
  auto const f = fact_of(msg, seq);
  natsMsg_Destroy(msg);
  return f;
}

std::vector<fact> nats_store::fetch_range(std::uint64_t first, std::uint64_t last) const {
  // 2.9 has no batch get: a short-lived pull consumer from `first` reads the range in order.
  jsSubOptions sub_opts;
  jsSubOptions_Init(&sub_opts);
  sub_opts.Stream = opts_.url.stream.c_str();
  sub_opts.Config.DeliverPolicy = js_DeliverByStartSequence;
  sub_opts.Config.OptStartSeq = first;
  sub_opts.Config.AckPolicy = js_AckNone;
  sub_opts.Config.MemoryStorage = true;
  sub_opts.Config.Replicas = 1;
  sub_opts.Config.InactiveThreshold = std::chrono::nanoseconds(opts_.timings.range_idle).count();
  jsOptions call;
  jsOptions_Init(&call);
  call.Wait = opts_.timings.publish.count();
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&sub, js_, subject_.c_str(), nullptr, &call, &sub_opts, &code);
  if (s != NATS_OK)
    throw store_error("store " + describe() + ": reading facts " + std::to_string(first) + ".." +
                      std::to_string(last) + " failed: " + nats_error(s));
  std::vector<fact> out;
  auto const deadline = clock::now() + opts_.timings.publish;
  auto const wanted = last - first + 1;
  bool gap = false;
  while (!gap && out.size() < wanted && clock::now() < deadline) {
    jsFetchRequest request;
    jsFetchRequest_Init(&request);
    request.Batch = static_cast<int>(std::min<std::uint64_t>(wanted - out.size(), max_fetch_batch));
    request.Expires =
        std::chrono::nanoseconds(std::min(opts_.timings.request, millis_left(deadline))).count();
    natsMsgList list{};
    s = natsSubscription_FetchRequest(&list, sub, &request);
    for (int i = 0; i < list.Count; ++i) {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, list.Msgs[i]) == NATS_OK) {
        auto const seq = meta->Sequence.Stream;
        if (seq != first + out.size()) {
          gap = gap || seq > first + out.size();
        } else if (seq <= last) {
          out.push_back(fact_of(list.Msgs[i], seq));
        }
        jsMsgMetaData_Destroy(meta);
      }
    }
    natsMsgList_Destroy(&list);
    if (s != NATS_OK && s != NATS_TIMEOUT) break;
  }
  if (gap)
    spdlog::error("[nats] stream {} skips a seq after {}: its ids are no longer dense",
                  opts_.url.stream, first + out.size() - 1);
  natsSubscription_Unsubscribe(sub);  // deletes the ephemeral consumer
  natsSubscription_Destroy(sub);
  if (out.size() < wanted && out.empty())
    throw store_error("store " + describe() + ": reading facts from " + std::to_string(first) +
                      " failed: " + nats_error(s));
  return out;
}

log_health nats_store::health() const {
  log_health h;
  h.last_seq = last_seq();
  h.acked = acked_;
  h.duplicate = duplicates_;
  h.timeout = timeouts_;
  h.no_quorum = no_quorum_;
  std::lock_guard lock(health_mutex_);
  if (!connected_) {
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
  jsOptions call;
  jsOptions_Init(&call);
  call.Wait = opts_.timings.request.count();
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus const s = js_GetStreamInfo(&info, js_, opts_.url.stream.c_str(), &call, &code);
  if (s == NATS_OK) {
    note_log_seq(info->State.LastSeq);
    jsStreamInfo_Destroy(info);
    std::lock_guard lock(health_mutex_);
    last_info_ok_ = clock::now();
    last_error_.clear();
  } else {
    std::lock_guard lock(health_mutex_);
    last_error_ = nats_error(s);
  }
}

void nats_store::on_disconnected(natsConnection*, void* closure) {
  auto* self = static_cast<nats_store*>(closure);
  self->connected_ = false;
  if (self->closing_) return;
  spdlog::warn("[nats] disconnected from {}; reconnecting", self->describe());
}

void nats_store::on_reconnected(natsConnection*, void* closure) {
  auto* self = static_cast<nats_store*>(closure);
  self->connected_ = true;
  // nats.c restarts the ordered consumer itself, but a server that has just come back may not
  // take it yet, and its next try waits for missed heartbeats: the monitor starts a fresh one.
  self->reconnected_ = true;
  spdlog::info("[nats] reconnected to {}", self->describe());
}

void nats_store::on_async_error(natsConnection*, natsSubscription*, natsStatus err, void*) {
  spdlog::warn("[nats] {}", natsStatus_GetText(err));
}

}  // namespace facts
