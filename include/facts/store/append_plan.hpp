#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "facts/store/fact_store.hpp"
#include "facts/store/idempotency_keys.hpp"

namespace facts {
/** Represents a batch of appends decided but not yet stored: what to write, what to answer. */
struct append_plan {
  std::vector<append_result> results;  ///< one per request, in order
  std::vector<std::size_t> created;    ///< indexes into results of the facts to store now
};

/**
 * Decides every request of a batch against the keys already known and those earlier in the same
 * batch, assigning seqs after `last_seq`. Changes nothing: call commit_plan() once stored.
 */
append_plan plan_append(std::vector<append_request> const& requests, idempotency_keys const& keys,
                        std::uint64_t last_seq, std::int64_t now);

/// Remembers the keys of the facts a plan created, after they were stored.
void commit_plan(append_plan const& plan, std::vector<append_request> const& requests,
                 idempotency_keys& keys, std::int64_t now);

}  // namespace facts
