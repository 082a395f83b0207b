#include "facts/process_metrics.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <string_view>

namespace facts {

namespace {

// Descriptors open now: the entries of /proc/self/fd, less the one that reads the folder. With
// tens of thousands of streams this reads as many entries, a few milliseconds once per scrape.
std::optional<double> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (dirent const* entry = ::readdir(dir)) {
    std::string_view const name(entry->d_name);
    if (name != "." && name != "..") ++count;
  }
  ::closedir(dir);
  return count - 1;
}

std::optional<double> soft_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
    return std::nullopt;
  return static_cast<double>(limit.rlim_cur);
}

std::optional<double> resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double size_pages = 0;
  double resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return std::nullopt;
  return resident_pages * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// The time since boot on the clock /proc's start times count on, and the wall clock, now.
double boot_time_seconds() {
  timespec wall{};
  timespec since_boot{};
  ::clock_gettime(CLOCK_REALTIME, &wall);
  ::clock_gettime(CLOCK_BOOTTIME, &since_boot);
  return static_cast<double>(wall.tv_sec - since_boot.tv_sec) +
         static_cast<double>(wall.tv_nsec - since_boot.tv_nsec) / 1e9;
}

// /proc/self/stat: "pid (comm) state ..."; comm may hold spaces and parentheses, so the fields
// are counted from after the last ')'. utime and stime are fields 14 and 15, starttime 22.
void read_stat(process_figures& out) {
  std::ifstream file("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto const paren = text.rfind(')');
  if (paren == std::string::npos) return;
  std::istringstream fields(text.substr(paren + 1));
  std::string field;
  double utime = 0;
  double stime = 0;
  double starttime = 0;
  for (int number = 3; fields >> field; ++number) {
    if (number == 14) utime = std::stod(field);
    if (number == 15) stime = std::stod(field);
    if (number == 22) {
      starttime = std::stod(field);
      double const ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
      out.cpu_seconds = (utime + stime) / ticks;
      out.start_time_seconds = boot_time_seconds() + starttime / ticks;
      return;
    }
  }
}

}  // namespace

process_figures read_process_figures() {
  process_figures out;
  out.open_fds = count_open_fds();
  out.max_fds = soft_fd_limit();
  out.resident_memory_bytes = resident_bytes();
  read_stat(out);
  return out;
}

std::string process_metrics_text() {
  auto const figures = read_process_figures();
  std::string out;
  auto gauge = [&](char const* name, char const* type, char const* help,
                   std::optional<double> value) {
    if (!value) return;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, *value);
  };
  gauge("process_open_fds", "gauge", "Number of open file descriptors.", figures.open_fds);
  gauge("process_max_fds", "gauge", "Maximum number of open file descriptors.", figures.max_fds);
  gauge("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
        figures.resident_memory_bytes);
  gauge("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
        figures.cpu_seconds);
  gauge("process_start_time_seconds", "gauge",
        "Start time of the process since unix epoch in seconds.", figures.start_time_seconds);
  out +=
      "# HELP factsd_build_info The version of factsd that is running.\n"
      "# TYPE factsd_build_info gauge\n";
  out += fmt::format("factsd_build_info{{version=\"{}\"}} 1\n", FACTS_VERSION);
  return out;
}

}  // namespace facts
