// publish_bench: durable publishes per second with 1, 8 and 64 concurrent publishers, for
// `--sync full`, `--sync normal` and `memory:`, printed as a markdown table.
//
// Each (mode, publishers) pair gets a fresh factsd child on 127.0.0.1 (its SQLite file in a fresh
// temporary folder, under $TMPDIR or /tmp). Every publisher is one keep-alive connection with one
// POST /fact in flight at a time, so N publishers keep at most N facts waiting for the writer;
// that is exactly the load group commit is meant to turn into few, large transactions.
//
// It is a program that prints figures, not a test: the 10x target is reported as PASS or MISS
// and the exit code is 0 either way. It exits 1 only when the run itself failed (a non-201
// answer, a lost connection, a daemon that does not start or stop, a 201 that was not stored).

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

// 0.5 s lets connections open and SQLite warm its page cache before anything is counted; 3 s of
// measurement keeps the nine runs well under a minute in total.
constexpr auto warm_up_time = 500ms;
constexpr auto measure_time = 3s;
constexpr auto startup_limit = 10s;  // until the start line appears
constexpr auto drain_limit = 5s;     // for the POSTs in flight when measuring ends
constexpr auto stop_limit = 10s;     // from SIGTERM until factsd has exited
constexpr auto request_limit = 10s;  // one POST, from sending to the full answer
constexpr int publisher_counts[] = {1, 8, 64};
constexpr int target_ratio = 10;

struct store_mode {
  std::string name;
  std::vector<std::string> flags;  // besides --store
  bool on_disk;
};

std::vector<store_mode> const modes = {
    {"sqlite, sync full", {"--sync", "full"}, true},
    {"sqlite, sync normal", {"--sync", "normal"}, true},
    {"memory", {}, false},
};

// ---------------------------------------------------------------------------------------------
// The machine, so that figures from different hosts can be told apart.

unsigned usable_cpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::thread::hardware_concurrency();
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("model name")) continue;
    auto const colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown CPU";
}

// The filesystem decides what an fsync costs (tmpfs: nothing), so it belongs next to the figures.
// The mount whose mount point is the longest prefix of `dir` is the one `dir` lives on.
std::string filesystem_of(std::filesystem::path const& dir) {
  auto const where = std::filesystem::weakly_canonical(dir).string();
  std::ifstream in("/proc/self/mounts");
  std::string best_point;
  std::string best;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string device, point, type;
    fields >> device >> point >> type;
    bool const contains = where == point || point == "/" || where.starts_with(point + "/");
    if (contains && point.size() >= best_point.size()) {
      best_point = point;
      best = type + " (" + device + " on " + point + ")";
    }
  }
  return best.empty() ? "unknown filesystem" : best;
}

// Other work on the machine takes CPU from factsd and from the publishers alike; the load before
// the runs tells whether the figures were measured on a quiet machine.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return in ? one + ", " + five + ", " + fifteen + " (1, 5, 15 min)" : "unknown";
}

std::string today() {
  auto const now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::ostringstream out;
  out << std::put_time(&local, "%Y-%m-%d %H:%M");
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// A fresh folder for one run's database, removed with everything in it.

class temp_dir {
 public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "publish-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(temp_dir const&) = delete;
  temp_dir& operator=(temp_dir const&) = delete;

  std::filesystem::path const& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------------------------
// The factsd child. Its stderr is read all the time by a thread of ours, so a chatty daemon can
// never block on a full pipe; the destructor kills (SIGKILL) and reaps it by its pid whatever
// way the run ends.

class factsd_process {
 public:
  explicit factsd_process(std::vector<std::string> args) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    stderr_fd_ = pipe_fds[0];
    auto const rc = spawn(args, pipe_fds[1]);
    ::close(pipe_fds[1]);
    if (rc != 0) {
      ::close(stderr_fd_);
      throw std::runtime_error("posix_spawn " + args[0] + ": " + std::strerror(rc));
    }
    reader_ = std::thread([this] { collect_stderr(); });
  }

  ~factsd_process() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      reap(true);
    }
    reader_.join();  // the pipe reaches EOF now that the child is gone
    ::close(stderr_fd_);
  }

  factsd_process(factsd_process const&) = delete;
  factsd_process& operator=(factsd_process const&) = delete;

  /// Waits for the start line "... listening on 127.0.0.1:PORT with N threads, ..."
  /// and returns it.
  std::string wait_for_start_line() {
    std::unique_lock lock(mutex_);
    auto const found = [this] { return text_.find(" listening on ") != std::string::npos; };
    auto const complete = [&] {
      return eof_ ||
             (found() && text_.find('\n', text_.find(" listening on ")) != std::string::npos);
    };
    if (!changed_.wait_for(lock, startup_limit, complete) || !found())
      throw std::runtime_error("factsd did not print its start line; it wrote:\n" + text_);
    auto const at = text_.find(" listening on ");
    auto const begin = text_.rfind('\n', at);
    auto const from = begin == std::string::npos ? 0 : begin + 1;
    return text_.substr(from, text_.find('\n', at) - from);
  }

  /// Stops factsd the way an operator would (SIGTERM) and returns everything it wrote.
  std::string stop() {
    ::kill(pid_, SIGTERM);
    auto const deadline = steady::now() + stop_limit;
    while (!reap(false)) {
      if (steady::now() >= deadline)
        throw std::runtime_error("factsd did not exit within 10 s of SIGTERM; it wrote:\n" + log());
      std::this_thread::sleep_for(10ms);
    }
    if (!WIFEXITED(status_) || WEXITSTATUS(status_) != 0)
      throw std::runtime_error("factsd did not exit cleanly after SIGTERM (" + how_it_ended() +
                               "); it wrote:\n" + log());
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 2s, [this] { return eof_; });
    return text_;
  }

  std::string log() const {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  int spawn(std::vector<std::string>& args, int stderr_write_end) {
    // The daemon takes FACTSD_* variables as defaults for its flags; ours must not leak in.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e)
      if (!std::string_view(*e).starts_with("FACTSD_")) env.emplace_back(*e);
    auto argv = pointers(args);
    auto envp = pointers(env);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, stderr_write_end, 2);
    auto const rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    return rc;
  }

  std::string how_it_ended() const {
    if (WIFSIGNALED(status_)) return std::string("killed by ") + ::strsignal(WTERMSIG(status_));
    return "exit code " + std::to_string(WEXITSTATUS(status_));
  }

  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings)
      out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  }

  void collect_stderr() {
    char chunk[4096];
    for (;;) {
      auto const n = ::read(stderr_fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        eof_ = true;
        changed_.notify_all();
        return;
      }
      text_.append(chunk, static_cast<std::size_t>(n));
      changed_.notify_all();
    }
  }

  bool reap(bool block) {
    for (;;) {
      auto const rc = ::waitpid(pid_, &status_, block ? 0 : WNOHANG);
      if (rc < 0 && errno == EINTR) continue;
      if (rc == pid_ || rc < 0) reaped_ = true;  // rc < 0: nothing left to reap
      return reaped_;
    }
  }

  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  int stderr_fd_ = -1;
  mutable std::mutex mutex_;  // guards text_ and eof_
  std::condition_variable changed_;
  std::string text_;
  bool eof_ = false;
  std::thread reader_;  // last: starts after the members it uses exist
};

std::vector<std::string> factsd_args(store_mode const& mode, temp_dir const* dir) {
  // info, not warn: the start line, which carries the port, is an info line.
  std::vector<std::string> args = {FACTSD_BINARY, "--listen", "127.0.0.1:0",
                                   "--log-level", "info",     "--store"};
  args.push_back(mode.on_disk ? "sqlite:" + (dir->path() / "facts.db").string() : "memory:");
  args.insert(args.end(), mode.flags.begin(), mode.flags.end());
  return args;
}

std::uint16_t port_of(std::string const& start_line) {
  static std::regex const pattern(R"( listening on 127\.0\.0\.1:(\d+) )");
  std::smatch m;
  if (!std::regex_search(start_line, m, pattern))
    throw std::runtime_error("no 127.0.0.1 port in the start line: " + start_line);
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

// The daemon's last line, "factsd stopped; N facts stored, newest id M".
std::optional<std::uint64_t> facts_stored(std::string const& log) {
  static std::regex const pattern(R"(factsd stopped; (\d+) facts stored)");
  std::smatch m;
  if (!std::regex_search(log, m, pattern)) return std::nullopt;
  return std::stoull(m[1]);
}

// ---------------------------------------------------------------------------------------------
// The load: publishers on one io_context, all in this thread.

/** What the publishers of one run saw; touched only from the io_context's thread. */
struct tally {
  steady::time_point measure_from;
  steady::time_point measure_until;
  std::uint64_t created_total = 0;         // every 201, warm-up and drain included
  std::vector<std::int64_t> latencies_us;  // one per 201 answered inside the window
  std::optional<std::string> failure;
  int open_publishers = 0;

  void record(steady::time_point sent, steady::time_point answered) {
    ++created_total;
    if (answered < measure_from || answered >= measure_until) return;
    latencies_us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(answered - sent).count());
  }
};

/**
 * Represents one publisher: a keep-alive connection sending POST /fact back to back, the next
 * one only after the previous one's answer, until the measuring window has ended.
 */
class publisher : public std::enable_shared_from_this<publisher> {
 public:
  publisher(net::io_context& ioc, tcp::endpoint server, int id, tally& counts)
      : stream_(ioc), server_(server), id_(id), counts_(counts) {
    request_.method(http::verb::post);
    request_.target("/fact");
    request_.version(11);
    request_.set(http::field::host, "127.0.0.1:" + std::to_string(server.port()));
    request_.set(http::field::content_type, "application/json");
    request_.keep_alive(true);
  }

  void start() {
    ++counts_.open_publishers;
    stream_.expires_after(request_limit);
    stream_.async_connect(server_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail("connect: " + ec.message());
      self->send_next();
    });
  }

 private:
  void send_next() {
    if (counts_.failure || steady::now() >= counts_.measure_until) return finish();
    // About 70 bytes, like a small real fact; the counter keeps every body different.
    request_.body() = R"({"source":"publish_bench","publisher":)" + std::to_string(id_) +
                      R"(,"n":)" + std::to_string(++sent_) + R"(,"note":"group commit"})";
    request_.prepare_payload();
    sent_at_ = steady::now();
    stream_.expires_after(request_limit);
    http::async_write(stream_, request_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->fail("sending POST /fact: " + ec.message());
                        self->read_answer();
                      });
  }

  void read_answer() {
    response_ = {};
    http::async_read(
        stream_, buffer_, response_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_answer(ec); });
  }

  void on_answer(beast::error_code ec) {
    auto const answered = steady::now();
    if (ec) return fail("reading the answer to POST /fact: " + ec.message());
    if (response_.result() != http::status::created)
      return fail("POST /fact answered " + std::to_string(response_.result_int()) + " " +
                  std::string(response_.reason()) + ": " + response_.body());
    counts_.record(sent_at_, answered);
    send_next();
  }

  void fail(std::string why) {
    if (!counts_.failure) counts_.failure = "publisher " + std::to_string(id_) + ": " + why;
    finish();
  }

  void finish() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    --counts_.open_publishers;
  }

  beast::tcp_stream stream_;
  tcp::endpoint server_;
  int id_;
  tally& counts_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  beast::flat_buffer buffer_;
  std::uint64_t sent_ = 0;
  steady::time_point sent_at_;
};

/// Runs `publishers` connections against the port until the window ends and every POST in
/// flight is answered; throws on any failure.
tally run_load(std::uint16_t port, int publishers) {
  net::io_context ioc(1);
  tally counts;
  auto const begin = steady::now();
  counts.measure_from = begin + warm_up_time;
  counts.measure_until = counts.measure_from + measure_time;
  tcp::endpoint const server(net::ip::make_address_v4("127.0.0.1"), port);
  for (int id = 0; id < publishers; ++id)
    std::make_shared<publisher>(ioc, server, id, counts)->start();
  // run_for returns early once every publisher has finished, or at the limit with some stuck.
  ioc.run_for(warm_up_time + measure_time + drain_limit);
  if (counts.failure) throw std::runtime_error(*counts.failure);
  if (counts.open_publishers > 0)
    throw std::runtime_error(std::to_string(counts.open_publishers) +
                             " POSTs still unanswered 5 s after the window ended");
  return counts;
}

// ---------------------------------------------------------------------------------------------
// One run and the table.

struct run_result {
  std::string mode;
  int publishers;
  double facts_per_second;
  double p50_ms;
  double p99_ms;
  unsigned server_threads;
};

double percentile_ms(std::vector<std::int64_t>& values, double fraction) {
  if (values.empty()) return 0;
  auto const rank = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank),
                   values.end());
  return static_cast<double>(values[rank]) / 1000.0;
}

unsigned threads_of(std::string const& start_line) {
  static std::regex const pattern(R"( with (\d+) threads)");
  std::smatch m;
  return std::regex_search(start_line, m, pattern) ? static_cast<unsigned>(std::stoul(m[1])) : 0;
}

run_result run_one(store_mode const& mode, int publishers) {
  std::optional<temp_dir> dir;
  if (mode.on_disk) dir.emplace();
  factsd_process daemon(factsd_args(mode, dir ? &*dir : nullptr));
  auto const start_line = daemon.wait_for_start_line();
  auto counts = run_load(port_of(start_line), publishers);
  auto const log = daemon.stop();
  // Cross-check: every 201 must have been stored, and nothing else.
  auto const stored = facts_stored(log);
  if (stored != counts.created_total)
    throw std::runtime_error("got " + std::to_string(counts.created_total) + " 201s but factsd " +
                             (stored ? "stored " + std::to_string(*stored) + " facts"
                                     : "did not report what it stored") +
                             "; it wrote:\n" + log);
  auto const seconds = std::chrono::duration<double>(measure_time).count();
  return {mode.name,
          publishers,
          static_cast<double>(counts.latencies_us.size()) / seconds,
          percentile_ms(counts.latencies_us, 0.50),
          percentile_ms(counts.latencies_us, 0.99),
          threads_of(start_line)};
}

std::string fixed(double value, int decimals) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

void print_machine(std::string const& load_before, unsigned server_threads) {
  auto const tmp = std::filesystem::temp_directory_path();
  std::cout << "# publish_bench, " << today() << "\n\n"
            << "- machine: " << usable_cpus() << " CPUs (nproc), " << cpu_model() << "\n"
            << "- load average before the runs: " << load_before << "\n"
            << "- database folder: " << tmp.string() << " on " << filesystem_of(tmp) << "\n"
            << "- factsd: " << server_threads << " I/O threads, one writer thread; publishers: "
            << "keep-alive connections on one client thread, one POST in flight each\n"
            << "- per run: fresh factsd, "
            << fixed(std::chrono::duration<double>(warm_up_time).count(), 1) << " s warm-up, then "
            << std::chrono::seconds(measure_time).count() << " s measured\n\n";
}

void print_table(std::vector<run_result> const& results) {
  std::cout
      << "| mode | publishers | facts/s | p50 / p99 POST latency (ms) | ratio vs 1 publisher |\n"
      << "|---|---:|---:|---:|---:|\n";
  for (auto const& r : results) {
    auto const single = std::find_if(results.begin(), results.end(), [&](run_result const& o) {
      return o.mode == r.mode && o.publishers == 1;
    });
    std::cout << "| " << r.mode << " | " << r.publishers << " | " << fixed(r.facts_per_second, 0)
              << " | " << fixed(r.p50_ms, 2) << " / " << fixed(r.p99_ms, 2) << " | "
              << fixed(r.facts_per_second / single->facts_per_second, 1) << "x |\n";
  }
}

void print_target(std::vector<run_result> const& results) {
  auto const rate = [&](int publishers) {
    for (auto const& r : results)
      if (r.mode == modes[0].name && r.publishers == publishers) return r.facts_per_second;
    return 0.0;
  };
  auto const ratio = rate(64) / rate(1);
  std::cout << "\nsync full, 64 publishers vs 1: " << fixed(ratio, 1)
            << "x (target >= " << target_ratio << "x) " << (ratio >= target_ratio ? "PASS" : "MISS")
            << "\n";
}

}  // namespace

int main() {
  try {
    auto const load_before = load_average();
    std::vector<run_result> results;
    for (auto const& mode : modes) {
      for (int publishers : publisher_counts) {
        std::cerr << "publish_bench: " << mode.name << ", " << publishers << " publishers\n";
        results.push_back(run_one(mode, publishers));
      }
    }
    print_machine(load_before, results.front().server_threads);
    print_table(results);
    print_target(results);
    return 0;
  } catch (std::exception const& e) {
    std::cerr << "publish_bench: " << e.what() << "\n";
    return 1;
  }
}
