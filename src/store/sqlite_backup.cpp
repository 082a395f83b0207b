#include "facts/store/sqlite_backup.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "facts/store/sqlite_errors.hpp"
#include "facts/store/sqlite_schema.hpp"

namespace facts {

namespace {

namespace fs = std::filesystem;

std::string system_error(std::string const& what, std::string const& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

/** Represents the temporary file beside the destination: removed (with a WAL SQLite may have
 * left beside it) unless it was renamed into place. */
class temporary_copy {
 public:
  explicit temporary_copy(fs::path const& dest) {
    auto pattern =
        (dest.parent_path() / ("." + dest.filename().string() + ".backup-XXXXXX")).string();
    int const fd = ::mkstemp(pattern.data());
    if (fd < 0) throw store_error(system_error("cannot create a file beside", dest.string()));
    ::close(fd);
    path_ = pattern;
  }
  ~temporary_copy() {
    if (kept_) return;
    std::error_code ignored;
    for (auto const* suffix : {"", "-wal", "-shm", "-journal"})
      fs::remove(path_ + suffix, ignored);
  }
  temporary_copy(temporary_copy const&) = delete;
  temporary_copy& operator=(temporary_copy const&) = delete;

  std::string const& path() const { return path_; }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
};

void sync_path(std::string const& path, int flags) {
  int const fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw store_error(system_error("cannot open", path));
  int const rc = ::fsync(fd);
  int const err = errno;
  ::close(fd);
  errno = err;
  if (rc != 0) throw store_error(system_error("cannot sync", path));
}

/// Checks the copy and puts it in WAL mode, as factsd keeps its file; returns its figures.
sqlite_backup_result check_copy(std::string const& path) {
  SQLite::Database copy(path, SQLite::OPEN_READWRITE);
  if (auto const check = copy.execAndGet("PRAGMA quick_check").getString(); check != "ok")
    throw store_error("the copy " + path + " failed its check: " + check.substr(0, 200));
  copy.exec("PRAGMA journal_mode = WAL");
  SQLite::Statement stats(copy, "SELECT coalesce(max(seq), 0), count(*) FROM facts");
  stats.executeStep();
  sqlite_backup_result result;
  result.last_seq = static_cast<std::uint64_t>(stats.getColumn(0).getInt64());
  result.facts = static_cast<std::uint64_t>(stats.getColumn(1).getInt64());
  return result;
}

void check_paths(fs::path const& source, fs::path const& dest, bool replace) {
  std::error_code ec;
  if (!fs::is_regular_file(source, ec))
    throw store_error("source " + source.string() + " does not exist or is not a file");
  if (!fs::is_directory(dest.parent_path(), ec))
    throw store_error("folder " + dest.parent_path().string() + " does not exist");
  if (fs::is_directory(dest, ec)) throw store_error(dest.string() + " is a folder");
  if (fs::exists(dest, ec) && fs::equivalent(source, dest, ec))
    throw store_error(dest.string() + " is the source itself");
  if (fs::exists(dest, ec) && !replace)
    throw store_error(dest.string() + " exists; give --force to replace it");
}

}  // namespace

sqlite_backup_result backup_sqlite(std::string const& source, std::string const& dest,
                                   bool replace) {
  auto const started = std::chrono::steady_clock::now();
  auto const dest_path = fs::absolute(dest);
  check_paths(source, dest_path, replace);
  temporary_copy copy(dest_path);
  try {
    // Read-only: a backup never changes the source, and when no factsd holds it, closing this
    // connection does not checkpoint or remove its WAL.
    SQLite::Database db(source, SQLite::OPEN_READONLY, sqlite_busy_timeout_ms);
    check_factsd_header(db, source);
    // One statement, one read transaction: the copy is the database as of its start. SQLite's
    // backup API from another process starts over at every commit the writer makes: in small
    // steps under steady publishing it took 36 s where this took 1.5 s (docs/design.md).
    SQLite::Statement vacuum(db, "VACUUM INTO ?");
    vacuum.bind(1, copy.path());
    try {
      vacuum.exec();
    } catch (SQLite::Exception const& e) {
      // Most often DEST's disk (full): say which file it was.
      throw store_error("cannot write the copy " + copy.path() + ": " + explain_sqlite_failure(e));
    }
  } catch (SQLite::Exception const& e) {
    throw sqlite_failure(source, explain_sqlite_failure(e));
  }
  sqlite_backup_result result;
  try {
    result = check_copy(copy.path());
  } catch (SQLite::Exception const& e) {
    throw store_error("the copy " + copy.path() + ": " + explain_sqlite_failure(e));
  }
  sync_path(copy.path(), O_RDONLY);
  // RENAME_NOREPLACE: a DEST made meanwhile is refused too, not replaced.
  if (::renameat2(AT_FDCWD, copy.path().c_str(), AT_FDCWD, dest_path.c_str(),
                  replace ? 0 : RENAME_NOREPLACE) != 0)
    throw store_error(errno == EEXIST
                          ? dest_path.string() + " exists; give --force to replace it"
                          : system_error("cannot rename the copy to", dest_path.string()));
  copy.keep();
  sync_path(dest_path.parent_path().string(), O_RDONLY | O_DIRECTORY);
  result.bytes = fs::file_size(dest_path);
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return result;
}

}  // namespace facts
