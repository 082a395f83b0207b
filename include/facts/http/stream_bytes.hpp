#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "facts/frame_log.hpp"
#include "facts/sse.hpp"

namespace facts::http {

/**
 * Represents what one stream owes its client, in the order it goes out: its own frames first
 * (the response head, the snapshot, catch-up chunks, a heartbeat), then its group's frame_log
 * from its position on (once it reads the log), then, when the server stops, a last `retry:`.
 * The one place that order is decided: the gather write walks it (for_each) and what a write
 * took is counted off along the same walk (take). Touched only on the group's thread.
 */
class stream_bytes {
 public:
  enum class part { own, log, last };

  /// Queues `size` bytes of `f` (a catch-up chunk is sent in part) after the own frames queued.
  void push_own(frame f, std::size_t size) { own_.push_back({std::move(f), size}); }
  /// What goes after everything else.
  void set_last(frame f) {
    last_ = std::move(f);
    last_sent_ = 0;
  }
  void clear() {
    own_.clear();
    own_sent_ = 0;
    last_.reset();
  }

  bool own_empty() const { return own_.empty(); }

  /// The first own frame owed (null when none) and how many of its bytes were written.
  std::string const* front_own() const { return own_.empty() ? nullptr : own_.front().bytes.get(); }
  std::size_t front_own_sent() const { return own_sent_; }
  /// Replaces the first own frame, part written, by `f` (whole, none of it written yet), or
  /// drops it when `f` is null: a stream lets go of a frame it shares.
  void replace_front_own(frame f) {
    own_sent_ = 0;
    if (f)
      own_.front() = {f, f->size()};
    else
      own_.erase(own_.begin());
  }
  bool last_owed() const { return last_ && last_sent_ < last_->size(); }
  /// Whether the last frame is partly written: the log ends there for this stream, even if
  /// frames came after (a stream whose token expired while facts keep coming).
  bool last_started() const { return last_ && last_sent_ > 0; }

  /// Next byte of the log this stream sends (the log part starts there).
  std::uint64_t position() const { return position_; }
  void move_to(std::uint64_t position) { position_ = position; }

  /// Visits the runs owed, in order, while `visit(part, data, size)` returns true; the log's
  /// only when `reads_log`, and the last frame only after all of the log.
  template <class Visit>
  void for_each(frame_log const& log, bool reads_log, Visit&& visit) const {
    walk<false>(log, reads_log, visit);
  }

  /// Counts off `bytes` that a write took, along the same walk. Returns how many of them were
  /// the log's: the position moved on by as many.
  std::size_t take(std::size_t bytes, frame_log const& log, bool reads_log);

 private:
  /// The one statement of the order. With `log_as_one_run`, the log from the position to its
  /// end is visited as one run with no data (counting needs only its length).
  template <bool log_as_one_run, class Visit>
  void walk(frame_log const& log, bool reads_log, Visit& visit) const {
    for (std::size_t i = 0; i < own_.size(); ++i) {
      auto const from = i == 0 ? own_sent_ : 0;
      if (!visit(part::own, own_[i].bytes->data() + from, own_[i].size - from)) return;
    }
    if (reads_log && !last_started()) {
      if constexpr (log_as_one_run) {
        auto const size = static_cast<std::size_t>(log.end_offset() - position_);
        if (size > 0 && !visit(part::log, nullptr, size)) return;
      } else {
        auto const& entries = log.entries();
        for (auto i = log.index_at(position_); i < entries.size(); ++i) {
          auto const& e = entries[i];
          auto const from = static_cast<std::size_t>(std::max(position_, e.offset) - e.offset);
          if (!visit(part::log, e.bytes->data() + from, e.bytes->size() - from)) return;
        }
      }
    }
    if (last_owed()) visit(part::last, last_->data() + last_sent_, last_->size() - last_sent_);
  }

  /** Represents bytes owed of its own: the first `size` of a shared frame. */
  struct owed {
    frame bytes;
    std::size_t size = 0;
  };

  std::vector<owed> own_;      // frames of its own, sent before the log
  std::size_t own_sent_ = 0;   // bytes of own_.front() already written
  frame last_;                 // sent after the log when the server stops
  std::size_t last_sent_ = 0;  // bytes of last_ already written
  std::uint64_t position_ = 0;
};

}  // namespace facts::http
