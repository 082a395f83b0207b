#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "facts/subscriber.hpp"

namespace facts::test {

/**
 * Represents a frame sink as a test sees it (in the server, one I/O thread's group of streams):
 * it records what the broadcaster hands it. Every method only takes its own short lock, so
 * deliver() never blocks the broadcaster for long.
 */
class fake_subscriber final : public subscriber {
 public:
  void deliver(frame f, facts::frame_meta meta) override {
    std::lock_guard lock(mutex_);
    frames_.push_back(std::move(f));
    metas_.push_back(meta);
  }

  void heartbeat(frame f) override {
    std::lock_guard lock(mutex_);
    ++heartbeats_;
    last_heartbeat_ = std::move(f);
  }

  void close() override {
    std::lock_guard lock(mutex_);
    ++closes_;
  }

  /// The frames delivered so far, in the order they arrived.
  std::vector<frame> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }

  /// The metas delivered so far, one per frame, in the same order as frames().
  std::vector<facts::frame_meta> metas() const {
    std::lock_guard lock(mutex_);
    return metas_;
  }

  /// The bytes a stream whose snapshot ends at `seq` sends after it: the frames whose
  /// last_seq is above `seq`, in order (the rule every stream of a sink follows).
  std::string bytes_after(std::uint64_t seq) const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (std::size_t i = 0; i < frames_.size(); ++i)
      if (metas_[i].last_seq > seq) out += *frames_[i];
    return out;
  }

  /// Everything delivered so far as one string, as the stream would write it.
  std::string delivered_bytes() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (auto const& f : frames_)
      out += *f;
    return out;
  }

  std::size_t heartbeats() const {
    std::lock_guard lock(mutex_);
    return heartbeats_;
  }

  frame last_heartbeat() const {
    std::lock_guard lock(mutex_);
    return last_heartbeat_;
  }

  std::size_t closes() const {
    std::lock_guard lock(mutex_);
    return closes_;
  }

 private:
  mutable std::mutex mutex_;  // guards every member below
  std::vector<frame> frames_;
  std::vector<facts::frame_meta> metas_;  // metas_[i] came with frames_[i]
  std::size_t heartbeats_ = 0;
  frame last_heartbeat_;
  std::size_t closes_ = 0;
};

}  // namespace facts::test
