#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/store/fact_store.hpp"

namespace facts {

/**
 * Represents the single writer between POST handlers and the store. Facts submitted from any
 * thread are appended in batches (group commit), one batch at a time, then acknowledged once
 * the log's follower (see fact_store::follow) has fanned them out here: the writer never
 * publishes itself, so a fact posted here and one posted on another instance take one road. A
 * fact is never seen by a stream before it is stored, and never acknowledged before it is
 * fanned out.
 *
 * A store whose append may wait on a disk is written on the writer's own thread, so that no I/O
 * thread ever waits for an fsync. A store that never waits (fact_store::appends_without_waiting)
 * is written on the submitting thread, under a lock that keeps batches one at a time and in
 * order: handing a batch to another thread and its answers back cost two thread wake-ups, more
 * than storing it.
 *
 * A shared log (fact_store::appends_async) is not batched here: each fact goes to the store at
 * once, many are in flight, and each is acknowledged as soon as its own ack and its own fan-out
 * are in, not with the slowest of a batch. The writer's thread then only times out the facts
 * that do not come back.
 */
class fact_writer {
 public:
  /// Called with what became of the fact, or nullopt when the store failed or the writer is
  /// stopped (nothing was stored). For a local store on the writer thread, or inside submit_all()
  /// when the store never waits (see above); for a shared log on
  /// whichever thread completed it: the store's, the follower's (fanned_out) or the writer's
  /// (fan-out timeout). It must not block.
  using completion = std::function<void(std::optional<append_result>)>;

  /// `fan_out_timeout`: how long a stored fact may take to come back through the follower
  /// before its POST answers `unavailable` (a local store's follower runs inside append()).
  fact_writer(fact_store& store, broadcaster& hub,
              std::chrono::milliseconds fan_out_timeout = std::chrono::seconds(5));
  ~fact_writer();

  fact_writer(fact_writer const&) = delete;
  fact_writer& operator=(fact_writer const&) = delete;

  /** Represents one fact to store and what to do with its result. */
  struct submission {
    append_request request;
    completion done;
  };

  /// Queues one fact; `done` runs exactly once. After stop(), runs `done(nullopt)` at once.
  void submit(append_request request, completion done);

  /// Queues several facts, in order, with one wake-up of the writer thread; each `done` runs
  /// exactly once, as with submit().
  void submit_all(std::vector<submission> batch);

  /// Stores and acknowledges everything already submitted (for a shared log: waits until each is
  /// answered), then ends the thread. Returns false
  /// when a commit is still under way at `deadline`: the thread is left running, and the
  /// writer must then not be destroyed (the caller ends the process instead).
  bool stop(std::chrono::steady_clock::time_point deadline);

  /// From the follower, after the broadcaster published up to `seq`: wakes the acknowledgements
  /// waiting for it.
  void fanned_out(std::uint64_t seq);

 private:
  /** Represents a fact the shared log acknowledged, waiting to come back through the follower. */
  struct awaiting {
    append_result result;
    completion done;
    std::chrono::steady_clock::time_point deadline;
  };

  void run();
  void commit_here(std::vector<submission>& batch);
  void commit(std::vector<submission>& batch);
  void wait_fanned_out(std::vector<append_result>& results,
                       std::chrono::steady_clock::time_point started);
  // A shared log's path: answered by the store, then by the follower, or timed out here.
  void on_answered(append_result result, completion done,
                   std::chrono::steady_clock::time_point started);
  void finish(completion& done, std::optional<append_result> result);
  void watch_fan_out();

  fact_store& store_;
  broadcaster& hub_;
  bool const async_;                  // the store is a shared log: see append_async
  bool const commit_here_;            // the store never waits: see commit_here
  std::mutex commit_mutex_;           // held by commit_here for a batch's whole commit
  std::mutex mutex_;                  // guards queue_, stopping_, done_ and in_flight_
  std::condition_variable wake_;      // signalled on submit and stop
  std::condition_variable finished_;  // signalled when the thread is done (or nothing in flight)
  std::vector<submission> queue_;
  bool stopping_ = false;
  bool done_ = false;          // the thread has stored everything and is ending
  std::size_t in_flight_ = 0;  // shared log: submitted and not answered yet
  std::chrono::milliseconds fan_out_timeout_;
  std::mutex fanned_mutex_;  // guards fanned_seq_, awaiting_, watching_ and watch_until_
  // Local store: signalled by fanned_out(). Shared log: by an earlier deadline and by stop().
  std::condition_variable fanned_wake_;
  std::uint64_t fanned_seq_ = 0;
  std::vector<awaiting> awaiting_;  // shared log: acknowledged, not fanned out yet
  bool watching_ = true;            // shared log: the thread times out what does not come back
  std::chrono::steady_clock::time_point watch_until_ =
      std::chrono::steady_clock::time_point::max();  // ... and sleeps until then
  std::thread thread_;                               // last: starts after the members it uses exist
};

}  // namespace facts
