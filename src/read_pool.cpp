#include "facts/read_pool.hpp"

#include <algorithm>

namespace facts {

read_pool::read_pool(unsigned threads) {
  working_ = std::max(1u, threads);
  for (unsigned i = 0; i < working_; ++i)
    threads_.emplace_back([this] { work(); });
}

read_pool::~read_pool() {
  stop(std::chrono::steady_clock::time_point::max());
}

bool read_pool::stop(std::chrono::steady_clock::time_point deadline) {
  std::deque<job> dropped;
  bool all_left = false;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    dropped.swap(jobs_);
    wake_.notify_all();
    auto const all_out = [this] { return working_ == 0; };
    if (deadline == std::chrono::steady_clock::time_point::max())
      left_.wait(lock, all_out);
    else
      left_.wait_until(lock, deadline, all_out);
    all_left = all_out();
  }
  // What they hold (a session waiting for its answer) is let go here, outside the lock.
  dropped.clear();
  if (!all_left) return false;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  return true;
}

void read_pool::run(job j) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(std::move(j));
  }
  wake_.notify_one();
}

std::size_t read_pool::queued() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void read_pool::work() {
  for (;;) {
    job next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) {
        --working_;
        left_.notify_all();
        return;
      }
      next = std::move(jobs_.front());
      jobs_.pop_front();
    }
    next();
  }
}

}  // namespace facts
