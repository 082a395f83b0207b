#include "facts/store/sqlite_file_lock.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "facts/store/sqlite_errors.hpp"

namespace facts {

sqlite_file_lock::sqlite_file_lock(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  auto const dir = fs::absolute(path_).parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw sqlite_failure(path_, "folder " + dir.string() + " does not exist");
  // WAL mode writes files beside the database, so the folder itself must be writable.
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw sqlite_failure(path_, "folder " + dir.string() + " is not writable");

  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw sqlite_failure(path_, std::string("cannot open for writing: ") + std::strerror(errno));
  // A constructor that throws runs no destructor: the descriptor is closed here.
  auto const give_up = [this](std::string const& why) {
    ::close(fd_);
    return sqlite_failure(path_, why);
  };
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) throw give_up(sqlite_locked_message);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw give_up(std::string("cannot stat: ") + std::strerror(errno));
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

sqlite_file_lock::~sqlite_file_lock() {
  ::close(fd_);
}

std::string sqlite_file_lock::lost_message() const {
  return "the database file " + path_ + " was deleted or replaced while in use";
}

std::string sqlite_file_lock::problem() const {
  if (lost_) return lost_message();
  struct stat by_fd {};
  struct stat by_path {};
  bool const ours = ::fstat(fd_, &by_fd) == 0 && by_fd.st_nlink > 0 &&
                    ::stat(path_.c_str(), &by_path) == 0 && by_path.st_dev == dev_ &&
                    by_path.st_ino == ino_;
  if (ours) return {};
  // Facts committed from now on would go to a file no one will open again, and the next start
  // would begin at id 1: refuse them, and say so once.
  if (!lost_.exchange(true))
    spdlog::error("[store] {}: refusing new facts; restart factsd once the file is back",
                  lost_message());
  return lost_message();
}

}  // namespace facts
