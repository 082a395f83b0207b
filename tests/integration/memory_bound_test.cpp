// Readers who ask for history cannot exhaust memory: streams that catch up read the store in
// bounded chunks shared between them, and a slow new client is never cut off before it got an
// id. Memory is measured as factsd's RSS under the load.

#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "facts/server.hpp"
#include "facts/store/sqlite_store.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/paced_stream.hpp"
#include "support/process.hpp"
#include "support/resources.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
namespace ft = facts::test;
using steady = std::chrono::steady_clock;

// A fact of about `bytes` bytes whose "n" is the seq it gets when stored in order.
std::string numbered_fact(std::uint64_t n, std::size_t bytes) {
  return R"({"n":)" + std::to_string(n) + R"(,"pad":")" + std::string(bytes, 'p') + R"("})";
}

/// Stores facts 1..count of `bytes` bytes each in a new SQLite file at `path`.
void prefill(std::string const& path, std::uint64_t count, std::size_t bytes) {
  facts::sqlite_store store(path, facts::sync_mode::normal);
  for (std::uint64_t first = 1; first <= count; first += 1000) {
    std::vector<std::string> batch;
    for (auto n = first; n < first + 1000 && n <= count; ++n)
      batch.push_back(numbered_fact(n, bytes));
    store.append(batch);
  }
}

}  // namespace

TEST_CASE("memory: a slow new client joining a 3 MB window while facts arrive keeps up",
          "[memory][slow-client]") {
  // 3,000 facts of 1 KB in the window; the client reads about 400 KB/s (a 256 kbit/s link,
  // scaled to run in seconds) through a 4 KB receive buffer while 40 facts/s are published.
  // --max-queue-bytes 64 KiB is passed within two seconds: the stream must not be cut off.
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  constexpr std::uint64_t stored = 3000;
  constexpr std::size_t fact_bytes = 1000;
  prefill(db, stored, fact_bytes);
  ft::test_server server([&](facts::config& cfg) {
    cfg.store_url = "sqlite:" + db;
    cfg.sync = facts::sync_mode::normal;
    cfg.replay_limit = 10'000;
    cfg.limits.max_queue_bytes = 64 * 1024;
  });

  ft::paced_stream client(server.port(), std::nullopt);
  std::atomic<std::uint64_t> published{stored};
  std::atomic<bool> publisher_failed{false};
  std::thread publisher([&] {
    try {
      ft::http_connection conn(server.port());
      auto next = steady::now();
      for (int i = 0; i < 200; ++i) {  // 40 a second for 5 s
        auto const res = conn.send(ft::make_request(ft::http::verb::post, "/fact",
                                                    numbered_fact(published + 1, fact_bytes),
                                                    {{"Content-Type", "application/json"}}));
        if (res.result_int() != 201) throw std::runtime_error("POST failed");
        ++published;
        next += 25ms;
        std::this_thread::sleep_until(next);  // pacing the publisher, not waiting on anything
      }
    } catch (std::exception const&) {
      publisher_failed = true;
    }
  });
  auto const deadline = steady::now() + 25s;
  auto next_read = steady::now();
  while (steady::now() < deadline && !client.closed() && client.error().empty()) {
    client.pump(4096);
    if (published == stored + 200 && client.next_seq() == stored + 201) break;
    next_read += 10ms;
    std::this_thread::sleep_until(next_read);  // 4 KB per 10 ms: the slow link
  }
  publisher.join();
  INFO("client expects fact " << client.next_seq() << " after " << client.bytes_read()
                              << " bytes; error: " << client.error());
  CHECK_FALSE(publisher_failed);
  CHECK(client.error().empty());
  CHECK_FALSE(client.closed());              // never cut off
  CHECK(client.next_seq() == stored + 201);  // everything, once, in order, up to the live end
  CHECK(server.get().stats().prometheus_text({}, {}).find(
            "factsd_streams_ended_total{reason=\"slow\"} 0") != std::string::npos);
}

TEST_CASE("memory: 200 slow readers resuming 20,000 facts behind stay within the bound",
          "[memory][catch-up]") {
  // 30,000 facts of 4 KB (120 MB) stored; 200 readers resume from ids 50 apart, 20,000 to
  // 30,000 facts behind, each reading 1-4 KB per 20 ms. Before, each join read its whole
  // catch-up (up to 100,000 facts) into one snapshot: gigabytes.
  REQUIRE(ft::ensure_fd_limit(4096));
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  constexpr std::uint64_t stored = 30'000;
  constexpr std::size_t fact_bytes = 4000;
  prefill(db, stored, fact_bytes);

  std::vector<std::string> const args{FACTSD_BINARY, "--listen",       "127.0.0.1:0",  "--threads",
                                      "2",           "--store",        "sqlite:" + db, "--sync",
                                      "normal",      "--replay-limit", "1000"};
  auto opts = ft::in_dir(dir.path().string());
  // Freed memory goes back at once: RSS shows what is held, not AddressSanitizer's quarantine.
  opts.env = {{"ASAN_OPTIONS", "quarantine_size_mb=0:detect_leaks=0"}};
  ft::child_process daemon(args, opts);
  auto const port = daemon.wait_for_port();
  REQUIRE(port);
  auto const baseline_kib = ft::proc_status_kib(daemon.pid(), "VmRSS").value_or(0);
  REQUIRE(baseline_kib > 0);

  constexpr int readers = 200;
  std::vector<std::unique_ptr<ft::paced_stream>> streams;
  for (int i = 0; i < readers; ++i)
    streams.push_back(std::make_unique<ft::paced_stream>(
        *port, std::uint64_t{1} + 50 * static_cast<unsigned>(i)));

  // Read for at least 5 s, and until every reader got facts. That takes 17-21 s on a quiet
  // machine (ASan build): the 200 readers' first and second chunks fill the reader's 64 MiB
  // budget, so some first chunks wait until slow readers drain a chunk. Under other load it
  // took past 30 s once, hence 60.
  auto const progressed_count = [&] {
    std::size_t n = 0;
    for (int i = 0; i < readers; ++i)
      if (streams[static_cast<std::size_t>(i)]->next_seq() > 2 + 50 * static_cast<unsigned>(i)) ++n;
    return n;
  };
  std::size_t peak_kib = baseline_kib;
  auto const began = steady::now();
  auto next_tick = began;
  while (steady::now() < began + 60s &&
         (steady::now() < began + 5s || progressed_count() < readers)) {
    for (int i = 0; i < readers; ++i)
      streams[static_cast<std::size_t>(i)]->pump(1024 * (1 + static_cast<std::size_t>(i) % 4));
    peak_kib = std::max(peak_kib, ft::proc_status_kib(daemon.pid(), "VmRSS").value_or(0));
    next_tick += 20ms;
    std::this_thread::sleep_until(next_tick);  // pacing the slow readers
  }
  auto const hwm_kib = ft::proc_status_kib(daemon.pid(), "VmHWM").value_or(0);

  auto const progressed = progressed_count();
  std::size_t ok = 0;
  for (auto const& s : streams)
    if (s->error().empty() && !s->closed()) ++ok;
  // What catch-up may hold: the reader's budget of chunks, one chunk per reader thread beyond
  // it, and the streams' own bookkeeping; the README states the same bound.
  constexpr std::size_t bound_kib = 96 * 1024;
  std::size_t bytes_read = 0;
  std::size_t reading = 0;
  std::size_t stuck_most = 0;  // most bytes read by a stream that got no fact yet
  for (int i = 0; i < readers; ++i) {
    auto const& s = *streams[static_cast<std::size_t>(i)];
    bytes_read += s.bytes_read();
    if (s.bytes_read() > 1000) ++reading;
    if (s.next_seq() == 2 + 50 * static_cast<unsigned>(i))
      stuck_most = std::max(stuck_most, s.bytes_read());
  }
  INFO("a stream with no fact yet read at most " << stuck_most << " bytes");
  INFO(ok << " streams open and well, " << progressed << " got facts, " << reading
          << " read more than their head, " << bytes_read << " bytes read in all");
  INFO("factsd RSS: " << baseline_kib << " KiB at start, peak sampled " << peak_kib
                      << " KiB, VmHWM " << hwm_kib << " KiB");
  CHECK(ok == readers);
  CHECK(progressed == readers);
  CHECK(peak_kib - baseline_kib < bound_kib);
  CHECK(hwm_kib - baseline_kib < bound_kib);
  daemon.send_signal(SIGTERM);
  CHECK(daemon.wait_exit(20s));
}
