#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "facts/subscriber.hpp"

namespace facts::test {

/**
 * Represents a stream as a test sees it: it records what the broadcaster hands it. Every method
 * only takes its own short lock, so deliver() never blocks the broadcaster for long.
 */
class fake_subscriber final : public subscriber {
 public:
  void deliver(frame f, facts::frame_meta) override {
    std::lock_guard lock(mutex_);
    frames_.push_back(std::move(f));
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
  std::size_t heartbeats_ = 0;
  frame last_heartbeat_;
  std::size_t closes_ = 0;
};

}  // namespace facts::test
