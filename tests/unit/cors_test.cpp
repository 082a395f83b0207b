#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <iterator>
#include <string>
#include <vector>

#include "facts/http/cors.hpp"

namespace bhttp = boost::beast::http;
using facts::http::cors_policy;

namespace {

bool has(bhttp::fields const& f, bhttp::field name) {
  return f.find(name) != f.end();
}

std::string value(bhttp::fields const& f, bhttp::field name) {
  return std::string(f[name]);
}

}  // namespace

TEST_CASE("cors '*' allows any origin without Vary") {
  cors_policy const cors({"*"});
  auto const origin = GENERATE(as<std::string>{}, "http://a.example", "", "null");
  bhttp::fields out;
  cors.apply(out, origin);
  CHECK(value(out, bhttp::field::access_control_allow_origin) == "*");
  // The answer is the same for every Origin, so caches need not key on it.
  CHECK_FALSE(has(out, bhttp::field::vary));
  CHECK_FALSE(has(out, bhttp::field::access_control_allow_credentials));
}

TEST_CASE("cors with no origins at all means '*'") {
  cors_policy const cors({});
  bhttp::fields out;
  cors.apply(out, "http://a.example");
  CHECK(value(out, bhttp::field::access_control_allow_origin) == "*");
}

TEST_CASE("cors exact list echoes a listed origin with Vary: Origin") {
  cors_policy const cors({"http://a.example", "https://b.example:8443"});
  auto const origin = GENERATE(as<std::string>{}, "http://a.example", "https://b.example:8443");
  bhttp::fields out;
  cors.apply(out, origin);
  CHECK(value(out, bhttp::field::access_control_allow_origin) == origin);
  CHECK(value(out, bhttp::field::vary) == "Origin");
}

TEST_CASE("cors exact list never reflects an origin it does not list") {
  cors_policy const cors({"http://a.example"});
  auto const origin =
      GENERATE(as<std::string>{}, "http://evil.example", "", "*", "null", "http://a.example.evil",
               "http://a.exampl", "HTTP://A.EXAMPLE", "http://a.example/", " http://a.example");
  CAPTURE(origin);
  bhttp::fields out;
  cors.apply(out, origin);
  CHECK_FALSE(has(out, bhttp::field::access_control_allow_origin));
  // A refusal also depends on Origin: a cache must not hand it to a listed origin.
  CHECK(value(out, bhttp::field::vary) == "Origin");
}

TEST_CASE("cors preflight adds methods and headers on top of apply") {
  auto const origins =
      GENERATE(std::vector<std::string>{"*"}, std::vector<std::string>{"http://a.example"});
  cors_policy const cors(origins);
  bhttp::fields out;
  cors.apply_preflight(out, "http://a.example");
  CHECK(value(out, bhttp::field::access_control_allow_methods) == "GET, POST, OPTIONS");
  auto const headers = value(out, bhttp::field::access_control_allow_headers);
  CHECK(headers.find("Content-Type") != std::string::npos);
  CHECK(headers.find("Last-Event-ID") != std::string::npos);
  CHECK(headers.find("Authorization") != std::string::npos);
  CHECK(has(out, bhttp::field::access_control_allow_origin));
}

TEST_CASE("cors preflight from an unlisted origin still gets no allow-origin") {
  cors_policy const cors({"http://a.example"});
  bhttp::fields out;
  cors.apply_preflight(out, "http://evil.example");
  CHECK_FALSE(has(out, bhttp::field::access_control_allow_origin));
}

TEST_CASE("cors apply twice does not duplicate headers") {
  // A response may pass through apply() more than once (e.g. error paths); set, not insert.
  cors_policy const cors({"http://a.example"});
  bhttp::fields out;
  cors.apply(out, "http://a.example");
  cors.apply(out, "http://a.example");
  CHECK(std::distance(out.equal_range(bhttp::field::access_control_allow_origin).first,
                      out.equal_range(bhttp::field::access_control_allow_origin).second) == 1);
  CHECK(std::distance(out.equal_range(bhttp::field::vary).first,
                      out.equal_range(bhttp::field::vary).second) == 1);
}
