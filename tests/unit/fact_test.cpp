#include <catch2/catch.hpp>

#include "facts/fact.hpp"

TEST_CASE("parse_fact keeps a JSON object in the order sent, compacted") {
  auto const r = facts::parse_fact(R"({ "source": "https://x", "info" : "a" })");
  REQUIRE(r.ok());
  CHECK(r.json == R"({"source":"https://x","info":"a"})");
}
