// The one road from a store to the streams: fact_store::follow for the local stores, and
// fact_writer acknowledging only what came back that way.
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/fact_writer.hpp"
#include "facts/store/memory_store.hpp"
#include "facts/store/sqlite_store.hpp"
#include "support/files.hpp"

namespace {

using texts = std::vector<std::string>;
using outcome = facts::append_result::outcome;

/** Represents a follower that records every batch it is handed. */
struct recorder {
  std::mutex mutex;
  std::vector<std::vector<facts::fact>> batches;

  facts::follower hook() {
    return [this](std::vector<facts::fact> const& batch) {
      std::lock_guard lock(mutex);
      batches.push_back(batch);
    };
  }
  std::vector<std::uint64_t> seqs() {
    std::lock_guard lock(mutex);
    std::vector<std::uint64_t> out;
    for (auto const& b : batches)
      for (auto const& f : b)
        out.push_back(f.seq);
    return out;
  }
};

std::vector<std::uint64_t> one_to(std::uint64_t n) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 1; i <= n; ++i)
    out.push_back(i);
  return out;
}

void check_follow_contract(facts::fact_store& store) {
  SECTION("what was stored before following began is handed on first, from `after`") {
    store.append(texts{R"({"a":1})", R"({"a":2})", R"({"a":3})"});
    recorder seen;
    store.follow(1, seen.hook());
    CHECK(seen.seqs() == std::vector<std::uint64_t>{2, 3});
    store.append(texts{R"({"a":4})"});
    CHECK(seen.seqs() == std::vector<std::uint64_t>{2, 3, 4});
  }

  SECTION("a batch is handed on once, with only what it created") {
    recorder seen;
    store.follow(0, seen.hook());
    store.append(std::vector<facts::append_request>{{R"({"k":1})", "key"}, {R"({"k":2})", ""}});
    auto const replay = store.append(std::vector<facts::append_request>{{R"({"k":1})", "key"}});
    REQUIRE(replay.at(0).what == outcome::replayed);
    std::lock_guard lock(seen.mutex);
    REQUIRE(seen.batches.size() == 1);
    CHECK(seen.batches[0] == std::vector<facts::fact>{{1, R"({"k":1})"}, {2, R"({"k":2})"}});
  }

  SECTION("concurrent appends reach the follower once each, in seq order") {
    recorder seen;
    store.follow(0, seen.hook());
    constexpr int threads = 4;
    constexpr int batches = 50;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&] {
        for (int i = 0; i < batches; ++i)
          store.append(texts{"{}", "{}"});
      });
    for (auto& w : workers)
      w.join();
    CHECK(seen.seqs() == one_to(threads * batches * 2));
  }

  SECTION("after stop_following nothing more is handed on") {
    recorder seen;
    store.follow(0, seen.hook());
    store.append(texts{"{}"});
    store.stop_following();
    store.append(texts{"{}"});
    CHECK(seen.seqs() == std::vector<std::uint64_t>{1});
    CHECK(store.health().reachable);
    CHECK(store.health().last_seq == 2);
  }
}

using temp_folder = facts::test::temp_dir;

std::optional<facts::append_result> submit_and_wait(facts::fact_writer& writer, std::string json) {
  std::promise<std::optional<facts::append_result>> answered;
  auto future = answered.get_future();
  writer.submit({std::move(json), {}},
                [&](std::optional<facts::append_result> r) { answered.set_value(std::move(r)); });
  REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return future.get();
}

}  // namespace

TEST_CASE("memory_store hands what it commits to its follower", "[concurrency]") {
  facts::memory_store store;
  check_follow_contract(store);
}

TEST_CASE("sqlite_store hands what it commits to its follower", "[concurrency]") {
  temp_folder folder;
  facts::sqlite_store store((folder.path() / "facts.db").string(), facts::sync_mode::normal);
  check_follow_contract(store);
}

TEST_CASE("fact_writer acknowledges a fact once the follower fanned it out", "[concurrency]") {
  facts::memory_store store;
  facts::broadcaster hub({}, 0);
  constexpr auto timeout = std::chrono::milliseconds(300);
  facts::fact_writer writer(store, hub, timeout);

  SECTION("followed: created at once, and the broadcaster has it") {
    store.follow(0, [&](std::vector<facts::fact> const& batch) {
      hub.publish(batch);
      writer.fanned_out(batch.back().seq);
    });
    auto const started = std::chrono::steady_clock::now();
    auto const result = submit_and_wait(writer, R"({"a":1})");
    REQUIRE(result);
    CHECK(result->what == outcome::created);
    CHECK(result->stored.seq == 1);
    CHECK(hub.last_seq() == 1);
    CHECK(std::chrono::steady_clock::now() - started < timeout);
  }

  SECTION("never fanned out: unavailable once the timeout has passed, not before") {
    auto const started = std::chrono::steady_clock::now();
    auto const result = submit_and_wait(writer, R"({"a":1})");
    auto const took = std::chrono::steady_clock::now() - started;
    REQUIRE(result);
    CHECK(result->what == outcome::unavailable);
    CHECK(store.last_seq() == 1);  // stored: a retry with the same key would find it
    // The wait is the timeout, but never under half a second after the store answered.
    CHECK(took >= std::chrono::milliseconds(500));
    CHECK(took < std::chrono::milliseconds(500) + std::chrono::seconds(1));
  }
  writer.stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
}
