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
  frame snapshot;         ///< the first event: the stored facts it lacks, as one JSON array
  std::uint64_t seq = 0;  ///< newest seq the snapshot covers: live frames above it follow
};

/**
 * Represents the hub between stored facts and live streams: it keeps the newest facts for
 * replay, counts the open streams, builds their snapshots, and hands each new batch, as one
 * frame, to its subscribers (one per I/O thread, each serving its own streams). It never
 * touches a socket; under its lock it only calls subscriber methods, which merely post.
 */
class broadcaster {
 public:
  /// Most facts a resuming client catches up from the store beyond the replay window; a client
  /// further behind gets a reset to the window instead.
  static constexpr std::uint64_t max_catch_up = 100'000;

  /// Store reads one catch-up may take while the window keeps moving, before it gives up and
  /// sends a reset. Each read only covers what the window left behind since the last one.
  static constexpr int max_catch_up_reads = 8;

  /// `recent`: facts already stored, oldest first. `replay_limit`: most facts a new client's
  /// snapshot holds, the newest ones (0 = all). `history`: where a client that resumes from
  /// before the window finds what it missed (nullptr: nowhere, it gets a reset).
  broadcaster(std::vector<fact> recent, std::size_t replay_limit,
              fact_store const* history = nullptr);

  broadcaster(broadcaster const&) = delete;
  broadcaster& operator=(broadcaster const&) = delete;

  /// Registers `sub` for every frame published from now on, every heartbeat and the shutdown.
  /// Registering the same subscriber twice registers it once.
  void attach(std::shared_ptr<subscriber> const& sub);

  /// Removes `sub`. Idempotent. Must not be called from inside a subscriber method.
  void detach(subscriber const* sub);

  /**
   * Lets one stream in: counts it and returns its snapshot and the seq that snapshot ends at,
   * read in the same critical section as publish(), so the frames published later are exactly
   * those whose last_seq is above it. `last_event_id` is read against the newest seq under the
   * same lock (see parse_last_event_id). Returns nothing once shutdown() has begun, or when
   * limit_clients() is reached. Every stream let in must leave() once.
   */
  std::optional<joined_stream> join(std::optional<std::string_view> last_event_id);

  /// Counts out a stream that join() let in.
  void leave();

  /// Most streams at once (0: no bound); join() refuses beyond it, under its lock, so
  /// concurrent connects cannot overshoot.
  void limit_clients(std::size_t max);

  /// True once shutdown() has begun: tells a refused join() from a full one.
  bool shutting_down() const;

  /// Fans out facts that are already stored, in seq order; called by one writer at a time.
  void publish(std::vector<fact> const& batch);

  /// Gives every subscriber the shared heartbeat frame; each stream decides whether it was idle.
  void heartbeat();

  /// Closes every stream and refuses new ones.
  void shutdown();

  /// Streams open now; read without the lock, so /status never waits on a publish.
  std::size_t client_count() const { return clients_.load(std::memory_order_relaxed); }
  std::uint64_t last_seq() const;

  /// How many snapshot frames were serialized: once per seq for new clients, not per client.
  std::uint64_t snapshots_built() const;

 private:
  frame snapshot_locked(resume_point from, std::vector<fact> const& older);
  std::uint64_t window_start_locked() const;
  bool full_locked() const;
  joined_stream admit_locked(resume_point from, std::vector<fact> const& older);

  mutable std::mutex mutex_;  // guards every member below but clients_
  std::deque<fact> recent_;   // newest facts, oldest first, at most replay_limit_ (0: no bound)
  std::size_t replay_limit_;
  fact_store const* history_;  // read outside mutex_ (it has its own lock); may be null
  std::uint64_t last_seq_ = 0;
  frame full_snapshot_;   // cached snapshot for new clients; reset by publish()
  frame reset_snapshot_;  // cached `reset` snapshot (the whole window); reset by publish()
  std::uint64_t snapshots_built_ = 0;
  frame heartbeat_frame_;
  bool shut_down_ = false;
  std::size_t max_clients_ = 0;
  std::atomic<std::size_t> clients_{0};  // changed under mutex_, read anywhere
  std::unordered_map<subscriber const*, std::weak_ptr<subscriber>> subscribers_;
};

}  // namespace facts
