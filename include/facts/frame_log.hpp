#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <span>
#include <utility>

#include "facts/sse.hpp"
#include "facts/subscriber.hpp"

namespace facts {

/**
 * Represents the live frames one group of streams still has to send, in seq order, on one byte
 * axis: each stream keeps only its position on that axis, so a new frame costs one append for
 * the whole group instead of one queue push per stream, and a stream's backlog is a subtraction.
 * Not thread-safe: it belongs to the group's thread.
 */
class frame_log {
 public:
  /** Represents one frame and where it starts on the byte axis. */
  struct entry {
    frame bytes;
    frame_meta meta;
    std::uint64_t offset = 0;  ///< bytes appended before this frame
    std::uint64_t end() const { return offset + bytes->size(); }
  };

  /// Adds a frame after the others; `meta.last_seq` must exceed every earlier one's.
  void append(frame bytes, frame_meta meta);

  /**
   * Adds `frames` (in seq order) as one frame, or as two split after seq `split_after`: a
   * stream that keeps up then sends one buffer per pass, however many batches arrived, and one
   * that joined at `split_after` starts between the two. The merged frame's `published` is its
   * oldest batch's. Leaves the frames moved from.
   */
  void append_merged(std::span<std::pair<frame, frame_meta>> frames,
                     std::uint64_t split_after = std::numeric_limits<std::uint64_t>::max());

  /// Byte position just after the newest frame: where a stream that has sent everything is.
  std::uint64_t end_offset() const { return end_offset_; }

  /// Position of the first frame whose last_seq is above `seq` (end_offset() if none): where a
  /// stream whose snapshot ends at `seq` starts.
  std::uint64_t position_after(std::uint64_t seq) const;

  /// Index into entries() of the frame holding byte `position` (entries().size() if none).
  std::size_t index_at(std::uint64_t position) const;

  /// Drops the frames that end at or before `position`: every stream is past them.
  void trim_before(std::uint64_t position);

  std::deque<entry> const& entries() const { return entries_; }

 private:
  std::deque<entry> entries_;
  std::uint64_t end_offset_ = 0;
};

}  // namespace facts
