// fact_writer's own promises: batches keep their order, every submission is answered once, and
// its thread does not preempt the I/O threads when woken; a store that never waits is written on
// the submitting thread, one batch at a time.
#include <sched.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/commit/committer.hpp"
#include "facts/store/memory_store.hpp"
#include "support/wait.hpp"

namespace {

using outcome = facts::append_result::outcome;

/**
 * Represents a memory store that says its appends may wait, as a file's do: the writer then
 * commits on its own thread, the path SQLite takes.
 */
class store_that_may_wait final : public facts::fact_store {
 public:
  using fact_store::append;
  std::vector<facts::append_result> append(
      std::vector<facts::append_request> const& requests) override {
    return inner_.append(requests);
  }
  std::vector<facts::fact> read_after(std::uint64_t after, std::size_t max) const override {
    return inner_.read_after(after, max);
  }
  std::vector<facts::fact> read_latest(std::size_t max) const override {
    return inner_.read_latest(max);
  }
  std::uint64_t last_seq() const override { return inner_.last_seq(); }
  std::uint64_t count() const override { return inner_.count(); }
  std::string describe() const override { return "memory that may wait"; }
  void follow(std::uint64_t after, facts::follower on_stored) override {
    inner_.follow(after, std::move(on_stored));
  }

 private:
  facts::memory_store inner_;
};

/** Represents a store whose follower feeds a broadcaster and the writer, as server does. */
template <typename Store>
struct wired_writer {
  Store store;
  facts::broadcaster hub{{}, 0};
  std::unique_ptr<facts::committer> writer =
      facts::make_committer(store, hub, std::chrono::seconds(5));

  wired_writer() {
    store.follow(0, [this](std::vector<facts::fact> const& batch) { hub.publish(batch); });
  }
  ~wired_writer() { writer->stop(std::chrono::steady_clock::now() + std::chrono::seconds(10)); }
};

// How many threads of this process run under `policy`, from /proc/self/task/*/stat (field 41).
int threads_with_policy(int policy) {
  int found = 0;
  for (auto const& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string const stat{std::istreambuf_iterator<char>(in), {}};
    auto const after_name = stat.rfind(')');
    if (after_name == std::string::npos) continue;
    std::istringstream fields(stat.substr(after_name + 2));
    std::string value;
    for (int field = 3; field <= 41 && fields >> value; ++field)
      if (field == 41 && std::stoi(value) == policy) ++found;
  }
  return found;
}

}  // namespace

TEMPLATE_TEST_CASE("submit_all stores a batch in order and answers each submission once",
                   "[concurrency]", facts::memory_store, store_that_may_wait) {
  wired_writer<TestType> w;
  constexpr int count = 200;
  std::vector<std::promise<std::optional<facts::append_result>>> answers(count);
  std::vector<facts::committer::submission> batch;
  for (int i = 0; i < count; ++i)
    batch.push_back({{R"({"n":)" + std::to_string(i) + "}", {}},
                     [&answers, i](std::optional<facts::append_result> result) {
                       answers[static_cast<std::size_t>(i)].set_value(std::move(result));
                     }});
  w.writer->submit_all(std::move(batch));
  for (int i = 0; i < count; ++i) {
    auto answer = answers[static_cast<std::size_t>(i)].get_future();
    REQUIRE(answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto const result = answer.get();
    REQUIRE(result);
    CHECK(result->what == outcome::created);
    CHECK(result->stored.seq == static_cast<std::uint64_t>(i + 1));
    CHECK(result->stored.json == R"({"n":)" + std::to_string(i) + "}");
  }
  CHECK(w.hub.last_seq() == count);
}

TEMPLATE_TEST_CASE(
    "after stop, submit_all answers every submission with nullopt and stores nothing",
    "[concurrency]", facts::memory_store, store_that_may_wait) {
  wired_writer<TestType> w;
  w.writer->stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  int refused = 0;
  std::vector<facts::committer::submission> batch;
  for (int i = 0; i < 3; ++i)
    batch.push_back({{R"({"late":true})", {}}, [&refused](auto result) {
                       if (!result) ++refused;
                     }});
  w.writer->submit_all(std::move(batch));
  CHECK(refused == 3);
  CHECK(w.store.count() == 0);
}

TEST_CASE("the writer thread runs under SCHED_BATCH, so waking it preempts no I/O thread") {
  auto const before = threads_with_policy(SCHED_BATCH);
  {
    wired_writer<store_that_may_wait> w;
    // The thread sets its policy as it starts.
    CHECK(facts::test::eventually([&] { return threads_with_policy(SCHED_BATCH) == before + 1; },
                                  std::chrono::seconds(5)));
  }
  CHECK(threads_with_policy(SCHED_BATCH) == before);
}

TEST_CASE("a store that never waits is written inside submit_all, on the submitting thread") {
  wired_writer<facts::memory_store> w;
  auto const here = std::this_thread::get_id();
  int answered_here = 0;
  std::vector<facts::committer::submission> batch;
  for (int i = 0; i < 3; ++i)
    batch.push_back({{R"({"n":)" + std::to_string(i) + "}", {}}, [&answered_here, here](auto r) {
                       if (r && r->what == outcome::created && std::this_thread::get_id() == here)
                         ++answered_here;
                     }});
  w.writer->submit_all(std::move(batch));
  // No wait: handed to the writer's thread, none would be answered yet, nor here.
  CHECK(answered_here == 3);
  CHECK(w.hub.last_seq() == 3);
}

TEST_CASE("threads writing a store that never waits commit one batch at a time, in seq order",
          "[concurrency]") {
  wired_writer<facts::memory_store> w;
  constexpr int threads = 4;
  constexpr int batches = 200;
  constexpr int per_batch = 5;
  // Each batch's seqs, as its answers gave them: one commit each, so consecutive.
  std::vector<std::vector<std::vector<std::uint64_t>>> seqs(threads);
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&w, &mine = seqs[static_cast<std::size_t>(t)]] {
      for (int b = 0; b < batches; ++b) {
        auto& got = mine.emplace_back();
        std::vector<facts::committer::submission> batch;
        for (int i = 0; i < per_batch; ++i)
          batch.push_back({{R"({"x":1})", {}}, [&got](auto r) {
                             if (r && r->what == outcome::created) got.push_back(r->stored.seq);
                           }});
        w.writer->submit_all(std::move(batch));
      }
    });
  for (auto& t : writers)
    t.join();
  std::vector<bool> seen(threads * batches * per_batch + 1, false);
  for (auto const& mine : seqs)
    for (auto const& got : mine) {
      REQUIRE(got.size() == per_batch);
      for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i] == got[0] + i);
        REQUIRE(got[i] < seen.size());
        CHECK_FALSE(seen[got[i]]);
        seen[got[i]] = true;
      }
    }
  CHECK(w.store.count() == threads * batches * per_batch);
  CHECK(w.hub.last_seq() == w.store.last_seq());
}

TEST_CASE("stop during commits on other threads: what was answered created is what was stored",
          "[concurrency]") {
  wired_writer<facts::memory_store> w;
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  std::atomic<bool> started{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t)
    writers.emplace_back([&] {
      for (int b = 0; b < 2000; ++b) {
        std::vector<facts::committer::submission> batch;
        for (int i = 0; i < 4; ++i)
          batch.push_back({{R"({"x":1})", {}}, [&](auto r) {
                             (r && r->what == outcome::created ? created : refused)++;
                           }});
        w.writer->submit_all(std::move(batch));
        started = true;
      }
    });
  REQUIRE(facts::test::eventually([&] { return started.load(); }, std::chrono::seconds(10)));
  REQUIRE(w.writer->stop(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
  auto const stored_at_stop = w.store.count();
  for (auto& t : writers)
    t.join();
  // Nothing is stored after stop() returns, and every fact stored was answered created.
  CHECK(w.store.count() == stored_at_stop);
  CHECK(created == static_cast<int>(stored_at_stop));
  CHECK(created + refused == 2 * 2000 * 4);
}
