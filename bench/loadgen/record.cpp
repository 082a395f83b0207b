#include "record.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace loadgen {

void record::set(std::string const& key, std::string value) {
  for (auto& c : value)
    if (c == ' ' || c == '\n' || c == '\t') c = '_';
  for (auto& [k, v] : fields_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  fields_.emplace_back(key, std::move(value));
}

void record::set(std::string const& key, double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  set(key, std::string(text));
}

std::string record::get(std::string const& key) const {
  for (auto const& [k, v] : fields_)
    if (k == key) return v;
  return {};
}

std::optional<double> record::number(std::string const& key) const {
  auto const text = get(key);
  if (text.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    auto const value = std::stod(text, &used);
    if (used != text.size()) return std::nullopt;
    return value;
  } catch (std::exception const&) {
    return std::nullopt;
  }
}

std::string record::line() const {
  std::string out = "record";
  for (auto const& [k, v] : fields_)
    out += " " + k + "=" + v;
  return out;
}

std::optional<record> record::parse(std::string const& line) {
  std::istringstream words(line);
  std::string word;
  if (!(words >> word) || word != "record") return std::nullopt;
  record r;
  while (words >> word) {
    auto const eq = word.find('=');
    if (eq == std::string::npos) continue;
    r.fields_.emplace_back(word.substr(0, eq), word.substr(eq + 1));
  }
  return r;
}

std::vector<record> read_records(std::vector<std::string> const& paths) {
  std::vector<record> out;
  for (auto const& path : paths) {
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line))
      if (auto r = record::parse(line)) out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace loadgen
