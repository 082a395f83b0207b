#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "facts/store/fact_store.hpp"
#include "facts/store/idempotency_keys.hpp"

namespace facts {
/** Represents a batch of appends decided but not yet stored: what to write, what to answer. */
struct append_plan {
  std::vector<append_result> results;  ///< one per request, in order
  std::vector<std::size_t> created;    ///< indexes into results of the facts to store now
};

/// Reads the JSON of a stored fact by seq, for a replay (the keys keep only a hash of it).
using stored_json_reader = std::function<std::optional<std::string>(std::uint64_t seq)>;

/**
 * Decides every request of a batch against the keys already known and those earlier in the same
 * batch, assigning seqs after `last_seq`. A known key whose hash matches the body is confirmed
 * by reading the stored body with `read`. Changes nothing: call commit_plan() once stored.
 */
append_plan plan_append(std::vector<append_request> const& requests, idempotency_keys const& keys,
                        std::uint64_t last_seq, std::int64_t now, stored_json_reader const& read);

/// Remembers the keys of the facts a plan created, after they were stored.
void commit_plan(append_plan const& plan, std::vector<append_request> const& requests,
                 idempotency_keys& keys, std::int64_t now);

}  // namespace facts
