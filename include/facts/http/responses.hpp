#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "facts/http/cors.hpp"
#include "facts/http/net.hpp"
#include "facts/store/fact_store.hpp"

namespace facts::http {

/// A response to `req` with the server's own fields, CORS and `body`, its length prepared.
response make_response(bhttp::status status, request_header const& req, cors_policy const& cors,
                       std::string_view content_type, std::string body);

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

/// The header block of an event stream, as bytes, for writing before the raw frames.
std::string stream_header_bytes(response const& res);

}  // namespace facts::http
