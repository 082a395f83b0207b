#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "facts/http/response_bytes.hpp"
#include "facts/http/routes.hpp"

namespace bhttp = boost::beast::http;
using facts::http::response;

namespace {

using outcome = facts::append_result::outcome;

// What Beast's own serializer sends for `res`: the reference append_head must match.
std::string beast_bytes(response const& res) {
  std::ostringstream out;
  out << res;
  return std::move(out).str();
}

std::string our_bytes(response const& res) {
  std::string out = "kept";  // append_head appends: what was there stays
  facts::http::append_head(out, res);
  return out.substr(4) + res.body();
}

facts::http::request post_fact(unsigned version) {
  facts::http::request req{bhttp::verb::post, "/fact", version};
  req.set(bhttp::field::origin, "https://page.example");
  req.set(bhttp::field::content_type, "application/json");
  return req;
}

}  // namespace

TEST_CASE("append_head sends what Beast's serializer sends, for every kind of answer") {
  facts::http::cors_policy const cors({"*"});
  auto const created =
      facts::append_result{facts::append_result::outcome::created, {41, R"({"info":"é","n":1})"}};
  auto const replayed =
      facts::append_result{facts::append_result::outcome::replayed, {7, R"({"a":[1,2]})"}};

  SECTION("201 with the fact, keep-alive HTTP/1.1") {
    auto const res = facts::http::publish_answer(created, post_fact(11), cors);
    CHECK(res.result_int() == 201);
    CHECK(our_bytes(res) == beast_bytes(res));
  }
  SECTION("a replay carries its extra header") {
    auto const res = facts::http::publish_answer(replayed, post_fact(11), cors);
    CHECK(our_bytes(res).find("Idempotent-Replayed: true\r\n") != std::string::npos);
    CHECK(our_bytes(res) == beast_bytes(res));
  }
  SECTION("HTTP/1.0 keeps its version in the status line") {
    auto const res = facts::http::publish_answer(created, post_fact(10), cors);
    CHECK(our_bytes(res).rfind("HTTP/1.0 201 Created\r\n", 0) == 0);
    CHECK(our_bytes(res) == beast_bytes(res));
  }
  SECTION("an error closing the connection") {
    auto res = facts::http::error_response(bhttp::status::service_unavailable, "not stored",
                                           post_fact(11), cors);
    res.keep_alive(false);
    CHECK(our_bytes(res).find("Connection: close\r\n") != std::string::npos);
    CHECK(our_bytes(res) == beast_bytes(res));
  }
  SECTION("204 without a body or a length") {
    response res{bhttp::status::no_content, 11};
    res.set(bhttp::field::server, "factsd");
    CHECK(our_bytes(res) == "HTTP/1.1 204 No Content\r\nServer: factsd\r\n\r\n");
    CHECK(our_bytes(res) == beast_bytes(res));
  }
  SECTION("a status without a standard reason phrase") {
    response res{static_cast<bhttp::status>(299), 11};
    res.set(bhttp::field::content_length, "0");
    CHECK(our_bytes(res) == beast_bytes(res));
  }
}

TEST_CASE("append_stored_answer sends what publish_answer's response would, head and body") {
  auto const version = GENERATE(10u, 11u);
  auto const connection = GENERATE(as<std::string>{}, "", "close", "keep-alive");
  auto const origin =
      GENERATE(as<std::string>{}, "", "https://page.example", "https://other.example");
  auto const allowed = GENERATE(as<std::string>{}, "*", "https://page.example");
  auto const what = GENERATE(outcome::created, outcome::replayed);
  facts::http::cors_policy const cors({allowed});
  facts::http::request req{bhttp::verb::post, "/fact", version};
  if (!connection.empty()) req.set(bhttp::field::connection, connection);
  if (!origin.empty()) req.set(bhttp::field::origin, origin);
  auto const result = facts::append_result{what, {1234567, R"({"info":"é","n":[1,{}]})"}};
  INFO("HTTP/" << version << ", Connection: " << connection << ", Origin: " << origin
               << ", allowed: " << allowed << ", replayed: " << (what == outcome::replayed));

  auto const reference = facts::http::publish_answer(result, req, cors);
  std::string out = "kept";  // it appends: what was there stays
  bool const keep_alive = facts::http::append_stored_answer(out, result, req, cors);
  CHECK(out.substr(0, 4) == "kept");
  CHECK(out.substr(4) == beast_bytes(reference));
  CHECK(keep_alive == reference.keep_alive());
}
