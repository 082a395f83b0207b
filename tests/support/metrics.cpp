#include "support/metrics.hpp"

#include <exception>
#include <stdexcept>

#include "support/http_client.hpp"

namespace facts::test {

std::optional<double> metric_value(std::string_view text, std::string_view series) {
  while (!text.empty()) {
    auto const nl = text.find('\n');
    auto const line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.size() > series.size() && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      try {
        return std::stod(std::string(line.substr(series.size() + 1)));
      } catch (std::exception const&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::string metrics_text(std::uint16_t port) {
  auto const res = get(port, "/metrics");
  if (res.result() != http::status::ok)
    throw std::runtime_error("GET /metrics answered " + std::to_string(res.result_int()));
  return res.body();
}

}  // namespace facts::test
