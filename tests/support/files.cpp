#include "support/files.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace facts::test {

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "factsd-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string temp_dir::operator/(std::string_view name) const {
  return (path_ / name).string();
}

void temp_dir::write(std::filesystem::path const& name, std::string const& text) const {
  std::ofstream(path_ / name, std::ios::binary) << text;
}

file_state read_file_state(std::string const& path) {
  file_state s;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::ifstream in(path, std::ios::binary);
  s.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return s;
}

std::set<std::string> list_dir(std::filesystem::path const& dir) {
  std::set<std::string> names;
  for (auto const& entry : std::filesystem::directory_iterator(dir))
    names.insert(entry.path().filename().string());
  return names;
}

}  // namespace facts::test
