#include "facts/http/cors.hpp"

#include <algorithm>

namespace facts::http {

cors_policy::cors_policy(std::vector<std::string> origins, bool credentials)
    : credentials_(credentials), origins_(std::move(origins)) {
  any_ = origins_.empty() || std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
  if (any_) append(any_lines_, {});
}

template <class Emit>
void cors_policy::each_header(std::string_view origin, Emit&& emit) const {
  emit(bhttp::field::access_control_expose_headers, "Location, Idempotent-Replayed");
  if (any_) {
    emit(bhttp::field::access_control_allow_origin, "*");
    return;
  }
  // The answer depends on Origin, so caches must key on it even when we refuse.
  emit(bhttp::field::vary, "Origin");
  if (std::find(origins_.begin(), origins_.end(), origin) == origins_.end()) return;
  emit(bhttp::field::access_control_allow_origin, origin);
  // Only with an exact origin: browsers refuse credentials with `*`, and rightly so.
  if (credentials_) emit(bhttp::field::access_control_allow_credentials, "true");
}

void cors_policy::apply(bhttp::fields& out, std::string_view origin) const {
  each_header(origin, [&](bhttp::field name, std::string_view value) { out.set(name, value); });
}

void cors_policy::append(std::string& out, std::string_view origin) const {
  if (!any_lines_.empty()) {
    out += any_lines_;
    return;
  }
  each_header(origin, [&](bhttp::field name, std::string_view value) {
    out += bhttp::to_string(name);
    out += ": ";
    out += value;
    out += "\r\n";
  });
}

void cors_policy::apply_preflight(bhttp::fields& out, std::string_view origin) const {
  apply(out, origin);
  out.set(bhttp::field::access_control_allow_methods, "GET, POST, OPTIONS");
  out.set(bhttp::field::access_control_allow_headers,
          "Content-Type, Last-Event-ID, Authorization, Idempotency-Key");
  out.set(bhttp::field::access_control_max_age, "86400");
}

}  // namespace facts::http
