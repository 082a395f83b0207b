#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <string>

#include "facts/store/idempotency_keys.hpp"

namespace facts {

/**
 * Represents the idempotency_keys table of the SQLite store: the Idempotency-Keys of the last 24
 * hours (at most the newest idempotency_max_keys), each with the seq it stored, so that they
 * outlive a restart. Its statements are prepared once on the writer's connection and used only by
 * the thread holding the writer's lock, inside the batch's transaction.
 */
class sqlite_key_table {
 public:
  /// Prepares the statements on `writer`, which must outlive this and hold the table.
  explicit sqlite_key_table(SQLite::Database& writer);

  /// Reads the live keys into `keys`, oldest first, with a hash of each one's fact.
  void load_into(idempotency_keys& keys, std::int64_t now);

  /// Stores `key` for the fact `seq`, created at `now` (unix seconds).
  void insert(std::string const& key, std::uint64_t seq, std::int64_t now);

  /// Deletes the keys older than idempotency_window_seconds and those beyond the newest
  /// idempotency_max_keys, as idempotency_keys forgets them.
  void expire(std::int64_t now);

 private:
  SQLite::Database& writer_;
  SQLite::Statement insert_;
  SQLite::Statement expire_old_;
  SQLite::Statement expire_many_;
};

}  // namespace facts
