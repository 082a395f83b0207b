#include "facts/http/routes.hpp"

#include <algorithm>

#include "facts/http/read_routes.hpp"
#include "facts/http/request_fields.hpp"

namespace facts::http {

namespace {

route_decision respond(response res) {
  return {route_decision::action::respond, std::move(res), {}, {}, {}, {}};
}

// A route that reads the store: a page from NATS may wait seconds for a stopped node, and the
// I/O thread serves every stream and request on it meanwhile.
route_decision read_store(std::function<response()> read) {
  return {route_decision::action::read, {}, {}, {}, std::move(read), {}};
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
  return {route_decision::action::open_stream, std::move(res), {}, {}, {}, {}};
}

// What a POST /fact head alone can refuse: no token or a bad one, a type other than JSON, a
// bad key.
std::optional<response> publish_refusal(request_header const& req, route_context const& ctx) {
  if (auto refused = ctx.access.check_publish(req, ctx.cors)) return refused;
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
  return {route_decision::action::publish, {}, std::move(parsed.json), std::move(key), {}, {}};
}

bool allows(std::string_view route, bhttp::verb method);
std::string_view allow_header(std::string_view route);
route_decision route_by_path(request const& req, route_context const& ctx);

}  // namespace

bool valid_idempotency_key(std::string_view key) {
  return !key.empty() && key.size() <= 255 &&
         std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
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
  if (req.method() != bhttp::verb::head) return decision;
  if (decision.what == route_decision::action::respond) decision.res.body().clear();
  if (decision.what == route_decision::action::read)
    decision.read = [read = std::move(decision.read)] {
      auto res = read();
      res.body().clear();
      return res;
    };
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
  if (route == "healthz") return respond(healthz(req, ctx));
  if (route == "metrics") return respond(metrics_page(req, ctx));
  if (route == "events" || route == "facts" || route == "status") {
    // With --read-auth token, before the route runs: a refused reader costs no store read.
    // Only an EventSource, which cannot set a header, may bring its token in the URL.
    auto verdict = ctx.access.check_read(req, route == "events", ctx.cors);
    if (verdict.refusal) return respond(std::move(*verdict.refusal));
    if (route == "events") {
      // --max-clients is the hub's to enforce, when the stream joins (stream_group::open): the
      // one place where concurrent connects cannot overshoot it.
      auto decision = open_stream(req, ctx);
      decision.expires = verdict.expires;
      return decision;
    }
  }
  if (route == "fact") return publish(req, ctx);
  auto const path = std::string_view(req.target()).substr(0, req.target().find('?'));
  if (path == "/facts") return read_store([&req, &ctx] { return facts_page(req, ctx); });
  if (route == "facts")
    return read_store(
        [&req, &ctx, id = std::string(path.substr(7))] { return one_fact(req, ctx, id); });
  if (route == "status") return respond(status(req, ctx));
  return respond(static_file(req, ctx));
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

}  // namespace facts::http
