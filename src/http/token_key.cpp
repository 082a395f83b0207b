#include "facts/http/token_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

namespace facts::http {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct bio_free {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

token_key_load failed(std::string why) {
  return {nullptr, std::move(why)};
}

token_key_load public_key(std::string pem) {
  std::unique_ptr<BIO, bio_free> const bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return failed("out of memory");
  std::unique_ptr<EVP_PKEY, pkey_free> const pkey(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  // A private key is refused too: the daemon only verifies, and should not hold what signs.
  if (!pkey) return failed("not a PEM public key (BEGIN PUBLIC KEY)");
  auto key = std::make_shared<token_key>();
  key->bytes = std::move(pem);
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    if (EVP_PKEY_get_bits(pkey.get()) < 2048) return failed("an RSA key needs 2048 bits or more");
    key->alg = token_key::algorithm::rs256;
    return {std::move(key), {}};
  }
  if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char curve[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), "group", curve, sizeof curve, &length) != 1 ||
        std::string_view(curve, length) != "prime256v1")
      return failed("an EC key must be on P-256 (ES256)");
    key->alg = token_key::algorithm::es256;
    return {std::move(key), {}};
  }
  return failed("the public key is neither RSA (RS256) nor EC P-256 (ES256)");
}

}  // namespace

std::string_view algorithm_name(token_key::algorithm alg) {
  switch (alg) {
    case token_key::algorithm::hs256:
      return "HS256";
    case token_key::algorithm::rs256:
      return "RS256";
    case token_key::algorithm::es256:
      return "ES256";
  }
  return "HS256";
}

token_key_load parse_token_key(std::string text) {
  if (text.find("-----BEGIN") != std::string::npos) return public_key(std::move(text));
  // A secret written with `echo` or an editor ends with a line break the signer never used.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  if (text.size() < min_secret_bytes)
    return failed("an HS256 secret needs at least " + std::to_string(min_secret_bytes) +
                  " bytes (this one has " + std::to_string(text.size()) + ")");
  auto key = std::make_shared<token_key>();
  key->alg = token_key::algorithm::hs256;
  key->bytes = std::move(text);
  return {std::move(key), {}};
}

token_key_load load_token_key(std::string const& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return failed("cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return failed("cannot read '" + path + "'");
  auto loaded = parse_token_key(std::move(text).str());
  if (!loaded.key) loaded.error = "'" + path + "': " + loaded.error;
  return loaded;
}

}  // namespace facts::http
