#pragma once

// What a process may hold and holds: this process's open-file limit (a test with a thousand
// sockets needs more than the usual 1024) and the memory figures of any process in /proc.

#include <sys/resource.h>

#include <cstddef>
#include <optional>
#include <string_view>

namespace facts::test {

/// Makes sure this process may hold `needed` descriptors (a lower soft limit is raised).
bool ensure_fd_limit(rlim_t needed);

/// A figure in kB from /proc/<pid>/status (VmRSS, VmHWM, ...), or nullopt.
std::optional<std::size_t> proc_status_kib(int pid, std::string_view field);

}  // namespace facts::test
