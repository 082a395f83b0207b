#include "facts/store/sqlite_disk_space.hpp"

#include <SQLiteCpp/Exception.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <filesystem>

#include "facts/store/sqlite_errors.hpp"

namespace facts {

namespace {

std::string kib(std::uint64_t bytes) {
  return std::to_string(bytes / 1024) + " KiB";
}

}  // namespace

sqlite_disk_space::sqlite_disk_space(std::string path)
    : path_(std::move(path)), dir_(std::filesystem::absolute(path_).parent_path().string()) {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) return;
  auto const available = std::uint64_t{st.f_bavail} * st.f_frsize;
  if (available < min_free_bytes)
    throw sqlite_failure(path_, "no space left on the disk: " + kib(available) + " free in " +
                                    dir_ + ", factsd needs " + kib(min_free_bytes) +
                                    " to commit; free some space and start it again");
}

bool sqlite_disk_space::is_out_of_space(SQLite::Exception const& e, sqlite3* db) {
  // The primary code, whether or not the connection reports extended ones.
  auto const code = e.getErrorCode() & 0xff;
  if (code == SQLITE_FULL) return true;
  if (code != SQLITE_IOERR || db == nullptr) return false;
  auto const err = sqlite3_system_errno(db);
  return err == ENOSPC || err == EDQUOT;
}

void sqlite_disk_space::commit_failed(std::string const& why) {
  std::lock_guard lock(mutex_);
  if (full_) return;
  available_at_failure_ = available_bytes();
  full_ = true;
  spdlog::error(
      "[store] {}: no space left on the disk ({}; {} free): POSTs answer 503 and store "
      "nothing until the disk has room again",
      path_, why, kib(available_at_failure_));
}

void sqlite_disk_space::commit_succeeded() {
  if (full_.load(std::memory_order_relaxed)) end_if_room_is_back();
}

std::string sqlite_disk_space::problem() const {
  // A load balancer that took us out on /healthz sends no POST that could find the space back:
  // room that came back in the folder is enough to be taken in again.
  if (!full_ || end_if_room_is_back()) return {};
  return "the disk of " + path_ +
         " is full: a commit failed for lack of space, and the room has "
         "not come back";
}

bool sqlite_disk_space::end_if_room_is_back() const {
  auto const available = available_bytes();
  std::lock_guard lock(mutex_);
  if (!full_) return true;
  // A small batch may still fit where a larger one failed (the failed write left its pages in
  // the WAL file): that alone is not the space back, and would log an end and a new start of
  // the same outage.
  if (available < available_at_failure_ + min_free_bytes) return false;
  full_ = false;
  spdlog::info("[store] {}: space is back ({} free): taking facts again", path_, kib(available));
  return true;
}

std::uint64_t sqlite_disk_space::available_bytes() const {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) return 0;
  return std::uint64_t{st.f_bavail} * st.f_frsize;
}

}  // namespace facts
