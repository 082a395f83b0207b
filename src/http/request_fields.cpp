#include "facts/http/request_fields.hpp"

#include <algorithm>
#include <charconv>

namespace facts::http {

std::optional<std::string_view> field_value(request_header const& req, bhttp::field name) {
  for (auto const& f : req)
    if (f.name() == name) return std::string_view(f.value());
  return std::nullopt;
}

std::optional<std::string_view> field_value(request_header const& req, std::string_view name) {
  for (auto const& f : req)
    if (f.name() == bhttp::field::unknown && beast::iequals(f.name_string(), name))
      return std::string_view(f.value());
  return std::nullopt;
}

std::string_view origin_of(request_header const& req) {
  return field_value(req, bhttp::field::origin).value_or(std::string_view{});
}

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

bool is_json_media_type(std::string_view content_type) {
  auto type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
    type.remove_prefix(1);
  return beast::iequals(type, "application/json");
}

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

std::string target_for_log(std::string_view target) {
  auto const q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  auto rest = target.substr(q + 1);
  for (bool first = true; !rest.empty() || first; first = false) {
    auto const amp = rest.find('&');
    auto const pair = rest.substr(0, amp);
    if (!first) out += '&';
    // Case-insensitively and also percent-encoded: whatever a server might take for the name.
    auto const name = pair.substr(0, pair.find('='));
    if (beast::iequals(name, "access_token") || name.find('%') != std::string_view::npos)
      out += std::string(name) + "=<hidden>";
    else
      out += pair;
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace facts::http
