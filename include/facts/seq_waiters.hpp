#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace facts {

/**
 * Represents everyone waiting until the hub has fanned out a given seq: a POST whose fact must
 * come back through the follower before it is acknowledged, a resuming stream whose
 * Last-Event-ID the log has but this instance not yet. The hub wakes them as it publishes; a
 * thread of this object's own (started by the first wait that is not answered at once) answers
 * those whose deadline passes first. Nothing polls.
 */
class seq_waiters {
 public:
  using clock = std::chrono::steady_clock;
  /// `true`: the seq was fanned out; `false`: the deadline passed first, or the waiters were
  /// closed. Runs on the thread that published, on the deadline thread, or at once on the
  /// caller's: it must not block.
  using callback = std::function<void(bool reached)>;

  explicit seq_waiters(std::uint64_t fanned_out = 0);
  ~seq_waiters();

  seq_waiters(seq_waiters const&) = delete;
  seq_waiters& operator=(seq_waiters const&) = delete;

  /// From the hub, once everything up to `seq` is fanned out: answers the waits it reaches.
  void reached(std::uint64_t seq);

  /// Answers `done` once `seq` is reached (at once when it is already), or at `deadline`.
  void when_reached(std::uint64_t seq, clock::time_point deadline, callback done);

  /// Answers every wait with false, now and from now on (the server stops).
  void close();

  std::uint64_t current() const { return reached_.load(std::memory_order_acquire); }

 private:
  /** Represents one wait, kept by the seq it waits for. */
  struct waiter {
    clock::time_point deadline;
    callback done;
  };

  void watch_deadlines();

  std::atomic<std::uint64_t> reached_;  // written under mutex_, read anywhere
  std::mutex mutex_;                    // guards the members below
  std::condition_variable wake_;        // an earlier deadline, or closing
  std::multimap<std::uint64_t, waiter> waiting_;
  clock::time_point watching_until_ = clock::time_point::max();  // the thread's next wake-up
  bool closed_ = false;
  std::thread deadlines_;  // started with the first wait that is not answered at once
};

}  // namespace facts
