#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the SQLite store's read connections, each with its read statement prepared once. A
 * WAL reader sees the last commit and never takes the writer's lock, so reads go on while a
 * commit waits for its fsync. A connection and its statements are used by one thread at a time,
 * the one that took it from the idle ones; a caller finding none idle waits for one. Failures are
 * thrown as SQLite::Exception, for the store to word.
 */
class sqlite_readers {
 public:
  /// Opens `connections` read-only connections to `path`. Call it while the path is surely the
  /// store's file: each connection keeps reading that file even if the path is later deleted or
  /// replaced, and none is ever opened again by path.
  sqlite_readers(std::string const& path, int connections, int busy_timeout_ms);
  ~sqlite_readers();

  sqlite_readers(sqlite_readers const&) = delete;
  sqlite_readers& operator=(sqlite_readers const&) = delete;

  /// At most `max` facts with seq > `after`, oldest first. Seqs are SQLite's signed 64-bit
  /// integers: `after` must be below INT64_MAX (the store answers beyond it itself).
  std::vector<fact> read_after(std::uint64_t after, std::size_t max) const;

 private:
  /** Represents one read connection and the statements prepared on it. */
  struct connection;
  /** Represents a connection taken from the idle ones, given back however its use ends. */
  class lease;

  mutable std::mutex mutex_;  // guards idle_
  mutable std::condition_variable returned_;
  mutable std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace facts
