#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "facts/store/retention_bounds.hpp"

namespace facts {

/**
 * Represents the SQLite store's deleter: a thread that removes the oldest facts beyond the
 * retention bounds, with their Idempotency-Keys, in small steps on the writer's connection. Each
 * step is one short transaction under the writer's lock (at most step_rows facts), so a commit
 * of POSTs waits for one step at most, never for a whole backlog. Free pages beyond a small
 * reserve go back to the file system (auto_vacuum = INCREMENTAL), so the file stops growing.
 */
class sqlite_retention {
 public:
  /// Most facts one step deletes: well under a few milliseconds under the writer's lock.
  static constexpr std::uint64_t step_rows = 500;
  /// Free pages kept for the next inserts rather than given back: about 1 MiB of 4 KiB pages.
  static constexpr std::int64_t reserve_free_pages = 256;

  /// Called under the writer's lock once a step committed: the facts before `first_kept` are
  /// gone, `removed` of them by this step.
  using removed_fn = std::function<void(std::uint64_t first_kept, std::uint64_t removed)>;

  /// Prepares its statements on `writer`, deletes what is beyond the bounds now (in steps), and
  /// starts the thread. `appends` is the writer's lock,
  /// held for each step; both must outlive this. `writer_syncs_fully`: the writer commits with
  /// synchronous = FULL, which a step turns off for its own commit. `first_stored`, `last_seq` and
  /// `json_bytes` are the table's as opened (json_bytes: counted only with a bytes bound).
  sqlite_retention(std::string path, SQLite::Database& writer, bool writer_syncs_fully,
                   std::mutex& appends, retention_bounds bounds, std::uint64_t first_stored,
                   std::uint64_t last_seq, std::uint64_t json_bytes, removed_fn on_removed);
  /// Stops and joins the thread; a step under way ends first.
  ~sqlite_retention();

  sqlite_retention(sqlite_retention const&) = delete;
  sqlite_retention& operator=(sqlite_retention const&) = delete;

  /// Under the writer's lock, after a commit: the newest seq now, and the JSON bytes added.
  /// Wakes the thread once a step's worth is beyond the bounds.
  void appended(std::uint64_t last_seq, std::uint64_t json_bytes);

  /// The oldest seq the count bound keeps once `last_seq` is stored (1 without one).
  std::uint64_t first_by_count(std::uint64_t last_seq) const;

  std::uint64_t removed() const { return removed_.load(); }
  /// The longest a step held the writer's lock, for /metrics and the tests.
  std::chrono::nanoseconds longest_step() const {
    return std::chrono::nanoseconds(longest_.load());
  }

 private:
  void run();
  /// One step under the writer's lock; returns true when there may be more to delete.
  bool step();
  /// Where the step that starts now ends (exclusive), reading the oldest rows when the age or
  /// bytes bound asks; sets `bytes` to the JSON bytes of the rows before it.
  std::uint64_t step_end(std::int64_t now, std::uint64_t& bytes);
  bool work_waiting() const;

  std::string path_;
  SQLite::Database& writer_;  // used only under appends_
  bool writer_syncs_fully_;
  std::mutex& appends_;
  retention_bounds bounds_;
  removed_fn on_removed_;
  // On the writer's connection, used only under appends_.
  SQLite::Statement begin_;
  SQLite::Statement commit_;
  SQLite::Statement oldest_rows_;
  SQLite::Statement delete_facts_;
  SQLite::Statement delete_keys_;
  SQLite::Statement free_pages_;
  SQLite::Statement give_back_pages_;

  // Guarded by appends_ (the writer's lock).
  std::uint64_t first_stored_;  // the oldest row in the table
  std::uint64_t first_kept_;    // the oldest row served: the newest row stays, even past it
  std::uint64_t last_seq_;
  std::uint64_t json_bytes_;  // of the rows in the table; counted only with a bytes bound

  std::atomic<std::uint64_t> removed_{0};
  std::atomic<std::int64_t> longest_{0};

  std::mutex mutex_;  // guards the two flags below
  std::condition_variable wake_;
  bool wanted_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything it reads exists and the start's steps ran
};

}  // namespace facts
