#pragma once

#include <array>
#include <cstdint>

namespace loadgen {

/**
 * Counts latencies in microseconds in log-linear buckets (exact below 128 µs, then 64 buckets
 * per power of two: within 1.6%), so that tens of millions of samples cost a few KB and a
 * constant-time add. The maximum is kept exactly.
 */
class latency_histogram {
 public:
  void add(std::uint64_t micros);
  void merge(latency_histogram const& other);

  /// The latency below which `fraction` (0..1] of the samples fall; 0 when there are none.
  std::uint64_t percentile(double fraction) const;
  std::uint64_t max() const { return max_; }
  std::uint64_t count() const { return count_; }

 private:
  static constexpr unsigned linear = 128;
  static constexpr unsigned per_octave = 64;
  static constexpr unsigned buckets = linear + (64 - 7) * per_octave;

  static unsigned index_of(std::uint64_t micros);
  static std::uint64_t upper_bound_of(unsigned index);

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace loadgen
