// post_batch: every POST handed over is answered once, on the I/O thread, with its own result,
// whether the writer stores the batch or has stopped.
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
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

namespace {

/** Represents a shared log's committer: the test acknowledges each fact when it likes. */
class held_log final : public facts::committer {
 public:
  void submit_all(std::vector<submission> batch) override {
    std::lock_guard lock(mutex_);
    for (auto& s : batch)
      held_.push_back(std::move(s));
  }
  bool stop(std::chrono::steady_clock::time_point) override { return true; }
  bool answers_each_alone() const override { return true; }

  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

  /// Acknowledges fact `index` as stored under `seq`, from a thread of its own (nats.c's).
  void acknowledge(std::size_t index, std::uint64_t seq) {
    facts::committer::completion done;
    std::string json;
    {
      std::lock_guard lock(mutex_);
      done = std::move(held_.at(index).done);
      json = held_.at(index).request.json;
    }
    std::thread([&] {
      done(facts::append_result{facts::append_result::outcome::created, {seq, json}});
    }).join();
  }

 private:
  std::mutex mutex_;  // guards held_
  std::vector<submission> held_;
};

// Runs `ioc` until `done` holds or 10 s have passed.
template <class Condition>
bool run_until(net::io_context& ioc, Condition done) {
  auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < deadline)
    ioc.run_one_for(std::chrono::milliseconds(20));
  return done();
}

}  // namespace

TEST_CASE("with a shared log a POST is answered when its own fact is, not when its pass is",
          "[concurrency]") {
  held_log log;
  net::io_context ioc{1};
  auto busy = net::make_work_guard(ioc);
  facts::http::post_batch posts{ioc, log};
  std::vector<std::optional<facts::append_result>> answers(4);
  std::vector<bool> came(4, false);
  auto const add = [&](std::size_t i) {
    posts.add({R"({"n":)" + std::to_string(i) + "}", {}},
              [&, i](std::optional<facts::append_result> result) {
                answers[i] = std::move(result);
                came[i] = true;
              });
  };
  net::post(ioc, [&] {
    for (std::size_t i = 0; i < 3; ++i)
      add(i);
  });
  REQUIRE(run_until(ioc, [&] { return log.held() == 3; }));

  // The second of the pass is acknowledged; the first and third are still waiting (a retry,
  // a lost ack): its POST is answered now.
  log.acknowledge(1, 7);
  REQUIRE(run_until(ioc, [&] { return came[1]; }));
  CHECK(answers[1]->stored.seq == 7);
  CHECK_FALSE(came[0]);
  CHECK_FALSE(came[2]);

  log.acknowledge(2, 8);
  log.acknowledge(0, 9);
  REQUIRE(run_until(ioc, [&] { return came[0] && came[2]; }));
  CHECK(answers[0]->stored.seq == 9);
  CHECK(answers[2]->stored.seq == 8);

  // The next pass is answered as well: the first one's bookkeeping is gone.
  net::post(ioc, [&] { add(3); });
  REQUIRE(run_until(ioc, [&] { return log.held() == 4; }));
  log.acknowledge(3, 10);
  REQUIRE(run_until(ioc, [&] { return came[3]; }));
  CHECK(answers[3]->stored.seq == 10);
}
