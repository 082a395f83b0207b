#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "facts/broadcaster.hpp"
#include "facts/http/cors.hpp"
#include "facts/http/static_files.hpp"
#include "facts/limits.hpp"
#include "facts/metrics.hpp"
#include "facts/store/fact_store.hpp"

namespace facts::http {

/** Represents what request handling may read: the pieces of the server a route needs. */
struct route_context {
  cors_policy const& cors;
  static_files const& files;
  broadcaster const& hub;
  fact_store const& store;
  std::chrono::steady_clock::time_point started;
  std::string const& publish_token;  ///< empty: anyone may publish
  limits const& lim;
  metrics const& stats;
  std::uint64_t max_lag = 1000;  ///< /healthz answers 503 beyond it (--max-lag)
};

}  // namespace facts::http
