#pragma once

// The factsd binary as a child process for the durability tests: started with fork/exec (so a
// test can drop to another user before exec), its stderr read through a pipe by a thread of ours
// (so the daemon never blocks on a full pipe), its port parsed from the start line. The guard
// kills (SIGKILL) and reaps the child it started, by pid, however the test ends; every wait has
// a deadline. Also: a temporary folder removed at the end, and a file's bytes and mtime.

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace facts::test::durability {

/** Represents a fresh folder under the system temp dir, removed with everything in it. */
class temp_dir {
 public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "factsd-dur-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(temp_dir const&) = delete;
  temp_dir& operator=(temp_dir const&) = delete;

  std::filesystem::path const& path() const { return path_; }
  std::string operator/(std::string_view name) const { return (path_ / name).string(); }

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

inline file_state read_file_state(std::string const& path) {
  file_state s;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::ifstream in(path, std::ios::binary);
  s.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return s;
}

/// The names of the entries of a folder.
inline std::set<std::string> list_dir(std::filesystem::path const& dir) {
  std::set<std::string> names;
  for (auto const& entry : std::filesystem::directory_iterator(dir))
    names.insert(entry.path().filename().string());
  return names;
}

/** Represents how to start the child beyond its arguments. */
struct spawn_options {
  std::string cwd;           ///< empty: ours
  std::optional<uid_t> uid;  ///< setgid/setuid to these before exec (we must be root)
  std::optional<gid_t> gid;
};

/// Options that only set the working folder.
inline spawn_options in_dir(std::string cwd) {
  spawn_options opts;
  opts.cwd = std::move(cwd);
  return opts;
}

/** Represents one running (or finished) factsd. */
class daemon_process {
 public:
  daemon_process(std::vector<std::string> args, spawn_options const& opts = {}) {
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::string_view(*e).rfind("FACTSD_", 0) != 0) env_strings.emplace_back(*e);
    auto argv = pointers(args);
    auto envp = pointers(env_strings);
    std::string const exec_failed = "factsd-test: exec " + args.at(0) + " failed\n";
    std::string const setid_failed = "factsd-test: setgid/setuid/chdir failed\n";

    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(err[0]);
      ::close(err[1]);
      throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
    }
    if (pid_ == 0) {
      int const devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
      }
      ::dup2(err[1], 2);
      // The test holds many sockets; none of them may live on in the daemon.
      ::syscall(SYS_close_range, 3U, ~0U, 0U);
      bool ok = true;
      if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) != 0) ok = false;
      if (opts.gid && (::setgroups(0, nullptr) != 0 || ::setgid(*opts.gid) != 0)) ok = false;
      if (opts.uid && ::setuid(*opts.uid) != 0) ok = false;
      if (!ok) {
        (void)!::write(2, setid_failed.data(), setid_failed.size());
        ::_exit(126);
      }
      ::execve(argv[0], argv.data(), envp.data());
      (void)!::write(2, exec_failed.data(), exec_failed.size());
      ::_exit(127);
    }
    ::close(err[1]);
    reader_ = std::thread([this, fd = err[0]] { read_stderr(fd); });
  }

  ~daemon_process() {
    if (!reaped()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    // The child is gone, so the pipe ends (it never forks, nothing else holds the write end).
    if (reader_.joinable()) reader_.join();
  }

  daemon_process(daemon_process const&) = delete;
  daemon_process& operator=(daemon_process const&) = delete;

  pid_t pid() const { return pid_; }

  /// Everything it wrote to stderr so far.
  std::string err() const {
    std::lock_guard lock(mutex_);
    return err_;
  }

  /// Waits for the start line and returns the port it names; nullopt when the daemon exits or
  /// says nothing of the kind before the deadline.
  std::optional<std::uint16_t> wait_for_port(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto const line = wait_for_line(" listening on ", timeout);
    if (!line) return std::nullopt;
    // "... listening on 127.0.0.1:<port> with N threads, store ..."
    auto const with = line->find(" with ");
    auto const colon = line->rfind(':', with);
    if (with == std::string::npos || colon == std::string::npos) return std::nullopt;
    try {
      auto const port = std::stoul(line->substr(colon + 1, with - colon - 1));
      if (port == 0 || port > 65535) return std::nullopt;
      return static_cast<std::uint16_t>(port);
    } catch (std::exception const&) {
      return std::nullopt;
    }
  }

  /// Waits until a complete stderr line holds `needle`; returns that line.
  std::optional<std::string> wait_for_line(std::string_view needle,
                                           std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> found;
    changed_.wait_for(lock, timeout, [&] {
      auto const at = err_.find(needle);
      if (at != std::string::npos) {
        auto const end = err_.find('\n', at);
        if (end != std::string::npos) {
          auto const begin = err_.rfind('\n', at);
          auto const from = begin == std::string::npos ? 0 : begin + 1;
          found = err_.substr(from, end - from);
          return true;
        }
      }
      return closed_;
    });
    return found;
  }

  void send_signal(int signo) {
    if (!reaped()) ::kill(pid_, signo);
  }

  /// Waits for the child to end and reaps it; false on timeout. Afterwards err() is complete.
  bool wait_exit(std::chrono::milliseconds timeout) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (!reaped()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(5), [&] { return closed_; });
    return true;
  }

  /// SIGKILL, then reap: the crash.
  bool kill_hard(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    send_signal(SIGKILL);
    return wait_exit(timeout);
  }

  /// The exit code, or -1 while running or when a signal ended it.
  int exit_code() const { return status_ && WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1; }
  int term_signal() const { return status_ && WIFSIGNALED(*status_) ? WTERMSIG(*status_) : 0; }

 private:
  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings)
      out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  }

  bool reaped() {
    if (status_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return status_.has_value();
  }

  void read_stderr(int fd) {
    char buf[4096];
    for (;;) {
      auto const n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        closed_ = true;
        changed_.notify_all();
        break;
      }
      err_.append(buf, static_cast<std::size_t>(n));
      changed_.notify_all();
    }
    ::close(fd);
  }

  pid_t pid_ = -1;
  std::optional<int> status_;  // set once reaped; only the test thread touches it
  mutable std::mutex mutex_;   // guards err_ and closed_
  std::condition_variable changed_;
  std::string err_;
  bool closed_ = false;
  std::thread reader_;
};

}  // namespace facts::test::durability
