// Scale-out on real NATS JetStream (issue 9): several factsd instances share one log, on a 3-node
// cluster (replicas=3) under concurrent publishers spread over all of them while a factsd or the
// stream's NATS leader is killed with SIGKILL; and on a single server: history on an instance
// started late, Idempotency-Key across instances, and every NATS server gone and back. Every
// process is started here on free loopback ports and stopped by its pid; every wait has a deadline
// and every load is bounded.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/fact_checks.hpp"
#include "support/fact_fleet.hpp"
#include "support/fact_history.hpp"
#include "support/factsd_instance.hpp"
#include "support/http_client.hpp"
#include "support/nats_cluster.hpp"
#include "support/publish_load.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

// A POST must end within --publish-timeout "plus a little": the little is generous here, since
// the binary runs under ASan on a small shared machine.
constexpr auto publish_bound = 5s;
constexpr auto delivery_timeout = 30s;
constexpr std::size_t streams_per_instance = 100;
constexpr std::chrono::seconds heartbeat_window{4};  // --heartbeat 1

using instances = std::vector<std::unique_ptr<factsd_instance>>;

instances start_instances(std::string const& store, std::size_t count) {
  instances out;
  for (std::size_t i = 0; i < count; ++i)
    out.push_back(std::make_unique<factsd_instance>(store, nats_test_flags()));
  return out;
}

std::vector<std::uint16_t> ports_of(instances const& all) {
  std::vector<std::uint16_t> ports;
  for (auto const& i : all)
    ports.push_back(i->port());
  return ports;
}

using fleets = std::vector<std::unique_ptr<fact_fleet>>;

/// `per_instance` new-client streams on each instance, every one holding its snapshot.
fleets open_streams(instances const& all, std::size_t per_instance) {
  fleets out;
  for (auto const& i : all)
    out.push_back(std::make_unique<fact_fleet>(i->port(), per_instance));
  for (auto const& f : out) {
    INFO("streams open: " << f->opened() << ", failed: " << f->failed());
    REQUIRE(eventually([&] { return f->all_have_snapshot(); }, 20s));
  }
  return out;
}

/// Waits until every stream of `f` has received id `last`, then stops it.
void drain(fact_fleet& f, std::uint64_t last) {
  INFO("the slowest stream has id " << f.min_last_id() << " of " << last);
  CHECK(eventually([&] { return f.min_last_id() >= last; }, delivery_timeout));
  f.stop();
}

/// Every stream of `f` received exactly the facts 1..N of `infos`, as new clients.
void check_every_stream(fact_fleet const& f, std::vector<std::string> const& infos) {
  std::size_t exact = 0;
  std::string first_problem;
  for (auto const& s : f.streams()) {
    std::string type;
    auto problem = difference(fact_fleet::facts_of(*s, &type), infos);
    if (problem.empty() && type != "message") problem = "its snapshot came as '" + type + "'";
    if (problem.empty() && (s->refused || s->ended)) problem = "it ended: " + s->error;
    if (problem.empty())
      ++exact;
    else if (first_problem.empty())
      first_problem = problem;
  }
  INFO("first problem: " << first_problem);
  CHECK(exact == f.streams().size());
}

std::vector<std::string> acknowledged_infos(publish_load const& load) {
  std::string why;
  auto infos = infos_by_id(load.facts(), why);
  INFO(why);
  REQUIRE(infos.size() == load.facts().size());
  return infos;
}

std::size_t first_attempt_successes(publish_load const& load) {
  return static_cast<std::size_t>(std::count_if(
      load.facts().begin(), load.facts().end(),
      [](auto const& f) { return !f.attempts.empty() && f.attempts.front().status == 201; }));
}

/// The fewest heartbeat comments any stream of `f` received over `window`: counting per interval
/// is the measurement itself, so this one wait is a fixed one.
std::size_t fewest_heartbeats(fact_fleet const& f, std::chrono::seconds window) {
  std::vector<std::size_t> before;
  for (auto const& s : f.streams())
    before.push_back(s->heartbeats.load());
  std::this_thread::sleep_for(window);
  std::size_t fewest = SIZE_MAX;
  for (std::size_t i = 0; i < before.size(); ++i)
    fewest = std::min(fewest, f.streams()[i]->heartbeats.load() - before[i]);
  return fewest;
}

void check_log_last_id(instances const& all, std::uint64_t last) {
  for (auto const& i : all) {
    if (i->port() == 0) continue;  // killed
    CHECK(wait_for_status(i->port(), "log_last_id", static_cast<std::int64_t>(last), 10s) ==
          static_cast<std::int64_t>(last));
  }
}

}  // namespace

TEST_CASE("nats fixture: a 3-node cluster elects a meta leader and a node killed comes back",
          "[nats][fixture]") {
  nats_cluster nats(3);
  CHECK(nats.ready());
  auto const leader = nats.node(0).meta_leader();
  CHECK_FALSE(leader.empty());

  std::size_t leader_index = 0;
  for (std::size_t i = 0; i < nats.size(); ++i)
    if (nats.node(i).name() == leader) leader_index = i;
  nats.node(leader_index).kill_hard();
  CHECK_FALSE(nats.node(leader_index).healthy());
  // The two left elect another meta leader among themselves.
  std::string next;
  CHECK(eventually(
      [&] {
        next = nats.node((leader_index + 1) % 3).meta_leader();
        return !next.empty() && next != leader && nats.ready();
      },
      30s));
  nats.node(leader_index).start();
  nats.wait_ready();
  CHECK(nats.node(leader_index).healthy());
  CHECK(nats.store_url("s", 3).rfind("nats://127.0.0.1:", 0) == 0);
}

TEST_CASE("nats fixture: a single JetStream server starts, stops and starts again on its store",
          "[nats][fixture]") {
  nats_cluster nats(1);
  CHECK(nats.node(0).healthy());
  nats.kill_all();
  CHECK_FALSE(nats.node(0).healthy());
  nats.start_all();
  CHECK(nats.node(0).healthy());
}

TEST_CASE("3 factsd on a 3-node cluster: every stream gets every acknowledged fact once, in order",
          "[nats][cluster][serial]") {
  nats_cluster nats(3);
  auto const all = start_instances(nats.store_url("s1", 3), 3);
  auto streams = open_streams(all, streams_per_instance);

  publish_load load(ports_of(all), {.publishers = 16, .facts = 600, .tag = "s1"});
  load.wait();
  CHECK(first_attempt_successes(load) == load.facts().size());
  auto const infos = acknowledged_infos(load);

  for (auto& f : streams)
    drain(*f, infos.size());
  for (auto const& f : streams)
    check_every_stream(*f, infos);
  check_log_last_id(all, infos.size());
}

TEST_CASE("SIGKILL of one factsd under load: its streams resume on another instance exactly",
          "[nats][cluster][serial]") {
  nats_cluster nats(3);
  auto all = start_instances(nats.store_url("s2", 3), 3);
  auto streams = open_streams(all, streams_per_instance);

  publish_load load(ports_of(all), {.publishers = 16, .facts = 900, .tag = "s2", .pause = 5ms});
  REQUIRE(eventually([&] { return load.acked() >= 200; }, 60s));
  auto const killed_port = all[2]->port();
  auto const acked_at_kill = load.acked();
  all[2]->kill_hard();
  auto& orphans = *streams[2];
  CHECK(eventually([&] { return orphans.ended() == streams_per_instance; }, 10s));
  orphans.stop();

  // Each orphan reconnects, as EventSource does, with the id it last received, to instance 0 or
  // 1 in turn; streams that stopped at the same id reconnect together.
  std::map<std::uint64_t, std::vector<std::size_t>> by_last_id;
  for (std::size_t i = 0; i < orphans.streams().size(); ++i)
    by_last_id[orphans.streams()[i]->last_id.load()].push_back(i);
  CHECK(by_last_id.begin()->first > 0);  // each had its snapshot before the kill
  std::map<std::uint64_t, std::unique_ptr<fact_fleet>> resumed;
  std::size_t turn = 0;
  for (auto const& [last_id, members] : by_last_id)
    resumed[last_id] =
        std::make_unique<fact_fleet>(all[turn++ % 2]->port(), members.size(), last_id);

  load.wait();
  // The kill came under load: facts were still to come, and some went to the dead instance
  // (no answer) before their publisher tried another with the same key.
  CHECK(acked_at_kill < load.facts().size());
  std::size_t unanswered = 0;
  for (auto const& f : load.facts())
    for (auto const& a : f.attempts)
      if (a.port == killed_port && a.status == 0) ++unanswered;
  CHECK(unanswered > 0);
  auto const infos = acknowledged_infos(load);
  drain(*streams[0], infos.size());
  drain(*streams[1], infos.size());
  for (auto& [id, f] : resumed)
    drain(*f, infos.size());
  check_every_stream(*streams[0], infos);
  check_every_stream(*streams[1], infos);

  // Before the kill, then after the resume: together exactly 1..N, none twice.
  std::size_t exact = 0;
  std::string first_problem;
  for (auto const& [last_id, members] : by_last_id) {
    auto const& again = resumed[last_id]->streams();
    for (std::size_t k = 0; k < members.size(); ++k) {
      auto got = fact_fleet::facts_of(*orphans.streams()[members[k]]);
      std::string type;
      auto const after = fact_fleet::facts_of(*again[k], &type);
      got.insert(got.end(), after.begin(), after.end());
      auto problem = difference(got, infos);
      if (problem.empty() && type != "message") problem = "the resume came as '" + type + "'";
      if (problem.empty())
        ++exact;
      else if (first_problem.empty())
        first_problem = "resumed from " + std::to_string(last_id) + ": " + problem;
    }
  }
  INFO("first problem: " << first_problem);
  CHECK(exact == streams_per_instance);
  check_log_last_id(all, infos.size());
}

TEST_CASE("SIGKILL of the stream's NATS leader under load: 201 or 503 in time, then it recovers",
          "[nats][cluster][serial]") {
  nats_cluster nats(3);
  auto const all = start_instances(nats.store_url("s3", 3), 3);
  auto const leader = nats.wait_stream_leader("s3", 20s);
  REQUIRE(leader.has_value());
  auto streams = open_streams(all, 50);

  publish_load load(ports_of(all), {.publishers = 16,
                                    .facts = 480,
                                    .tag = "s3",
                                    .pause = 25ms,
                                    .retry_pause = 200ms,
                                    .give_up_after = 90s});
  REQUIRE(eventually([&] { return load.acked() >= 100; }, 60s));
  auto const killed_at = steady_clock::now();
  auto const acked_at_kill = load.acked();
  nats.node(*leader).kill_hard();
  load.wait();
  CHECK(acked_at_kill < load.facts().size());  // the kill came under load

  // Every attempt was answered, 201 or a JSON 503, within the bound.
  std::size_t attempts = 0, late = 0, other = 0, unavailable = 0;
  std::chrono::milliseconds slowest{0};
  auto recovered = steady_clock::time_point::max();  // the first 201 sent after the kill
  for (auto const& f : load.facts()) {
    for (auto const& a : f.attempts) {
      ++attempts;
      slowest = std::max(slowest, a.took);
      if (a.took > publish_bound) ++late;
      if (a.status == 503) ++unavailable;
      if (a.status != 201 && a.status != 503) ++other;
      if (a.status == 201 && a.sent >= killed_at) recovered = std::min(recovered, a.sent + a.took);
    }
  }
  INFO(attempts << " attempts, " << unavailable << " answered 503; the slowest took "
                << slowest.count() << " ms");
  CHECK(late == 0);
  CHECK(other == 0);
  CHECK(unavailable > 0);  // the leaderless seconds were seen, and answered
  REQUIRE(recovered != steady_clock::time_point::max());
  auto const outage = std::chrono::duration_cast<std::chrono::milliseconds>(recovered - killed_at);
  INFO("publishing worked again " << outage.count() << " ms after the kill");
  CHECK(outage < 30s);

  // Every fact acknowledged in the end, once, and on every stream of every instance.
  auto const infos = acknowledged_infos(load);
  for (auto& f : streams)
    drain(*f, infos.size());
  for (auto const& f : streams)
    check_every_stream(*f, infos);
  check_log_last_id(all, infos.size());
}

TEST_CASE("an instance started after 10,000 facts serves them: snapshot, pages, one, catch-up",
          "[nats][history][serial]") {
  nats_cluster nats(1);
  auto const store = nats.store_url("s4", 1);
  factsd_instance first(store, nats_test_flags());
  publish_load load({first.port()}, {.publishers = 16, .facts = 10'000, .tag = "s4"});
  load.wait();
  auto const infos = acknowledged_infos(load);

  factsd_instance late(store, nats_test_flags({"--replay-limit", "1000"}));
  CHECK(wait_for_status(late.port(), "last_id", 10'000, 20s) == 10'000);

  // A new client: the newest --replay-limit facts.
  fact_fleet fresh(late.port(), 1);
  // Last-Event-ID: 17: everything after it, 9,983 facts.
  fact_fleet behind(late.port(), 1, 17);
  drain(fresh, 10'000);
  drain(behind, 10'000);
  std::string type;
  auto const snapshot = fact_fleet::facts_of(*fresh.streams()[0], &type);
  CHECK(type == "message");
  CHECK(snapshot.size() == 1000);
  CHECK(difference(snapshot, infos, 9001).empty());
  auto const caught_up = fact_fleet::facts_of(*behind.streams()[0], &type);
  CHECK(type == "message");
  CHECK(difference(caught_up, infos, 18) == "");

  CHECK(difference(read_history(late.port()), infos) == "");

  auto const one = get(late.port(), "/facts/5000");
  REQUIRE(one.result_int() == 200);
  CHECK(nlohmann::json::parse(one.body()).value("info", "") == infos[4999]);
  CHECK(get(late.port(), "/facts/10001").result_int() == 404);
}

TEST_CASE("the same Idempotency-Key on two instances: one fact, a replay, and 409 for another body",
          "[nats][idempotency]") {
  nats_cluster nats(1);
  auto const all = start_instances(nats.store_url("s5", 1), 2);
  auto streams = open_streams(all, 5);
  header_list const keyed{{"Content-Type", "application/json"}, {"Idempotency-Key", "order-17"}};
  std::string const body = R"({"info":"order 17","source":"a"})";

  auto const first = request(all[0]->port(), http::verb::post, "/fact", body, keyed);
  CHECK(first.result_int() == 201);
  CHECK(header(first, "Location") == "/facts/1");
  CHECK_FALSE(has_header(first, "Idempotent-Replayed"));

  auto const replay = request(all[1]->port(), http::verb::post, "/fact", body, keyed);
  CHECK(replay.result_int() == 201);
  CHECK(header(replay, "Location") == "/facts/1");
  CHECK(header(replay, "Idempotent-Replayed") == "true");
  CHECK(replay.body() == body);

  std::string const other = R"({"info":"order 17","source":"b"})";
  for (auto const& i : all) {
    auto const conflict = request(i->port(), http::verb::post, "/fact", other, keyed);
    CHECK(conflict.result_int() == 409);
    CHECK(is_json_error(conflict));
  }

  // Nothing was stored for the replay or the conflicts: the next fact is 2, on both.
  auto const next = post_fact(all[1]->port(), R"({"info":"after","source":"a"})");
  CHECK(seq_from_location(next) == 2);
  std::vector<std::string> const infos{"order 17", "after"};
  for (auto& f : streams)
    drain(*f, 2);
  for (auto const& f : streams)
    check_every_stream(*f, infos);
  check_log_last_id(all, 2);
}

// One NATS server and one factsd, mostly waiting out heartbeat windows (10% of the CPU when it
// ran alone): not [serial]. Its bounds have room for a loaded machine: 503 within 5 s of a 2 s
// --publish-timeout, heartbeats counted at 1 s over 4 s with one missed allowed.
TEST_CASE("all NATS servers down: 503 in time, heartbeats go on, /healthz 503, then it recovers",
          "[nats][outage]") {
  nats_cluster nats(1);
  std::vector<std::unique_ptr<factsd_instance>> all;
  all.push_back(std::make_unique<factsd_instance>(nats.store_url("s6", 1), nats_test_flags()));
  auto const port = all[0]->port();
  auto streams = open_streams(all, 10);
  publish_load before({port}, {.publishers = 4, .facts = 50, .tag = "s6-before"});
  before.wait();
  CHECK(first_attempt_successes(before) == 50);
  REQUIRE(eventually([&] { return streams[0]->min_last_id() == 50; }, delivery_timeout));
  REQUIRE(get(port, "/healthz").result_int() == 200);
  auto const healthy = fewest_heartbeats(*streams[0], heartbeat_window);
  CHECK(healthy >= 1);

  nats.kill_all();
  // POSTs are refused in time, with a JSON error.
  for (int i = 0; i < 3; ++i) {
    auto const sent = steady_clock::now();
    auto const res = request(port, http::verb::post, "/fact",
                             R"({"info":"s6-down-)" + std::to_string(i) + R"(","source":"x"})",
                             {{"Content-Type", "application/json"}}, 15s);
    auto const took = steady_clock::now() - sent;
    INFO("attempt " << i << " took "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                    << " ms");
    CHECK(res.result_int() == 503);
    CHECK(is_json_error(res));
    CHECK(took <= publish_bound);
  }
  CHECK(eventually([&] { return get(port, "/healthz").result_int() == 503; }, 10s));
  auto const health = get(port, "/healthz");
  CHECK(nlohmann::json::parse(health.body(), nullptr, false).value("status", "") == "unavailable");

  // The streams stay open and keep the heartbeat rate they had while NATS was up.
  auto const during = fewest_heartbeats(*streams[0], heartbeat_window);
  INFO("heartbeats per stream in " << heartbeat_window.count() << " s: " << healthy
                                   << " with NATS up, " << during << " with NATS down");
  CHECK(during >= 1);
  CHECK(during + 1 >= healthy);
  CHECK(streams[0]->failed() == 0);

  // The servers come back: the same instance serves again, without a restart.
  nats.start_all();
  CHECK(eventually([&] { return get(port, "/healthz").result_int() == 200; }, 30s));
  INFO("factsd's log: " << all[0]->log_tail());
  publish_load after({port},
                     {.publishers = 4, .facts = 50, .tag = "s6-after", .give_up_after = 30s});
  after.wait();
  CHECK(after.acked() == 50);
  // The three refused facts never show up: the ids stay 1..100, the new facts from 51.
  std::vector<published_fact> facts = before.facts();
  facts.insert(facts.end(), after.facts().begin(), after.facts().end());
  std::string why;
  auto const infos = infos_by_id(facts, why);
  INFO(why);
  REQUIRE(infos.size() == 100);
  drain(*streams[0], 100);
  check_every_stream(*streams[0], infos);
  CHECK(difference(read_history(port), infos) == "");
  CHECK(all[0]->process().exit_code() == -1);  // the same process all along
}
