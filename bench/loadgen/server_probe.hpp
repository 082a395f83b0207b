#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace loadgen {

/// What /proc says about the server process at one instant.
struct proc_sample {
  double cpu_seconds = 0;     ///< user + system time of all its threads (/proc/PID/stat)
  std::uint64_t rss_kb = 0;   ///< resident set now (VmRSS)
  std::uint64_t peak_kb = 0;  ///< resident set high-water mark (VmHWM)
};

/// Reads /proc/PID/stat and /proc/PID/status; nullopt if the process is gone.
std::optional<proc_sample> sample_process(pid_t pid);

/// Resets the process's VmHWM to its current RSS (writes 5 to /proc/PID/clear_refs), so a
/// case's peak is its own. Returns false where that is not allowed.
bool reset_peak_rss(pid_t pid);

/// This process's CPU seconds (user + system), for the generator's own load.
double own_cpu_seconds();

/// CPU seconds the whole machine spent busy (every CPU, every process, interrupts included),
/// and the part the hypervisor stole, from /proc/stat.
struct machine_cpu {
  double busy_seconds = 0;
  double steal_seconds = 0;
};
machine_cpu sample_machine_cpu();

/// Raises RLIMIT_NOFILE to the hard limit and returns the new soft limit.
std::uint64_t raise_open_file_limit();

}  // namespace loadgen
