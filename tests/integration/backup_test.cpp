// `factsd backup` against a factsd that keeps committing: concurrent publishers run through the
// backup, and a factsd started on the copy must serve every fact acknowledged before the backup
// began, with its id, and go on from the next id. The backup must not hold the writer back:
// POSTs answered during it are held to a bound well under the backup's own length. Then the
// command's refusals, each one line that leaves DEST as it was.

#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/fact_history.hpp"
#include "support/factsd_instance.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/publish_load.hpp"
#include "support/test_facts.hpp"
#include "support/tmpfs_mount.hpp"
#include "support/wait.hpp"

namespace {
namespace backup {

using namespace std::chrono_literals;
namespace ft = facts::test;
using steady = std::chrono::steady_clock;

// A history of some size, so that the copy takes long enough (about a second) for a writer held
// back by it to show in the POSTs' answer times.
constexpr int history_facts = 10'000;
constexpr std::size_t history_pad_bytes = 2000;

/// Fills a factsd database (made by factsd, now stopped) with `history_facts` facts at once.
void add_history(std::string const& db) {
  SQLite::Database file(db, SQLite::OPEN_READWRITE);
  SQLite::Transaction tx(file);
  SQLite::Statement insert(file, "INSERT INTO facts (json, created) VALUES (?, 0)");
  std::string const pad(history_pad_bytes, 'h');
  for (int i = 0; i < history_facts; ++i) {
    insert.bind(1, nlohmann::ordered_json{{"info", "history-" + std::to_string(i)},
                                          {"source", "backup-test"},
                                          {"pad", pad}}
                       .dump());
    insert.exec();
    insert.reset();
  }
  tx.commit();
}

/// Runs `factsd backup` with `args`; returns the finished process.
std::unique_ptr<ft::child_process> run_backup(std::vector<std::string> args) {
  args.insert(args.begin(), {FACTSD_BINARY, "backup"});
  auto proc = std::make_unique<ft::child_process>(args);
  REQUIRE(proc->wait_exit(120s));
  return proc;
}

/// The last id a successful backup reports ("... last id N, ...").
std::uint64_t reported_last_id(std::string const& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("last id ([0-9]+)"))) return 0;
  return std::stoull(m[1]);
}

std::chrono::milliseconds answered_at_offset(ft::publish_attempt const& a, steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(a.sent + a.took - t0);
}

}  // namespace backup
}  // namespace

TEST_CASE("backup under concurrent publishers: a factsd on the copy serves every earlier ack",
          "[backup]") {
  using namespace backup;
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  auto const copy = dir / "copy.db";
  {
    ft::factsd_instance made("sqlite:" + db, {"--threads", "1"});
    made.process().send_signal(SIGTERM);
    REQUIRE(made.process().wait_exit(20s));
  }
  add_history(db);
  ft::factsd_instance daemon("sqlite:" + db, {"--threads", "2", "--sync", "full"});

  ft::publish_load load(
      {daemon.port()},
      {.publishers = 8, .facts = 4000, .tag = "backup", .pause = 2ms, .give_up_after = 90s});
  REQUIRE(ft::eventually([&] { return load.acked() >= 500; }, 60s));
  auto const backup_started = steady::now();
  auto const backup_proc = run_backup({"--store", "sqlite:" + db, copy});
  auto const backup_ended = steady::now();
  auto const acked_at_end = load.acked();
  load.wait();
  INFO("factsd backup stdout: " << backup_proc->out() << "stderr: " << backup_proc->err());
  REQUIRE(backup_proc->exit_code() == 0);
  CHECK(backup_proc->err().empty());
  auto const copy_last = reported_last_id(backup_proc->out());
  auto const backup_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(backup_ended - backup_started);

  // The acknowledgements before the backup began (an answer whose time, rounded down to the
  // millisecond, plus one, still falls before); the longest answer to a POST sent during it, and
  // the longest time without any answer (the writer's longest stall, as publishers see it).
  std::map<std::uint64_t, std::string> acked_before;
  std::vector<std::chrono::milliseconds> answers;  // 201s, from the backup's start
  std::chrono::milliseconds longest_during{0}, longest_before{0};
  for (auto const& fact : load.facts()) {
    for (auto const& a : fact.attempts) {
      auto const at = answered_at_offset(a, backup_started);
      if (a.status == 201 && at + 1ms < 0ms) acked_before[a.id] = fact.info;
      if (a.status == 201) answers.push_back(at);
      if (a.sent >= backup_started && a.sent + a.took <= backup_ended)
        longest_during = std::max(longest_during, a.took);
      else if (a.sent < backup_started)
        longest_before = std::max(longest_before, a.took);
    }
  }
  std::sort(answers.begin(), answers.end());
  std::chrono::milliseconds stall_during{0}, stall_before{0};
  std::size_t answered_during = 0;
  for (std::size_t i = 1; i < answers.size(); ++i) {
    auto const gap = answers[i] - answers[i - 1];
    if (answers[i - 1] >= 0ms && answers[i] <= backup_ms) {
      stall_during = std::max(stall_during, gap);
      ++answered_during;
    } else if (answers[i] < 0ms) {
      stall_before = std::max(stall_before, gap);
    }
  }
  INFO("backup took " << backup_ms.count() << " ms; " << acked_before.size() << " acks before it, "
                      << acked_at_end << " by its end; " << answered_during
                      << " answered during it; the longest answer during it "
                      << longest_during.count() << " ms (before it: " << longest_before.count()
                      << " ms), the longest time without an answer " << stall_during.count()
                      << " ms (before it: " << stall_before.count() << " ms)");
  REQUIRE(acked_before.size() >= 400);  // 500 were counted, a few within the last millisecond
  CHECK(answered_during >= 20);
  // A writer held back for the whole copy would answer no POST in less than the copy's length.
  CHECK(backup_ms >= 500ms);
  CHECK(stall_during * 2 < backup_ms);
  CHECK(longest_during * 2 < backup_ms);
  CHECK(ft::list_dir(dir.path()) ==
        std::set<std::string>{"facts.db", "facts.db-wal", "facts.db-shm", "copy.db"});

  // The history is checked by its count and ends; the facts posted under load one by one.
  auto const posted = ft::read_history(daemon.port(), 1000, history_facts);
  ft::factsd_instance restored("sqlite:" + copy, {"--threads", "2"});
  auto const status = ft::status(restored.port());
  auto const copied = ft::read_history(restored.port(), 1000, history_facts);

  // The copy is the original up to a point: every id from 1 to its last, each as stored.
  REQUIRE(copy_last >= acked_before.rbegin()->first);
  CHECK(status.at("facts").get<std::uint64_t>() == copy_last);
  CHECK(status.at("last_id").get<std::uint64_t>() == copy_last);
  REQUIRE(copied.size() == copy_last - history_facts);
  REQUIRE(posted.size() >= copied.size());
  CHECK(std::equal(copied.begin(), copied.end(), posted.begin()));
  std::size_t missing = 0;
  for (auto const& [id, info] : acked_before) {
    auto const at = id - history_facts - 1;
    missing += !(at < copied.size() && copied[at].id == id && copied[at].info == info);
  }
  CHECK(missing == 0);
  auto const first = ft::get(restored.port(), "/facts/1");
  CHECK(first.result_int() == 200);
  CHECK(first.body().find("history-0") != std::string::npos);

  auto const next = ft::post_fact(restored.port(), ft::numbered_fact(1));
  REQUIRE(next.result_int() == 201);
  CHECK(ft::seq_from_location(next) == copy_last + 1);
}

TEST_CASE("factsd backup refuses with one line and leaves DEST as it was", "[backup]") {
  using namespace backup;
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  {
    ft::factsd_instance made("sqlite:" + db, {"--threads", "1"});
    REQUIRE(ft::post_fact(made.port(), ft::numbered_fact(1)).result_int() == 201);
    made.process().send_signal(SIGTERM);
    REQUIRE(made.process().wait_exit(20s));
  }
  dir.write("taken.db", "keep me");
  dir.write("other.db", "not a database at all, just text that is long enough to matter");

  auto const refused = [&](std::vector<std::string> args, std::string const& why, int code) {
    auto const names = ft::list_dir(dir.path());
    auto const taken = ft::read_file_state(dir / "taken.db");
    auto const proc = run_backup(std::move(args));
    INFO("stderr: " << proc->err());
    CHECK(proc->exit_code() == code);
    CHECK(ft::count_of(proc->err(), "\n") == 1);
    CHECK(proc->err().find(why) != std::string::npos);
    CHECK(proc->out().empty());
    CHECK(ft::list_dir(dir.path()) == names);
    CHECK(ft::read_file_state(dir / "taken.db") == taken);
  };
  refused({"--store", "sqlite:" + db, dir / "taken.db"}, "give --force", 1);
  refused({"--store", "sqlite:" + (dir / "absent.db"), dir / "new.db"}, "does not exist", 1);
  refused({"--store", "sqlite:" + (dir / "other.db"), dir / "new.db"}, "not a", 1);
  refused({"--store", "sqlite:" + db, dir / "no-such-folder/new.db"}, "does not exist", 1);
  refused({"--store", "memory:", dir / "new.db"}, "not sqlite:PATH", 2);
  refused({"--store", "sqlite:" + db}, "DEST", 2);

  // DEST on a full disk: the copy cannot be written, and nothing is left behind.
  ft::tmpfs_mount small(1024 * 1024);
  if (small.mounted()) {
    small.fill("filler");
    auto const names = ft::list_dir(small.path());
    auto const proc = run_backup({"--store", "sqlite:" + db, small / "copy.db"});
    INFO("stderr: " << proc->err());
    CHECK(proc->exit_code() == 1);
    CHECK(ft::count_of(proc->err(), "\n") == 1);
    CHECK(proc->err().find("no space left") != std::string::npos);
    CHECK(ft::list_dir(small.path()) == names);
  } else {
    WARN("skipped DEST on a full disk: cannot mount a tmpfs (" << small.error() << ")");
  }

  auto const help = run_backup({"--help"});
  CHECK(help->exit_code() == 0);
  CHECK(help->out().find("consistent copy") != std::string::npos);

  // --force replaces DEST with a copy a factsd opens.
  auto const forced = run_backup({"--store", "sqlite:" + db, "--force", dir / "taken.db"});
  INFO("stderr: " << forced->err());
  REQUIRE(forced->exit_code() == 0);
  CHECK(reported_last_id(forced->out()) == 1);
  ft::factsd_instance restored("sqlite:" + (dir / "taken.db"), {"--threads", "1"});
  CHECK(ft::read_history(restored.port()) == std::vector<ft::received_fact>{{1, "fact 1"}});
}
