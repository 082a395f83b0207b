#include "facts/fact_writer.hpp"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace facts {

fact_writer::fact_writer(fact_store& store, broadcaster& hub,
                         std::chrono::milliseconds fan_out_timeout)
    : store_(store),
      hub_(hub),
      async_(store.appends_async()),
      commit_here_(!async_ && store.appends_without_waiting()),
      fan_out_timeout_(fan_out_timeout),
      fanned_seq_(hub.last_seq()),
      thread_([this] { async_ ? watch_fan_out() : run(); }) {}

void fact_writer::fanned_out(std::uint64_t seq) {
  std::vector<awaiting> back;  // a shared log's facts that came back: answered here
  {
    std::lock_guard lock(fanned_mutex_);
    if (seq <= fanned_seq_) return;
    fanned_seq_ = seq;
    for (auto it = awaiting_.begin(); it != awaiting_.end();) {
      if (it->result.stored.seq > seq) {
        ++it;
        continue;
      }
      back.push_back(std::move(*it));
      it = awaiting_.erase(it);
    }
  }
  // A local store's commit waits for this; a shared log's thread only for deadlines.
  if (!async_) fanned_wake_.notify_all();
  for (auto& a : back)
    finish(a.done, std::move(a.result));
}

fact_writer::~fact_writer() {
  stop(std::chrono::steady_clock::time_point::max());
}

void fact_writer::submit(append_request request, completion done) {
  std::vector<submission> one;
  one.push_back({std::move(request), std::move(done)});
  submit_all(std::move(one));
}

void fact_writer::submit_all(std::vector<submission> batch) {
  if (commit_here_) return commit_here(batch);
  std::unique_lock lock(mutex_);
  if (stopping_) {
    lock.unlock();
    for (auto& s : batch)
      s.done(std::nullopt);
    return;
  }
  if (!async_) {
    if (queue_.empty())
      queue_.swap(batch);
    else
      queue_.insert(queue_.end(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
    wake_.notify_one();
    return;
  }
  in_flight_ += batch.size();
  lock.unlock();
  // A shared log: to the store at once, with many others in flight; see on_answered.
  auto const started = std::chrono::steady_clock::now();
  for (auto& s : batch)
    store_.append_async(std::move(s.request),
                        [this, done = std::move(s.done), started](append_result result) mutable {
                          on_answered(std::move(result), std::move(done), started);
                        });
}

void fact_writer::commit_here(std::vector<submission>& batch) {
  // Batches take the lock in the order they commit, so seqs and fan-out keep that order; another
  // thread's batch waits here for as long as storing in memory takes.
  std::unique_lock commit_lock(commit_mutex_);
  bool stopped = false;
  {
    std::lock_guard lock(mutex_);
    stopped = stopping_;
  }
  if (!stopped) return commit(batch);
  commit_lock.unlock();
  for (auto& s : batch)
    s.done(std::nullopt);
}

bool fact_writer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
    // A commit stuck in the store (an fsync that never returns) must not hold the caller past
    // its deadline: the thread is then left to finish, or not, on its own.
    // A shared log's facts are each answered by their own timeouts (publish, then fan-out).
    if (!finished_.wait_until(lock, deadline, [this] { return async_ ? in_flight_ == 0 : done_; }))
      return false;
  }
  if (async_) {
    std::lock_guard lock(fanned_mutex_);
    watching_ = false;
    fanned_wake_.notify_all();
  }
  // A batch being committed on a submitting thread is finished before stop() returns; later
  // ones see stopping_ and are answered at once.
  if (commit_here_) {
    std::lock_guard wait_for_commit(commit_mutex_);
  }
  if (thread_.joinable()) thread_.join();
  return true;
}

void fact_writer::run() {
  // A woken writer must not preempt an I/O thread on the same core in the middle of its pass:
  // it would take a batch of one or two facts, and the rest would wake it again. SCHED_BATCH
  // (no privilege needed) turns off only that wake-up preemption; the writer keeps its fair
  // share of the CPU, and on a core of its own it runs at once as before.
  sched_param const normal{};
  if (int const err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &normal); err != 0)
    spdlog::debug("[writer] SCHED_BATCH refused ({}); batches may be smaller", err);
  std::vector<submission> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {  // stopping, and everything submitted is done
        done_ = true;
        finished_.notify_all();
        return;
      }
      batch.swap(queue_);
    }
    commit(batch);
    batch.clear();
  }
}

void fact_writer::commit(std::vector<submission>& batch) {
  auto const started = std::chrono::steady_clock::now();
  std::vector<append_request> requests;
  requests.reserve(batch.size());
  for (auto& p : batch)
    requests.push_back(std::move(p.request));
  std::vector<append_result> results;
  try {
    results = store_.append(requests);
  } catch (std::exception const& e) {
    spdlog::error("[writer] storing {} facts failed: {}", batch.size(), e.what());
    for (auto& p : batch)
      p.done(std::nullopt);
    return;
  }
  // Fanned out before acknowledged: a client that got its 201 can count on every stream here
  // having the fact queued. The follower does the fanning out; we only wait for it.
  wait_fanned_out(results, started);
  for (std::size_t i = 0; i < batch.size(); ++i)
    batch[i].done(std::move(results[i]));
}

void fact_writer::wait_fanned_out(std::vector<append_result>& results,
                                  std::chrono::steady_clock::time_point started) {
  std::uint64_t needed = 0;
  for (auto const& r : results)
    if (r.what == append_result::outcome::created || r.what == append_result::outcome::replayed)
      needed = std::max(needed, r.stored.seq);
  // The POST's answer is due within the timeout of when the batch began, but a fact the log took
  // at the last moment still gets a moment to come back.
  auto const deadline = std::max(started + fan_out_timeout_,
                                 std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
  std::unique_lock lock(fanned_mutex_);
  if (fanned_wake_.wait_until(lock, deadline, [&] { return fanned_seq_ >= needed; })) return;
  auto const reached = fanned_seq_;
  lock.unlock();
  spdlog::warn("[writer] the log stored up to {} but only {} came back within {} ms", needed,
               reached, fan_out_timeout_.count());
  // Stored, but not here yet: a 201 now would break its promise. The client's retry with the
  // same Idempotency-Key finds the fact.
  for (auto& r : results)
    if ((r.what == append_result::outcome::created || r.what == append_result::outcome::replayed) &&
        r.stored.seq > reached)
      r = {append_result::outcome::unavailable, {}};
}

void fact_writer::on_answered(append_result result, completion done,
                              std::chrono::steady_clock::time_point started) {
  using outcome = append_result::outcome;
  if (result.what == outcome::created || result.what == outcome::replayed) {
    std::lock_guard lock(fanned_mutex_);
    if (fanned_seq_ < result.stored.seq) {
      // Acknowledged, not back yet: fanned_out() answers it, or the thread when it is late (the
      // same bound as a batch's, see wait_fanned_out).
      auto const deadline =
          std::max(started + fan_out_timeout_,
                   std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
      // The thread sleeps until the earliest deadline it knows: woken only for an earlier one.
      if (deadline < watch_until_) fanned_wake_.notify_all();
      awaiting_.push_back({std::move(result), std::move(done), deadline});
      return;
    }
  }
  finish(done, std::move(result));
}

void fact_writer::finish(completion& done, std::optional<append_result> result) {
  done(std::move(result));
  std::lock_guard lock(mutex_);
  if (--in_flight_ == 0 && stopping_) finished_.notify_all();
}

void fact_writer::watch_fan_out() {
  std::unique_lock lock(fanned_mutex_);
  while (watching_) {
    auto const now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    std::vector<awaiting> late;
    for (auto it = awaiting_.begin(); it != awaiting_.end();) {
      if (it->deadline > now) {
        next = std::min(next, it->deadline);
        ++it;
        continue;
      }
      late.push_back(std::move(*it));
      it = awaiting_.erase(it);
    }
    if (!late.empty()) {
      auto const reached = fanned_seq_;
      lock.unlock();
      for (auto& a : late) {
        spdlog::warn("[writer] the log stored {} but only {} came back within {} ms",
                     a.result.stored.seq, reached, fan_out_timeout_.count());
        // Stored, but not here yet: a 201 now would break its promise. The client's retry with
        // the same Idempotency-Key finds the fact.
        finish(a.done, append_result{append_result::outcome::unavailable, {}});
      }
      lock.lock();
      continue;
    }
    watch_until_ = next;
    if (next == std::chrono::steady_clock::time_point::max())
      fanned_wake_.wait(lock);
    else
      fanned_wake_.wait_until(lock, next);
  }
}

}  // namespace facts
