#include "facts/commit/thread_committer.hpp"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <cstring>

namespace facts {

thread_committer::thread_committer(fact_store& store, broadcaster& hub,
                                   std::chrono::milliseconds fan_out_timeout)
    : store_(store), answers_(hub, fan_out_timeout), thread_([this] { run(); }) {}

thread_committer::~thread_committer() {
  stop(std::chrono::steady_clock::time_point::max());
}

void thread_committer::submit_all(std::vector<submission> batch) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    lock.unlock();
    for (auto& s : batch)
      s.done(std::nullopt);
    return;
  }
  answers_.owe(batch.size());
  if (queue_.empty())
    queue_.swap(batch);
  else
    queue_.insert(queue_.end(), std::make_move_iterator(batch.begin()),
                  std::make_move_iterator(batch.end()));
  wake_.notify_one();
}

bool thread_committer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
    // A commit stuck in the store (an fsync that never returns) must not hold the caller past
    // its deadline: the thread is then left to finish, or not, on its own.
    if (!finished_.wait_until(lock, deadline, [this] { return done_; })) return false;
  }
  if (!answers_.wait_settled(deadline)) return false;
  if (thread_.joinable()) thread_.join();
  return true;
}

void thread_committer::run() {
  // A woken writer must not preempt an I/O thread on the same core in the middle of its pass:
  // it would take a batch of one or two facts, and the rest would wake it again. SCHED_BATCH
  // (no privilege needed) turns off only that wake-up preemption; the writer keeps its fair
  // share of the CPU, and on a core of its own it runs at once as before.
  sched_param const normal{};
  // The packaged unit allows the call (its one exception to ~@resources); a sandbox that does
  // not is told once, here, since commits then come in smaller batches under load.
  if (int const err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &normal); err != 0)
    spdlog::warn(
        "[commit] the writer cannot run under SCHED_BATCH ({}): under load, commits "
        "may come in smaller batches",
        std::strerror(err));
  std::vector<submission> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {  // stopping, and everything submitted is stored
        done_ = true;
        finished_.notify_all();
        return;
      }
      batch.swap(queue_);
    }
    answers_.append_and_settle(store_, batch);
    batch.clear();
  }
}

}  // namespace facts
