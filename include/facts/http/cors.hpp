#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "facts/http/net.hpp"

namespace facts::http {

/**
 * Represents which origins may read from and post to us: `*` (anyone, never with credentials) or
 * an exact list, where a listed Origin is echoed back with `Vary: Origin` and any other gets no
 * Access-Control-Allow-Origin at all.
 */
class cors_policy {
 public:
  /// `credentials`: a listed origin's page may send its cookies (the token of --jwt-cookie), so
  /// it gets `Access-Control-Allow-Credentials: true`; `*` never does, whatever this says.
  explicit cors_policy(std::vector<std::string> origins, bool credentials = false);

  /// Adds the CORS headers every response carries, for a request from `origin` (may be empty).
  void apply(bhttp::fields& out, std::string_view origin) const;

  /// apply() as header lines (`Name: value\r\n`) appended to `out`, in the same order, for an
  /// answer written without a response object.
  void append(std::string& out, std::string_view origin) const;

  /// Adds what an OPTIONS preflight answer carries on top of apply().
  void apply_preflight(bhttp::fields& out, std::string_view origin) const;

 private:
  // Calls emit(field, name, value) for each header apply() sets: the one list both forms use.
  template <class Emit>
  void each_header(std::string_view origin, Emit&& emit) const;

  bool any_ = false;
  bool credentials_ = false;
  std::vector<std::string> origins_;
  std::string any_lines_;  // append()'s lines when any origin may read: the same for everyone
};

}  // namespace facts::http
