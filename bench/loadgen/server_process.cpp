#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

namespace loadgen {

bool find_listening_address(std::string const& log, std::string& host, std::uint16_t& port) {
  static std::regex const pattern(R"(listening on \[?([0-9a-fA-F.:]+?)\]?:([0-9]+))");
  std::smatch match;
  if (!std::regex_search(log, match, pattern)) return false;
  host = match[1];
  port = static_cast<std::uint16_t>(std::stoul(match[2]));
  return port != 0;
}

server_process::server_process(std::vector<std::string> const& argv, std::chrono::seconds timeout) {
  char path[] = "/tmp/loadgen-server-XXXXXX";
  int const log_fd = mkstemp(path);
  if (log_fd < 0) throw std::runtime_error("cannot create a log file for the server");
  log_path_ = path;

  std::vector<char*> args;
  for (auto const& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(log_fd, STDERR_FILENO);
    int const null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);

  auto const deadline = std::chrono::steady_clock::now() + timeout;
  while (!find_listening_address(log(), host_, port_)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the server exited before listening: " + log());
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the server did not say where it listens: " + log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

server_process::~server_process() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (!log_path_.empty()) unlink(log_path_.c_str());
}

std::string server_process::log() const {
  std::ifstream file(log_path_);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

}  // namespace loadgen
