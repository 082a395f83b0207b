#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/http/routes.hpp"
#include "facts/store/memory_store.hpp"
#include "support/token_mint.hpp"

using namespace std::chrono_literals;
namespace bhttp = facts::http::bhttp;
using auth_action = facts::http::route_decision::action;
using facts::test::claims_for;
using facts::test::mint_token;

namespace {

std::string const auth_secret = "a-secret-of-more-than-32-bytes-for-routing";

/** Represents a server's routing with --read-auth token and an HS256 --jwt-key. */
struct auth_fixture {
  explicit auth_fixture(bool reads_need_token = true, std::string publish_token = {},
                        std::vector<std::string> origins = {"https://app.example"})
      : cors(std::move(origins), true),
        access({reads_need_token, "factsd_token", {}}, std::move(publish_token),
               facts::http::parse_token_key(auth_secret).key) {}

  facts::http::cors_policy cors;
  facts::http::access_gate access;
  facts::http::static_files files{""};
  facts::broadcaster hub{{}, 0};
  facts::memory_store store;
  facts::limits lim;
  facts::metrics stats;
  facts::http::route_context ctx{cors,   files, hub,  store, std::chrono::steady_clock::now(),
                                 access, lim,   stats};

  facts::http::route_decision route(facts::http::request const& req) const {
    auto d = facts::http::route_request(req, ctx);
    if (d.what == auth_action::read) d.res = d.read();
    return d;
  }
};

facts::http::request auth_request(bhttp::verb method, std::string target,
                                  std::string const& authorization = {}) {
  facts::http::request req{method, target, 11};
  req.set(bhttp::field::host, "localhost");
  if (!authorization.empty()) req.set(bhttp::field::authorization, authorization);
  if (method == bhttp::verb::post) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = R"({"info":"a"})";
    req.prepare_payload();
  }
  return req;
}

std::string bearer(std::string const& scope, std::chrono::seconds lifetime = 60s) {
  return "Bearer " + mint_token("HS256", auth_secret, claims_for(scope, lifetime));
}

}  // namespace

TEST_CASE("--read-auth token: the read routes need a facts:read token; 401 and 403 in JSON") {
  auth_fixture const f;
  auto const target = GENERATE(as<std::string>{}, "/events", "/facts", "/facts/1", "/status");
  INFO(target);
  auto const missing = f.route(auth_request(bhttp::verb::get, target));
  CHECK(missing.what == auth_action::respond);
  CHECK(missing.res.result() == bhttp::status::unauthorized);
  CHECK(missing.res[bhttp::field::www_authenticate] == "Bearer");
  CHECK(missing.res[bhttp::field::content_type] == "application/json");
  auto const body = nlohmann::json::parse(missing.res.body());
  CHECK(body["error"].get<std::string>().find("facts:read") != std::string::npos);

  auto const bad = f.route(auth_request(bhttp::verb::get, target, "Bearer not.a.token"));
  CHECK(bad.res.result() == bhttp::status::unauthorized);
  CHECK(bad.res[bhttp::field::www_authenticate].starts_with("Bearer"));
  CHECK(bad.res.body().find("not.a.token") == std::string::npos);

  auto const write_only = f.route(auth_request(bhttp::verb::get, target, bearer("facts:write")));
  CHECK(write_only.res.result() == bhttp::status::forbidden);
  CHECK(nlohmann::json::parse(write_only.res.body()).contains("error"));

  auto const expired = f.route(auth_request(bhttp::verb::get, target, bearer("facts:read", -60s)));
  CHECK(expired.res.result() == bhttp::status::unauthorized);

  auto const ok = f.route(auth_request(bhttp::verb::get, target, bearer("facts:read")));
  if (target == "/events") {
    CHECK(ok.what == auth_action::open_stream);
    REQUIRE(ok.expires);
    auto const left = *ok.expires - std::chrono::system_clock::now();
    CHECK(left > 50s);
    CHECK(left <= 60s);
  } else {
    CHECK(ok.res.result() != bhttp::status::unauthorized);
    CHECK(ok.res.result() != bhttp::status::forbidden);
  }
}

TEST_CASE("--read-auth token leaves /healthz, /metrics, the page and preflights open") {
  auth_fixture const f;
  for (auto const* target : {"/healthz", "/metrics", "/", "/app.js"}) {
    INFO(target);
    CHECK(f.route(auth_request(bhttp::verb::get, target)).res.result() == bhttp::status::ok);
  }
  auto preflight = auth_request(bhttp::verb::options, "/events");
  preflight.set(bhttp::field::origin, "https://app.example");
  auto const res = f.route(preflight).res;
  CHECK(res.result() == bhttp::status::no_content);
  // The page of a listed origin may send its cookie; '*' never gets credentials.
  CHECK(res[bhttp::field::access_control_allow_credentials] == "true");
  auth_fixture const any(true, {}, {"*"});
  auto const any_res = any.route(preflight).res;
  CHECK(any_res[bhttp::field::access_control_allow_origin] == "*");
  CHECK(any_res.find(bhttp::field::access_control_allow_credentials) == any_res.end());
}

TEST_CASE("the query's access_token is taken on /events only, the cookie everywhere") {
  auth_fixture const f;
  auto const token = mint_token("HS256", auth_secret, claims_for("facts:read", 60s));
  CHECK(f.route(auth_request(bhttp::verb::get, "/events?access_token=" + token)).what ==
        auth_action::open_stream);
  CHECK(f.route(auth_request(bhttp::verb::get, "/status?access_token=" + token)).res.result() ==
        bhttp::status::unauthorized);
  auto with_cookie = auth_request(bhttp::verb::get, "/status");
  with_cookie.set(bhttp::field::cookie, "factsd_token=" + token);
  CHECK(f.route(with_cookie).res.result() == bhttp::status::ok);
}

TEST_CASE("--read-auth none: reads stay open with a --jwt-key, and streams never expire") {
  auth_fixture const f(false);
  auto const d = f.route(auth_request(bhttp::verb::get, "/events"));
  CHECK(d.what == auth_action::open_stream);
  CHECK_FALSE(d.expires);
  CHECK(f.route(auth_request(bhttp::verb::get, "/status")).res.result() == bhttp::status::ok);
}

TEST_CASE("POST /fact takes a facts:write token beside the publish token") {
  auth_fixture const f(false, "pub-token");
  auto const post = [&](std::string const& authorization) {
    return f.route(auth_request(bhttp::verb::post, "/fact", authorization));
  };
  CHECK(post("Bearer pub-token").what == auth_action::publish);
  CHECK(post(bearer("facts:write")).what == auth_action::publish);
  CHECK(post(bearer("facts:read")).res.result() == bhttp::status::forbidden);
  CHECK(post(bearer("facts:write", -60s)).res.result() == bhttp::status::unauthorized);
  auto const none = post("");
  CHECK(none.res.result() == bhttp::status::unauthorized);
  CHECK(none.res[bhttp::field::www_authenticate] == "Bearer");
  CHECK(post("Bearer wrong").res.result() == bhttp::status::unauthorized);

  // A --jwt-key alone guards publishing too.
  auth_fixture const key_only(false);
  CHECK(key_only.route(auth_request(bhttp::verb::post, "/fact")).res.result() ==
        bhttp::status::unauthorized);
  CHECK(key_only.route(auth_request(bhttp::verb::post, "/fact", bearer("facts:write"))).what ==
        auth_action::publish);
}

TEST_CASE("a replaced key takes effect on the next request; the old key's tokens are refused") {
  auth_fixture f;
  auto const old_token = bearer("facts:read");
  CHECK(f.route(auth_request(bhttp::verb::get, "/status", old_token)).res.result() ==
        bhttp::status::ok);
  std::string const next = "another-secret-of-more-than-32-bytes!!";
  f.access.replace_key(facts::http::parse_token_key(next).key);
  CHECK(f.route(auth_request(bhttp::verb::get, "/status", old_token)).res.result() ==
        bhttp::status::unauthorized);
  auto const new_token = "Bearer " + mint_token("HS256", next, claims_for("facts:read", 60s));
  CHECK(f.route(auth_request(bhttp::verb::get, "/status", new_token)).res.result() ==
        bhttp::status::ok);
}

TEST_CASE("a token verified once is taken from the verified tokens; exp and scope still hold") {
  auth_fixture f;
  auto const read_token = bearer("facts:read");
  for (int i = 0; i < 3; ++i)
    CHECK(f.route(auth_request(bhttp::verb::get, "/status", read_token)).res.result() ==
          bhttp::status::ok);
  // The scope is checked again on every use, so the cached read token cannot publish.
  CHECK(f.route(auth_request(bhttp::verb::post, "/fact", read_token)).res.result() ==
        bhttp::status::forbidden);
  // A forged token is never remembered: it fails each time.
  auto const forged =
      "Bearer " + mint_token("HS256", auth_secret + "x", claims_for("facts:read", 60s));
  CHECK(f.route(auth_request(bhttp::verb::get, "/status", forged)).res.result() ==
        bhttp::status::unauthorized);
  CHECK(f.route(auth_request(bhttp::verb::get, "/status", forged)).res.result() ==
        bhttp::status::unauthorized);
}

TEST_CASE("verified_tokens: found by the whole token, expired ones dropped first at the bound") {
  facts::http::verified_tokens seen;
  auto const now = std::chrono::system_clock::now();
  seen.remember("a.b.c", {now + 60s, "facts:read"});
  REQUIRE(seen.find("a.b.c"));
  CHECK(seen.find("a.b.c")->scope == "facts:read");
  CHECK_FALSE(seen.find("a.b.d"));
  CHECK_FALSE(seen.find("a.b.c "));
  for (std::size_t i = 0; seen.size() < facts::http::verified_tokens::max_entries; ++i)
    seen.remember("old-" + std::to_string(i), {now - 60s, "facts:read"});
  seen.remember("new", {now + 60s, "facts:read"});
  // The expired went to make room; the unexpired stayed.
  CHECK(seen.size() == 2);
  CHECK(seen.find("a.b.c"));
  CHECK(seen.find("new"));
}

TEST_CASE("access_gate: requests checked on several threads while SIGHUP replaces the key",
          "[concurrency]") {
  auth_fixture f;
  std::string const next = "the-key-after-the-reload-32-bytes-long";
  auto const old_token = bearer("facts:read");
  auto const new_token = "Bearer " + mint_token("HS256", next, claims_for("facts:read", 60s));
  auto const old_request = auth_request(bhttp::verb::get, "/status", old_token);
  auto const new_request = auth_request(bhttp::verb::get, "/status", new_token);
  auto const ok = [&](facts::http::request const& req) {
    return !f.access.check_read(req, false, f.cors).refusal;
  };
  std::atomic<bool> go{false};
  std::atomic<int> out_of_order{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!go.load())
        std::this_thread::yield();
      bool saw_new_key = false;
      for (int i = 0; i < 300; ++i) {
        // Once a thread has seen the new key, the old one never comes back for it.
        bool const old_ok = ok(old_request);
        bool const new_ok = ok(new_request);
        if (saw_new_key && old_ok) ++out_of_order;
        // The old key refused, so the new one is in: the next check must take it (both may pass
        // when the swap falls between the two checks).
        if (!old_ok && !new_ok) ++out_of_order;
        saw_new_key = saw_new_key || new_ok;
      }
    });
  }
  go = true;
  f.access.replace_publish_token("rotated");
  f.access.replace_key(facts::http::parse_token_key(next).key);
  f.access.replace_publish_token("rotated-again");
  for (auto& reader : readers)
    reader.join();
  CHECK(out_of_order == 0);
  CHECK_FALSE(ok(old_request));
  CHECK(ok(new_request));
}
