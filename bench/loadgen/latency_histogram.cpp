#include "latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loadgen {

unsigned latency_histogram::index_of(std::uint64_t micros) {
  if (micros < linear) return static_cast<unsigned>(micros);
  auto const octave = static_cast<unsigned>(63 - std::countl_zero(micros));  // >= 7
  auto const mantissa = static_cast<unsigned>(micros >> (octave - 6));       // 64..127
  return linear + (octave - 7) * per_octave + (mantissa - per_octave);
}

std::uint64_t latency_histogram::upper_bound_of(unsigned index) {
  if (index < linear) return index;
  auto const octave = (index - linear) / per_octave + 7;
  auto const mantissa = (index - linear) % per_octave + per_octave;
  return ((static_cast<std::uint64_t>(mantissa) + 1) << (octave - 6)) - 1;
}

void latency_histogram::add(std::uint64_t micros) {
  ++counts_[index_of(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

void latency_histogram::merge(latency_histogram const& other) {
  for (unsigned i = 0; i < buckets; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t latency_histogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  auto const rank = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (unsigned i = 0; i < buckets; ++i) {
    seen += counts_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(upper_bound_of(i), max_);
  }
  return max_;
}

}  // namespace loadgen
