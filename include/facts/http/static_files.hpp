#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace facts::http {

/** Represents one file of web/ compiled into the binary. */
struct embedded_file {
  std::string_view name;
  std::string_view data;
};

/// The files of web/, generated at build time by cmake/embed_files.cmake.
std::span<embedded_file const> embedded_web_files();

/// The Content-Type for a file name, by extension.
std::string_view mime_type(std::string_view path);

/**
 * Maps a request target to a relative file name: `/` is `index.html`, the query is dropped.
 * Returns nullopt for anything that could leave the web root (`..`, backslashes, NUL, `//`).
 */
std::optional<std::string> web_path(std::string_view target);

/** Represents the page we serve: the embedded copy, or a directory given by --web-root. */
class static_files {
 public:
  /// `web_root` empty: serve the embedded files.
  explicit static_files(std::string web_root);

  /// The file's bytes, or nullopt when there is no such file.
  std::optional<std::string> read(std::string_view relative_path) const;

 private:
  std::string web_root_;
};

}  // namespace facts::http
