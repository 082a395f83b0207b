#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "facts/broadcaster.hpp"
#include "facts/fact.hpp"
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
  std::string const& publish_token;  ///< empty: anyone may publish
  limits const& lim;
  metrics const& stats;
  std::uint64_t max_lag = 1000;  ///< /healthz answers 503 beyond it (--max-lag)
};

/** Represents what to do with one request; routing itself does no I/O. */
struct route_decision {
  enum class action {
    respond,      ///< send `res`
    open_stream,  ///< hand the connection to an SSE stream whose response header is `res`
    publish,      ///< store `fact_json`, then answer with publish_answer()
  };
  action what = action::respond;
  response res;
  std::string fact_json;
  std::string idempotency_key;  ///< from the Idempotency-Key header; empty when none
};

/// Most facts one GET /facts page returns.
inline constexpr std::size_t max_page_facts = 1000;

/// Most bytes of fact JSON one GET /facts page holds (a page always holds at least one fact):
/// 1,000 facts of 64 KiB would otherwise be 64 MB held for one slow reader.
inline constexpr std::size_t max_page_bytes = 1024 * 1024;

/// Routes a complete request.
route_decision route_request(request const& req, route_context const& ctx);

/// What routing answers to a request whose head alone decides it: a refusal no body could
/// change (414, 404, 405 with Allow, and for POST /fact 401, 415 or a bad Idempotency-Key's
/// 400), or nullopt when the request may be accepted. Reads only the head, so a session can ask
/// before it tells an `Expect: 100-continue` client to send its body; route_request() gives the
/// same refusal for the complete request.
std::optional<response> refusal_before_body(request_header const& req, route_context const& ctx);

/// `{"error": message}` with CORS, for `req` (a full request or only its header).
response error_response(bhttp::status status, std::string_view message, request_header const& req,
                        cors_policy const& cors);

/// The answer to a POST /fact once the writer is done with it: 201 with the stored fact and
/// `Location: /facts/<seq>` (also for a replayed Idempotency-Key), 409 for a key reused with
/// another body, 503 when nothing could be stored (nullopt).
response publish_answer(std::optional<append_result> const& result, request_header const& req,
                        cors_policy const& cors);

/// publish_answer() for a stored fact (`created` or `replayed`) as the bytes it sends, head and
/// body, appended to `out` without building a response: the answer every POST gets, where the
/// profile put the fields' allocations and lookups at a seventh of the server's user time.
/// Returns whether the connection stays open. publish_answer() is its reference.
bool append_stored_answer(std::string& out, append_result const& result, request_header const& req,
                          cors_policy const& cors);

/// True when `authorization` is `Bearer <token>`; compares in constant time.
bool bearer_matches(std::string_view authorization, std::string_view token);

/// An Idempotency-Key we accept: 1 to 255 visible ASCII characters.
bool valid_idempotency_key(std::string_view key);

/// The label /metrics counts a request under: events, fact, facts, status, metrics, healthz,
/// static.
std::string_view route_name(std::string_view target);

/// The header block of an event stream, as bytes, for writing before the raw frames.
std::string stream_header_bytes(response const& res);

}  // namespace facts::http
