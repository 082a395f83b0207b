#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "facts/store/append_plan.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/store/idempotency_keys.hpp"
#include "facts/store/sync_mode.hpp"

namespace SQLite {
class Database;
}

namespace facts {

/**
 * Represents the durable store: one SQLite file in WAL mode, held exclusively by this process.
 * Each append() is one transaction, so a batch of facts costs one sync.
 */
class sqlite_store final : public fact_store {
 public:
  /// Opens or creates the database. Throws store_error, leaving the file as it was, when it is
  /// not a factsd database, is corrupt, is held by another process or cannot be written.
  sqlite_store(std::string path, sync_mode sync);
  ~sqlite_store() override;

  using fact_store::append;
  std::vector<append_result> append(std::vector<append_request> const& requests) override;
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const override;
  std::vector<fact> read_latest(std::size_t max) const override;
  std::uint64_t last_seq() const override;
  std::uint64_t count() const override;
  std::string describe() const override;

 private:
  void open_checked();
  void create_schema();
  void load_keys();

  std::string path_;
  sync_mode sync_;
  mutable std::mutex mutex_;  // guards everything below: one connection, used by one at a time
  std::unique_ptr<SQLite::Database> db_;
  // Written under mutex_, read without it: /status must not wait for a commit's fsync.
  std::atomic<std::uint64_t> last_seq_{0};
  std::atomic<std::uint64_t> count_{0};
  idempotency_keys keys_;  // the table's live rows, for lookups without a query
};

}  // namespace facts
