#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "facts/http/cors.hpp"
#include "facts/http/net.hpp"
#include "facts/http/token_check.hpp"
#include "facts/http/token_key.hpp"
#include "facts/http/verified_tokens.hpp"

namespace facts::http {

/// The scope a token needs to read (the streams, pages, single facts and /status).
inline constexpr std::string_view read_scope = "facts:read";
/// The scope a token needs to publish (POST /fact), beside the publish token.
inline constexpr std::string_view write_scope = "facts:write";

/**
 * Represents who may read and who may publish: the rules from the command line, fixed, and the
 * secrets (--jwt-key, the publish token), which SIGHUP replaces while requests are checked
 * against them. Routing asks it before a route runs; any thread may.
 */
class access_gate {
 public:
  /** Represents the rules that never change while the daemon runs. */
  struct settings {
    bool reads_need_token = false;        ///< --read-auth token
    std::string cookie = "factsd_token";  ///< --jwt-cookie
    token_rules rules;                    ///< --jwt-audience, --jwt-issuer
  };

  /** Represents a read's outcome: a refusal to send, or the reader's token's expiry. */
  struct read_verdict {
    std::optional<response> refusal;
    /// When the token that let the reader in expires; none for an open feed.
    std::optional<std::chrono::system_clock::time_point> expires;
  };

  /// Anyone reads and publishes: the tutorial's default.
  access_gate() = default;
  access_gate(settings rules, std::string publish_token, std::shared_ptr<token_key const> key);

  /// Checks a read request's token: the query's `access_token` only when `query_token` (the
  /// event stream, whose EventSource cannot set a header).
  read_verdict check_read(request_header const& req, bool query_token,
                          cors_policy const& cors) const;

  /// nullopt when `req` may publish: no secret is set, the publish token matches, or it
  /// carries a token with write_scope; else the 401 or 403.
  std::optional<response> check_publish(request_header const& req, cors_policy const& cors) const;

  bool reads_need_token() const { return settings_.reads_need_token; }
  /// Whether POST /fact needs a secret: a publish token or a --jwt-key is set.
  bool publish_guarded() const;

  /// SIGHUP's: the requests checked from now on see the new secret.
  void replace_key(std::shared_ptr<token_key const> key);
  void replace_publish_token(std::string token);

 private:
  /** Represents the secrets at one moment, replaced whole. */
  struct secrets {
    std::string publish_token;  ///< empty: none
    std::shared_ptr<token_key const> key;
    /// The tokens `key` verified: a new key starts with none.
    std::shared_ptr<verified_tokens> verified = std::make_shared<verified_tokens>();
  };

  std::shared_ptr<secrets const> current() const;
  /// check_token() against `now`'s key, through its verified tokens.
  token_verdict verify(std::string_view token, secrets const& now, std::string_view scope) const;

  settings settings_;
  mutable std::mutex mutex_;  // guards secrets_ (the pointer; what it points to never changes)
  std::shared_ptr<secrets const> secrets_ = std::make_shared<secrets const>();
};

/// The token a request carries, in the order looked for: `Authorization: Bearer`, the cookie
/// `cookie`, then (only when `query_token`) the target's `access_token`. Empty when none.
std::string_view request_token(request_header const& req, std::string_view cookie,
                               bool query_token);

/// True when `authorization` is `Bearer <token>`; compares in constant time.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace facts::http
