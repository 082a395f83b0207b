#include "facts/store/fact_store.hpp"

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

}  // namespace facts
