#pragma once

// Runs the factsd binary as a child process with its stdout and stderr captured through pipes.
// The guard kills (SIGKILL) and reaps the child it started, by its pid, whatever way the test
// ends; every wait has a deadline.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace facts::test {

/** Represents one child process and what it has written so far. */
class child_process {
 public:
  using env_list = std::vector<std::pair<std::string, std::string>>;

  /// Starts `args[0]` with `args`. The environment is ours without any FACTSD_* variable (so
  /// the test's own environment cannot change the daemon), plus `env`.
  explicit child_process(std::vector<std::string> args, env_list const& env = {}) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      throw std::runtime_error("pipe failed");
    }
    out_fd_ = out[0];
    err_fd_ = err[0];

    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::string_view(*e).rfind("FACTSD_", 0) != 0) env_strings.emplace_back(*e);
    for (auto const& [name, value] : env)
      env_strings.push_back(name + "=" + value);
    auto argv = pointers(args);
    auto envp = pointers(env_strings);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    // The test process holds many sockets; none of them may leak into the daemon.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    int const rc =
        ::posix_spawn(&pid_, args.at(0).c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error("posix_spawn " + args[0] + ": " + std::strerror(rc));
    }
  }

  ~child_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  child_process(child_process const&) = delete;
  child_process& operator=(child_process const&) = delete;

  pid_t pid() const { return pid_; }
  std::string const& out() const { return out_; }
  std::string const& err() const { return err_; }

  void send_signal(int signo) {
    if (pid_ > 0 && !status_) ::kill(pid_, signo);
  }

  /// Waits until stderr holds `needle`; returns the whole line it is on, or nullopt on timeout.
  std::optional<std::string> wait_for_stderr(std::string_view needle,
                                             std::chrono::milliseconds timeout) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto const at = err_.find(needle);
      if (at != std::string::npos) {
        auto const begin = err_.rfind('\n', at);
        auto const end = err_.find('\n', at);
        if (end != std::string::npos) {
          auto const from = begin == std::string::npos ? 0 : begin + 1;
          return err_.substr(from, end - from);
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      if (!pump(std::chrono::milliseconds(50)) && exited()) return std::nullopt;
    }
  }

  /// Waits for the child to exit, reading its output meanwhile. Returns false on timeout.
  bool wait_exit(std::chrono::milliseconds timeout) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      pump(std::chrono::milliseconds(20));
    }
    // The pipes reach EOF once the child is gone; read what is left, still within a bound.
    auto const drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while ((out_fd_ >= 0 || err_fd_ >= 0) && std::chrono::steady_clock::now() < drain_deadline)
      pump(std::chrono::milliseconds(20));
    return true;
  }

  /// The exit code, or -1 while running or when it died from a signal.
  int exit_code() const { return status_ && WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1; }

  /// The signal that ended it, or 0.
  int term_signal() const { return status_ && WIFSIGNALED(*status_) ? WTERMSIG(*status_) : 0; }

 private:
  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings)
      out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  }

  bool exited() {
    if (status_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return status_.has_value();
  }

  /// Reads whatever the pipes hold, waiting at most `wait`; returns whether anything came.
  bool pump(std::chrono::milliseconds wait) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (out_fd_ < 0 && err_fd_ < 0) {
      std::this_thread::sleep_for(wait);
      return false;
    }
    int const ready = ::poll(fds, 2, static_cast<int>(wait.count()));
    if (ready <= 0) return false;
    bool got = false;
    got |= read_from(fds[0], out_fd_, out_);
    got |= read_from(fds[1], err_fd_, err_);
    return got;
  }

  static bool read_from(pollfd const& p, int& fd, std::string& into) {
    if (fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return false;
    char buf[4096];
    auto const n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      ::close(fd);
      fd = -1;
    }
    return false;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> status_;  // set once the child has been reaped
  std::string out_;
  std::string err_;
};

}  // namespace facts::test
