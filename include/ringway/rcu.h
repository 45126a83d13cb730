// Read-copy-update with quiescent-state reclamation, for immutable snapshots.
//
// The control thread publishes a new object with one atomic pointer swap and retires the
// old one. Each reader (shard) reports, at its quiescent point (the top of its event
// loop), the oldest generation it still holds. A retired object is freed once every
// reader reports a generation newer than it. Readers never block or lock.
//
// Thread affinity: publish()/reclaim() control thread only; current()/report() any reader,
// each reader using only its own index.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "core/shard_cells.h"

namespace ringway {

// T must have a public `uint64_t generation` member, set by publish().
template <class T>
class RcuDomain {
 public:
  static constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();

  explicit RcuDomain(uint32_t readers) : cells_(readers, 1) {}
  ~RcuDomain() {
    delete current_.load();
    for (auto& r : retired_) {
      delete r;
    }
  }
  RcuDomain(const RcuDomain&) = delete;
  RcuDomain& operator=(const RcuDomain&) = delete;

  // Control thread: makes `next` current; the previous object is retired.
  void publish(std::unique_ptr<T> next) {
    std::lock_guard<std::mutex> guard(mu_);
    next->generation = ++generation_;
    T* old = current_.exchange(next.release(), std::memory_order_acq_rel);
    if (old != nullptr) {
      retired_.push_back(old);
    }
  }

  // Control thread: frees every retired object no reader can still hold. Returns how
  // many are still waiting.
  size_t reclaim() {
    std::lock_guard<std::mutex> guard(mu_);
    uint64_t oldest = kNone;
    for (uint32_t r = 0; r < cells_.shards(); ++r) {
      oldest = std::min(oldest, cells_.at(r, 0).load(std::memory_order_acquire));
    }
    size_t kept = 0;
    for (T* r : retired_) {
      if (r->generation < oldest) {
        delete r;
      } else {
        retired_[kept++] = r;
      }
    }
    retired_.resize(kept);
    return kept;
  }

  // Reader: the current object (never null after the first publish).
  const T* current() const { return current_.load(std::memory_order_acquire); }

  // Reader `reader`: the oldest generation it may still use (kNone once it has stopped).
  void report(uint32_t reader, uint64_t oldest_generation) {
    cells_.at(reader, 0).store(oldest_generation, std::memory_order_release);
  }

  uint64_t generation() const {
    std::lock_guard<std::mutex> guard(mu_);
    return generation_;
  }
  size_t retired_count() const {
    std::lock_guard<std::mutex> guard(mu_);
    return retired_.size();
  }

 private:
  std::atomic<T*> current_{nullptr};
  core::ShardCells<uint64_t> cells_;  // per reader: the oldest generation it may use
  mutable std::mutex mu_;             // control side only: publish vs reclaim vs admin reads
  std::vector<T*> retired_;
  uint64_t generation_ = 0;
};

}  // namespace ringway
