#include "facts/store/nats_connection.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <thread>
#include <vector>

#include "facts/store/nats_calls.hpp"
#include "facts/store/nats_stream_shape.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

// Unanswered pings after which nats.c gives a server up (see nats_timings::ping_interval).
constexpr int max_pings_out = 2;

}  // namespace

nats_connection::nats_connection(nats_url url, nats_timings const& timings, jsPubAckHandler on_ack,
                                 void* ack_closure, retention_bounds const& retention)
    : url_(std::move(url)), timings_(timings) {
  auto const deadline = clock::now() + timings_.connect;
  // A constructor that throws runs no destructor: what is open so far is closed here.
  try {
    connect(deadline, on_ack, ack_closure);
    ensure_stream(deadline, retention);
  } catch (...) {
    release();
    throw;
  }
}

nats_connection::~nats_connection() {
  release();
}

bool nats_connection::wait_connected(clock::time_point deadline) const {
  std::unique_lock lock(state_mutex_);
  state_wake_.wait_until(lock, deadline, [this] { return connected_ || closing_; });
  return connected_ && !closing_;
}

void nats_connection::set_connected(bool up) {
  {
    std::lock_guard lock(state_mutex_);
    connected_ = up;
  }
  state_wake_.notify_all();
}

void nats_connection::close() {
  {
    std::lock_guard lock(state_mutex_);
    closing_ = true;
  }
  state_wake_.notify_all();
  // Ends the requests, fetches and pending acks in flight (conn.c _close, 3.4.1); a second call
  // returns at once.
  if (conn_ != nullptr) natsConnection_Close(conn_);
}

void nats_connection::release() {
  close();
  jsCtx_Destroy(js_);
  js_ = nullptr;
  if (conn_ != nullptr) {
    // Posted by natsConnection_Close after the disconnected one: the last callback on us.
    std::unique_lock lock(closed_mutex_);
    if (!closed_wake_.wait_for(lock, timings_.shutdown_wait, [this] { return closed_; }))
      spdlog::error("[nats] no word from nats.c that the connection closed within {} ms",
                    timings_.shutdown_wait.count());
  }
  natsConnection_Destroy(conn_);
  conn_ = nullptr;
  natsOptions_Destroy(nats_opts_);
  nats_opts_ = nullptr;
}

void nats_connection::connect(clock::time_point deadline, jsPubAckHandler on_ack,
                              void* ack_closure) {
  std::vector<char const*> servers;
  for (auto const& s : url_.servers)
    servers.push_back(s.c_str());
  auto const& t = timings_;
  natsStatus s = natsOptions_Create(&nats_opts_);
  if (s == NATS_OK)
    s = natsOptions_SetServers(nats_opts_, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK && !url_.user.empty())
    s = natsOptions_SetUserInfo(nats_opts_, url_.user.c_str(), url_.password.c_str());
  if (s == NATS_OK && !url_.token.empty()) s = natsOptions_SetToken(nats_opts_, url_.token.c_str());
  // Once connected, reconnect forever: a factsd without NATS still serves its streams and
  // answers 503 to POSTs, and must come back by itself.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats_opts_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(nats_opts_, t.reconnect_pause.count());
  // No reconnect buffer: nats.c keeps what is published while it reconnects and sends it once
  // reconnected, after we may have answered 503 for it. With 0 bytes its check refuses every
  // publish then (NATS_INSUFFICIENT_BUFFER, pub.c 3.4.1), requests included: nothing goes out
  // later than the moment it was handed over.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(nats_opts_, 0);
  // A dead server is noticed within seconds, not the default two minutes.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(nats_opts_, t.ping_interval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(nats_opts_, max_pings_out);
  if (s == NATS_OK) s = natsOptions_SetTimeout(nats_opts_, t.connect_attempt.count());
  // Each publish is written at once: nats.c's flusher thread otherwise waits 1 ms for more to
  // come (conn.c, 3.4.1), which one POST at a time pays in full (2.2 -> 1.5 ms p50 measured).
  if (s == NATS_OK) s = natsOptions_SetSendAsap(nats_opts_, true);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(nats_opts_, &on_disconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(nats_opts_, &on_closed, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(nats_opts_, &on_reconnected, this);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(nats_opts_, &on_async_error, this);
  if (s != NATS_OK) throw nats_failure(url_, "cannot set up the NATS client: " + nats_error(s));

  for (;;) {
    s = natsConnection_Connect(&conn_, nats_opts_);
    if (s == NATS_OK) break;
    if (clock::now() + nats_timings::reconnect_pause >= deadline)
      throw nats_failure(
          url_, fmt::format("NATS not reachable within --connect-timeout {} s: {}",
                            std::chrono::duration_cast<std::chrono::seconds>(t.connect).count(),
                            nats_error(s)));
    std::this_thread::sleep_for(nats_timings::reconnect_pause);
  }
  set_connected(true);

  jsOptions js_opts = js_call(t.publish);
  js_opts.PublishAsync.AckHandler = on_ack;
  js_opts.PublishAsync.AckHandlerClosure = ack_closure;
  s = natsConnection_JetStream(&js_, conn_, &js_opts);
  if (s != NATS_OK) throw nats_failure(url_, "cannot use JetStream: " + nats_error(s));
}

void nats_connection::ensure_stream(clock::time_point deadline, retention_bounds const& retention) {
  auto const subject = url_.subject();
  char const* subjects[] = {subject.c_str()};
  jsStreamConfig wanted;
  fill_stream_config(wanted, url_, subjects, retention);
  // In a cluster that has just started, the meta leader may not be elected yet: keep asking.
  for (;;) {
    auto call = js_call(std::min(timings_.connect_attempt, millis_left(deadline)));
    jsStreamInfo* info = nullptr;
    jsErrCode code = no_js_error;
    natsStatus s = js_GetStreamInfo(&info, js_, url_.stream.c_str(), &call, &code);
    if (s != NATS_OK && code == JSStreamNotFoundErr) {
      s = js_AddStream(&info, js_, &wanted, &call, &code);
      if (s == NATS_OK) spdlog::info("[nats] created stream {} on {}", url_.stream, subject);
      // Another instance created it at the same moment: read it as any existing stream.
      if (s != NATS_OK && code == JSStreamNameExistErr) continue;
    }
    if (s == NATS_OK) {
      auto const difference = stream_shape_difference(*info->Config, url_);
      if (!difference.empty()) {
        jsStreamInfo_Destroy(info);
        throw nats_failure(url_,
                           "stream " + url_.stream + " exists with another shape: " + difference);
      }
      try {
        if (nats_limits_of(*info->Config) != nats_limits_for(retention))
          update_limits(info, retention, deadline);
      } catch (...) {
        jsStreamInfo_Destroy(info);
        throw;
      }
      last_seq_at_start_ = info->State.LastSeq;
      first_seq_at_start_ = std::max<std::uint64_t>(1, info->State.FirstSeq);
      jsStreamInfo_Destroy(info);
      return;
    }
    if (code == JSNotEnabledErr)
      throw nats_failure(url_, "JetStream is not enabled on the NATS server");
    if (clock::now() + nats_timings::reconnect_pause >= deadline)
      throw nats_failure(url_, "stream " + url_.stream +
                                   " not available within --connect-timeout: " + nats_error(s));
    std::this_thread::sleep_for(nats_timings::reconnect_pause);
  }
}

void nats_connection::update_limits(jsStreamInfo*& info, retention_bounds const& retention,
                                    clock::time_point deadline) {
  // Every instance of a cluster shares the stream, and so its limits: the one that starts last
  // sets them, and says what they were, so that instances started with other flags show up.
  auto const had = nats_limits_of(*info->Config);
  auto const wanted = nats_limits_for(retention);
  jsStreamConfig update = *info->Config;  // the stream as it is, but for its limits
  set_stream_limits(update, wanted);
  auto call = js_call(
      std::max<std::chrono::milliseconds>(millis_left(deadline), std::chrono::milliseconds(1)));
  jsStreamInfo* updated = nullptr;
  jsErrCode code = no_js_error;
  natsStatus const s = js_UpdateStream(&updated, js_, &update, &call, &code);
  if (s != NATS_OK)
    throw nats_failure(url_, "cannot set the limits of stream " + url_.stream + " (" +
                                 wanted.describe() + "): " + nats_error(s));
  spdlog::warn(
      "[nats] stream {} had the limits {}; this instance's --retain-* flags set {} (every "
      "instance shares them: the one started last sets them)",
      url_.stream, had.describe(), wanted.describe());
  jsStreamInfo_Destroy(info);
  info = updated;
}

void nats_connection::on_closed(natsConnection*, void* closure) {
  auto* self = static_cast<nats_connection*>(closure);
  std::lock_guard lock(self->closed_mutex_);
  self->closed_ = true;
  self->closed_wake_.notify_all();
}

void nats_connection::on_disconnected(natsConnection*, void* closure) {
  auto* self = static_cast<nats_connection*>(closure);
  self->set_connected(false);
  if (self->closing_) return;
  spdlog::warn("[nats] disconnected from {}; reconnecting", self->url_.describe());
}

void nats_connection::on_reconnected(natsConnection*, void* closure) {
  auto* self = static_cast<nats_connection*>(closure);
  self->reconnected_ = true;
  self->set_connected(true);
  spdlog::info("[nats] reconnected to {}", self->url_.describe());
}

void nats_connection::on_async_error(natsConnection*, natsSubscription*, natsStatus err, void*) {
  spdlog::warn("[nats] {}", natsStatus_GetText(err));
}

}  // namespace facts
