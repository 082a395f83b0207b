#include "facts/store/idempotency_keys.hpp"

#include <chrono>

#include "facts/store/fact_store.hpp"

namespace facts {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

namespace facts {

append_plan plan_append(std::vector<append_request> const& requests, idempotency_keys const& keys,
                        std::uint64_t last_seq, std::int64_t now) {
  append_plan plan;
  plan.results.reserve(requests.size());
  std::unordered_map<std::string, std::size_t> batch_keys;  // key -> index in results
  for (auto const& request : requests) {
    std::optional<fact> earlier;
    if (!request.idempotency_key.empty()) {
      if (auto it = batch_keys.find(request.idempotency_key); it != batch_keys.end())
        earlier = plan.results[it->second].stored;
      else if (auto known = keys.find(request.idempotency_key, now))
        earlier = known->stored;
    }
    if (earlier) {
      bool const same = earlier->json == request.json;
      plan.results.push_back(
          {same ? append_result::outcome::replayed : append_result::outcome::conflict,
           same ? *earlier : fact{}});
      continue;
    }
    plan.results.push_back({append_result::outcome::created, {++last_seq, request.json}});
    plan.created.push_back(plan.results.size() - 1);
    if (!request.idempotency_key.empty())
      batch_keys.emplace(request.idempotency_key, plan.results.size() - 1);
  }
  return plan;
}

void commit_plan(append_plan const& plan, std::vector<append_request> const& requests,
                 idempotency_keys& keys, std::int64_t now) {
  for (auto const i : plan.created)
    if (!requests[i].idempotency_key.empty())
      keys.remember(requests[i].idempotency_key, {plan.results[i].stored, now});
}

std::vector<fact> fact_store::append(std::vector<std::string> const& jsons) {
  std::vector<append_request> requests;
  requests.reserve(jsons.size());
  for (auto const& json : jsons)
    requests.push_back({json, {}});
  std::vector<fact> stored;
  for (auto& result : append(requests))
    stored.push_back(std::move(result.stored));
  return stored;
}

}  // namespace facts
