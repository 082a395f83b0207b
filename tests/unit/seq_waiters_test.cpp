// seq_waiters: the one way to wait until the hub reaches a seq. Each wait is answered exactly
// once: true when the hub reaches it, false at its deadline (never before) or when closed.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "facts/seq_waiters.hpp"

namespace {

using clock_type = facts::seq_waiters::clock;
using namespace std::chrono_literals;

/** Represents the answers a test collects, from whichever thread gives them. */
struct wait_answers {
  std::mutex mutex;
  std::vector<std::pair<int, bool>> got;  // (which wait, reached)

  facts::seq_waiters::callback hook(int which) {
    return [this, which](bool reached) {
      std::lock_guard lock(mutex);
      got.emplace_back(which, reached);
    };
  }
  std::vector<std::pair<int, bool>> taken() {
    std::lock_guard lock(mutex);
    return got;
  }
};

}  // namespace

TEST_CASE("a seq already reached is answered at once, on the caller's thread") {
  facts::seq_waiters waiters(5);
  auto const here = std::this_thread::get_id();
  std::thread::id answered_on;
  bool reached = false;
  waiters.when_reached(5, clock_type::now() + 10s, [&](bool r) {
    reached = r;
    answered_on = std::this_thread::get_id();
  });
  CHECK(reached);
  CHECK(answered_on == here);
}

TEST_CASE("the hub's reached() answers every wait up to it, in seq order, and no other") {
  facts::seq_waiters waiters(0);
  wait_answers a;
  auto const far = clock_type::now() + 60s;
  waiters.when_reached(3, far, a.hook(3));
  waiters.when_reached(1, far, a.hook(1));
  waiters.when_reached(2, far, a.hook(2));
  waiters.when_reached(7, far, a.hook(7));
  waiters.reached(3);
  CHECK(a.taken() == std::vector<std::pair<int, bool>>{{1, true}, {2, true}, {3, true}});
  waiters.reached(2);  // never backwards: nothing more, and 7 still waits
  CHECK(a.taken().size() == 3);
  CHECK(waiters.current() == 3);
  waiters.reached(9);
  CHECK(a.taken().back() == std::pair<int, bool>{7, true});
  CHECK(a.taken().size() == 4);
}

TEST_CASE("a wait not reached is answered false at its deadline, not before", "[concurrency]") {
  facts::seq_waiters waiters(0);
  // Catch's assertions are for the test's own thread: the callbacks only hand values over.
  std::promise<std::pair<bool, clock_type::time_point>> late;
  std::promise<bool> early_answer;
  auto const started = clock_type::now();
  waiters.when_reached(10, started + 300ms, [&](bool reached) {
    late.set_value({reached, clock_type::now()});
  });
  // An earlier deadline that comes after the first wait still wakes the thread in time.
  waiters.when_reached(11, started + 100ms, [&](bool reached) { early_answer.set_value(reached); });
  auto early = early_answer.get_future();
  REQUIRE(early.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(early.get());
  CHECK(clock_type::now() - started >= 100ms);
  auto answered = late.get_future();
  REQUIRE(answered.wait_for(5s) == std::future_status::ready);
  auto const [reached, at] = answered.get();
  CHECK_FALSE(reached);
  auto const took = at - started;
  CHECK(took >= 300ms);
  CHECK(took < 300ms + 1s);
  // Answered once: reaching the seq later calls nobody.
  waiters.reached(20);
}

TEST_CASE("close() answers every wait false, and every later one at once") {
  facts::seq_waiters waiters(0);
  wait_answers a;
  waiters.when_reached(4, clock_type::now() + 60s, a.hook(4));
  waiters.close();
  CHECK(a.taken() == std::vector<std::pair<int, bool>>{{4, false}});
  waiters.when_reached(5, clock_type::now() + 60s, a.hook(5));
  CHECK(a.taken().back() == std::pair<int, bool>{5, false});
  waiters.when_reached(0, clock_type::now() + 60s, a.hook(0));  // reached already: true
  CHECK(a.taken().back() == std::pair<int, bool>{0, true});
}

TEST_CASE("waits and reached() from many threads: each wait answered exactly once",
          "[concurrency]") {
  facts::seq_waiters waiters(0);
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::atomic<int> reached_true{0};
  std::atomic<int> calls{0};
  std::vector<std::thread> waiting;
  for (int t = 0; t < threads; ++t)
    waiting.emplace_back([&, t] {
      for (int i = 1; i <= per_thread; ++i)
        waiters.when_reached(static_cast<std::uint64_t>(i * threads + t), clock_type::now() + 60s,
                             [&](bool r) {
                               ++calls;
                               if (r) ++reached_true;
                             });
    });
  std::thread hub([&] {
    for (std::uint64_t s = 1; s <= (per_thread + 1) * threads; ++s)
      waiters.reached(s);
  });
  for (auto& t : waiting)
    t.join();
  hub.join();
  CHECK(calls == threads * per_thread);
  CHECK(reached_true == threads * per_thread);
}
