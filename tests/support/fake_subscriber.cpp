#include "support/fake_subscriber.hpp"

#include <utility>

namespace facts::test {

void fake_subscriber::deliver(frame f, facts::frame_meta meta) {
  std::lock_guard lock(mutex_);
  frames_.push_back(std::move(f));
  metas_.push_back(meta);
}

void fake_subscriber::heartbeat(frame f) {
  std::lock_guard lock(mutex_);
  ++heartbeats_;
  last_heartbeat_ = std::move(f);
}

void fake_subscriber::close() {
  std::lock_guard lock(mutex_);
  ++closes_;
}

std::vector<frame> fake_subscriber::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

std::vector<facts::frame_meta> fake_subscriber::metas() const {
  std::lock_guard lock(mutex_);
  return metas_;
}

std::string fake_subscriber::bytes_after(std::uint64_t seq) const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (std::size_t i = 0; i < frames_.size(); ++i)
    if (metas_[i].last_seq > seq) out += *frames_[i];
  return out;
}

std::string fake_subscriber::delivered_bytes() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (auto const& f : frames_)
    out += *f;
  return out;
}

std::size_t fake_subscriber::heartbeats() const {
  std::lock_guard lock(mutex_);
  return heartbeats_;
}

frame fake_subscriber::last_heartbeat() const {
  std::lock_guard lock(mutex_);
  return last_heartbeat_;
}

std::size_t fake_subscriber::closes() const {
  std::lock_guard lock(mutex_);
  return closes_;
}

}  // namespace facts::test
