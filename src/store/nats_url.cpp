#include "facts/store/nats_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

namespace facts {

namespace {

constexpr std::string_view scheme = "nats://";
constexpr std::size_t max_stream_name = 64;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Passwords with '@', ':' or ',' can only be written percent-encoded, as in any URL.
std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int const high = hex_value(text[i + 1]);
    int const low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

bool valid_stream_name(std::string_view name) {
  return !name.empty() && name.size() <= max_stream_name &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

// HOST:PORT, [V6]:PORT or HOST alone (port 4222); returns the nats:// form or nothing.
std::optional<std::string> server_address(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string_view host = text;
  std::string_view port = "4222";
  if (text.front() == '[') {
    auto const close = text.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    host = text.substr(0, close + 1);
    auto const rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (auto const colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || host.find_first_of("/?#@ ") != std::string_view::npos) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
      value > 65535)
    return std::nullopt;
  return std::string(scheme) + std::string(host) + ":" + std::to_string(value);
}

nats_url_result failed(std::string why) {
  return {std::nullopt, std::move(why)};
}

}  // namespace

std::string nats_url::describe() const {
  std::string out = "nats://";
  if (!user.empty()) out += user + ":***@";
  if (!token.empty()) out += "***@";
  for (auto const& server : servers) {
    if (&server != &servers.front()) out += ",";
    out += server.substr(scheme.size());
  }
  return out + "/" + stream + "?replicas=" + std::to_string(replicas);
}

nats_url_result parse_nats_url(std::string const& text) {
  std::string_view rest = text;
  if (!rest.starts_with(scheme)) return failed("a NATS store URL starts with nats://");
  rest.remove_prefix(scheme.size());
  auto const slash = rest.find('/');
  if (slash == std::string_view::npos) return failed("no /STREAM after the servers");
  auto authority = rest.substr(0, slash);
  auto path = rest.substr(slash + 1);

  nats_url url;
  if (auto const at = authority.rfind('@'); at != std::string_view::npos) {
    auto const userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto const colon = userinfo.find(':');
    auto const first = percent_decode(userinfo.substr(0, colon));
    if (!first || first->empty()) return failed("the user part before @ is empty or malformed");
    if (colon == std::string_view::npos) {
      url.token = *first;
    } else {
      auto const password = percent_decode(userinfo.substr(colon + 1));
      if (!password) return failed("the password is malformed (percent-encoding)");
      url.user = *first;
      url.password = *password;
    }
  }
  while (true) {
    auto const comma = authority.find(',');
    auto const server = authority.substr(0, comma);
    auto const address = server_address(server);
    // Appended, not "'" + std::string(server) + ...: GCC 12 at -O2 sees a false -Wrestrict there.
    if (!address) return failed(std::string("'").append(server).append("' is not HOST:PORT"));
    url.servers.push_back(*address);
    if (comma == std::string_view::npos) break;
    authority.remove_prefix(comma + 1);
  }

  auto const question = path.find('?');
  auto const stream = path.substr(0, question);
  if (!valid_stream_name(stream))
    return failed("the stream name must be 1 to 64 of A-Z a-z 0-9 _ -");
  url.stream = std::string(stream);
  if (question != std::string_view::npos) {
    auto const query = path.substr(question + 1);
    constexpr std::string_view replicas = "replicas=";
    if (!query.starts_with(replicas)) return failed("the only query parameter is replicas=N");
    auto const digits = query.substr(replicas.size());
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), url.replicas);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        url.replicas < 1 || url.replicas > 5)
      return failed("replicas must be a number from 1 to 5");
  }
  return {std::move(url), {}};
}

}  // namespace facts
