// Retention inside the stores and the hub (issue 19): the bounds of memory_store and
// sqlite_store, the keys forgotten with their facts, the deleter's thread against concurrent
// appends and reads, and the hub's window and resumes once the oldest facts are gone.

#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/fact_window.hpp"
#include "facts/store/memory_store.hpp"
#include "facts/store/retention_bounds.hpp"
#include "facts/store/sqlite_retention.hpp"
#include "facts/store/sqlite_store.hpp"
#include "support/files.hpp"
#include "support/wait.hpp"

namespace {

using namespace std::chrono_literals;
using texts = std::vector<std::string>;

texts numbered(std::uint64_t from, std::uint64_t to) {
  texts out;
  for (auto n = from; n <= to; ++n)
    out.push_back("{\"n\":" + std::to_string(n) + "}");
  return out;
}

std::vector<std::uint64_t> seqs_of(std::vector<facts::fact> const& facts) {
  std::vector<std::uint64_t> out;
  for (auto const& f : facts)
    out.push_back(f.seq);
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (auto n = from; n <= to; ++n)
    out.push_back(n);
  return out;
}

facts::append_result keyed(facts::fact_store& store, std::string const& json,
                           std::string const& key) {
  return store.append(std::vector<facts::append_request>{{json, key}}).front();
}

/// Rows in the facts table, as another connection sees them.
std::int64_t rows_on_disk(std::string const& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet("SELECT count(*) FROM facts").getInt64();
}

/// The store's rules for the newest `bound` facts, whatever keeps them.
void check_count_bound(facts::fact_store& store) {
  store.append(numbered(1, 25));
  CHECK(store.last_seq() == 25);
  CHECK(store.first_seq() == 16);
  CHECK(store.count() == 10);
  CHECK(seqs_of(store.read_after(0, 100)) == range(16, 25));
  CHECK(seqs_of(store.read_after(3, 100)) == range(16, 25));
  CHECK(seqs_of(store.read_after(20, 100)) == range(21, 25));
  CHECK(seqs_of(store.read_latest(0)) == range(16, 25));
  CHECK(seqs_of(store.read_latest(4)) == range(22, 25));
  // Ids go on: never reused.
  auto const next = store.append(texts{"{\"n\":26}"});
  CHECK(next.front().seq == 26);
  CHECK(store.first_seq() == 17);
}

}  // namespace

TEST_CASE("retention bounds read and write durations and sizes") {
  using facts::parse_retention_age;
  using facts::parse_retention_bytes;
  CHECK(parse_retention_age("90d") == std::chrono::seconds(90 * 86400));
  CHECK(parse_retention_age("12h") == std::chrono::seconds(12 * 3600));
  CHECK(parse_retention_age("30m") == std::chrono::seconds(1800));
  CHECK(parse_retention_age("5s") == std::chrono::seconds(5));
  CHECK(parse_retention_age("7") == std::chrono::seconds(7));
  CHECK(parse_retention_age("0") == std::chrono::seconds(0));
  CHECK_FALSE(parse_retention_age("1w"));
  CHECK_FALSE(parse_retention_age("h"));
  CHECK_FALSE(parse_retention_age(" 5s"));
  CHECK_FALSE(parse_retention_age("18446744073709551615d"));
  CHECK(parse_retention_bytes("2GiB") == (std::uint64_t{2} << 30));
  CHECK(parse_retention_bytes("3KiB") == 3072);
  CHECK(parse_retention_bytes("1TiB") == (std::uint64_t{1} << 40));
  CHECK(parse_retention_bytes("5MB") == 5'000'000);
  CHECK(parse_retention_bytes("100") == 100);
  CHECK(parse_retention_bytes("100B") == 100);
  CHECK_FALSE(parse_retention_bytes("2gib"));
  CHECK_FALSE(parse_retention_bytes("9000000TiB"));
  CHECK(facts::format_retention_age(std::chrono::hours(48)) == "2d");
  CHECK(facts::format_retention_age(std::chrono::seconds(90)) == "90s");
  CHECK(facts::format_retention_bytes(std::uint64_t{3} << 30) == "3GiB");
  CHECK(facts::format_retention_bytes(1000) == "1000B");
}

TEST_CASE("memory_store keeps the newest --retain-facts facts as they arrive") {
  facts::memory_store store({.facts = 10});
  check_count_bound(store);
  CHECK(store.retention().removed == 16);
}

TEST_CASE("memory_store keeps the newest facts within --retain-bytes") {
  facts::memory_store store({.bytes = 30});
  store.append(numbered(1, 9));  // {"n":1} ... {"n":9}: 7 bytes each
  CHECK(store.first_seq() == 6);
  CHECK(seqs_of(store.read_after(0, 100)) == range(6, 9));
  CHECK(store.retention().stored_bytes == 28);
  // One fact larger than the bound: it alone is not kept either.
  store.append(texts{"{\"text\":\"" + std::string(40, 'x') + "\"}"});
  CHECK(store.count() == 0);
  CHECK(store.first_seq() == 11);
  CHECK(store.read_after(0, 10).empty());
}

TEST_CASE("memory_store forgets the Idempotency-Keys of the facts it removed") {
  facts::memory_store store({.facts = 3});
  auto const first = keyed(store, R"({"a":1})", "k1");
  CHECK(first.what == facts::append_result::outcome::created);
  CHECK(keyed(store, R"({"a":1})", "k1").what == facts::append_result::outcome::replayed);
  store.append(numbered(2, 4));
  // Fact 1 is gone, and with it its key: the repeat is a new fact.
  auto const again = keyed(store, R"({"a":1})", "k1");
  CHECK(again.what == facts::append_result::outcome::created);
  CHECK(again.stored.seq == 5);
  CHECK(keyed(store, R"({"a":1})", "k1").what == facts::append_result::outcome::replayed);
}

TEST_CASE("sqlite_store serves the newest --retain-facts facts and deletes the rest in steps") {
  facts::test::temp_dir folder;
  auto const path = folder / "facts.db";
  {
    facts::sqlite_store store(path, facts::sync_mode::normal, {.facts = 10});
    check_count_bound(store);
    // The rows go at the deleter's next tick (fewer than a step waited).
    CHECK(facts::test::eventually([&] { return rows_on_disk(path) == 10; }, 10s));
    CHECK(store.retention().removed == 16);
    CHECK(store.retention().stored_bytes > 0);
  }
  // Ids go on after a restart, and the bound holds on what was there.
  facts::sqlite_store reopened(path, facts::sync_mode::normal, {.facts = 5});
  CHECK(reopened.first_seq() == 22);
  CHECK(seqs_of(reopened.read_after(0, 100)) == range(22, 26));
  CHECK(reopened.append(texts{"{}"}).front().seq == 27);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA auto_vacuum").getInt() == 2);  // incremental, from creation
}

TEST_CASE("sqlite_store forgets the Idempotency-Keys of the facts it removed, across restarts") {
  facts::test::temp_dir folder;
  auto const path = folder / "facts.db";
  {
    facts::sqlite_store store(path, facts::sync_mode::normal, {.facts = 3});
    CHECK(keyed(store, R"({"a":1})", "k1").stored.seq == 1);
    CHECK(keyed(store, R"({"b":2})", "k2").stored.seq == 2);
    store.append(numbered(3, 4));  // 2, 3, 4 kept
    CHECK(keyed(store, R"({"b":2})", "k2").what == facts::append_result::outcome::replayed);
    CHECK(keyed(store, R"({"a":1})", "k1").stored.seq == 5);  // a new fact; 3, 4, 5 kept
    CHECK(facts::test::eventually(
        [&] {
          SQLite::Database db(path, SQLite::OPEN_READONLY);
          return db.execAndGet("SELECT count(*) FROM idempotency_keys WHERE seq < 3").getInt() == 0;
        },
        10s));
  }
  facts::sqlite_store reopened(path, facts::sync_mode::normal, {.facts = 3});
  CHECK(keyed(reopened, R"({"a":1})", "k1").what == facts::append_result::outcome::replayed);
  reopened.append(numbered(6, 8));
  CHECK(keyed(reopened, R"({"a":1})", "k1").stored.seq == 9);
}

TEST_CASE("sqlite_store deletes facts older than --retain-age while none arrives") {
  facts::test::temp_dir folder;
  auto const path = folder / "facts.db";
  facts::sqlite_store store(path, facts::sync_mode::normal, {.age = std::chrono::seconds(1)});
  store.append(numbered(1, 50));
  CHECK(store.count() == 50);
  CHECK(facts::test::eventually([&] { return store.count() == 0; }, 10s));
  CHECK(store.first_seq() == 51);
  CHECK(store.read_after(0, 100).empty());
  // The newest row stays in the file, not served, so that its id is never given again.
  CHECK(rows_on_disk(path) == 1);
  CHECK(store.append(texts{"{}"}).front().seq == 51);
  CHECK(seqs_of(store.read_after(0, 100)) == range(51, 51));
}

TEST_CASE("sqlite_store keeps the newest facts within --retain-bytes") {
  facts::test::temp_dir folder;
  auto const path = folder / "facts.db";
  facts::sqlite_store store(path, facts::sync_mode::normal, {.bytes = 7000});
  store.append(numbered(1, 2000));  // {"n":1000} and on: 10 bytes each, 18,893 in all
  // Within a step of the bound: the deleter runs once the bound is passed by 1/64 of it.
  CHECK(facts::test::eventually([&] { return store.first_seq() > 1300; }, 10s));
  auto const kept = store.read_after(0, 5000);
  std::uint64_t bytes = 0;
  for (auto const& f : kept)
    bytes += f.json.size();
  CHECK(bytes <= 7000);
  CHECK(bytes > 7000 - 10);
  CHECK(kept.back().seq == 2000);
}

TEST_CASE("sqlite_store's deleter and concurrent appends and reads keep seqs dense",
          "[concurrency]") {
  facts::test::temp_dir folder;
  auto const path = folder / "facts.db";
  constexpr std::uint64_t bound = 500;
  facts::sqlite_store store(path, facts::sync_mode::normal, {.facts = bound});
  std::atomic<bool> done{false};
  std::atomic<int> problems{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&] {
      while (!done) {
        auto const first = store.first_seq();
        auto const page = store.read_after(0, 200);
        // Dense, from an oldest that never went back.
        for (std::size_t i = 1; i < page.size(); ++i)
          if (page[i].seq != page[i - 1].seq + 1) ++problems;
        if (!page.empty() && page.front().seq < first) ++problems;
        auto const latest = store.read_latest(50);
        if (!latest.empty() && latest.back().seq + 1 < latest.front().seq + latest.size())
          ++problems;
      }
    });
  std::vector<std::thread> writers;
  constexpr int per_writer = 3000;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&] {
      for (int i = 0; i < per_writer / 20; ++i)
        store.append(numbered(1, 20));
    });
  for (auto& w : writers)
    w.join();
  done = true;
  for (auto& r : readers)
    r.join();
  CHECK(problems == 0);
  CHECK(store.last_seq() == 2 * per_writer);
  CHECK(store.count() == bound);
  CHECK(facts::test::eventually([&] { return rows_on_disk(path) == bound; }, 20s));
  CHECK(store.retention().removed == 2 * per_writer - bound);
}

TEST_CASE("fact_window drops the facts before the store's oldest kept") {
  auto window = facts::fact_window::make({}, 0);
  std::vector<facts::fact> batch;
  for (std::uint64_t s = 1; s <= 600; ++s)
    batch.push_back({s, "{}"});
  auto const all = window->with(batch, 0, 0);
  CHECK(all->first_seq() == 1);
  CHECK(all->size() == 600);
  auto const trimmed = all->with({{601, "{}"}}, 0, 300);
  CHECK(trimmed->first_seq() == 300);
  CHECK(trimmed->size() == 302);
  CHECK(trimmed->snapshot_from(1, 601, false).find("[{},") != std::string::npos);
  auto const none = trimmed->with({{602, "{}"}}, 0, 603);
  CHECK(none->empty());
  auto const again = none->with({{603, "{}"}}, 0, 603);
  CHECK(again->first_seq() == 603);
  CHECK(again->size() == 1);
}

TEST_CASE("the hub serves only what the store keeps, and resets a resume from before it") {
  facts::memory_store store({.facts = 5});
  facts::broadcaster hub({}, 100, &store);
  hub.publish(store.append(numbered(1, 12)));
  CHECK(store.first_seq() == 8);

  auto const fresh = hub.join(std::nullopt);
  REQUIRE(fresh);
  CHECK_FALSE(fresh->catch_up_after);
  CHECK(*fresh->snapshot ==
        "id: 12\ndata: [{\"n\":8},{\"n\":9},{\"n\":10},{\"n\":11},{\"n\":12}]\n\n");

  auto const resumed = hub.join("9");
  REQUIRE(resumed);
  CHECK(*resumed->snapshot == "id: 12\ndata: [{\"n\":10},{\"n\":11},{\"n\":12}]\n\n");
  auto const oldest = hub.join("7");  // the client has 7: it misses nothing that exists
  REQUIRE(oldest);
  CHECK(oldest->snapshot->find("event: reset") == std::string::npos);

  auto const gone = hub.join("6");  // 7 is gone: reset
  REQUIRE(gone);
  CHECK(*gone->snapshot ==
        "event: reset\nid: 12\ndata: [{\"n\":8},{\"n\":9},{\"n\":10},{\"n\":11},{\"n\":12}]\n\n");
  for (int i = 0; i < 4; ++i)
    hub.leave();
}
