#include "facts/store/sqlite_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace facts {

namespace {

// "fact" in ASCII: marks a file as ours in the SQLite header, so we never adopt another file.
constexpr int application_id = 0x66616374;
constexpr int schema_version = 1;

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
    db_.reset();
    fail(path_, explain(e));
  }
}

sqlite_store::~sqlite_store() = default;

void sqlite_store::open_checked() {
  namespace fs = std::filesystem;
  auto const dir = fs::absolute(path_).parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(path_, "folder " + dir.string() + " does not exist");
  // WAL mode writes files beside the database, so the folder itself must be writable.
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail(path_, "folder " + dir.string() + " is not writable");

  db_ = std::make_unique<SQLite::Database>(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  // Held for our whole life: a second factsd on the same file fails at once instead of
  // interleaving sequence numbers with us.
  db_->exec("PRAGMA locking_mode = EXCLUSIVE");
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
  if (fresh) create_schema();

  SQLite::Statement stats(*db_, "SELECT coalesce(max(seq), 0), count(*) FROM facts");
  stats.executeStep();
  last_seq_ = static_cast<std::uint64_t>(stats.getColumn(0).getInt64());
  count_ = static_cast<std::uint64_t>(stats.getColumn(1).getInt64());
  load_keys();
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

void sqlite_store::load_keys() {
  auto const now = unix_now();
  SQLite::Statement query(*db_,
                          "SELECT k.key, k.seq, f.json, k.created FROM idempotency_keys k "
                          "JOIN facts f ON f.seq = k.seq WHERE k.created >= ? "
                          "ORDER BY k.created, k.seq");
  query.bind(1, static_cast<std::int64_t>(now - idempotency_window_seconds));
  while (query.executeStep()) {
    keys_.remember(query.getColumn(0).getString(),
                   {{static_cast<std::uint64_t>(query.getColumn(1).getInt64()),
                     query.getColumn(2).getString()},
                    query.getColumn(3).getInt64()});
  }
}

std::vector<append_result> sqlite_store::append(std::vector<append_request> const& requests) {
  std::unique_lock lock(mutex_);
  auto const now = unix_now();
  auto plan = plan_append(requests, keys_, last_seq_, now);
  if (plan.created.empty()) return std::move(plan.results);
  try {
    SQLite::Transaction tx(*db_);
    bool keyed = false;
    SQLite::Statement insert_fact(*db_, "INSERT INTO facts (seq, json, created) VALUES (?, ?, ?)");
    SQLite::Statement insert_key(*db_,
                                 "INSERT OR REPLACE INTO idempotency_keys (key, seq, created) "
                                 "VALUES (?, ?, ?)");
    for (auto const i : plan.created) {
      auto const& stored = plan.results[i].stored;
      insert_fact.bind(1, static_cast<std::int64_t>(stored.seq));
      insert_fact.bind(2, stored.json);
      insert_fact.bind(3, now);
      insert_fact.exec();
      insert_fact.reset();
      if (requests[i].idempotency_key.empty()) continue;
      keyed = true;
      insert_key.bind(1, requests[i].idempotency_key);
      insert_key.bind(2, static_cast<std::int64_t>(stored.seq));
      insert_key.bind(3, now);
      insert_key.exec();
      insert_key.reset();
    }
    if (keyed) {
      // Keys expire after a day, and only the newest ones are kept. Both deletes walk only the
      // rows they remove: one by the `created` index, one by rowid, which grows with each insert.
      SQLite::Statement expire_old(*db_, "DELETE FROM idempotency_keys WHERE created < ?");
      expire_old.bind(1, now - idempotency_window_seconds);
      expire_old.exec();
      SQLite::Statement expire_many(*db_,
                                    "DELETE FROM idempotency_keys WHERE rowid <= "
                                    "(SELECT max(rowid) FROM idempotency_keys) - ?");
      expire_many.bind(1, static_cast<std::int64_t>(idempotency_max_keys));
      expire_many.exec();
    }
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
  std::lock_guard lock(mutex_);
  std::vector<fact> out;
  // Seqs are stored as SQLite's signed 64-bit integers; none can lie beyond INT64_MAX.
  if (max == 0 || after >= static_cast<std::uint64_t>(INT64_MAX)) return out;
  try {
    SQLite::Statement query(*db_, "SELECT seq, json FROM facts WHERE seq > ? ORDER BY seq LIMIT ?");
    query.bind(1, static_cast<std::int64_t>(after));
    query.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(max, INT64_MAX)));
    while (query.executeStep())
      out.push_back({static_cast<std::uint64_t>(query.getColumn(0).getInt64()),
                     query.getColumn(1).getString()});
  } catch (SQLite::Exception const& e) {
    throw store_error("store sqlite:" + path_ + ": read failed: " + e.what());
  }
  return out;
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

std::string sqlite_store::describe() const {
  return std::string("sqlite:") + path_ +
         (sync_ == sync_mode::full ? " (sync full)" : " (sync normal)");
}

}  // namespace facts
