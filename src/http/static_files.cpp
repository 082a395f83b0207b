#include "facts/http/static_files.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace facts::http {

std::string_view mime_type(std::string_view path) {
  auto const dot = path.rfind('.');
  auto const ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot);
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::optional<std::string> web_path(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target.front() != '/') return std::nullopt;
  target.remove_prefix(1);
  if (target.empty()) return "index.html";
  if (target.find_first_of(std::string_view("\\\0%", 3)) != std::string_view::npos)
    return std::nullopt;
  // Every segment must be a plain name: no "", ".", or "..".
  std::size_t start = 0;
  for (;;) {
    auto const slash = target.find('/', start);
    auto const segment = target.substr(start, slash - start);
    if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::string(target);
}

static_files::static_files(std::string web_root) : web_root_(std::move(web_root)) {}

std::optional<std::string> static_files::read(std::string_view relative_path) const {
  if (web_root_.empty()) {
    for (auto const& file : embedded_web_files())
      if (file.name == relative_path) return std::string(file.data);
    return std::nullopt;
  }
  auto const path = std::filesystem::path(web_root_) / std::string(relative_path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(bytes).str();
}

}  // namespace facts::http
