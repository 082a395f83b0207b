// catchup_bench: what streams that resume from history cost factsd (issue 10), in two cases.
//
//  storm  `--storm-facts` facts are stored, factsd starts on them (a restart), and
//         `--storm-streams` streams connect at once, each with a Last-Event-ID
//         `--storm-behind` facts behind: the time until every stream has the newest fact,
//         and factsd's peak RSS.
//  slow   `--slow-facts` facts of `--slow-fact-bytes` are stored, and `--slow-readers` streams
//         resume at least `--slow-behind` facts behind (ids spread 16 apart), each reading
//         `--slow-rate` bytes/s through a 4 KB receive buffer for `--slow-seconds`: factsd's
//         peak RSS, against the bound the README states.
//
// A program that prints figures (a markdown table), not a test; it exits 1 only when the run
// itself failed. Loopback only; factsd is started and stopped by this program.

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "facts/store/sqlite_store.hpp"
#include "loadgen/server_probe.hpp"
#include "loadgen/server_process.hpp"

namespace {

using steady = std::chrono::steady_clock;

/** Represents one stream of the benchmark: a non-blocking socket and what it has seen. */
struct stream {
  int fd = -1;
  std::string tail;  // the last bytes read, to find an id split across two reads
  bool done = false;
  bool closed = false;
  std::uint64_t bytes = 0;
};

int open_stream(std::uint16_t port, int rcvbuf) {
  int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS)
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  return fd;
}

std::string request_for(std::uint64_t last_event_id) {
  return "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: " +
         std::to_string(last_event_id) + "\r\n\r\n";
}

/// Reads what is there, up to `max`; marks the stream done once "id: <wanted>\n" went by.
void read_some(stream& s, std::size_t max, std::string const& wanted) {
  char buffer[64 * 1024];
  while (max > 0 && !s.closed) {
    auto const n = ::recv(s.fd, buffer, std::min(max, sizeof buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      s.closed = true;
      return;
    }
    s.bytes += static_cast<std::uint64_t>(n);
    max -= static_cast<std::size_t>(n);
    if (s.done) continue;
    s.tail.append(buffer, static_cast<std::size_t>(n));
    if (s.tail.find(wanted) != std::string::npos) s.done = true;
    if (s.tail.size() > wanted.size()) s.tail.erase(0, s.tail.size() - wanted.size());
  }
}

void prefill(std::string const& path, std::uint64_t count, std::size_t bytes) {
  facts::sqlite_store store(path, facts::sync_mode::normal);
  std::string const pad(bytes > 24 ? bytes - 24 : 1, 'p');
  for (std::uint64_t first = 1; first <= count; first += 1000) {
    std::vector<std::string> batch;
    for (auto n = first; n < first + 1000 && n <= count; ++n)
      batch.push_back(R"({"n":)" + std::to_string(n) + R"(,"pad":")" + pad + R"("})");
    store.append(batch);
  }
}

/** Represents a factsd started on a prefilled database in a fresh folder. */
struct daemon {
  std::filesystem::path dir;
  std::optional<loadgen::server_process> proc;

  daemon(std::string const& factsd, std::uint64_t facts, std::size_t fact_bytes,
         std::vector<std::string> const& flags) {
    dir = std::filesystem::temp_directory_path() /
          ("catchup-bench-" + std::to_string(::getpid()) + "-" + std::to_string(facts));
    std::filesystem::create_directories(dir);
    auto const db = (dir / "facts.db").string();
    prefill(db, facts, fact_bytes);
    std::vector<std::string> argv{factsd,         "--listen", "127.0.0.1:0", "--store",
                                  "sqlite:" + db, "--sync",   "normal"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    proc.emplace(argv, std::chrono::seconds(60));
  }
  ~daemon() {
    proc.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

std::uint64_t peak_kib(pid_t pid) {
  auto const s = loadgen::sample_process(pid);
  return s ? s->peak_kb : 0;
}

std::uint64_t rss_kib(pid_t pid) {
  auto const s = loadgen::sample_process(pid);
  return s ? s->rss_kb : 0;
}

/** Represents the options of a run. */
struct options {
  std::string factsd = FACTSD_BINARY;
  std::uint64_t storm_streams = 10'000;
  std::uint64_t storm_facts = 11'000;
  std::uint64_t storm_behind = 1'000;
  std::size_t storm_fact_bytes = 200;
  std::uint64_t slow_readers = 2'000;
  std::uint64_t slow_facts = 60'000;
  std::uint64_t slow_behind = 50'000;
  std::size_t slow_fact_bytes = 1'000;
  double slow_seconds = 20;
  std::size_t slow_rate = 32 * 1024;  // bytes per second per reader: 256 kbit/s
  std::string threads = "2";
};

void run_storm(options const& o) {
  daemon d(o.factsd, o.storm_facts, o.storm_fact_bytes, {"--threads", o.threads});
  auto const pid = d.proc->pid();
  auto const start_kib = rss_kib(pid);
  loadgen::reset_peak_rss(pid);
  auto const wanted = "id: " + std::to_string(o.storm_facts) + "\n";
  auto const request = request_for(o.storm_facts - o.storm_behind);
  std::vector<stream> streams(o.storm_streams);
  int const ep = ::epoll_create1(EPOLL_CLOEXEC);
  auto const began = steady::now();
  for (std::size_t i = 0; i < streams.size(); ++i) {
    streams[i].fd = open_stream(d.proc->port(), 0);
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, streams[i].fd, &ev);
  }
  std::vector<bool> sent(streams.size(), false);
  std::size_t done = 0;
  std::size_t closed = 0;
  std::vector<epoll_event> events(1024);
  auto const deadline = began + std::chrono::seconds(120);
  while (done + closed < streams.size() && steady::now() < deadline) {
    int const n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int k = 0; k < n; ++k) {
      auto const i = events[static_cast<std::size_t>(k)].data.u64;
      auto& s = streams[i];
      if (!sent[i] && (events[static_cast<std::size_t>(k)].events & EPOLLOUT)) {
        ::send(s.fd, request.data(), request.size(), MSG_NOSIGNAL);  // small: goes at once
        sent[i] = true;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &ev);
      }
      bool const was_done = s.done;
      bool const was_closed = s.closed;
      read_some(s, SIZE_MAX, wanted);
      if (s.done && !was_done) ++done;
      if (s.closed && !was_closed && !s.done) ++closed;
    }
  }
  auto const took = std::chrono::duration<double>(steady::now() - began).count();
  auto const peak = peak_kib(pid);
  for (auto& s : streams)
    ::close(s.fd);
  ::close(ep);
  std::cout << "| reconnect storm: " << o.storm_streams << " streams, Last-Event-ID "
            << o.storm_behind << " behind, " << o.storm_facts << " facts of " << o.storm_fact_bytes
            << " B stored | " << done << " caught up, " << closed << " closed early | " << took
            << " s until all caught up | RSS " << start_kib / 1024 << " MiB at start, peak "
            << peak / 1024 << " MiB |\n";
}

void run_slow(options const& o) {
  daemon d(o.factsd, o.slow_facts, o.slow_fact_bytes,
           {"--threads", o.threads, "--replay-limit", "1000"});
  auto const pid = d.proc->pid();
  auto const start_kib = rss_kib(pid);
  loadgen::reset_peak_rss(pid);
  std::vector<stream> streams(o.slow_readers);
  auto const oldest = o.slow_facts - o.slow_behind;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    // Ids 16 apart: the readers are at as many different places as they can be.
    auto const id = std::max<std::uint64_t>(1, oldest - std::min(oldest - 1, 16 * i));
    streams[i].fd = open_stream(d.proc->port(), 4096);
    auto const request = request_for(id);
    // The connect completes in microseconds on loopback; wait for it briefly.
    for (int tries = 0; tries < 1000; ++tries) {
      if (::send(streams[i].fd, request.data(), request.size(), MSG_NOSIGNAL) > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  constexpr auto tick = std::chrono::milliseconds(100);
  auto const per_tick = std::max<std::size_t>(1, o.slow_rate / 10);
  auto const until = steady::now() + std::chrono::duration<double>(o.slow_seconds);
  std::uint64_t sampled_peak = 0;
  auto next = steady::now();
  while (steady::now() < until) {
    for (auto& s : streams)
      read_some(s, per_tick, "\x01");  // never found: slow readers are never done
    sampled_peak = std::max(sampled_peak, rss_kib(pid));
    next += tick;
    std::this_thread::sleep_until(next);
  }
  std::size_t open = 0;
  std::uint64_t bytes = 0;
  for (auto& s : streams) {
    open += s.closed ? 0 : 1;
    bytes += s.bytes;
    ::close(s.fd);
  }
  auto const peak = std::max(sampled_peak, peak_kib(pid));
  std::cout << "| slow readers: " << o.slow_readers << " streams resuming " << o.slow_behind
            << "+ facts behind, " << o.slow_fact_bytes << " B facts, " << o.slow_rate / 1024
            << " KiB/s each for " << o.slow_seconds << " s | " << open << " still open, "
            << bytes / (1024 * 1024) << " MiB read in all | RSS " << start_kib / 1024
            << " MiB at start, peak " << peak / 1024 << " MiB (+" << (peak - start_kib) / 1024
            << " MiB) |\n";
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"catchup_bench: reconnect storm and slow readers resuming from history"};
  app.add_option("--factsd", o.factsd);
  app.add_option("--threads", o.threads);
  app.add_option("--storm-streams", o.storm_streams);
  app.add_option("--storm-facts", o.storm_facts);
  app.add_option("--storm-behind", o.storm_behind);
  app.add_option("--storm-fact-bytes", o.storm_fact_bytes);
  app.add_option("--slow-readers", o.slow_readers);
  app.add_option("--slow-facts", o.slow_facts);
  app.add_option("--slow-behind", o.slow_behind);
  app.add_option("--slow-fact-bytes", o.slow_fact_bytes);
  app.add_option("--slow-seconds", o.slow_seconds);
  app.add_option("--slow-rate", o.slow_rate);
  CLI11_PARSE(app, argc, argv);
  loadgen::raise_open_file_limit();
  try {
    std::cout << "| case | outcome | figures |\n|---|---|---|\n";
    run_storm(o);
    run_slow(o);
  } catch (std::exception const& e) {
    std::cerr << "catchup_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
