#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "facts/store/fact_store.hpp"

namespace facts {

class broadcaster;

/**
 * Represents the one way POSTs reach the store: facts submitted from any thread are stored in
 * the order submitted, then acknowledged once the log's follower has fanned them out through
 * the hub. A committer never publishes itself, so a fact posted here and one posted on another
 * instance take one road, and a fact is never acknowledged before every stream here has it.
 * Each kind of store commits its own way (see make_committer); the routes see only this.
 */
class committer {
 public:
  /// Called exactly once with what became of the fact, or nullopt when nothing was stored (the
  /// store failed, or the committer is stopped). On whichever thread completed it; must not
  /// block.
  using completion = std::function<void(std::optional<append_result>)>;

  /** Represents one fact to store and what to do with its result. */
  struct submission {
    append_request request;
    completion done;
  };

  virtual ~committer() = default;

  /// Queues several facts, in order; each `done` runs exactly once. After stop(), each runs
  /// with nullopt at once.
  virtual void submit_all(std::vector<submission> batch) = 0;

  /// Queues one fact, as submit_all() does.
  void submit(append_request request, completion done);

  /// Whether the facts of one submit_all() are answered one by one, each when its own
  /// acknowledgement comes (a shared log), rather than all at about the same time (a batch
  /// stored in one transaction): then one slow fact must not hold the others' answers.
  virtual bool answers_each_alone() const { return false; }

  /// Stores and answers everything already submitted, then refuses what comes later. Returns
  /// false when something is still under way at `deadline` (a commit stuck in the disk): the
  /// committer must then not be destroyed, and the caller ends the process instead.
  virtual bool stop(std::chrono::steady_clock::time_point deadline) = 0;
};

/// The committer for `store`, chosen by how its appends wait (fact_store::appends_async,
/// appends_without_waiting). `fan_out_timeout`: how long a stored fact may take to come back
/// through the hub before its POST answers `unavailable` (--publish-timeout).
std::unique_ptr<committer> make_committer(fact_store& store, broadcaster& hub,
                                          std::chrono::milliseconds fan_out_timeout);

}  // namespace facts
