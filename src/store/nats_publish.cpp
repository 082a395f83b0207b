// nats_store::append: a batch of publishes in flight at once, each with its message id, the
// acks collected as nats.c's reply thread reports them, and what timed out sent again.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "facts/store/nats_store.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

// A publish that fails fast (no responders: no stream leader right now) is sent again after
// this; one that waited for its ack the whole attempt is sent again at once.
constexpr auto retry_pause = std::chrono::milliseconds(100);
// Each attempt waits at most this long for its ack before nats.c reports a timeout.
constexpr auto attempt_timeout = std::chrono::milliseconds(2000);

// 128 random bits for a fact without an Idempotency-Key: still one Nats-Msg-Id across our own
// retries, so a publish that timed out but was stored is not stored twice.
std::string random_msg_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return fmt::format("factsd-{:016x}{:016x}", random(), random());
}

bool retryable(natsStatus status, jsErrCode code) {
  return status != NATS_MAX_PAYLOAD && code != JSStreamMessageExceedsMaximumErr;
}

// What the log said, for the outcome counters: a timeout, or no leader / no quorum.
bool is_timeout(natsStatus status) {
  return status == NATS_TIMEOUT;
}

}  // namespace

struct nats_store::publish_slot {
  natsMsg* msg = nullptr;  // ours while not in flight
  bool in_flight = false;
  bool done = false;
  int attempts = 0;
  clock::time_point send_at{};
  ack_report last;  // the newest report; `ok` once acknowledged
};

std::vector<append_result> nats_store::append(std::vector<append_request> const& requests) {
  auto const deadline = clock::now() + opts_.publish_timeout;
  std::vector<publish_slot> slots(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto const& r = requests[i];
    auto const id = r.idempotency_key.empty() ? random_msg_id() : r.idempotency_key;
    natsStatus s = natsMsg_Create(&slots[i].msg, subject_.c_str(), nullptr, r.json.data(),
                                  static_cast<int>(r.json.size()));
    if (s == NATS_OK) s = natsMsgHeader_Set(slots[i].msg, "Nats-Msg-Id", id.c_str());
    if (s != NATS_OK) {
      for (auto& slot : slots)
        natsMsg_Destroy(slot.msg);
      throw store_error("store " + describe() +
                        ": cannot build a message: " + natsStatus_GetText(s));
    }
  }
  {
    std::lock_guard lock(publish_mutex_);
    in_flight_.clear();
    reports_.clear();
  }

  for (;;) {
    auto const now = clock::now();
    bool waiting = false;
    auto next_send = deadline;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      auto& slot = slots[i];
      if (slot.done) continue;
      waiting = true;
      if (slot.in_flight) continue;
      if (slot.send_at <= now && now < deadline) send(i, slot, deadline);
      if (!slot.in_flight) next_send = std::min(next_send, slot.send_at);
    }
    if (!waiting || now >= deadline) break;
    std::unique_lock lock(publish_mutex_);
    publish_wake_.wait_until(lock, std::max(next_send, now + std::chrono::milliseconds(1)),
                             [this] { return !reports_.empty(); });
    lock.unlock();
    take_reports(slots);
  }

  std::vector<append_result> results;
  results.reserve(requests.size());
  {
    // What is still in flight is nats.c's to report later; on_ack then frees it.
    std::lock_guard lock(publish_mutex_);
    in_flight_.clear();
  }
  take_reports(slots);  // what came back meanwhile: its message is ours again
  for (std::size_t i = 0; i < slots.size(); ++i) {
    results.push_back(answer(slots[i], requests[i]));
    if (!slots[i].in_flight) natsMsg_Destroy(slots[i].msg);
  }
  return results;
}

void nats_store::send(std::size_t index, publish_slot& slot, clock::time_point deadline) {
  // Not connected: nats.c would keep the message in its reconnect buffer and publish it after
  // we answered 503, so it is not handed over until the connection is back.
  if (natsConnection_Status(conn_) != NATS_CONN_STATUS_CONNECTED) {
    slot.last = {nullptr, false, 0, false, NATS_CONNECTION_DISCONNECTED, {}, "not connected"};
    slot.send_at = clock::now() + retry_pause;
    return;
  }
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MaxWait = std::min<std::int64_t>(
      attempt_timeout.count(),
      std::max<std::int64_t>(
          1,
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count()));
  natsMsg* msg = slot.msg;
  {
    // Registered before it is sent: its ack may come back before js_PublishMsgAsync returns.
    std::lock_guard lock(publish_mutex_);
    in_flight_[msg] = index;
  }
  ++slot.attempts;
  natsStatus const s = js_PublishMsgAsync(js_, &slot.msg, &pub);
  if (s == NATS_OK) {
    slot.in_flight = true;  // nats.c owns it until on_ack hands it back
    return;
  }
  std::lock_guard lock(publish_mutex_);
  in_flight_.erase(msg);
  slot.last = {nullptr, false, 0, false, s, {}, natsStatus_GetText(s)};
  slot.send_at = clock::now() + retry_pause;
  if (!retryable(s, {})) slot.done = true;
}

void nats_store::take_reports(std::vector<publish_slot>& slots) {
  std::vector<std::pair<std::size_t, ack_report>> reports;
  {
    std::lock_guard lock(publish_mutex_);
    reports.swap(reports_);
  }
  auto const now = clock::now();
  for (auto& [index, report] : reports) {
    auto& slot = slots[index];
    slot.in_flight = false;
    slot.msg = report.msg;
    report.msg = nullptr;
    slot.last = std::move(report);
    if (slot.last.ok) {
      slot.done = true;
      note_log_seq(slot.last.seq);
    } else if (!retryable(slot.last.status, slot.last.code)) {
      slot.done = true;
    } else {
      // A timeout already waited; no responders (no leader) answers at once: pause a little.
      slot.send_at = is_timeout(slot.last.status) ? now : now + retry_pause;
    }
  }
}

append_result nats_store::answer(publish_slot const& slot, append_request const& request) {
  using outcome = append_result::outcome;
  if (!slot.last.ok) {
    if (is_timeout(slot.last.status) || slot.last.status == NATS_CONNECTION_DISCONNECTED)
      ++timeouts_;
    else
      ++no_quorum_;
    spdlog::warn("[nats] a fact was not acknowledged after {} attempts: {}", slot.attempts,
                 slot.last.text.empty() ? natsStatus_GetText(slot.last.status) : slot.last.text);
    return {outcome::unavailable, {}};
  }
  if (!slot.last.duplicate) {
    ++acked_;
    return {outcome::created, {slot.last.seq, request.json}};
  }
  ++duplicates_;
  // JetStream says only "seen this id": the body decides between a replay and a conflict.
  std::optional<fact> stored;
  try {
    stored = find_fact(slot.last.seq);
  } catch (store_error const& e) {
    spdlog::warn("[nats] {}", e.what());
  }
  if (!stored) {
    spdlog::warn("[nats] cannot read fact {} to answer a repeated Idempotency-Key", slot.last.seq);
    return {outcome::unavailable, {}};
  }
  if (stored->json != request.json) return {outcome::conflict, {}};
  // Our own retry of a publish whose first ack was lost: as far as we know the client sent it
  // once, and this is its creation.
  if (slot.attempts > 1) return {outcome::created, std::move(*stored)};
  return {outcome::replayed, std::move(*stored)};
}

void nats_store::on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* self = static_cast<nats_store*>(closure);
  ack_report report;
  report.msg = msg;
  if (pa != nullptr) {
    report.ok = true;
    report.seq = pa->Sequence;
    report.duplicate = pa->Duplicate;
  } else if (pae != nullptr) {
    report.status = pae->Err;
    report.code = pae->ErrCode;
    if (pae->ErrText != nullptr) report.text = pae->ErrText;
  }
  {
    std::lock_guard lock(self->publish_mutex_);
    auto const it = self->in_flight_.find(msg);
    if (it != self->in_flight_.end()) {
      self->reports_.emplace_back(it->second, std::move(report));
      self->in_flight_.erase(it);
      self->publish_wake_.notify_one();
      return;
    }
  }
  natsMsg_Destroy(msg);  // an ack for a batch that has already been answered
}

}  // namespace facts
