#pragma once

#include <optional>
#include <string>

namespace facts {

/** Represents what the kernel says about this process, as the standard Prometheus metrics read it.
 */
struct process_figures {
  std::optional<double> open_fds;               ///< entries of /proc/self/fd
  std::optional<double> max_fds;                ///< the soft RLIMIT_NOFILE
  std::optional<double> resident_memory_bytes;  ///< /proc/self/statm
  std::optional<double> cpu_seconds;            ///< user + system time, /proc/self/stat
  std::optional<double> start_time_seconds;     ///< since the Unix epoch, /proc/self/stat
};

/// Reads the figures now; one that cannot be read (no /proc) stays empty.
process_figures read_process_figures();

/**
 * The Prometheus text of the figures (`process_open_fds`, `process_max_fds`,
 * `process_resident_memory_bytes`, `process_cpu_seconds_total`, `process_start_time_seconds`,
 * named as the Prometheus client libraries name them, so dashboards made for them work) and
 * `factsd_build_info{version="..."} 1`.
 */
std::string process_metrics_text();

}  // namespace facts
