#include "facts/store/append_plan.hpp"

#include <optional>
#include <string>
#include <unordered_map>

namespace facts {

namespace {

// The fact an earlier request with the same key stored, as far as `json` needs it: its body
// when it may be the same (the hash matched, then it is read back), an empty body otherwise,
// which no fact has, so the comparison says "another body".
std::optional<fact> known_fact(idempotency_keys::entry const& known, std::string const& json,
                               stored_json_reader const& read) {
  if (known.body_hash != body_hash(json)) return fact{known.seq, {}};
  auto stored = read(known.seq);
  return fact{known.seq, stored ? std::move(*stored) : std::string{}};
}

}  // namespace

append_plan plan_append(std::vector<append_request> const& requests, idempotency_keys const& keys,
                        std::uint64_t last_seq, std::int64_t now, stored_json_reader const& read) {
  append_plan plan;
  plan.results.reserve(requests.size());
  std::unordered_map<std::string, std::size_t> batch_keys;  // key -> index in results
  for (auto const& request : requests) {
    std::optional<fact> earlier;
    if (!request.idempotency_key.empty()) {
      if (auto it = batch_keys.find(request.idempotency_key); it != batch_keys.end())
        earlier = plan.results[it->second].stored;
      else if (auto known = keys.find(request.idempotency_key, now))
        earlier = known_fact(*known, request.json, read);
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
      keys.remember(requests[i].idempotency_key,
                    {plan.results[i].stored.seq, body_hash(plan.results[i].stored.json), now});
}

}  // namespace facts
