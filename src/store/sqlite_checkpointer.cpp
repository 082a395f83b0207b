#include "facts/store/sqlite_checkpointer.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "facts/store/sqlite_disk_space.hpp"

namespace facts {

// NOMUTEX: the connection is used by the thread alone, so SQLite's lock around every call on it
// would only cost time.
sqlite_checkpointer::sqlite_checkpointer(std::string path, int busy_timeout_ms, std::mutex& appends)
    : path_(std::move(path)),
      appends_(appends),
      db_(path_, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, busy_timeout_ms),
      thread_([this] { run(); }) {}

sqlite_checkpointer::~sqlite_checkpointer() {
  if (watched_ != nullptr) sqlite3_wal_hook(watched_, nullptr, nullptr);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void sqlite_checkpointer::watch(SQLite::Database& writer) {
  watched_ = writer.getHandle();
  sqlite3_wal_hook(watched_, &on_wal_commit, this);
}

// Called by SQLite after each commit on the writer's connection, on the committing thread, with
// the WAL's size in pages.
int sqlite_checkpointer::on_wal_commit(void* self, sqlite3*, char const*, int pages) {
  if (pages >= checkpoint_after_pages) static_cast<sqlite_checkpointer*>(self)->wake();
  return SQLITE_OK;
}

void sqlite_checkpointer::wake() {
  {
    std::lock_guard lock(mutex_);
    wanted_ = true;
  }
  wake_.notify_one();
}

void sqlite_checkpointer::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || wanted_; });
      if (stopping_) return;
      wanted_ = false;
    }
    // PASSIVE: copies what no reader still needs and never blocks the writer. Only a
    // transaction that begins once everything is copied starts the WAL over (and cuts it to
    // the store's wal_size_limit). Under steady load the writer begins its next batch before
    // any checkpoint ends, so the WAL would grow on: each commit extending the file (an inode
    // write in its fsync) and waking another checkpoint (two more fsyncs). So a second pass,
    // copying the few frames committed during the first, runs with appends held off: the
    // next batch starts the WAL over.
    try {
      checkpoint_wal();
      std::lock_guard hold_appends(appends_);
      checkpoint_wal();
      out_of_space_ = false;
    } catch (SQLite::Exception const& e) {
      // On a full disk every checkpoint fails alike until space is back (the commits say so
      // themselves): said once. The WAL keeps every frame, so nothing is lost meanwhile.
      bool const no_space = sqlite_disk_space::is_out_of_space(e, db_.getHandle());
      if (!no_space || !out_of_space_)
        spdlog::warn("[store] WAL checkpoint of {} failed: {}", path_, e.what());
      out_of_space_ = no_space;
    }
  }
}

void sqlite_checkpointer::checkpoint_wal() {
  // As a statement, not sqlite3_wal_checkpoint_v2(): a connection that has read nothing yet
  // has not opened the WAL, and the call would do nothing at all.
  db_.execAndGet("PRAGMA wal_checkpoint(PASSIVE)");
}

}  // namespace facts
