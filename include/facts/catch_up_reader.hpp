#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/limits.hpp"
#include "facts/store/fact_store.hpp"

namespace facts {

/** Represents the shape a catch-up chunk is serialized in. */
enum class chunk_form {
  events,       ///< one live event per fact: any prefix of them may be sent
  array,        ///< one snapshot event (a JSON array): a stream's first event
  reset_array,  ///< the same, of type `reset`
};

/**
 * Represents consecutive stored facts read for streams that catch up, serialized once and
 * shared by reference by every stream that sends them.
 */
struct catch_up_chunk {
  std::uint64_t first_seq = 0;  ///< seq of the first fact; 0 when the chunk is empty
  std::uint64_t last_seq = 0;
  std::string bytes;              ///< the events, or the one snapshot event
  std::vector<std::size_t> ends;  ///< events: ends[i] is where the event of first_seq + i ends

  bool empty() const { return first_seq == 0; }
  /// Events: the length of the prefix up to seq `seq` (first_seq <= seq <= last_seq); a
  /// snapshot event is sent whole.
  std::size_t bytes_through(std::uint64_t seq) const {
    return ends.empty() ? bytes.size() : ends[seq - first_seq];
  }
};

/**
 * Represents the few threads that read the store for streams that catch up, off the I/O
 * threads and outside the broadcaster's lock. A read is for the facts after a seq, at most
 * `chunk_bytes` of JSON (always at least one fact); concurrent and later requests for the same
 * seq share one read and one chunk while any stream still holds it, so a reconnect storm with
 * thousands of identical Last-Event-IDs costs one read per chunk. The chunks alive are bounded
 * in total by `budget_bytes`: past it, reads wait until streams have sent theirs (or given them
 * back, as a stream slower than catch_up_floor_bytes_per_second does). A stream's first chunk
 * (its snapshot array, at most resume_snapshot_bytes) is read before any other and may go a
 * quarter of the budget beyond it: streams that hold the budget never keep a new client from
 * its first event.
 */
class catch_up_reader {
 public:
  /// Called on a reader thread, or at once on the caller's thread when the chunk is shared;
  /// null when the store failed. Must only post.
  using done_fn = std::function<void(std::shared_ptr<catch_up_chunk const>)>;

  static constexpr std::size_t default_chunk_bytes = 256 * 1024;
  static constexpr std::size_t default_budget_bytes = 64 * 1024 * 1024;

  catch_up_reader(fact_store const& store, std::size_t chunk_bytes = default_chunk_bytes,
                  std::size_t budget_bytes = default_budget_bytes, unsigned threads = 1);
  ~catch_up_reader();

  catch_up_reader(catch_up_reader const&) = delete;
  catch_up_reader& operator=(catch_up_reader const&) = delete;

  /// Asks for the facts after `after` as events, at most `bytes` of their JSON (0: the
  /// reader's chunk_bytes); `done` runs exactly once, unless the reader stops first.
  void read(std::uint64_t after, done_fn done, std::size_t bytes = 0);

  /// Asks for the facts after `after`, up to `until`, as one snapshot event whose id is the
  /// newest fact in it (the first event of a stream that catches up). Shared by the streams
  /// with the same three arguments: a reconnect storm's.
  void read_first(std::uint64_t after, std::uint64_t until, bool reset, done_fn done);

  /// Bytes of the chunks alive now (held by streams), and store reads done: for tests, /metrics.
  std::size_t bytes_held() const { return budget_->held.load(); }
  /// Reads queued and not started (waiting for a thread or for the budget).
  std::size_t reads_waiting() const;
  std::uint64_t reads() const { return reads_.load(); }

 private:
  /** Represents what a chunk's deleter gives back; outlives the reader if a chunk does. */
  struct budget {
    std::atomic<std::size_t> held{0};
    std::mutex mutex;  // taken only to wake the readers
    std::condition_variable freed;
  };

  /** Represents what a read is for: it is shared between the streams with the same. */
  struct request {
    std::uint64_t after = 0;
    std::uint64_t until = 0;  ///< 0: as far as the byte bound goes (events)
    chunk_form form = chunk_form::events;
    std::size_t bytes = 0;  ///< the byte bound; 0: chunk_bytes
    friend auto operator<=>(request const&, request const&) = default;
  };

  void ask(request what, done_fn done);
  void run();
  /// The next read the budget allows, first chunks first; nullopt when none may start now.
  std::optional<request> next_allowed();
  std::shared_ptr<catch_up_chunk const> read_chunk(request what);

  fact_store const& store_;
  std::size_t chunk_bytes_;
  std::size_t budget_bytes_;
  std::shared_ptr<budget> budget_;
  std::atomic<std::uint64_t> reads_{0};

  mutable std::mutex mutex_;  // guards the members below
  std::condition_variable wake_;
  std::deque<request> firsts_;                                     // first chunks to read
  std::deque<request> queue_;                                      // other reads, oldest first
  std::map<request, std::vector<done_fn>> waiting_;                // queued or being read
  std::map<request, std::weak_ptr<catch_up_chunk const>> shared_;  // read, maybe still held
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: they start once the members above exist
};

}  // namespace facts
