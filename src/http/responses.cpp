#include "facts/http/responses.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "facts/http/request_fields.hpp"
#include "facts/http/response_bytes.hpp"

namespace facts::http {

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

response error_response(bhttp::status status, std::string_view message, request_header const& req,
                        cors_policy const& cors) {
  // The message goes through the JSON encoder so quotes and control bytes stay escaped.
  nlohmann::json const body = {{"error", message}};
  return make_response(status, req, cors, "application/json",
                       body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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

std::string stream_header_bytes(response const& res) {
  std::string out;
  append_head(out, res);
  return out;
}

}  // namespace facts::http
