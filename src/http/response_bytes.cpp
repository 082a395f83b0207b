#include "facts/http/response_bytes.hpp"

#include <charconv>

namespace facts::http {

void append_head(std::string& out, response const& res) {
  out += res.version() >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
  char status[4];
  auto const end = std::to_chars(status, status + sizeof status, res.result_int()).ptr;
  out.append(status, end);
  out += ' ';
  out += res.reason();
  out += "\r\n";
  for (auto const& field : res) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace facts::http
