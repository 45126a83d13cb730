// Per-shard cells: the one way a shard publishes a number other threads read (open
// connections, WLC active requests, the RCU reader generations; breaker counts next).
//
// Contract: cell (s, i) is written only by shard s — a relaxed load and store, never a
// read-modify-write, so writers never contend; each shard's cells start on a cache line of
// their own, so shards never write the same line. Readers on any thread load the cells
// (relaxed unless the caller pairs its own orders) and sum or scan them; a sum may lag by
// the updates still in flight on other shards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace ringway::core {

inline constexpr size_t kCacheLine = 64;

template <class T>
class ShardCells {
 public:
  ShardCells() = default;
  // `per_shard` cells for each of `shards` shards, all zero.
  ShardCells(uint32_t shards, uint32_t per_shard)
      : shards_(shards),
        per_shard_(per_shard),
        lines_per_shard_(per_shard == 0 ? 1 : (per_shard + kPerLine - 1) / kPerLine),
        lines_(std::make_unique<Line[]>(size_t{shards} * lines_per_shard_)) {}

  uint32_t shards() const noexcept { return shards_; }
  uint32_t per_shard() const noexcept { return per_shard_; }

  std::atomic<T>& at(uint32_t shard, uint32_t i) const noexcept {
    return lines_[size_t{shard} * lines_per_shard_ + i / kPerLine].cells[i % kPerLine];
  }
  // Shard `shard` only.
  void set(uint32_t shard, uint32_t i, T v) const noexcept {
    at(shard, i).store(v, std::memory_order_relaxed);
  }
  void add(uint32_t shard, uint32_t i, T delta) const noexcept {
    std::atomic<T>& c = at(shard, i);
    c.store(c.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  // Any thread: cell i summed over the shards.
  T sum(uint32_t i) const noexcept {
    T total{};
    for (uint32_t s = 0; s < shards_; ++s) {
      total += at(s, i).load(std::memory_order_relaxed);
    }
    return total;
  }

 private:
  static constexpr uint32_t kPerLine = kCacheLine / sizeof(T);
  struct alignas(kCacheLine) Line {
    std::atomic<T> cells[kPerLine];
  };
  uint32_t shards_ = 0;
  uint32_t per_shard_ = 0;
  uint32_t lines_per_shard_ = 1;
  std::unique_ptr<Line[]> lines_;
};

}  // namespace ringway::core
