#include "facts/http/cors.hpp"

#include <algorithm>

namespace facts::http {

cors_policy::cors_policy(std::vector<std::string> origins) : origins_(std::move(origins)) {
  any_ = origins_.empty() || std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
}

void cors_policy::apply(bhttp::fields& out, std::string_view origin) const {
  out.set(bhttp::field::access_control_expose_headers, "Location, Idempotent-Replayed");
  if (any_) {
    out.set(bhttp::field::access_control_allow_origin, "*");
    return;
  }
  // The answer depends on Origin, so caches must key on it even when we refuse.
  out.set(bhttp::field::vary, "Origin");
  if (std::find(origins_.begin(), origins_.end(), origin) != origins_.end())
    out.set(bhttp::field::access_control_allow_origin, origin);
}

void cors_policy::apply_preflight(bhttp::fields& out, std::string_view origin) const {
  apply(out, origin);
  out.set(bhttp::field::access_control_allow_methods, "GET, POST, OPTIONS");
  out.set(bhttp::field::access_control_allow_headers,
          "Content-Type, Last-Event-ID, Authorization, Idempotency-Key");
  out.set(bhttp::field::access_control_max_age, "86400");
}

}  // namespace facts::http
