#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace facts {

/**
 * Represents the threads that read the store for requests (a page of history, one fact, the
 * log's newest seq for a resume), so that no I/O thread ever waits on a store: a read behind a
 * stopped NATS node or a busy SQLite reader holds one of these threads, never one that serves
 * streams and other requests. Jobs start in the order given; those still queued when it stops
 * never run (they are destroyed on the stopping thread).
 */
class read_pool {
 public:
  using job = std::function<void()>;

  explicit read_pool(unsigned threads);
  ~read_pool();

  read_pool(read_pool const&) = delete;
  read_pool& operator=(read_pool const&) = delete;

  /// Queues `j`; it runs on a pool thread. A job must not throw. After stop(), `j` is dropped.
  void run(job j);

  /// Drops the queued jobs and waits until `deadline` for the running ones. Returns whether
  /// every thread ended (and was joined); if not, a read is stuck and the pool must outlive it.
  bool stop(std::chrono::steady_clock::time_point deadline);

  /// Jobs queued and not yet started: for tests and /metrics.
  std::size_t queued() const;

 private:
  void work();

  mutable std::mutex mutex_;  // guards the members below
  std::condition_variable wake_;
  std::condition_variable left_;  // a thread left work() for good
  std::deque<job> jobs_;
  bool stopping_ = false;
  unsigned working_ = 0;              // threads not yet out of work()
  std::vector<std::thread> threads_;  // last: they start once the members above exist
};

}  // namespace facts
