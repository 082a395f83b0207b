// The token path on arbitrary bytes: check_token() against an HS256 secret and an ES256 public
// key (libjwt's parser and verifier, then our claims checks), and the same bytes as a request's
// Authorization, cookie and ?access_token= through the access gate. Nothing crashes, a refusal
// is a 401 or 403 that serializes, and no reason or answer ever repeats the token.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "facts/http/access_gate.hpp"
#include "facts/http/token_check.hpp"

namespace {

namespace http = facts::http;
namespace bhttp = boost::beast::http;

constexpr char const* es256_public_pem = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEuVhsErR+oPE0FEZCeV5+cqQLBu51
IHK1quof3YGH4LWVLi8nv9ttNe75fvu2S+IH6PJFX9XoL/lIARLOp80hpQ==
-----END PUBLIC KEY-----
)";

struct token_fixture {
  std::shared_ptr<http::token_key const> secret =
      http::parse_token_key("fuzz-secret-of-at-least-thirty-two-bytes").key;
  std::shared_ptr<http::token_key const> ec = http::parse_token_key(es256_public_pem).key;
  http::token_rules rules{"facts", "https://app.example", std::chrono::seconds(5)};
  http::cors_policy cors{{"https://a.example"}, true};
  http::access_gate gate{{true, "factsd_token", rules}, "publish-token", secret};
};

// Whether `text` could only be there because the token was copied: a token of some length with a
// dot, which no reason and no field of a refusal has (the version in Server: is shorter).
bool repeats(std::string_view text, std::string_view token) {
  return token.size() >= 16 && token.find('.') != std::string_view::npos &&
         text.find(token) != std::string_view::npos;
}

void check_refusal(http::response const& res, std::string_view token) {
  auto const status = res.result();
  if (status != bhttp::status::unauthorized && status != bhttp::status::forbidden) __builtin_trap();
  std::ostringstream out;
  out << res;
  if (repeats(out.str(), token)) __builtin_trap();
}

// Bytes a header or a URL can carry as they are: the gate sees what Beast's parser would let in.
bool fits_in_a_field(std::string_view text) {
  for (char const c : text)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f || c == ';' || c == '&' || c == '#')
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  static token_fixture const f;
  std::string_view const token(reinterpret_cast<char const*>(data), size);
  auto const now = std::chrono::system_clock::now();
  for (auto const* key : {f.secret.get(), f.ec.get()}) {
    auto const verdict = http::check_token(token, *key, f.rules, http::read_scope, now);
    if (verdict.what != http::token_verdict::outcome::ok && verdict.reason.empty())
      __builtin_trap();
    if (repeats(verdict.reason, token)) __builtin_trap();
  }
  if (!fits_in_a_field(token)) return 0;
  std::string const text(token);
  http::request by_header{bhttp::verb::get, "/status", 11};
  by_header.set(bhttp::field::authorization, "Bearer " + text);
  http::request by_cookie{bhttp::verb::get, "/facts", 11};
  by_cookie.set(bhttp::field::cookie, "a=b; factsd_token=" + text);
  http::request by_query{bhttp::verb::get, "/events?access_token=" + text, 11};
  for (auto* req : {&by_header, &by_cookie, &by_query}) {
    auto verdict = f.gate.check_read(*req, req == &by_query, f.cors);
    if (verdict.refusal) check_refusal(*verdict.refusal, token);
    auto post = *req;
    post.method(bhttp::verb::post);
    if (auto refused = f.gate.check_publish(post, f.cors)) check_refusal(*refused, token);
  }
  return 0;
}
