#include "support/fact_checks.hpp"

#include <cstddef>

namespace facts::test {

std::vector<std::string> infos_by_id(std::vector<published_fact> const& facts, std::string& why) {
  std::vector<std::string> infos(facts.size());
  for (auto const& f : facts) {
    if (f.id == 0) {
      why =
          "fact " + f.key + " was never acknowledged (" + std::to_string(f.attempts.size()) +
          " attempts, the last answered " +
          (f.attempts.empty() ? std::string("nothing") : std::to_string(f.attempts.back().status)) +
          ")";
      return {};
    }
    if (f.id > infos.size()) {
      why = "fact " + f.key + " got id " + std::to_string(f.id) + " beyond " +
            std::to_string(infos.size()) + " facts: a gap or a fact stored twice";
      return {};
    }
    if (!infos[f.id - 1].empty()) {
      why = "id " + std::to_string(f.id) + " was given to " + infos[f.id - 1] + " and " + f.info;
      return {};
    }
    infos[f.id - 1] = f.info;
  }
  return infos;
}

std::string difference(std::vector<received_fact> const& got, std::vector<std::string> const& infos,
                       std::uint64_t first_id) {
  auto const want = infos.size() + 1 - first_id;
  for (std::size_t i = 0; i < got.size() && i < want; ++i) {
    auto const id = first_id + i;
    if (got[i].id != id || got[i].info != infos[id - 1])
      return "fact #" + std::to_string(i) + " is id " + std::to_string(got[i].id) + " '" +
             got[i].info + "', expected id " + std::to_string(id) + " '" + infos[id - 1] + "'";
  }
  if (got.size() != want)
    return "received " + std::to_string(got.size()) + " facts, expected " + std::to_string(want) +
           (got.size() > want ? " (the extra one is id " + std::to_string(got[want].id) + ")"
                              : std::string{});
  return {};
}

}  // namespace facts::test
