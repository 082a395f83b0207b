#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "facts/http/token_key.hpp"

namespace facts::http {

/** Represents what a token's claims must hold beyond its signature (--jwt-audience, --jwt-issuer).
 */
struct token_rules {
  std::string audience;  ///< empty: any `aud`, or none
  std::string issuer;    ///< empty: any `iss`, or none
  /// Clock skew forgiven between the signer and us, on `exp` and `nbf` of a request.
  std::chrono::seconds leeway{5};
};

/** Represents the outcome of one token check. */
struct token_verdict {
  enum class outcome {
    ok,            ///< verified, and holds the scope
    unauthorized,  ///< missing, malformed, forged, expired or not ours: 401
    forbidden,     ///< verified, without the scope: 403
  };
  outcome what = outcome::unauthorized;
  std::string reason;  ///< for the JSON error: never any of the token's bytes
  std::chrono::system_clock::time_point expires;  ///< the token's `exp`, when ok or forbidden
  std::string granted;  ///< its `scope` claim, when ok or forbidden (it was verified)
};

/// The longest token looked at: a header, a cookie or a query value far beyond any real token
/// is refused before it is decoded.
inline constexpr std::size_t max_token_bytes = 8 * 1024;

/// Verifies `token` against `key` with libjwt (its `alg` must be the key's), then its `exp`
/// (required), `nbf`, `aud`, `iss`, and that its `scope` claim lists `scope`. Never throws for
/// any token bytes.
token_verdict check_token(std::string_view token, token_key const& key, token_rules const& rules,
                          std::string_view scope, std::chrono::system_clock::time_point now);

/// Whether the space-separated `scopes` (OAuth's `scope` claim) lists `wanted`.
bool lists_scope(std::string_view scopes, std::string_view wanted);

}  // namespace facts::http
