// The nats:// store against one real nats-server with JetStream (a child process on free
// loopback ports, its own store folder, stopped by its pid): several factsd servers in-process
// sharing one stream, and the factsd binary for what ends the process. The cluster scenarios
// of issue 9 live in cluster_test.cpp.
#include <nats/nats.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/nats_cluster.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"
#include "support/test_server.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

constexpr auto publish_timeout = std::chrono::seconds(2);

facts::config nats_config(std::string const& url) {
  auto cfg = test_config();
  cfg.store_url = url;
  cfg.connect_timeout = std::chrono::seconds(10);
  cfg.publish_timeout = publish_timeout;
  return cfg;
}

std::string fact_n(int n) {
  return R"({"n":)" + std::to_string(n) + "}";
}

// The ns of a snapshot's JSON array of facts.
std::vector<int> ns_of(std::string const& data) {
  std::vector<int> out;
  for (auto const& f : nlohmann::json::parse(data))
    out.push_back(f.at("n").get<int>());
  return out;
}

std::vector<int> range(int first, int last) {
  std::vector<int> out;
  for (int i = first; i <= last; ++i)
    out.push_back(i);
  return out;
}

}  // namespace

// [concurrency]: nats.c's threads hand facts and acks to ours; the ThreadSanitizer tree runs it.
TEST_CASE("nats: a fact posted on one instance reaches another's stream once, same id",
          "[nats][concurrency]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("smoke", 1);
  test_server a(nats_config(url));
  test_server b(nats_config(url));
  sse_client on_b(b.port());
  sse_client on_a(a.port());
  REQUIRE(on_b.next_event()->data == "[]");  // the empty snapshot
  REQUIRE(on_a.next_event()->data == "[]");

  auto const first = post_fact(a.port(), fact_n(1));
  REQUIRE(first.result() == http::status::created);
  CHECK(header(first, "Location") == "/facts/1");
  // 201 means this instance has it: the same instance serves it at once.
  CHECK(get(a.port(), "/facts/1").body() == fact_n(1));

  auto const second = post_fact(b.port(), fact_n(2));
  REQUIRE(second.result() == http::status::created);
  CHECK(header(second, "Location") == "/facts/2");

  for (auto* stream : {&on_a, &on_b}) {
    auto const one = stream->next_event();
    REQUIRE(one);
    CHECK(one->id == "1");
    CHECK(one->data == fact_n(1));
    auto const two = stream->next_event();  // not a second copy of 1
    REQUIRE(two);
    CHECK(two->id == "2");
    CHECK(two->data == fact_n(2));
  }
  auto const status_b = status(b.port());
  CHECK(status_b.at("last_id") == 2);
  CHECK(status_b.at("log_last_id") == 2);
  CHECK(get(b.port(), "/healthz").result() == http::status::ok);
}

TEST_CASE("nats: an Idempotency-Key works across instances", "[nats]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("keys", 1);
  test_server a(nats_config(url));
  test_server b(nats_config(url));
  header_list const key{{"Idempotency-Key", "order-17"}};

  auto const first = post_fact(a.port(), fact_n(1), "application/json", key);
  REQUIRE(first.result() == http::status::created);
  CHECK_FALSE(has_header(first, "Idempotent-Replayed"));

  auto const again = post_fact(b.port(), fact_n(1), "application/json", key);
  REQUIRE(again.result() == http::status::created);
  CHECK(header(again, "Location") == header(first, "Location"));
  CHECK(header(again, "Idempotent-Replayed") == "true");

  auto const other = post_fact(b.port(), fact_n(2), "application/json", key);
  CHECK(other.result() == http::status::conflict);
  CHECK(is_json_error(other));

  // Nothing more was stored: the next fact is 2.
  CHECK(header(post_fact(b.port(), fact_n(3)), "Location") == "/facts/2");
}

TEST_CASE("nats: an instance started after the facts were posted serves them", "[nats]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("history", 1);
  {
    test_server a(nats_config(url));
    for (int i = 1; i <= 30; ++i)
      REQUIRE(post_fact(a.port(), fact_n(i)).result() == http::status::created);
  }
  auto cfg = nats_config(url);
  cfg.replay_limit = 10;
  test_server late(cfg);

  sse_client fresh(late.port());
  auto const snapshot = fresh.next_event();
  REQUIRE(snapshot);
  CHECK(snapshot->id == "30");
  CHECK(ns_of(snapshot->data) == range(21, 30));

  sse_client resumed(late.port(), {{"Last-Event-ID", "17"}});
  auto const missed = resumed.next_event();
  REQUIRE(missed);
  CHECK(missed->type == "message");
  CHECK(ns_of(missed->data) == range(18, 30));

  auto const page = nlohmann::json::parse(get(late.port(), "/facts?after=3&limit=5").body());
  REQUIRE(page.at("facts").size() == 5);
  CHECK(page.at("facts")[0].at("id") == 4);
  CHECK(page.at("facts")[4].at("fact").at("n") == 8);
  CHECK(page.at("next") == 8);
  auto const all = nlohmann::json::parse(get(late.port(), "/facts?after=0&limit=1000").body());
  CHECK(all.at("facts").size() == 30);
  CHECK(get(late.port(), "/facts/5").body() == fact_n(5));
  CHECK(get(late.port(), "/facts/31").result() == http::status::not_found);
}

TEST_CASE("nats: without NATS a POST answers 503 in time, and the instance recovers",
          "[nats][concurrency]") {
  nats_cluster nats(1);
  auto const url = nats.store_url("outage", 1);
  test_server a(nats_config(url));
  REQUIRE(post_fact(a.port(), fact_n(1)).result() == http::status::created);
  sse_client stream(a.port());
  REQUIRE(stream.next_event());  // the snapshot

  nats.kill_all();
  REQUIRE(eventually(
      [&] { return get(a.port(), "/healthz").result() == http::status::service_unavailable; },
      10s));
  CHECK(is_json_error(get(a.port(), "/healthz")));
  auto const started = std::chrono::steady_clock::now();
  auto const refused = post_fact(a.port(), fact_n(2));
  auto const took = std::chrono::steady_clock::now() - started;
  CHECK(refused.result() == http::status::service_unavailable);
  CHECK(is_json_error(refused));
  CHECK(took < publish_timeout + 1500ms);

  nats.start_all();
  REQUIRE(eventually([&] { return get(a.port(), "/healthz").result() == http::status::ok; }, 20s));
  auto const back = post_fact(a.port(), fact_n(3));
  REQUIRE(back.result() == http::status::created);
  auto const id = header(back, "Location").substr(7);
  // The open stream got it without reconnecting.
  std::optional<sse_event> event;
  while ((event = stream.next_event(5s)) && event->type != "message") {
  }
  REQUIRE(event);
  CHECK(event->id == id);
  CHECK(event->data == fact_n(3));
}

TEST_CASE("nats: factsd exits 1 with one line when NATS or the stream is not right",
          "[nats][process]") {
  SECTION("no NATS within --connect-timeout") {
    auto const port = free_loopback_ports(1).front();
    auto const started = std::chrono::steady_clock::now();
    child_process factsd({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store",
                          "nats://127.0.0.1:" + std::to_string(port) + "/facts",
                          "--connect-timeout", "1"});
    REQUIRE(factsd.wait_exit(15s));
    CHECK(std::chrono::steady_clock::now() - started < 10s);
    CHECK(factsd.exit_code() == 1);
    auto const err = factsd.err();
    CHECK(err.find("--connect-timeout") != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  }
  SECTION("a stream of another shape") {
    nats_cluster nats(1);
    // A stream as `nats stream add` makes it by default: deletes allowed, a 2-minute window.
    natsConnection* conn = nullptr;
    jsCtx* js = nullptr;
    auto const server = "nats://127.0.0.1:" + std::to_string(nats.node(0).client_port());
    REQUIRE(natsConnection_ConnectTo(&conn, server.c_str()) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&js, conn, nullptr) == NATS_OK);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "other";
    char const* subjects[] = {"facts.other"};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    REQUIRE(js_AddStream(nullptr, js, &cfg, nullptr, nullptr) == NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(conn);

    child_process factsd(
        {FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", nats.store_url("other", 1)});
    REQUIRE(factsd.wait_exit(15s));
    CHECK(factsd.exit_code() == 1);
    auto const err = factsd.err();
    CHECK(err.find("another shape") != std::string::npos);
    CHECK(err.find("deletes are allowed") != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  }
}
