#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "facts/http/access_gate.hpp"
#include "facts/http/request_fields.hpp"
#include "facts/http/token_check.hpp"
#include "facts/http/token_key.hpp"
#include "support/files.hpp"
#include "support/token_mint.hpp"

using namespace std::chrono_literals;
using facts::http::check_token;
using facts::http::token_key;
using facts::http::token_rules;
using outcome = facts::http::token_verdict::outcome;
using facts::test::base64url;
using facts::test::claims_for;
using facts::test::mint_token;

namespace {

std::string const secret = "0123456789abcdef0123456789abcdef-test-secret";

/** Represents the keys of the token tests, made once: an RSA key takes a while under ASan. */
struct token_keys {
  facts::test::pem_pair rsa = facts::test::make_rsa_keys();
  facts::test::pem_pair ec = facts::test::make_ec_keys();
  facts::test::pem_pair other_ec = facts::test::make_ec_keys();
};

token_keys const& keys() {
  static token_keys const made;
  return made;
}

token_key key_of(std::string text) {
  auto loaded = facts::http::parse_token_key(std::move(text));
  INFO(loaded.error);
  REQUIRE(loaded.key);
  return *loaded.key;
}

facts::http::token_verdict verify(std::string const& token, token_key const& key,
                                  token_rules const& rules = {},
                                  std::string_view scope = "facts:read") {
  return check_token(token, key, rules, scope, std::chrono::system_clock::now());
}

std::int64_t epoch_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A token whose header and claims are given as raw text, signed as `alg` with `key`.
std::string raw_token(std::string const& header, std::string const& claims, std::string_view alg,
                      std::string const& key) {
  auto const input = base64url(header) + "." + base64url(claims);
  return input + "." + base64url(facts::test::jws_signature(alg, key, input));
}

}  // namespace

TEST_CASE("tokens signed with the key's algorithm are taken: HS256, RS256, ES256") {
  auto const claims = claims_for("facts:read", 60s);
  auto const [alg, signing, verifying] = GENERATE(table<std::string, std::string, std::string>({
      {"HS256", secret, secret},
      {"RS256", keys().rsa.private_pem, keys().rsa.public_pem},
      {"ES256", keys().ec.private_pem, keys().ec.public_pem},
  }));
  INFO(alg);
  auto const verdict = verify(mint_token(alg, signing, claims), key_of(verifying));
  INFO(verdict.reason);
  CHECK(verdict.what == outcome::ok);
  CHECK(verdict.expires.time_since_epoch() ==
        std::chrono::seconds(claims["exp"].get<std::int64_t>()));
}

TEST_CASE("a token's time claims: exp required and honoured, nbf honoured, a few seconds' leeway") {
  auto const key = key_of(secret);
  auto const now = epoch_now();
  auto const with = [&](nlohmann::json claims) {
    claims["scope"] = "facts:read";
    return verify(mint_token("HS256", secret, claims), key).what;
  };
  CHECK(with({{"exp", now - 60}}) == outcome::unauthorized);
  CHECK(with({{"exp", now - 2}}) == outcome::ok);        // within the leeway
  CHECK(with({{"iat", now}}) == outcome::unauthorized);  // no exp at all
  CHECK(with({{"exp", "tomorrow"}}) == outcome::unauthorized);
  CHECK(with({{"exp", 1e300}}) == outcome::unauthorized);
  CHECK(with({{"exp", now + 60}, {"nbf", now + 60}}) == outcome::unauthorized);
  CHECK(with({{"exp", now + 60}, {"nbf", now + 2}}) == outcome::ok);
  CHECK(with({{"exp", now + 60}, {"nbf", "later"}}) == outcome::unauthorized);
}

TEST_CASE("a token with a wrong signature is refused") {
  auto const claims = claims_for("facts:read", 60s);
  CHECK(verify(mint_token("HS256", secret + "x", claims), key_of(secret)).what ==
        outcome::unauthorized);
  CHECK(
      verify(mint_token("ES256", keys().other_ec.private_pem, claims), key_of(keys().ec.public_pem))
          .what == outcome::unauthorized);
  // The claims changed after signing: the signature no longer covers them.
  auto token = mint_token("HS256", secret, claims);
  auto const dot = token.find('.');
  auto forged = claims;
  forged["scope"] = "facts:read facts:write";
  token.replace(dot + 1, token.find('.', dot + 1) - dot - 1, base64url(forged.dump()));
  CHECK(verify(token, key_of(secret), {}, "facts:write").what == outcome::unauthorized);
}

TEST_CASE("--jwt-audience and --jwt-issuer must match when given") {
  auto const key = key_of(secret);
  token_rules const rules{"facts", "https://app.example", 5s};
  auto claims = claims_for("facts:read", 60s);
  claims["aud"] = "facts";
  claims["iss"] = "https://app.example";
  CHECK(verify(mint_token("HS256", secret, claims), key, rules).what == outcome::ok);
  claims["aud"] = nlohmann::json::array({"other", "facts"});
  CHECK(verify(mint_token("HS256", secret, claims), key, rules).what == outcome::ok);

  auto wrong_aud = claims;
  wrong_aud["aud"] = "billing";
  CHECK(verify(mint_token("HS256", secret, wrong_aud), key, rules).what == outcome::unauthorized);
  auto no_aud = claims;
  no_aud.erase("aud");
  CHECK(verify(mint_token("HS256", secret, no_aud), key, rules).what == outcome::unauthorized);
  auto wrong_iss = claims;
  wrong_iss["iss"] = "https://evil.example";
  CHECK(verify(mint_token("HS256", secret, wrong_iss), key, rules).what == outcome::unauthorized);
  // Without the rules, neither claim matters.
  CHECK(verify(mint_token("HS256", secret, wrong_iss), key).what == outcome::ok);
}

TEST_CASE("alg none is refused, whatever the key") {
  auto const claims = claims_for("facts:read", 60s);
  auto const token = mint_token("none", "", claims);
  CHECK(token.back() == '.');
  for (auto const& key :
       {key_of(secret), key_of(keys().rsa.public_pem), key_of(keys().ec.public_pem)})
    CHECK(verify(token, key).what == outcome::unauthorized);
  // Nor with a signature appended anyway.
  CHECK(verify(token + base64url("junk"), key_of(secret)).what == outcome::unauthorized);
}

TEST_CASE("algorithm confusion: HS256 signed with the public key as secret is refused") {
  auto const claims = claims_for("facts:read", 60s);
  for (auto const* pem : {&keys().rsa.public_pem, &keys().ec.public_pem}) {
    auto const key = key_of(*pem);
    // The attacker knows the public key: an HMAC with it as the secret is what a verifier
    // that trusted the token's alg would accept.
    auto const verdict = verify(mint_token("HS256", *pem, claims), key);
    CHECK(verdict.what == outcome::unauthorized);
    CHECK(verdict.reason.find("not signed with") != std::string::npos);
  }
  // And the other way round: an RS256 token against an HS256 secret.
  CHECK(verify(mint_token("RS256", keys().rsa.private_pem, claims), key_of(secret)).what ==
        outcome::unauthorized);
  // ES256 where the key is RS256.
  CHECK(verify(mint_token("ES256", keys().ec.private_pem, claims), key_of(keys().rsa.public_pem))
            .what == outcome::unauthorized);
}

TEST_CASE("a verified token without the scope is forbidden, not unauthorized") {
  auto const key = key_of(secret);
  auto const scoped = [&](nlohmann::json scope) {
    auto claims = claims_for("", 60s);
    if (scope.is_null())
      claims.erase("scope");
    else
      claims["scope"] = scope;
    return verify(mint_token("HS256", secret, claims), key).what;
  };
  CHECK(scoped("facts:read") == outcome::ok);
  CHECK(scoped("openid facts:read profile") == outcome::ok);
  CHECK(scoped("facts:write") == outcome::forbidden);
  CHECK(scoped("facts:readonly") == outcome::forbidden);
  CHECK(scoped("facts") == outcome::forbidden);
  CHECK(scoped("") == outcome::forbidden);
  CHECK(scoped(nullptr) == outcome::forbidden);
  CHECK(scoped(nlohmann::json::array({"facts:read"})) == outcome::forbidden);
}

TEST_CASE("malformed tokens are unauthorized, never a crash") {
  auto const key = key_of(secret);
  auto const ec_key = key_of(keys().ec.public_pem);
  auto const good = mint_token("HS256", secret, claims_for("facts:read", 60s));
  auto const header = R"({"alg":"HS256","typ":"JWT"})";
  auto const claims = claims_for("facts:read", 60s).dump();
  std::string huge_header =
      R"({"alg":"HS256","typ":"JWT","x":")" + std::string(100'000, 'a') + "\"}";
  std::string big_header = R"({"alg":"HS256","typ":"JWT","x":")" + std::string(5'000, 'a') + "\"}";
  auto const bad = GENERATE_COPY(values<std::string>({
      "",
      ".",
      "..",
      "...",
      "a.b.c",
      "a.b",
      "not a token",
      good.substr(0, good.size() / 2),             // truncated in the claims
      good.substr(0, good.size() - 5),             // truncated signature
      good.substr(0, good.rfind('.')),             // no signature part
      good + ".extra",                             // a fourth part
      good.substr(0, 3) + "!!!" + good.substr(6),  // not base64url
      std::string("\0", 1) + good,                 // a NUL in front
      good.substr(0, 10) + std::string("\0", 1) + good.substr(10),
      raw_token(huge_header, claims, "HS256", secret),  // 133 KB
      raw_token("not json", claims, "HS256", secret),
      raw_token(header, "not json", "HS256", secret),
      raw_token(header, "[1,2,3]", "HS256", secret),
      raw_token(header, "\"a string\"", "HS256", secret),
      raw_token(R"({"typ":"JWT"})", claims, "HS256", secret),  // no alg
      raw_token(R"({"alg":"HS999"})", claims, "HS256", secret),
      raw_token(R"({"alg":12})", claims, "HS256", secret),
      std::string(9000, 'A') + "." + std::string(9000, 'B') + "." + std::string(90, 'C'),
  }));
  INFO(bad.substr(0, 200));
  CHECK(verify(bad, key).what == outcome::unauthorized);
  CHECK(verify(bad, ec_key).what == outcome::unauthorized);
  // A header of 5 KB, under the bound, is verified like any other.
  auto const big = verify(raw_token(big_header, claims, "HS256", secret), key);
  INFO(big.reason);
  CHECK(big.what == outcome::ok);
}

TEST_CASE("--jwt-key: a secret of 32 bytes or more, or a PEM public key of RSA or P-256") {
  using alg = token_key::algorithm;
  CHECK(key_of(secret).alg == alg::hs256);
  CHECK(key_of(secret + "\n").bytes == secret);  // a file's line break is not the secret's
  CHECK(key_of(keys().rsa.public_pem).alg == alg::rs256);
  CHECK(key_of(keys().ec.public_pem).alg == alg::es256);

  auto const refused = [](std::string text) {
    auto const loaded = facts::http::parse_token_key(std::move(text));
    INFO(loaded.error);
    CHECK_FALSE(loaded.key);
    CHECK_FALSE(loaded.error.empty());
    return loaded.error;
  };
  CHECK(refused("too short").find("32 bytes") != std::string::npos);
  CHECK(refused(std::string(31, 'x') + "\n").find("32 bytes") != std::string::npos);
  // The daemon only verifies: a private key is refused (and never echoed).
  auto const why = refused(keys().ec.private_pem);
  CHECK(why.find("PRIVATE") == std::string::npos);
  refused("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");

  facts::test::temp_dir dir;
  dir.write("key.pem", keys().ec.public_pem);
  auto const loaded = facts::http::load_token_key(dir / "key.pem");
  REQUIRE(loaded.key);
  CHECK(loaded.key->alg == alg::es256);
  auto const missing = facts::http::load_token_key(dir / "missing");
  CHECK_FALSE(missing.key);
  CHECK(missing.error.find("missing") != std::string::npos);
}

TEST_CASE("a request's token: Authorization first, then the cookie, then ?access_token=") {
  using facts::http::request_token;
  facts::http::request req{facts::http::bhttp::verb::get, "/events?access_token=q", 11};
  CHECK(request_token(req, "factsd_token", true) == "q");
  CHECK(request_token(req, "factsd_token", false).empty());  // only /events takes the query
  req.set(facts::http::bhttp::field::cookie, "theme=dark; factsd_token=c; other=1");
  CHECK(request_token(req, "factsd_token", true) == "c");
  CHECK(request_token(req, "session", true) == "q");
  req.set(facts::http::bhttp::field::authorization, "Bearer h");
  CHECK(request_token(req, "factsd_token", true) == "h");
  req.set(facts::http::bhttp::field::authorization, "Basic aDpo");
  CHECK(request_token(req, "factsd_token", true) == "c");
}

TEST_CASE("a logged target never holds an access_token") {
  using facts::http::target_for_log;
  CHECK(target_for_log("/events") == "/events");
  CHECK(target_for_log("/events?lastEventId=4") == "/events?lastEventId=4");
  CHECK(target_for_log("/events?access_token=abc.def.ghi") == "/events?access_token=<hidden>");
  CHECK(target_for_log("/events?lastEventId=4&access_token=abc&x=1") ==
        "/events?lastEventId=4&access_token=<hidden>&x=1");
  CHECK(target_for_log("/events?ACCESS_TOKEN=abc").find("abc") == std::string::npos);
  CHECK(target_for_log("/events?access%5Ftoken=abc").find("abc") == std::string::npos);
}

TEST_CASE("lists_scope matches whole space-separated words") {
  using facts::http::lists_scope;
  CHECK(lists_scope("facts:read", "facts:read"));
  CHECK(lists_scope("a facts:read b", "facts:read"));
  CHECK_FALSE(lists_scope("facts:reader", "facts:read"));
  CHECK_FALSE(lists_scope("", "facts:read"));
  CHECK_FALSE(lists_scope("  ", "facts:read"));
}
