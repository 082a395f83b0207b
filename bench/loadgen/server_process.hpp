#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

/**
 * Represents a server the generator started itself (the smoke test does this): its stderr goes
 * to a temp file, which is read until the server says `listening on HOST:PORT`. The destructor
 * stops it with SIGTERM, then SIGKILL if it lingers, and removes the file.
 */
class server_process {
 public:
  /// Starts `argv[0]` with the rest as arguments; throws if it does not print its address
  /// within `timeout`.
  server_process(std::vector<std::string> const& argv, std::chrono::seconds timeout);
  ~server_process();

  server_process(server_process const&) = delete;
  server_process& operator=(server_process const&) = delete;

  pid_t pid() const { return pid_; }
  std::string const& host() const { return host_; }
  std::uint16_t port() const { return port_; }

  /// What the server wrote on stderr so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::string host_;
  std::uint16_t port_ = 0;
};

/// Finds `listening on HOST:PORT` in a server's log; false until it is there.
bool find_listening_address(std::string const& log, std::string& host, std::uint16_t& port);

}  // namespace loadgen
