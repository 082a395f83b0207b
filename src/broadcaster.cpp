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

/** What join() decided under the lock; the snapshot is built from it after the lock is gone. */
struct broadcaster::admission {
  enum class kind { whole_window, resume, catch_up };
  kind what = kind::whole_window;
  bool reset = false;
  std::shared_ptr<fact_window const> window;  // the window as of `seq`: immutable
  std::uint64_t seq = 0;
  std::uint64_t after = 0;  // resume and catch_up: the facts after it
  std::uint64_t first = 0;  // whole_window: the oldest fact of the snapshot
  frame cached;             // already built for this seq
};

broadcaster::broadcaster(std::vector<fact> recent, std::size_t replay_limit,
                         fact_store const* history, std::size_t snapshot_bytes)
    : replay_limit_(replay_limit),
      history_(history),
      snapshot_bytes_(snapshot_bytes),
      heartbeat_frame_(std::make_shared<std::string const>(make_heartbeat())),
      fanned_(recent.empty() ? 0 : recent.back().seq) {
  if (!recent.empty()) last_seq_ = recent.back().seq;
  resume_seq_ = last_seq_;  // a reconnect storm right after a start shares its snapshots too
  window_ = fact_window::make(std::move(recent), replay_limit_);
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
  admission a;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_ || full_locked()) return std::nullopt;
    a = admit_locked(last_event_id);
    clients_.fetch_add(1, std::memory_order_relaxed);
  }
  // Outside the lock: serializing a snapshot of megabytes must not hold up publishes, other
  // joins or /status. The window `a` holds is the one of `a.seq`, and never changes.
  joined_stream out{a.cached, a.seq, std::nullopt, false};
  if (a.what == admission::kind::catch_up) {
    out.catch_up_after = a.after;  // no snapshot here: the first chunk read is the array
    out.reset = a.reset;
    return out;
  }
  if (!out.snapshot) {
    out.snapshot = build(a);
    remember(a, out.snapshot);
  }
  return out;
}

broadcaster::admission broadcaster::admit_locked(std::optional<std::string_view> last_event_id) {
  admission a;
  a.window = window_;
  a.seq = last_seq_.load(std::memory_order_relaxed);
  auto const from = parse_last_event_id(last_event_id, a.seq);
  auto const& window = *a.window;
  // The store's oldest kept fact: retention may have removed the window's oldest since the
  // last publish (an age bound, a background delete).
  auto const first_kept = history_ != nullptr ? history_->first_seq() : 0;
  auto const window_start = std::max(window.empty() ? a.seq + 1 : window.first_seq(), first_kept);
  a.first = window_start;
  // Without a store to read from, every snapshot is built whole, whatever its size.
  bool const can_catch_up = history_ != nullptr;
  auto const too_big = [&](std::uint64_t first, std::size_t bound) {
    return can_catch_up && window.bytes_from(first) > bound;
  };
  // An id before the oldest kept fact: what it missed no longer exists, and the client is told
  // so (a reset to what is kept), never served a silent hole.
  a.reset = from.reset || (from.after != 0 && from.after + 1 < first_kept);
  if (!a.reset && from.after != 0) {
    a.after = from.after;
    bool const in_window = from.after + 1 >= window_start;
    // A resume's snapshot is its own (shared only with the same id), so it is kept smaller than
    // the new clients' one, which every join at a seq shares: a crowd of slow clients resuming
    // from scattered ids holds 64 KiB each at most, and the rest comes in budgeted chunks.
    if (in_window && !too_big(from.after + 1, std::min(snapshot_bytes_, resume_snapshot_bytes))) {
      a.what = admission::kind::resume;
      if (resume_seq_ == a.seq)
        if (auto it = resume_snapshots_.find(from.after); it != resume_snapshots_.end())
          a.cached = it->second;
      return a;
    }
    a.what = admission::kind::catch_up;
    if (in_window || (can_catch_up && window_start - 1 - from.after <= max_catch_up)) return a;
    a.reset = true;  // too far behind, or nowhere to read from: start over from the window
  }
  if (too_big(window_start, snapshot_bytes_)) {
    a.what = admission::kind::catch_up;
    a.after = window_start - 1;
    return a;
  }
  a.what = admission::kind::whole_window;
  auto const& cached = a.reset ? reset_snapshot_ : full_snapshot_;
  if (cached.bytes && cached.seq == a.seq && cached.first == a.first) a.cached = cached.bytes;
  return a;
}

frame broadcaster::build(admission const& a) {
  auto const first = a.what == admission::kind::resume ? a.after + 1 : a.first;
  ++snapshots_built_;
  return std::make_shared<std::string const>(a.window->snapshot_from(first, a.seq, a.reset));
}

void broadcaster::remember(admission const& a, frame const& built) {
  std::lock_guard lock(mutex_);
  // Two joins at one seq may both have built it; the first one kept serves every later join.
  if (last_seq_.load(std::memory_order_relaxed) != a.seq) return;  // already stale
  if (a.what == admission::kind::whole_window) {
    (a.reset ? reset_snapshot_ : full_snapshot_) = {a.seq, a.first, built};
    return;
  }
  if (resume_seq_ != a.seq) return;  // publish() moved it on, or nothing kept yet for a.seq
  // Kept for a reconnect storm (thousands of identical ids), bounded for scattered ones.
  constexpr std::size_t max_resume_snapshots = 64;
  if (resume_snapshots_.size() < max_resume_snapshots)
    resume_snapshots_.try_emplace(a.after, built);
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

void broadcaster::publish(std::vector<fact> const& batch) {
  if (batch.empty()) return;
  // Everything that costs is done before the hub's lock: the next window (it shares all but
  // the newest chunk with this one) and the batch's frame. window_ only changes under
  // publish_mutex_, which we hold, so reading it here races with nothing.
  std::lock_guard serial(publish_mutex_);
  auto next = window_->with(batch, replay_limit_, history_ != nullptr ? history_->first_seq() : 0);
  std::size_t size = 0;
  for (auto const& f : batch)
    size += f.json.size() + 32;  // "id: ", the seq, "\ndata: " and "\n\n" fit in 32
  std::string bytes;
  bytes.reserve(size);
  for (auto const& f : batch)
    append_event(bytes, f);
  auto const shared = std::make_shared<std::string const>(std::move(bytes));
  frame_meta const meta{static_cast<std::uint32_t>(batch.size()), std::chrono::steady_clock::now(),
                        batch.back().seq};

  // What the lock replaces is freed after it: a window or a snapshot may be megabytes.
  cached_frame old_full;
  cached_frame old_reset;
  std::unordered_map<std::uint64_t, frame> old_resumes;
  {
    std::lock_guard lock(mutex_);
    window_.swap(next);
    last_seq_.store(batch.back().seq, std::memory_order_release);
    std::swap(old_full, full_snapshot_);
    std::swap(old_reset, reset_snapshot_);
    old_resumes.swap(resume_snapshots_);
    resume_seq_ = batch.back().seq;
    // Handing over under the lock keeps every subscriber in seq order; deliver() only posts.
    for (auto const& [key, weak] : subscribers_)
      if (auto sub = weak.lock()) sub->deliver(shared, meta);
  }
  // Every stream has the batch queued: whoever waited for it (a POST's answer) may go on.
  fanned_.reached(batch.back().seq);
}

void broadcaster::heartbeat() {
  std::lock_guard lock(mutex_);
  for (auto const& [key, weak] : subscribers_)
    if (auto sub = weak.lock()) sub->heartbeat(heartbeat_frame_);
}

void broadcaster::shutdown() {
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    for (auto const& [key, weak] : subscribers_)
      if (auto sub = weak.lock()) sub->close();
  }
  // A resume still waiting for its id is let in now, and refused as every join is from here.
  fanned_.close();
}

}  // namespace facts
