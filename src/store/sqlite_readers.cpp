#include "facts/store/sqlite_readers.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cstdint>

#include "facts/store/sqlite_statement_use.hpp"

namespace facts {

struct sqlite_readers::connection {
  // NOMUTEX: one thread at a time uses a connection (the one holding its lease), so SQLite's
  // lock around every call on it (two per bind, per step) would only cost time.
  connection(std::string const& path, int busy_timeout_ms)
      : db(path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, busy_timeout_ms),
        read_after(db, "SELECT seq, json FROM facts WHERE seq > ? ORDER BY seq LIMIT ?") {}

  SQLite::Database db;
  // Declared after db, so finalized before it closes: a connection with live statements does
  // not close.
  SQLite::Statement read_after;
};

class sqlite_readers::lease {
 public:
  explicit lease(sqlite_readers const& pool) : pool_(pool) {
    std::unique_lock lock(pool_.mutex_);
    // All busy: wait for one (a read takes milliseconds), rather than open another by path,
    // which might open another file if ours was replaced.
    pool_.returned_.wait(lock, [this] { return !pool_.idle_.empty(); });
    taken_ = std::move(pool_.idle_.back());
    pool_.idle_.pop_back();
  }
  lease(lease const&) = delete;
  lease& operator=(lease const&) = delete;
  ~lease() {
    {
      std::lock_guard lock(pool_.mutex_);
      pool_.idle_.push_back(std::move(taken_));
    }
    pool_.returned_.notify_one();
  }

  connection* operator->() const { return taken_.get(); }

 private:
  sqlite_readers const& pool_;
  std::unique_ptr<connection> taken_;
};

sqlite_readers::sqlite_readers(std::string const& path, int connections, int busy_timeout_ms) {
  for (int i = 0; i < connections; ++i)
    idle_.push_back(std::make_unique<connection>(path, busy_timeout_ms));
}

sqlite_readers::~sqlite_readers() = default;

std::vector<fact> sqlite_readers::read_after(std::uint64_t after, std::size_t max) const {
  lease reader(*this);
  // Declared after the lease, so reset before the connection is given back: an idle connection
  // holds no read transaction.
  statement_use query(reader->read_after);
  query->bind(1, static_cast<std::int64_t>(after));
  query->bind(2, static_cast<std::int64_t>(std::min<std::size_t>(max, INT64_MAX)));
  std::vector<fact> out;
  while (query->executeStep())
    out.push_back({static_cast<std::uint64_t>(query->getColumn(0).getInt64()),
                   query->getColumn(1).getString()});
  return out;
}

}  // namespace facts
