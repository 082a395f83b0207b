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
 * thread are appended in batches (group commit) on the writer's own thread, then acknowledged
 * once the log's follower (see fact_store::follow) has fanned them out here: the writer never
 * publishes itself, so a fact posted here and one posted on another instance take one road. A
 * fact is never seen by a stream before it is stored, and never acknowledged before it is
 * fanned out.
 */
class fact_writer {
 public:
  /// Called on the writer thread with what became of the fact, or nullopt when the store
  /// failed or the writer is stopped (nothing was stored).
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

  /// Stores and acknowledges everything already submitted, then ends the thread. Returns false
  /// when a commit is still under way at `deadline`: the thread is left running, and the
  /// writer must then not be destroyed (the caller ends the process instead).
  bool stop(std::chrono::steady_clock::time_point deadline);

  /// From the follower, after the broadcaster published up to `seq`: wakes the acknowledgements
  /// waiting for it.
  void fanned_out(std::uint64_t seq);

 private:
  void run();
  void commit(std::vector<submission>& batch);
  void wait_fanned_out(std::vector<append_result>& results,
                       std::chrono::steady_clock::time_point started);

  fact_store& store_;
  broadcaster& hub_;
  std::mutex mutex_;                  // guards queue_, stopping_ and done_
  std::condition_variable wake_;      // signalled on submit and stop
  std::condition_variable finished_;  // signalled when the thread is done
  std::vector<submission> queue_;
  bool stopping_ = false;
  bool done_ = false;  // the thread has stored everything and is ending
  std::chrono::milliseconds fan_out_timeout_;
  std::mutex fanned_mutex_;              // guards fanned_seq_
  std::condition_variable fanned_wake_;  // signalled by fanned_out()
  std::uint64_t fanned_seq_ = 0;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace facts
