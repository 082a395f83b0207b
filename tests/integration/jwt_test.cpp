// Private feeds (issue 20): a stream ends with an `auth` event when its token expires and the
// client resumes without a gap; cookie and query-string tokens; SIGHUP rotates the key and the
// publish token with every stream left open; no token in any log line, even at trace.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "facts/http/token_key.hpp"
#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/metrics.hpp"
#include "support/process.hpp"
#include "support/sse_client.hpp"
#include "support/test_server.hpp"
#include "support/token_mint.hpp"

using namespace facts::test;
using namespace std::chrono_literals;

namespace {

std::string const jwt_secret = "integration-secret-of-at-least-32-bytes";

std::string jwt_token(std::string const& scope, std::chrono::seconds lifetime,
                      std::string const& key = jwt_secret) {
  return mint_token("HS256", key, claims_for(scope, lifetime));
}

header_list jwt_bearer(std::string const& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// A server with --read-auth token and an HS256 --jwt-key, in-process.
test_server jwt_server() {
  return test_server([](facts::config& cfg) {
    cfg.reads_need_token = true;
    cfg.jwt_key = facts::http::parse_token_key(jwt_secret).key;
  });
}

std::uint64_t jwt_publish(std::uint16_t port, std::string const& info) {
  auto const res = post_fact(port, R"({"info":")" + info + R"("})", "application/json",
                             jwt_bearer(jwt_token("facts:write", 60s)));
  INFO(res.body());
  REQUIRE(res.result() == http::status::created);
  return seq_from_location(res);
}

std::vector<std::string> jwt_daemon_args(std::vector<std::string> flags) {
  std::vector<std::string> args{FACTSD_BINARY, "--store", "memory:", "--listen", "127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  return args;
}

}  // namespace

TEST_CASE("jwt: a stream ends with an auth event within 1 s after its token's exp, and resumes",
          "[jwt][expiry]") {
  auto srv = jwt_server();
  auto const port = srv.port();
  REQUIRE(jwt_publish(port, "one") == 1);

  // exp is in whole seconds: the token lives 2 to 3 s.
  auto const claims = claims_for("facts:read", 3s);
  auto const exp = std::chrono::system_clock::time_point(
      std::chrono::seconds(claims["exp"].get<std::int64_t>()));
  sse_client stream(port, jwt_bearer(mint_token("HS256", jwt_secret, claims)));
  REQUIRE(stream.head().result() == http::status::ok);
  auto const first = stream.next_event();
  REQUIRE(first);
  CHECK(first->id == "1");
  REQUIRE(jwt_publish(port, "two") == 2);
  auto const second = stream.next_event();
  REQUIRE(second);
  CHECK(second->id == "2");

  auto const ending = stream.next_event(10s);
  auto const arrived = std::chrono::system_clock::now();
  REQUIRE(ending);
  CHECK(ending->type == "auth");
  CHECK_FALSE(ending->id);  // the client's Last-Event-ID stays that of its last fact
  CHECK(nlohmann::json::parse(ending->data)["reason"] == "token expired");
  CHECK(stream.wait_closed(1s));
  auto const late_ms = std::chrono::duration_cast<std::chrono::milliseconds>(arrived - exp).count();
  WARN("auth event " << late_ms << " ms after exp");
  CHECK(late_ms >= -50);  // not before exp (the clocks are converted once, at open)
  CHECK(late_ms < 1000);
  CHECK(metric_value(metrics_text(port), R"(factsd_streams_ended_total{reason="expired"})") == 1);

  // A fresh token and Last-Event-ID: what came meanwhile, nothing twice.
  REQUIRE(jwt_publish(port, "three") == 3);
  auto headers = jwt_bearer(jwt_token("facts:read", 60s));
  headers.emplace_back("Last-Event-ID", "2");
  sse_client resumed(port, headers);
  REQUIRE(resumed.head().result() == http::status::ok);
  auto const missed = resumed.next_event();
  REQUIRE(missed);
  CHECK(missed->type == "message");
  CHECK(missed->id == "3");
  auto const facts = nlohmann::json::parse(missed->data);
  REQUIRE(facts.size() == 1);
  CHECK(facts[0]["info"] == "three");
}

TEST_CASE("jwt: tokens from the cookie and the query string open streams; none gets a 401",
          "[jwt][sources]") {
  auto srv = jwt_server();
  auto const port = srv.port();
  auto const token = jwt_token("facts:read", 60s);

  sse_client by_cookie(port, {{"Cookie", "theme=dark; factsd_token=" + token}});
  CHECK(by_cookie.head().result() == http::status::ok);
  CHECK(by_cookie.next_event());
  sse_client by_query(port, {}, default_timeout, "/events?access_token=" + token);
  CHECK(by_query.head().result() == http::status::ok);
  CHECK(by_query.next_event());
  auto const counts = get(port, "/status", jwt_bearer(token));
  REQUIRE(counts.result() == http::status::ok);
  CHECK(nlohmann::json::parse(counts.body())["clients"] == 2);

  auto const refused = get(port, "/events");
  CHECK(refused.result() == http::status::unauthorized);
  CHECK(header(refused, "WWW-Authenticate") == "Bearer");
  CHECK(is_json_error(refused));
  CHECK(get(port, "/events?access_token=" + jwt_token("facts:read", -60s)).result() ==
        http::status::unauthorized);
  CHECK(
      get(port, "/facts", {{"Cookie", "factsd_token=" + jwt_token("facts:write", 60s)}}).result() ==
      http::status::forbidden);
  CHECK(get(port, "/healthz").result() == http::status::ok);
}

TEST_CASE("jwt: SIGHUP rotates the key and the publish token; open streams go on receiving",
          "[jwt][reload]") {
  temp_dir dir;
  dir.write("jwt.key", jwt_secret + "\n");
  dir.write("publish.token", "old-publish-token\n");
  child_process daemon(jwt_daemon_args({"--read-auth", "token", "--jwt-key", dir / "jwt.key",
                                        "--publish-token-file", dir / "publish.token"}));
  auto const port = daemon.wait_for_port();
  INFO("stderr: " << daemon.err());
  REQUIRE(port);
  auto const old_token = jwt_token("facts:read", 60s);
  sse_client open_stream(*port, jwt_bearer(old_token));
  REQUIRE(open_stream.head().result() == http::status::ok);
  REQUIRE(open_stream.next_event());

  std::string const new_secret = "the-next-secret-also-32-bytes-or-more";
  dir.write("jwt.key", new_secret);
  dir.write("publish.token", "new-publish-token\n");
  daemon.send_signal(SIGHUP);
  REQUIRE(daemon.wait_for_line("--publish-token-file reloaded", 10s));
  CHECK(daemon.err().find("--jwt-key reloaded: HS256") != std::string::npos);

  CHECK(get(*port, "/status", jwt_bearer(old_token)).result() == http::status::unauthorized);
  CHECK(get(*port, "/status", jwt_bearer(jwt_token("facts:read", 60s, new_secret))).result() ==
        http::status::ok);
  CHECK(post_fact(*port, R"({"info":"x"})", "application/json", jwt_bearer("old-publish-token"))
            .result() == http::status::unauthorized);
  auto const published = post_fact(*port, R"({"info":"after the reload"})", "application/json",
                                   jwt_bearer("new-publish-token"));
  REQUIRE(published.result() == http::status::created);
  // The stream opened with the old key was left alone: it still gets every fact.
  auto const live = open_stream.next_event();
  REQUIRE(live);
  CHECK(live->id == std::to_string(seq_from_location(published)));
  CHECK(live->data.find("after the reload") != std::string::npos);

  // A key that does not load keeps the one in use, and says why.
  dir.write("jwt.key", "short");
  daemon.send_signal(SIGHUP);
  auto const kept = daemon.wait_for_line("--jwt-key not reloaded", 10s);
  REQUIRE(kept);
  CHECK(kept->find("32 bytes") != std::string::npos);
  CHECK(get(*port, "/status", jwt_bearer(jwt_token("facts:read", 60s, new_secret))).result() ==
        http::status::ok);
  auto const again = post_fact(*port, R"({"info":"after the failed reload"})", "application/json",
                               jwt_bearer("new-publish-token"));
  REQUIRE(again.result() == http::status::created);
  auto const still = open_stream.next_event();
  REQUIRE(still);
  CHECK(still->id == std::to_string(seq_from_location(again)));
  daemon.send_signal(SIGTERM);
  CHECK(daemon.wait_exit(20s));
  CHECK(daemon.exit_code() == 0);
}

TEST_CASE("jwt: no token appears in any output, even at --log-level trace", "[jwt][logs]") {
  temp_dir dir;
  dir.write("jwt.key", jwt_secret);
  child_process daemon(
      jwt_daemon_args({"--read-auth", "token", "--jwt-key", dir / "jwt.key", "--publish-token",
                       "publish-secret-token", "--log-level", "trace"}));
  auto const port = daemon.wait_for_port();
  INFO("stderr: " << daemon.err());
  REQUIRE(port);
  auto const read_token = jwt_token("facts:read", 60s);
  auto const write_token = jwt_token("facts:write", 60s);
  auto const expired_token = jwt_token("facts:read", -60s);
  auto const forged_token = jwt_token("facts:read", 60s, jwt_secret + "-forged");

  CHECK(get(*port, "/status", jwt_bearer(read_token)).result() == http::status::ok);
  CHECK(get(*port, "/facts", {{"Cookie", "factsd_token=" + read_token}}).result() ==
        http::status::ok);
  CHECK(get(*port, "/facts/1?access_token=" + read_token).result() == http::status::unauthorized);
  CHECK(get(*port, "/events?access_token=" + expired_token).result() == http::status::unauthorized);
  CHECK(get(*port, "/events", jwt_bearer(forged_token)).result() == http::status::unauthorized);
  CHECK(post_fact(*port, R"({"info":"a"})", "application/json", jwt_bearer(write_token)).result() ==
        http::status::created);
  CHECK(post_fact(*port, R"({"info":"b"})", "application/json", jwt_bearer("publish-secret-token"))
            .result() == http::status::created);
  {
    sse_client by_query(*port, {}, default_timeout,
                        "/events?lastEventId=1&access_token=" + read_token);
    REQUIRE(by_query.head().result() == http::status::ok);
    REQUIRE(by_query.next_event());
  }
  // The request lines were logged, the token in them hidden.
  REQUIRE(daemon.wait_for_line("access_token=<hidden>", 10s));
  daemon.send_signal(SIGTERM);
  REQUIRE(daemon.wait_exit(20s));
  auto const output = daemon.out() + daemon.err();
  CHECK(output.find("[http] GET /events?lastEventId=1&access_token=<hidden>") != std::string::npos);
  for (auto const& token : {read_token, write_token, expired_token, forged_token}) {
    // Any part of it: the signature alone would do to replay a token.
    for (auto const& part : {token, token.substr(token.rfind('.') + 1)}) {
      INFO(part);
      CHECK(output.find(part) == std::string::npos);
    }
  }
  CHECK(output.find("publish-secret-token") == std::string::npos);
  CHECK(output.find(jwt_secret) == std::string::npos);
}
