// A log-linear latency histogram in the style of HdrHistogram: values below 128 ns have a
// bucket each, and every power of two above is split into 64 linear sub-buckets, so any
// recorded value is known to within 1/64 (1.6%). Fixed storage: recording never
// allocates. Values are nanoseconds, clamped to 2^40 ns (18 minutes).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace ringway::load {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 2^7 linear buckets below 128, then 64 per octave
  static constexpr uint64_t kMaxValue = (UINT64_C(1) << 40) - 1;
  static constexpr size_t kBuckets = (40 - kSubBits + 2) << (kSubBits - 1);

  void record(uint64_t v) {
    v = std::min(v, kMaxValue);
    ++counts_[index(v)];
    ++total_;
    sum_ += v;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
  }

  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) {
      counts_[i] += o.counts_[i];
    }
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  void reset() { *this = Histogram(); }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }
  double mean() const { return total_ == 0 ? 0 : static_cast<double>(sum_) / total_; }

  // The smallest bucket upper bound with at least `q` (0..1) of the values at or below
  // it; never above the largest recorded value.
  uint64_t quantile(double q) const {
    if (total_ == 0) {
      return 0;
    }
    const auto want = static_cast<uint64_t>(q * static_cast<double>(total_) + 0.5);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= std::max<uint64_t>(want, 1)) {
        return std::min(upper(i), max_);
      }
    }
    return max_;
  }

  static size_t index(uint64_t v) {
    if (v < (UINT64_C(1) << kSubBits)) {
      return static_cast<size_t>(v);
    }
    const int shift = std::bit_width(v) - kSubBits;  // >= 1
    return (static_cast<size_t>(shift) << (kSubBits - 1)) + static_cast<size_t>(v >> shift);
  }

  // The largest value that lands in bucket `i`.
  static uint64_t upper(size_t i) {
    if (i < (size_t{1} << kSubBits)) {
      return i;
    }
    const size_t shift = (i >> (kSubBits - 1)) - 1;
    const uint64_t sub = i - (shift << (kSubBits - 1));
    return ((sub + 1) << shift) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace ringway::load
