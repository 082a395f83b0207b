#include "facts/seq_waiters.hpp"

#include <vector>

namespace facts {

seq_waiters::seq_waiters(std::uint64_t fanned_out) : reached_(fanned_out) {}

seq_waiters::~seq_waiters() {
  close();
  if (deadlines_.joinable()) deadlines_.join();
}

void seq_waiters::reached(std::uint64_t seq) {
  std::vector<callback> due;
  {
    std::lock_guard lock(mutex_);
    if (seq <= reached_.load(std::memory_order_relaxed)) return;
    reached_.store(seq, std::memory_order_release);
    auto const end = waiting_.upper_bound(seq);
    for (auto it = waiting_.begin(); it != end; ++it)
      due.push_back(std::move(it->second.done));
    waiting_.erase(waiting_.begin(), end);
  }
  // Outside the lock, in seq order: a callback may wait again.
  for (auto& done : due)
    done(true);
}

void seq_waiters::when_reached(std::uint64_t seq, clock::time_point deadline, callback done) {
  // Reached only ever grows: a wait it already covers needs no lock (every local store's
  // POST, since its follower runs inside the append).
  if (seq <= current()) return done(true);
  bool already = false;
  {
    std::lock_guard lock(mutex_);
    already = seq <= reached_.load(std::memory_order_relaxed);
    if (!closed_ && !already) {
      waiting_.emplace(seq, waiter{deadline, std::move(done)});
      if (!deadlines_.joinable())
        deadlines_ = std::thread([this] { watch_deadlines(); });
      else if (deadline < watching_until_)
        wake_.notify_one();
      return;
    }
  }
  done(already);
}

void seq_waiters::close() {
  std::multimap<std::uint64_t, waiter> left;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    left.swap(waiting_);
    wake_.notify_one();
  }
  for (auto& [seq, w] : left)
    w.done(false);
}

void seq_waiters::watch_deadlines() {
  std::unique_lock lock(mutex_);
  while (!closed_) {
    auto const now = clock::now();
    auto next = clock::time_point::max();
    std::vector<callback> late;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline > now) {
        next = std::min(next, it->second.deadline);
        ++it;
        continue;
      }
      late.push_back(std::move(it->second.done));
      it = waiting_.erase(it);
    }
    if (!late.empty()) {
      lock.unlock();
      for (auto& done : late)
        done(false);
      lock.lock();
      continue;
    }
    // Woken early only by a wait whose deadline comes before this one.
    watching_until_ = next;
    if (next == clock::time_point::max())
      wake_.wait(lock);
    else
      wake_.wait_until(lock, next);
  }
}

}  // namespace facts
