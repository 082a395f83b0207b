// Durability of the real factsd binary on its SQLite store: kill -9 under load, clean restarts,
// startup errors that leave the file alone, idempotency keys across restarts, the replay window
// and history pages, and the memory: store for contrast. Every test has its own temp folder and
// every wait a deadline.

#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "facts/store/sqlite_store.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/resources.hpp"
#include "support/sse_client.hpp"
#include "support/test_facts.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
namespace ft = facts::test;
using ft::http::verb;

/** Represents a started daemon and the port it listens on. */
struct started {
  std::unique_ptr<ft::child_process> proc;
  std::uint16_t port = 0;
};

/// Starts factsd in `dir` on 127.0.0.1:0 with `flags`; fails the test when no start line comes.
started start_daemon(ft::temp_dir const& dir, std::vector<std::string> const& flags,
                     ft::env_list env = {}) {
  std::vector<std::string> args{FACTSD_BINARY, "--listen", "127.0.0.1:0", "--threads", "2"};
  args.insert(args.end(), flags.begin(), flags.end());
  started s;
  auto opts = ft::in_dir(dir.path().string());
  opts.env = std::move(env);
  s.proc = std::make_unique<ft::child_process>(args, opts);
  auto const port = s.proc->wait_for_port();
  INFO("factsd stderr:\n" << s.proc->err());
  REQUIRE(port.has_value());
  s.port = *port;
  return s;
}

std::vector<std::string> sqlite_flags(std::string const& db, std::vector<std::string> more = {}) {
  std::vector<std::string> flags{"--store", "sqlite:" + db};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

/// SIGTERM, and the clean exit that must follow.
void stop_cleanly(started& s) {
  s.proc->send_signal(SIGTERM);
  REQUIRE(s.proc->wait_exit(20s));
  INFO("factsd stderr:\n" << s.proc->err());
  CHECK(s.proc->term_signal() == 0);
  CHECK(s.proc->exit_code() == 0);
}

ft::response post(std::uint16_t port, std::string const& body, std::string const& key = {}) {
  ft::header_list headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  return ft::post_fact(port, body, "application/json", headers);
}

/// POSTs a fact that must be created; returns its seq.
std::uint64_t post_created(std::uint16_t port, std::string const& body) {
  auto const res = post(port, body);
  INFO("POST " << body << " -> " << res.result_int() << " " << res.body());
  REQUIRE(res.result_int() == 201);
  auto const seq = ft::seq_from_location(res);
  REQUIRE(seq != 0);
  return seq;
}

/** Represents one stored fact as GET /facts pages show it. */
struct stored_fact {
  std::uint64_t id = 0;
  std::string json;  ///< compact, fields in the stored order
};

/// One page of GET /facts, checked for its shape.
std::vector<stored_fact> read_page(std::uint16_t port, std::string const& query,
                                   std::uint64_t* next = nullptr) {
  auto const res = ft::get(port, "/facts?" + query);
  INFO("GET /facts?" << query << " -> " << res.result_int() << " " << res.body().substr(0, 300));
  REQUIRE(res.result_int() == 200);
  CHECK(ft::header(res, "Content-Type").rfind("application/json", 0) == 0);
  auto const body = nlohmann::ordered_json::parse(res.body());
  REQUIRE(body.is_object());
  REQUIRE(body.contains("facts"));
  REQUIRE(body.contains("next"));
  REQUIRE(body["facts"].is_array());
  REQUIRE(body["next"].is_number_unsigned());
  std::vector<stored_fact> out;
  for (auto const& item : body["facts"]) {
    REQUIRE(item.is_object());
    REQUIRE(item.size() == 2);
    REQUIRE(item["id"].is_number_unsigned());
    REQUIRE(item["fact"].is_object());
    out.push_back({item["id"].get<std::uint64_t>(), item["fact"].dump()});
  }
  if (next) *next = body["next"].get<std::uint64_t>();
  return out;
}

/// Every stored fact, walking the pages with `next` until an empty one.
std::vector<stored_fact> read_all(std::uint16_t port) {
  std::vector<stored_fact> all;
  std::uint64_t after = 0;
  for (int pages = 0; pages < 10'000; ++pages) {
    std::uint64_t next = 0;
    auto page = read_page(port, "after=" + std::to_string(after) + "&limit=1000", &next);
    if (page.empty()) {
      CHECK(next == after);
      return all;
    }
    CHECK(next == page.back().id);
    REQUIRE(next > after);
    all.insert(all.end(), page.begin(), page.end());
    after = next;
  }
  FAIL("GET /facts never returned an empty page");
  return all;
}

/// The JSON array of a snapshot holding `facts`, as the daemon frames it.
std::string snapshot_array(std::vector<stored_fact>::const_iterator first,
                           std::vector<stored_fact>::const_iterator last) {
  std::string out = "[";
  for (auto it = first; it != last; ++it) {
    if (it != first) out += ',';
    out += it->json;
  }
  return out + "]";
}

std::string snapshot_array(std::vector<stored_fact> const& facts) {
  return snapshot_array(facts.begin(), facts.end());
}

std::int64_t status_value(std::uint16_t port, char const* key) {
  return ft::status(port).at(key).get<std::int64_t>();
}

/// The first event of a stream: the snapshot.
ft::sse_event first_event(ft::sse_client& stream) {
  auto e = stream.next_event(10s);
  REQUIRE(e.has_value());
  REQUIRE(e->id.has_value());
  return *e;
}

std::string fact_body(std::string const& tag, int n) {
  return R"({"info":{"tag":")" + tag + R"(","n":)" + std::to_string(n) + R"(},"text":"fact )" +
         tag + R"("})";
}

/// The lines of stderr that are not empty.
std::vector<std::string> lines_of(std::string const& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// A startup that must fail: exit code 1 and one critical line on stderr that says `why`.
void expect_startup_failure(ft::child_process& proc, std::string const& why) {
  REQUIRE(proc.wait_exit(20s));
  auto const err = proc.err();
  INFO("factsd stderr:\n" << err);
  CHECK(proc.term_signal() == 0);
  CHECK(proc.exit_code() == 1);
  auto const lines = lines_of(err);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.size() == 1);  // one line: a message must not carry line breaks
  CHECK(lines[0].find("critical") != std::string::npos);
  CHECK(lines[0].find(why) != std::string::npos);
}

/// Starts factsd on `db` in `dir`, expecting it to fail with `why` and leave the folder as it
/// was: the same entries, and every file with the same bytes and mtime.
void expect_refused_and_untouched(ft::temp_dir const& dir, std::string const& db,
                                  std::string const& why) {
  auto const names_before = ft::list_dir(dir.path());
  std::map<std::string, ft::file_state> before;
  for (auto const& name : names_before)
    before[name] = ft::read_file_state(dir / name);
  REQUIRE(before.count("facts.db") == 1);

  {
    ft::child_process proc({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", "sqlite:" + db},
                           ft::in_dir(dir.path().string()));
    expect_startup_failure(proc, why);
  }

  CHECK(ft::list_dir(dir.path()) == names_before);
  for (auto const& [name, state] : before) {
    INFO("file " << name);
    auto const after = ft::read_file_state(dir / name);
    CHECK(after.exists);
    CHECK(after.mtime_ns == state.mtime_ns);
    CHECK(after.bytes.size() == state.bytes.size());
    CHECK((after.bytes == state.bytes));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Crash: kill -9 at a random moment under 8 concurrent publishers, five times on one file.

namespace {

/** Represents what one round of publishing saw before the crash. */
struct round_log {
  std::mutex mutex;
  std::vector<stored_fact> acknowledged;  // every 201: its id and the JSON we sent
  std::vector<std::string> problems;      // anything wrong seen while the daemon was alive
};

void publish_until_stopped(std::uint16_t port, int round, int thread, std::atomic<bool> const& stop,
                           std::atomic<bool> const& killed, round_log& log) {
  std::optional<ft::http_connection> conn;
  for (int n = 0; !stop; ++n) {
    auto const tag =
        "r" + std::to_string(round) + "-t" + std::to_string(thread) + "-" + std::to_string(n);
    auto const body = fact_body(tag, n);
    try {
      if (!conn) conn.emplace(port, 3s);
      auto const res = conn->send(
          ft::make_request(verb::post, "/fact", body, {{"Content-Type", "application/json"}}), 10s);
      std::lock_guard lock(log.mutex);
      if (res.result_int() == 201) {
        auto const seq = ft::seq_from_location(res);
        if (seq == 0 || res.body() != body || ft::has_header(res, "Idempotent-Replayed"))
          log.problems.push_back("bad 201 for " + tag + ": Location '" +
                                 ft::header(res, "Location") + "', body " + res.body());
        else
          log.acknowledged.push_back({seq, body});
      } else if (!killed) {
        log.problems.push_back("POST " + tag + " answered " + std::to_string(res.result_int()) +
                               " " + res.body());
      }
      if (!res.keep_alive()) conn.reset();
    } catch (std::exception const& e) {
      if (!killed) {
        std::lock_guard lock(log.mutex);
        log.problems.push_back("POST " + tag + " failed while the daemon was up: " + e.what());
      }
      return;  // the daemon is gone (or broken): this publisher is done
    }
  }
}

/** Represents the events one stream received before the crash. */
struct stream_log {
  std::uint64_t snapshot_id = 0;
  std::vector<stored_fact> events;
  std::vector<std::string> problems;
};

void follow_stream(ft::sse_client& stream, std::atomic<bool> const& stop, stream_log& log) {
  while (!stop) {
    auto e = stream.next_event(200ms);
    if (!e) continue;
    std::uint64_t id = 0;
    try {
      id = std::stoull(e->id.value_or(""));
    } catch (std::exception const&) {
      log.problems.push_back("event without a numeric id: " + e->data);
      continue;
    }
    if (e->type != "message") log.problems.push_back("unexpected event type " + e->type);
    log.events.push_back({id, e->data});
  }
}

}  // namespace

TEST_CASE("durability: kill -9 under concurrent POSTs loses no acknowledged fact",
          "[durability][crash]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  std::map<std::uint64_t, std::string> acknowledged;  // every 201 of every round, by id
  std::uint64_t stored_before = 0;                    // facts on disk when the round began

  // Five rounds with --sync full as the issue asks, then one with --sync normal, which must
  // survive a crash of factsd too (only a crash of the machine may lose its newest commits).
  for (int round = 0; round < 6; ++round) {
    std::mt19937 rng(static_cast<unsigned>(round) * 7919U + 17U);
    auto const kill_after = std::chrono::milliseconds(std::uniform_int_distribution(50, 400)(rng));
    std::string const sync = round < 5 ? "full" : "normal";
    INFO("round " << round << " (--sync " << sync << "), kill -9 after " << kill_after.count()
                  << " ms of publishing");

    round_log published;
    stream_log streamed;
    {
      auto daemon = start_daemon(dir, sqlite_flags(db, {"--sync", sync}));
      ft::sse_client stream(daemon.port);
      REQUIRE(stream.head().result_int() == 200);
      auto const snapshot = first_event(stream);
      streamed.snapshot_id = std::stoull(*snapshot.id);
      CHECK(streamed.snapshot_id == stored_before);

      std::atomic<bool> stop{false};
      std::atomic<bool> killed{false};
      std::thread reader([&] { follow_stream(stream, stop, streamed); });
      std::vector<std::thread> publishers;
      for (int t = 0; t < 8; ++t)
        publishers.emplace_back(
            [&, t] { publish_until_stopped(daemon.port, round, t, stop, killed, published); });

      std::this_thread::sleep_for(kill_after);
      killed = true;
      bool const reaped = daemon.proc->kill_hard();
      stop = true;
      for (auto& p : publishers)
        p.join();
      reader.join();
      REQUIRE(reaped);
      REQUIRE(daemon.proc->term_signal() == SIGKILL);
    }
    INFO(published.acknowledged.size()
         << " facts acknowledged, " << streamed.events.size() << " events streamed in this round");
    for (auto const& p : published.problems)
      FAIL_CHECK(p);
    for (auto const& p : streamed.problems)
      FAIL_CHECK(p);
    // No two 201s named the same id.
    for (auto const& f : published.acknowledged) {
      INFO("id " << f.id << " acknowledged for " << f.json);
      CHECK(acknowledged.count(f.id) == 0);
      CHECK(f.id > stored_before);
      acknowledged.emplace(f.id, f.json);
    }

    // Restart on the same file.
    auto daemon = start_daemon(dir, sqlite_flags(db, {"--sync", sync}));
    auto const on_disk = read_all(daemon.port);
    auto const last = static_cast<std::uint64_t>(on_disk.size());
    INFO(last << " facts on disk after the restart");

    // Ids are exactly 1..last: no hole, no duplicate.
    for (std::size_t i = 0; i < on_disk.size(); ++i) {
      if (on_disk[i].id != i + 1) {
        FAIL_CHECK("fact number " << i + 1 << " on disk has id " << on_disk[i].id);
        break;
      }
    }
    CHECK(status_value(daemon.port, "facts") == static_cast<std::int64_t>(last));
    CHECK(status_value(daemon.port, "last_id") == static_cast<std::int64_t>(last));
    CHECK(last >= stored_before);

    // Every acknowledged fact is there, under its id, with its JSON.
    std::size_t missing = 0;
    for (auto const& [id, json] : acknowledged) {
      if (id > last || on_disk[id - 1].json != json) {
        if (++missing <= 5)
          FAIL_CHECK("acknowledged fact "
                     << id << " " << json << " is "
                     << (id > last ? std::string("missing") : "stored as " + on_disk[id - 1].json));
      }
    }
    CHECK(missing == 0);

    // Each POST was stored at most once: the tags on disk are unique.
    std::set<std::string> tags;
    for (auto const& f : on_disk) {
      auto const tag = nlohmann::json::parse(f.json).at("info").at("tag").get<std::string>();
      if (!tags.insert(tag).second) FAIL_CHECK("tag " << tag << " stored twice");
    }

    // The stream saw only committed facts, in seq order, each once.
    std::uint64_t expected = streamed.snapshot_id + 1;
    for (auto const& e : streamed.events) {
      if (e.id != expected) {
        FAIL_CHECK("stream got id " << e.id << " where " << expected << " was due");
        break;
      }
      ++expected;
      if (e.id > last) {
        FAIL_CHECK("stream got id " << e.id << " that is not on disk (" << last << " are)");
        break;
      }
      CHECK(e.json == on_disk[e.id - 1].json);
    }
    auto const last_seen =
        streamed.events.empty() ? streamed.snapshot_id : streamed.events.back().id;

    // A few acknowledged facts one by one, as GET /facts/<id> serves them.
    for (std::size_t i = 0; i < published.acknowledged.size();
         i += 1 + published.acknowledged.size() / 4) {
      auto const& f = published.acknowledged[i];
      auto const res = ft::get(daemon.port, "/facts/" + std::to_string(f.id));
      CHECK(res.result_int() == 200);
      CHECK(res.body() == f.json);
    }

    // The stream's client reconnects with its Last-Event-ID: exactly the facts after it.
    {
      INFO("reconnecting with Last-Event-ID " << last_seen);
      ft::sse_client resumed(daemon.port, {{"Last-Event-ID", std::to_string(last_seen)}});
      auto const snapshot = first_event(resumed);
      CHECK(snapshot.type == "message");
      CHECK(*snapshot.id == std::to_string(last));
      auto const from = std::min<std::uint64_t>(last_seen, last);
      CHECK(snapshot.data ==
            snapshot_array(on_disk.begin() + static_cast<std::ptrdiff_t>(from), on_disk.end()));

      // Ids continue after the newest stored one, never reusing one.
      auto const body = fact_body("r" + std::to_string(round) + "-after-restart", 0);
      auto const seq = post_created(daemon.port, body);
      CHECK(seq == last + 1);
      acknowledged.emplace(seq, body);
      auto const live = resumed.next_event(10s);
      REQUIRE(live.has_value());
      CHECK(live->id == std::to_string(last + 1));
      CHECK(live->data == body);
    }
    stored_before = last + 1;
    stop_cleanly(daemon);
  }
  CHECK(acknowledged.size() > 5);
}

// ---------------------------------------------------------------------------------------------
// 2. Clean restart.

TEST_CASE("durability: after SIGTERM and a start the snapshot is the same array",
          "[durability][restart]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  std::string before_data;
  std::string before_id;
  std::vector<stored_fact> before_pages;
  {
    auto daemon = start_daemon(dir, sqlite_flags(db));
    for (int i = 1; i <= 20; ++i)
      CHECK(post_created(daemon.port,
                         R"({"n":)" + std::to_string(i) +
                             R"(,"text":"fact \"quoted\" é","list":[1,2,{"z":null}]})") ==
            static_cast<std::uint64_t>(i));
    ft::sse_client stream(daemon.port);
    auto const snapshot = first_event(stream);
    before_data = snapshot.data;
    before_id = *snapshot.id;
    before_pages = read_all(daemon.port);
    stream.close();
    stop_cleanly(daemon);
  }
  CHECK(before_id == "20");
  CHECK(before_data == snapshot_array(before_pages));

  auto daemon = start_daemon(dir, sqlite_flags(db));
  ft::sse_client stream(daemon.port);
  auto const snapshot = first_event(stream);
  CHECK(snapshot.type == "message");
  CHECK(*snapshot.id == before_id);
  CHECK(snapshot.data == before_data);
  auto const after_pages = read_all(daemon.port);
  REQUIRE(after_pages.size() == before_pages.size());
  for (std::size_t i = 0; i < after_pages.size(); ++i) {
    CHECK(after_pages[i].id == before_pages[i].id);
    CHECK(after_pages[i].json == before_pages[i].json);
  }
  CHECK(status_value(daemon.port, "facts") == 20);

  CHECK(post_created(daemon.port, R"({"n":21})") == 21);
  auto const live = stream.next_event(10s);
  REQUIRE(live.has_value());
  CHECK(live->id == "21");
  CHECK(live->data == R"({"n":21})");
  stop_cleanly(daemon);
}

// ---------------------------------------------------------------------------------------------
// 3. Startup errors: one line, a non-zero exit, and the file as it was.

TEST_CASE("durability: a text file is refused and left alone", "[durability][startup]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  {
    std::ofstream out(db, std::ios::binary);
    out << "these are my notes, not a database\n";
    for (int i = 0; i < 200; ++i)
      out << "line " << i << ": nothing to see here\n";
  }
  expect_refused_and_untouched(dir, db, "not a SQLite database");
}

TEST_CASE("durability: another program's SQLite database is refused and left alone",
          "[durability][startup]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  {
    SQLite::Database other(db, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("CREATE TABLE x (a INTEGER, b TEXT); INSERT INTO x VALUES (1, 'one'), (2, 'two')");
  }
  expect_refused_and_untouched(dir, db, "not a factsd database");
  SQLite::Database other(db, SQLite::OPEN_READONLY);
  CHECK(other.execAndGet("SELECT count(*) FROM x").getInt() == 2);
  CHECK(other.execAndGet("SELECT count(*) FROM sqlite_master").getInt() == 1);
}

TEST_CASE("durability: a corrupt factsd database is refused and left alone",
          "[durability][startup]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  {
    auto daemon = start_daemon(dir, sqlite_flags(db));
    for (int i = 1; i <= 300; ++i)
      post_created(daemon.port, fact_body("corrupt-" + std::to_string(i), i));
    stop_cleanly(daemon);
  }
  // A clean stop leaves one file: everything is in it, nothing in a WAL.
  REQUIRE(ft::list_dir(dir.path()) == std::set<std::string>{"facts.db"});

  // The approach is checked on a copy: SQLite itself must find it corrupt.
  auto const probe = dir / "probe.db";
  std::filesystem::copy_file(db, probe);
  // Overwrite the root page of the facts table from its byte 100 to its end: its cells, with
  // the child page numbers and keys. Pages are 4096 bytes; page 1 holds the header and schema,
  // and in a file with auto_vacuum (every new store) page 2 is a pointer map, which
  // quick_check does not read: the root is asked for.
  std::int64_t root = 0;
  {
    SQLite::Database file(probe);  // the copy: db is opened by no one but factsd
    root = file.execAndGet("SELECT rootpage FROM sqlite_schema WHERE name = 'facts'").getInt64();
  }
  REQUIRE(root >= 2);
  auto corrupt = [root](std::string const& path) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f.good());
    f.seekp((root - 1) * 4096 + 100);
    std::string const garbage(4096 - 100, '\xA5');  // up to the end of that page
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    REQUIRE(f.good());
  };
  corrupt(probe);
  corrupt(db);
  {
    std::string check;
    try {
      SQLite::Database copy(probe, SQLite::OPEN_READWRITE);
      check = copy.execAndGet("PRAGMA quick_check").getString();
    } catch (SQLite::Exception const& e) {
      check = std::string("error: ") + e.what();
    }
    INFO("PRAGMA quick_check on the corrupted copy: " << check);
    REQUIRE(check != "ok");
  }
  std::filesystem::remove(probe);
  std::filesystem::remove(probe + "-wal");
  std::filesystem::remove(probe + "-shm");

  expect_refused_and_untouched(dir, db, "database is corrupt");
}

TEST_CASE("durability: a database held by a running factsd is refused, the first keeps serving",
          "[durability][startup]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  auto first = start_daemon(dir, sqlite_flags(db));
  CHECK(post_created(first.port, R"({"n":1})") == 1);
  CHECK(post_created(first.port, R"({"n":2})") == 2);

  expect_refused_and_untouched(dir, db, "locked by another process");

  CHECK(post_created(first.port, R"({"n":3})") == 3);
  auto const res = ft::get(first.port, "/facts/2");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == R"({"n":2})");
  CHECK(status_value(first.port, "facts") == 3);
  stop_cleanly(first);
}

TEST_CASE("durability: a folder we may not write is refused", "[durability][startup]") {
  ft::temp_dir dir;
  // The daemon runs as nobody when we are root (root writes anywhere), else as us.
  bool const as_root = ::geteuid() == 0;
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  auto const locked = dir.path() / "readonly";
  std::filesystem::create_directory(locked);
  REQUIRE(::chmod(locked.c_str(), as_root ? 0755 : 0555) == 0);
  auto const db = (locked / "facts.db").string();

  auto opts = ft::in_dir(dir.path().string());
  if (as_root) {
    opts.uid = 65534;
    opts.gid = 65534;
  }
  {
    ft::child_process proc({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", "sqlite:" + db},
                           opts);
    expect_startup_failure(proc, "is not writable");
    CHECK(proc.err().find(locked.string()) != std::string::npos);
  }
  CHECK(ft::list_dir(locked).empty());
  ::chmod(locked.c_str(), 0755);
}

// ---------------------------------------------------------------------------------------------
// 4. Idempotency keys.

TEST_CASE("durability: an Idempotency-Key stores one fact, broadcasts once, survives a restart",
          "[durability][idempotency]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  std::string const body = R"({"order":"A-17","amount":3})";
  std::string const other = R"({"order":"A-17","amount":4})";
  std::string const key = "order-A-17-attempt";
  {
    auto daemon = start_daemon(dir, sqlite_flags(db));
    ft::sse_client stream(daemon.port);
    CHECK(*first_event(stream).id == "0");

    auto const first = post(daemon.port, body, key);
    CHECK(first.result_int() == 201);
    CHECK(ft::header(first, "Location") == "/facts/1");
    CHECK_FALSE(ft::has_header(first, "Idempotent-Replayed"));

    auto const again = post(daemon.port, body, key);
    CHECK(again.result_int() == 201);
    CHECK(ft::header(again, "Location") == "/facts/1");
    CHECK(ft::header(again, "Idempotent-Replayed") == "true");
    CHECK(again.body() == body);
    CHECK(status_value(daemon.port, "facts") == 1);

    auto const conflict = post(daemon.port, other, key);
    CHECK(conflict.result_int() == 409);
    CHECK(ft::header(conflict, "Content-Type").rfind("application/json", 0) == 0);
    auto const error = nlohmann::json::parse(conflict.body(), nullptr, false);
    CHECK(error.is_object());
    CHECK(error.contains("error"));
    CHECK_FALSE(ft::has_header(conflict, "Location"));
    CHECK(status_value(daemon.port, "facts") == 1);
    CHECK(status_value(daemon.port, "last_id") == 1);

    // A fact without a key follows: the stream must show 1 then 2, nothing in between.
    CHECK(post_created(daemon.port, R"({"marker":true})") == 2);
    auto const e1 = stream.next_event(10s);
    REQUIRE(e1.has_value());
    CHECK(e1->id == "1");
    CHECK(e1->data == body);
    auto const e2 = stream.next_event(10s);
    REQUIRE(e2.has_value());
    CHECK(e2->id == "2");
    CHECK(e2->data == R"({"marker":true})");
    CHECK(ft::get(daemon.port, "/facts/3").result_int() == 404);
    stop_cleanly(daemon);
  }

  auto daemon = start_daemon(dir, sqlite_flags(db));
  ft::sse_client stream(daemon.port);
  CHECK(*first_event(stream).id == "2");
  auto const replay = post(daemon.port, body, key);
  CHECK(replay.result_int() == 201);
  CHECK(ft::header(replay, "Location") == "/facts/1");
  CHECK(ft::header(replay, "Idempotent-Replayed") == "true");
  CHECK(replay.body() == body);
  CHECK(post(daemon.port, other, key).result_int() == 409);
  CHECK(status_value(daemon.port, "facts") == 2);
  // Still nothing broadcast for the key: the next event is the next new fact.
  CHECK(post_created(daemon.port, R"({"marker":2})") == 3);
  auto const e3 = stream.next_event(10s);
  REQUIRE(e3.has_value());
  CHECK(e3->id == "3");
  CHECK(e3->data == R"({"marker":2})");
  stop_cleanly(daemon);
}

TEST_CASE("durability: concurrent POSTs with one Idempotency-Key store and broadcast one fact",
          "[durability][idempotency]") {
  ft::temp_dir dir;
  auto daemon = start_daemon(dir, sqlite_flags(dir / "facts.db"));
  ft::sse_client stream(daemon.port);
  CHECK(*first_event(stream).id == "0");

  // Eight connections send the same keyed POST at once, so that several land in one commit.
  std::string const body = R"({"payment":"P-1","cents":1250})";
  constexpr int senders = 8;
  std::vector<std::unique_ptr<ft::http_connection>> conns;
  for (int i = 0; i < senders; ++i)
    conns.push_back(std::make_unique<ft::http_connection>(daemon.port));
  std::vector<ft::response> answers(senders);
  std::vector<std::string> errors(senders);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < senders; ++i)
    threads.emplace_back([&, i] {
      while (!go)
        std::this_thread::yield();
      try {
        answers[static_cast<std::size_t>(i)] = conns[static_cast<std::size_t>(i)]->send(
            ft::make_request(verb::post, "/fact", body,
                             {{"Content-Type", "application/json"}, {"Idempotency-Key", "pay-1"}}));
      } catch (std::exception const& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  go = true;
  for (auto& t : threads)
    t.join();

  int created = 0;
  for (int i = 0; i < senders; ++i) {
    auto const& res = answers[static_cast<std::size_t>(i)];
    INFO("sender " << i << ": " << errors[static_cast<std::size_t>(i)] << " " << res.result_int()
                   << " " << res.body());
    CHECK(errors[static_cast<std::size_t>(i)].empty());
    CHECK(res.result_int() == 201);
    CHECK(ft::header(res, "Location") == "/facts/1");
    CHECK(res.body() == body);
    if (!ft::has_header(res, "Idempotent-Replayed")) ++created;
  }
  CHECK(created == 1);
  CHECK(status_value(daemon.port, "facts") == 1);

  CHECK(post_created(daemon.port, R"({"marker":true})") == 2);
  auto const e1 = stream.next_event(10s);
  REQUIRE(e1.has_value());
  CHECK(e1->id == "1");
  CHECK(e1->data == body);
  auto const e2 = stream.next_event(10s);
  REQUIRE(e2.has_value());
  CHECK(e2->id == "2");
  stop_cleanly(daemon);
}

TEST_CASE("durability: an Idempotency-Key survives kill -9", "[durability][idempotency]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  std::string const body = R"({"job":"nightly","run":42})";
  {
    auto daemon = start_daemon(dir, sqlite_flags(db));
    CHECK(post_created(daemon.port, R"({"before":true})") == 1);
    auto const res = post(daemon.port, body, "job-42");
    CHECK(res.result_int() == 201);
    CHECK(ft::header(res, "Location") == "/facts/2");
    REQUIRE(daemon.proc->kill_hard());
    CHECK(daemon.proc->term_signal() == SIGKILL);
  }
  auto daemon = start_daemon(dir, sqlite_flags(db));
  auto const replay = post(daemon.port, body, "job-42");
  CHECK(replay.result_int() == 201);
  CHECK(ft::header(replay, "Location") == "/facts/2");
  CHECK(ft::header(replay, "Idempotent-Replayed") == "true");
  CHECK(post(daemon.port, R"({"job":"nightly","run":43})", "job-42").result_int() == 409);
  CHECK(status_value(daemon.port, "facts") == 2);
  stop_cleanly(daemon);
}

// ---------------------------------------------------------------------------------------------
// 5. Replay window and history.

TEST_CASE("durability: the replay window, catching up from the store, and GET /facts pages",
          "[durability][replay]") {
  ft::temp_dir dir;
  auto daemon = start_daemon(dir, sqlite_flags(dir / "facts.db", {"--replay-limit", "5"}));
  std::vector<stored_fact> posted;
  for (int i = 1; i <= 12; ++i) {
    auto const body =
        R"({"n":)" + std::to_string(i) + R"(,"name":"fact )" + std::to_string(i) + R"("})";
    auto const seq = post_created(daemon.port, body);
    CHECK(seq == static_cast<std::uint64_t>(i));
    posted.push_back({seq, body});
  }

  SECTION("a new client gets the newest 5, in order") {
    ft::sse_client stream(daemon.port);
    auto const snapshot = first_event(stream);
    CHECK(snapshot.type == "message");
    CHECK(*snapshot.id == "12");
    CHECK(snapshot.data == snapshot_array(posted.begin() + 7, posted.end()));
  }
  SECTION("a client resuming from 2 catches up from the store, as one array") {
    ft::sse_client stream(daemon.port, {{"Last-Event-ID", "2"}});
    auto const snapshot = first_event(stream);
    CHECK(snapshot.type == "message");
    CHECK(*snapshot.id == "12");
    CHECK(snapshot.data == snapshot_array(posted.begin() + 2, posted.end()));
    // And live facts follow it.
    CHECK(post_created(daemon.port, R"({"n":13})") == 13);
    auto const live = stream.next_event(10s);
    REQUIRE(live.has_value());
    CHECK(live->id == "13");
  }
  SECTION("a client resuming inside the window gets the rest of it") {
    ft::sse_client stream(daemon.port, {{"Last-Event-ID", "10"}});
    auto const snapshot = first_event(stream);
    CHECK(snapshot.type == "message");
    CHECK(*snapshot.id == "12");
    CHECK(snapshot.data == snapshot_array(posted.begin() + 10, posted.end()));
  }
  SECTION("GET /facts pages walk the whole history") {
    std::uint64_t next = 0;
    auto const raw = ft::get(daemon.port, "/facts?after=0&limit=5");
    CHECK(raw.result_int() == 200);
    auto page = read_page(daemon.port, "after=0&limit=5", &next);
    REQUIRE(page.size() == 5);
    CHECK(next == 5);
    std::vector<stored_fact> walked = page;
    std::vector<std::size_t> sizes{page.size()};
    for (int guard = 0; guard < 10 && !page.empty(); ++guard) {
      page = read_page(daemon.port, "after=" + std::to_string(next) + "&limit=5", &next);
      sizes.push_back(page.size());
      walked.insert(walked.end(), page.begin(), page.end());
    }
    CHECK(sizes == std::vector<std::size_t>{5, 5, 2, 0});
    CHECK(next == 12);
    REQUIRE(walked.size() == posted.size());
    for (std::size_t i = 0; i < walked.size(); ++i) {
      CHECK(walked[i].id == posted[i].id);
      CHECK(walked[i].json == posted[i].json);
    }
    // Defaults: after=0, and the page is not empty.
    CHECK(read_page(daemon.port, "limit=3").size() == 3);
    CHECK(read_page(daemon.port, "after=11").size() == 1);
    CHECK(read_page(daemon.port, "after=500").empty());
  }
  SECTION("bad parameters answer 400 with a JSON error") {
    for (std::string const query :
         {"after=-1", "limit=abc", "limit=0", "after=abc", "limit=-5", "after=1x", "limit="}) {
      INFO("GET /facts?" << query);
      auto const res = ft::get(daemon.port, "/facts?" + query);
      CHECK(res.result_int() == 400);
      CHECK(ft::header(res, "Content-Type").rfind("application/json", 0) == 0);
      auto const error = nlohmann::json::parse(res.body(), nullptr, false);
      CHECK(error.is_object());
      CHECK(error.contains("error"));
    }
  }
  SECTION("GET /facts/<id> serves one fact, 404 for none") {
    auto const three = ft::get(daemon.port, "/facts/3");
    CHECK(three.result_int() == 200);
    CHECK(ft::header(three, "Content-Type").rfind("application/json", 0) == 0);
    CHECK(three.body() == posted[2].json);
    for (std::string const target : {"/facts/999", "/facts/0", "/facts/13", "/facts/abc"}) {
      INFO("GET " << target);
      auto const res = ft::get(daemon.port, target);
      CHECK(res.result_int() == 404);
      auto const error = nlohmann::json::parse(res.body(), nullptr, false);
      CHECK(error.is_object());
      CHECK(error.contains("error"));
    }
  }
  stop_cleanly(daemon);
}

TEST_CASE("durability: GET /facts caps limit at 1000", "[durability][replay]") {
  ft::temp_dir dir;
  auto daemon = start_daemon(dir, sqlite_flags(dir / "facts.db", {"--sync", "normal"}));
  constexpr int threads = 4;
  constexpr int per_thread = 256;  // 1024 facts in all
  std::atomic<int> created{0};
  std::vector<std::thread> publishers;
  for (int t = 0; t < threads; ++t)
    publishers.emplace_back([&, t] {
      try {
        ft::http_connection conn(daemon.port);
        for (int n = 0; n < per_thread; ++n) {
          auto const res = conn.send(
              ft::make_request(verb::post, "/fact",
                               fact_body("cap-" + std::to_string(t) + "-" + std::to_string(n), n),
                               {{"Content-Type", "application/json"}}));
          if (res.result_int() == 201) ++created;
        }
      } catch (std::exception const&) {
      }
    });
  for (auto& p : publishers)
    p.join();
  REQUIRE(created == threads * per_thread);

  std::uint64_t next = 0;
  auto const page = read_page(daemon.port, "after=0&limit=5000", &next);
  CHECK(page.size() == 1000);
  CHECK(next == 1000);
  auto const rest = read_page(daemon.port, "after=1000&limit=5000", &next);
  CHECK(rest.size() == 24);
  CHECK(next == 1024);
  CHECK(read_page(daemon.port, "after=0&limit=1000").size() == 1000);
  CHECK(read_page(daemon.port, "after=0&limit=1001").size() == 1000);
  CHECK(read_page(daemon.port, "after=0").size() == 100);  // the default page
  stop_cleanly(daemon);
}

// ---------------------------------------------------------------------------------------------
// 6. The memory: store, for contrast.

TEST_CASE("durability: the memory: store forgets everything on restart", "[durability][memory]") {
  ft::temp_dir dir;
  {
    auto daemon = start_daemon(dir, {"--store", "memory:"});
    CHECK(post_created(daemon.port, R"({"n":1})") == 1);
    CHECK(post_created(daemon.port, R"({"n":2})") == 2);
    CHECK(post(daemon.port, R"({"n":3})", "key-3").result_int() == 201);
    CHECK(status_value(daemon.port, "facts") == 3);
    stop_cleanly(daemon);
  }
  CHECK(ft::list_dir(dir.path()).empty());  // nothing written, not even facts.db

  auto daemon = start_daemon(dir, {"--store", "memory:"});
  CHECK(status_value(daemon.port, "facts") == 0);
  CHECK(status_value(daemon.port, "last_id") == 0);
  CHECK(ft::get(daemon.port, "/facts/1").result_int() == 404);
  CHECK(read_page(daemon.port, "after=0").empty());
  ft::sse_client stream(daemon.port);
  auto const snapshot = first_event(stream);
  CHECK(*snapshot.id == "0");
  CHECK(snapshot.data == "[]");
  // Ids start over, and the key is forgotten with its fact.
  auto const again = post(daemon.port, R"({"n":3})", "key-3");
  CHECK(again.result_int() == 201);
  CHECK(ft::header(again, "Location") == "/facts/1");
  CHECK_FALSE(ft::has_header(again, "Idempotent-Replayed"));
  stop_cleanly(daemon);
}

// ---------------------------------------------------------------------------------------------
// 7. The file under a running daemon: deleted or replaced, the WAL's size, the keys' memory.

namespace {

std::uintmax_t file_size_or_zero(std::string const& path) {
  std::error_code ec;
  auto const size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// A fact of about `bytes` bytes, different for each `n`.
std::string big_fact(int n, std::size_t bytes) {
  return R"({"n":)" + std::to_string(n) + R"(,"pad":")" + std::string(bytes, 'p') + R"("})";
}

}  // namespace

TEST_CASE("durability: a database file deleted or replaced while running refuses POSTs",
          "[durability][store-file]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  auto daemon = start_daemon(dir, sqlite_flags(db, {"--sync", "normal"}));
  CHECK(post_created(daemon.port, R"({"n":1})") == 1);
  CHECK(ft::get(daemon.port, "/healthz").result_int() == 200);

  SECTION("deleted") {
    REQUIRE(std::filesystem::remove(db));
  }
  SECTION("replaced by another file") {
    dir.write("other.db", "a file that is not the daemon's");
    std::filesystem::rename(dir / "other.db", db);
  }
  // Noticed on the next commit and by /healthz, without waiting for a restart.
  for (int i = 0; i < 3; ++i) {
    auto const res = post(daemon.port, R"({"n":2})");
    CHECK(res.result_int() == 503);
    CHECK(ft::is_json_error(res));
  }
  auto const health = ft::get(daemon.port, "/healthz");
  CHECK(health.result_int() == 503);
  CHECK(ft::is_json_error(health));
  CHECK(health.body().find("deleted or replaced") != std::string::npos);
  CHECK(status_value(daemon.port, "facts") == 1);
  // Said once at error, not once per refused POST.
  CHECK(daemon.proc->wait_for_line("refusing new facts", 5s));
  CHECK(ft::count_of(daemon.proc->err(), "refusing new facts") == 1);
  stop_cleanly(daemon);
}

TEST_CASE("durability: the WAL is cut back to its bound after a burst of large POSTs",
          "[durability][wal]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  auto daemon = start_daemon(dir, sqlite_flags(db, {"--sync", "normal"}));
  constexpr std::uintmax_t bound = facts::sqlite_store::wal_size_limit;
  constexpr std::size_t fact_bytes = 60 * 1024;

  // 6 connections x 60 facts of 60 KiB: 21 MB, over twice the bound, in concurrent batches.
  std::atomic<int> created{0};
  std::vector<std::thread> publishers;
  for (int t = 0; t < 6; ++t)
    publishers.emplace_back([&, t] {
      try {
        ft::http_connection conn(daemon.port);
        for (int n = 0; n < 60; ++n) {
          auto const res =
              conn.send(ft::make_request(verb::post, "/fact", big_fact(t * 100 + n, fact_bytes),
                                         {{"Content-Type", "application/json"}}));
          if (res.result_int() == 201) ++created;
        }
      } catch (std::exception const&) {
      }
    });
  for (auto& p : publishers)
    p.join();
  REQUIRE(created == 360);

  // One large fact at a time from now on: the checkpoint thread keeps up, and the WAL is back
  // within the bound (SQLite's default would keep the largest size it ever had until exit).
  std::uintmax_t wal = 0;
  int n = 0;
  CHECK(ft::eventually(
      [&] {
        post_created(daemon.port, big_fact(1000 + n++, fact_bytes));
        wal = file_size_or_zero(db + "-wal");
        return wal <= bound;
      },
      20s));
  INFO("-wal is " << wal << " bytes after " << n << " more POSTs");
  CHECK(wal <= bound);
  // And stays there while they go on.
  std::uintmax_t largest = 0;
  for (int i = 0; i < 100; ++i) {
    post_created(daemon.port, big_fact(2000 + i, fact_bytes));
    largest = std::max(largest, file_size_or_zero(db + "-wal"));
  }
  INFO("largest -wal over 100 POSTs of 60 KiB: " << largest);
  CHECK(largest <= bound);
  CHECK(status_value(daemon.port, "facts") == 360 + n + 100);
  stop_cleanly(daemon);
}

TEST_CASE("durability: idempotency keys reloaded at start keep no fact bodies in memory",
          "[durability][idempotency][memory]") {
  ft::temp_dir dir;
  auto const db = dir / "facts.db";
  constexpr int keyed = 1200;
  constexpr std::size_t fact_bytes = 60 * 1024;  // 1,200 of them: 74 MB of bodies
  {
    facts::sqlite_store store(db, facts::sync_mode::normal);
    for (int batch = 0; batch < keyed / 100; ++batch) {
      std::vector<facts::append_request> requests;
      for (int i = 0; i < 100; ++i) {
        auto const n = batch * 100 + i;
        requests.push_back({big_fact(n, fact_bytes), "key-" + std::to_string(n)});
      }
      store.append(requests);
    }
  }
  // Freed memory goes back to the allocator at once, so RSS shows what is held, not what
  // AddressSanitizer keeps in quarantine. The window holds one fact.
  ft::env_list const env{{"ASAN_OPTIONS", "quarantine_size_mb=0:detect_leaks=0"}};
  auto const rss_after_start = [&](std::string const& path) {
    auto daemon = start_daemon(dir, sqlite_flags(path, {"--replay-limit", "1"}), env);
    auto const rss = ft::proc_status_kib(daemon.proc->pid(), "VmRSS");
    REQUIRE(rss.has_value());
    // The keys work: a replay answers with the stored fact, read back from the file.
    if (path == db) {
      auto const res = post(daemon.port, big_fact(7, fact_bytes), "key-7");
      CHECK(res.result_int() == 201);
      CHECK(ft::header(res, "Idempotent-Replayed") == "true");
      CHECK(ft::header(res, "Location") == "/facts/8");
      CHECK(post(daemon.port, big_fact(8, fact_bytes), "key-7").result_int() == 409);
    }
    stop_cleanly(daemon);
    return *rss;
  };
  auto const empty_kib = rss_after_start(dir / "empty.db");
  auto const keyed_kib = rss_after_start(db);
  INFO("RSS after start: empty store " << empty_kib << " KiB, 1,200 keyed 60 KiB facts "
                                       << keyed_kib << " KiB");
  // The bodies are 72,000 KiB: what the keys hold must be far below that.
  CHECK(keyed_kib < empty_kib + 24 * 1024);
}
