#include "facts/store/memory_store.hpp"

#include <algorithm>

namespace facts {

std::vector<fact> memory_store::append(std::vector<std::string> const& jsons) {
  std::lock_guard lock(mutex_);
  std::vector<fact> stored;
  stored.reserve(jsons.size());
  for (auto const& json : jsons) {
    facts_.push_back({facts_.size() + 1, json});
    stored.push_back(facts_.back());
  }
  return stored;
}

std::vector<fact> memory_store::read_after(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  if (after >= facts_.size()) return {};
  auto const first = facts_.begin() + static_cast<std::ptrdiff_t>(after);
  auto const n = std::min<std::size_t>(max, static_cast<std::size_t>(facts_.end() - first));
  return {first, first + static_cast<std::ptrdiff_t>(n)};
}

std::vector<fact> memory_store::read_latest(std::size_t max) const {
  std::lock_guard lock(mutex_);
  auto const n = max == 0 ? facts_.size() : std::min(max, facts_.size());
  return {facts_.end() - static_cast<std::ptrdiff_t>(n), facts_.end()};
}

std::uint64_t memory_store::last_seq() const {
  std::lock_guard lock(mutex_);
  return facts_.size();
}

std::uint64_t memory_store::count() const {
  return last_seq();
}

}  // namespace facts
