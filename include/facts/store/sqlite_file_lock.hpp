#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace facts {

/**
 * Represents the SQLite store's own descriptor of its database file, held for the store's whole
 * life: flock()ed, so a second factsd on the same file is refused at once instead of interleaving
 * seqs with us, and fstat()ed against the path, so a file deleted or replaced under us is seen.
 * An flock() of our own rather than SQLite's exclusive locking mode, which would also shut out
 * the store's own read connections. Closing any descriptor of the file drops this process's
 * POSIX locks on it, SQLite's included: destroy this after every connection to the file.
 */
class sqlite_file_lock {
 public:
  /// Opens (creating it) and locks the file. Throws store_error when its folder is missing or
  /// not writable, or it cannot be opened, or another process holds it.
  explicit sqlite_file_lock(std::string path);
  ~sqlite_file_lock();

  sqlite_file_lock(sqlite_file_lock const&) = delete;
  sqlite_file_lock& operator=(sqlite_file_lock const&) = delete;

  /// Why facts must no longer be stored (the path no longer names the file we hold), or empty
  /// while they may. Once lost, always lost; logged once. Two system calls: cheap enough to call
  /// per commit, next to an fsync, and from any thread.
  std::string problem() const;

 private:
  std::string lost_message() const;

  std::string path_;
  int fd_ = -1;
  std::uint64_t dev_ = 0;
  std::uint64_t ino_ = 0;
  mutable std::atomic<bool> lost_{false};  // the file was deleted or replaced
};

}  // namespace facts
