#include "support/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <stdexcept>

extern char** environ;

namespace facts::test {

namespace {

/// Our environment without FACTSD_* and without what `env` sets, then `env`.
std::vector<std::string> environment(env_list const& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view const entry(*e);
    auto const name = entry.substr(0, entry.find('='));
    bool const replaced =
        std::any_of(env.begin(), env.end(), [&](auto const& kv) { return kv.first == name; });
    if (name.rfind("FACTSD_", 0) != 0 && !replaced) out.emplace_back(entry);
  }
  for (auto const& [name, value] : env)
    out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void close_both(int (&fds)[2]) {
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace

spawn_options in_dir(std::string cwd) {
  spawn_options opts;
  opts.cwd = std::move(cwd);
  return opts;
}

spawn_options with_env(env_list env) {
  spawn_options opts;
  opts.env = std::move(env);
  return opts;
}

child_process::child_process(std::vector<std::string> args, spawn_options const& opts) {
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  auto env_strings = environment(opts.env);
  auto argv = pointers(args);
  auto envp = pointers(env_strings);
  std::string const exec_failed = "factsd-test: exec " + args.at(0) + " failed\n";
  std::string const setid_failed = "factsd-test: setgid/setuid/chdir failed\n";

  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    close_both(out);
    throw std::runtime_error("pipe2 failed");
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    close_both(out);
    close_both(err);
    throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
  }
  if (pid_ == 0) {
    int const devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out[1], 1);
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
  ::close(out[1]);
  ::close(err[1]);
  try {
    reader_ = std::thread([this, o = out[0], e = err[0]] { read_output(o, e); });
  } catch (...) {
    // No destructor runs for a constructor that throws: the child must not outlive it.
    ::close(out[0]);
    ::close(err[0]);
    kill_and_reap();
    throw;
  }
}

child_process::~child_process() {
  kill_and_reap();
  stop_reading_ = true;
  reader_.join();
}

std::string child_process::out() const {
  std::lock_guard lock(mutex_);
  return out_;
}

std::string child_process::err() const {
  std::lock_guard lock(mutex_);
  return err_;
}

std::optional<std::string> child_process::wait_for_line(std::string_view needle,
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

std::optional<std::uint16_t> child_process::wait_for_port(std::chrono::milliseconds timeout) {
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

void child_process::send_signal(int signo) {
  if (!reaped()) ::kill(pid_, signo);
}

bool child_process::wait_exit(std::chrono::milliseconds timeout) {
  auto const deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(5), [&] { return closed_; });
  return true;
}

bool child_process::kill_hard(std::chrono::milliseconds timeout) {
  send_signal(SIGKILL);
  return wait_exit(timeout);
}

int child_process::exit_code() const {
  return status_ && WIFEXITED(*status_) ? WEXITSTATUS(*status_) : -1;
}

int child_process::term_signal() const {
  return status_ && WIFSIGNALED(*status_) ? WTERMSIG(*status_) : 0;
}

bool child_process::reaped() {
  if (status_ || lost_) return true;
  int status = 0;
  auto const r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) status_ = status;
  if (r < 0 && errno == ECHILD) lost_ = true;
  return status_ || lost_;
}

void child_process::kill_and_reap() {
  if (reaped()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void child_process::read_output(int out_fd, int err_fd) {
  int fds[2] = {out_fd, err_fd};
  while ((fds[0] >= 0 || fds[1] >= 0) && !stop_reading_) {
    // poll() skips a negative fd, so a pipe that has ended needs no special case.
    pollfd polled[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    if (::poll(polled, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || (polled[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      auto const n = ::read(fds[i], buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::lock_guard lock(mutex_);
      if (n > 0) {
        (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i]);
        fds[i] = -1;
      }
      changed_.notify_all();
    }
  }
  for (int const fd : fds)
    if (fd >= 0) ::close(fd);
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

}  // namespace facts::test
