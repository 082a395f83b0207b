#include "facts/store/sqlite_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "facts/store/sqlite_checkpointer.hpp"
#include "facts/store/sqlite_key_table.hpp"
#include "facts/store/sqlite_readers.hpp"
#include "facts/store/sqlite_statement_use.hpp"

namespace facts {

namespace {

// "fact" in ASCII: marks a file as ours in the SQLite header, so we never adopt another file.
constexpr int application_id = 0x66616374;
constexpr int schema_version = 1;
// How long a connection waits for another of ours (opening, the WAL index) before failing.
constexpr int busy_timeout_ms = 5000;
// Read connections: reads by several threads at once (catch-up pages, replays) each get one.
constexpr int reader_connections = 4;
constexpr char const* locked_message =
    "database is locked by another process (is another factsd running on it?)";

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

[[noreturn]] void fail(std::string const& path, std::string const& why) {
  throw store_error("store sqlite:" + path + ": " + why);
}

std::string explain(SQLite::Exception const& e) {
  switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "database is locked by another process (is another factsd running on it?)";
    case SQLITE_NOTADB:
      return "file is not a SQLite database";
    case SQLITE_CORRUPT:
      return "database is corrupt: " + std::string(e.what());
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return "cannot open for writing: " + std::string(e.what());
    default:
      return e.what();
  }
}

}  // namespace

sqlite_store::sqlite_store(std::string path, sync_mode sync) : path_(std::move(path)), sync_(sync) {
  try {
    open_checked();
  } catch (SQLite::Exception const& e) {
    close_after_failure();
    fail(path_, explain(e));
  } catch (...) {
    close_after_failure();
    throw;
  }
}

void sqlite_store::close_after_failure() {
  checkpointer_.reset();
  readers_.reset();
  for (auto& insert : insert_facts_)
    insert.reset();
  key_table_.reset();
  begin_.reset();
  commit_.reset();
  read_json_.reset();
  db_.reset();
  if (file_fd_ >= 0) ::close(file_fd_);
  file_fd_ = -1;
}

sqlite_store::~sqlite_store() {
  checkpointer_.reset();
  readers_.reset();
  for (auto& insert : insert_facts_)  // a connection with live statements does not close
    insert.reset();
  key_table_.reset();
  begin_.reset();
  commit_.reset();
  read_json_.reset();
  db_.reset();  // the last connection: SQLite checkpoints and removes the WAL
  // Only now: closing any descriptor of the file drops this process's POSIX locks on it,
  // SQLite's included, so ours goes after every connection.
  if (file_fd_ >= 0) ::close(file_fd_);
}

void sqlite_store::open_checked() {
  namespace fs = std::filesystem;
  auto const dir = fs::absolute(path_).parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(path_, "folder " + dir.string() + " does not exist");
  // WAL mode writes files beside the database, so the folder itself must be writable.
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail(path_, "folder " + dir.string() + " is not writable");

  // Held for our whole life: a second factsd on the same file fails at once instead of
  // interleaving sequence numbers with us. An flock() of our own rather than SQLite's exclusive
  // locking mode, which would also shut out our own read connections.
  file_fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (file_fd_ < 0) fail(path_, std::string("cannot open for writing: ") + std::strerror(errno));
  if (::flock(file_fd_, LOCK_EX | LOCK_NB) != 0) fail(path_, locked_message);
  struct stat st {};
  if (::fstat(file_fd_, &st) != 0) fail(path_, std::string("cannot stat: ") + std::strerror(errno));
  file_dev_ = st.st_dev;
  file_ino_ = st.st_ino;

  // NOMUTEX: each connection is used by one thread at a time (the writer's under mutex_, a
  // reader while taken, the checkpointer's by its thread), so SQLite's lock around every call
  // on it (two per bind, per step) only cost time.
  db_ = std::make_unique<SQLite::Database>(
      path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX);
  db_->setBusyTimeout(busy_timeout_ms);
  // Read-only checks first, so a file that is not ours is never written to.
  auto const id = db_->execAndGet("PRAGMA application_id").getInt();
  auto const version = db_->execAndGet("PRAGMA user_version").getInt();
  auto const tables = db_->execAndGet("SELECT count(*) FROM sqlite_master").getInt();
  bool const fresh = id == 0 && version == 0 && tables == 0;
  if (!fresh && id != application_id) fail(path_, "file is not a factsd database");
  if (!fresh && version != schema_version)
    fail(path_, "schema version " + std::to_string(version) + " is not " +
                    std::to_string(schema_version) + " (written by another factsd version?)");
  if (!fresh) {
    auto check = db_->execAndGet("PRAGMA quick_check").getString();
    if (check != "ok") {
      // SQLite lists the damage over many lines; the daemon reports in one.
      std::replace(check.begin(), check.end(), '\n', ' ');
      if (check.size() > 200) check = check.substr(0, 200) + "...";
      fail(path_, "database is corrupt (" + check + ")");
    }
  }
  // Take the write lock now: this is where another process holding the file shows up.
  db_->exec("BEGIN IMMEDIATE; COMMIT");
  db_->exec("PRAGMA journal_mode = WAL");
  db_->exec(sync_ == sync_mode::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  // The WAL is checkpointed by our own thread, not by whichever commit crosses SQLite's
  // threshold, and cut back to wal_size_limit when it starts over: without a limit it keeps
  // the size of the largest batch ever committed until exit.
  db_->exec("PRAGMA journal_size_limit = " + std::to_string(wal_size_limit));
  db_->exec("PRAGMA wal_autocheckpoint = 0");
  if (fresh) create_schema();

  SQLite::Statement stats(*db_, "SELECT coalesce(max(seq), 0), count(*) FROM facts");
  stats.executeStep();
  last_seq_ = static_cast<std::uint64_t>(stats.getColumn(0).getInt64());
  count_ = static_cast<std::uint64_t>(stats.getColumn(1).getInt64());
  key_table_ = std::make_unique<sqlite_key_table>(*db_);
  key_table_->load_into(keys_, unix_now());
  begin_ = std::make_unique<SQLite::Statement>(*db_, "BEGIN");
  commit_ = std::make_unique<SQLite::Statement>(*db_, "COMMIT");
  read_json_ = std::make_unique<SQLite::Statement>(*db_, "SELECT json FROM facts WHERE seq = ?");
  // Opened now, while the path is surely ours.
  readers_ = std::make_unique<sqlite_readers>(path_, reader_connections, busy_timeout_ms);
  checkpointer_ = std::make_unique<sqlite_checkpointer>(path_, busy_timeout_ms, mutex_);
  checkpointer_->watch(*db_);
}

void sqlite_store::create_schema() {
  SQLite::Transaction tx(*db_);
  db_->exec(
      "CREATE TABLE facts ("
      "  seq INTEGER PRIMARY KEY,"
      "  json TEXT NOT NULL,"
      "  created INTEGER NOT NULL);"
      "CREATE TABLE idempotency_keys ("
      "  key TEXT PRIMARY KEY,"
      "  seq INTEGER NOT NULL REFERENCES facts(seq),"
      "  created INTEGER NOT NULL);"
      "CREATE INDEX idempotency_keys_created ON idempotency_keys(created);");
  db_->exec("PRAGMA application_id = " + std::to_string(application_id));
  db_->exec("PRAGMA user_version = " + std::to_string(schema_version));
  tx.commit();
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
  check_identity();
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
        throw store_error("store sqlite:" + path_ + ": append failed: SQLite gave seq " +
                          std::to_string(given) + ", not " + std::to_string(planned));
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
    throw store_error("store sqlite:" + path_ + ": append failed: " + e.what());
  }
  last_seq_ = plan.results[plan.created.back()].stored.seq;
  count_ += plan.created.size();
  commit_plan(plan, requests, keys_, now);
  hand_to_follower(lock, plan.results);
  return std::move(plan.results);
}

std::vector<fact> sqlite_store::read_after(std::uint64_t after, std::size_t max) const {
  // Seqs are stored as SQLite's signed 64-bit integers; none can lie beyond INT64_MAX.
  if (max == 0 || after >= static_cast<std::uint64_t>(INT64_MAX)) return {};
  try {
    return readers_->read_after(after, max);
  } catch (SQLite::Exception const& e) {
    throw store_error("store sqlite:" + path_ + ": read failed: " + e.what());
  }
}

std::vector<fact> sqlite_store::read_latest(std::size_t max) const {
  std::uint64_t after = 0;
  auto const last = last_seq_.load();
  if (max != 0 && last > max) after = last - max;
  return read_after(after, max == 0 ? SIZE_MAX : max);
}

std::uint64_t sqlite_store::last_seq() const {
  return last_seq_;
}

std::uint64_t sqlite_store::count() const {
  return count_;
}

std::string sqlite_store::problem() const {
  if (lost_) return "the database file " + path_ + " was deleted or replaced while in use";
  struct stat by_fd {};
  struct stat by_path {};
  bool const ours = ::fstat(file_fd_, &by_fd) == 0 && by_fd.st_nlink > 0 &&
                    ::stat(path_.c_str(), &by_path) == 0 && by_path.st_dev == file_dev_ &&
                    by_path.st_ino == file_ino_;
  if (ours) return {};
  // Facts committed from now on would go to a file no one will open again, and the next start
  // would begin at id 1: refuse them, and say so once.
  if (!lost_.exchange(true))
    spdlog::error(
        "[store] the database file {} was deleted or replaced while in use: "
        "refusing new facts; restart factsd once the file is back",
        path_);
  return "the database file " + path_ + " was deleted or replaced while in use";
}

void sqlite_store::check_identity() const {
  // Two system calls per commit, next to an fsync: cheap enough to do every time.
  if (auto why = problem(); !why.empty()) throw store_error("store sqlite:" + path_ + ": " + why);
}

std::string sqlite_store::describe() const {
  return std::string("sqlite:") + path_ +
         (sync_ == sync_mode::full ? " (sync full)" : " (sync normal)");
}

}  // namespace facts
