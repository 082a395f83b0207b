#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace facts::test {

/** Represents a fresh directory under the system temp dir, removed with all it holds at the end. */
struct temp_dir {
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "factsd-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(temp_dir const&) = delete;
  temp_dir& operator=(temp_dir const&) = delete;

  /// Writes `text` to `name` (relative to the directory).
  void write(std::filesystem::path const& name, std::string const& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
  }

  std::filesystem::path path;
};

}  // namespace facts::test
