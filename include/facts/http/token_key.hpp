#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace facts::http {

/**
 * Represents the one key tokens are verified with (--jwt-key) and the one algorithm it
 * verifies. The algorithm comes from the key, never from a token: a token that names another
 * (`none`, or HS256 over a public key used as an HMAC secret) is refused whatever it is signed
 * with.
 */
struct token_key {
  enum class algorithm { hs256, rs256, es256 };
  algorithm alg = algorithm::hs256;
  std::string bytes;  ///< the HMAC secret, or the PEM public key as the file holds it
};

/// "HS256", "RS256" or "ES256": the `alg` a token must name.
std::string_view algorithm_name(token_key::algorithm alg);

/** Represents a key read from its file, or why it could not be. */
struct token_key_load {
  std::shared_ptr<token_key const> key;
  std::string error;  ///< set when `key` is null; one line, never the key's bytes
};

/// The shortest HS256 secret taken: the hash's own size (RFC 7518, 3.2).
inline constexpr std::size_t min_secret_bytes = 32;

/// A PEM public key (RSA: RS256; EC on P-256: ES256) or else an HMAC secret of at least
/// min_secret_bytes (HS256), its trailing line break dropped.
token_key_load parse_token_key(std::string text);

/// parse_token_key() of a file's contents.
token_key_load load_token_key(std::string const& path);

}  // namespace facts::http
