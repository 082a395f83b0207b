#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

struct sqlite3;

namespace SQLite {
class Exception;
}  // namespace SQLite

namespace facts {

/**
 * Represents whether the disk of the SQLite store has room for its commits. A commit that fails
 * for lack of space makes it full: logged once, and /healthz answers 503 with it (through
 * sqlite_store::problem()). It is no longer full once the folder has min_free_bytes more room
 * than at the failure, as the next commit that succeeds or the next /healthz finds; that is
 * logged once too. Nothing is retried here: every POST simply tries its commit, so facts are
 * taken again without a restart.
 */
class sqlite_disk_space {
 public:
  /// Least room in the database's folder for factsd to start, and how much room must come back
  /// (beyond what was left when a commit failed) before /healthz says the space is back: a
  /// commit of one fact writes a few pages to the WAL, and the WAL index needs 32 KiB.
  static constexpr std::uint64_t min_free_bytes = 1024 * 1024;

  /// Throws store_error when the folder of `path` has less than min_free_bytes available, so a
  /// start on a full disk touches nothing. A folder that cannot be asked is left to the checks
  /// that open the file.
  explicit sqlite_disk_space(std::string path);

  sqlite_disk_space(sqlite_disk_space const&) = delete;
  sqlite_disk_space& operator=(sqlite_disk_space const&) = delete;

  /// Whether `e`, thrown by a call on `db`, means the disk is full: SQLITE_FULL (SQLite's word
  /// for ENOSPC on a write), or an I/O error whose system errno is ENOSPC or EDQUOT (growing a
  /// file with ftruncate or fallocate, the WAL index).
  static bool is_out_of_space(SQLite::Exception const& e, sqlite3* db);

  /// A commit failed for lack of space (`why`: SQLite's words). Logged at error the first time.
  void commit_failed(std::string const& why);

  /// A commit succeeded: if the disk was full, checks whether the room is back.
  void commit_succeeded();

  /// Why no fact can be taken now (the disk is full), or empty. Lock-free while not full;
  /// while full, asks the folder for its free bytes (one statvfs) and ends the state when the
  /// room is back.
  std::string problem() const;

 private:
  /// Bytes an unprivileged process may still write in the folder; 0 when it cannot be asked.
  std::uint64_t available_bytes() const;
  /// Leaves the full state (logged once) when the folder has min_free_bytes more available than
  /// at the failure; true when not full any more.
  bool end_if_room_is_back() const;

  std::string path_;
  std::string dir_;
  // Read lock-free by problem(); changed under mutex_ (problem() may end the full state).
  mutable std::atomic<bool> full_{false};
  mutable std::mutex mutex_;  // guards the changes of full_, and available_at_failure_
  std::uint64_t available_at_failure_ = 0;
};

}  // namespace facts
