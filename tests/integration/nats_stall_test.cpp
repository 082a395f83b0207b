// The nats:// store when NATS stops answering (issue 21): a message is never handed to nats.c
// while it reconnects (it would publish it after our 503). Real nats-server processes on free
// loopback ports, stopped by their pids; every wait has a deadline.
#include <nats/nats.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "facts/store/nats_connection.hpp"
#include "facts/store/nats_store.hpp"
#include "facts/store/nats_url.hpp"
#include "support/factsd_instance.hpp"
#include "support/http_client.hpp"
#include "support/nats_cluster.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"
#include "support/wait.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

std::string stall_fact(int n) {
  return R"({"n":)" + std::to_string(n) + "}";
}

}  // namespace

// ---- A message is never handed to nats.c while it reconnects.

namespace {

facts::nats_url stall_url(nats_cluster& nats, std::string const& stream,
                          std::string const& credentials = {}) {
  auto parsed = facts::parse_nats_url("nats://" + credentials + "127.0.0.1:" +
                                      std::to_string(nats.node(0).client_port()) + "/" + stream);
  REQUIRE(parsed.url);
  return *parsed.url;
}

facts::append_result stall_append(facts::fact_store& store, std::string json,
                                  std::string key = {}) {
  std::vector<facts::append_request> one{{std::move(json), std::move(key)}};
  return store.append(one).front();
}

void stall_drop_ack(jsCtx*, natsMsg* msg, jsPubAck*, jsPubAckErr*, void*) {
  natsMsg_Destroy(msg);
}

/// The stream's last seq, as the server says it now.
std::uint64_t stall_stream_last(facts::nats_connection const& c, std::string const& stream) {
  jsOptions call;
  jsOptions_Init(&call);
  call.Wait = 5000;
  jsStreamInfo* info = nullptr;
  REQUIRE(js_GetStreamInfo(&info, c.js(), stream.c_str(), &call, nullptr) == NATS_OK);
  auto const last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

}  // namespace

TEST_CASE(
    "nats stall: a message handed to nats.c while it reconnects is refused, never sent "
    "later",
    "[nats]") {
  nats_cluster nats(1);
  auto const timings = facts::nats_timings::from(10s, 2s);
  facts::nats_connection connection(stall_url(nats, "later"), timings, &stall_drop_ack, nullptr);
  REQUIRE(stall_stream_last(connection, "later") == 0);

  nats.node(0).kill_hard();
  REQUIRE(eventually(
      [&] { return natsConnection_Status(connection.conn()) == NATS_CONN_STATUS_RECONNECTING; },
      10s));
  // What the publisher does when the connection drops between its check and its publish.
  natsMsg* msg = nullptr;
  std::string const body = stall_fact(1);
  REQUIRE(natsMsg_Create(&msg, "facts.later", nullptr, body.data(),
                         static_cast<int>(body.size())) == NATS_OK);
  REQUIRE(natsMsgHeader_Set(msg, "Nats-Msg-Id", "reconnecting-1") == NATS_OK);
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MaxWait = 1000;
  auto const handed = js_PublishMsgAsync(connection.js(), &msg, &pub);
  natsMsg_Destroy(msg);  // still ours when refused
  CHECK(handed != NATS_OK);

  nats.start_all();
  REQUIRE(eventually(
      [&] { return natsConnection_Status(connection.conn()) == NATS_CONN_STATUS_CONNECTED; }, 20s));
  // Whatever nats.c kept went out as it reconnected, before the status said so.
  REQUIRE(natsConnection_FlushTimeout(connection.conn(), 5000) == NATS_OK);
  CHECK(stall_stream_last(connection, "later") == 0);
}

TEST_CASE("nats stall: a POST answered unavailable while NATS is down is not stored later",
          "[nats]") {
  nats_cluster nats(1);
  facts::nats_store store(
      {.url = stall_url(nats, "refused"), .timings = facts::nats_timings::from(10s, 2s)});
  nats.node(0).kill_hard();
  REQUIRE(eventually([&] { return !store.health().reachable; }, 10s));
  auto const refused = stall_append(store, stall_fact(1), "refused-1");
  CHECK(refused.what == facts::append_result::outcome::unavailable);

  nats.start_all();
  REQUIRE(eventually([&] { return store.health().reachable; }, 20s));
  // The same key again: created now, so the first one never reached the log.
  auto const retried = stall_append(store, stall_fact(1), "refused-1");
  CHECK(retried.what == facts::append_result::outcome::created);
  CHECK(retried.stored.seq == 1);
}
