#include "core/timer_wheel.h"

#include <algorithm>

namespace ringway::core {

TimerWheel::TimerWheel(uint64_t now_ms) : slots_(kSlots), cursor_(now_ms / kTickMs) {
  for (auto& s : slots_) {
    s.prev = &s;
    s.next = &s;
  }
}

void TimerWheel::arm(TimerNode* node, uint64_t deadline_ms) {
  if (node->armed()) {
    disarm(node);
  }
  node->deadline_ms = deadline_ms;
  // A deadline already behind the cursor goes to the cursor's slot: it fires next turn.
  uint64_t tick = std::max(deadline_ms / kTickMs, cursor_);
  TimerNode* head = &slots_[tick % kSlots];
  node->next = head;
  node->prev = head->prev;
  head->prev->next = node;
  head->prev = node;
}

void TimerWheel::disarm(TimerNode* node) {
  if (!node->armed()) {
    return;
  }
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = nullptr;
  node->next = nullptr;
}

void TimerWheel::collect_due(uint64_t now_ms, TimerNode* due) {
  uint64_t target = now_ms / kTickMs;
  for (;; ++cursor_) {
    TimerNode* head = &slots_[cursor_ % kSlots];
    for (TimerNode* n = head->next; n != head;) {
      TimerNode* next = n->next;
      if (n->deadline_ms <= now_ms) {
        disarm(n);
        n->next = due;
        n->prev = due->prev;
        due->prev->next = n;
        due->prev = n;
      }
      n = next;
    }
    if (cursor_ >= target) {
      return;
    }
  }
}

uint64_t TimerWheel::next_timeout_ms(uint64_t now_ms, uint64_t horizon_ms) const {
  uint64_t ticks = std::min<uint64_t>(horizon_ms / kTickMs, kSlots);
  for (uint64_t i = 0; i < ticks; ++i) {
    const TimerNode* head = &slots_[(cursor_ + i) % kSlots];
    for (const TimerNode* n = head->next; n != head; n = n->next) {
      if (n->deadline_ms <= now_ms + horizon_ms) {
        return n->deadline_ms > now_ms ? n->deadline_ms - now_ms : 0;
      }
    }
  }
  return horizon_ms;
}

}  // namespace ringway::core
