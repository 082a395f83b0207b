#include "facts/store/idempotency_keys.hpp"

#include <chrono>
#include <functional>

#include "facts/store/fact_store.hpp"

namespace facts {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t body_hash(std::string_view json) {
  return std::hash<std::string_view>{}(json);
}

std::optional<idempotency_keys::entry> idempotency_keys::find(std::string const& key,
                                                              std::int64_t now) const {
  auto const it = by_key_.find(key);
  if (it == by_key_.end() || it->second.created + idempotency_window_seconds < now)
    return std::nullopt;
  return it->second;
}

void idempotency_keys::remember(std::string const& key, entry e) {
  auto const now = e.created;
  oldest_first_.emplace_back(key, now);
  by_key_.insert_or_assign(key, std::move(e));
  expire(now);
}

void idempotency_keys::forget_before(std::uint64_t first_seq) {
  while (!oldest_first_.empty()) {
    auto const& [key, created] = oldest_first_.front();
    auto const it = by_key_.find(key);
    bool const stale = it == by_key_.end() || it->second.created != created;
    if (!stale && it->second.seq >= first_seq) return;
    if (!stale) by_key_.erase(it);
    oldest_first_.pop_front();
  }
}

void idempotency_keys::expire(std::int64_t now) {
  while (!oldest_first_.empty()) {
    auto const& [key, created] = oldest_first_.front();
    auto const it = by_key_.find(key);
    bool const stale = it == by_key_.end() || it->second.created != created;
    bool const too_many = by_key_.size() > idempotency_max_keys;
    bool const too_old = created + idempotency_window_seconds < now;
    if (!stale && !too_many && !too_old) return;
    if (!stale) by_key_.erase(it);
    oldest_first_.pop_front();
  }
}

}  // namespace facts
