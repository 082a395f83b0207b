#include "support/token_mint.hpp"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <memory>
#include <stdexcept>
#include <vector>

namespace facts::test {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct bio_free {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

void check(bool ok, char const* what) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  auto const size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

pem_pair as_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, bio_free> const priv(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, bio_free> const pub(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(priv.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  check(PEM_write_bio_PUBKEY(pub.get(), key) == 1, "PEM_write_bio_PUBKEY");
  return {bio_text(priv.get()), bio_text(pub.get())};
}

pkey_ptr private_key(std::string const& pem) {
  std::unique_ptr<BIO, bio_free> const bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  check(key != nullptr, "PEM_read_bio_PrivateKey");
  return key;
}

std::string digest_sign(EVP_PKEY* key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> const ctx(EVP_MD_CTX_new());
  check(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1,
        "EVP_DigestSignInit");
  std::size_t size = 0;
  auto const* const bytes = reinterpret_cast<unsigned char const*>(input.data());
  check(EVP_DigestSign(ctx.get(), nullptr, &size, bytes, input.size()) == 1, "EVP_DigestSign");
  std::string out(size, '\0');
  check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &size, bytes,
                       input.size()) == 1,
        "EVP_DigestSign");
  out.resize(size);
  return out;
}

// JWS wants ES256's r and s as 32 bytes each, one after the other (RFC 7518, 3.4); OpenSSL
// signs in DER.
std::string der_to_jws(std::string const& der) {
  auto const* p = reinterpret_cast<unsigned char const*>(der.data());
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> const sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  check(sig != nullptr, "d2i_ECDSA_SIG");
  std::string out(64, '\0');
  auto* const raw = reinterpret_cast<unsigned char*>(out.data());
  check(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw, 32) == 32, "BN_bn2binpad r");
  check(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw + 32, 32) == 32, "BN_bn2binpad s");
  return out;
}

}  // namespace

pem_pair make_rsa_keys() {
  pkey_ptr const key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
  check(key != nullptr, "RSA keygen");
  return as_pem(key.get());
}

pem_pair make_ec_keys() {
  pkey_ptr const key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EC keygen");
  return as_pem(key.get());
}

std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  auto const n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                 reinterpret_cast<unsigned char const*>(bytes.data()),
                                 static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string jws_signature(std::string_view alg, std::string const& key,
                          std::string_view signing_input) {
  if (alg == "none") return {};
  if (alg == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    check(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<unsigned char const*>(signing_input.data()), signing_input.size(),
               mac, &size) != nullptr,
          "HMAC");
    return std::string(reinterpret_cast<char const*>(mac), size);
  }
  auto const pkey = private_key(key);
  auto const signature = digest_sign(pkey.get(), signing_input);
  if (alg == "RS256") return signature;
  if (alg == "ES256") return der_to_jws(signature);
  throw std::invalid_argument("no such algorithm: " + std::string(alg));
}

std::string mint_token(std::string_view alg, std::string const& key, nlohmann::json const& claims) {
  nlohmann::json const header = {{"alg", alg}, {"typ", "JWT"}};
  auto const input = base64url(header.dump()) + "." + base64url(claims.dump());
  return input + "." + base64url(jws_signature(alg, key, input));
}

nlohmann::json claims_for(std::string const& scope, std::chrono::seconds lifetime) {
  auto const now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return {{"sub", "reader"}, {"scope", scope}, {"iat", now}, {"exp", now + lifetime.count()}};
}

}  // namespace facts::test
