#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "facts/store/nats_url.hpp"

using facts::parse_nats_url;
using servers = std::vector<std::string>;

TEST_CASE("parse_nats_url takes servers, stream and replicas apart") {
  auto const one = parse_nats_url("nats://127.0.0.1:4222/facts");
  REQUIRE(one.url);
  CHECK(one.url->servers == servers{"nats://127.0.0.1:4222"});
  CHECK(one.url->stream == "facts");
  CHECK(one.url->replicas == 1);
  CHECK(one.url->subject() == "facts.facts");
  CHECK(one.url->user.empty());
  CHECK(one.url->token.empty());

  auto const three = parse_nats_url("nats://a:4222,b:4223,[::1]:4224/FACTS_1-x?replicas=3");
  REQUIRE(three.url);
  CHECK(three.url->servers == servers{"nats://a:4222", "nats://b:4223", "nats://[::1]:4224"});
  CHECK(three.url->stream == "FACTS_1-x");
  CHECK(three.url->replicas == 3);
}

TEST_CASE("parse_nats_url gives a server without a port NATS's 4222") {
  auto const parsed = parse_nats_url("nats://nats.internal/facts");
  REQUIRE(parsed.url);
  CHECK(parsed.url->servers == servers{"nats://nats.internal:4222"});
}

TEST_CASE("parse_nats_url reads a user and password, or a token, and hides them in describe()") {
  auto const login = parse_nats_url("nats://alice:p%40ss%3Aword@127.0.0.1:4222/facts");
  REQUIRE(login.url);
  CHECK(login.url->user == "alice");
  CHECK(login.url->password == "p@ss:word");
  CHECK(login.url->token.empty());
  CHECK(login.url->describe() == "nats://alice:***@127.0.0.1:4222/facts?replicas=1");

  auto const token = parse_nats_url("nats://s3cret@127.0.0.1:4222,127.0.0.1:4223/facts");
  REQUIRE(token.url);
  CHECK(token.url->token == "s3cret");
  CHECK(token.url->user.empty());
  CHECK(token.url->describe() == "nats://***@127.0.0.1:4222,127.0.0.1:4223/facts?replicas=1");
}

TEST_CASE("parse_nats_url refuses what is not a nats store URL, with a reason") {
  auto const text = GENERATE(
      as<std::string>{}, "nats:/127.0.0.1:4222/facts", "http://127.0.0.1:4222/facts",
      "nats://127.0.0.1:4222", "nats://127.0.0.1:4222/", "nats:///facts",
      "nats://127.0.0.1:4222,/facts", "nats://127.0.0.1:0/facts", "nats://127.0.0.1:65536/facts",
      "nats://127.0.0.1:x/facts", "nats://127.0.0.1:4222/fa.cts", "nats://127.0.0.1:4222/fa*",
      "nats://127.0.0.1:4222/facts?replicas=0", "nats://127.0.0.1:4222/facts?replicas=6",
      "nats://127.0.0.1:4222/facts?replicas=", "nats://127.0.0.1:4222/facts?r=1",
      "nats://@127.0.0.1:4222/facts", "nats://u:%zz@127.0.0.1:4222/facts", "nats://[::1/facts");
  CAPTURE(text);
  auto const parsed = parse_nats_url(text);
  CHECK_FALSE(parsed.url);
  CHECK_FALSE(parsed.error.empty());
}

TEST_CASE("parse_nats_url allows stream names up to 64 characters") {
  CHECK(parse_nats_url("nats://h:1/" + std::string(64, 'a')).url);
  CHECK_FALSE(parse_nats_url("nats://h:1/" + std::string(65, 'a')).url);
}
