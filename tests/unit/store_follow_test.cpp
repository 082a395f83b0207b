// The one road from a store to the streams: fact_store::follow for the local stores, and
// a committer acknowledging only what came back that way.
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/commit/committer.hpp"
#include "facts/store/memory_store.hpp"
#include "facts/store/sqlite_store.hpp"
#include "support/files.hpp"
#include "support/wait.hpp"

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

std::optional<facts::append_result> submit_and_wait(facts::committer& writer, std::string json) {
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

TEST_CASE("a committer acknowledges a fact once the follower fanned it out", "[concurrency]") {
  facts::memory_store store;
  facts::broadcaster hub({}, 0);
  constexpr auto timeout = std::chrono::milliseconds(300);
  auto const commits = facts::make_committer(store, hub, timeout);
  auto& writer = *commits;

  SECTION("followed: created at once, and the broadcaster has it") {
    store.follow(0, [&](std::vector<facts::fact> const& batch) { hub.publish(batch); });
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

namespace {

/**
 * Represents a shared log whose acks the test hands out itself, in any order: append_async only
 * records the request and who to answer.
 */
class held_acks_store final : public facts::fact_store {
 public:
  std::vector<facts::append_result> append(std::vector<facts::append_request> const&) override {
    throw facts::store_error("a shared log appends through append_async");
  }
  bool appends_async() const override { return true; }
  void append_async(facts::append_request request, facts::append_callback answered) override {
    std::lock_guard lock(mutex_);
    held_.push_back({std::move(request), std::move(answered)});
  }
  std::vector<facts::fact> read_after(std::uint64_t, std::size_t) const override { return {}; }
  std::vector<facts::fact> read_latest(std::size_t) const override { return {}; }
  std::uint64_t last_seq() const override { return 0; }
  std::uint64_t count() const override { return 0; }
  std::string describe() const override { return "held-acks:"; }

  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  /// Answers the `index`-th request taken (0 = the first), as the log's thread would.
  void answer(std::size_t index, facts::append_result result) {
    facts::append_callback answered;
    {
      std::lock_guard lock(mutex_);
      answered = held_.at(index).second;
    }
    answered(std::move(result));
  }
  std::string json(std::size_t index) {
    std::lock_guard lock(mutex_);
    return held_.at(index).first.json;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<facts::append_request, facts::append_callback>> held_;
};

/** Represents one POST's answer, filled in on whichever thread the writer completes it. */
struct answer_slot {
  std::mutex mutex;
  int calls = 0;
  std::optional<facts::append_result> result;

  facts::committer::completion hook() {
    return [this](std::optional<facts::append_result> r) {
      std::lock_guard lock(mutex);
      ++calls;
      result = std::move(r);
    };
  }
  int answered() {
    std::lock_guard lock(mutex);
    return calls;
  }
};

// The follower's part, as the log would play it: the hub fans out every fact up to `seq`
// (ours or another instance's), which is what a committer waits for.
void fan_out_through(facts::broadcaster& hub, std::uint64_t seq) {
  std::vector<facts::fact> batch;
  for (auto s = hub.last_seq() + 1; s <= seq; ++s)
    batch.push_back({s, R"({"from":"the log"})"});
  hub.publish(batch);
}

facts::append_result created(std::uint64_t seq, std::string json) {
  return {outcome::created, {seq, std::move(json)}};
}

}  // namespace

TEST_CASE("a committer on a shared log answers each fact on its own ack and fan-out",
          "[concurrency]") {
  held_acks_store store;
  facts::broadcaster hub({}, 0);
  constexpr auto timeout = std::chrono::milliseconds(300);
  auto const commits = facts::make_committer(store, hub, timeout);
  auto& writer = *commits;
  answer_slot first, second;
  writer.submit({R"({"a":1})", {}}, first.hook());
  writer.submit({R"({"a":2})", {}}, second.hook());
  // Both go to the log at once: the second does not wait for the first's ack.
  REQUIRE(facts::test::eventually([&] { return store.held() == 2; }, std::chrono::seconds(5)));
  CHECK(store.json(0) == R"({"a":1})");
  CHECK(store.json(1) == R"({"a":2})");

  SECTION("acked out of order: each is answered once its own fact came back") {
    store.answer(1, created(1, store.json(1)));  // the log took the second first
    CHECK(second.answered() == 0);               // acked, not fanned out yet
    fan_out_through(hub, 1);
    CHECK(second.answered() == 1);  // answered on the follower's call, while the first waits
    CHECK(first.answered() == 0);
    fan_out_through(hub, 2);  // another instance's fact: nothing of ours
    CHECK(first.answered() == 0);
    store.answer(0, created(3, store.json(0)));
    CHECK(first.answered() == 0);
    fan_out_through(hub, 3);
    REQUIRE(first.answered() == 1);
    CHECK(first.result->what == outcome::created);
    CHECK(first.result->stored.seq == 3);
    CHECK(second.result->stored.seq == 1);
  }

  SECTION("a fact that came back before its ack is answered with the ack") {
    fan_out_through(hub, 2);
    store.answer(0, created(2, store.json(0)));
    REQUIRE(first.answered() == 1);
    CHECK(first.result->stored.seq == 2);
    store.answer(1, {outcome::conflict, {}});  // no fact to wait for: answered at once
    REQUIRE(second.answered() == 1);
    CHECK(second.result->what == outcome::conflict);
  }

  SECTION("stored but never back: unavailable once the timeout has passed, not before") {
    auto const started = std::chrono::steady_clock::now();
    store.answer(0, created(1, store.json(0)));
    store.answer(1, {outcome::unavailable, {}});
    CHECK(second.answered() == 1);
    REQUIRE(
        facts::test::eventually([&] { return first.answered() == 1; }, std::chrono::seconds(5)));
    auto const took = std::chrono::steady_clock::now() - started;
    CHECK(first.result->what == outcome::unavailable);
    // As for a batch: the timeout, but never under half a second after the log answered.
    CHECK(took >= std::chrono::milliseconds(500));
    CHECK(took < std::chrono::milliseconds(500) + std::chrono::seconds(1));
  }

  SECTION("stop waits for what is in flight, then refuses") {
    CHECK_FALSE(writer.stop(std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
    store.answer(0, {outcome::conflict, {}});
    store.answer(1, {outcome::conflict, {}});
    CHECK(writer.stop(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
    answer_slot late;
    writer.submit({R"({"a":3})", {}}, late.hook());
    REQUIRE(late.answered() == 1);
    CHECK_FALSE(late.result);
    CHECK(store.held() == 2);
  }
  // Every section answers both; nothing is answered twice.
  CHECK(first.answered() == 1);
  CHECK(second.answered() == 1);
  writer.stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
}
