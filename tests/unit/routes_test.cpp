#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "facts/broadcaster.hpp"
#include "facts/http/routes.hpp"
#include "facts/store/memory_store.hpp"

namespace bhttp = boost::beast::http;
using facts::http::request;
using facts::http::response;
using facts::http::route_decision;
using action = facts::http::route_decision::action;

namespace {

/** Represents a server's worth of route_context, built from real parts. */
struct fixture {
  explicit fixture(std::vector<std::string> origins = {"*"}) : cors(std::move(origins)) {}

  facts::http::cors_policy cors;
  facts::http::static_files files{""};
  facts::broadcaster hub{{}, 0};
  facts::memory_store store;
  facts::http::access_gate access;  // no secret: anyone may read and publish
  facts::limits lim;
  facts::metrics stats;
  facts::http::route_context ctx{cors,   files, hub,  store, std::chrono::steady_clock::now(),
                                 access, lim,   stats};

  route_decision route(request const& req) const {
    auto d = facts::http::route_request(req, ctx);
    // What a session runs on the read pool, run here: the answer is the same.
    if (d.what == action::read) d = {action::respond, d.read(), {}, {}, {}, {}};
    return d;
  }
};

request make_request(bhttp::verb method, std::string target, std::string body = {},
                     std::optional<std::string> content_type = std::nullopt) {
  request req{method, target, 11};
  req.set(bhttp::field::host, "localhost");
  if (content_type) req.set(bhttp::field::content_type, *content_type);
  if (!body.empty() || method == bhttp::verb::post) {
    req.body() = std::move(body);
    req.prepare_payload();
  }
  return req;
}

request post_fact(std::string body, std::optional<std::string> type = "application/json") {
  return make_request(bhttp::verb::post, "/fact", std::move(body), std::move(type));
}

std::string header(response const& res, bhttp::field name) {
  return std::string(res[name]);
}

bool has(response const& res, bhttp::field name) {
  return res.find(name) != res.end();
}

// An error answer is JSON {"error": "..."} with CORS, whatever went wrong.
void check_error(route_decision const& d, bhttp::status status) {
  CHECK(d.what == action::respond);
  CHECK(d.res.result() == status);
  CHECK(header(d.res, bhttp::field::content_type) == "application/json");
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "*");
  CHECK(header(d.res, bhttp::field::content_length) == std::to_string(d.res.body().size()));
  auto const body = nlohmann::json::parse(d.res.body(), nullptr, false);
  REQUIRE(body.is_object());
  REQUIRE(body.contains("error"));
  REQUIRE(body["error"].is_string());
  CHECK_FALSE(body["error"].get<std::string>().empty());
  CHECK(body.size() == 1);
}

}  // namespace

TEST_CASE("GET /events opens a stream with the event-stream headers") {
  fixture f;
  auto const d = f.route(make_request(bhttp::verb::get, "/events"));
  REQUIRE(d.what == action::open_stream);
  CHECK(d.res.result() == bhttp::status::ok);
  CHECK(header(d.res, bhttp::field::content_type) == "text/event-stream");
  CHECK(header(d.res, bhttp::field::cache_control) == "no-cache, no-transform");
  CHECK(std::string(d.res["X-Accel-Buffering"]) == "no");
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "*");
  // The body runs until the connection closes: neither a length nor chunking.
  CHECK_FALSE(has(d.res, bhttp::field::content_length));
  CHECK_FALSE(has(d.res, bhttp::field::transfer_encoding));
  CHECK_FALSE(d.res.keep_alive());
}

TEST_CASE("GET /events echoes a listed Origin") {
  fixture f({"http://page.example"});
  auto req = make_request(bhttp::verb::get, "/events");
  req.set(bhttp::field::origin, "http://page.example");
  auto const d = f.route(req);
  REQUIRE(d.what == action::open_stream);
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "http://page.example");
  CHECK(header(d.res, bhttp::field::vary) == "Origin");
}

TEST_CASE("POST /fact with a JSON object asks to publish the compact JSON") {
  fixture f;
  auto const type = GENERATE(as<std::string>{}, "application/json",
                             "application/json; charset=utf-8", "Application/JSON",
                             "APPLICATION/JSON;charset=UTF-8", "application/json ; charset=utf-8");
  CAPTURE(type);
  auto const d = f.route(post_fact(R"({ "source" : "s", "info": "i" })", type));
  REQUIRE(d.what == action::publish);
  CHECK(d.fact_json == R"({"source":"s","info":"i"})");
}

TEST_CASE("POST /fact without a JSON Content-Type is 415") {
  fixture f;
  auto const type = GENERATE(as<std::optional<std::string>>{}, std::nullopt, "", "text/plain",
                             "application/jsonx", "application/json-patch+json",
                             "application/x-www-form-urlencoded", "json", "text/json");
  CAPTURE(type.value_or("(none)"));
  auto const d = f.route(post_fact(R"({"a":1})", type));
  check_error(d, bhttp::status::unsupported_media_type);
  CHECK(d.fact_json.empty());
}

TEST_CASE("POST /fact with a body that is not a JSON object is 400") {
  fixture f;
  auto const body =
      GENERATE(as<std::string>{}, "", "{", "not json", "[1,2]", "\"s\"", "3", "null", "{} x");
  CAPTURE(body);
  auto const d = f.route(post_fact(body));
  check_error(d, bhttp::status::bad_request);
  CHECK(d.fact_json.empty());
}

TEST_CASE("error answers carry the listed Origin too") {
  fixture f({"http://page.example"});
  auto req = post_fact("[]");
  req.set(bhttp::field::origin, "http://page.example");
  auto const d = f.route(req);
  CHECK(d.res.result() == bhttp::status::bad_request);
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "http://page.example");
}

TEST_CASE("GET /status reports clients, facts and last id as JSON") {
  fixture f;
  f.store.append(std::vector<std::string>{"{}", "{}"});
  f.hub.publish({{1, "{}"}, {2, "{}"}});
  REQUIRE(f.hub.join(std::nullopt));
  REQUIRE(f.hub.client_count() == 1);

  auto const d = f.route(make_request(bhttp::verb::get, "/status"));
  REQUIRE(d.what == action::respond);
  CHECK(d.res.result() == bhttp::status::ok);
  CHECK(header(d.res, bhttp::field::content_type) == "application/json");
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "*");
  auto const body = nlohmann::json::parse(d.res.body(), nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["clients"] == f.hub.client_count());
  CHECK(body["facts"] == 2);
  CHECK(body["last_id"] == 2);
  CHECK(body["uptime_seconds"].is_number_unsigned());

  f.hub.leave();
  auto const after =
      nlohmann::json::parse(f.route(make_request(bhttp::verb::get, "/status")).res.body());
  CHECK(after["clients"] == 0);
}

TEST_CASE("HEAD answers with the headers of GET and no body") {
  // RFC 9110 9.3.2: a HEAD response has no content. http_session writes res as it is, so a body
  // here goes on the wire and a keep-alive client reads it as the start of the next response.
  // Only static_file() clears it today.
  fixture f;
  f.store.append(std::vector<std::string>{R"({"a":1})"});
  auto const target =
      GENERATE(as<std::string>{}, "/status", "/healthz", "/metrics", "/facts", "/facts/1");
  CAPTURE(target);
  auto const get = f.route(make_request(bhttp::verb::get, target));
  auto const head = f.route(make_request(bhttp::verb::head, target));
  REQUIRE(get.res.result() == bhttp::status::ok);
  CHECK(head.res.result() == bhttp::status::ok);
  CHECK(head.res.body().empty());
  auto const length = header(head.res, bhttp::field::content_length);
  if (target != "/metrics") {
    CHECK(length == std::to_string(get.res.body().size()));
    return;
  }
  // /metrics carries the process's own figures (CPU seconds, resident memory), which may change
  // between the two calls by a few digits: the length GET would have, give or take those.
  auto const expected = static_cast<long>(get.res.body().size());
  CHECK(std::labs(std::stol(length) - expected) <= 16);
}

TEST_CASE("the routes that read the store are answered off the I/O thread") {
  // Routing runs on an I/O thread: a store read there (a NATS direct get behind a stopped node)
  // would hold every stream and request on that thread.
  fixture f;
  f.store.append(std::vector<std::string>{R"({"a":1})"});
  auto const target = GENERATE(as<std::string>{}, "/facts", "/facts?after=0&limit=5", "/facts/1",
                               "/facts/2", "/facts?after=x");
  CAPTURE(target);
  for (auto const method : {bhttp::verb::get, bhttp::verb::head}) {
    auto const d = facts::http::route_request(make_request(method, target), f.ctx);
    REQUIRE(d.what == action::read);
    CHECK(d.res.body().empty());
  }
  auto const read = facts::http::route_request(make_request(bhttp::verb::get, "/status"), f.ctx);
  CHECK(read.what == action::respond);
}

TEST_CASE("HEAD of a missing file answers 404 with no body") {
  fixture f;
  auto const d = f.route(make_request(bhttp::verb::head, "/missing.html"));
  CHECK(d.res.result() == bhttp::status::not_found);
  CHECK(d.res.body().empty());
}

TEST_CASE("HEAD / keeps the Content-Length of GET / and sends no body") {
  fixture f;
  auto const get = f.route(make_request(bhttp::verb::get, "/"));
  auto const head = f.route(make_request(bhttp::verb::head, "/"));
  CHECK(head.res.result() == bhttp::status::ok);
  CHECK(head.res.body().empty());
  CHECK(header(head.res, bhttp::field::content_length) == std::to_string(get.res.body().size()));
}

TEST_CASE("OPTIONS on any path is a 204 preflight answer") {
  fixture f;
  auto const target =
      GENERATE(as<std::string>{}, "/events", "/fact", "/status", "/", "/nope", "/fact?x=1", "*");
  CAPTURE(target);
  auto const d = f.route(make_request(bhttp::verb::options, target));
  REQUIRE(d.what == action::respond);
  CHECK(d.res.result() == bhttp::status::no_content);
  CHECK(d.res.body().empty());
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "*");
  CHECK(header(d.res, bhttp::field::access_control_allow_methods) == "GET, POST, OPTIONS");
  auto const headers = header(d.res, bhttp::field::access_control_allow_headers);
  CHECK(headers.find("Content-Type") != std::string::npos);
  CHECK(headers.find("Last-Event-ID") != std::string::npos);
}

TEST_CASE("an unknown path is a 404 JSON error") {
  fixture f;
  auto const target =
      GENERATE(as<std::string>{}, "/nope", "/events/", "/fact/1", "/../etc/passwd", "/a//b");
  CAPTURE(target);
  check_error(f.route(make_request(bhttp::verb::get, target)), bhttp::status::not_found);
}

TEST_CASE("a wrong method is a 405 naming the allowed ones") {
  fixture f;
  struct example {
    bhttp::verb method;
    char const* target;
    char const* allow;
  };
  auto const e = GENERATE(example{bhttp::verb::post, "/events", "GET, OPTIONS"},
                          example{bhttp::verb::patch, "/events", "GET, OPTIONS"},
                          example{bhttp::verb::delete_, "/events", "GET, OPTIONS"},
                          example{bhttp::verb::get, "/fact", "POST, OPTIONS"},
                          example{bhttp::verb::put, "/fact", "POST, OPTIONS"},
                          example{bhttp::verb::post, "/status", "GET, HEAD, OPTIONS"},
                          example{bhttp::verb::delete_, "/status", "GET, HEAD, OPTIONS"},
                          example{bhttp::verb::post, "/", "GET, HEAD, OPTIONS"},
                          example{bhttp::verb::put, "/app.js", "GET, HEAD, OPTIONS"});
  CAPTURE(e.target, bhttp::to_string(e.method));
  auto const d = f.route(make_request(e.method, e.target));
  check_error(d, bhttp::status::method_not_allowed);
  CHECK(header(d.res, bhttp::field::allow) == e.allow);
}

TEST_CASE("GET / serves the embedded index.html") {
  fixture f;
  auto const target = GENERATE(as<std::string>{}, "/", "/index.html", "/?v=2");
  CAPTURE(target);
  auto const d = f.route(make_request(bhttp::verb::get, target));
  REQUIRE(d.what == action::respond);
  CHECK(d.res.result() == bhttp::status::ok);
  CHECK(header(d.res, bhttp::field::content_type).rfind("text/html", 0) == 0);
  CHECK(d.res.body() == f.files.read("index.html").value());
  CHECK(header(d.res, bhttp::field::access_control_allow_origin) == "*");
}

TEST_CASE("GET /app.js and /style.css come with their types") {
  fixture f;
  auto const js = f.route(make_request(bhttp::verb::get, "/app.js?x=1"));
  CHECK(js.res.result() == bhttp::status::ok);
  CHECK(header(js.res, bhttp::field::content_type) == "text/javascript; charset=utf-8");
  auto const css = f.route(make_request(bhttp::verb::get, "/style.css"));
  CHECK(css.res.result() == bhttp::status::ok);
  CHECK(header(css.res, bhttp::field::content_type) == "text/css; charset=utf-8");
}

TEST_CASE("query strings do not change the route") {
  fixture f;
  CHECK(f.route(make_request(bhttp::verb::get, "/events?since=3")).what == action::open_stream);
  auto post = post_fact(R"({"a":1})");
  post.target("/fact?x=1");
  CHECK(f.route(post).what == action::publish);
  auto const status = f.route(make_request(bhttp::verb::get, "/status?pretty"));
  CHECK(status.res.result() == bhttp::status::ok);
  CHECK(nlohmann::json::parse(status.res.body(), nullptr, false).contains("clients"));
}

TEST_CASE("responses follow the request's keep-alive") {
  fixture f;
  auto req = make_request(bhttp::verb::get, "/status");
  CHECK(f.route(req).res.keep_alive());
  req.set(bhttp::field::connection, "close");
  CHECK_FALSE(f.route(req).res.keep_alive());

  request old{bhttp::verb::get, "/status", 10};
  auto const d = f.route(old);
  CHECK(d.res.version() == 10);
  CHECK_FALSE(d.res.keep_alive());
  old.set(bhttp::field::connection, "keep-alive");
  CHECK(f.route(old).res.keep_alive());
}

TEST_CASE("error_response escapes what it is given") {
  fixture f;
  auto const req = make_request(bhttp::verb::get, "/");
  std::string const message = "a \"quoted\" \\ back\nslash\r\t\x01 end";
  auto const res = facts::http::error_response(bhttp::status::bad_request, message, req, f.cors);
  CHECK(res.result() == bhttp::status::bad_request);
  // Escaped: no raw control byte reaches the body.
  for (char c : res.body())
    CHECK(static_cast<unsigned char>(c) >= 0x20);
  auto const body = nlohmann::json::parse(res.body(), nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["error"] == message);
}

TEST_CASE("error_response survives invalid UTF-8 in the message") {
  fixture f;
  auto const req = make_request(bhttp::verb::get, "/");
  auto const res = facts::http::error_response(bhttp::status::not_found,
                                               "no such path: /\xff\xfe\xC3", req, f.cors);
  CHECK(res.result() == bhttp::status::not_found);
  auto const body = nlohmann::json::parse(res.body(), nullptr, false);
  REQUIRE(body.is_object());
  auto const text = body["error"].get<std::string>();
  CHECK(text.rfind("no such path: /", 0) == 0);
  CHECK(text.find('\xff') == std::string::npos);
}

TEST_CASE("error_response works from a bare header") {
  // The 413 path has only the parsed header, and a malformed request not even that.
  fixture f;
  auto const res = facts::http::error_response(bhttp::status::payload_too_large, "too big",
                                               facts::http::request_header{}, f.cors);
  CHECK(res.result() == bhttp::status::payload_too_large);
  CHECK(nlohmann::json::parse(res.body())["error"] == "too big");
  CHECK(header(res, bhttp::field::access_control_allow_origin) == "*");
}

TEST_CASE("an unknown path with quotes in it still gives valid JSON") {
  fixture f;
  auto const d = f.route(make_request(bhttp::verb::get, "/a\"b\\c"));
  check_error(d, bhttp::status::not_found);
}

TEST_CASE("publish_answer for a stored fact is a 201 with Location and the fact as body") {
  fixture f;
  auto const req = post_fact(R"({"a":1})");
  facts::append_result const created{facts::append_result::outcome::created, {42, R"({"a":1})"}};
  auto const res = facts::http::publish_answer(created, req, f.cors);
  CHECK(res.result() == bhttp::status::created);
  CHECK(header(res, bhttp::field::location) == "/facts/42");
  CHECK(res.body() == R"({"a":1})");
  CHECK(header(res, bhttp::field::content_type) == "application/json");
  CHECK(header(res, bhttp::field::content_length) == "7");
  CHECK(header(res, bhttp::field::access_control_allow_origin) == "*");
  // The page reads Location cross-origin only if it is exposed.
  CHECK(header(res, bhttp::field::access_control_expose_headers).find("Location") !=
        std::string::npos);
}

TEST_CASE("publish_answer when nothing could be stored is a 503 JSON error") {
  fixture f;
  auto const req = post_fact(R"({"a":1})");
  auto const res = facts::http::publish_answer(std::nullopt, req, f.cors);
  check_error({action::respond, res, {}, {}, {}, {}}, bhttp::status::service_unavailable);
}

TEST_CASE("stream_header_bytes is a complete HTTP/1.1 header block") {
  fixture f;
  auto const d = f.route(make_request(bhttp::verb::get, "/events"));
  auto const bytes = facts::http::stream_header_bytes(d.res);
  CHECK(bytes.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  REQUIRE(bytes.size() > 4);
  CHECK(bytes.compare(bytes.size() - 4, 4, "\r\n\r\n") == 0);
  // The blank line ends the header exactly once: frames follow right after it.
  CHECK(bytes.find("\r\n\r\n") == bytes.size() - 4);
  CHECK(bytes.find("Content-Type: text/event-stream\r\n") != std::string::npos);
  CHECK(bytes.find("X-Accel-Buffering: no\r\n") != std::string::npos);
}

TEST_CASE("with a publish token, POST /fact needs Authorization: Bearer <token>") {
  fixture f;
  f.access.replace_publish_token("s3cret");
  auto const with_auth = [&](std::optional<std::string> auth) {
    auto req = post_fact(R"({"a":1})");
    if (auth) req.set(bhttp::field::authorization, *auth);
    return f.route(req);
  };
  CHECK(with_auth("Bearer s3cret").what == action::publish);
  CHECK(with_auth("bearer s3cret").what == action::publish);

  auto const bad = GENERATE(as<std::optional<std::string>>{}, std::nullopt, "", "Bearer", "Bearer ",
                            "Bearer wrong", "Bearer s3cre", "Bearer s3crett", "Basic s3cret",
                            "s3cret", "Bearers3cret");
  CAPTURE(bad.value_or("(none)"));
  auto const d = with_auth(bad);
  check_error(d, bhttp::status::unauthorized);
  CHECK(header(d.res, bhttp::field::www_authenticate) == "Bearer");
}

TEST_CASE("bearer_matches compares the whole token") {
  using facts::http::bearer_matches;
  CHECK(bearer_matches("Bearer abc", "abc"));
  CHECK_FALSE(bearer_matches("Bearer abcabc", "abc"));
  CHECK_FALSE(bearer_matches("Bearer ab", "abc"));
  CHECK_FALSE(bearer_matches("Bearer ", "abc"));
  // No token configured never matches, not even an empty one.
  CHECK_FALSE(bearer_matches("Bearer ", ""));
}

TEST_CASE("a request target longer than max_url_bytes is a 414") {
  fixture f;
  f.lim.max_url_bytes = 32;
  CHECK(f.route(make_request(bhttp::verb::get, "/status?" + std::string(24, 'x'))).res.result() ==
        bhttp::status::ok);
  auto const d = f.route(make_request(bhttp::verb::get, "/status?" + std::string(25, 'x')));
  check_error(d, bhttp::status::uri_too_long);
}

TEST_CASE("at max_clients, routing leaves the refusal to the hub; publishing and pages go on") {
  fixture f;
  f.lim.max_clients = 1;
  f.hub.limit_clients(1);
  REQUIRE(f.hub.join(std::nullopt));

  // One place refuses a stream over the bound: the hub's join, under its lock (stream_group
  // then answers 200 with a retry:, since EventSource gives up for good on a non-200).
  auto const events = f.route(make_request(bhttp::verb::get, "/events"));
  CHECK(events.what == action::open_stream);
  CHECK(events.res.result() == bhttp::status::ok);
  CHECK(header(events.res, bhttp::field::content_type) == "text/event-stream");
  CHECK_FALSE(f.hub.join(std::nullopt));

  // The bound is for streams: readers cannot lock publishers out.
  CHECK(f.route(post_fact(R"({"info": "at the bound"})")).what == action::publish);
  CHECK(f.route(make_request(bhttp::verb::get, "/")).res.result() == bhttp::status::ok);
  CHECK(f.route(make_request(bhttp::verb::get, "/facts")).res.result() == bhttp::status::ok);
  CHECK(f.route(make_request(bhttp::verb::get, "/status")).res.result() == bhttp::status::ok);

  f.hub.leave();
  CHECK(f.route(make_request(bhttp::verb::get, "/events")).what == action::open_stream);
}

TEST_CASE("any method on a path that does not exist is a 404, never a 405") {
  fixture f;
  auto const method = GENERATE(bhttp::verb::post, bhttp::verb::put, bhttp::verb::delete_,
                               bhttp::verb::patch, bhttp::verb::get);
  auto const target = GENERATE(as<std::string>{}, "/nope", "/events/", "/fact/1", "/nope?x=1");
  CAPTURE(target, bhttp::to_string(method));
  auto const d = f.route(make_request(method, target));
  check_error(d, bhttp::status::not_found);
  CHECK_FALSE(has(d.res, bhttp::field::allow));
}

TEST_CASE("a 204 preflight answer carries no Content-Length") {
  fixture f;
  auto const target = GENERATE(as<std::string>{}, "/fact", "/events", "/nope");
  CAPTURE(target);
  auto const d = f.route(make_request(bhttp::verb::options, target));
  REQUIRE(d.res.result() == bhttp::status::no_content);
  CHECK_FALSE(has(d.res, bhttp::field::content_length));
  CHECK_FALSE(has(d.res, bhttp::field::transfer_encoding));
}

namespace {

using header_list_t = std::vector<std::pair<std::string, std::string>>;

bool is_error_json(response const& res) {
  auto const body = nlohmann::json::parse(res.body(), nullptr, false);
  return header(res, bhttp::field::content_type) == "application/json" && body.is_object() &&
         body.contains("error") && body["error"].is_string();
}

/// The head of a POST whose body has not arrived: what a session has when Expect asks first.
facts::http::request_header post_head(std::string target, header_list_t const& headers) {
  facts::http::request_header head;
  head.method(bhttp::verb::post);
  head.target(target);
  head.version(11);
  head.set(bhttp::field::host, "localhost");
  for (auto const& [name, value] : headers)
    head.set(name, value);
  return head;
}

}  // namespace

TEST_CASE("refusal_before_body refuses from the head what routing would refuse") {
  fixture f;
  f.access.replace_publish_token("s3cret");
  std::string const json = "application/json";
  std::string const bearer = "Bearer s3cret";
  struct example {
    char const* what;
    std::string target;
    header_list_t headers;
    bhttp::status status;
  };
  auto const e = GENERATE_COPY(
      example{"no token", "/fact", {{"Content-Type", json}}, bhttp::status::unauthorized},
      example{"wrong token",
              "/fact",
              {{"Content-Type", json}, {"Authorization", "Bearer nope"}},
              bhttp::status::unauthorized},
      example{
          "no JSON", "/fact", {{"Authorization", bearer}}, bhttp::status::unsupported_media_type},
      example{"bad key",
              "/fact",
              {{"Authorization", bearer}, {"Content-Type", json}, {"Idempotency-Key", "a b"}},
              bhttp::status::bad_request},
      example{"missing path", "/nope", {{"Authorization", bearer}}, bhttp::status::not_found},
      example{"wrong method", "/status", {}, bhttp::status::method_not_allowed},
      example{"too long", "/fact?" + std::string(9000, 'x'), {}, bhttp::status::uri_too_long});
  CAPTURE(e.what);
  auto const head = post_head(e.target, e.headers);
  auto const refused = facts::http::refusal_before_body(head, f.ctx);
  REQUIRE(refused);
  CHECK(refused->result() == e.status);
  CHECK(is_error_json(*refused));

  // The complete request gets the same answer from routing.
  request full{head};
  full.body() = R"({"info": "x"})";
  full.prepare_payload();
  auto const routed = f.route(full);
  CHECK(routed.what == action::respond);
  CHECK(routed.res.result() == e.status);
}

TEST_CASE("refusal_before_body lets an acceptable POST /fact through") {
  fixture f;
  f.access.replace_publish_token("s3cret");
  auto const head = post_head("/fact", {{"Authorization", "Bearer s3cret"},
                                        {"Content-Type", "application/json; charset=utf-8"},
                                        {"Idempotency-Key", "k-1"}});
  CHECK_FALSE(facts::http::refusal_before_body(head, f.ctx));
  // Its body is judged only once it is there.
  request full{head};
  full.body() = "not json";
  full.prepare_payload();
  check_error(f.route(full), bhttp::status::bad_request);
}
