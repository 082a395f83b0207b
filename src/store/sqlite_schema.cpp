#include "facts/store/sqlite_schema.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>

#include "facts/store/sqlite_errors.hpp"

namespace facts {

namespace {

// "fact" in ASCII: marks a file as ours in the SQLite header, so we never adopt another file.
constexpr int application_id = 0x66616374;
constexpr int schema_version = 1;
// Most characters of SQLite's list of damage quoted in the one-line error.
constexpr std::size_t max_damage_text = 200;

}  // namespace

bool check_schema(SQLite::Database& db, std::string const& path) {
  auto const id = db.execAndGet("PRAGMA application_id").getInt();
  auto const version = db.execAndGet("PRAGMA user_version").getInt();
  auto const tables = db.execAndGet("SELECT count(*) FROM sqlite_master").getInt();
  bool const fresh = id == 0 && version == 0 && tables == 0;
  if (fresh) return true;
  check_factsd_header(db, path);
  auto check = db.execAndGet("PRAGMA quick_check").getString();
  if (check != "ok") {
    // SQLite lists the damage over many lines; the daemon reports in one.
    std::replace(check.begin(), check.end(), '\n', ' ');
    if (check.size() > max_damage_text) check = check.substr(0, max_damage_text) + "...";
    throw sqlite_failure(path, "database is corrupt (" + check + ")");
  }
  return false;
}

void check_factsd_header(SQLite::Database& db, std::string const& path) {
  if (db.execAndGet("PRAGMA application_id").getInt() != application_id)
    throw sqlite_failure(path, "file is not a factsd database");
  auto const version = db.execAndGet("PRAGMA user_version").getInt();
  if (version != schema_version)
    throw sqlite_failure(path, "schema version " + std::to_string(version) + " is not " +
                                   std::to_string(schema_version) +
                                   " (written by another factsd version?)");
}

void create_schema(SQLite::Database& db) {
  SQLite::Transaction tx(db);
  db.exec(
      "CREATE TABLE facts ("
      "  seq INTEGER PRIMARY KEY,"
      "  json TEXT NOT NULL,"
      "  created INTEGER NOT NULL);"
      "CREATE TABLE idempotency_keys ("
      "  key TEXT PRIMARY KEY,"
      "  seq INTEGER NOT NULL REFERENCES facts(seq),"
      "  created INTEGER NOT NULL);"
      "CREATE INDEX idempotency_keys_created ON idempotency_keys(created);");
  db.exec("PRAGMA application_id = " + std::to_string(application_id));
  db.exec("PRAGMA user_version = " + std::to_string(schema_version));
  tx.commit();
}

}  // namespace facts
