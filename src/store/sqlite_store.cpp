#include "facts/store/sqlite_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>

#include "facts/store/append_plan.hpp"
#include "facts/store/sqlite_checkpointer.hpp"
#include "facts/store/sqlite_errors.hpp"
#include "facts/store/sqlite_key_table.hpp"
#include "facts/store/sqlite_readers.hpp"
#include "facts/store/sqlite_retention.hpp"
#include "facts/store/sqlite_schema.hpp"
#include "facts/store/sqlite_statement_use.hpp"

namespace facts {

namespace {

// Read connections: reads by several threads at once (catch-up pages, replays) each get one.
constexpr int reader_connections = 4;
// PRAGMA auto_vacuum's value for INCREMENTAL.
constexpr int incremental_vacuum = 2;

std::uint64_t file_size(std::string const& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

/** Represents a batch's transaction on prepared BEGIN and COMMIT (SQLite::Transaction parses
 * both each time, a few hundred instructions per batch): rolled back unless committed. */
class batch_transaction {
 public:
  batch_transaction(SQLite::Database& db, SQLite::Statement& begin, SQLite::Statement& commit)
      : db_(db), commit_(commit) {
    statement_use use(begin);
    use->exec();
  }
  batch_transaction(batch_transaction const&) = delete;
  batch_transaction& operator=(batch_transaction const&) = delete;
  ~batch_transaction() {
    if (committed_) return;
    try {
      db_.exec("ROLLBACK");
    } catch (SQLite::Exception const&) {
      // Nothing to undo: the transaction had not begun, or SQLite already rolled it back.
    }
  }
  void commit() {
    statement_use use(commit_);
    use->exec();
    committed_ = true;
  }

 private:
  SQLite::Database& db_;
  SQLite::Statement& commit_;
  bool committed_ = false;
};

}  // namespace

sqlite_store::sqlite_store(std::string path, sync_mode sync, retention_bounds retention)
    : path_(std::move(path)), sync_(sync), bounds_(retention), disk_(path_), file_(path_) {
  // On a throw, the members opened so far close in the order their declarations give.
  try {
    open();
  } catch (SQLite::Exception const& e) {
    throw sqlite_failure(path_, explain_sqlite_failure(e));
  }
}

sqlite_store::~sqlite_store() = default;

void sqlite_store::open() {
  // NOMUTEX: each connection is used by one thread at a time (the writer's under mutex_, a
  // reader while taken, the checkpointer's by its thread), so SQLite's lock around every call
  // on it (two per bind, per step) only cost time.
  db_ = std::make_unique<SQLite::Database>(
      path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
      sqlite_busy_timeout_ms);
  bool const fresh = check_schema(*db_, path_);
  // Before anything writes the file (the write lock below, the WAL's header): only a database
  // with no page yet takes it without a VACUUM. The pages of facts that retention removes go
  // back to the disk in steps (PRAGMA incremental_vacuum), not only to the file's free list.
  if (fresh) db_->exec("PRAGMA auto_vacuum = INCREMENTAL");
  // Take the write lock now: this is where another process holding the file shows up.
  db_->exec("BEGIN IMMEDIATE; COMMIT");
  db_->exec("PRAGMA journal_mode = WAL");
  db_->exec(sync_ == sync_mode::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  // The WAL is checkpointed by our own thread, not by whichever commit crosses SQLite's
  // threshold, and cut back to wal_size_limit when it starts over: without a limit it keeps
  // the size of the largest batch ever committed until exit.
  db_->exec("PRAGMA journal_size_limit = " + std::to_string(wal_size_limit));
  db_->exec("PRAGMA wal_autocheckpoint = 0");
  if (fresh) create_schema(*db_);
  if (!fresh && bounds_.any()) convert_to_incremental_vacuum();

  // Seqs are dense between the oldest and the newest row: retention removes only the oldest.
  SQLite::Statement stats(*db_, "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM facts");
  stats.executeStep();
  auto const first_stored = static_cast<std::uint64_t>(stats.getColumn(0).getInt64());
  last_seq_ = static_cast<std::uint64_t>(stats.getColumn(1).getInt64());
  first_seq_ = first_stored == 0 ? last_seq_ + 1 : first_stored;
  key_table_ = std::make_unique<sqlite_key_table>(*db_);
  key_table_->load_into(keys_, unix_now());
  begin_ = std::make_unique<SQLite::Statement>(*db_, "BEGIN");
  commit_ = std::make_unique<SQLite::Statement>(*db_, "COMMIT");
  read_json_ = std::make_unique<SQLite::Statement>(*db_, "SELECT json FROM facts WHERE seq = ?");
  // Before the readers: what a start finds beyond the bounds is deleted before any read.
  start_retention();
  // Opened now, while the path is surely ours.
  readers_ = std::make_unique<sqlite_readers>(path_, reader_connections, sqlite_busy_timeout_ms);
  checkpointer_ = std::make_unique<sqlite_checkpointer>(path_, sqlite_busy_timeout_ms, mutex_);
  checkpointer_->watch(*db_);
}

void sqlite_store::start_retention() {
  if (!bounds_.any()) return;
  std::uint64_t json_bytes = 0;
  if (bounds_.bytes != 0) {
    // Once per start, and only with a bytes bound: a read of every fact.
    json_bytes = static_cast<std::uint64_t>(
        db_->execAndGet("SELECT coalesce(sum(length(CAST(json AS BLOB))), 0) FROM facts")
            .getInt64());
  }
  auto const oldest_row = first_seq_.load();
  // Before the deleter's thread starts: from then on keys_ is only touched under mutex_.
  if (bounds_.facts != 0 && last_seq_ > bounds_.facts) keep_from(last_seq_ - bounds_.facts + 1);
  retention_ = std::make_unique<sqlite_retention>(
      path_, *db_, sync_ == sync_mode::full, mutex_, bounds_, oldest_row, last_seq_, json_bytes,
      [this](std::uint64_t first, std::uint64_t) { keep_from(first); });
}

void sqlite_store::convert_to_incremental_vacuum() {
  if (db_->execAndGet("PRAGMA auto_vacuum").getInt() == incremental_vacuum) return;
  auto const mib = (file_size(path_) + (1 << 20) - 1) >> 20;
  spdlog::info(
      "[store] {}: a one-time VACUUM rewrites the file ({} MiB; it needs as much free disk) with "
      "auto_vacuum = INCREMENTAL, so that the space of facts removed by retention goes back to "
      "the disk",
      path_, mib);
  db_->exec("PRAGMA auto_vacuum = INCREMENTAL");
  db_->exec("VACUUM");
  // The VACUUM went through the WAL: a copy of the whole file, given back now.
  db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  spdlog::info("[store] {}: VACUUM done", path_);
}

void sqlite_store::keep_from(std::uint64_t first) {
  if (first <= first_seq_) return;
  first_seq_ = first;
  keys_.forget_before(first);
}

std::optional<std::string> sqlite_store::read_json(std::uint64_t seq) {
  statement_use query(*read_json_);
  query->bind(1, static_cast<std::int64_t>(seq));
  if (!query->executeStep()) return std::nullopt;
  return query->getColumn(0).getString();
}

SQLite::Statement& sqlite_store::insert_facts_statement(std::size_t rows) {
  auto& insert = insert_facts_[rows];
  if (!insert) {
    // seq is left to SQLite, which gives each row the table's largest rowid plus one: checking
    // a given seq for a clash costs a B-tree search per row, finding the largest does not.
    // append() checks that the seqs SQLite gave are the planned ones. ?1 is `created`.
    std::string sql = "INSERT INTO facts (json, created) VALUES (?2, ?1)";
    for (std::size_t r = 1; r < rows; ++r)
      sql += ", (?" + std::to_string(r + 2) + ", ?1)";
    insert = std::make_unique<SQLite::Statement>(*db_, sql);
  }
  return *insert;
}

std::vector<append_result> sqlite_store::append(std::vector<append_request> const& requests) {
  std::unique_lock lock(mutex_);
  if (auto why = file_.problem(); !why.empty()) throw sqlite_failure(path_, why);
  auto const now = unix_now();
  auto plan = plan_append(requests, keys_, last_seq_, now,
                          [this](std::uint64_t seq) { return read_json(seq); });
  if (plan.created.empty()) return std::move(plan.results);
  try {
    batch_transaction tx(*db_, *begin_, *commit_);
    for (std::size_t done = 0; done < plan.created.size();) {
      auto const rows = std::min(max_rows_per_insert, plan.created.size() - done);
      {
        statement_use insert(insert_facts_statement(rows));
        insert->bind(1, now);
        for (std::size_t r = 0; r < rows; ++r)
          insert->bindNoCopy(static_cast<int>(r) + 2,
                             plan.results[plan.created[done + r]].stored.json);
        insert->exec();
      }
      done += rows;
      auto const planned = plan.results[plan.created[done - 1]].stored.seq;
      if (auto const given = db_->getLastInsertRowid(); given != static_cast<std::int64_t>(planned))
        throw sqlite_failure(path_, "append failed: SQLite gave seq " + std::to_string(given) +
                                        ", not " + std::to_string(planned));
    }
    bool keyed = false;
    for (auto const i : plan.created) {
      if (requests[i].idempotency_key.empty()) continue;
      keyed = true;
      key_table_->insert(requests[i].idempotency_key, plan.results[i].stored.seq, now);
    }
    // Keys expire after a day, and only the newest ones are kept.
    if (keyed) key_table_->expire(now);
    tx.commit();
  } catch (SQLite::Exception const& e) {
    // The transaction is rolled back and nothing below ran: no seq, key or fact of the batch
    // was taken, so the next commit goes on from last_seq_ without a gap.
    if (sqlite_disk_space::is_out_of_space(e, db_->getHandle())) {
      disk_.commit_failed(e.what());
      throw store_reported_error(sqlite_failure(path_, "the disk is full").what());
    }
    throw sqlite_failure(path_, std::string("append failed: ") + e.what());
  }
  disk_.commit_succeeded();
  last_seq_ = plan.results[plan.created.back()].stored.seq;
  commit_plan(plan, requests, keys_, now);
  if (retention_) {
    std::uint64_t bytes = 0;
    for (auto const i : plan.created)
      bytes += plan.results[i].stored.json.size();
    retention_->appended(last_seq_, bytes);
    keep_from(retention_->first_by_count(last_seq_));
  }
  hand_to_follower(lock, plan.results);
  return std::move(plan.results);
}

std::vector<fact> sqlite_store::read_after(std::uint64_t after, std::size_t max) const {
  // Seqs are stored as SQLite's signed 64-bit integers; none can lie beyond INT64_MAX.
  if (max == 0 || after >= static_cast<std::uint64_t>(INT64_MAX)) return {};
  // Rows before first_seq_ may still be in the table, waiting for the deleter.
  after = std::max(after, first_seq_.load() - 1);
  try {
    return readers_->read_after(after, max);
  } catch (SQLite::Exception const& e) {
    throw sqlite_failure(path_, std::string("read failed: ") + e.what());
  }
}

std::vector<fact> sqlite_store::read_latest(std::size_t max) const {
  std::uint64_t after = 0;
  auto const last = last_seq_.load();
  if (max != 0 && last > max) after = last - max;
  return read_after(after, max == 0 ? SIZE_MAX : max);
}

std::uint64_t sqlite_store::first_seq() const {
  return first_seq_;
}

retention_figures sqlite_store::retention() const {
  retention_figures out;
  out.stored_bytes = file_size(path_) + file_size(path_ + "-wal");
  if (retention_) {
    out.removed = retention_->removed();
    out.longest_step_ns = static_cast<std::uint64_t>(retention_->longest_step().count());
  }
  return out;
}

std::uint64_t sqlite_store::last_seq() const {
  return last_seq_;
}

std::uint64_t sqlite_store::count() const {
  // first_seq_ first: it never passes the last_seq_ read after it, plus one.
  auto const first = first_seq_.load();
  return last_seq_.load() + 1 - first;
}

std::string sqlite_store::problem() const {
  if (auto why = file_.problem(); !why.empty()) return why;
  return disk_.problem();
}

std::string sqlite_store::describe() const {
  return std::string(sqlite_url_prefix) + path_ +
         (sync_ == sync_mode::full ? " (sync full)" : " (sync normal)");
}

}  // namespace facts
