#include "facts/http/routes.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "facts/http/response_bytes.hpp"

namespace facts::http {

namespace {

// The first value of `name` in `req`. A request has a few fields: a scan of them by their enum
// costs less than basic_fields::find, a case-insensitive tree search by the field's name string
// (each lookup was 500 instructions of a POST's 14,000).
std::optional<std::string_view> field_value(request_header const& req, bhttp::field name) {
  for (auto const& f : req)
    if (f.name() == name) return std::string_view(f.value());
  return std::nullopt;
}

// The same for a field Beast has no enum for.
std::optional<std::string_view> field_value(request_header const& req, std::string_view name) {
  for (auto const& f : req)
    if (f.name() == bhttp::field::unknown && beast::iequals(f.name_string(), name))
      return std::string_view(f.value());
  return std::nullopt;
}

std::string_view origin_of(request_header const& req) {
  return field_value(req, bhttp::field::origin).value_or(std::string_view{});
}

// A header alone has no keep_alive(); this is the same rule Beast's message applies.
bool wants_keep_alive(request_header const& req) {
  auto const connection = field_value(req, bhttp::field::connection);
  if (!connection) return req.version() >= 11;
  bhttp::token_list const tokens{*connection};
  if (req.version() >= 11)
    return !std::any_of(tokens.begin(), tokens.end(),
                        [](auto t) { return beast::iequals(t, "close"); });
  return std::any_of(tokens.begin(), tokens.end(),
                     [](auto t) { return beast::iequals(t, "keep-alive"); });
}

response make_response(bhttp::status status, request_header const& req, cors_policy const& cors,
                       std::string_view content_type, std::string body) {
  response res{status, req.version()};
  res.set(bhttp::field::server, "factsd/" FACTS_VERSION);
  if (!content_type.empty()) res.set(bhttp::field::content_type, content_type);
  cors.apply(res, origin_of(req));
  res.keep_alive(wants_keep_alive(req));
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// True for `application/json`, with any parameters (`; charset=utf-8`) and any case.
bool is_json_media_type(std::string_view content_type) {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
    type.remove_prefix(1);
  return beast::iequals(type, "application/json");
}

route_decision respond(response res) {
  return {route_decision::action::respond, std::move(res), {}, {}};
}

route_decision open_stream(request const& req, route_context const& ctx) {
  response res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::server, "factsd/" FACTS_VERSION);
  res.set(bhttp::field::content_type, "text/event-stream");
  res.set(bhttp::field::cache_control, "no-cache, no-transform");
  res.set("X-Accel-Buffering", "no");
  ctx.cors.apply(res, origin_of(req));
  // The body runs until the connection closes: no length, no chunking.
  res.keep_alive(false);
  return {route_decision::action::open_stream, std::move(res), {}, {}};
}

// What a POST /fact head alone can refuse: no token, a type other than JSON, a bad key.
std::optional<response> publish_refusal(request_header const& req, route_context const& ctx) {
  if (!ctx.publish_token.empty()) {
    auto const auth = field_value(req, bhttp::field::authorization);
    if (!auth || !bearer_matches(*auth, ctx.publish_token)) {
      auto res =
          error_response(bhttp::status::unauthorized,
                         "POST /fact needs Authorization: Bearer <publish token>", req, ctx.cors);
      res.set(bhttp::field::www_authenticate, "Bearer");
      return res;
    }
  }
  auto const type = field_value(req, bhttp::field::content_type);
  if (!type || !is_json_media_type(*type))
    return error_response(bhttp::status::unsupported_media_type,
                          "Content-Type must be application/json", req, ctx.cors);
  if (auto const key = field_value(req, "Idempotency-Key"); key && !valid_idempotency_key(*key))
    return error_response(bhttp::status::bad_request,
                          "Idempotency-Key must be 1 to 255 visible ASCII characters", req,
                          ctx.cors);
  return std::nullopt;
}

// A POST /fact whose head refusal_before_body() let through.
route_decision publish(request const& req, route_context const& ctx) {
  std::string key(field_value(req, "Idempotency-Key").value_or(std::string_view{}));
  auto parsed = parse_fact(req.body());
  if (!parsed.ok())
    return respond(error_response(bhttp::status::bad_request, parsed.error, req, ctx.cors));
  return {route_decision::action::publish, {}, std::move(parsed.json), std::move(key)};
}

// The value of `name` in a query string, if present (no percent-decoding: we take numbers).
std::optional<std::string_view> query_param(std::string_view target, std::string_view name) {
  auto const q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto const amp = rest.find('&');
    auto const pair = rest.substr(0, amp);
    auto const eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

route_decision facts_page(request const& req, route_context const& ctx) {
  std::uint64_t after = 0;
  std::uint64_t limit = 100;
  if (auto const text = query_param(req.target(), "after")) {
    auto const value = parse_u64(*text);
    if (!value)
      return respond(error_response(bhttp::status::bad_request,
                                    "after must be a sequence number (0 or more)", req, ctx.cors));
    after = *value;
  }
  if (auto const text = query_param(req.target(), "limit")) {
    auto const value = parse_u64(*text);
    if (!value || *value == 0)
      return respond(error_response(bhttp::status::bad_request,
                                    "limit must be a number from 1 to 1000", req, ctx.cors));
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
  return respond(
      make_response(bhttp::status::ok, req, ctx.cors, "application/json", std::move(body)));
}

route_decision one_fact(request const& req, route_context const& ctx, std::string_view id) {
  auto const seq = parse_u64(id);
  auto const found = seq && *seq > 0 ? ctx.store.read_after(*seq - 1, 1) : std::vector<fact>{};
  if (found.empty() || found.front().seq != *seq)
    return respond(error_response(bhttp::status::not_found, "no fact with id " + std::string(id),
                                  req, ctx.cors));
  return respond(
      make_response(bhttp::status::ok, req, ctx.cors, "application/json", found.front().json));
}

route_decision status(request const& req, route_context const& ctx) {
  auto const uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - ctx.started);
  // Spaced like the tutorial prints it; still one line of plain JSON.
  std::string body =
      "{\"clients\": " + std::to_string(ctx.hub.client_count()) +
      ", \"facts\": " + std::to_string(ctx.store.count()) +
      ", \"last_id\": " + std::to_string(ctx.hub.last_seq()) +
      ", \"log_last_id\": " + std::to_string(ctx.store.health().last_seq) +
      ", \"lagging\": " + std::to_string(std::max<std::int64_t>(0, ctx.stats.lagging())) +
      ", \"uptime_seconds\": " + std::to_string(uptime.count()) + "}";
  return respond(
      make_response(bhttp::status::ok, req, ctx.cors, "application/json", std::move(body)));
}

// A load balancer takes an instance out while it cannot reach the log or lags it too far.
route_decision healthz(request const& req, route_context const& ctx) {
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
    return respond(make_response(bhttp::status::ok, req, ctx.cors, "application/json",
                                 "{\"status\": \"ok\"}"));
  nlohmann::json const body = {{"status", "unavailable"}, {"error", error}};
  return respond(
      make_response(bhttp::status::service_unavailable, req, ctx.cors, "application/json",
                    body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

route_decision static_file(request const& req, route_context const& ctx) {
  auto const path = web_path(req.target());
  auto bytes = path ? ctx.files.read(*path) : std::nullopt;
  if (!bytes)
    return respond(error_response(bhttp::status::not_found,
                                  "no such path: " + std::string(req.target()), req, ctx.cors));
  auto res = make_response(bhttp::status::ok, req, ctx.cors, mime_type(*path), std::move(*bytes));
  return respond(std::move(res));
}

bool static_file_exists(std::string_view target, route_context const& ctx) {
  auto const path = web_path(target);
  return path && ctx.files.read(*path).has_value();
}

bool allows(std::string_view route, bhttp::verb method);
std::string_view allow_header(std::string_view route);
route_decision route_by_path(request const& req, route_context const& ctx);

}  // namespace

response error_response(bhttp::status status, std::string_view message, request_header const& req,
                        cors_policy const& cors) {
  // The message goes through the JSON encoder so quotes and control bytes stay escaped.
  nlohmann::json const body = {{"error", message}};
  return make_response(status, req, cors, "application/json",
                       body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() < scheme.size() ||
      !beast::iequals(authorization.substr(0, scheme.size()), scheme))
    return false;
  auto const given = authorization.substr(scheme.size());
  if (token.empty()) return false;
  // Every byte is compared whatever the earlier ones were: the time taken says nothing about
  // how much of the token was right.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ token[i % token.size()]);
  return diff == 0;
}

bool valid_idempotency_key(std::string_view key) {
  return !key.empty() && key.size() <= 255 &&
         std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

response publish_answer(std::optional<append_result> const& result, request_header const& req,
                        cors_policy const& cors) {
  if (!result)
    return error_response(bhttp::status::service_unavailable,
                          "the fact could not be stored; nothing was published", req, cors);
  if (result->what == append_result::outcome::conflict)
    return error_response(bhttp::status::conflict,
                          "Idempotency-Key was already used with a different fact", req, cors);
  if (result->what == append_result::outcome::unavailable)
    return error_response(bhttp::status::service_unavailable,
                          "the log did not acknowledge the fact in time (--publish-timeout); it "
                          "may still be stored: retry with the same Idempotency-Key",
                          req, cors);
  auto const& f = result->stored;
  auto res = make_response(bhttp::status::created, req, cors, "application/json", f.json);
  res.set(bhttp::field::location, "/facts/" + std::to_string(f.seq));
  if (result->what == append_result::outcome::replayed) res.set("Idempotent-Replayed", "true");
  return res;
}

bool append_stored_answer(std::string& out, append_result const& result, request_header const& req,
                          cors_policy const& cors) {
  using namespace std::string_view_literals;  // literals appended without a strlen each
  auto const& f = result.stored;
  bool const keep_alive = wants_keep_alive(req);
  bool const http11 = req.version() >= 11;
  // The fields in make_response()'s order, then publish_answer()'s, as Beast keeps them.
  out += http11 ? "HTTP/1.1 201 Created\r\n"sv : "HTTP/1.0 201 Created\r\n"sv;
  out += "Server: factsd/" FACTS_VERSION "\r\nContent-Type: application/json\r\n"sv;
  cors.append(out, origin_of(req));
  if (http11 && !keep_alive) out += "Connection: close\r\n"sv;
  if (!http11 && keep_alive) out += "Connection: keep-alive\r\n"sv;
  char digits[24];
  out += "Content-Length: "sv;
  out.append(digits, std::to_chars(digits, digits + sizeof digits, f.json.size()).ptr);
  out += "\r\nLocation: /facts/"sv;
  out.append(digits, std::to_chars(digits, digits + sizeof digits, f.seq).ptr);
  out += "\r\n"sv;
  if (result.what == append_result::outcome::replayed) out += "Idempotent-Replayed: true\r\n"sv;
  out += "\r\n"sv;
  out += f.json;
  return keep_alive;
}

std::optional<response> refusal_before_body(request_header const& req, route_context const& ctx) {
  auto const target = std::string_view(req.target());
  if (target.size() > ctx.lim.max_url_bytes)
    return error_response(bhttp::status::uri_too_long,
                          "request target is longer than " + std::to_string(ctx.lim.max_url_bytes) +
                              " bytes (--max-url-bytes)",
                          req, ctx.cors);
  auto const method = req.method();
  if (method == bhttp::verb::options) return std::nullopt;
  auto const route = route_name(target);
  if (!allows(route, method)) {
    // 405 is for a path that exists: any other method on a missing one is a 404, as GET is.
    if (route == "static" && !static_file_exists(target, ctx))
      return error_response(bhttp::status::not_found, "no such path: " + std::string(target), req,
                            ctx.cors);
    auto res = error_response(bhttp::status::method_not_allowed,
                              "method " + std::string(req.method_string()) + " is not allowed here",
                              req, ctx.cors);
    res.set(bhttp::field::allow, allow_header(route));
    return res;
  }
  if (route == "fact") return publish_refusal(req, ctx);
  return std::nullopt;
}

route_decision route_request(request const& req, route_context const& ctx) {
  auto decision = route_by_path(req, ctx);
  // HEAD gets the headers GET would, Content-Length included, and never a body: one would be
  // read as the start of the next response on a keep-alive connection.
  if (req.method() == bhttp::verb::head && decision.what == route_decision::action::respond)
    decision.res.body().clear();
  return decision;
}

namespace {

// The methods a route answers (besides OPTIONS, which every path answers).
bool allows(std::string_view route, bhttp::verb method) {
  if (route == "events") return method == bhttp::verb::get;
  if (route == "fact") return method == bhttp::verb::post;
  return method == bhttp::verb::get || method == bhttp::verb::head;
}

std::string_view allow_header(std::string_view route) {
  if (route == "events") return "GET, OPTIONS";
  if (route == "fact") return "POST, OPTIONS";
  return "GET, HEAD, OPTIONS";
}

route_decision route_by_path(request const& req, route_context const& ctx) {
  if (auto refused = refusal_before_body(req, ctx)) return respond(std::move(*refused));
  if (req.method() == bhttp::verb::options) {
    auto res = make_response(bhttp::status::no_content, req, ctx.cors, {}, {});
    // A 204 has no body and so no Content-Length either (RFC 9110, 8.6).
    res.erase(bhttp::field::content_length);
    ctx.cors.apply_preflight(res, origin_of(req));
    return respond(std::move(res));
  }
  auto const route = route_name(req.target());
  if (route == "healthz") return healthz(req, ctx);
  if (route == "metrics") {
    auto const log = ctx.store.health();
    auto const last = ctx.hub.last_seq();
    return respond(make_response(
        bhttp::status::ok, req, ctx.cors, "text/plain; version=0.0.4",
        ctx.stats.prometheus_text({ctx.hub.client_count(), ctx.hub.snapshots_built()},
                                  {log.last_seq, log.last_seq > last ? log.last_seq - last : 0,
                                   log.acked, log.duplicate, log.timeout, log.no_quorum})));
  }
  // --max-clients is the hub's to enforce, when the stream joins (stream_group::open): the one
  // place where concurrent connects cannot overshoot it.
  if (route == "events") return open_stream(req, ctx);
  if (route == "fact") return publish(req, ctx);
  auto const path = std::string_view(req.target()).substr(0, req.target().find('?'));
  if (path == "/facts") return facts_page(req, ctx);
  if (route == "facts") return one_fact(req, ctx, path.substr(7));
  if (route == "status") return status(req, ctx);
  return static_file(req, ctx);
}

}  // namespace

std::string_view route_name(std::string_view target) {
  auto const path = target.substr(0, target.find('?'));
  if (path == "/events") return "events";
  if (path == "/fact") return "fact";
  if (path == "/facts" || path.starts_with("/facts/")) return "facts";
  if (path == "/status") return "status";
  if (path == "/metrics") return "metrics";
  if (path == "/healthz") return "healthz";
  return "static";
}

std::string stream_header_bytes(response const& res) {
  std::string out;
  append_head(out, res);
  return out;
}

}  // namespace facts::http
