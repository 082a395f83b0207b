#pragma once

// A temporary folder per test, and what the files in it hold: the durability tests check that
// a refused start leaves every byte and every mtime as it was.

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace facts::test {

/** Represents a fresh folder under the system temp dir, removed with everything in it. */
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(temp_dir const&) = delete;
  temp_dir& operator=(temp_dir const&) = delete;

  std::filesystem::path const& path() const { return path_; }
  std::string operator/(std::string_view name) const;

  /// Writes `text` to `name` (relative to the folder).
  void write(std::filesystem::path const& name, std::string const& text) const;

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

file_state read_file_state(std::string const& path);

/// The names of the entries of a folder.
std::set<std::string> list_dir(std::filesystem::path const& dir);

}  // namespace facts::test
