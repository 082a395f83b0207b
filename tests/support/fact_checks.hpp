#pragma once

// What the scale-out tests hold every instance to: the acknowledged facts have the ids 1..N,
// each once, and a stream received exactly those, in id order. Each check returns "" when it
// holds and otherwise the first difference, so that one CHECK per stream says what went wrong
// without thousands of assertions.

#include <cstdint>
#include <string>
#include <vector>

#include "support/fact_fleet.hpp"
#include "support/publish_load.hpp"

namespace facts::test {

/// The infos of the acknowledged facts by id (element 0 is id 1), when the ids are exactly
/// 1..N, each given to one fact; otherwise empty, with `why` saying what is wrong.
std::vector<std::string> infos_by_id(std::vector<published_fact> const& facts, std::string& why);

/// "" when `got` is exactly the facts `first_id`..N of `infos`, in order; else what differs.
std::string difference(std::vector<received_fact> const& got, std::vector<std::string> const& infos,
                       std::uint64_t first_id = 1);

}  // namespace facts::test
