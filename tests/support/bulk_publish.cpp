#include "support/bulk_publish.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace facts::test {

namespace {

using bulk_clock = std::chrono::steady_clock;

/** Represents one keep-alive connection to factsd, closed with it. */
class bulk_connection {
 public:
  bulk_connection(std::uint16_t port, bulk_clock::time_point deadline) : deadline_(deadline) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) fail("connect");
    int const one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~bulk_connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bulk_connection(bulk_connection const&) = delete;
  bulk_connection& operator=(bulk_connection const&) = delete;

  void send_all(std::string const& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      wait_for(POLLOUT);
      auto const n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EINTR && errno != EAGAIN) fail("send");
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
  }

  /// The next answer's status and the id its Location names (0 without one).
  std::pair<int, std::uint64_t> read_answer() {
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos)
      receive();
    std::string const head = buffer_.substr(0, head_end + 2);
    int const status = std::atoi(head.c_str() + std::min<std::size_t>(9, head.size()));
    auto const body_length = std::strtoull(header(head, "Content-Length").c_str(), nullptr, 10);
    auto const location = header(head, "Location");
    std::uint64_t id = 0;
    if (location.rfind("/facts/", 0) == 0) id = std::strtoull(location.c_str() + 7, nullptr, 10);
    while (buffer_.size() < head_end + 4 + body_length)
      receive();
    buffer_.erase(0, head_end + 4 + body_length);
    return {status, id};
  }

 private:
  static std::string header(std::string const& head, std::string const& name) {
    auto const at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    auto const from = at + name.size() + 4;
    return head.substr(from, head.find("\r\n", from) - from);
  }

  void receive() {
    wait_for(POLLIN);
    char chunk[16384];
    auto const n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) throw std::runtime_error("bulk_publish: factsd closed a connection");
    if (n < 0 && errno != EINTR && errno != EAGAIN) fail("recv");
    if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
  }

  void wait_for(short events) {
    auto const left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - bulk_clock::now());
    if (left.count() <= 0) throw std::runtime_error("bulk_publish: the load took too long");
    pollfd p{fd_, events, 0};
    ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
  }

  [[noreturn]] static void fail(char const* what) {
    throw std::runtime_error(std::string("bulk_publish: ") + what + ": " + std::strerror(errno));
  }

  int fd_ = -1;
  bulk_clock::time_point deadline_;
  std::string buffer_;
};

std::string post_request(std::string const& info) {
  std::string const body = R"({"info":")" + info + R"(","source":"bulk"})";
  return "POST /fact HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

std::map<std::uint64_t, std::string> bulk_publish(std::uint16_t port, std::size_t count,
                                                  std::string const& tag,
                                                  bulk_publish_options opts) {
  auto const deadline = bulk_clock::now() + opts.give_up_after;
  auto const connections = static_cast<std::size_t>(std::max(opts.connections, 1));
  auto const depth = static_cast<std::size_t>(std::max(opts.depth, 1));
  std::mutex mutex;
  std::map<std::uint64_t, std::string> by_id;
  std::exception_ptr failure;

  // Connection c publishes facts c, c + connections, ...: each info once, in a known order.
  auto const run = [&](std::size_t c) {
    try {
      bulk_connection conn(port, deadline);
      std::vector<std::pair<std::uint64_t, std::string>> mine;
      std::vector<std::string> window;
      for (std::size_t next = c; next < count;) {
        window.clear();
        std::string requests;
        for (; next < count && window.size() < depth; next += connections) {
          window.push_back(tag + "-" + std::to_string(next));
          requests += post_request(window.back());
        }
        conn.send_all(requests);
        for (auto const& info : window) {
          auto const [status, id] = conn.read_answer();
          if (status != 201 || id == 0)
            throw std::runtime_error("bulk_publish: a POST of " + info + " was answered " +
                                     std::to_string(status) + " (Location id " +
                                     std::to_string(id) + ")");
          mine.emplace_back(id, info);
        }
      }
      std::lock_guard lock(mutex);
      by_id.insert(mine.begin(), mine.end());
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < connections; ++c)
    threads.emplace_back(run, c);
  for (auto& t : threads)
    t.join();
  if (failure) std::rethrow_exception(failure);
  if (by_id.size() != count)
    throw std::runtime_error("bulk_publish: " + std::to_string(count) + " facts got " +
                             std::to_string(by_id.size()) + " distinct ids");
  return by_id;
}

}  // namespace facts::test
