#include "support/fact_history.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "support/http_client.hpp"

namespace facts::test {

std::vector<received_fact> read_history(std::uint16_t port, std::size_t limit,
                                        std::uint64_t after) {
  std::vector<received_fact> all;
  for (int pages = 0; pages < 100'000; ++pages) {
    auto const target = "/facts?after=" + std::to_string(after) + "&limit=" + std::to_string(limit);
    auto const res = get(port, target);
    if (res.result_int() != 200)
      throw std::runtime_error("GET " + target + " answered " + std::to_string(res.result_int()));
    auto const body = nlohmann::json::parse(res.body());
    auto const& facts = body.at("facts");
    if (facts.empty()) return all;
    for (auto const& item : facts)
      all.push_back({item.at("id").get<std::uint64_t>(), item.at("fact").value("info", "")});
    auto const next = body.at("next").get<std::uint64_t>();
    if (next <= after) throw std::runtime_error("GET " + target + ": next did not move forward");
    after = next;
  }
  throw std::runtime_error("GET /facts never returned an empty page");
}

std::vector<std::string> infos_of_array(std::string const& json_array) {
  std::vector<std::string> out;
  for (auto const& f : nlohmann::json::parse(json_array))
    out.push_back(f.value("info", ""));
  return out;
}

}  // namespace facts::test
