#pragma once

// What a process may hold and holds: this process's open-file limit (a test with a thousand
// sockets needs more than the usual 1024) and the memory figures of any process in /proc.

#include <sys/resource.h>

#include <cstddef>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace facts::test {

/// Makes sure this process may hold `needed` descriptors (a lower soft limit is raised).
inline bool ensure_fd_limit(rlim_t needed) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur >= needed) return true;
  if (lim.rlim_max < needed) return false;
  lim.rlim_cur = needed;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

/// A figure in kB from /proc/<pid>/status (VmRSS, VmHWM, ...), or nullopt.
inline std::optional<std::size_t> proc_status_kib(int pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      auto const digits = line.find_first_of("0123456789");
      if (digits == std::string::npos) return std::nullopt;
      return static_cast<std::size_t>(std::stoull(line.substr(digits)));
    }
  }
  return std::nullopt;
}

}  // namespace facts::test
