#include "support/bulk_publish.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/raw_socket.hpp"

namespace facts::test {

namespace {

/** Represents one keep-alive connection to factsd that reads its answers in order. */
class bulk_connection {
 public:
  bulk_connection(std::uint16_t port, steady_clock::time_point deadline)
      : deadline_(deadline), socket_(port, 0, left()) {
    int const one = 1;
    ::setsockopt(socket_.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  void send_all(std::string const& bytes) { check(socket_.send_all(bytes, left())); }

  /// The next answer's status and the id its Location names (0 without one).
  std::pair<int, std::uint64_t> read_answer() {
    std::size_t answer_end = 0;
    check(socket_.read_until(
        [&](std::string const& received) {
          answer_end = end_of_answer(received, answered_);
          return answer_end != 0;
        },
        left()));
    std::string const head = socket_.received().substr(answered_, answer_end - answered_);
    answered_ = answer_end;
    int const status = std::atoi(head.c_str() + std::min<std::size_t>(9, head.size()));
    auto const location = header(head, "Location");
    std::uint64_t id = 0;
    if (location.rfind("/facts/", 0) == 0) id = std::strtoull(location.c_str() + 7, nullptr, 10);
    return {status, id};
  }

 private:
  /// Where the answer that starts at `from` ends, or 0 while it has not all arrived.
  static std::size_t end_of_answer(std::string const& received, std::size_t from) {
    auto const head_end = received.find("\r\n\r\n", from);
    if (head_end == std::string::npos) return 0;
    auto const head = received.substr(from, head_end + 2 - from);
    auto const end =
        head_end + 4 + std::strtoull(header(head, "Content-Length").c_str(), nullptr, 10);
    return received.size() >= end ? end : 0;
  }

  static std::string header(std::string const& head, std::string const& name) {
    auto const at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    auto const from = at + name.size() + 4;
    return head.substr(from, head.find("\r\n", from) - from);
  }

  std::chrono::milliseconds left() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - steady_clock::now());
  }

  void check(raw_socket::io result) const {
    if (result == raw_socket::io::closed)
      throw std::runtime_error("bulk_publish: factsd closed a connection");
    if (result == raw_socket::io::timeout)
      throw std::runtime_error("bulk_publish: the load took too long");
  }

  steady_clock::time_point deadline_;
  raw_socket socket_;
  std::size_t answered_ = 0;  ///< how much of the socket's received bytes were answers read
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
  auto const deadline = steady_clock::now() + opts.give_up_after;
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
