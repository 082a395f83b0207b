#pragma once

#include <cstddef>
#include <string_view>

#include <chrono>
#include <cstdint>
#include <string>

#include "facts/broadcaster.hpp"
#include "facts/catch_up_reader.hpp"
#include "facts/http/access_gate.hpp"
#include "facts/http/cors.hpp"
#include "facts/http/net.hpp"
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
  access_gate const& access;  ///< who may read and publish
  limits const& lim;
  metrics const& stats;
  std::uint64_t max_lag = 1000;               ///< /healthz answers 503 beyond it (--max-lag)
  catch_up_reader const* catch_up = nullptr;  ///< for /metrics; none in routing's unit tests
};

// The routes that only read: each answers a complete GET (or HEAD) whose path and method
// routing already accepted.

/// Most facts one GET /facts page returns.
inline constexpr std::size_t max_page_facts = 1000;

/// Most bytes of fact JSON one GET /facts page holds (a page always holds at least one fact):
/// 1,000 facts of 64 KiB would otherwise be 64 MB held for one slow reader.
inline constexpr std::size_t max_page_bytes = 1024 * 1024;

/// GET /facts?after=SEQ&limit=N: a page of history.
response facts_page(request const& req, route_context const& ctx);

/// GET /facts/<id>: one fact, or 404.
response one_fact(request const& req, route_context const& ctx, std::string_view id);

/// GET /status: the tutorial's counts.
response status(request const& req, route_context const& ctx);

/// GET /healthz: 503 while the log is unreachable, this instance lags it, or the store failed.
response healthz(request const& req, route_context const& ctx);

/// GET /metrics: the Prometheus text.
response metrics_page(request const& req, route_context const& ctx);

/// The bundled page's files, or 404.
response static_file(request const& req, route_context const& ctx);

/// Whether `target` names one of the bundled page's files.
bool static_file_exists(std::string_view target, route_context const& ctx);

}  // namespace facts::http
