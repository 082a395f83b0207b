#include <catch2/catch.hpp>
#include <string>

#include "facts/fact.hpp"

TEST_CASE("parse_fact keeps a JSON object in the order sent, compacted") {
  auto const r = facts::parse_fact(R"({ "source": "https://x", "info" : "a" })");
  REQUIRE(r.ok());
  CHECK(r.error.empty());
  CHECK(r.json == R"({"source":"https://x","info":"a"})");
}

TEST_CASE("parse_fact keeps field order even when it is not alphabetical") {
  auto const r = facts::parse_fact(R"({"z":1,"a":2,"m":{"y":true,"b":null}})");
  REQUIRE(r.ok());
  CHECK(r.json == R"({"z":1,"a":2,"m":{"y":true,"b":null}})");
}

TEST_CASE("parse_fact output is one line, so it fits one SSE data: line") {
  // Whitespace between tokens goes away; a "\n" escape inside a string stays an escape.
  auto const r = facts::parse_fact("{\r\n  \"info\":\t\"line1\\nline2\\r\",\n  \"n\": [1, 2]\n}\n");
  REQUIRE(r.ok());
  CHECK(r.json == R"({"info":"line1\nline2\r","n":[1,2]})");
  CHECK(r.json.find('\n') == std::string::npos);
  CHECK(r.json.find('\r') == std::string::npos);
  CHECK(r.json.find(' ') == std::string::npos);
}

TEST_CASE("parse_fact keeps non-ASCII text as UTF-8") {
  auto const r = facts::parse_fact("{\"info\":\"caf\xC3\xA9 \xE2\x9C\x93\"}");
  REQUIRE(r.ok());
  CHECK(r.json == "{\"info\":\"caf\xC3\xA9 \xE2\x9C\x93\"}");
}

TEST_CASE("parse_fact accepts an empty object") {
  auto const r = facts::parse_fact("{}");
  REQUIRE(r.ok());
  CHECK(r.json == "{}");
}

TEST_CASE("parse_fact rejects anything that is not one JSON object, with a reason") {
  auto const body = GENERATE(as<std::string>{},
                             "",                          // empty body
                             "   ",                       // only whitespace
                             "{",                         // truncated
                             R"({"a":1,})",               // trailing comma
                             R"({'a':1})",                // not JSON quotes
                             R"({"a":1} x)",              // trailing garbage
                             R"({"a":1}{"b":2})",         // two objects
                             R"([{"a":1}])",              // array
                             "[]",                        // empty array
                             R"("text")",                 // string
                             "42",                        // number
                             "true",                      // boolean
                             "null",                      // null
                             "{\"a\":\"\xff\"}",          // invalid UTF-8 inside a string
                             "{\"a\":\"\xC3\"}",          // truncated UTF-8 sequence
                             "{\"a\":\"\xED\xA0\x80\"}",  // UTF-8 encoded surrogate
                             "{\"a\":\"x\ny\"}");         // raw newline inside a string
  CAPTURE(body);
  auto const r = facts::parse_fact(body);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.error.empty());
  CHECK(r.json.empty());
}

TEST_CASE("parse_fact rejects a NUL byte and whatever follows it") {
  // nlohmann's lexer reads '\0' as the end of input, so the bytes after a NUL are never looked
  // at: `{"a":1}<NUL>garbage` is accepted as {"a":1} and the rest silently dropped.
  auto const body = GENERATE(std::string("{\"a\":1}\0", 8), std::string("{\"a\":1}\0garbage", 15),
                             std::string("{\"a\":1}\0{\"b\":2}", 15));
  CAPTURE(body);
  auto const r = facts::parse_fact(body);
  CHECK_FALSE(r.ok());
  CHECK(r.json.empty());
}

namespace {

// An object whose value is nested `depth` levels deep in all, the object counting as one.
std::string nested(std::size_t depth) {
  return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

}  // namespace

TEST_CASE("parse_fact accepts nesting up to max_fact_depth") {
  auto const r = facts::parse_fact(nested(facts::max_fact_depth));
  REQUIRE(r.ok());
  CHECK(r.json == nested(facts::max_fact_depth));
}

TEST_CASE("parse_fact refuses deeper nesting, even far deeper, without crashing") {
  // dump() recurses: a 64 KiB body of brackets would otherwise exhaust the stack.
  auto const depth = GENERATE(facts::max_fact_depth + 1, std::size_t{30000});
  auto const r = facts::parse_fact(nested(depth));
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.error.empty());
}

TEST_CASE("brackets inside strings do not count as nesting") {
  std::string const text(200, '[');
  auto const body = "{\"a\":\"" + text + "\\\"" + text + "\"}";
  auto const r = facts::parse_fact(body);
  REQUIRE(r.ok());
  CHECK(r.json == body);
}
