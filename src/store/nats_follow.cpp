// nats_store's following: an ordered push consumer from the seq after the last one handed on,
// checked seq by seq, and started again (with a new consumer) when it skips or stalls.
#include <spdlog/spdlog.h>

#include "facts/store/nats_calls.hpp"
#include "facts/store/nats_store.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

// Most facts handed on at once; a burst is otherwise handed on when nothing more is queued.
constexpr std::size_t max_hand_on = 256;

// Destroy without Unsubscribe: an explicit Unsubscribe deletes the consumer, and in nats.c
// 3.4.1 that reads the consumer's name while nats.c's own reset of an ordered consumer (after a
// reconnect) may be freeing it (seen under AddressSanitizer). The server drops an ordered
// consumer without interest by itself.
void release(std::vector<natsSubscription*> const& retired) {
  for (auto* sub : retired)
    natsSubscription_Destroy(sub);
}

}  // namespace

void nats_store::follow(std::uint64_t after, follower on_stored) {
  {
    std::lock_guard lock(follow_mutex_);
    on_stored_ = std::move(on_stored);
    followed_ = after;
    last_progress_ = clock::now();
  }
  note_log_seq(after);
  subscribe_from(after + 1);
}

void nats_store::stop_following() {
  // The server stops following once, as it stops: the store's use of NATS ends here. Closing
  // first ends a consumer being created under follow_mutex_, the requests and fetches of reads
  // in flight on other threads (a catch-up read, a page), and the publishes still waiting for
  // an ack, so that none of them holds up the stop; the subscriptions are closed with it.
  close_connection();
  std::vector<natsSubscription*> retired;
  {
    std::lock_guard lock(follow_mutex_);
    on_stored_ = nullptr;
    unsubscribe_locked(retired);
  }
  release(retired);
}

std::uint64_t nats_store::followed_seq() const {
  std::lock_guard lock(follow_mutex_);
  return followed_;
}

void nats_store::subscribe_from(std::uint64_t first) {
  jsSubOptions sub_opts;
  jsSubOptions_Init(&sub_opts);
  sub_opts.Stream = opts_.url.stream.c_str();
  sub_opts.Ordered = true;
  sub_opts.Config.DeliverPolicy = js_DeliverByStartSequence;
  sub_opts.Config.OptStartSeq = first;
  auto call = js_call(opts_.timings.request);
  // Held while the consumer is created, so its first messages wait until it is the current one.
  std::lock_guard lock(follow_mutex_);
  if (!on_stored_ || subscription_ != nullptr) return;
  // Not while nats.c reconnects (the monitor tries again once it is back) or once closed.
  if (!connection_.connected() || connection_.closing()) return;
  natsSubscription* sub = nullptr;
  jsErrCode code = no_js_error;
  natsStatus s = js_Subscribe(&sub, connection_.js(), subject_.c_str(), &on_message, this, &call,
                              &sub_opts, &code);
  if (s != NATS_OK) {
    spdlog::warn("[nats] cannot follow {} from {} yet: {}", opts_.url.stream, first,
                 natsStatus_GetText(s));
    return;  // the monitor tries again
  }
  // Flow control bounds what is queued; a limit here would drop facts and force a restart.
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsSubscription_SetOnCompleteCB(sub, &on_subscription_done, this);
  subscription_ = sub;
  ++subscriptions_live_;
  last_progress_ = clock::now();
  spdlog::debug("[nats] following {} from {}", opts_.url.stream, first);
}

void nats_store::unsubscribe_locked(std::vector<natsSubscription*>& retired) {
  if (!batch_.empty() && on_stored_) on_stored_(batch_);
  batch_.clear();
  if (subscription_ != nullptr) retired.push_back(subscription_);
  subscription_ = nullptr;
}

void nats_store::check_follow_stall() {
  std::vector<natsSubscription*> retired;
  std::uint64_t from = 0;
  {
    std::lock_guard lock(follow_mutex_);
    if (!on_stored_) return;
    auto const now = clock::now();
    if (connection_.take_reconnected()) resubscribe_ = true;
    bool const behind = last_seq() > followed_;
    if (!behind && !resubscribe_ && subscription_ != nullptr) {
      last_progress_ = now;  // caught up: a stall is counted from the next fact on
      return;
    }
    // Behind the log and nothing came for stall_after: the consumer is stuck (2.9.10 may place
    // an R1 consumer on a dead peer), so a new one takes over. nats.c's own reset needs two
    // missed 5 s heartbeats; a POST waiting for its fact to come back cannot wait that long.
    bool const stalled = behind && now - last_progress_ > opts_.timings.stall_after;
    if (subscription_ != nullptr && !resubscribe_ && !stalled) return;
    if (stalled && subscription_ != nullptr)
      spdlog::warn("[nats] following {} stalled at {} while the log has {}: new consumer",
                   opts_.url.stream, followed_, last_seq());
    resubscribe_ = false;
    unsubscribe_locked(retired);
    from = std::max(followed_ + 1, first_seq());
  }
  release(retired);
  subscribe_from(from);
}

void nats_store::on_message(natsConnection*, natsSubscription* sub, natsMsg* msg, void* closure) {
  auto* self = static_cast<nats_store*>(closure);
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
    spdlog::error("[nats] a message without JetStream metadata on {}", self->subject_);
    natsMsg_Destroy(msg);
    return;
  }
  auto const seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  auto f = self->payloads_.to_fact(payload_of(msg), seq);
  natsMsg_Destroy(msg);
  self->take_message(sub, std::move(f));
}

void nats_store::take_message(natsSubscription* sub, fact f) {
  std::lock_guard lock(follow_mutex_);
  if (sub != subscription_ || !on_stored_) return;  // a consumer we already left
  if (f.seq <= followed_) return;                   // before where we are: seen already
  if (f.seq != followed_ + 1 && f.seq <= first_seq()) {
    // The stream's limits removed the facts in between before they reached us (this instance
    // was stopped, or far behind): they are no one's any more. The hub starts its window over.
    spdlog::warn("[nats] stream {} removed facts {} to {} (its limits) before they were followed",
                 opts_.url.stream, followed_ + 1, f.seq - 1);
    followed_ = f.seq - 1;
  }
  if (f.seq != followed_ + 1) {
    spdlog::error(
        "[nats] stream {} skipped from {} to {}: fact ids must be dense; following "
        "again from {}",
        opts_.url.stream, followed_, f.seq, followed_ + 1);
    resubscribe_ = true;  // the monitor starts a new consumer within its next tick
    return;
  }
  followed_ = f.seq;
  last_progress_ = clock::now();
  note_log_seq(f.seq);
  // In the window before any stream has it: a client's GET /facts/<id> after its 201 finds it.
  recent_.push(f);
  batch_.push_back(std::move(f));
  int queued = 0;
  natsSubscription_GetPending(sub, &queued, nullptr);
  if (queued > 0 && batch_.size() < max_hand_on) return;  // more is right behind: one frame
  on_stored_(batch_);
  batch_.clear();
}

void nats_store::on_subscription_done(void* closure) {
  auto* self = static_cast<nats_store*>(closure);
  {
    std::lock_guard lock(self->follow_mutex_);
    --self->subscriptions_live_;
  }
  self->subscriptions_done_.notify_all();
}

}  // namespace facts
