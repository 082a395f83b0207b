#pragma once

#include <string>

namespace SQLite {
class Database;
}  // namespace SQLite

namespace facts {

/// How long any connection of ours to a factsd database (the daemon's, a backup's) waits for
/// another one (opening, the WAL index) before failing.
inline constexpr int sqlite_busy_timeout_ms = 5000;

/**
 * Checks, reading only, that the file open on `db` is a factsd database of this schema version,
 * not damaged, or an empty file: a file that is not ours is never written to. Returns true for an
 * empty file (create_schema() next). Throws store_error naming `path` when the file is not ours,
 * of another version or corrupt.
 */
bool check_schema(SQLite::Database& db, std::string const& path);

/// Checks, reading only, that the file open on `db` is marked as a factsd database of this
/// schema version (its header's application_id and user_version); throws store_error naming
/// `path` when not, an empty file included. Reads no table: what a backup checks of its source.
void check_factsd_header(SQLite::Database& db, std::string const& path);

/// Creates the tables of an empty file and marks it as ours, in one transaction.
void create_schema(SQLite::Database& db);

}  // namespace facts
