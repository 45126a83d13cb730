// Fixed-capacity object pool addressed by slot index, with a generation per slot so a
// late io_uring completion for a recycled slot is recognised (see user_data.h).
// Objects are constructed on a slot's first use and reused: no allocation per connection
// while the number of connections holds steady. trim() frees the objects of slots that
// stayed free for a whole trim interval, so a burst of connections (10,000 idle clients)
// does not keep its memory once they are gone (issue 19, tests/integration/exhaustion_test.cc).
//
// Thread affinity: shard-local.
#pragma once

#include <algorithm>
#include <cstddef>
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
    low_ = std::min(low_, free_.size());
    scanned_ = std::min(scanned_, free_.size());
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

  // Called at a fixed interval (a second): frees the objects of the free slots that no
  // alloc() reached since the previous call. alloc() takes from the top of the free stack and
  // release() puts on it, so those are its bottom `low_` entries, unchanged since then (the
  // first `scanned_` of them were freed by an earlier call already). `may_free(T&)` false
  // keeps an object (a caller's safety check). A later alloc() of such a slot constructs a
  // new object; its generation is untouched, so stale completions still mismatch.
  // Returns how many objects it freed.
  template <class MayFree>
  size_t trim(MayFree may_free) {
    size_t n = std::min(low_, free_.size());
    size_t freed = 0;
    for (size_t i = scanned_; i < n; ++i) {
      std::unique_ptr<T>& item = items_[free_[i]];
      if (item && may_free(*item)) {
        item.reset();
        ++freed;
      }
    }
    scanned_ = std::max(scanned_, n);
    low_ = free_.size();
    return freed;
  }
  // Slots that hold a constructed object (in use or cached).
  uint32_t constructed() const {
    uint32_t n = 0;
    for (const auto& item : items_) {
      n += item != nullptr;
    }
    return n;
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
  size_t low_ = SIZE_MAX;  // fewest free slots since the last trim()
  size_t scanned_ = 0;     // the bottom free_ entries trim() has already freed
};

}  // namespace ringway::core
