#include "facts/http/token_check.hpp"

#include <jwt.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

namespace facts::http {

namespace {

using outcome = token_verdict::outcome;

struct jwt_release {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
struct c_string_release {
  void operator()(char* text) const { std::free(text); }
};

token_verdict refuse(std::string reason) {
  return {outcome::unauthorized, std::move(reason), {}, {}};
}

jwt_alg_t libjwt_algorithm(token_key::algorithm alg) {
  switch (alg) {
    case token_key::algorithm::hs256:
      return JWT_ALG_HS256;
    case token_key::algorithm::rs256:
      return JWT_ALG_RS256;
    case token_key::algorithm::es256:
      return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

// A NumericDate (RFC 7519, 2): seconds since the epoch, fractions allowed and dropped.
std::optional<std::chrono::system_clock::time_point> numeric_date(nlohmann::json const& claims,
                                                                  char const* name) {
  auto const it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return std::nullopt;
  auto const seconds = it->get<double>();
  // Beyond a few centuries a date is a forgery or a mistake, and would overflow the clock.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e10) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(static_cast<std::int64_t>(seconds)));
}

bool audience_matches(nlohmann::json const& claims, std::string const& audience) {
  auto const it = claims.find("aud");
  if (it == claims.end()) return false;
  if (it->is_string()) return it->get_ref<std::string const&>() == audience;
  if (!it->is_array()) return false;
  for (auto const& one : *it)
    if (one.is_string() && one.get_ref<std::string const&>() == audience) return true;
  return false;
}

token_verdict check_claims(nlohmann::json const& claims, token_rules const& rules,
                           std::string_view scope, std::chrono::system_clock::time_point now) {
  if (!claims.is_object()) return refuse("the token's claims are not a JSON object");
  auto const expires = numeric_date(claims, "exp");
  if (!expires) return refuse("the token has no valid exp claim");
  if (now > *expires + rules.leeway) return refuse("the token has expired");
  if (claims.contains("nbf")) {
    auto const not_before = numeric_date(claims, "nbf");
    if (!not_before) return refuse("the token's nbf claim is not a date");
    if (now + rules.leeway < *not_before) return refuse("the token is not valid yet (nbf)");
  }
  if (!rules.issuer.empty()) {
    auto const it = claims.find("iss");
    if (it == claims.end() || !it->is_string() || it->get_ref<std::string const&>() != rules.issuer)
      return refuse("the token's issuer is not the one expected (--jwt-issuer)");
  }
  if (!rules.audience.empty() && !audience_matches(claims, rules.audience))
    return refuse("the token is not for this audience (--jwt-audience)");
  auto const claim = claims.find("scope");
  std::string granted;
  if (claim != claims.end() && claim->is_string()) granted = claim->get<std::string>();
  if (!lists_scope(granted, scope))
    return {outcome::forbidden, "the token's scope does not include " + std::string(scope),
            *expires, std::move(granted)};
  return {outcome::ok, {}, *expires, std::move(granted)};
}

}  // namespace

bool lists_scope(std::string_view scopes, std::string_view wanted) {
  while (!scopes.empty()) {
    auto const space = scopes.find(' ');
    if (scopes.substr(0, space) == wanted) return true;
    if (space == std::string_view::npos) break;
    scopes.remove_prefix(space + 1);
  }
  return false;
}

token_verdict check_token(std::string_view token, token_key const& key, token_rules const& rules,
                          std::string_view scope, std::chrono::system_clock::time_point now) {
  if (token.empty()) return refuse("no token");
  if (token.size() > max_token_bytes) return refuse("the token is too long");
  // libjwt reads a C string: a NUL inside would cut the token short unseen.
  if (token.find('\0') != std::string_view::npos) return refuse("the token is malformed");
  std::string const text(token);
  jwt_t* decoded = nullptr;
  // Verifies the signature with the algorithm the token's header names; which algorithm that
  // is, is checked right after, before anything of the token is believed.
  int const err =
      jwt_decode(&decoded, text.c_str(), reinterpret_cast<unsigned char const*>(key.bytes.data()),
                 static_cast<int>(key.bytes.size()));
  std::unique_ptr<jwt_t, jwt_release> const jwt(decoded);
  if (err != 0 || !jwt) return refuse("the token is malformed or its signature is wrong");
  if (jwt_get_alg(jwt.get()) != libjwt_algorithm(key.alg))
    return refuse("the token is not signed with " + std::string(algorithm_name(key.alg)) +
                  " (the algorithm of --jwt-key)");
  std::unique_ptr<char, c_string_release> const grants(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants) return refuse("the token has no claims");
  auto const claims = nlohmann::json::parse(grants.get(), nullptr, false);
  if (claims.is_discarded()) return refuse("the token's claims are not JSON");
  return check_claims(claims, rules, scope, now);
}

}  // namespace facts::http
