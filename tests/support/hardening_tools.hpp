#pragma once

// Tools for the hardening tests (tests/integration/hardening_test.cpp): a raw, non-blocking
// POSIX socket for clients that misbehave on purpose (a tiny receive buffer, never reading,
// sending one byte at a time, hanging up with a reset or vanishing without a word), a fleet of
// event streams that reads many megabytes cheaply (it keeps a short prefix and the size of each
// `data:` line instead of the line), the Prometheus text of /metrics, and /proc figures.
// Every wait has a deadline.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/sse_client.hpp"

namespace facts::test::hardening {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif
#else
inline constexpr bool under_tsan = false;
#endif

/// Milliseconds left until `deadline`, for poll(); at least 0.
inline int poll_ms(steady_clock::time_point deadline) {
  auto const left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, std::min<std::int64_t>(left.count(), 1000)));
}

/**
 * Represents one TCP connection to 127.0.0.1 driven byte by byte: non-blocking, every call
 * bounded by a deadline, and able to leave the way real clients leave (FIN, RST, or nothing).
 */
class raw_socket {
 public:
  enum class io { ok, closed, timeout };

  /// Connects to 127.0.0.1:`port`. A `rcvbuf` > 0 is set before connecting, so the window the
  /// kernel advertises is that small from the first segment on.
  explicit raw_socket(std::uint16_t port, int rcvbuf = 0,
                      std::chrono::milliseconds timeout = default_timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    if (rcvbuf > 0 && ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0)
      fail("setsockopt SO_RCVBUF");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) {
      if (errno != EINPROGRESS) fail("connect");
      pollfd p{fd_, POLLOUT, 0};
      auto const deadline = steady_clock::now() + timeout;
      while (::poll(&p, 1, poll_ms(deadline)) == 0)
        if (steady_clock::now() >= deadline) fail("connect timed out");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        fail("connect");
      }
    }
  }

  ~raw_socket() { close(); }
  raw_socket(raw_socket const&) = delete;
  raw_socket& operator=(raw_socket const&) = delete;

  int fd() const { return fd_; }

  /// Our own port, as the server sees it (its logs name the client as 127.0.0.1:<this>).
  std::uint16_t local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
  }

  /// Sends all of `bytes`; `closed` when the peer has reset or closed the connection.
  io send_all(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    auto const deadline = steady_clock::now() + timeout;
    while (!bytes.empty()) {
      auto const n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return io::closed;
      if (steady_clock::now() >= deadline) return io::timeout;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, poll_ms(deadline));
    }
    return io::ok;
  }

  /// Reads into received() until `done(received())` holds, the peer ends the connection
  /// (`closed`, also on a reset) or the deadline passes (`timeout`).
  io read_until(std::function<bool(std::string const&)> const& done,
                std::chrono::milliseconds timeout = default_timeout) {
    auto const deadline = steady_clock::now() + timeout;
    char chunk[16 * 1024];
    for (;;) {
      if (done(received_)) return io::ok;
      if (peer_closed_) return io::closed;
      auto const n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        received_.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        peer_closed_ = true;
        if (n < 0) reset_seen_ = true;
        continue;
      }
      if (steady_clock::now() >= deadline) return io::timeout;
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, poll_ms(deadline));
    }
  }

  /// Reads until the peer ends the connection; false when it did not before the deadline.
  bool read_until_closed(std::chrono::milliseconds timeout = default_timeout) {
    return read_until([](std::string const&) { return false; }, timeout) == io::closed;
  }

  std::string const& received() const { return received_; }
  bool peer_closed() const { return peer_closed_; }
  bool reset_seen() const { return reset_seen_; }

  /// Hangs up with a reset (SO_LINGER 0): no FIN, the peer sees ECONNRESET.
  void reset_close() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  /**
   * Disappears without a word, like a phone that lost its network: with TCP_REPAIR on, close()
   * sends neither FIN nor RST, so the peer learns it only when it next writes (our kernel then
   * answers the data with a reset). Needs CAP_NET_ADMIN; false (and nothing done) without it.
   */
  bool vanish() {
    if (fd_ < 0) return false;
    int on = 1;
    if (::setsockopt(fd_, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) != 0) return false;
    close();
    return true;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  [[noreturn]] void fail(char const* what) {
    std::string const message = std::string(what) + ": " + std::strerror(errno);
    close();
    throw std::runtime_error(message);
  }

  int fd_ = -1;
  std::string received_;
  bool peer_closed_ = false;
  bool reset_seen_ = false;
};

/// The request line and headers of a GET /events, as an EventSource sends them.
inline std::string events_request(std::string_view extra_headers = {}) {
  std::string out = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
  out += extra_headers;
  out += "\r\n";
  return out;
}

/**
 * The value of one sample in Prometheus text: `series` is the name with its labels exactly as
 * printed (`factsd_streams_ended_total{reason="slow"}`), or a bare name. nullopt when absent.
 */
inline std::optional<double> metric_value(std::string_view text, std::string_view series) {
  while (!text.empty()) {
    auto const nl = text.find('\n');
    auto const line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.size() > series.size() && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      try {
        return std::stod(std::string(line.substr(series.size() + 1)));
      } catch (std::exception const&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

/// GET /metrics, as text; throws unless it answers 200.
inline std::string metrics_text(std::uint16_t port) {
  auto const res = get(port, "/metrics");
  if (res.result() != http::status::ok)
    throw std::runtime_error("GET /metrics answered " + std::to_string(res.result_int()));
  return res.body();
}

/// A figure in kB from /proc/<pid>/status (VmRSS, VmHWM, ...), or nullopt.
inline std::optional<std::size_t> proc_status_kib(int pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      auto const digits = line.find_first_of("0123456789");
      if (digits == std::string::npos) return std::nullopt;
      return static_cast<std::size_t>(std::stoull(line.substr(digits)));
    }
  }
  return std::nullopt;
}

/// True when `text` is one or more ASCII digits and nothing else.
inline bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

/** Represents one event as the tally keeps it: everything but the bulk of its data. */
struct event_record {
  std::string type = "message";
  std::string id;           ///< the `id:` field ("" when the event had none)
  std::string data_prefix;  ///< the first bytes of the data (prefix_bytes at most)
  std::size_t data_size = 0;
};

/**
 * Represents `count` event streams on one io_context and one thread, each reading in 64 KiB
 * chunks and scanning for line ends only, so a hundred streams can take megabytes each. It
 * records each stream's events (snapshot first), every `retry:` value, the last non-empty line
 * before the stream ended, and any `id:` line that is not digits only. Per-stream results may be
 * read only after stop(); the counters and last_id at any time.
 */
class tally_fleet {
 public:
  static constexpr std::size_t prefix_bytes = 96;
  static constexpr std::size_t line_bytes = prefix_bytes + 16;

  struct stream {
    explicit stream(net::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    std::vector<char> chunk = std::vector<char>(64 * 1024);
    std::string head;
    bool head_done = false;
    // The line being read: its first prefix_bytes bytes and its full length.
    std::string line;
    std::size_t line_size = 0;
    event_record current;
    bool has_data = false;
    std::vector<event_record> events;
    std::vector<std::string> retries;       ///< every `retry:` value, in order
    std::string last_line;                  ///< the last non-empty line (first prefix_bytes bytes)
    std::string bad_id;                     ///< the first `id:` value that was not digits only
    std::atomic<std::uint64_t> last_id{0};  ///< the newest numeric id received
    std::atomic<bool> ended{false};         ///< the server ended the stream
    std::string error;                      ///< why it ended, or why it never opened
  };

  tally_fleet(std::uint16_t port, std::size_t count, std::string extra_headers = {})
      : endpoint_(net::ip::make_address_v4("127.0.0.1"), port),
        request_(events_request(extra_headers)),
        work_(net::make_work_guard(ioc_)) {
    streams_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      streams_.push_back(std::make_unique<stream>(ioc_));
      do_connect(*streams_.back());
    }
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~tally_fleet() { stop(); }
  tally_fleet(tally_fleet const&) = delete;
  tally_fleet& operator=(tally_fleet const&) = delete;

  std::size_t opened() const { return opened_.load(); }
  std::size_t ended() const { return ended_.load(); }

  /// The smallest newest-id over the streams: every stream has received every id up to it.
  std::uint64_t min_last_id() const {
    auto least = std::numeric_limits<std::uint64_t>::max();
    for (auto const& s : streams_)
      least = std::min(least, s->last_id.load());
    return streams_.empty() ? 0 : least;
  }

  /// Stops the I/O thread and closes every stream; afterwards streams() may be read.
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    ioc_.stop();
    thread_.join();
    for (auto& s : streams_) {
      beast::error_code ec;
      s->socket.close(ec);
    }
  }

  std::vector<std::unique_ptr<stream>> const& streams() const { return streams_; }

 private:
  void do_connect(stream& s) {
    s.socket.async_connect(endpoint_, [this, &s](beast::error_code ec) {
      if (ec) return end(s, "connect: " + ec.message());
      net::async_write(s.socket, net::buffer(request_),
                       [this, &s](beast::error_code e, std::size_t) {
                         if (e) return end(s, "write: " + e.message());
                         do_read(s);
                       });
    });
  }

  void do_read(stream& s) {
    s.socket.async_read_some(net::buffer(s.chunk), [this, &s](beast::error_code ec, std::size_t n) {
      if (n > 0) on_bytes(s, std::string_view(s.chunk.data(), n));
      if (ec) return end(s, ec == net::error::eof ? std::string{} : "read: " + ec.message());
      do_read(s);
    });
  }

  void on_bytes(stream& s, std::string_view bytes) {
    if (!s.head_done) {
      s.head.append(bytes);
      auto const at = head_end(s.head);
      if (at == std::string::npos) return;
      s.head_done = true;
      if (s.head.rfind("HTTP/1.1 200 ", 0) == 0) ++opened_;
      std::string const rest = s.head.substr(at);
      s.head.resize(at);
      return scan(s, rest);
    }
    scan(s, bytes);
  }

  static void scan(stream& s, std::string_view bytes) {
    while (!bytes.empty()) {
      auto const nl = bytes.find('\n');
      auto const piece = bytes.substr(0, nl);
      // Enough of the line for its field name and prefix_bytes of its value.
      if (s.line.size() < line_bytes) s.line.append(piece.substr(0, line_bytes - s.line.size()));
      s.line_size += piece.size();
      if (nl == std::string_view::npos) return;
      bytes.remove_prefix(nl + 1);
      on_line(s);
      s.line.clear();
      s.line_size = 0;
    }
  }

  static void on_line(stream& s) {
    std::string_view line = s.line;
    auto size = s.line_size;
    if (!line.empty() && line.back() == '\r' && size == line.size()) {
      line.remove_suffix(1);
      --size;
    }
    if (size == 0) return dispatch(s);
    s.last_line = std::string(line);
    if (line.front() == ':') return;
    auto const colon = line.find(':');
    auto const field = line.substr(0, colon);
    std::size_t skip = colon == std::string_view::npos ? line.size() : colon + 1;
    if (skip < line.size() && line[skip] == ' ') ++skip;
    auto const value = line.substr(std::min(skip, line.size()));
    if (field == "data") {
      if (s.has_data) ++s.current.data_size;  // the '\n' joining two data lines
      if (s.current.data_prefix.size() < prefix_bytes)
        s.current.data_prefix.append(value.substr(0, prefix_bytes - s.current.data_prefix.size()));
      s.current.data_size += size - skip;
      s.has_data = true;
    } else if (field == "id") {
      s.current.id = std::string(value);
      if (!all_digits(value) && s.bad_id.empty()) s.bad_id = "'" + std::string(value) + "'";
    } else if (field == "event") {
      s.current.type = std::string(value);
    } else if (field == "retry") {
      s.retries.emplace_back(value);
    }
  }

  static void dispatch(stream& s) {
    if (s.has_data) {
      std::uint64_t id = 0;
      auto const& text = s.current.id;
      auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
      if (ec == std::errc{} && end == text.data() + text.size()) s.last_id = id;
      s.events.push_back(std::move(s.current));
    }
    s.current = {};
    s.has_data = false;
  }

  void end(stream& s, std::string why) {
    if (s.ended.exchange(true)) return;
    s.error = std::move(why);
    ++ended_;
  }

  tcp::endpoint endpoint_;
  std::string const request_;
  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::unique_ptr<stream>> streams_;
  std::atomic<std::size_t> opened_{0};
  std::atomic<std::size_t> ended_{0};
  std::thread thread_;
};

}  // namespace facts::test::hardening
