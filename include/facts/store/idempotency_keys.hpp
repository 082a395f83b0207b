#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the Idempotency-Keys seen in the last 24 hours (at most the newest 100,000), each
 * with the fact it stored. The in-memory store keeps only this; the SQLite store keeps it as a
 * cache of its table. Not thread-safe: its owner guards it.
 */
class idempotency_keys {
 public:
  struct entry {
    fact stored;
    std::int64_t created = 0;  ///< unix seconds
  };

  std::optional<entry> find(std::string const& key, std::int64_t now) const;
  void remember(std::string const& key, entry e);

 private:
  void expire(std::int64_t now);

  std::unordered_map<std::string, entry> by_key_;
  /// Keys in the order they were remembered, with when; a key remembered again appears twice,
  /// and the older appearance is skipped because its time no longer matches by_key_.
  std::deque<std::pair<std::string, std::int64_t>> oldest_first_;
};

/// Unix seconds now; the one clock the stores use for keys.
std::int64_t unix_now();

}  // namespace facts
