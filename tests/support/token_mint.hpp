#pragma once

// Tokens as an application's backend signs them, for the token tests: keys made with OpenSSL
// and JWTs signed with OpenSSL directly (not with libjwt, which factsd verifies with), so a
// test shows that factsd takes what other signers make, in JWS's own signature formats.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace facts::test {

/** Represents a key pair as PEM text. */
struct pem_pair {
  std::string private_pem;
  std::string public_pem;
};

/// A fresh RSA 2048 key pair (RS256).
pem_pair make_rsa_keys();

/// A fresh EC P-256 key pair (ES256).
pem_pair make_ec_keys();

/// base64url without padding (RFC 7515, 2).
std::string base64url(std::string_view bytes);

/// The JWS signature of `signing_input` for `alg` ("HS256", "RS256", "ES256"; "none": empty)
/// with `key` (the HMAC secret, or a private key as PEM), as raw bytes.
std::string jws_signature(std::string_view alg, std::string const& key,
                          std::string_view signing_input);

/// A compact JWT: header {"alg": alg, "typ": "JWT"}, `claims`, signed with `key`.
std::string mint_token(std::string_view alg, std::string const& key, nlohmann::json const& claims);

/// Claims with `scope`, `exp` at now + `lifetime` (in whole seconds since the epoch), and
/// `iat`.
nlohmann::json claims_for(std::string const& scope, std::chrono::seconds lifetime);

}  // namespace facts::test
