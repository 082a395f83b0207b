#pragma once

// A temporary folder per test, and what the files in it hold: the durability tests check that
// a refused start leaves every byte and every mtime as it was.

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace facts::test {

/** Represents a fresh folder under the system temp dir, removed with everything in it. */
class temp_dir {
 public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "factsd-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(temp_dir const&) = delete;
  temp_dir& operator=(temp_dir const&) = delete;

  std::filesystem::path const& path() const { return path_; }
  std::string operator/(std::string_view name) const { return (path_ / name).string(); }

  /// Writes `text` to `name` (relative to the folder).
  void write(std::filesystem::path const& name, std::string const& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }

 private:
  std::filesystem::path path_;
};

/** Represents what a file holds and when it was last written. */
struct file_state {
  bool exists = false;
  std::string bytes;
  std::int64_t mtime_ns = 0;

  friend bool operator==(file_state const&, file_state const&) = default;
};

inline file_state read_file_state(std::string const& path) {
  file_state s;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::ifstream in(path, std::ios::binary);
  s.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return s;
}

/// The names of the entries of a folder.
inline std::set<std::string> list_dir(std::filesystem::path const& dir) {
  std::set<std::string> names;
  for (auto const& entry : std::filesystem::directory_iterator(dir))
    names.insert(entry.path().filename().string());
  return names;
}

}  // namespace facts::test
