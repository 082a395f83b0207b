#include "facts/store/sqlite_retention.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "facts/store/idempotency_keys.hpp"
#include "facts/store/sqlite_statement_use.hpp"

namespace facts {

namespace {

/** Represents the writer's connection committing without a sync for a while (if it syncs). */
class relaxed_sync {
 public:
  relaxed_sync(SQLite::Database& db, bool syncs_fully) : db_(db), restore_(syncs_fully) {
    if (restore_) db_.exec("PRAGMA synchronous = NORMAL");
  }
  relaxed_sync(relaxed_sync const&) = delete;
  relaxed_sync& operator=(relaxed_sync const&) = delete;
  ~relaxed_sync() {
    if (!restore_) return;
    try {
      db_.exec("PRAGMA synchronous = FULL");
    } catch (SQLite::Exception const& e) {
      // Outside a transaction this only fails when the connection is unusable, which the next
      // append reports.
      spdlog::error("[store] cannot set synchronous = FULL again: {}", e.what());
    }
  }

 private:
  SQLite::Database& db_;
  bool restore_;
};

// How often the thread looks without being woken: facts age out while none arrives, and the
// last few facts beyond the count bound (less than a step) go once publishing pauses.
constexpr std::chrono::seconds tick{1};

}  // namespace

// The statements run on the writer's connection, only under its lock. Keys are inserted in seq
// order (a key's rowid grows with its seq), so the keys of the removed facts are a prefix by
// rowid: the delete walks only those, with no index on seq.
sqlite_retention::sqlite_retention(std::string path, SQLite::Database& writer,
                                   bool writer_syncs_fully, std::mutex& appends,
                                   retention_bounds bounds, std::uint64_t first_stored,
                                   std::uint64_t last_seq, std::uint64_t json_bytes,
                                   removed_fn on_removed)
    : path_(std::move(path)),
      writer_(writer),
      writer_syncs_fully_(writer_syncs_fully),
      appends_(appends),
      bounds_(bounds),
      on_removed_(std::move(on_removed)),
      begin_(writer, "BEGIN"),
      commit_(writer, "COMMIT"),
      oldest_rows_(writer,
                   "SELECT seq, created, length(CAST(json AS BLOB)) FROM facts WHERE seq >= ? "
                   "ORDER BY seq LIMIT ?"),
      delete_facts_(writer, "DELETE FROM facts WHERE seq < ?"),
      delete_keys_(writer,
                   "DELETE FROM idempotency_keys WHERE rowid < coalesce("
                   "(SELECT rowid FROM idempotency_keys WHERE seq >= ?1 ORDER BY rowid LIMIT 1),"
                   " (SELECT coalesce(max(rowid), 0) + 1 FROM idempotency_keys))"),
      free_pages_(writer, "PRAGMA freelist_count"),
      give_back_pages_(writer,
                       "PRAGMA incremental_vacuum(" + std::to_string(reserve_free_pages) + ")"),
      first_stored_(first_stored),
      first_kept_(first_stored),
      last_seq_(last_seq),
      json_bytes_(json_bytes) {
  // What a start finds beyond the bounds goes now, before anything else uses the file: the
  // first read of a fresh read connection failed with a disk I/O error when it met a step's
  // commit (seen twice, right after a start).
  while (step()) {
  }
  thread_ = std::thread([this] { run(); });
}

sqlite_retention::~sqlite_retention() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::uint64_t sqlite_retention::first_by_count(std::uint64_t last_seq) const {
  return bounds_.facts != 0 && last_seq > bounds_.facts ? last_seq - bounds_.facts + 1 : 1;
}

void sqlite_retention::appended(std::uint64_t last_seq, std::uint64_t json_bytes) {
  last_seq_ = last_seq;
  json_bytes_ += json_bytes;
  if (!work_waiting()) return;
  {
    std::lock_guard lock(mutex_);
    wanted_ = true;
  }
  wake_.notify_one();
}

bool sqlite_retention::work_waiting() const {
  // A step's worth at once, not every fact: each step is a commit of its own. What is less
  // than a step goes at the next tick.
  if (bounds_.facts != 0 && first_by_count(last_seq_) >= first_kept_ + step_rows) return true;
  return bounds_.bytes != 0 && json_bytes_ > bounds_.bytes + bounds_.bytes / 64;
}

void sqlite_retention::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, tick, [this] { return stopping_ || wanted_; });
      if (stopping_) return;
      wanted_ = false;
    }
    try {
      for (bool more = true; more;) {
        auto const started = std::chrono::steady_clock::now();
        more = step();
        // Between steps the writer gets the lock at least as long as a step held it: a backlog
        // (a lowered bound, a start on a big file) never takes more than half of it.
        std::unique_lock lock(mutex_);
        if (more && wake_.wait_for(
                        lock,
                        std::max(std::chrono::steady_clock::now() - started,
                                 std::chrono::steady_clock::duration(std::chrono::milliseconds(1))),
                        [this] { return stopping_; }))
          return;
      }
    } catch (SQLite::Exception const& e) {
      spdlog::warn("[store] deleting facts beyond the retention bounds from {} failed: {}", path_,
                   e.what());
    }
  }
}

std::uint64_t sqlite_retention::step_end(std::int64_t now, std::uint64_t& bytes) {
  auto const by_count = first_by_count(last_seq_);
  auto const cap = first_kept_ + step_rows;
  bytes = 0;
  if (bounds_.age.count() == 0 && bounds_.bytes == 0)
    return std::max(first_kept_, std::min(by_count, cap));
  // The age and bytes bounds need the oldest rows themselves.
  auto end = first_kept_;
  auto const too_old = now - bounds_.age.count();
  statement_use rows(oldest_rows_);
  rows->bind(1, static_cast<std::int64_t>(first_kept_));
  rows->bind(2, static_cast<std::int64_t>(step_rows));
  while (rows->executeStep()) {
    auto const seq = static_cast<std::uint64_t>(rows->getColumn(0).getInt64());
    auto const created = rows->getColumn(1).getInt64();
    auto const size = static_cast<std::uint64_t>(rows->getColumn(2).getInt64());
    bool const over_bytes =
        bounds_.bytes != 0 && json_bytes_ > bytes && json_bytes_ - bytes > bounds_.bytes;
    bool const goes =
        seq < by_count || (bounds_.age.count() != 0 && created < too_old) || over_bytes;
    if (!goes) break;
    bytes += size;
    end = seq + 1;
  }
  return end;
}

bool sqlite_retention::step() {
  std::lock_guard hold(appends_);
  auto const started = std::chrono::steady_clock::now();
  std::uint64_t bytes = 0;
  auto const end = step_end(unix_now(), bytes);
  // The newest row stays, even once it is no longer served: SQLite gives the next row the
  // largest rowid plus one, and an empty table would give ids again from 1.
  auto const stored_end = std::min(end, last_seq_);
  std::int64_t free_pages = 0;
  {
    statement_use count(free_pages_);
    if (count->executeStep()) free_pages = count->getColumn(0).getInt64();
  }
  bool const deletes = stored_end > first_stored_;
  bool const gives_back = free_pages > 2 * reserve_free_pages;
  if (deletes || gives_back) {
    // A step's commit is not synced: a deletion lost to a power cut is only done again, and the
    // writer's next synced commit syncs the WAL up to it. Only the commits of facts wait for
    // the disk, and a step holds them off for its own work alone.
    relaxed_sync relaxed(writer_, writer_syncs_fully_);
    {
      statement_use begin(begin_);
      begin->exec();
    }
    try {
      if (deletes) {
        statement_use facts(delete_facts_);
        facts->bind(1, static_cast<std::int64_t>(stored_end));
        facts->exec();
        statement_use keys(delete_keys_);
        keys->bind(1, static_cast<std::int64_t>(end));
        keys->exec();
      }
      if (gives_back) {
        // Each row it returns is a page given back; it runs to the end to give them all.
        statement_use pages(give_back_pages_);
        while (pages->executeStep()) {
        }
      }
      statement_use commit(commit_);
      commit->exec();
    } catch (SQLite::Exception const&) {
      try {
        writer_.exec("ROLLBACK");
      } catch (SQLite::Exception const&) {
        // Already rolled back by SQLite.
      }
      throw;
    }
    if (deletes) first_stored_ = stored_end;
  }
  auto const removed = end - first_kept_;
  if (removed != 0) {
    first_kept_ = end;
    json_bytes_ = json_bytes_ > bytes ? json_bytes_ - bytes : 0;
    removed_ += removed;
    on_removed_(end, removed);
  }
  auto const took = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  if (took > longest_.load()) longest_ = took;
  return removed == step_rows || work_waiting();
}

}  // namespace facts
