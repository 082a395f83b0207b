#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "facts/http/net.hpp"

namespace facts::http {

/// The first value of field `name` in `req`: a scan of its few fields by their enum, cheaper
/// than basic_fields::find's case-insensitive tree search by name (each lookup was 500
/// instructions of a POST's 14,000).
std::optional<std::string_view> field_value(request_header const& req, bhttp::field name);

/// The same for a field Beast has no enum for.
std::optional<std::string_view> field_value(request_header const& req, std::string_view name);

/// The request's Origin, or empty.
std::string_view origin_of(request_header const& req);

/// Whether the client wants the connection kept open: the rule Beast's message applies, for a
/// header alone (which has no keep_alive()).
bool wants_keep_alive(request_header const& req);

/// True for `application/json`, with any parameters (`; charset=utf-8`) and any case.
bool is_json_media_type(std::string_view content_type);

/// The value of `name` in a request target's query string, if present (no percent-decoding:
/// we take numbers).
std::optional<std::string_view> query_param(std::string_view target, std::string_view name);

/// `target` as it may be logged: an `access_token` in its query is replaced by `<hidden>`, so
/// that no token ever reaches a log.
std::string target_for_log(std::string_view target);

/// A decimal number that is all of `text`, or nullopt.
std::optional<std::uint64_t> parse_u64(std::string_view text);

}  // namespace facts::http
