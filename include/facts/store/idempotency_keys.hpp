#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the Idempotency-Keys seen in the last 24 hours (at most the newest 100,000), each
 * with the seq it stored and a hash of its body, not the body: 100,000 keys of 64 KiB facts
 * would hold 6.5 GB. A replay reads the fact back from the store. The SQLite store keeps this
 * as a cache of its table. Not thread-safe: its owner guards it.
 */
class idempotency_keys {
 public:
  struct entry {
    std::uint64_t seq = 0;
    std::size_t body_hash = 0;  ///< body_hash() of the fact's JSON
    std::int64_t created = 0;   ///< unix seconds
  };

  std::optional<entry> find(std::string const& key, std::int64_t now) const;
  void remember(std::string const& key, entry e);

  /// Forgets the keys of the facts before `first_seq`, which retention removed: a key outlives
  /// its fact nowhere, and a repeat of it is a new fact. Keys are remembered in seq order, so
  /// this walks only the keys it forgets.
  void forget_before(std::uint64_t first_seq);

 private:
  void expire(std::int64_t now);

  std::unordered_map<std::string, entry> by_key_;
  /// Keys in the order they were remembered, with when; a key remembered again appears twice,
  /// and the older appearance is skipped because its time no longer matches by_key_.
  std::deque<std::pair<std::string, std::int64_t>> oldest_first_;
};

/// The hash an entry keeps of a body. Equal hashes only say "maybe the same": a replay compares
/// the stored body itself, so a collision can never hand back another fact.
std::size_t body_hash(std::string_view json);

/// Unix seconds now; the one clock the stores use for keys.
std::int64_t unix_now();

}  // namespace facts
