// The nats:// store against one real nats-server with JetStream (a child process on free
// loopback ports, its own store folder, stopped by its pid): several factsd servers in-process
// sharing one stream, and the factsd binary for what ends the process. The cluster scenarios
// of issue 9 live in cluster_test.cpp.
#include <nats/nats.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/delay_relay.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/nats_cluster.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"
#include "support/test_facts.hpp"
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

// Publishes `payload` on `subject` as any NATS user with publish rights could, and waits for
// the stream's ack.
void publish_raw(nats_cluster& nats, std::string const& subject, std::string const& payload) {
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  auto const server = "nats://127.0.0.1:" + std::to_string(nats.node(0).client_port());
  REQUIRE(natsConnection_ConnectTo(&conn, server.c_str()) == NATS_OK);
  REQUIRE(natsConnection_JetStream(&js, conn, nullptr) == NATS_OK);
  jsPubAck* ack = nullptr;
  auto const status = js_Publish(&ack, js, subject.c_str(), payload.data(),
                                 static_cast<int>(payload.size()), nullptr, nullptr);
  jsPubAck_Destroy(ack);
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
  REQUIRE(status == NATS_OK);
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

TEST_CASE("nats: a read behind a stopped NATS node holds up no stream and no other request",
          "[nats]") {
  // One I/O thread, and facts 1..15 only in the log (the window holds the newest 5): a page or
  // a single fact of them is a JetStream read, which waits out its timeout while the node is
  // stopped. It runs on the read pool; before, it ran in routing, on the I/O thread.
  nats_cluster nats(1);
  auto const url = nats.store_url("reads", 1);
  {
    test_server a(nats_config(url));
    for (int i = 1; i <= 20; ++i)
      REQUIRE(post_fact(a.port(), fact_n(i)).result() == http::status::created);
  }
  auto cfg = nats_config(url);
  cfg.replay_limit = 5;
  cfg.threads = 1;
  cfg.heartbeat = std::chrono::seconds(1);
  test_server late(cfg);
  sse_client stream(late.port());
  REQUIRE(stream.next_event());  // the snapshot: 16..20

  nats.node(0).pause();
  using clock = std::chrono::steady_clock;
  auto const stopped_at = clock::now();
  auto one = std::async(std::launch::async, [&] {
    auto res = get(late.port(), "/facts/1");
    return std::pair{std::move(res), clock::now() - stopped_at};
  });
  auto page =
      std::async(std::launch::async, [&] { return get(late.port(), "/facts?after=0&limit=10"); });
  // While both wait on the stopped node: /status answers at once, the stream gets heartbeats.
  auto const comments = stream.comments();
  auto slowest = clock::duration{};
  while (one.wait_for(0ms) == std::future_status::timeout && clock::now() < stopped_at + 10s) {
    auto const asked = clock::now();
    REQUIRE(get(late.port(), "/status").result() == http::status::ok);
    slowest = std::max(slowest, clock::now() - asked);
    std::this_thread::sleep_for(50ms);  // pacing the probes, not waiting for a condition
  }
  CHECK(stream.wait_for_comments(comments + 1, 2000ms));
  nats.node(0).resume();
  auto const [res, took] = one.get();
  auto const ms = [](clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  INFO("GET /facts/1 took " << ms(took) << " ms; the slowest /status meanwhile " << ms(slowest)
                            << " ms");
  // The read waited on the stopped node (its timeout, then a 503) while /status did not.
  CHECK(took >= 700ms);
  CHECK(slowest < 400ms);
  CHECK((res.result() == http::status::ok || is_json_error(res)));
  auto const page_res = page.get();
  CHECK((page_res.result() == http::status::ok || is_json_error(page_res)));
  CHECK(get(late.port(), "/facts/1").body() == fact_n(1));
}

TEST_CASE("nats: a Last-Event-ID another instance just gave out is waited for, never a reset",
          "[nats]") {
  // `b` reaches NATS through a link that delivers 300 ms late: what b has seen of the log lags
  // what `a` acknowledges. A client resumes on b from the id a just gave out. b asks the log
  // for its newest rather than trust what it has seen, and waits for the fact to come: the
  // client gets an empty resume under that id, not a reset (before: a reset every time).
  nats_cluster nats(1);
  auto const url = nats.store_url("resume", 1);
  delay_relay late_link(nats.node(0).client_port(), 300ms);
  test_server a(nats_config(url));
  test_server b(
      nats_config("nats://127.0.0.1:" + std::to_string(late_link.port()) + "/resume?replicas=1"));
  for (int i = 1; i <= 5; ++i) {
    auto const res = post_fact(a.port(), fact_n(i));
    REQUIRE(res.result() == http::status::created);
    auto const id = std::to_string(seq_from_location(res));
    sse_client on_b(b.port(), {{"Last-Event-ID", id}});
    auto const first = on_b.next_event();
    REQUIRE(first);
    CHECK(first->type == "message");
    CHECK(first->id == id);
    CHECK(first->data == "[]");
  }
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

TEST_CASE("nats: a payload on the subject that is not a fact reaches no stream raw",
          "[nats][process]") {
  nats_cluster nats(1);
  child_process factsd({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store",
                        nats.store_url("foreign", 1), "--max-fact-bytes", "64"});
  auto const port = factsd.wait_for_port();
  REQUIRE(port);
  sse_client live(*port);
  REQUIRE(live.next_event()->data == "[]");

  // Written by someone else on the log: an SSE injection, an array, a valid object sent loosely,
  // an object one byte over --max-fact-bytes; then a POST through factsd.
  std::string const over = R"({"pad":")" + std::string(55, 'x') + R"("})";
  REQUIRE(over.size() == 65);
  for (auto const& payload : {std::string("x\n\nid: 999\ndata: {}"), std::string("[1,2]"),
                              std::string(R"({ "a" : 1 })"), over})
    publish_raw(nats, "facts.foreign", payload);
  REQUIRE(post_fact(*port, fact_n(5)).result() == http::status::created);

  std::vector<std::string> const expected{
      R"({"error":"not a valid fact in the log: body is not valid JSON"})",
      R"({"error":"not a valid fact in the log: a fact must be a JSON object"})", R"({"a":1})",
      R"x({"error":"not a valid fact in the log: larger than 64 bytes (--max-fact-bytes)"})x",
      fact_n(5)};
  // Ids stay dense: each payload is one event under its own seq, and nothing else comes.
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto const event = live.next_event();
    REQUIRE(event);
    CHECK(event->type == "message");
    CHECK(event->id == std::to_string(i + 1));
    CHECK(event->data == expected[i]);
  }

  // A new client's snapshot is one JSON array of the five, on this instance and on one started
  // now, which reads them back from the log.
  child_process late({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store",
                      nats.store_url("foreign", 1), "--max-fact-bytes", "64"});
  auto const late_port = late.wait_for_port();
  REQUIRE(late_port);
  for (auto const p : {*port, *late_port}) {
    sse_client fresh(p);
    auto const snapshot = fresh.next_event();
    REQUIRE(snapshot);
    CHECK(snapshot->id == "5");
    auto const array = nlohmann::ordered_json::parse(snapshot->data);
    REQUIRE(array.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
      CHECK(array[i].dump() == expected[i]);
  }
  CHECK(get(*port, "/facts/1").body() == expected[0]);
  auto const page = get(*port, "/facts?after=0");
  REQUIRE(page.result() == http::status::ok);
  auto const listed = nlohmann::ordered_json::parse(page.body()).at("facts");
  REQUIRE(listed.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(listed[i].at("id") == i + 1);
    CHECK(listed[i].at("fact").dump() == expected[i]);
  }

  // Counted and logged once per seq by each instance, however often it is read again.
  CHECK(get(*late_port, "/facts/1").body() == expected[0]);
  for (auto* instance : {&factsd, &late}) {
    CHECK(metric_value(metrics_text(instance == &factsd ? *port : *late_port),
                       "factsd_log_invalid_facts_total") == 3);
    CHECK(count_of(instance->err(), "is not a valid fact") == 3);
  }
}

TEST_CASE("nats: under deploy/nats/users.conf only factsd writes to the log", "[nats][process]") {
  std::ifstream file(std::string(FACTS_SOURCE_DIR) + "/deploy/nats/users.conf");
  std::stringstream users;
  users << file.rdbuf();
  REQUIRE(users.str().find("authorization") != std::string::npos);
  nats_cluster nats(1, users.str());
  auto const server = "127.0.0.1:" + std::to_string(nats.node(0).client_port());

  // factsd, as its user: it creates the stream, follows it, publishes and reads under these
  // permissions.
  child_process factsd({FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store",
                        "nats://factsd:change-me-factsd@" + server + "/guarded"});
  auto const port = factsd.wait_for_port();
  REQUIRE(port);
  sse_client live(*port);
  REQUIRE(live.next_event()->data == "[]");
  REQUIRE(post_fact(*port, fact_n(1)).result() == http::status::created);
  auto const first = live.next_event();
  REQUIRE(first);
  CHECK(first->id == "1");
  CHECK(first->data == fact_n(1));

  // Any other user reads the log but can neither publish on its subject nor add a subject to
  // the stream (a second way in).
  natsOptions* opts = nullptr;
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  REQUIRE(natsOptions_Create(&opts) == NATS_OK);
  REQUIRE(natsOptions_SetURL(opts, ("nats://" + server).c_str()) == NATS_OK);
  REQUIRE(natsOptions_SetUserInfo(opts, "reader", "change-me-reader") == NATS_OK);
  REQUIRE(natsConnection_Connect(&conn, opts) == NATS_OK);
  jsOptions js_opts;
  jsOptions_Init(&js_opts);
  js_opts.Wait = 2000;
  REQUIRE(natsConnection_JetStream(&js, conn, &js_opts) == NATS_OK);

  natsMsg* read = nullptr;
  REQUIRE(js_GetMsg(&read, js, "guarded", 1, nullptr, nullptr) == NATS_OK);
  CHECK(std::string(natsMsg_GetData(read), natsMsg_GetDataLength(read)) == fact_n(1));
  natsMsg_Destroy(read);

  jsPubOptions pub_opts;
  jsPubOptions_Init(&pub_opts);
  pub_opts.MaxWait = 2000;
  jsPubAck* ack = nullptr;
  std::string const foreign = R"({"n":99})";
  CHECK(js_Publish(&ack, js, "facts.guarded", foreign.data(), static_cast<int>(foreign.size()),
                   &pub_opts, nullptr) != NATS_OK);
  jsPubAck_Destroy(ack);

  jsStreamConfig widened;
  jsStreamConfig_Init(&widened);
  widened.Name = "guarded";
  char const* subjects[] = {"facts.guarded", "open.door"};
  widened.Subjects = subjects;
  widened.SubjectsLen = 2;
  jsStreamInfo* info = nullptr;
  CHECK(js_UpdateStream(&info, js, &widened, nullptr, nullptr) != NATS_OK);
  jsStreamInfo_Destroy(info);
  jsCtx_Destroy(js);
  natsConnection_Destroy(conn);
  natsOptions_Destroy(opts);

  // Nothing of the reader's got in: the next fact is 2, and the stream shows only factsd's.
  auto const second = post_fact(*port, fact_n(2));
  REQUIRE(second.result() == http::status::created);
  CHECK(header(second, "Location") == "/facts/2");
  auto const next = live.next_event();
  REQUIRE(next);
  CHECK(next->id == "2");
  CHECK(next->data == fact_n(2));
}
