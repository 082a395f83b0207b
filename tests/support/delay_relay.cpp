#include "support/delay_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

namespace facts::test {

namespace {

using clock = std::chrono::steady_clock;

/** Represents one relayed connection and the server's bytes it holds back. */
struct relayed {
  int client = -1;
  int server = -1;
  std::deque<std::pair<clock::time_point, std::string>> held;  // due time, bytes
  bool done = false;
};

void send_whole(int fd, std::string const& bytes) {
  for (std::size_t sent = 0; sent < bytes.size();) {
    auto const n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

delay_relay::delay_relay(std::uint16_t target, std::chrono::milliseconds to_client_delay)
    : target_(target), delay_(to_client_delay) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("delay_relay: cannot listen on 127.0.0.1");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

delay_relay::~delay_relay() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

void delay_relay::run() {
  std::vector<relayed> conns;
  char buffer[64 * 1024];
  while (!stopping_) {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    for (auto const& c : conns) {
      fds.push_back({c.client, POLLIN, 0});
      fds.push_back({c.server, POLLIN, 0});
    }
    // Wake for the next held bytes that fall due, and at least every 20 ms to see stopping_.
    auto wait = std::chrono::milliseconds(20);
    auto const now = clock::now();
    for (auto const& c : conns)
      if (!c.held.empty())
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::max(clock::duration{}, c.held.front().first - now)));
    auto const polled = conns.size();
    ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (fds[0].revents & POLLIN) {
      int const client = ::accept(listener_, nullptr, nullptr);
      int const server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(target_);
      if (client >= 0 && server >= 0 &&
          ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        conns.push_back({client, server, {}, false});
      } else {
        if (client >= 0) ::close(client);
        if (server >= 0) ::close(server);
      }
    }
    for (std::size_t i = 0; i < polled; ++i) {
      auto& c = conns[i];
      auto const& from_client = fds[1 + 2 * i];
      auto const& from_server = fds[2 + 2 * i];
      if (from_client.revents & (POLLIN | POLLHUP | POLLERR)) {
        auto const n = ::recv(c.client, buffer, sizeof buffer, 0);
        if (n <= 0)
          c.done = true;
        else
          send_whole(c.server, std::string(buffer, static_cast<std::size_t>(n)));
      }
      if (from_server.revents & (POLLIN | POLLHUP | POLLERR)) {
        auto const n = ::recv(c.server, buffer, sizeof buffer, 0);
        if (n <= 0)
          c.done = true;
        else
          c.held.emplace_back(clock::now() + delay_,
                              std::string(buffer, static_cast<std::size_t>(n)));
      }
    }
    auto const later = clock::now();
    for (auto& c : conns) {
      while (!c.held.empty() && c.held.front().first <= later) {
        send_whole(c.client, c.held.front().second);
        c.held.pop_front();
      }
      if (c.done) {
        ::close(c.client);
        ::close(c.server);
      }
    }
    std::erase_if(conns, [](relayed const& c) { return c.done; });
  }
  for (auto const& c : conns) {
    ::close(c.client);
    ::close(c.server);
  }
}

}  // namespace facts::test
