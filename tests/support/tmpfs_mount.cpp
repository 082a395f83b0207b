#include "support/tmpfs_mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace facts::test {

tmpfs_mount::tmpfs_mount(std::uint64_t size_bytes) {
  auto const options = "size=" + std::to_string(size_bytes) + ",mode=0755";
  if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0)
    mounted_ = true;
  else
    error_ = std::strerror(errno);
}

tmpfs_mount::~tmpfs_mount() {
  if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
}

std::uint64_t tmpfs_mount::fill(std::string const& name) const {
  auto const path = dir_ / name;
  int const fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  std::vector<char> const zeros(64 * 1024, 0);
  std::uint64_t written = 0;
  // Big writes first, then page by page: tmpfs gives room a page at a time.
  for (std::size_t chunk = zeros.size(); chunk >= 512; chunk /= 2) {
    for (;;) {
      auto const n = ::write(fd, zeros.data(), chunk);
      if (n <= 0) break;
      written += static_cast<std::uint64_t>(n);
    }
  }
  ::close(fd);
  return written;
}

std::uint64_t tmpfs_mount::available() const {
  struct statvfs st {};
  if (::statvfs(dir_.path().c_str(), &st) != 0) return 0;
  return std::uint64_t{st.f_bavail} * st.f_frsize;
}

}  // namespace facts::test
