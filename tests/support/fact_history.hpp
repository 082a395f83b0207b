#pragma once

// The history an instance serves, read over HTTP: every page of GET /facts, walked with `next`,
// as the facts a stream would have received, so that the same checks apply.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/fact_fleet.hpp"

namespace facts::test {

/// Every fact of GET /facts?after=...&limit=`limit`, page after page until an empty one; throws
/// on an answer that is not a page or a `next` that does not move forward. From id `after` + 1.
std::vector<received_fact> read_history(std::uint16_t port, std::size_t limit = 1000,
                                        std::uint64_t after = 0);

/// The "info" of each fact in a JSON array of facts: a snapshot's or a reset's data.
std::vector<std::string> infos_of_array(std::string const& json_array);

}  // namespace facts::test
