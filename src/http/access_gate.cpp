#include "facts/http/access_gate.hpp"

#include "facts/http/request_fields.hpp"
#include "facts/http/responses.hpp"

namespace facts::http {

namespace {

constexpr std::string_view bearer_scheme = "Bearer ";

std::optional<std::string_view> bearer_token(request_header const& req) {
  auto const auth = field_value(req, bhttp::field::authorization);
  if (!auth || auth->size() < bearer_scheme.size() ||
      !beast::iequals(auth->substr(0, bearer_scheme.size()), bearer_scheme))
    return std::nullopt;
  auto token = auth->substr(bearer_scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  return token;
}

// `name=value` among `a=b; c=d` of every Cookie field (a proxy may split them, RFC 9113 8.2.3).
std::optional<std::string_view> cookie_value(request_header const& req, std::string_view name) {
  for (auto const& field : req) {
    if (field.name() != bhttp::field::cookie) continue;
    std::string_view rest = field.value();
    while (!rest.empty()) {
      auto const semicolon = rest.find(';');
      auto pair = rest.substr(0, semicolon);
      while (!pair.empty() && pair.front() == ' ')
        pair.remove_prefix(1);
      auto const eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        auto value = pair.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
          value = value.substr(1, value.size() - 2);
        return value;
      }
      if (semicolon == std::string_view::npos) break;
      rest.remove_prefix(semicolon + 1);
    }
  }
  return std::nullopt;
}

response refusal(token_verdict const& verdict, std::string_view scope, std::string_view what,
                 bool token_given, request_header const& req, cors_policy const& cors) {
  if (verdict.what == token_verdict::outcome::forbidden) {
    auto res = error_response(bhttp::status::forbidden, verdict.reason, req, cors);
    // RFC 6750, 3.1: the scope the request lacks.
    res.set(bhttp::field::www_authenticate,
            "Bearer error=\"insufficient_scope\", scope=\"" + std::string(scope) + "\"");
    return res;
  }
  auto res = error_response(bhttp::status::unauthorized, std::string(what) + ": " + verdict.reason,
                            req, cors);
  res.set(bhttp::field::www_authenticate,
          token_given ? "Bearer error=\"invalid_token\"" : "Bearer");
  return res;
}

}  // namespace

std::string_view request_token(request_header const& req, std::string_view cookie,
                               bool query_token) {
  if (auto const bearer = bearer_token(req)) return *bearer;
  if (auto const value = cookie_value(req, cookie); value && !value->empty()) return *value;
  if (query_token)
    if (auto const value = query_param(req.target(), "access_token")) return *value;
  return {};
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  if (authorization.size() < bearer_scheme.size() ||
      !beast::iequals(authorization.substr(0, bearer_scheme.size()), bearer_scheme))
    return false;
  auto const given = authorization.substr(bearer_scheme.size());
  if (token.empty()) return false;
  // Every byte is compared whatever the earlier ones were: the time taken says nothing about
  // how much of the token was right.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ token[i % token.size()]);
  return diff == 0;
}

access_gate::access_gate(settings rules, std::string publish_token,
                         std::shared_ptr<token_key const> key)
    : settings_(std::move(rules)),
      secrets_(std::make_shared<secrets const>(secrets{std::move(publish_token), std::move(key),
                                                       std::make_shared<verified_tokens>()})) {}

std::shared_ptr<access_gate::secrets const> access_gate::current() const {
  std::lock_guard lock(mutex_);
  return secrets_;
}

bool access_gate::publish_guarded() const {
  auto const now = current();
  return !now->publish_token.empty() || now->key;
}

void access_gate::replace_key(std::shared_ptr<token_key const> key) {
  std::lock_guard lock(mutex_);
  // With a fresh set of verified tokens: those of the old key must be verified again.
  secrets_ = std::make_shared<secrets const>(
      secrets{secrets_->publish_token, std::move(key), std::make_shared<verified_tokens>()});
}

void access_gate::replace_publish_token(std::string token) {
  std::lock_guard lock(mutex_);
  secrets_ =
      std::make_shared<secrets const>(secrets{std::move(token), secrets_->key, secrets_->verified});
}

token_verdict access_gate::verify(std::string_view token, secrets const& now,
                                  std::string_view scope) const {
  auto const clock = std::chrono::system_clock::now();
  if (auto const seen = now.verified->find(token)) {
    if (clock > seen->expires + settings_.rules.leeway)
      return {token_verdict::outcome::unauthorized, "the token has expired", {}, {}};
    if (!lists_scope(seen->scope, scope))
      return {token_verdict::outcome::forbidden,
              "the token's scope does not include " + std::string(scope), seen->expires,
              seen->scope};
    return {token_verdict::outcome::ok, {}, seen->expires, seen->scope};
  }
  auto verdict = check_token(token, *now.key, settings_.rules, scope, clock);
  if (verdict.what != token_verdict::outcome::unauthorized)
    now.verified->remember(token, {verdict.expires, verdict.granted});
  return verdict;
}

access_gate::read_verdict access_gate::check_read(request_header const& req, bool query_token,
                                                  cors_policy const& cors) const {
  if (!settings_.reads_need_token) return {};
  auto const now = current();
  auto const token = request_token(req, settings_.cookie, query_token);
  token_verdict verdict;
  if (!now->key)
    verdict.reason = "no --jwt-key is loaded";  // refused at start: kept for safety
  else
    verdict = verify(token, *now, read_scope);
  if (verdict.what == token_verdict::outcome::ok) return {std::nullopt, verdict.expires};
  return {refusal(verdict, read_scope, "reading needs a token with facts:read", !token.empty(), req,
                  cors),
          std::nullopt};
}

std::optional<response> access_gate::check_publish(request_header const& req,
                                                   cors_policy const& cors) const {
  auto const now = current();
  if (now->publish_token.empty() && !now->key) return std::nullopt;
  auto const auth = field_value(req, bhttp::field::authorization);
  if (!now->publish_token.empty() && auth && bearer_matches(*auth, now->publish_token))
    return std::nullopt;
  if (!now->key) {
    auto res = error_response(bhttp::status::unauthorized,
                              "POST /fact needs Authorization: Bearer <publish token>", req, cors);
    res.set(bhttp::field::www_authenticate, "Bearer");
    return res;
  }
  auto const token = request_token(req, settings_.cookie, false);
  auto const verdict = verify(token, *now, write_scope);
  if (verdict.what == token_verdict::outcome::ok) return std::nullopt;
  return refusal(verdict, write_scope,
                 now->publish_token.empty()
                     ? "POST /fact needs a token with facts:write"
                     : "POST /fact needs a token with facts:write or the publish token",
                 !token.empty(), req, cors);
}

}  // namespace facts::http
