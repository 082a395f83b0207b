// post_batch: every POST handed over is answered once, on the I/O thread, with its own result,
// whether the writer stores the batch or has stopped.
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/commit/committer.hpp"
#include "facts/http/post_batch.hpp"
#include "facts/store/memory_store.hpp"

namespace {

namespace net = boost::asio;

/** Represents one I/O thread's context with its post_batch, and the writer behind it. */
struct io_thread_with_writer {
  facts::memory_store store;
  facts::broadcaster hub{{}, 0};
  std::unique_ptr<facts::committer> writer =
      facts::make_committer(store, hub, std::chrono::seconds(5));
  net::io_context ioc{1};
  // The answers come from the writer's thread: until then the context must not run dry and stop.
  net::executor_work_guard<net::io_context::executor_type> busy{ioc.get_executor()};
  facts::http::post_batch posts{ioc, *writer};

  io_thread_with_writer() {
    store.follow(0, [this](std::vector<facts::fact> const& batch) { hub.publish(batch); });
  }
  ~io_thread_with_writer() {
    writer->stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  }

  /// Adds `count` facts from one handler (one pass), then runs the context until each is
  /// answered or 10 s have passed; returns the answers by fact, and the threads they ran on.
  std::vector<std::optional<facts::append_result>> post_in_one_pass(
      int count, std::vector<std::thread::id>& answered_on) {
    std::vector<std::optional<facts::append_result>> answers(static_cast<std::size_t>(count));
    int answered = 0;
    net::post(ioc, [&] {
      for (int i = 0; i < count; ++i)
        posts.add({R"({"n":)" + std::to_string(i) + "}", {}},
                  [&, i](std::optional<facts::append_result> result) {
                    answers[static_cast<std::size_t>(i)] = std::move(result);
                    answered_on.push_back(std::this_thread::get_id());
                    ++answered;
                  });
    });
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (answered < count && std::chrono::steady_clock::now() < deadline)
      ioc.run_one_for(std::chrono::milliseconds(100));
    return answers;
  }
};

}  // namespace

TEST_CASE("post_batch answers every POST of a pass once, on the I/O thread, in order",
          "[concurrency]") {
  io_thread_with_writer t;
  std::vector<std::thread::id> answered_on;
  auto const answers = t.post_in_one_pass(100, answered_on);
  REQUIRE(answered_on.size() == 100);
  for (auto const& id : answered_on)
    CHECK(id == std::this_thread::get_id());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    REQUIRE(answers[i]);
    CHECK(answers[i]->what == facts::append_result::outcome::created);
    CHECK(answers[i]->stored.seq == i + 1);
  }
  // Later passes keep working: the bookkeeping of the first is gone.
  answered_on.clear();
  auto const more = t.post_in_one_pass(3, answered_on);
  REQUIRE(answered_on.size() == 3);
  CHECK(more.back()->stored.seq == 103);
}

TEST_CASE("post_batch answers nullopt for POSTs handed to a stopped writer", "[concurrency]") {
  io_thread_with_writer t;
  t.writer->stop(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  std::vector<std::thread::id> answered_on;
  auto const answers = t.post_in_one_pass(5, answered_on);
  REQUIRE(answered_on.size() == 5);
  for (auto const& a : answers)
    CHECK(!a);
  CHECK(t.store.count() == 0);
}
