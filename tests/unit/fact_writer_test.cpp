// fact_writer's own promises: batches keep their order, every submission is answered once, and
// its thread does not preempt the I/O threads when woken.
#include <sched.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/fact_writer.hpp"
#include "facts/store/memory_store.hpp"
#include "support/wait.hpp"

namespace {

using outcome = facts::append_result::outcome;

/** Represents a memory store whose follower feeds a broadcaster and the writer, as server does. */
struct wired_writer {
  facts::memory_store store;
  facts::broadcaster hub{{}, 0};
  facts::fact_writer writer{store, hub, std::chrono::seconds(5)};

  wired_writer() {
    store.follow(0, [this](std::vector<facts::fact> const& batch) {
      hub.publish(batch);
      writer.fanned_out(batch.back().seq);
    });
  }
  ~wired_writer() { writer.stop(std::chrono::steady_clock::now() + std::chrono::seconds(10)); }
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

TEST_CASE("submit_all stores a batch in order and answers each submission once", "[concurrency]") {
  wired_writer w;
  constexpr int count = 200;
  std::vector<std::promise<std::optional<facts::append_result>>> answers(count);
  std::vector<facts::fact_writer::submission> batch;
  for (int i = 0; i < count; ++i)
    batch.push_back({{R"({"n":)" + std::to_string(i) + "}", {}},
                     [&answers, i](std::optional<facts::append_result> result) {
                       answers[static_cast<std::size_t>(i)].set_value(std::move(result));
                     }});
  w.writer.submit_all(std::move(batch));
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

TEST_CASE("after stop, submit_all answers every submission with nullopt and stores nothing",
          "[concurrency]") {
  wired_writer w;
  w.writer.stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  int refused = 0;
  std::vector<facts::fact_writer::submission> batch;
  for (int i = 0; i < 3; ++i)
    batch.push_back({{R"({"late":true})", {}}, [&refused](auto result) {
                       if (!result) ++refused;
                     }});
  w.writer.submit_all(std::move(batch));
  CHECK(refused == 3);
  CHECK(w.store.count() == 0);
}

TEST_CASE("the writer thread runs under SCHED_BATCH, so waking it preempts no I/O thread") {
  auto const before = threads_with_policy(SCHED_BATCH);
  {
    wired_writer w;
    // The thread sets its policy as it starts.
    CHECK(facts::test::eventually([&] { return threads_with_policy(SCHED_BATCH) == before + 1; },
                                  std::chrono::seconds(5)));
  }
  CHECK(threads_with_policy(SCHED_BATCH) == before);
}
