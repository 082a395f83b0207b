#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "facts/fact.hpp"

namespace facts {

/** Represents a failure of the storage backend; the facts of the failed call were not stored. */
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/**
 * Represents where facts live. Sequence numbers are assigned here: consecutive, starting at 1,
 * never reused. Implementations are safe to call from several threads.
 */
class fact_store {
 public:
  virtual ~fact_store() = default;

  /// Stores the JSON texts in order as one unit and returns them as facts with their seqs.
  /// Throws store_error, in which case none of them is stored.
  virtual std::vector<fact> append(std::vector<std::string> const& jsons) = 0;

  /// At most `max` facts with seq > `after`, oldest first.
  virtual std::vector<fact> read_after(std::uint64_t after, std::size_t max) const = 0;

  /// The newest `max` facts (0 = all), oldest first.
  virtual std::vector<fact> read_latest(std::size_t max) const = 0;

  virtual std::uint64_t last_seq() const = 0;
  virtual std::uint64_t count() const = 0;

  /// What the logs call this store, e.g. "memory:".
  virtual std::string describe() const = 0;
};

}  // namespace facts
