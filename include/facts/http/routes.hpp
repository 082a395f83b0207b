#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "facts/http/net.hpp"
#include "facts/http/read_routes.hpp"
#include "facts/http/responses.hpp"

namespace facts::http {

/** Represents what to do with one request; routing itself does no I/O. */
struct route_decision {
  enum class action {
    respond,      ///< send `res`
    open_stream,  ///< hand the connection to an SSE stream whose response header is `res`
    publish,      ///< store `fact_json`, then answer with publish_answer()
    read,         ///< run `read` off the I/O thread (it reads the store), then send its answer
  };
  action what = action::respond;
  response res;
  std::string fact_json;
  std::string idempotency_key;  ///< from the Idempotency-Key header; empty when none
  /// The answer to a request that reads the store. It refers to the request and the context
  /// it was routed with: both must outlive it, and the request must not change meanwhile.
  std::function<response()> read;
  /// For open_stream: when the token that opened it expires, and the stream ends (none: an
  /// open feed's stream runs until the client or the server ends it).
  std::optional<std::chrono::system_clock::time_point> expires;
};

/// Routes a complete request.
route_decision route_request(request const& req, route_context const& ctx);

/// What routing answers to a request whose head alone decides it: a refusal no body could
/// change (414, 404, 405 with Allow, and for POST /fact 401, 403, 415 or a bad
/// Idempotency-Key's 400), or nullopt when the request may be accepted. Reads only the head, so a
/// session can ask before it tells an `Expect: 100-continue` client to send its body;
/// route_request() gives the same refusal for the complete request.
std::optional<response> refusal_before_body(request_header const& req, route_context const& ctx);

/// An Idempotency-Key we accept: 1 to 255 visible ASCII characters.
bool valid_idempotency_key(std::string_view key);

/// The label /metrics counts a request under: events, fact, facts, status, metrics, healthz,
/// static.
std::string_view route_name(std::string_view target);

}  // namespace facts::http
