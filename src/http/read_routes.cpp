#include "facts/http/read_routes.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "facts/http/request_fields.hpp"
#include "facts/http/responses.hpp"

namespace facts::http {

response facts_page(request const& req, route_context const& ctx) {
  std::uint64_t after = 0;
  std::uint64_t limit = 100;
  if (auto const text = query_param(req.target(), "after")) {
    auto const value = parse_u64(*text);
    if (!value)
      return error_response(bhttp::status::bad_request,
                            "after must be a sequence number (0 or more)", req, ctx.cors);
    after = *value;
  }
  if (auto const text = query_param(req.target(), "limit")) {
    auto const value = parse_u64(*text);
    if (!value || *value == 0)
      return error_response(bhttp::status::bad_request, "limit must be a number from 1 to 1000",
                            req, ctx.cors);
    limit = std::min<std::uint64_t>(*value, max_page_facts);
  }
  auto const page = ctx.store.read_bounded(after, limit, max_page_bytes);
  std::string body = "{\"facts\": [";
  for (auto const& f : page) {
    if (&f != &page.front()) body += ", ";
    body += "{\"id\": " + std::to_string(f.seq) + ", \"fact\": " + f.json + "}";
  }
  auto const next = page.empty() ? after : page.back().seq;
  body += "], \"next\": " + std::to_string(next) + "}";
  return make_response(bhttp::status::ok, req, ctx.cors, "application/json", std::move(body));
}

response one_fact(request const& req, route_context const& ctx, std::string_view id) {
  auto const seq = parse_u64(id);
  auto const found = seq && *seq > 0 ? ctx.store.read_after(*seq - 1, 1) : std::vector<fact>{};
  if (found.empty() || found.front().seq != *seq)
    return error_response(bhttp::status::not_found, "no fact with id " + std::string(id), req,
                          ctx.cors);
  return make_response(bhttp::status::ok, req, ctx.cors, "application/json", found.front().json);
}

response status(request const& req, route_context const& ctx) {
  auto const uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - ctx.started);
  // Spaced like the tutorial prints it; still one line of plain JSON.
  std::string body =
      "{\"clients\": " + std::to_string(ctx.hub.client_count()) +
      ", \"facts\": " + std::to_string(ctx.store.count()) +
      ", \"first_id\": " + std::to_string(ctx.store.first_seq()) +
      ", \"last_id\": " + std::to_string(ctx.hub.last_seq()) +
      ", \"log_last_id\": " + std::to_string(ctx.store.health().last_seq) +
      ", \"lagging\": " + std::to_string(std::max<std::int64_t>(0, ctx.stats.lagging())) +
      ", \"uptime_seconds\": " + std::to_string(uptime.count()) + "}";
  return make_response(bhttp::status::ok, req, ctx.cors, "application/json", std::move(body));
}

// A load balancer takes an instance out while it cannot reach the log or lags it too far.
response healthz(request const& req, route_context const& ctx) {
  auto const log = ctx.store.health();
  auto const last = ctx.hub.last_seq();
  auto const lag = log.last_seq > last ? log.last_seq - last : 0;
  // A store that can take no more facts (its file was deleted) makes the daemon unhealthy: a
  // supervisor or load balancer should know before a publisher finds out.
  std::string error = ctx.store.problem();
  if (error.empty() && !log.reachable)
    error = "the log is unreachable: " + log.error;
  else if (error.empty() && lag > ctx.max_lag)
    error = "this instance lags the log by " + std::to_string(lag) + " facts (--max-lag " +
            std::to_string(ctx.max_lag) + ")";
  if (error.empty())
    return make_response(bhttp::status::ok, req, ctx.cors, "application/json",
                         "{\"status\": \"ok\"}");
  nlohmann::json const body = {{"status", "unavailable"}, {"error", error}};
  return make_response(bhttp::status::service_unavailable, req, ctx.cors, "application/json",
                       body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

response static_file(request const& req, route_context const& ctx) {
  auto const path = web_path(req.target());
  auto bytes = path ? ctx.files.read(*path) : std::nullopt;
  if (!bytes)
    return error_response(bhttp::status::not_found, "no such path: " + std::string(req.target()),
                          req, ctx.cors);
  return make_response(bhttp::status::ok, req, ctx.cors, mime_type(*path), std::move(*bytes));
}

response metrics_page(request const& req, route_context const& ctx) {
  auto const log = ctx.store.health();
  auto const last = ctx.hub.last_seq();
  auto const kept = ctx.store.retention();
  return make_response(
      bhttp::status::ok, req, ctx.cors, "text/plain; version=0.0.4",
      ctx.stats.prometheus_text(
          {ctx.hub.client_count(), ctx.hub.snapshots_built()},
          {log.last_seq, log.last_seq > last ? log.last_seq - last : 0, log.acked, log.duplicate,
           log.timeout, log.no_quorum, log.invalid, ctx.store.first_seq(), kept.removed,
           kept.stored_bytes, kept.longest_step_ns},
          ctx.catch_up
              ? metrics::catch_up_figures{ctx.catch_up->bytes_held(), ctx.catch_up->reads_waiting()}
              : metrics::catch_up_figures{}));
}

bool static_file_exists(std::string_view target, route_context const& ctx) {
  auto const path = web_path(target);
  return path && ctx.files.read(*path).has_value();
}

}  // namespace facts::http
