#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "facts/store/append_plan.hpp"
#include "facts/store/memory_store.hpp"
#include "facts/store/sqlite_store.hpp"
#include "support/files.hpp"
#include "support/wait.hpp"

namespace {

using outcome = facts::append_result::outcome;

using facts::test::eventually;

std::vector<std::uint64_t> seqs_of(std::vector<facts::fact> const& facts) {
  std::vector<std::uint64_t> out;
  for (auto const& f : facts)
    out.push_back(f.seq);
  return out;
}

using seqs = std::vector<std::uint64_t>;
// Plain texts, spelled out: a braced list of strings would also match the append_request overload.
using texts = std::vector<std::string>;
using requests = std::vector<facts::append_request>;

/**
 * What every fact_store must do, whatever keeps the facts. `fresh_store` must be empty; each
 * SECTION runs on a new one because Catch re-enters the calling TEST_CASE per section.
 */
void check_store_contract(facts::fact_store& fresh_store) {
  auto& store = fresh_store;
  REQUIRE(store.last_seq() == 0);
  REQUIRE(store.count() == 0);
  CHECK_FALSE(store.describe().empty());

  SECTION("an empty store reads nothing") {
    CHECK(store.read_after(0, 100).empty());
    CHECK(store.read_latest(0).empty());
    CHECK(store.read_latest(5).empty());
  }

  SECTION("append assigns consecutive seqs from 1 and returns them with their text") {
    auto const first = store.append(texts{R"({"a":1})"});
    REQUIRE(first.size() == 1);
    CHECK(first[0] == facts::fact{1, R"({"a":1})"});

    auto const batch = store.append(texts{R"({"b":2})", R"({"c":3})", R"({"d":4})"});
    CHECK(batch ==
          std::vector<facts::fact>{{2, R"({"b":2})"}, {3, R"({"c":3})"}, {4, R"({"d":4})"}});
    CHECK(store.last_seq() == 4);
    CHECK(store.count() == 4);
  }

  SECTION("a batch of any size reads back whole and in order") {
    // 1, 31, 32, 33 and 70 facts: the SQLite store inserts up to 32 rows per statement.
    std::uint64_t seq = 0;
    for (std::size_t const size : {1, 31, 32, 33, 70}) {
      texts batch;
      for (std::size_t i = 0; i < size; ++i)
        batch.push_back(R"({"n":)" + std::to_string(seq + i + 1) + "}");
      auto const stored = store.append(batch);
      REQUIRE(stored.size() == size);
      for (std::size_t i = 0; i < size; ++i)
        CHECK(stored[i] == facts::fact{seq + i + 1, batch[i]});
      seq += size;
    }
    auto const read = store.read_after(0, 1000);
    REQUIRE(read.size() == seq);
    for (std::size_t i = 0; i < read.size(); ++i)
      CHECK(read[i] == facts::fact{i + 1, R"({"n":)" + std::to_string(i + 1) + "}"});
    CHECK(store.count() == seq);
  }

  SECTION("appending nothing stores nothing") {
    store.append(texts{"{}"});
    CHECK(store.append(texts{}).empty());
    CHECK(store.last_seq() == 1);
    CHECK(store.count() == 1);
    CHECK(store.append(texts{"{}"}).at(0).seq == 2);
  }

  SECTION("the text comes back byte for byte") {
    std::string const text = "{\"info\":\"caf\xC3\xA9 \\\"q\\\" \\n\"}";
    store.append(texts{text});
    auto const read = store.read_after(0, 10);
    REQUIRE(read.size() == 1);
    CHECK(read[0].json == text);
  }

  SECTION("read_after and read_latest over five facts") {
    store.append(texts{"{\"n\":1}", "{\"n\":2}"});
    store.append(texts{"{\"n\":3}"});
    store.append(texts{"{\"n\":4}", "{\"n\":5}"});
    REQUIRE(store.last_seq() == 5);

    CHECK(seqs_of(store.read_after(0, 100)) == seqs{1, 2, 3, 4, 5});
    CHECK(seqs_of(store.read_after(2, 100)) == seqs{3, 4, 5});
    CHECK(seqs_of(store.read_after(4, 100)) == seqs{5});
    CHECK(store.read_after(5, 100).empty());
    CHECK(store.read_after(6, 100).empty());
    // `max` bounds the answer, oldest first.
    CHECK(seqs_of(store.read_after(0, 2)) == seqs{1, 2});
    CHECK(seqs_of(store.read_after(2, 1)) == seqs{3});
    CHECK(seqs_of(store.read_after(3, 5)) == seqs{4, 5});
    // read_after's max is "at most max": 0 means none (unlike read_latest).
    CHECK(store.read_after(0, 0).empty());

    auto const all = store.read_latest(0);
    CHECK(seqs_of(all) == seqs{1, 2, 3, 4, 5});
    CHECK(all.at(2).json == "{\"n\":3}");
    CHECK(seqs_of(store.read_latest(1)) == seqs{5});
    CHECK(seqs_of(store.read_latest(2)) == seqs{4, 5});
    CHECK(seqs_of(store.read_latest(5)) == seqs{1, 2, 3, 4, 5});
    CHECK(seqs_of(store.read_latest(50)) == seqs{1, 2, 3, 4, 5});
    CHECK(store.read_after(1, 1).at(0) == facts::fact{2, "{\"n\":2}"});
  }

  SECTION("a repeated Idempotency-Key with the same body replays the first fact") {
    auto const first = store.append(requests{{R"({"a":1})", "key-1"}});
    REQUIRE(first.size() == 1);
    CHECK(first[0].what == outcome::created);
    CHECK(first[0].stored == facts::fact{1, R"({"a":1})"});

    store.append(texts{R"({"b":2})"});
    auto const again = store.append(requests{{R"({"a":1})", "key-1"}});
    REQUIRE(again.size() == 1);
    CHECK(again[0].what == outcome::replayed);
    CHECK(again[0].stored == facts::fact{1, R"({"a":1})"});
    // Replaying stores nothing.
    CHECK(store.last_seq() == 2);
    CHECK(store.count() == 2);
  }

  SECTION("a repeated Idempotency-Key with another body is a conflict and stores nothing") {
    store.append(requests{{R"({"a":1})", "key-1"}});
    auto const other = store.append(requests{{R"({"a":2})", "key-1"}});
    REQUIRE(other.size() == 1);
    CHECK(other[0].what == outcome::conflict);
    CHECK(store.last_seq() == 1);
    CHECK(seqs_of(store.read_after(0, 10)) == seqs{1});
  }

  SECTION("without a key, the same body is stored every time") {
    auto const r = store.append(requests{{"{}", ""}, {"{}", ""}});
    REQUIRE(r.size() == 2);
    CHECK(r[0].what == outcome::created);
    CHECK(r[1].what == outcome::created);
    CHECK(r[1].stored.seq == 2);
  }

  SECTION("a key repeated inside one batch acts as if sent in two calls") {
    auto const r = store.append(requests{{R"({"a":1})", "k"},
                                         {R"({"b":2})", ""},
                                         {R"({"a":1})", "k"},
                                         {R"({"x":0})", "k"},
                                         {R"({"c":3})", "other"}});
    REQUIRE(r.size() == 5);
    CHECK(r[0].what == outcome::created);
    CHECK(r[0].stored.seq == 1);
    CHECK(r[1].stored == facts::fact{2, R"({"b":2})"});
    CHECK(r[2].what == outcome::replayed);
    CHECK(r[2].stored == r[0].stored);
    CHECK(r[3].what == outcome::conflict);
    // Seqs stay consecutive: replays and conflicts take none.
    CHECK(r[4].what == outcome::created);
    CHECK(r[4].stored == facts::fact{3, R"({"c":3})"});
    CHECK(store.last_seq() == 3);
    CHECK(seqs_of(store.read_after(0, 10)) == seqs{1, 2, 3});
  }

  SECTION("concurrent appends get distinct seqs and keep each batch together") {
    constexpr int threads = 4;
    constexpr int batches = 50;
    std::mutex mutex;
    std::vector<std::vector<facts::fact>> returned;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < batches; ++i) {
          auto const text = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i);
          auto stored = store.append(texts{text + ",\"part\":0}", text + ",\"part\":1}"});
          std::lock_guard lock(mutex);
          returned.push_back(std::move(stored));
        }
      });
    }
    for (auto& w : workers)
      w.join();

    constexpr std::uint64_t total = threads * batches * 2;
    CHECK(store.last_seq() == total);
    CHECK(store.count() == total);
    auto const all = store.read_after(0, total + 10);
    REQUIRE(all.size() == total);
    for (std::uint64_t i = 0; i < total; ++i)
      REQUIRE(all[i].seq == i + 1);
    for (auto const& batch : returned) {
      REQUIRE(batch.size() == 2);
      // One batch is one unit: its two facts are neighbours, and stored as returned.
      CHECK(batch[1].seq == batch[0].seq + 1);
      CHECK(all[batch[0].seq - 1] == batch[0]);
      CHECK(all[batch[1].seq - 1] == batch[1]);
    }
  }
}

/// Also part of the contract, kept apart while sqlite_store fails it (see its test below): a
/// seq past INT64_MAX is still just "after the end" (GET /facts?after= takes any u64).
void check_read_after_beyond_int64(facts::fact_store& fresh_store) {
  fresh_store.append(texts{"{}", "{}"});
  CHECK(fresh_store.read_after(std::uint64_t{1} << 63, 10).empty());
  CHECK(fresh_store.read_after(UINT64_MAX, 10).empty());
}

}  // namespace

TEST_CASE("memory_store keeps the fact_store contract", "[concurrency]") {
  facts::memory_store store;
  check_store_contract(store);
}

TEST_CASE("memory_store read_after a seq past INT64_MAX reads nothing") {
  facts::memory_store store;
  check_read_after_beyond_int64(store);
}

using temp_folder = facts::test::temp_dir;

/** Represents a SQLite store in its own folder; the store closes before the folder goes. */
struct sqlite_fixture {
  temp_folder folder;
  // sync normal: the contract is about what is stored, not about fsync.
  facts::sqlite_store store{(folder.path() / "facts.db").string(), facts::sync_mode::normal};
};

TEST_CASE("sqlite_store keeps the fact_store contract", "[concurrency]") {
  sqlite_fixture f;
  check_store_contract(f.store);
}

TEST_CASE("sqlite_store read_after a seq past INT64_MAX reads nothing") {
  // sqlite_store::read_after binds `after` as static_cast<std::int64_t>(after): 2^63 and above
  // turn negative, and `seq > -1` returns the facts from the very first.
  sqlite_fixture f;
  check_read_after_beyond_int64(f.store);
}

TEST_CASE("memory_store describes itself as memory:") {
  CHECK(facts::memory_store{}.describe() == "memory:");
}

TEST_CASE("a read completes while a commit is held, without waiting for it", "[concurrency]") {
  // Another connection holds SQLite's write lock: the store's commit waits for it inside its
  // writer, as it would for a slow fsync. A read must not wait behind that commit.
  sqlite_fixture f;
  f.store.append(texts{R"({"n":1})", R"({"n":2})"});
  SQLite::Database other((f.folder.path() / "facts.db").string(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");

  std::atomic<bool> entering{false};
  std::atomic<bool> committed{false};
  std::thread writer([&] {
    entering = true;
    f.store.append(texts{R"({"n":3})"});
    committed = true;
  });
  REQUIRE(eventually([&] { return entering.load(); }, std::chrono::seconds(5)));
  // Reads for a while (the writer is inside append() within microseconds of `entering`): each
  // one completes at once, all of them while the commit is held.
  auto const until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  int reads = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto const started = std::chrono::steady_clock::now();
    auto const read = f.store.read_after(0, 10);
    auto const took = std::chrono::steady_clock::now() - started;
    REQUIRE(seqs_of(read) == seqs{1, 2});
    REQUIRE(took < std::chrono::milliseconds(500));
    ++reads;
  }
  CHECK(reads > 1);
  CHECK_FALSE(committed.load());  // the commit was held all along

  other.exec("ROLLBACK");
  writer.join();
  CHECK(committed.load());
  CHECK(seqs_of(f.store.read_after(0, 10)) == seqs{1, 2, 3});
}

TEST_CASE(
    "a fact written into the file by another program makes an append fail, changing nothing") {
  // SQLite numbers the rows; the store checks that it gave the seqs the plan promised. A row
  // put in by hand under a running factsd takes the next seq, and that append must not go on
  // to store its facts under seqs it never announced.
  sqlite_fixture f;
  f.store.append(texts{R"({"n":1})"});
  SQLite::Database other((f.folder.path() / "facts.db").string(), SQLite::OPEN_READWRITE);
  other.exec(R"(INSERT INTO facts (seq, json, created) VALUES (2, '{"by":"hand"}', 0))");

  CHECK_THROWS_AS(f.store.append(texts{R"({"n":2})", R"({"n":3})"}), facts::store_error);
  CHECK(f.store.last_seq() == 1);
  CHECK(other.execAndGet("SELECT count(*) FROM facts").getInt() == 2);
  CHECK(other.execAndGet("SELECT json FROM facts WHERE seq = 2").getString() == R"({"by":"hand"})");
}

TEST_CASE("appends one after another with no pause still let the WAL start over") {
  // The WAL starts over only when a transaction begins after a checkpoint copied all of it.
  // Here the next append always begins while the checkpoint thread is still at work, so the
  // store finishes each checkpoint with appends held off; without that, every append here
  // would add a page to the WAL for good (sync full: the checkpoint and the appends run at the
  // pace of the same fsyncs, whatever the disk).
  temp_folder folder;
  auto const path = (folder.path() / "facts.db").string();
  facts::sqlite_store store(path, facts::sync_mode::full);
  constexpr int appends = 2500;  // 2,500 pages of WAL if it never started over: 10 MB
  std::uintmax_t largest = 0;
  for (int n = 0; n < appends; ++n) {
    store.append(texts{R"({"n":)" + std::to_string(n) + "}"});
    std::error_code ec;
    largest = std::max<std::uintmax_t>(largest, std::filesystem::file_size(path + "-wal", ec));
  }
  CHECK(store.last_seq() == appends);
  INFO("largest -wal: " << largest << " bytes");
  CHECK(largest <= static_cast<std::uintmax_t>(facts::sqlite_store::wal_size_limit));
}

TEST_CASE("a database file deleted or replaced while open refuses appends") {
  temp_folder folder;
  auto const path = (folder.path() / "facts.db").string();
  facts::sqlite_store store(path, facts::sync_mode::normal);
  store.append(texts{R"({"n":1})"});
  CHECK(store.problem().empty());

  SECTION("deleted") {
    std::filesystem::remove(path);
  }
  SECTION("replaced by another file") {
    auto const other = (folder.path() / "other.db").string();
    { std::ofstream(other) << "not ours"; }
    std::filesystem::rename(other, path);
  }
  CHECK_THAT(store.problem(), Catch::Contains("deleted or replaced"));
  CHECK_THROWS_AS(store.append(texts{R"({"n":2})"}), facts::store_error);
  CHECK(store.last_seq() == 1);
  CHECK_THROWS_AS(store.append(texts{R"({"n":3})"}), facts::store_error);  // and stays refused
}

TEST_CASE("idempotency keys answer replays and conflicts from the stored fact") {
  // The keys keep a seq and a hash; the fact a replay answers with is read back from the store.
  auto const check = [](facts::fact_store& store) {
    auto const key = [](std::string json) { return facts::append_request{std::move(json), "k"}; };
    store.append(texts{R"({"before":1})"});
    auto const first = store.append(requests{key(R"({"a":1})")});
    REQUIRE(first[0].what == facts::append_result::outcome::created);
    store.append(texts{R"({"after":1})"});
    auto const again = store.append(requests{key(R"({"a":1})")});
    CHECK(again[0].what == facts::append_result::outcome::replayed);
    CHECK(again[0].stored == facts::fact{2, R"({"a":1})"});
    auto const other = store.append(requests{key(R"({"a":2})")});
    CHECK(other[0].what == facts::append_result::outcome::conflict);
    CHECK(store.last_seq() == 3);
  };
  SECTION("memory") {
    facts::memory_store store;
    check(store);
  }
  SECTION("sqlite, and again after reopening it") {
    temp_folder folder;
    auto const path = (folder.path() / "facts.db").string();
    {
      facts::sqlite_store store(path, facts::sync_mode::normal);
      check(store);
    }
    facts::sqlite_store reopened(path, facts::sync_mode::normal);
    auto const again = reopened.append(requests{{R"({"a":1})", "k"}});
    CHECK(again[0].what == facts::append_result::outcome::replayed);
    CHECK(again[0].stored == facts::fact{2, R"({"a":1})"});
    CHECK(reopened.append(requests{{R"({"a":3})", "k"}})[0].what ==
          facts::append_result::outcome::conflict);
  }
}

TEST_CASE("an idempotency key with a colliding hash but another body is a conflict") {
  // Equal hashes only say "maybe": the body is compared with the stored one.
  facts::idempotency_keys keys;
  keys.remember("k", {1, facts::body_hash(R"({"a":1})"), facts::unix_now()});
  facts::idempotency_keys::entry forged{1, facts::body_hash(R"({"a":2})"), facts::unix_now()};
  keys.remember("k", forged);  // as if {"a":1} and {"a":2} had the same hash
  auto const plan = facts::plan_append(requests{{R"({"a":2})", "k"}}, keys, 1, facts::unix_now(),
                                       [](std::uint64_t) { return std::string(R"({"a":1})"); });
  CHECK(plan.results[0].what == facts::append_result::outcome::conflict);
  CHECK(plan.created.empty());
}

TEST_CASE("the store's kept statements hold no read transaction once a read or a replay ends") {
  // Statements are prepared once and reused; one stepped and not reset keeps its connection's
  // read transaction open, and then no checkpoint can start the WAL over. TRUNCATE waits for
  // every reader of the WAL: with no busy timeout it says at once whether one is left.
  sqlite_fixture f;
  f.store.append(requests{{R"({"a":1})", "k"}, {R"({"b":2})", ""}});
  CHECK(seqs_of(f.store.read_after(0, 10)) == seqs{1, 2});
  CHECK(seqs_of(f.store.read_after(0, 1)) == seqs{1});
  CHECK(seqs_of(f.store.read_latest(1)) == seqs{2});
  // The replay reads the stored fact by its seq and takes only the one row.
  CHECK(f.store.append(requests{{R"({"a":1})", "k"}})[0].what ==
        facts::append_result::outcome::replayed);
  SQLite::Database other((f.folder.path() / "facts.db").string(), SQLite::OPEN_READWRITE);
  SQLite::Statement checkpoint(other, "PRAGMA wal_checkpoint(TRUNCATE)");
  REQUIRE(checkpoint.executeStep());
  CHECK(checkpoint.getColumn(0).getInt() == 0);  // not busy: no reader held the WAL
  CHECK(f.store.read_after(0, 10).size() == 2);
}
