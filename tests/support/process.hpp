#pragma once

// The factsd binary as a child process. It is started with fork/exec rather than posix_spawn so
// that a test can start it in another folder or as another user, and its stdout and stderr are
// read by a thread of ours so that it never blocks on a full pipe, however long a test leaves it
// alone. The guard kills (SIGKILL) and reaps the child it started, by its pid, however the test
// ends; every wait has a deadline.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace facts::test {

using env_list = std::vector<std::pair<std::string, std::string>>;

/// How long a child factsd may take to print its start line, under the sanitizers.
inline constexpr std::chrono::seconds start_timeout{20};

/** Represents how to start the child beyond its arguments. */
struct spawn_options {
  env_list env;              ///< set on top of ours, which loses every FACTSD_* variable
  std::string cwd;           ///< empty: ours
  std::optional<uid_t> uid;  ///< setgid/setuid to these before exec (we must be root)
  std::optional<gid_t> gid;
};

/// Options that only set the working folder.
spawn_options in_dir(std::string cwd);

/// Options that only add to the environment.
spawn_options with_env(env_list env);

/** Represents one running (or finished) child process and what it has written so far. */
class child_process {
 public:
  /// Starts `args[0]` with `args`. The environment is ours without any FACTSD_* variable (so the
  /// test's own environment cannot change the daemon), with `opts.env` set on top.
  explicit child_process(std::vector<std::string> args, spawn_options const& opts = {});

  ~child_process();

  child_process(child_process const&) = delete;
  child_process& operator=(child_process const&) = delete;

  pid_t pid() const { return pid_; }

  /// Everything it wrote to stdout so far.
  std::string out() const;

  /// Everything it wrote to stderr so far.
  std::string err() const;

  /// Waits until a complete stderr line holds `needle`; returns that line, or nullopt when the
  /// child's output ends or the deadline passes first.
  std::optional<std::string> wait_for_line(std::string_view needle,
                                           std::chrono::milliseconds timeout);

  /// Waits for the start line and returns the port it names; nullopt when the daemon exits or
  /// says nothing of the kind before the deadline.
  std::optional<std::uint16_t> wait_for_port(std::chrono::milliseconds timeout = start_timeout);

  void send_signal(int signo);

  /// Waits for the child to end and reaps it; false on timeout. Afterwards out() and err() are
  /// complete.
  bool wait_exit(std::chrono::milliseconds timeout);

  /// SIGKILL, then reap: the crash.
  bool kill_hard(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// The exit code, or -1 while running or when a signal ended it.
  int exit_code() const;

  /// The signal that ended it, or 0.
  int term_signal() const;

 private:
  /// Whether the child has ended, reaping it when it has. A child that waitpid no longer knows
  /// counts as ended too, so that its pid, which the system may give to another, is never
  /// signalled.
  bool reaped();

  void kill_and_reap();

  /// Reads both pipes until the child closes them (it exits) or the guard stops us.
  void read_output(int out_fd, int err_fd);

  pid_t pid_ = -1;
  // Set once reaped (or known to be gone); only the owning test thread touches these.
  std::optional<int> status_;
  bool lost_ = false;
  mutable std::mutex mutex_;  // guards out_, err_ and closed_
  std::condition_variable changed_;
  std::string out_;
  std::string err_;
  bool closed_ = false;  // both pipes have ended: nothing more will come
  std::atomic<bool> stop_reading_{false};
  std::thread reader_;
};

}  // namespace facts::test
