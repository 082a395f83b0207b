#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "facts/broadcaster.hpp"
#include "facts/fact.hpp"
#include "facts/http/cors.hpp"
#include "facts/http/net.hpp"
#include "facts/http/static_files.hpp"
#include "facts/store/fact_store.hpp"

namespace facts::http {

/** Represents what request handling may read: the pieces of the server a route needs. */
struct route_context {
  cors_policy const& cors;
  static_files const& files;
  broadcaster const& hub;
  fact_store const& store;
  std::chrono::steady_clock::time_point started;
};

/** Represents what to do with one request; routing itself does no I/O. */
struct route_decision {
  enum class action {
    respond,      ///< send `res`
    open_stream,  ///< hand the connection to an SSE stream whose response header is `res`
    publish,      ///< store `fact_json`, then answer with fact_created()
  };
  action what = action::respond;
  response res;
  std::string fact_json;
};

/// Routes a complete request.
route_decision route_request(request const& req, route_context const& ctx);

/// `{"error": message}` with CORS, for `req` (a full request or only its header).
response error_response(bhttp::status status, std::string_view message, request_header const& req,
                        cors_policy const& cors);

/// 201 with the stored fact and `Location: /facts/<seq>`.
response fact_created(fact const& f, request_header const& req, cors_policy const& cors);

/// The header block of an event stream, as bytes, for writing before the raw frames.
std::string stream_header_bytes(response const& res);

}  // namespace facts::http
