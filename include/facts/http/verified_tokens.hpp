#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace facts::http {

/**
 * Represents the tokens one key verified lately, by their SHA-256: a client that comes back with
 * a token seen before (a proxy restarted, a network blip) skips the signature check, which for
 * ES256 costs ten times a connect (docs/benchmarks.md). Only what the signature and claims
 * checks let through is kept, with its `exp` and `scope`; `exp` is checked again on every use.
 * Bounded; a new key gets a new one. Any thread may use it.
 */
class verified_tokens {
 public:
  /// Most tokens kept: about 2 MB. Past it the expired go, and if that is not enough, all.
  static constexpr std::size_t max_entries = 16 * 1024;

  /** Represents what the checks found in a token. */
  struct entry {
    std::chrono::system_clock::time_point expires;
    std::string scope;  ///< the `scope` claim as the token has it
  };

  std::optional<entry> find(std::string_view token) const;
  void remember(std::string_view token, entry found);
  std::size_t size() const;

 private:
  using digest = std::array<unsigned char, 32>;
  struct digest_hash {
    std::size_t operator()(digest const& d) const;
  };

  static digest digest_of(std::string_view token);

  mutable std::mutex mutex_;  // guards entries_
  std::unordered_map<digest, entry, digest_hash> entries_;
};

}  // namespace facts::http
