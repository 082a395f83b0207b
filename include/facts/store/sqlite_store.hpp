#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "facts/store/fact_store.hpp"
#include "facts/store/idempotency_keys.hpp"
#include "facts/store/retention_bounds.hpp"
#include "facts/store/sqlite_disk_space.hpp"
#include "facts/store/sqlite_file_lock.hpp"
#include "facts/store/sync_mode.hpp"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace facts {

class sqlite_checkpointer;
class sqlite_key_table;
class sqlite_readers;
class sqlite_retention;

/// How a SQLite store's URL begins (`sqlite:PATH`), and how it names itself.
inline constexpr std::string_view sqlite_url_prefix = "sqlite:";

/**
 * Represents the durable store: one SQLite file in WAL mode, held exclusively by this process.
 * Each append() is one transaction, so a batch of facts costs one sync. Reads use connections
 * of their own (sqlite_readers), so they never wait behind a commit's fsync; the WAL is
 * checkpointed by a thread of its own (sqlite_checkpointer), off the commit path, and kept to
 * wal_size_limit. Facts beyond the retention bounds are deleted by another (sqlite_retention);
 * those beyond the count bound are no longer served from the commit that passed it on.
 */
class sqlite_store final : public fact_store {
 public:
  /// Size the WAL file is cut back to once checkpointed (PRAGMA journal_size_limit): after a
  /// burst it holds at most this on disk. While a commit runs, the WAL also holds that batch.
  static constexpr std::int64_t wal_size_limit = 8 * 1024 * 1024;

  /// Opens or creates the database. Throws store_error, leaving the file as it was, when it is
  /// not a factsd database, is corrupt, is held by another process or cannot be written, or its
  /// disk is full. With retention bounds, a file made without auto_vacuum = INCREMENTAL is
  /// converted first (one VACUUM, logged), so that the space of removed facts goes back to the
  /// disk.
  sqlite_store(std::string path, sync_mode sync, retention_bounds retention = {});
  ~sqlite_store() override;

  using fact_store::append;
  /// Throws store_error, storing nothing, once the file was deleted or replaced (see problem()),
  /// and store_reported_error, storing nothing, when the disk is full.
  std::vector<append_result> append(std::vector<append_request> const& requests) override;
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const override;
  std::vector<fact> read_latest(std::size_t max) const override;
  std::uint64_t last_seq() const override;
  std::uint64_t count() const override;
  std::uint64_t first_seq() const override;
  /// Removed facts, and the bytes of the database file and its WAL.
  retention_figures retention() const override;
  std::string describe() const override;
  std::string problem() const override;

 private:
  void open();
  /// With bounds: deletes what is beyond them now, then starts the deleter's thread.
  void start_retention();
  /// Switches a file made by an older factsd to auto_vacuum = INCREMENTAL; see the constructor.
  void convert_to_incremental_vacuum();
  /// Under mutex_: moves first_seq_ up to `first` and forgets the keys of the facts before it.
  void keep_from(std::uint64_t first);
  /// The JSON of the stored fact `seq`, for a replay; on the writer's connection.
  std::optional<std::string> read_json(std::uint64_t seq);
  /// The INSERT of `rows` facts (1 to max_rows_per_insert), prepared on first use.
  SQLite::Statement& insert_facts_statement(std::size_t rows);

  // Members are destroyed bottom up, and the order matters: the checkpoint thread (which takes
  // mutex_) and every other connection before the writer's, whose close checkpoints and removes
  // the WAL; each statement before its connection, which does not close with live statements;
  // the file lock after every connection.
  std::string path_;
  sync_mode sync_;
  retention_bounds bounds_;
  sqlite_disk_space disk_;  // first to be built: a start on a full disk opens nothing
  sqlite_file_lock file_;

  // Guards the writer's connection, its statements and keys_: one writer at a time. The
  // checkpoint thread also holds it for a checkpoint's last pass, so that no commit comes in
  // between.
  std::mutex mutex_;
  std::unique_ptr<SQLite::Database> db_;
  // Prepared once, not per batch: preparing them cost about a microsecond per fact. A batch's
  // facts go in max_rows_per_insert at a time: a statement per row cost as much again in
  // SQLite's per-statement work as the row itself. insert_facts_[n] inserts n rows, prepared
  // when first needed.
  static constexpr std::size_t max_rows_per_insert = 32;
  std::array<std::unique_ptr<SQLite::Statement>, max_rows_per_insert + 1> insert_facts_;
  std::unique_ptr<SQLite::Statement> begin_;
  std::unique_ptr<SQLite::Statement> commit_;
  std::unique_ptr<SQLite::Statement> read_json_;
  std::unique_ptr<sqlite_key_table> key_table_;
  idempotency_keys keys_;  // the table's live rows (seq and body hash), for lookups
  // Written under mutex_, read without it: /status must not wait for a commit's fsync.
  std::atomic<std::uint64_t> last_seq_{0};
  // The oldest fact served: reads start here, though older rows may still wait for a step of
  // the deleter.
  std::atomic<std::uint64_t> first_seq_{1};

  std::unique_ptr<sqlite_readers> readers_;
  std::unique_ptr<sqlite_checkpointer> checkpointer_;
  std::unique_ptr<sqlite_retention> retention_;  // null without bounds; takes mutex_
};

}  // namespace facts
