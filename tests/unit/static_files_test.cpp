#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "facts/http/static_files.hpp"
#include "support/files.hpp"

namespace fs = std::filesystem;
using facts::http::mime_type;
using facts::http::static_files;
using facts::http::web_path;

using facts::test::temp_dir;

TEST_CASE("mime_type by extension") {
  CHECK(mime_type("index.html") == "text/html; charset=utf-8");
  CHECK(mime_type("app.js") == "text/javascript; charset=utf-8");
  CHECK(mime_type("style.css") == "text/css; charset=utf-8");
  CHECK(mime_type("data.json") == "application/json");
  CHECK(mime_type("a/b/c.svg") == "image/svg+xml");
  CHECK(mime_type("archive.tar.gz") == "application/octet-stream");
  CHECK(mime_type("Makefile") == "application/octet-stream");
  CHECK(mime_type("") == "application/octet-stream");
}

TEST_CASE("web_path maps / to index.html and drops the query") {
  CHECK(web_path("/") == "index.html");
  CHECK(web_path("/?x=1") == "index.html");
  CHECK(web_path("/app.js?x=1") == "app.js");
  CHECK(web_path("/app.js#top") == "app.js");
  CHECK(web_path("/style.css") == "style.css");
  CHECK(web_path("/a/b.css") == "a/b.css");
  CHECK(web_path("/.well-known") == ".well-known");
}

TEST_CASE("web_path rejects anything that could leave the web root") {
  auto const target = GENERATE(
      as<std::string>{}, "", "index.html", "/../etc/passwd", "/..", "/a/../b", "/a/..", "/.",
      "/./a", "/a/./b", "//x", "/a//b", "/a/", "/a\\b", "/..\\x", "/%2e%2e/x", "/%2E%2E/x",
      "/a%2f..%2fb", "http://host/a", std::string("/a\0b", 4), std::string("/\0", 2), "/?/../x");
  CAPTURE(target);
  auto const p = web_path(target);
  // "/?/../x" is "/" with a query, which is fine; everything else must be refused.
  if (target == "/?/../x")
    CHECK(p == "index.html");
  else
    CHECK_FALSE(p.has_value());
}

TEST_CASE("static_files reads files from a web root") {
  temp_dir dir;
  dir.write("index.html", "<p>hi</p>");
  fs::create_directories(dir.path() / "sub");
  dir.write("sub/app.js", std::string("a\0b\r\n", 5));  // bytes as they are
  fs::create_directories(dir.path() / "folder");
  static_files const files(dir.path().string());

  CHECK(files.read("index.html") == "<p>hi</p>");
  CHECK(files.read("sub/app.js") == std::string("a\0b\r\n", 5));
  CHECK_FALSE(files.read("missing.html").has_value());
  CHECK_FALSE(files.read("sub/missing.js").has_value());
  // A directory is not a file, even though it exists.
  CHECK_FALSE(files.read("folder").has_value());
  CHECK_FALSE(files.read("sub").has_value());
}

TEST_CASE("static_files reads an empty file as empty, not missing") {
  temp_dir dir;
  dir.write("empty.txt", "");
  static_files const files(dir.path().string());
  auto const bytes = files.read("empty.txt");
  REQUIRE(bytes.has_value());
  CHECK(bytes->empty());
}

TEST_CASE("static_files with no web root serves the embedded page") {
  auto const embedded = facts::http::embedded_web_files();
  auto const listed = [&](std::string_view name) {
    return std::any_of(embedded.begin(), embedded.end(),
                       [&](auto const& f) { return f.name == name; });
  };
  CHECK(listed("index.html"));
  CHECK(listed("app.js"));
  CHECK(listed("style.css"));

  static_files const files("");
  CHECK(files.read("index.html").has_value());
  CHECK(files.read("app.js").has_value());
  CHECK(files.read("style.css").has_value());
  CHECK_FALSE(files.read("missing.html").has_value());
  CHECK_FALSE(files.read("").has_value());
}

TEST_CASE("static_files embedded bytes match the listing") {
  static_files const files("");
  for (auto const& f : facts::http::embedded_web_files()) {
    CAPTURE(f.name);
    auto const bytes = files.read(f.name);
    REQUIRE(bytes.has_value());
    CHECK(*bytes == f.data);
  }
}
