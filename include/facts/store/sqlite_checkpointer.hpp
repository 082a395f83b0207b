#pragma once

#include <SQLiteCpp/Database.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

struct sqlite3;

namespace facts {

/**
 * Represents the SQLite store's WAL checkpoint thread and its own connection. The writer's WAL
 * hook wakes it when a commit leaves the WAL past checkpoint_after_pages, so checkpoints run off
 * the commit path, never in a commit. Each checkpoint ends with a second pass under the writer's
 * lock, so that the next batch starts the WAL over even under steady load.
 */
class sqlite_checkpointer {
 public:
  /// Pages in the WAL after a commit beyond which the thread is woken: about SQLite's own
  /// default. Each checkpoint ends by holding appends off for two fsyncs, so not much more often
  /// than this.
  static constexpr int checkpoint_after_pages = 1024;

  /// Opens its connection to `path` and starts the thread. `appends` is the writer's lock, held
  /// for a checkpoint's last pass; it must outlive this.
  sqlite_checkpointer(std::string path, int busy_timeout_ms, std::mutex& appends);
  /// Stops and joins the thread, and lets go of the writer's hook.
  ~sqlite_checkpointer();

  sqlite_checkpointer(sqlite_checkpointer const&) = delete;
  sqlite_checkpointer& operator=(sqlite_checkpointer const&) = delete;

  /// Has the commits of `writer` (opened with wal_autocheckpoint = 0) wake the thread.
  void watch(SQLite::Database& writer);

 private:
  static int on_wal_commit(void* self, sqlite3* db, char const* name, int pages);
  void wake();
  void run();
  /// One PASSIVE checkpoint on this connection.
  void checkpoint_wal();

  std::string path_;
  std::mutex& appends_;
  SQLite::Database db_;         // used only by the thread
  sqlite3* watched_ = nullptr;  // the writer's connection, whose hook points here

  std::mutex mutex_;  // guards the two flags below
  std::condition_variable wake_;
  bool wanted_ = false;
  bool stopping_ = false;
  bool out_of_space_ = false;  // the last checkpoint failed for lack of space; only the thread
  std::thread thread_;         // last: started once everything it reads exists
};

}  // namespace facts
