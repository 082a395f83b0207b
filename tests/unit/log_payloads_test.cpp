#include "facts/store/log_payloads.hpp"

#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace {

using facts::log_payloads;

// The error object's text, as a client reads it.
std::string error_of(facts::fact const& f) {
  return nlohmann::json::parse(f.json).at("error").get<std::string>();
}

// Quiet while a test reports thousands of payloads on purpose.
struct quiet_log {
  quiet_log() : level(spdlog::get_level()) { spdlog::set_level(spdlog::level::off); }
  ~quiet_log() { spdlog::set_level(level); }
  spdlog::level::level_enum level;
};

}  // namespace

TEST_CASE("a valid payload from the log becomes the fact a POST of it would store") {
  log_payloads check("nats://test/facts", 64 * 1024);
  CHECK(check.to_fact(R"({"a":1})", 3) == facts::fact{3, R"({"a":1})"});
  // Made compact, fields in the order they came, as parse_fact does for a POST.
  CHECK(check.to_fact(R"({ "b" : [1, 2], "a" : "x" })", 4) ==
        facts::fact{4, R"({"b":[1,2],"a":"x"})"});
  CHECK(check.invalid_count() == 0);
}

TEST_CASE("a payload that is not a fact becomes an error object under its own seq") {
  quiet_log quiet;
  log_payloads check("nats://test/facts", 64 * 1024);
  // What would otherwise be written raw into every stream: an event of its own with id 999.
  auto const injected = check.to_fact("x\n\nid: 999\ndata: {}", 7);
  CHECK(injected.seq == 7);
  CHECK(injected.json.find('\n') == std::string::npos);
  CHECK(error_of(injected) == "not a valid fact in the log: body is not valid JSON");
  CHECK(error_of(check.to_fact("[1,2]", 8)) ==
        "not a valid fact in the log: a fact must be a JSON object");
  CHECK(error_of(check.to_fact("", 9)) == "not a valid fact in the log: body is not valid JSON");
  // The stand-in is itself what a valid fact is: a compact JSON object.
  CHECK(facts::parse_fact(injected.json).json == injected.json);
  CHECK(check.invalid_count() == 3);
}

TEST_CASE("a payload is a fact up to --max-fact-bytes and not one byte more") {
  quiet_log quiet;
  log_payloads check("nats://test/facts", 20);
  std::string const at_bound = R"({"pad":")" + std::string(10, 'x') + R"("})";
  REQUIRE(at_bound.size() == 20);
  CHECK(check.to_fact(at_bound, 1).json == at_bound);
  std::string const over = R"({"pad":")" + std::string(11, 'x') + R"("})";
  CHECK(error_of(check.to_fact(over, 2)) ==
        "not a valid fact in the log: larger than 20 bytes (--max-fact-bytes)");
  CHECK(check.invalid_count() == 1);
}

TEST_CASE("an invalid seq read again is counted once, among the newest remembered") {
  quiet_log quiet;
  log_payloads check("nats://test/facts", 64 * 1024);
  for (int i = 0; i < 3; ++i)
    check.to_fact("nope", 5);
  CHECK(check.invalid_count() == 1);

  // Seq 5 and then remembered_seqs newer ones: 5 is still remembered at the bound...
  for (std::uint64_t seq = 6; seq < 5 + log_payloads::remembered_seqs; ++seq)
    check.to_fact("nope", seq);
  CHECK(check.invalid_count() == log_payloads::remembered_seqs);
  check.to_fact("nope", 5);
  CHECK(check.invalid_count() == log_payloads::remembered_seqs);
  // ...and forgotten one past it: read again, it is counted (and logged) again.
  check.to_fact("nope", 5 + log_payloads::remembered_seqs);
  check.to_fact("nope", 5);
  CHECK(check.invalid_count() == log_payloads::remembered_seqs + 2);
}
