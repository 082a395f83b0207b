#include "facts/store/sqlite_key_table.hpp"

#include "facts/store/fact_store.hpp"
#include "facts/store/sqlite_statement_use.hpp"

namespace facts {

// Both deletes walk only the rows they remove: one by the `created` index, one by rowid, which
// grows with each insert.
sqlite_key_table::sqlite_key_table(SQLite::Database& writer)
    : writer_(writer),
      insert_(writer,
              "INSERT OR REPLACE INTO idempotency_keys (key, seq, created) VALUES (?, ?, ?)"),
      expire_old_(writer, "DELETE FROM idempotency_keys WHERE created < ?"),
      expire_many_(writer,
                   "DELETE FROM idempotency_keys WHERE rowid <= "
                   "(SELECT max(rowid) FROM idempotency_keys) - ?") {}

void sqlite_key_table::load_into(idempotency_keys& keys, std::int64_t now) {
  // Once per start: not worth keeping prepared.
  SQLite::Statement query(writer_,
                          "SELECT k.key, k.seq, f.json, k.created FROM idempotency_keys k "
                          "JOIN facts f ON f.seq = k.seq WHERE k.created >= ? "
                          "ORDER BY k.created, k.seq");
  query.bind(1, static_cast<std::int64_t>(now - idempotency_window_seconds));
  while (query.executeStep()) {
    // Only the hash of each body is kept; the body is read again if a replay needs it.
    auto const body = query.getColumn(2);
    keys.remember(query.getColumn(0).getString(),
                  {static_cast<std::uint64_t>(query.getColumn(1).getInt64()),
                   body_hash({static_cast<char const*>(body.getBlob()),
                              static_cast<std::size_t>(body.getBytes())}),
                   query.getColumn(3).getInt64()});
  }
}

void sqlite_key_table::insert(std::string const& key, std::uint64_t seq, std::int64_t now) {
  statement_use insert(insert_);
  insert->bindNoCopy(1, key);  // read by the exec below, before `key` can go
  insert->bind(2, static_cast<std::int64_t>(seq));
  insert->bind(3, now);
  insert->exec();
}

void sqlite_key_table::expire(std::int64_t now) {
  {
    statement_use expire_old(expire_old_);
    expire_old->bind(1, now - idempotency_window_seconds);
    expire_old->exec();
  }
  statement_use expire_many(expire_many_);
  expire_many->bind(1, static_cast<std::int64_t>(idempotency_max_keys));
  expire_many->exec();
}

}  // namespace facts
