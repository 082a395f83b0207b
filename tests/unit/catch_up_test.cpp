#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/catch_up_reader.hpp"
#include "facts/fact_window.hpp"
#include "facts/sse.hpp"
#include "facts/store/memory_store.hpp"
#include "support/wait.hpp"

// The immutable window new snapshots are built from, and the reader streams catch up with:
// chunks bounded in bytes, one read shared by every stream at the same place, a total budget.

using namespace std::chrono_literals;
using chunk_ptr = std::shared_ptr<facts::catch_up_chunk const>;
using facts::test::eventually;

namespace {

// A fact whose JSON is exactly `bytes` long.
std::string json_of_size(std::size_t bytes) {
  return R"({"p":")" + std::string(bytes - 8, 'x') + R"("})";
}

void fill(facts::memory_store& store, std::size_t count, std::size_t bytes) {
  store.append(std::vector<std::string>(count, json_of_size(bytes)));
}

/** Represents the answers a reader gave, as a test waits for them. */
struct answers {
  std::mutex mutex;
  std::vector<chunk_ptr> got;

  facts::catch_up_reader::done_fn collect() {
    return [this](chunk_ptr c) {
      std::lock_guard lock(mutex);
      got.push_back(std::move(c));
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return got.size();
  }
  chunk_ptr at(std::size_t i) {
    std::lock_guard lock(mutex);
    return got.at(i);
  }
};

}  // namespace

TEST_CASE("fact_window keeps the newest facts and sizes any range") {
  std::vector<facts::fact> first;
  for (std::uint64_t n = 1; n <= 600; ++n)
    first.push_back({n, json_of_size(10)});
  auto const w = facts::fact_window::make(first, 500);
  CHECK(w->first_seq() == 101);
  CHECK(w->last_seq() == 600);
  CHECK(w->bytes_from(101) == 5000);
  CHECK(w->bytes_from(600) == 10);
  auto const next = w->with({{601, json_of_size(20)}}, 500);
  CHECK(next->first_seq() == 102);
  CHECK(next->bytes_from(600) == 30);
  CHECK(w->last_seq() == 600);  // the old window is unchanged: joins may still read it
  CHECK(
      next->snapshot_from(600, 601, false) ==
      facts::make_snapshot(
          std::vector<facts::fact>{{600, json_of_size(10)}, {601, json_of_size(20)}}, 601, false));
  CHECK(next->snapshot_from(602, 601, true) == facts::make_snapshot({}, 601, true));
}

TEST_CASE("fact_window: later publishes fill a shared chunk without changing older windows") {
  auto const base = facts::fact_window::make({{1, R"({"a":1})"}, {2, R"({"b":2})"}}, 0);
  auto const base_snapshot = base->snapshot_from(1, 2, false);
  // Two windows made from the same one: the second must not overwrite the first's slots.
  auto const one = base->with({{3, R"({"one":3})"}}, 0);
  auto const other = base->with({{3, R"({"other":3})"}, {4, R"({"other":4})"}}, 0);
  auto const one_more = one->with({{4, R"({"one":4})"}}, 0);
  CHECK(base->snapshot_from(1, 2, false) == base_snapshot);
  CHECK(one->snapshot_from(3, 3, false) == facts::make_snapshot({{{3, R"({"one":3})"}}}, 3, false));
  CHECK(other->snapshot_from(3, 4, false) ==
        facts::make_snapshot(std::vector<facts::fact>{{3, R"({"other":3})"}, {4, R"({"other":4})"}},
                             4, false));
  CHECK(one_more->snapshot_from(3, 4, false) ==
        facts::make_snapshot(std::vector<facts::fact>{{3, R"({"one":3})"}, {4, R"({"one":4})"}}, 4,
                             false));
  CHECK(one->bytes_from(1) == 7 + 7 + 9);
  CHECK(other->bytes_from(1) == 7 + 7 + 11 + 11);

  // Across a chunk's end, one fact at a time, every window keeps what it had.
  std::vector<std::shared_ptr<facts::fact_window const>> windows{base};
  for (std::uint64_t seq = 3; seq <= facts::fact_window::chunk_size * 2 + 5; ++seq)
    windows.push_back(windows.back()->with({{seq, json_of_size(10)}}, 0));
  for (std::size_t i = 0; i < windows.size(); ++i) {
    INFO("window " << i);
    CHECK(windows[i]->last_seq() == i + 2);
    CHECK(windows[i]->bytes_from(1) == 14 + 10 * i);
  }
}

TEST_CASE("a catch-up chunk holds facts up to chunk_bytes of JSON, not beyond") {
  facts::memory_store store;
  constexpr std::size_t chunk = 64 * 1024;
  SECTION("facts that fill the bound exactly all fit") {
    fill(store, 40, chunk / 16);
    facts::catch_up_reader reader(store, chunk);
    answers a;
    reader.read(0, a.collect());
    REQUIRE(eventually([&] { return a.count() == 1; }, 5s));
    REQUIRE(a.at(0));
    CHECK(a.at(0)->first_seq == 1);
    CHECK(a.at(0)->last_seq == 16);
  }
  SECTION("one byte more per fact and the 16th waits for the next chunk") {
    fill(store, 40, chunk / 16 + 1);
    facts::catch_up_reader reader(store, chunk);
    answers a;
    reader.read(0, a.collect());
    REQUIRE(eventually([&] { return a.count() == 1; }, 5s));
    CHECK(a.at(0)->last_seq == 15);
    reader.read(15, a.collect());
    REQUIRE(eventually([&] { return a.count() == 2; }, 5s));
    CHECK(a.at(1)->first_seq == 16);
  }
  SECTION("a fact larger than the bound comes alone") {
    fill(store, 3, chunk + 1);
    facts::catch_up_reader reader(store, chunk);
    answers a;
    reader.read(1, a.collect());
    REQUIRE(eventually([&] { return a.count() == 1; }, 5s));
    CHECK(a.at(0)->first_seq == 2);
    CHECK(a.at(0)->last_seq == 2);
  }
}

TEST_CASE("a chunk is the live events of its facts, and a prefix ends on an event") {
  facts::memory_store store;
  store.append(std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})"});
  facts::catch_up_reader reader(store);
  answers a;
  reader.read(0, a.collect());
  REQUIRE(eventually([&] { return a.count() == 1; }, 5s));
  auto const c = a.at(0);
  CHECK(c->bytes == facts::make_event({1, R"({"a":1})"}) + facts::make_event({2, R"({"b":2})"}) +
                        facts::make_event({3, R"({"c":3})"}));
  CHECK(c->bytes.substr(0, c->bytes_through(2)) ==
        facts::make_event({1, R"({"a":1})"}) + facts::make_event({2, R"({"b":2})"}));
}

TEST_CASE("streams catching up from the same id share one read and one chunk", "[concurrency]") {
  facts::memory_store store;
  fill(store, 2000, 100);
  facts::catch_up_reader reader(store);
  answers a;
  constexpr int streams = 1000;  // a reconnect storm: the same Last-Event-ID a thousand times
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < streams / 4; ++i)
        reader.read(1000, a.collect());
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(eventually([&] { return a.count() == streams; }, 10s));
  auto const first = a.at(0);
  REQUIRE(first);
  bool all_same = true;
  for (std::size_t i = 0; i < streams; ++i)
    all_same = all_same && a.at(i) == first;
  CHECK(all_same);
  // One chunk was read (a few store reads while it sized itself), not a thousand.
  auto const reads = reader.reads();
  CHECK(reads <= 4);
  // Held while a stream holds it, given back when none does.
  CHECK(reader.bytes_held() >= first->bytes.size());
  a.got.clear();
  CHECK(reader.bytes_held() > 0);  // `first` still holds it
}

TEST_CASE("catch-up chunks alive stay within the reader's budget") {
  facts::memory_store store;
  fill(store, 100, 1000);
  constexpr std::size_t chunk = 10 * 1000;
  constexpr std::size_t budget = 30 * 1000;  // about three chunks
  facts::catch_up_reader reader(store, chunk, budget);
  answers a;
  // Ten streams at ten places: only as many chunks as the budget holds are read; the others
  // wait until streams drop theirs.
  for (std::uint64_t after = 0; after < 100; after += 10)
    reader.read(after, a.collect());
  REQUIRE(eventually([&] { return a.count() >= 3; }, 5s));
  // Three chunks of about 10 KB are the budget: the reader waits, however long we look.
  CHECK_FALSE(eventually([&] { return a.count() > 3; }, 300ms));
  CHECK(reader.bytes_held() <= budget + chunk + 1000);
  // As streams send and drop theirs, the others are read, three at a time at most.
  std::size_t answered = 0;
  bool within_budget = true;
  CHECK(eventually(
      [&] {
        std::lock_guard lock(a.mutex);
        within_budget = within_budget && a.got.size() <= 3;
        answered += a.got.size();
        a.got.clear();
        return answered == 10;
      },
      10s));
  CHECK(within_budget);
}

TEST_CASE("a new stream's first chunk is read while other streams hold the whole budget") {
  facts::memory_store store;
  fill(store, 100, 1000);
  constexpr std::size_t chunk = 10 * 1000;
  constexpr std::size_t budget = 30 * 1000;  // three chunks; the first chunks' reserve: 7,500
  facts::catch_up_reader reader(store, chunk, budget);
  answers held;
  for (std::uint64_t after : {0, 10, 20})
    reader.read(after, held.collect());
  REQUIRE(eventually([&] { return held.count() == 3; }, 5s));
  REQUIRE(reader.bytes_held() >= budget);
  // Over budget: another catching-up stream waits, whoever asks first.
  answers waiting;
  reader.read(30, waiting.collect());
  // A new client's first event (its snapshot array, a chunk of at most 64 KiB) does not.
  answers first;
  reader.read_first(0, 100, false, first.collect());
  CHECK(eventually([&] { return first.count() == 1; }, 5s));
  CHECK(waiting.count() == 0);
  // The reserve is a quarter of the budget: with this one held, the next new client waits too.
  answers second;
  reader.read_first(40, 100, false, second.collect());
  CHECK_FALSE(eventually([&] { return second.count() == 1; }, 300ms));
  // Given back, the budget serves the waiting reads again: first chunks first.
  held.got.clear();
  first.got.clear();
  CHECK(eventually([&] { return second.count() == 1 && waiting.count() == 1; }, 5s));
}

TEST_CASE("a read for a slow stream holds the bytes it asks for, not the chunk size") {
  facts::memory_store store;
  fill(store, 100, 1000);
  facts::catch_up_reader reader(store, 64 * 1000);
  answers a;
  reader.read(0, a.collect(), 3000);  // three facts' JSON
  reader.read(0, a.collect());        // a chunk: 64 of them
  REQUIRE(eventually([&] { return a.count() == 2; }, 5s));
  CHECK(a.at(0)->last_seq == 3);
  CHECK(a.at(1)->last_seq == 64);
  // Even below one fact, a read holds one: the stream moves on.
  reader.read(10, a.collect(), 1);
  REQUIRE(eventually([&] { return a.count() == 3; }, 5s));
  CHECK(a.at(2)->first_seq == 11);
  CHECK(a.at(2)->last_seq == 11);
}

TEST_CASE("a snapshot over its byte bound becomes a catch-up in chunks") {
  facts::memory_store store;
  fill(store, 100, 1000);  // 100,000 bytes of JSON, all in the window
  auto const join = [&](std::size_t snapshot_bytes, std::optional<std::string_view> id) {
    facts::broadcaster hub(store.read_latest(0), 0, &store, snapshot_bytes);
    auto joined = hub.join(id);
    REQUIRE(joined);
    return *joined;
  };
  SECTION("a new client: the whole window just fits, or not") {
    auto const fits = join(100'000, std::nullopt);
    CHECK_FALSE(fits.catch_up_after);
    CHECK(fits.snapshot->size() > 100'000);
    auto const over = join(99'999, std::nullopt);
    CHECK(over.catch_up_after == 0);
    CHECK_FALSE(over.snapshot);  // the first chunk read will be its array
    CHECK(over.seq == 100);
  }
  SECTION("a resume: its own snapshot holds at most 64 KiB") {
    auto const fits = join(1'000'000, "36");  // 64 facts: 64,000 bytes
    CHECK_FALSE(fits.catch_up_after);
    auto const over = join(1'000'000, "34");  // 66 facts: 66,000 bytes
    CHECK(over.catch_up_after == 34);
    CHECK_FALSE(over.reset);
  }
  SECTION("a reset over the bound catches up from the window's start, as a reset") {
    auto const over = join(99'999, "not-a-number");
    CHECK(over.catch_up_after == 0);
    CHECK(over.reset);
  }
}

TEST_CASE("a stream's first chunk is one snapshot array, up to its seq, shared by a storm") {
  facts::memory_store store;
  store.append(std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})", R"({"d":4})"});
  facts::catch_up_reader reader(store);
  answers a;
  for (int i = 0; i < 3; ++i)
    reader.read_first(1, 3, false, a.collect());  // three streams resuming after 1, joined at 3
  reader.read_first(1, 3, true, a.collect());     // and one told to reset
  REQUIRE(eventually([&] { return a.count() == 4; }, 5s));
  std::vector<chunk_ptr> plain;
  chunk_ptr reset;
  for (std::size_t i = 0; i < 4; ++i)
    (a.at(i)->bytes.starts_with("event: reset") ? reset : plain.emplace_back()) = a.at(i);
  REQUIRE(plain.size() == 3);
  REQUIRE(reset);
  CHECK(plain[0]->bytes ==
        facts::make_snapshot(std::vector<facts::fact>{{2, R"({"b":2})"}, {3, R"({"c":3})"}}, 3,
                             false));
  CHECK(plain[0]->first_seq == 2);
  CHECK(plain[0]->last_seq == 3);  // not 4: the streams get 4 live
  CHECK(plain[0]->bytes_through(3) == plain[0]->bytes.size());
  CHECK((plain[1] == plain[0] && plain[2] == plain[0]));
  CHECK(reset->bytes ==
        facts::make_snapshot(std::vector<facts::fact>{{2, R"({"b":2})"}, {3, R"({"c":3})"}}, 3,
                             true));
}
