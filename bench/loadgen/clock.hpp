#pragma once

#include <chrono>
#include <cstdint>

namespace loadgen {

/// Microseconds on the monotonic clock since the generator started. Senders and receivers are
/// threads of this one process, so a fact's send stamp and its receive time share this clock.
inline std::uint64_t now_us() {
  static auto const epoch = std::chrono::steady_clock::now();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - epoch)
                                        .count());
}

}  // namespace loadgen
