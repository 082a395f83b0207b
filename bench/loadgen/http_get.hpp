#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>

namespace loadgen {

/// GETs `target` from the server and returns the body of a 200, or nullopt (blocking, with a
/// short timeout: for /metrics and /status between phases, never under load).
std::optional<std::string> http_get(boost::asio::ip::tcp::endpoint const& server,
                                    std::string const& host, std::string const& target);

/// Reads the value of a Prometheus metric line `name value` from a /metrics body.
std::optional<double> prometheus_value(std::string const& metrics, std::string const& name);

}  // namespace loadgen
