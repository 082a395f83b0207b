// A full disk under the SQLite store, on a real filesystem that fills up: a small tmpfs mounted
// by the test (the integration tests run as root; without the right to mount, each test says so
// and skips). While full, POSTs answer 503 and store nothing, /healthz answers 503, the error is
// logged once, streams keep their heartbeats; once space is back the next POST is stored with
// the next id, without a restart. A start on a full disk stops with one line and touches nothing.

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/fact_checks.hpp"
#include "support/fact_history.hpp"
#include "support/factsd_instance.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/process.hpp"
#include "support/publish_load.hpp"
#include "support/sse_client.hpp"
#include "support/test_facts.hpp"
#include "support/tmpfs_mount.hpp"
#include "support/wait.hpp"

namespace {
namespace disk_full {

using namespace std::chrono_literals;
namespace ft = facts::test;

// Room for the database, its WAL and WAL index, and a filler file. More than the WAL's working
// size (checkpointed past 4 MiB): on a smaller disk the WAL alone fills the room a freed filler
// gave back, as commits of a few facts each append a few pages apiece.
constexpr std::uint64_t tmpfs_bytes = 16 * 1024 * 1024;
// What factsd logs when a commit first finds the disk full, and when it is over.
constexpr char const* full_line = "no space left on the disk";
constexpr char const* back_line = "space is back";

/// The tmpfs, or a warning that says why there is none (and the caller returns).
bool mounted(ft::tmpfs_mount const& disk) {
  if (!disk.mounted())
    WARN("skipped: cannot mount a tmpfs (" << disk.error()
                                           << "); the disk-full tests need root to mount one");
  return disk.mounted();
}

ft::response post_keyed(std::uint16_t port, int n, std::string const& key = {}) {
  ft::header_list headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  return ft::post_fact(port, ft::numbered_fact(n), "application/json", headers);
}

/// Whether the log holds `line` exactly `times` times, once its stderr has come in: a line is
/// written before the answer it goes with, but read from the pipe by a thread of the test.
bool logged(ft::factsd_instance& daemon, std::string_view line, std::size_t times) {
  ft::eventually([&] { return ft::count_of(daemon.process().err(), line) >= times; }, 5s);
  return ft::count_of(daemon.process().err(), line) == times;
}

/// The longest time between two heartbeat comments over `beats` of them.
std::chrono::milliseconds longest_heartbeat_gap(ft::sse_client& stream, int beats) {
  auto last = std::chrono::steady_clock::now();
  std::chrono::milliseconds longest{0};
  for (int i = 0; i < beats; ++i) {
    auto const seen = stream.comments();
    if (!stream.wait_for_comments(seen + 1, 5s)) return 5s;
    auto const now = std::chrono::steady_clock::now();
    longest = std::max(longest, std::chrono::duration_cast<std::chrono::milliseconds>(now - last));
    last = now;
  }
  return longest;
}

}  // namespace disk_full
}  // namespace

TEST_CASE("a full disk: 503s and /healthz 503, logged once, heartbeats go on, then no gap",
          "[disk_full]") {
  using namespace disk_full;
  ft::tmpfs_mount disk(tmpfs_bytes);
  if (!mounted(disk)) return;
  ft::factsd_instance daemon("sqlite:" + (disk / "facts.db"),
                             {"--threads", "2", "--heartbeat", "1", "--sync", "full"});
  auto const port = daemon.port();

  ft::sse_client stream(port);
  auto const snapshot = stream.next_event(10s);
  REQUIRE(snapshot.has_value());
  REQUIRE(snapshot->data == "[]");

  // Acknowledged facts, by id, with the number in their info.
  std::map<std::uint64_t, int> acked;
  int n = 0;
  for (; n < 20; ++n) {
    auto const res = post_keyed(port, n);
    REQUIRE(res.result_int() == 201);
    acked[ft::seq_from_location(res)] = n;
  }
  // Fills the disk, then publishes until it says no: the WAL may still have room in its last
  // page. True once a POST was refused.
  auto const fill_until_refused = [&] {
    auto const filled = disk.fill("filler");
    INFO("filler: " << filled << " bytes, " << disk.available() << " bytes left");
    for (int tries = 0; tries < 400; ++tries, ++n) {
      auto const res = post_keyed(port, n);
      if (res.result_int() != 201) return ++n, true;
      acked[ft::seq_from_location(res)] = n;
    }
    return false;
  };
  REQUIRE(fill_until_refused());
  auto const last_acked = acked.rbegin()->first;

  // Many refused POSTs, each a 503 with a JSON error, and one line in the log for all of them.
  int refused = 1;
  for (int i = 0; i < 30; ++i, ++n) {
    auto const res = post_keyed(port, n);
    INFO("POST while full -> " << res.result_int() << " " << res.body());
    CHECK(res.result_int() == 503);
    CHECK(ft::is_json_error(res));
    refused += res.result_int() == 503;
  }
  auto const keyed = post_keyed(port, 1000, "after-the-disk-filled");
  CHECK(keyed.result_int() == 503);
  CHECK(ft::is_json_error(keyed));

  auto const health = ft::get(port, "/healthz");
  INFO("/healthz -> " << health.body());
  CHECK(health.result_int() == 503);
  CHECK(nlohmann::json::parse(health.body()).value("error", "").find("full") != std::string::npos);

  // --heartbeat 1: a stream never waits more than the period (plus the second a busy machine
  // may add) for a byte, full disk or not.
  auto const gap = longest_heartbeat_gap(stream, 4);
  INFO("longest heartbeat gap while full: " << gap.count() << " ms");
  CHECK(gap <= 2000ms);

  auto const log = daemon.process().err();
  INFO("refused POSTs: " << refused << "; factsd log:\n" << log);
  CHECK(refused >= 31);
  CHECK(logged(daemon, full_line, 1));
  CHECK(ft::count_of(log, "storing") == 0);  // no per-batch failure lines
  CHECK(ft::count_of(log, back_line) == 0);

  // Space comes back. A /healthz sees it first (a load balancer that took factsd out sends it
  // no POST to find out); the next POST is stored with the next id, and the key refused while
  // full was never taken, so it makes a new fact.
  std::filesystem::remove(disk / "filler");
  CHECK(ft::get(port, "/healthz").result_int() == 200);
  CHECK(logged(daemon, back_line, 1));
  auto const after = post_keyed(port, 1000, "after-the-disk-filled");
  INFO("POST after space came back -> " << after.result_int() << " " << after.body());
  REQUIRE(after.result_int() == 201);
  CHECK(ft::seq_from_location(after) == last_acked + 1);
  CHECK_FALSE(ft::has_header(after, "Idempotent-Replayed"));
  acked[last_acked + 1] = 1000;

  // A second time, and now the POST finds the space back: each outage logged once, each end.
  REQUIRE(fill_until_refused());
  CHECK(ft::get(port, "/healthz").result_int() == 503);
  std::filesystem::remove(disk / "filler");
  auto const again = post_keyed(port, 1001);
  REQUIRE(again.result_int() == 201);
  CHECK(ft::seq_from_location(again) == acked.rbegin()->first + 1);
  acked[ft::seq_from_location(again)] = 1001;
  CHECK(ft::get(port, "/healthz").result_int() == 200);
  INFO("factsd log:\n" << daemon.process().err());
  CHECK(logged(daemon, full_line, 2));
  CHECK(logged(daemon, back_line, 2));

  // Every acknowledged fact, and nothing else, is stored and was streamed, with dense ids.
  std::vector<ft::received_fact> expected;
  for (auto const& [id, number] : acked)
    expected.push_back({id, "fact " + std::to_string(number)});
  CHECK(expected.front().id == 1);
  CHECK(expected.back().id == expected.size());
  CHECK(ft::read_history(port) == expected);
  std::vector<ft::received_fact> streamed;
  while (streamed.size() < expected.size()) {
    auto const e = stream.next_event(10s);
    if (!e || !e->id) break;
    auto const fact = nlohmann::json::parse(e->data);
    streamed.push_back({std::stoull(*e->id), fact.value("info", "")});
  }
  CHECK(streamed == expected);

  daemon.process().send_signal(SIGTERM);
  REQUIRE(daemon.process().wait_exit(20s));
  CHECK(daemon.process().exit_code() == 0);
}

TEST_CASE("a full disk under concurrent publishers: retried with their keys, ids 1..N each once",
          "[disk_full]") {
  using namespace disk_full;
  ft::tmpfs_mount disk(tmpfs_bytes);
  if (!mounted(disk)) return;
  ft::factsd_instance daemon("sqlite:" + (disk / "facts.db"), {"--threads", "2"});
  auto const port = daemon.port();
  // Each attempt without a 201 is retried with its Idempotency-Key, 50 ms later.
  ft::publish_load load({port}, {.publishers = 8,
                                 .facts = 800,
                                 .tag = "full",
                                 .pause = 5ms,
                                 .retry_pause = 50ms,
                                 .give_up_after = 90s});
  REQUIRE(ft::eventually([&] { return load.acked() >= 100; }, 30s));
  disk.fill("filler");
  // Full long enough for many group-committed batches to fail.
  auto const refused = [&] {
    return ft::metric_value(ft::metrics_text(port),
                            R"(factsd_http_requests_total{route="fact",status="503"})")
        .value_or(0);
  };
  REQUIRE(ft::eventually([&] { return refused() >= 100; }, 30s));
  auto const acked_while_full = load.acked();
  CHECK(ft::get(port, "/healthz").result_int() == 503);
  std::filesystem::remove(disk / "filler");
  load.wait();

  std::string why;
  auto const infos = ft::infos_by_id(load.facts(), why);
  INFO("acked while full: " << acked_while_full << " of 800; 503s: " << refused() << "; " << why
                            << "\nfactsd log:\n"
                            << daemon.process().err());
  CHECK(why.empty());
  CHECK(infos.size() == 800);
  CHECK(ft::difference(ft::read_history(port), infos) == "");
  CHECK(logged(daemon, full_line, 1));
  CHECK(logged(daemon, back_line, 1));
  CHECK(ft::get(port, "/healthz").result_int() == 200);
}

TEST_CASE("a start on a full disk stops with one line and leaves the file as it was",
          "[disk_full]") {
  using namespace disk_full;
  ft::tmpfs_mount disk(tmpfs_bytes);
  if (!mounted(disk)) return;
  auto const db = disk / "facts.db";
  {
    ft::factsd_instance daemon("sqlite:" + db, {"--threads", "1"});
    for (int n = 0; n < 5; ++n)
      REQUIRE(post_keyed(daemon.port(), n).result_int() == 201);
    daemon.process().send_signal(SIGTERM);
    REQUIRE(daemon.process().wait_exit(20s));
    REQUIRE(daemon.process().exit_code() == 0);
  }
  disk.fill("filler");
  auto const names = ft::list_dir(disk.path());
  auto const before = ft::read_file_state(db);
  REQUIRE(before.exists);

  ft::child_process proc({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", "sqlite:" + db});
  REQUIRE(proc.wait_exit(20s));
  auto const err = proc.err();
  INFO("factsd stderr:\n" << err);
  CHECK(proc.exit_code() == 1);
  CHECK(ft::count_of(err, "\n") == 1);
  CHECK(ft::count_of(err, "critical") == 1);
  CHECK(ft::count_of(err, full_line) == 1);
  CHECK(ft::list_dir(disk.path()) == names);  // no WAL, no WAL index made
  CHECK(ft::read_file_state(db) == before);
}
