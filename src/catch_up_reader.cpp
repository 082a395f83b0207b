#include "facts/catch_up_reader.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "facts/sse.hpp"

namespace facts {

catch_up_reader::catch_up_reader(fact_store const& store, std::size_t chunk_bytes,
                                 std::size_t budget_bytes, unsigned threads)
    : store_(store),
      chunk_bytes_(chunk_bytes),
      budget_bytes_(budget_bytes),
      budget_(std::make_shared<budget>()) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i)
    threads_.emplace_back([this] { run(); });
}

catch_up_reader::~catch_up_reader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    t.join();
}

void catch_up_reader::read(std::uint64_t after, done_fn done, std::size_t bytes) {
  ask({after, 0, chunk_form::events, bytes == chunk_bytes_ ? 0 : bytes}, std::move(done));
}

void catch_up_reader::read_first(std::uint64_t after, std::uint64_t until, bool reset,
                                 done_fn done) {
  ask({after, until, reset ? chunk_form::reset_array : chunk_form::array}, std::move(done));
}

void catch_up_reader::ask(request what, done_fn done) {
  std::shared_ptr<catch_up_chunk const> ready;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (auto it = shared_.find(what); it != shared_.end()) ready = it->second.lock();
    if (!ready) {
      // Already asked for by another stream: one read answers both.
      auto [it, fresh] = waiting_.try_emplace(what);
      it->second.push_back(std::move(done));
      if (fresh) {
        (what.form == chunk_form::events ? queue_ : firsts_).push_back(what);
        wake_.notify_one();
      }
      return;
    }
  }
  done(std::move(ready));
}

void catch_up_reader::run() {
  for (;;) {
    request what;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty() || !firsts_.empty(); });
      // Over budget: wait until streams have sent (or given back) enough chunks. A chunk's
      // deleter runs on any thread, under any lock, so it only lowers a counter: we poll it.
      std::optional<request> next;
      while (!stopping_ && !(next = next_allowed()))
        wake_.wait_for(lock, std::chrono::milliseconds(20));
      if (stopping_) return;
      what = *next;
    }
    std::shared_ptr<catch_up_chunk const> chunk;
    try {
      chunk = read_chunk(what);
    } catch (std::exception const& e) {
      spdlog::error("[catch-up] reading the facts after {} failed: {}", what.after, e.what());
    }
    std::vector<done_fn> waiters;
    {
      std::lock_guard lock(mutex_);
      if (auto it = waiting_.find(what); it != waiting_.end()) {
        waiters = std::move(it->second);
        waiting_.erase(it);
      }
      if (chunk) {
        // Only weak references: a chunk lives as long as a stream still sends it.
        if (shared_.size() > 4096)
          std::erase_if(shared_, [](auto const& e) { return e.second.expired(); });
        shared_[what] = chunk;
      }
    }
    for (auto& done : waiters)
      done(chunk);
  }
}

std::size_t catch_up_reader::reads_waiting() const {
  std::lock_guard lock(mutex_);
  return firsts_.size() + queue_.size();
}

std::optional<catch_up_reader::request> catch_up_reader::next_allowed() {
  auto const held = budget_->held.load();
  auto const take = [](std::deque<request>& from) {
    auto what = from.front();
    from.pop_front();
    return what;
  };
  if (!firsts_.empty() && held < budget_bytes_ + budget_bytes_ / 4) return take(firsts_);
  if (!queue_.empty() && held < budget_bytes_) return take(queue_);
  return std::nullopt;
}

std::shared_ptr<catch_up_chunk const> catch_up_reader::read_chunk(request what) {
  // A stream's first event is parsed whole by its client before it shows anything: kept
  // smaller, so a slow link shows the first facts soon; the events after it stream anyway.
  auto const chunk_bytes = what.bytes != 0 ? what.bytes : chunk_bytes_;
  auto const bound =
      what.form == chunk_form::events ? chunk_bytes : std::min(chunk_bytes, resume_snapshot_bytes);
  std::vector<fact> facts;
  std::size_t json_bytes = 0;
  // A few facts first, then as many as the average size says still fit: never more than one
  // read's worth beyond the bound is held, whether facts are 100 bytes or 64 KiB.
  auto after = what.after;
  std::size_t ask = 4;
  for (bool full = false; !full;) {
    if (what.until != 0) ask = std::min<std::uint64_t>(ask, what.until - after);
    if (ask == 0) break;
    auto more = store_.read_after(after, ask);
    ++reads_;
    for (auto& f : more) {
      full = !facts.empty() && json_bytes + f.json.size() > bound;
      if (full) break;
      json_bytes += f.json.size();
      after = f.seq;
      facts.push_back(std::move(f));
    }
    if (full || more.size() < ask || json_bytes >= bound) break;
    auto const average = std::max<std::size_t>(1, json_bytes / facts.size());
    ask = std::clamp<std::size_t>((bound - json_bytes) / average + 1, 1, 4096);
  }

  auto chunk = std::make_unique<catch_up_chunk>();
  if (!facts.empty()) {
    chunk->first_seq = facts.front().seq;
    chunk->last_seq = facts.back().seq;
  }
  if (what.form == chunk_form::events) {
    chunk->bytes.reserve(json_bytes + facts.size() * 32);
    for (auto const& f : facts) {
      append_event(chunk->bytes, f);
      chunk->ends.push_back(chunk->bytes.size());
    }
  } else if (!facts.empty()) {
    chunk->bytes = make_snapshot(facts, chunk->last_seq, what.form == chunk_form::reset_array);
  }
  auto const size = chunk->bytes.size() + chunk->ends.size() * sizeof(std::size_t);
  budget_->held += size;
  return {chunk.release(), [b = budget_, size](catch_up_chunk const* c) {
            b->held -= size;
            delete c;
          }};
}

}  // namespace facts
