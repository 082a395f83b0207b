#pragma once

// The Prometheus text of GET /metrics, and one sample read out of it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace facts::test {

/**
 * The value of one sample in Prometheus text: `series` is the name with its labels exactly as
 * printed (`factsd_streams_ended_total{reason="slow"}`), or a bare name. nullopt when absent.
 */
std::optional<double> metric_value(std::string_view text, std::string_view series);

/// GET /metrics, as text; throws unless it answers 200.
std::string metrics_text(std::uint16_t port);

}  // namespace facts::test
