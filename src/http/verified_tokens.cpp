#include "facts/http/verified_tokens.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace facts::http {

std::size_t verified_tokens::digest_hash::operator()(digest const& d) const {
  // A SHA-256 is uniform already: its first bytes are as good a hash as any.
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

verified_tokens::digest verified_tokens::digest_of(std::string_view token) {
  digest out{};
  unsigned int size = 0;
  EVP_Digest(token.data(), token.size(), out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

std::optional<verified_tokens::entry> verified_tokens::find(std::string_view token) const {
  auto const key = digest_of(token);
  std::lock_guard lock(mutex_);
  auto const it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void verified_tokens::remember(std::string_view token, entry found) {
  auto const key = digest_of(token);
  std::lock_guard lock(mutex_);
  if (entries_.size() >= max_entries) {
    auto const now = std::chrono::system_clock::now();
    std::erase_if(entries_, [&](auto const& kv) { return kv.second.expires < now; });
    if (entries_.size() >= max_entries) entries_.clear();
  }
  entries_.insert_or_assign(key, std::move(found));
}

std::size_t verified_tokens::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace facts::http
