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

  // Calls fn(node) for each node whose deadline is at or before now_ms, after disarming
  // it. fn may arm or disarm any node, this one included: the due nodes are first moved to
  // a local list (each still armed there, so a disarm from fn unlinks it and it does not
  // fire), and a node armed by fn fires at the next expire at the earliest, never in this
  // one (a deadline already due is not run in a loop).
  template <class Fn>
  void expire(uint64_t now_ms, Fn&& fn) {
    TimerNode due;
    due.prev = due.next = &due;
    collect_due(now_ms, &due);
    while (due.next != &due) {
      TimerNode* n = due.next;
      disarm(n);
      fn(n);
    }
  }

  // Milliseconds until the next armed deadline within `horizon_ms`, else horizon_ms.
  // Scans at most horizon/tick slots.
  uint64_t next_timeout_ms(uint64_t now_ms, uint64_t horizon_ms) const;

 private:
  // Moves every node due at now_ms from the slots up to now_ms's tick into `due` (a list
  // head) and leaves the cursor on that tick.
  void collect_due(uint64_t now_ms, TimerNode* due);

  std::vector<TimerNode> slots_;  // list heads
  uint64_t cursor_;               // tick index of the next slot to visit
};

}  // namespace ringway::core
