#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "facts/fact.hpp"
#include "facts/fact_window.hpp"
#include "facts/limits.hpp"
#include "facts/seq_waiters.hpp"
#include "facts/sse.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/subscriber.hpp"

namespace facts {

/** Represents where a stream resumes, read from its Last-Event-ID header. */
struct resume_point {
  std::uint64_t after = 0;  ///< replay the facts with seq > after
  bool reset = false;       ///< the id was unusable: replay everything as a `reset` event
};

/**
 * Reads Last-Event-ID against the newest seq: absent means a new client (everything), a number
 * up to `last_seq` resumes after it, anything else (not a number, ahead of us) is a reset.
 */
resume_point parse_last_event_id(std::optional<std::string_view> header, std::uint64_t last_seq);

/** Represents a stream let in by broadcaster::join(): what it sends first, and from where on. */
struct joined_stream {
  frame snapshot;         ///< the first event, an array of the facts it lacks; null: see below
  std::uint64_t seq = 0;  ///< newest seq the stream gets before the live frames above it
  /// Set when the facts it lacks are too many for one snapshot, or older than the window: the
  /// stream reads the facts with seq in (*catch_up_after, seq] from the store in bounded chunks
  /// (catch_up_reader), the first as its snapshot array, the others as live events.
  std::optional<std::uint64_t> catch_up_after;
  bool reset = false;  ///< with catch_up_after: the first array is a `reset` event
};

/**
 * Represents the hub between stored facts and live streams: it keeps the newest facts for
 * replay, counts the open streams, decides what each new one sends first, and hands each new
 * batch, as one frame, to its subscribers (one per I/O thread, each serving its own streams).
 * It never touches a socket. Under its lock it only swaps pointers, counts and calls subscriber
 * methods, which merely post: snapshots are serialized outside it, from an immutable window.
 */
class broadcaster {
 public:
  /// Most facts a resuming client catches up from the store beyond the replay window; a client
  /// further behind gets a reset to the window instead.
  static constexpr std::uint64_t max_catch_up = 100'000;

  /// Most bytes of fact JSON a snapshot holds by default. Beyond, a stream catches up from the
  /// store in chunks instead (see joined_stream::catch_up_after), so no stream holds more.
  static constexpr std::size_t default_snapshot_bytes = 1024 * 1024;

  /// `recent`: facts already stored, oldest first. `replay_limit`: most facts a new client's
  /// snapshot holds, the newest ones (0 = all). `history`: where a client that resumes from
  /// before the window finds what it missed (nullptr: nowhere, it gets a reset; and then every
  /// snapshot is built whole, whatever its size). `snapshot_bytes`: see default_snapshot_bytes.
  broadcaster(std::vector<fact> recent, std::size_t replay_limit,
              fact_store const* history = nullptr,
              std::size_t snapshot_bytes = default_snapshot_bytes);

  broadcaster(broadcaster const&) = delete;
  broadcaster& operator=(broadcaster const&) = delete;

  /// Registers `sub` for every frame published from now on, every heartbeat and the shutdown.
  /// Registering the same subscriber twice registers it once.
  void attach(std::shared_ptr<subscriber> const& sub);

  /// Removes `sub`. Idempotent. Must not be called from inside a subscriber method.
  void detach(subscriber const* sub);

  /**
   * Lets one stream in: counts it and returns its snapshot and the seq it joins at, taken in
   * the same critical section as publish(), so the frames published later are exactly those
   * whose last_seq is above it. `last_event_id` is read against the newest seq under the same
   * lock (see parse_last_event_id). The snapshot is built after the lock is released, from the
   * window taken under it, and shared: once per seq for new clients and resets, once per seq
   * and id for resumes. Returns nothing once shutdown() has begun, or when limit_clients() is
   * reached. Every stream let in must leave() once.
   */
  std::optional<joined_stream> join(std::optional<std::string_view> last_event_id);

  /// Counts out a stream that join() let in.
  void leave();

  /// Most streams at once (0: no bound); join() refuses beyond it, under its lock, so
  /// concurrent connects cannot overshoot.
  void limit_clients(std::size_t max);

  /// True once shutdown() has begun: tells a refused join() from a full one.
  bool shutting_down() const;

  /// Fans out facts that are already stored, in seq order. Publishes are serialized among
  /// themselves; the next window is built before the hub's lock is taken.
  void publish(std::vector<fact> const& batch);

  /// Answers `done` once every fact up to `seq` is fanned out (at once when it already is), or
  /// with false at `deadline` or at shutdown(): how a POST waits for its fact to come back
  /// through the follower, and a resume for an id the log has but this instance not yet.
  void when_fanned_out(std::uint64_t seq, seq_waiters::clock::time_point deadline,
                       seq_waiters::callback done) {
    fanned_.when_reached(seq, deadline, std::move(done));
  }

  /// Gives every subscriber the shared heartbeat frame; each stream decides whether it was idle.
  void heartbeat();

  /// Closes every stream and refuses new ones.
  void shutdown();

  /// Streams open now, newest seq, snapshots serialized: read without the lock, so /status and
  /// /metrics never wait on a publish.
  std::size_t client_count() const { return clients_.load(std::memory_order_relaxed); }
  std::uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }
  /// Newest seq whose frame every subscriber has: the one when_fanned_out() waits for.
  std::uint64_t fanned_out_seq() const { return fanned_.current(); }
  std::uint64_t snapshots_built() const { return snapshots_built_.load(); }

 private:
  /** Represents a snapshot frame built for one seq (and one id, for resumes). */
  struct cached_frame {
    std::uint64_t seq = 0;
    std::uint64_t first = 0;  ///< its oldest fact: retention may move it without a publish
    frame bytes;
  };
  /** Represents what join() decided under the lock, to be built outside it. */
  struct admission;

  bool full_locked() const;
  admission admit_locked(std::optional<std::string_view> last_event_id);
  frame build(admission const& a);
  void remember(admission const& a, frame const& built);

  std::mutex publish_mutex_;  // serializes publish(): the window is built from the last one
  mutable std::mutex mutex_;  // guards every member below but the atomics
  std::shared_ptr<fact_window const> window_;  // swapped by publish(), never changed in place
  std::size_t replay_limit_;
  fact_store const* history_;  // read by the catch-up reader, never here; may be null
  std::size_t snapshot_bytes_;
  std::atomic<std::uint64_t> last_seq_{0};  // written under mutex_, read anywhere
  cached_frame full_snapshot_;              // for new clients at full_snapshot_.seq
  cached_frame reset_snapshot_;             // the `reset` one, the same facts
  std::unordered_map<std::uint64_t, frame> resume_snapshots_;  // by id, at resume_seq_
  std::uint64_t resume_seq_ = 0;
  std::atomic<std::uint64_t> snapshots_built_{0};
  frame heartbeat_frame_;
  bool shut_down_ = false;
  std::size_t max_clients_ = 0;
  std::atomic<std::size_t> clients_{0};  // changed under mutex_, read anywhere
  std::unordered_map<subscriber const*, std::weak_ptr<subscriber>> subscribers_;
  seq_waiters fanned_;  // woken after each publish, outside mutex_
};

}  // namespace facts
