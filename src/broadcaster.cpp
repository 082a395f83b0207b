#include "facts/broadcaster.hpp"

#include <algorithm>
#include <charconv>

namespace facts {

resume_point parse_last_event_id(std::optional<std::string_view> header, std::uint64_t last_seq) {
  if (!header) return {0, false};
  std::uint64_t id = 0;
  auto const* begin = header->data();
  auto const* end = begin + header->size();
  auto [stop, ec] = std::from_chars(begin, end, id);
  if (header->empty() || ec != std::errc{} || stop != end || id > last_seq) return {0, true};
  return {id, false};
}

broadcaster::broadcaster(std::vector<fact> recent, std::size_t replay_limit,
                         fact_store const* history)
    : replay_limit_(replay_limit),
      history_(history),
      heartbeat_frame_(std::make_shared<std::string const>(make_heartbeat())) {
  if (replay_limit_ != 0 && recent.size() > replay_limit_)
    recent.erase(recent.begin(), recent.end() - static_cast<std::ptrdiff_t>(replay_limit_));
  if (!recent.empty()) last_seq_ = recent.back().seq;
  recent_.assign(std::make_move_iterator(recent.begin()), std::make_move_iterator(recent.end()));
}

void broadcaster::attach(std::shared_ptr<subscriber> const& sub) {
  std::lock_guard lock(mutex_);
  subscribers_.insert_or_assign(sub.get(), sub);
}

void broadcaster::detach(subscriber const* sub) {
  std::lock_guard lock(mutex_);
  subscribers_.erase(sub);
}

std::optional<joined_stream> broadcaster::join(std::optional<std::string_view> last_event_id) {
  // A client resuming from before the replay window catches up from the store. That read is
  // I/O, so it happens outside the lock, and the lock then only stitches it to the window.
  // The window may move on while we read; then we read the part it left behind and try again.
  std::vector<fact> older;
  for (int attempt = 0; attempt < max_catch_up_reads; ++attempt) {
    std::uint64_t first_missing = 0;
    std::uint64_t window_start = 0;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_ || full_locked()) return std::nullopt;
      auto const from = parse_last_event_id(last_event_id, last_seq_);
      window_start = window_start_locked();
      bool const behind = history_ && !from.reset && from.after != 0 &&
                          from.after + 1 < window_start &&
                          window_start - 1 - from.after <= max_catch_up;
      first_missing = older.empty() ? from.after + 1 : older.back().seq + 1;
      if (!behind || first_missing >= window_start) return admit_locked(from, older);
    }
    auto more = history_->read_after(first_missing - 1, window_start - first_missing);
    if (more.empty() || more.front().seq != first_missing) break;  // the store lost facts
    older.insert(older.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  std::lock_guard lock(mutex_);
  if (shut_down_ || full_locked()) return std::nullopt;
  return admit_locked(parse_last_event_id(last_event_id, last_seq_), older);
}

joined_stream broadcaster::admit_locked(resume_point from, std::vector<fact> const& older) {
  auto snapshot = snapshot_locked(from, older);
  clients_.fetch_add(1, std::memory_order_relaxed);
  return {std::move(snapshot), last_seq_};
}

void broadcaster::leave() {
  std::lock_guard lock(mutex_);
  clients_.fetch_sub(1, std::memory_order_relaxed);
}

bool broadcaster::full_locked() const {
  return max_clients_ != 0 && clients_.load(std::memory_order_relaxed) >= max_clients_;
}

void broadcaster::limit_clients(std::size_t max) {
  std::lock_guard lock(mutex_);
  max_clients_ = max;
}

bool broadcaster::shutting_down() const {
  std::lock_guard lock(mutex_);
  return shut_down_;
}

std::uint64_t broadcaster::window_start_locked() const {
  return recent_.empty() ? last_seq_ + 1 : recent_.front().seq;
}

frame broadcaster::snapshot_locked(resume_point from, std::vector<fact> const& older) {
  bool const new_client = !from.reset && from.after == 0;
  if (new_client && full_snapshot_) return full_snapshot_;

  std::vector<fact> facts;
  auto const window_start = window_start_locked();
  if (!new_client && !from.reset && from.after + 1 < window_start) {
    // Behind the window: the store read must reach the window without a hole, or we cannot
    // promise this client every fact; then it starts over from the window, as a reset.
    bool const stitched = !older.empty() && older.front().seq == from.after + 1 &&
                          older.back().seq + 1 >= window_start;
    if (stitched) {
      for (auto const& f : older)
        if (f.seq < window_start) facts.push_back(f);
    } else {
      from = {0, true};
    }
  }
  // recent_ holds consecutive seqs, so the first fact after `from.after` is found by offset.
  auto first = recent_.begin();
  if (!from.reset && !recent_.empty() && from.after >= recent_.front().seq)
    first += static_cast<std::ptrdiff_t>(from.after - recent_.front().seq + 1);
  // A reset replays the whole window, like a new client's snapshot: cached the same way, so a
  // stream of clients with unusable ids costs one serialization per seq, not one each.
  if (from.reset && reset_snapshot_) return reset_snapshot_;
  facts.insert(facts.end(), first, recent_.end());
  auto built = std::make_shared<std::string const>(make_snapshot(facts, last_seq_, from.reset));
  ++snapshots_built_;
  if (new_client) full_snapshot_ = built;
  if (from.reset) reset_snapshot_ = built;
  return built;
}

void broadcaster::publish(std::vector<fact> const& batch) {
  if (batch.empty()) return;
  // One frame for the whole batch, handed once to each I/O thread's group of streams.
  std::string bytes;
  for (auto const& f : batch)
    bytes += make_event(f);
  auto const shared = std::make_shared<std::string const>(std::move(bytes));
  frame_meta const meta{static_cast<std::uint32_t>(batch.size()), std::chrono::steady_clock::now(),
                        batch.back().seq};

  std::lock_guard lock(mutex_);
  for (auto const& f : batch)
    recent_.push_back(f);
  while (replay_limit_ != 0 && recent_.size() > replay_limit_)
    recent_.pop_front();
  last_seq_ = batch.back().seq;
  full_snapshot_.reset();
  reset_snapshot_.reset();
  // Handing over under the lock keeps every subscriber in seq order; deliver() only posts.
  for (auto const& [key, weak] : subscribers_)
    if (auto sub = weak.lock()) sub->deliver(shared, meta);
}

void broadcaster::heartbeat() {
  std::lock_guard lock(mutex_);
  for (auto const& [key, weak] : subscribers_)
    if (auto sub = weak.lock()) sub->heartbeat(heartbeat_frame_);
}

void broadcaster::shutdown() {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  for (auto const& [key, weak] : subscribers_)
    if (auto sub = weak.lock()) sub->close();
}

std::uint64_t broadcaster::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

std::uint64_t broadcaster::snapshots_built() const {
  std::lock_guard lock(mutex_);
  return snapshots_built_;
}

}  // namespace facts
