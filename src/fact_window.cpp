#include "facts/fact_window.hpp"

#include <algorithm>

#include "facts/sse.hpp"

namespace facts {

std::shared_ptr<fact_window const> fact_window::make(std::vector<fact> facts, std::size_t limit) {
  if (limit != 0 && facts.size() > limit)
    facts.erase(facts.begin(), facts.end() - static_cast<std::ptrdiff_t>(limit));
  return fact_window{}.with(facts, limit);
}

std::shared_ptr<fact_window const> fact_window::with(std::vector<fact> const& batch,
                                                     std::size_t limit,
                                                     std::uint64_t first_kept) const {
  auto next = std::make_shared<fact_window>(*this);  // copies chunk pointers only
  if (batch.empty()) return next;
  // Seqs are consecutive; a batch that is not the next one starts the window over.
  if (next->size_ != 0 && batch.front().seq != next->last_seq() + 1) next->size_ = 0;
  if (next->size_ == 0) {
    next->chunks_.clear();
    next->first_seq_ = batch.front().seq;
  }
  auto bytes = next->size_ == 0 ? 0 : next->bytes_after_last();
  if (!next->chunks_.empty()) {
    // Slots past this window's last fact that another window has filled (this window is being
    // extended a second time) are not ours to overwrite: that chunk is copied instead.
    auto& last = next->chunks_.back();
    auto const used = static_cast<std::size_t>(next->last_seq() + 1 - last->first_seq);
    if (last->filled != used) {
      last = std::make_shared<chunk>(*last);
      last->filled = used;
    }
  }
  for (auto const& f : batch) {
    if (next->chunks_.empty() || next->chunks_.back()->filled == chunk_size) {
      next->chunks_.push_back(std::make_shared<chunk>());
      next->chunks_.back()->first_seq = f.seq;
    }
    auto& open = *next->chunks_.back();
    open.facts[open.filled] = f;
    open.bytes_before[open.filled] = bytes;
    ++open.filled;
    bytes += f.json.size();
  }
  next->size_ += batch.size();
  // Trimming drops whole chunks once the window no longer reaches into them.
  std::size_t drop = limit != 0 && next->size_ > limit ? next->size_ - limit : 0;
  // Facts the store no longer keeps are no snapshot's either.
  if (first_kept > next->first_seq_ + drop)
    drop = static_cast<std::size_t>(
        std::min<std::uint64_t>(next->size_, first_kept - next->first_seq_));
  if (drop == next->size_) {
    next->chunks_.clear();
    next->size_ = 0;
  } else if (drop != 0) {
    next->first_seq_ += drop;
    next->size_ -= drop;
    auto const first_chunk =
        std::find_if(next->chunks_.begin(), next->chunks_.end(),
                     [&](auto const& c) { return c->first_seq + chunk_size > next->first_seq_; });
    next->chunks_.erase(next->chunks_.begin(), first_chunk);
  }
  return next;
}

fact const& fact_window::at(std::uint64_t seq) const {
  // Every chunk but the last is full, so the chunk is found by division.
  auto const base = chunks_.front()->first_seq;
  auto const& c = *chunks_[(seq - base) / chunk_size];
  return c.facts[seq - c.first_seq];
}

std::uint64_t fact_window::bytes_before(std::uint64_t seq) const {
  auto const base = chunks_.front()->first_seq;
  auto const& c = *chunks_[(seq - base) / chunk_size];
  return c.bytes_before[seq - c.first_seq];
}

std::uint64_t fact_window::bytes_after_last() const {
  // Not the chunk's last filled slot: a later window may have filled more of it.
  return bytes_before(last_seq()) + at(last_seq()).json.size();
}

std::uint64_t fact_window::bytes_from(std::uint64_t from) const {
  if (size_ == 0 || from > last_seq()) return 0;
  return bytes_after_last() - bytes_before(std::max(from, first_seq_));
}

std::string fact_window::snapshot_from(std::uint64_t from, std::uint64_t id, bool reset) const {
  // make_snapshot() of nothing gives the frame's head and tail: "...data: []\n\n".
  auto const empty = make_snapshot({}, id, reset);
  std::string out;
  out.reserve(empty.size() + bytes_from(from) + size_);
  out.append(empty, 0, empty.size() - 3);
  if (size_ != 0) {
    for (auto seq = std::max(from, first_seq_); seq <= last_seq(); ++seq) {
      if (seq != std::max(from, first_seq_)) out += ',';
      out += at(seq).json;
    }
  }
  out += "]\n\n";
  return out;
}

}  // namespace facts
