#pragma once

// What the integration tests post, and how they count what a daemon said.

#include <cstddef>
#include <string>
#include <string_view>

namespace facts::test {

/// A small fact that says which one it is: {"info":"fact N","source":"test"}.
std::string numbered_fact(int n);

/// How many times `needle` occurs in `text` (a log, a stream's bytes).
std::size_t count_of(std::string_view text, std::string_view needle);

}  // namespace facts::test
