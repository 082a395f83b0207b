#include "facts/store/memory_store.hpp"

#include <algorithm>

namespace facts {

std::vector<append_result> memory_store::append(std::vector<append_request> const& requests) {
  std::unique_lock lock(mutex_);
  auto const now = unix_now();
  auto plan = plan_append(requests, keys_, last_seq_, now,
                          [this](std::uint64_t seq) -> std::optional<std::string> {
                            if (seq < first_seq_ || seq > last_seq_) return std::nullopt;
                            return facts_[seq - first_seq_].stored.json;
                          });
  for (auto const i : plan.created) {
    facts_.push_back({plan.results[i].stored, now});
    json_bytes_ += plan.results[i].stored.json.size();
  }
  if (!plan.created.empty()) last_seq_ = plan.results[plan.created.back()].stored.seq;
  commit_plan(plan, requests, keys_, now);
  drop_beyond_bounds(now);
  hand_to_follower(lock, plan.results);
  return std::move(plan.results);
}

void memory_store::drop_beyond_bounds(std::int64_t now) const {
  if (!bounds_.any()) {
    stored_bytes_ = json_bytes_;
    return;
  }
  auto const too_old = now - bounds_.age.count();
  std::uint64_t dropped = 0;
  while (!facts_.empty()) {
    auto const& oldest = facts_.front();
    bool const goes = (bounds_.facts != 0 && facts_.size() > bounds_.facts) ||
                      (bounds_.bytes != 0 && json_bytes_ > bounds_.bytes) ||
                      (bounds_.age.count() != 0 && oldest.created < too_old);
    if (!goes) break;
    json_bytes_ -= oldest.stored.json.size();
    facts_.pop_front();
    ++dropped;
  }
  stored_bytes_ = json_bytes_;
  if (dropped == 0) return;
  first_seq_ = first_seq_ + dropped;
  removed_ += dropped;
  keys_.forget_before(first_seq_);
}

std::vector<fact> memory_store::read_after(std::uint64_t after, std::size_t max) const {
  std::lock_guard lock(mutex_);
  drop_beyond_bounds(unix_now());
  if (after >= last_seq_) return {};
  auto const skip = std::max(after + 1, first_seq_.load()) - first_seq_;
  if (skip >= facts_.size()) return {};
  auto const n = std::min<std::size_t>(max, facts_.size() - skip);
  std::vector<fact> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(facts_[skip + i].stored);
  return out;
}

std::vector<fact> memory_store::read_latest(std::size_t max) const {
  std::lock_guard lock(mutex_);
  drop_beyond_bounds(unix_now());
  auto const n = max == 0 ? facts_.size() : std::min(max, facts_.size());
  std::vector<fact> out;
  out.reserve(n);
  for (auto i = facts_.size() - n; i < facts_.size(); ++i)
    out.push_back(facts_[i].stored);
  return out;
}

std::uint64_t memory_store::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

std::uint64_t memory_store::count() const {
  std::lock_guard lock(mutex_);
  return facts_.size();
}

std::uint64_t memory_store::first_seq() const {
  // Never takes mutex_: the hub asks under its own lock, and an append holds mutex_ on its way
  // to the hub (through the follower).
  return first_seq_;
}

retention_figures memory_store::retention() const {
  return {removed_.load(), stored_bytes_.load()};
}

}  // namespace facts
