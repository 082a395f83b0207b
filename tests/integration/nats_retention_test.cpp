// Retention on the nats:// store (issue 19) against a real nats-server: the --retain-* flags as
// the stream's own limits, what instances serve once JetStream removed the oldest facts
// (pages, single reads, snapshots, resumes), ids after a restart, an instance that starts
// late, and two instances started with different flags.

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/bulk_publish.hpp"
#include "support/fact_history.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/nats_cluster.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"
#include "support/test_facts.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

facts::config bounded_config(std::string const& url, facts::retention_bounds bounds) {
  auto cfg = test_config();
  cfg.store_url = url;
  cfg.connect_timeout = std::chrono::seconds(10);
  cfg.publish_timeout = std::chrono::seconds(5);
  cfg.retention = bounds;
  return cfg;
}

std::uint64_t nats_status_value(std::uint16_t port, char const* key) {
  return status(port).at(key).get<std::uint64_t>();
}

/// The stream's config as the server's monitoring port shows it.
nlohmann::json stream_config(nats_cluster& nats, std::string const& stream) {
  auto const jsz = monitor_json(nats.node(0).http_port(), "/jsz?streams=true&config=true");
  REQUIRE(jsz.has_value());
  for (auto const& account : jsz->at("account_details"))
    for (auto const& s : account.value("stream_detail", nlohmann::json::array()))
      if (s.at("name") == stream) return s.at("config");
  FAIL("no stream " << stream << " on the server");
  return {};
}

}  // namespace

TEST_CASE("nats: with --retain-facts 1000, 50,000 facts leave exactly the newest 1,000",
          "[nats][retention]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("retained", 1);
  std::map<std::uint64_t, std::string> published;
  {
    test_server a(bounded_config(url, {.facts = 1000}));
    CHECK(stream_config(nats, "retained").at("max_msgs") == 1000);
    // 64 POSTs in flight: each waits for JetStream's ack, so the load is bound by round trips.
    published = bulk_publish(a.port(), 50'000, "n1",
                             {.connections = 64, .give_up_after = std::chrono::seconds(300)});
    REQUIRE(published.size() == 50'000);
    REQUIRE(published.rbegin()->first == 50'000);

    std::vector<std::string> newest;
    for (auto it = published.lower_bound(49'001); it != published.end(); ++it)
      newest.push_back(it->second);

    // What this instance serves: the stream's first seq moved, and its window follows it.
    CHECK(nats_status_value(a.port(), "first_id") == 49'001);
    CHECK(nats_status_value(a.port(), "facts") == 1000);
    auto const page = read_history(a.port(), 1000, 12);
    REQUIRE(page.size() == 1000);
    CHECK(page.front().id == 49'001);
    CHECK(get(a.port(), "/facts/49000").result() == http::status::not_found);
    CHECK(is_json_error(get(a.port(), "/facts/1")));
    sse_client fresh(a.port());
    auto const snapshot = fresh.next_event(20s);
    REQUIRE(snapshot);
    CHECK(snapshot->id == "50000");
    CHECK(infos_of_array(snapshot->data) == newest);
    sse_client behind(a.port(), {{"Last-Event-ID", "48000"}});
    auto const reset = behind.next_event(20s);
    REQUIRE(reset);
    CHECK(reset->type == "reset");
    CHECK(infos_of_array(reset->data) == newest);
  }
  // An instance that starts now reads only what the stream kept; a direct get of a removed
  // seq is a 404, not an error; ids go on.
  test_server late(bounded_config(url, {.facts = 1000}));
  CHECK(nats_status_value(late.port(), "first_id") == 49'001);
  auto const page = read_history(late.port());
  REQUIRE(page.size() == 1000);
  CHECK(page.front().id == 49'001);
  CHECK(page.front().info == published.at(49'001));
  auto const gone = get(late.port(), "/facts/48999");
  CHECK(gone.result() == http::status::not_found);
  CHECK(is_json_error(gone));
  sse_client catching_up(late.port(), {{"Last-Event-ID", "49001"}});
  auto const first = catching_up.next_event(20s);
  REQUIRE(first);
  CHECK(first->type == "message");
  CHECK(infos_of_array(first->data).front() == published.at(49'002));
  auto const next = post_fact(late.port(), R"({"info":"after"})");
  REQUIRE(next.result() == http::status::created);
  CHECK(header(next, "Location") == "/facts/50001");
  CHECK(eventually([&] { return nats_status_value(late.port(), "first_id") == 49'002; }, 5s));
}

TEST_CASE("nats: facts older than --retain-age are removed by JetStream and no longer served",
          "[nats][retention]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("aged", 1);
  test_server a(bounded_config(url, {.age = std::chrono::seconds(2)}));
  auto const config = stream_config(nats, "aged");
  CHECK(config.at("max_age") == 2'000'000'000LL);
  CHECK(config.at("duplicate_window") == 2'000'000'000LL);
  for (int i = 0; i < 10; ++i)
    REQUIRE(post_fact(a.port(), R"({"info":"old"})").result() == http::status::created);
  CHECK(nats_status_value(a.port(), "facts") == 10);
  CHECK(eventually([&] { return nats_status_value(a.port(), "first_id") == 11; }, 20s));
  CHECK(read_history(a.port()).empty());
  CHECK(get(a.port(), "/facts/10").result() == http::status::not_found);
  auto const next = post_fact(a.port(), R"({"info":"new"})");
  CHECK(header(next, "Location") == "/facts/11");
}

TEST_CASE("nats: instances started with other --retain-* flags: the last one sets the limits",
          "[nats][retention][process]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("shared", 1);
  test_server first(bounded_config(url, {.facts = 100}));
  CHECK(stream_config(nats, "shared").at("max_msgs") == 100);

  child_process second({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", url, "--retain-facts",
                        "50", "--retain-age", "1h"});
  auto const port = second.wait_for_port();
  INFO("second factsd:\n" << second.err());
  REQUIRE(port);
  auto const err = second.err();
  CHECK(err.find("stream shared had the limits max_msgs 100, max_bytes none, max_age none, "
                 "duplicate window 1d; this instance's --retain-* flags set max_msgs 50, "
                 "max_bytes none, max_age 1h, duplicate window 1h") != std::string::npos);
  auto const config = stream_config(nats, "shared");
  CHECK(config.at("max_msgs") == 50);
  CHECK(config.at("max_age") == 3600LL * 1'000'000'000);

  // The first instance serves under the stream's limits now, not its own flags.
  for (int i = 0; i < 80; ++i)
    REQUIRE(post_fact(first.port(), R"({"info":"x"})").result() == http::status::created);
  for (auto const p : {first.port(), *port}) {
    INFO("port " << p);
    CHECK(eventually([&] { return nats_status_value(p, "first_id") == 31; }, 10s));
    CHECK(read_history(p).size() == 50);
  }
  second.send_signal(SIGTERM);
  CHECK(second.wait_exit(20s));
}
