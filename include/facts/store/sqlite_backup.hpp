#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace facts {

/** Represents what a backup of a SQLite store wrote. */
struct sqlite_backup_result {
  std::uint64_t facts = 0;     ///< facts in the copy
  std::uint64_t last_seq = 0;  ///< its newest id: a factsd started on it goes on from the next
  std::uint64_t bytes = 0;     ///< the copy's size
  std::chrono::milliseconds took{0};
};

/**
 * Writes a consistent copy of the factsd database `source` to `dest`, while a factsd may be
 * writing it: every fact committed before the copy began is in it. The copy is one VACUUM INTO
 * on a read-only connection, a single read transaction, which in WAL mode never holds the
 * writer back; it goes to a temporary file beside `dest`, is checked (quick_check), put in WAL
 * mode, synced, renamed to `dest` and the folder synced. Throws store_error with one line,
 * leaving `dest` as it was, when `source` is missing or not a factsd database, the folder of
 * `dest` is missing, or `dest` exists and `replace` is false.
 */
sqlite_backup_result backup_sqlite(std::string const& source, std::string const& dest,
                                   bool replace);

}  // namespace facts
