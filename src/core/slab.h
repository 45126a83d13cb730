// Fixed-capacity object pool addressed by slot index, with a generation per slot so a
// late io_uring completion for a recycled slot is recognised (see user_data.h).
// Objects are constructed once at start and reused: no allocation per connection.
//
// Thread affinity: shard-local.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/user_data.h"

namespace ringway::core {

template <class T>
class Slab {
 public:
  // Objects are constructed on a slot's first use, so capacity costs one pointer a slot.
  explicit Slab(uint32_t capacity) : items_(capacity), gens_(capacity, 1), free_(capacity) {
    for (uint32_t i = 0; i < capacity; ++i) {
      free_[i] = capacity - 1 - i;
    }
  }

  // Returns a free slot or UINT32_MAX when full.
  uint32_t alloc() {
    if (free_.empty()) {
      return UINT32_MAX;
    }
    uint32_t s = free_.back();
    free_.pop_back();
    if (!items_[s]) {
      items_[s] = std::make_unique<T>();
    }
    return s;
  }
  // Returns the slot; its generation moves on so stale completions no longer match.
  void release(uint32_t slot) {
    gens_[slot] = static_cast<uint32_t>((gens_[slot] + 1) & kGenMask);  // user_data width
    if (gens_[slot] == 0) {
      gens_[slot] = 1;
    }
    free_.push_back(slot);
  }

  // Adds slots up to `capacity` (no-op if not larger). Existing objects stay where they are;
  // the slot tables may move, so no slot table pointer is kept across a grow.
  void grow(uint32_t capacity) {
    uint32_t old = this->capacity();
    if (capacity <= old) {
      return;
    }
    items_.resize(capacity);
    gens_.resize(capacity, 1);
    for (uint32_t s = capacity; s > old; --s) {
      free_.push_back(s - 1);  // the lowest new slot is handed out first
    }
  }

  T& operator[](uint32_t slot) { return *items_[slot]; }
  // Null for slots never used.
  T* get(uint32_t slot) { return items_[slot].get(); }
  uint32_t gen(uint32_t slot) const { return gens_[slot]; }
  uint32_t capacity() const { return static_cast<uint32_t>(items_.size()); }
  uint32_t in_use() const { return capacity() - static_cast<uint32_t>(free_.size()); }

 private:
  std::vector<std::unique_ptr<T>> items_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_;
};

}  // namespace ringway::core
