#include "support/resources.hpp"

#include <fstream>
#include <string>

namespace facts::test {

bool ensure_fd_limit(rlim_t needed) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return false;
  if (lim.rlim_cur >= needed) return true;
  if (lim.rlim_max < needed) return false;
  lim.rlim_cur = needed;
  return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

std::optional<std::size_t> proc_status_kib(int pid, std::string_view field) {
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
