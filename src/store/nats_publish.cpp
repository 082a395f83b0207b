// nats_store's publishing: append_async() queues a request, the publisher thread publishes it
// at once with its message id (many in flight), nats.c's reply thread reports each ack, and each
// request is answered on its own as soon as its ack is in; what timed out is sent again.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <random>

#include "facts/store/nats_calls.hpp"
#include "facts/store/nats_store.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

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

struct nats_store::publish_job {
  append_request request;
  append_callback answered;
  clock::time_point deadline;  // timings.publish after it came in
  natsMsg* msg = nullptr;      // ours while not in flight
  natsMsg* sent = nullptr;     // the message nats.c has while in flight (its key in in_flight_)
  bool in_flight = false;
  bool done = false;
  int attempts = 0;
  clock::time_point send_at{};
  ack_report last;  // the newest report; `ok` once acknowledged
};

std::vector<append_result> nats_store::append(std::vector<append_request> const& requests) {
  std::mutex mutex;
  std::condition_variable answered;
  std::size_t left = requests.size();
  std::vector<append_result> results(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i)
    append_async(requests[i], [&, i](append_result r) {
      std::lock_guard lock(mutex);
      results[i] = std::move(r);
      --left;
      answered.notify_one();  // under the lock: we may return as soon as it is let go
    });
  std::unique_lock lock(mutex);
  answered.wait(lock, [&] { return left == 0; });  // each is answered by its deadline
  return results;
}

void nats_store::append_async(append_request request, append_callback answered) {
  {
    std::lock_guard lock(publish_mutex_);
    incoming_.emplace_back(std::move(request), std::move(answered));
  }
  publish_wake_.notify_one();
}

// One thread for every request in flight: it sends what came in or is due again, takes what
// nats.c's reply thread reported, and answers each request on its own, so a slow ack holds up
// no one else's. Sleeps until the next thing comes in or falls due.
void nats_store::publish_loop() {
  std::map<std::uint64_t, publish_job> jobs;  // by id: the order they came in
  std::uint64_t next_id = 0;
  auto next_due = clock::time_point::max();
  for (;;) {
    std::vector<std::pair<append_request, append_callback>> incoming;
    std::vector<std::pair<std::uint64_t, ack_report>> reports;
    bool stopping = false;
    {
      std::unique_lock lock(publish_mutex_);
      auto const woken = [this, &jobs] {
        return publish_stopping_ || !incoming_.empty() || !reports_.empty() ||
               (connection_.closing() && !jobs.empty());
      };
      if (next_due == clock::time_point::max())
        publish_wake_.wait(lock, woken);
      else
        publish_wake_.wait_until(lock, next_due, woken);
      incoming.swap(incoming_);
      reports.swap(reports_);
      stopping = publish_stopping_;
    }
    // Closed: no ack can come any more, so nothing waits for one.
    bool const closing = connection_.closing();
    auto now = clock::now();
    for (auto& [request, answered] : incoming) {
      auto& job = jobs[next_id++];
      job.request = std::move(request);
      job.answered = std::move(answered);
      job.deadline = now + opts_.timings.publish;
      job.send_at = now;
    }
    for (auto& [id, report] : reports) {
      auto const it = jobs.find(id);
      if (it == jobs.end()) {  // answered at its deadline meanwhile
        natsMsg_Destroy(report.msg);
        continue;
      }
      take_report(it->second, std::move(report), now);
    }
    next_due = clock::time_point::max();
    now = clock::now();
    for (auto it = jobs.begin(); it != jobs.end();) {
      auto& [id, job] = *it;
      if (!job.done && !job.in_flight && job.send_at <= now && now < job.deadline && !stopping)
        send(id, job);
      if (!job.done && !stopping && !closing && now < job.deadline) {
        if (!job.in_flight) next_due = std::min(next_due, job.send_at);
        next_due = std::min(next_due, job.deadline);
        ++it;
        continue;
      }
      forget_in_flight(id, job);
      if (closing && !job.done)
        job.last = {nullptr, false, 0, false, NATS_CONNECTION_CLOSED, {}, "the store is closing"};
      finish(job);
      natsMsg_Destroy(job.msg);
      it = jobs.erase(it);
    }
    if (stopping && jobs.empty()) return;
  }
}

void nats_store::send(std::uint64_t id, publish_job& job) {
  if (connection_.closing()) {  // the store ends: no answer can come any more
    job.last = {nullptr, false, 0, false, NATS_CONNECTION_CLOSED, {}, "the store is closing"};
    job.done = true;
    return;
  }
  // Not connected: not handed over until the connection is back. Should it drop between this
  // check and the publish, nats.c refuses the message (it has no reconnect buffer). The check
  // takes no lock of nats.c's, which it holds through each reconnect attempt: the answers due
  // meanwhile still go out at their deadlines.
  if (!connection_.connected()) {
    job.last = {nullptr, false, 0, false, NATS_CONNECTION_DISCONNECTED, {}, "not connected"};
    job.send_at = clock::now() + nats_timings::retry_pause;
    return;
  }
  if (job.msg == nullptr) {  // first attempt
    auto const& r = job.request;
    auto const msg_id = r.idempotency_key.empty() ? random_msg_id() : r.idempotency_key;
    natsStatus s = natsMsg_Create(&job.msg, subject_.c_str(), nullptr, r.json.data(),
                                  static_cast<int>(r.json.size()));
    if (s == NATS_OK) s = natsMsgHeader_Set(job.msg, "Nats-Msg-Id", msg_id.c_str());
    if (s != NATS_OK) {
      spdlog::error("[nats] cannot build a message: {}", natsStatus_GetText(s));
      job.last = {nullptr, false, 0, false, s, {}, natsStatus_GetText(s)};
      job.done = true;
      return;
    }
  }
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  // Each attempt waits at most one request for its ack before nats.c reports a timeout, then
  // is sent again at once with the same message id; one that failed fast waits retry_pause.
  pub.MaxWait = std::min(opts_.timings.request, millis_left(job.deadline)).count();
  job.sent = job.msg;
  {
    // Registered before it is sent: its ack may come back before js_PublishMsgAsync returns.
    std::lock_guard lock(publish_mutex_);
    in_flight_[job.sent] = id;
  }
  ++job.attempts;
  handed_over_ = true;
  natsStatus const s = js_PublishMsgAsync(connection_.js(), &job.msg, &pub);
  if (s == NATS_OK) {
    job.in_flight = true;  // nats.c owns it until on_ack hands it back
    return;
  }
  {
    std::lock_guard lock(publish_mutex_);
    in_flight_.erase(job.sent);
  }
  if (s == NATS_INSUFFICIENT_BUFFER)  // it started reconnecting since the check: refused, unsent
    job.last = {nullptr, false, 0, false, NATS_CONNECTION_DISCONNECTED, {}, "not connected"};
  else
    job.last = {nullptr, false, 0, false, s, {}, natsStatus_GetText(s)};
  job.send_at = clock::now() + nats_timings::retry_pause;
  if (!retryable(s, no_js_error) || s == NATS_CONNECTION_CLOSED) job.done = true;
}

void nats_store::take_report(publish_job& job, ack_report report, clock::time_point now) {
  job.in_flight = false;
  job.msg = report.msg;
  report.msg = nullptr;
  job.last = std::move(report);
  if (job.last.ok) {
    job.done = true;
    note_log_seq(job.last.seq);
  } else if (!retryable(job.last.status, job.last.code)) {
    job.done = true;
  } else {
    // A timeout already waited; no responders (no leader) answers at once: pause a little.
    job.send_at = is_timeout(job.last.status) ? now : now + nats_timings::retry_pause;
  }
}

void nats_store::forget_in_flight(std::uint64_t id, publish_job& job) {
  if (!job.in_flight) return;
  std::unique_lock lock(publish_mutex_);
  // Still in flight: nats.c's to report later, and on_ack frees it.
  if (in_flight_.erase(job.sent) > 0) return;
  // Its report came in just now: it still counts.
  auto const it =
      std::find_if(reports_.begin(), reports_.end(), [id](auto const& r) { return r.first == id; });
  if (it == reports_.end()) return;
  auto report = std::move(it->second);
  reports_.erase(it);
  lock.unlock();
  take_report(job, std::move(report), clock::now());
}

void nats_store::finish(publish_job& job) {
  if (job.last.ok && job.last.duplicate) {
    ++duplicates_;
    // JetStream says only "seen this id": the stored body decides between a replay and a
    // conflict, and reading it may take two requests. Answered by the duplicates' own thread,
    // so that every other publish goes on meanwhile.
    repeats_.answer(job.last.seq, std::move(job.request.json), job.attempts > 1,
                    std::move(job.answered));
    return;
  }
  job.answered(answer(job));
}

append_result nats_store::answer(publish_job const& job) {
  using outcome = append_result::outcome;
  if (!job.last.ok) {
    if (is_timeout(job.last.status) || job.last.status == NATS_CONNECTION_DISCONNECTED ||
        job.last.status == NATS_CONNECTION_CLOSED)
      ++timeouts_;
    else
      ++no_quorum_;
    spdlog::warn("[nats] a fact was not acknowledged after {} attempts: {}", job.attempts,
                 job.last.text.empty() ? natsStatus_GetText(job.last.status) : job.last.text);
    return {outcome::unavailable, {}};
  }
  ++acked_;
  return {outcome::created, {job.last.seq, job.request.json}};
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
