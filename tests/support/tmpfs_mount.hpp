#pragma once

// A small tmpfs of its own for the disk-full tests: a real filesystem that fills up, with no
// mock of SQLite or of the kernel. Mounting needs root (the integration tests run as root); a
// test that cannot mount says why and skips.

#include <cstdint>
#include <filesystem>
#include <string>

#include "support/files.hpp"

namespace facts::test {

/** Represents a tmpfs of a given size mounted on a fresh temporary folder, unmounted (lazily,
 * so files a killed child still held do not keep it) and removed however the test ends. */
class tmpfs_mount {
 public:
  explicit tmpfs_mount(std::uint64_t size_bytes);
  ~tmpfs_mount();
  tmpfs_mount(tmpfs_mount const&) = delete;
  tmpfs_mount& operator=(tmpfs_mount const&) = delete;

  bool mounted() const { return mounted_; }
  /// Why it could not be mounted (strerror of mount(2)), when it is not.
  std::string const& error() const { return error_; }

  std::filesystem::path const& path() const { return dir_.path(); }
  std::string operator/(std::string_view name) const { return dir_ / name; }

  /// Writes zeros to `name` until the filesystem is full (ENOSPC); returns the bytes written.
  std::uint64_t fill(std::string const& name) const;

  /// Bytes still free on it (statvfs).
  std::uint64_t available() const;

 private:
  temp_dir dir_;  // first: removed after the unmount
  bool mounted_ = false;
  std::string error_;
};

}  // namespace facts::test
