#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facts/fact.hpp"

namespace facts {

/**
 * Represents the newest facts, kept for new streams' snapshots, as an immutable value: a publish
 * makes a new window that shares every chunk of facts with the old one, so the broadcaster's
 * lock only swaps a pointer, and a join reads the window it got outside the lock while later
 * publishes go on. Seqs are consecutive. Each fact also carries the bytes of JSON before it, so
 * the size of any range is a subtraction.
 *
 * A publish writes its facts into the free slots of the newest chunk in place: the windows that
 * share the chunk read only the slots up to their own last fact, which are never written again.
 * Copying that chunk instead (up to chunk_size facts per publish) cost more than the rest of a
 * small batch's publish. So with() must not run on two windows that share a chunk at once; the
 * broadcaster calls it under its publish lock.
 */
class fact_window {
 public:
  /// Facts per chunk: a publish copies the chunk pointers.
  static constexpr std::size_t chunk_size = 256;

  fact_window() = default;

  /// A window of `facts` (consecutive seqs, oldest first), keeping the newest `limit` (0: all).
  static std::shared_ptr<fact_window const> make(std::vector<fact> facts, std::size_t limit);

  /// This window with `batch` (the seqs after last_seq()) appended, trimmed to `limit` and to
  /// the facts from `first_kept` on (the store's oldest; retention removed those before it).
  std::shared_ptr<fact_window const> with(std::vector<fact> const& batch, std::size_t limit,
                                          std::uint64_t first_kept = 0) const;

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  std::uint64_t first_seq() const { return first_seq_; }  ///< meaningless when empty
  std::uint64_t last_seq() const { return first_seq_ + size_ - 1; }

  /// Bytes of JSON of the facts with seq in [from, last_seq()]; `from` must lie in the window.
  std::uint64_t bytes_from(std::uint64_t from) const;

  /// The snapshot event with id `id` of the facts with seq in [from, last_seq()], as
  /// make_snapshot() writes it; `from` beyond last_seq() gives an empty array.
  std::string snapshot_from(std::uint64_t from, std::uint64_t id, bool reset) const;

 private:
  /** Represents chunk_size slots for consecutive facts, shared between windows; a filled slot
   * never changes. */
  struct chunk {
    std::uint64_t first_seq = 0;
    std::size_t filled = 0;  ///< slots written; read and written only by with()
    std::array<fact, chunk_size> facts;
    std::array<std::uint64_t, chunk_size> bytes_before;  ///< JSON bytes of every fact before
  };

  fact const& at(std::uint64_t seq) const;
  std::uint64_t bytes_before(std::uint64_t seq) const;
  std::uint64_t bytes_after_last() const;

  std::vector<std::shared_ptr<chunk>> chunks_;  // all full but the last
  std::uint64_t first_seq_ = 0;
  std::size_t size_ = 0;
};

}  // namespace facts
