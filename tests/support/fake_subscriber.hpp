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
  void deliver(frame f, facts::frame_meta meta) override;

  void heartbeat(frame f) override;

  void close() override;

  /// The frames delivered so far, in the order they arrived.
  std::vector<frame> frames() const;

  /// The metas delivered so far, one per frame, in the same order as frames().
  std::vector<facts::frame_meta> metas() const;

  /// The bytes a stream whose snapshot ends at `seq` sends after it: the frames whose
  /// last_seq is above `seq`, in order (the rule every stream of a sink follows).
  std::string bytes_after(std::uint64_t seq) const;

  /// Everything delivered so far as one string, as the stream would write it.
  std::string delivered_bytes() const;

  std::size_t heartbeats() const;

  frame last_heartbeat() const;

  std::size_t closes() const;

 private:
  mutable std::mutex mutex_;  // guards every member below
  std::vector<frame> frames_;
  std::vector<facts::frame_meta> metas_;  // metas_[i] came with frames_[i]
  std::size_t heartbeats_ = 0;
  frame last_heartbeat_;
  std::size_t closes_ = 0;
};

}  // namespace facts::test
