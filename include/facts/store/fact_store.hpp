#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "facts/fact.hpp"

namespace facts {

/** Represents a failure of the storage backend; the facts of the failed call were not stored. */
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/** Represents a store failure the store has logged already, once for as long as it lasts (a full
 * disk): whoever catches it refuses the facts without logging each refusal. */
class store_reported_error : public store_error {
 public:
  using store_error::store_error;
};

/** Represents one fact to store, with the client's Idempotency-Key (empty: none). */
struct append_request {
  std::string json;
  std::string idempotency_key;
};

/** Represents what became of one append_request. */
struct append_result {
  enum class outcome {
    created,   ///< stored now under `stored.seq`
    replayed,  ///< the key was seen with the same body: `stored` is the fact stored then
    conflict,  ///< the key was seen with another body: nothing stored, `stored` is empty
    /// the shared log did not acknowledge it in time (no quorum, unreachable): it may still be
    /// stored, so the client retries with the same Idempotency-Key; `stored` is empty
    unavailable,
  };
  outcome what = outcome::created;
  fact stored;
};

/// How long, and how many, Idempotency-Keys are remembered.
inline constexpr std::int64_t idempotency_window_seconds = 24 * 60 * 60;
inline constexpr std::size_t idempotency_max_keys = 100'000;

/** Represents how the log looks from this instance, for /status, /healthz and /metrics. */
struct log_health {
  bool reachable = true;       ///< false: the log cannot be reached now
  std::string error;           ///< why not, when not reachable
  std::uint64_t last_seq = 0;  ///< the log's newest seq as this instance knows it
  /// Publish attempts by what came back from the log (shared logs only; 0 for local stores).
  std::uint64_t acked = 0, duplicate = 0, timeout = 0, no_quorum = 0;
  /// Seqs whose payload in the log was not a valid fact (log_payloads; shared logs only).
  std::uint64_t invalid = 0;
};

/** Represents what retention did to a store, for /metrics. */
struct retention_figures {
  std::uint64_t removed = 0;          ///< facts removed by retention (see the store)
  std::uint64_t stored_bytes = 0;     ///< what the store takes: its files, its memory, its stream
  std::uint64_t longest_step_ns = 0;  ///< the longest a deletion held appends off (sqlite:)
};

/// Receives what became of one request given to fact_store::append_async().
using append_callback = std::function<void(append_result)>;

/// Receives facts just stored, in seq order, each batch starting at the seq after the last one.
using follower = std::function<void(std::vector<fact> const&)>;

/**
 * Represents where facts live. Sequence numbers are assigned here: consecutive, starting at 1,
 * never reused. Implementations are safe to call from several threads.
 */
class fact_store {
 public:
  virtual ~fact_store() = default;

  /// Stores the requests in order as one unit (one transaction, one sync) and says what became
  /// of each. A key repeated within the batch behaves as if sent in two calls. Throws
  /// store_error, in which case none of them is stored.
  virtual std::vector<append_result> append(std::vector<append_request> const& requests) = 0;

  /// True for a shared log, where an append waits a network round trip: it takes requests one
  /// at a time through append_async() and keeps many in flight. A local store group-commits
  /// through append(), one call at a time.
  virtual bool appends_async() const { return false; }

  /// True when append() never waits on a disk or a network (memory:): the writer may then run a
  /// batch on the thread that submits it, rather than wake its own thread for it.
  virtual bool appends_without_waiting() const { return false; }

  /// Starts storing `request` and returns without waiting for it; `answered` runs once, on a
  /// thread of the store, with what became of it. Here: append() on the caller's thread, which
  /// may throw store_error (nothing stored, `answered` not called).
  virtual void append_async(append_request request, append_callback answered);

  /// At most `max` facts with seq > `after`, oldest first.
  virtual std::vector<fact> read_after(std::uint64_t after, std::size_t max) const = 0;

  /// The newest `max` facts (0 = all), oldest first.
  virtual std::vector<fact> read_latest(std::size_t max) const = 0;

  virtual std::uint64_t last_seq() const = 0;
  /// Facts kept: last_seq() - first_seq() + 1, seqs being dense between them.
  virtual std::uint64_t count() const = 0;

  /// The oldest seq kept; last_seq() + 1 when none is (nothing stored yet, or all removed).
  /// Moves up as retention removes the oldest facts (never down: seqs are not reused). Cheap:
  /// the hub reads it on every join and publish.
  virtual std::uint64_t first_seq() const { return last_seq() - count() + 1; }

  /// Facts removed by retention and the store's size, for /metrics.
  virtual retention_figures retention() const { return {}; }

  /// The newest seq in the log, asked of the log itself: on a shared log, last_seq() is what
  /// this instance has seen (acks, what it followed), which lags what other instances stored.
  /// May wait up to a request timeout of the store's (a round trip to the log), so never call it
  /// on an I/O thread. Throws store_error when the log does not answer. Here: last_seq(), for a
  /// store that is its own log.
  virtual std::uint64_t log_newest_seq() const { return last_seq(); }

  /// What the logs call this store, e.g. "memory:".
  virtual std::string describe() const = 0;

  /// Why the store cannot take facts any more (e.g. its file was deleted), or empty while it
  /// can: /healthz answers 503 with it. Cheap enough to call per request.
  virtual std::string problem() const { return {}; }

  /// Stores facts without keys; returns them with their seqs.
  std::vector<fact> append(std::vector<std::string> const& jsons);

  /// At most `max` facts with seq > `after`, oldest first, stopping before the fact that would
  /// take their JSON past `max_bytes`, but always at least one when there is one: a page whose
  /// size a reader controls only through `max` could hold `max` facts of the largest size.
  /// Reads in small steps, so no more than one step beyond the bound is ever held.
  std::vector<fact> read_bounded(std::uint64_t after, std::size_t max, std::size_t max_bytes) const;

  /// Starts handing every fact stored from now on, from seq `after + 1`, to `on_stored`, in
  /// seq order, whichever instance stored it: the one road from the log to the streams. A local
  /// store calls it from append(), on the appending thread, once committed; a shared log calls
  /// it from its own thread. Called once, before the first append.
  virtual void follow(std::uint64_t after, follower on_stored);

  /// Stops calling the follower; when it returns, no call is running or will start.
  virtual void stop_following();

  /// The log as this instance sees it. A local store is its own log: always reachable.
  virtual log_health health() const;

 protected:
  /// For local stores, at the end of append(): hands the created facts of `results` to the
  /// follower outside `store_lock` (released here), yet in the order the appends committed.
  void hand_to_follower(std::unique_lock<std::mutex>& store_lock,
                        std::vector<append_result> const& results);

 private:
  std::mutex follow_mutex_;  // guards on_stored_; held while it runs, so calls stay in order
  follower on_stored_;
};

}  // namespace facts
