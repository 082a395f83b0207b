#include "facts/store/fact_store.hpp"

#include <algorithm>

namespace facts {

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

std::vector<fact> fact_store::read_bounded(std::uint64_t after, std::size_t max,
                                           std::size_t max_bytes) const {
  // Facts are read a few at a time: at 64 KiB each a step is 1 MiB, about one page's bound.
  constexpr std::size_t step = 16;
  std::vector<fact> out;
  std::size_t bytes = 0;
  while (out.size() < max) {
    auto const asked = std::min(step, max - out.size());
    auto more = read_after(after, asked);
    for (auto& f : more) {
      if (!out.empty() && bytes + f.json.size() > max_bytes) return out;
      bytes += f.json.size();
      after = f.seq;
      out.push_back(std::move(f));
      if (out.size() == max) return out;
    }
    if (more.size() < asked) return out;  // the store has no more
  }
  return out;
}

}  // namespace facts
