#pragma once

// The Prometheus text of GET /metrics, and one sample read out of it.

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "support/http_client.hpp"

namespace facts::test {

/**
 * The value of one sample in Prometheus text: `series` is the name with its labels exactly as
 * printed (`factsd_streams_ended_total{reason="slow"}`), or a bare name. nullopt when absent.
 */
inline std::optional<double> metric_value(std::string_view text, std::string_view series) {
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

/// GET /metrics, as text; throws unless it answers 200.
inline std::string metrics_text(std::uint16_t port) {
  auto const res = get(port, "/metrics");
  if (res.result() != http::status::ok)
    throw std::runtime_error("GET /metrics answered " + std::to_string(res.result_int()));
  return res.body();
}

}  // namespace facts::test
