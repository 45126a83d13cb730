// Hashed timing wheel with intrusive nodes: O(1) arm/disarm, no allocation, no syscall.
// Owners embed a TimerNode; expire(now) hands every node whose deadline passed to a
// callback. Time is a parameter (milliseconds from any Clock).
//
// Thread affinity: shard-local.
#pragma once

#include <cstdint>
#include <vector>

namespace ringway::core {

struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  uint64_t deadline_ms = 0;
  uint32_t owner = 0;  // owner's slot, for the expiry callback
  uint8_t kind = 0;    // owner-defined: what expires
  bool armed() const { return prev != nullptr; }
};

class TimerWheel {
 public:
  static constexpr uint32_t kSlots = 4096;
  static constexpr uint64_t kTickMs = 4;

  explicit TimerWheel(uint64_t now_ms);

  void arm(TimerNode* node, uint64_t deadline_ms);
  static void disarm(TimerNode* node);

  // Calls fn(node) for each expired node, after disarming it. fn may re-arm.
  template <class Fn>
  void expire(uint64_t now_ms, Fn&& fn) {
    uint64_t target = now_ms / kTickMs;
    while (cursor_ <= target) {
      TimerNode* head = &slots_[cursor_ % kSlots];
      TimerNode* n = head->next;
      while (n != head) {
        TimerNode* next = n->next;
        if (n->deadline_ms <= now_ms) {
          disarm(n);
          fn(n);
        }
        n = next;
      }
      if (cursor_ == target) {
        break;
      }
      ++cursor_;
    }
  }

  // Milliseconds until the next armed deadline within `horizon_ms`, else horizon_ms.
  // Scans at most horizon/tick slots.
  uint64_t next_timeout_ms(uint64_t now_ms, uint64_t horizon_ms) const;

 private:
  std::vector<TimerNode> slots_;  // list heads
  uint64_t cursor_;               // tick index of the next slot to visit
};

}  // namespace ringway::core
