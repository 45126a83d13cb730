// Breaker trigger state (include/ringway/breaker.h): per-shard cells, node-wide sums, the
// published "open until".
#include "ringway/breaker.h"

#include <algorithm>

namespace ringway::breaker {
namespace {

constexpr uint64_t kCountMask = 0xffffffffull;

// Counter-mode bucket: the second it counts (high 32 bits) and its unhealthy outcomes.
uint64_t bucket_second(uint64_t v) { return v >> 32; }

}  // namespace

Breaker::Breaker(const Trigger& trigger, uint32_t shards)
    : t_(trigger),
      window_ms_(uint64_t{std::max(trigger.time_window_s, 1u)} * 1000),
      cells_(std::max(shards, 1u), trigger.mode == Mode::kCounter
                                       ? std::max(trigger.time_window_s, 1u)
                                       : kEvaluated + 1) {}

bool Breaker::is_open(uint32_t shard, uint64_t now_ms, Opened* opened) noexcept {
  if (now_ms < open_until_.load(std::memory_order_acquire)) {
    return true;
  }
  if (t_.mode == Mode::kPercentage) {
    Opened o = evaluate_ended(shard, now_ms);  // this shard or another may publish it
    if (opened != nullptr) {
      *opened = o;
    }
  }
  return now_ms < open_until_.load(std::memory_order_acquire);
}

Opened Breaker::record(uint32_t shard, uint64_t now_ms, bool unhealthy, uint64_t token) noexcept {
  if (token != open_until_.load(std::memory_order_acquire) || now_ms < token) {
    return {};  // opened since the request started, or still open
  }
  return t_.mode == Mode::kCounter ? record_counter(shard, now_ms, unhealthy)
                                   : record_percentage(shard, now_ms, unhealthy);
}

bool Breaker::take_closed(uint64_t now_ms) noexcept {
  uint64_t until = open_until_.load(std::memory_order_acquire);
  if (until == 0 || now_ms < until) {
    return false;
  }
  uint64_t seen = closed_seen_.load(std::memory_order_relaxed);
  return seen != until &&
         closed_seen_.compare_exchange_strong(seen, until, std::memory_order_relaxed);
}

Counts Breaker::counts(uint64_t now_ms) const noexcept {
  if (t_.mode == Mode::kCounter) {
    return {window_sum(now_ms), 0};
  }
  uint64_t a = anchor_.load(std::memory_order_acquire);
  if (a == kUnset) {
    return {};
  }
  return window_counts(a + (std::max(now_ms, a) - a) / window_ms_ * window_ms_);
}

// One compare-exchange: of shards tripping it at once, exactly one publishes the opening
// (and counts it), so openings() and the "opened" log line are exact.
Opened Breaker::open(uint64_t until_ms, Counts c) noexcept {
  uint64_t cur = open_until_.load(std::memory_order_acquire);
  do {
    if (cur >= until_ms) {
      return {};  // another shard published this opening (or a later one) already
    }
  } while (!open_until_.compare_exchange_weak(cur, until_ms, std::memory_order_acq_rel,
                                              std::memory_order_acquire));
  anchor_.store(kUnset, std::memory_order_release);  // windows restart after the close
  last_unhealthy_.store(c.unhealthy, std::memory_order_relaxed);
  last_calls_.store(c.calls, std::memory_order_relaxed);
  last_opened_ms_.store(until_ms - uint64_t{t_.open_s} * 1000, std::memory_order_release);
  openings_.fetch_add(1, std::memory_order_acq_rel);
  return {true, until_ms, c};
}

// ---- counter mode: a sliding window of 1 s buckets ----

Opened Breaker::record_counter(uint32_t shard, uint64_t now_ms, bool unhealthy) noexcept {
  if (!unhealthy) {
    return {};
  }
  const uint64_t sec = now_ms / 1000;
  std::atomic<uint64_t>& b = cells_.at(shard, static_cast<uint32_t>(sec % t_.time_window_s));
  const uint64_t v = b.load(std::memory_order_relaxed);
  const uint64_t count = bucket_second(v) == sec ? (v & kCountMask) : 0;
  b.store((sec << 32) | (count + 1), std::memory_order_relaxed);
  const uint64_t sum = window_sum(now_ms);
  if (sum < t_.unhealthy_threshold) {
    return {};
  }
  return open(now_ms + uint64_t{t_.open_s} * 1000, {sum, 0});
}

// Unhealthy outcomes of the last time_window_s seconds (this one included) since the
// breaker last closed: outcomes before an opening are at least open_s earlier than its
// close, so they sit in seconds before the close's.
uint64_t Breaker::window_sum(uint64_t now_ms) const noexcept {
  const uint64_t sec = now_ms / 1000;
  const uint64_t w = t_.time_window_s;
  uint64_t first = sec + 1 >= w ? sec + 1 - w : 0;
  first = std::max(first, open_until_.load(std::memory_order_acquire) / 1000);
  uint64_t sum = 0;
  for (uint32_t s = 0; s < cells_.shards(); ++s) {
    for (uint32_t i = 0; i < cells_.per_shard(); ++i) {
      const uint64_t v = cells_.at(s, i).load(std::memory_order_relaxed);
      const uint64_t at = bucket_second(v);
      if (at >= first && at <= sec) {
        sum += v & kCountMask;
      }
    }
  }
  return sum;
}

// ---- percentage mode: consecutive fixed windows, evaluated at their end ----

uint64_t Breaker::window_start(uint64_t now_ms, bool set) noexcept {
  uint64_t a = anchor_.load(std::memory_order_acquire);
  if (a == kUnset) {
    if (!set) {
      return kUnset;
    }
    // The first outcome of a closed period anchors the windows. Shards must agree on it,
    // so this is the one shared read-modify-write, once per closed period (not per request).
    uint64_t expected = kUnset;
    a = anchor_.compare_exchange_strong(expected, now_ms, std::memory_order_acq_rel) ? now_ms
                                                                                     : expected;
  }
  return a + (std::max(now_ms, a) - a) / window_ms_ * window_ms_;
}

Opened Breaker::record_percentage(uint32_t shard, uint64_t now_ms, bool unhealthy) noexcept {
  Opened o = evaluate_ended(shard, now_ms);
  if (o.opened || now_ms < open_until_.load(std::memory_order_acquire)) {
    return o;  // this outcome falls in the open period that just began
  }
  const uint64_t start = window_start(now_ms, true);
  const uint32_t base = static_cast<uint32_t>(start / window_ms_ % 2) * kSlotSize;
  std::atomic<uint64_t>& slot_start = cells_.at(shard, base + kSlotStart);
  if (slot_start.load(std::memory_order_relaxed) != start) {
    cells_.set(shard, base + kSlotCalls, 0);
    cells_.set(shard, base + kSlotBad, 0);
    slot_start.store(start, std::memory_order_release);
  }
  cells_.add(shard, base + kSlotCalls, 1);
  if (unhealthy) {
    cells_.add(shard, base + kSlotBad, 1);
  }
  return {};
}

// The node-wide counts of the window starting at `start` (shards whose slot holds another
// window count 0; a slot reused while it was read counts 0 too).
Counts Breaker::window_counts(uint64_t start) const noexcept {
  const uint32_t base = static_cast<uint32_t>(start / window_ms_ % 2) * kSlotSize;
  Counts c;
  for (uint32_t s = 0; s < cells_.shards(); ++s) {
    const std::atomic<uint64_t>& at = cells_.at(s, base + kSlotStart);
    if (at.load(std::memory_order_acquire) != start) {
      continue;
    }
    const uint64_t calls = cells_.at(s, base + kSlotCalls).load(std::memory_order_relaxed);
    const uint64_t bad = cells_.at(s, base + kSlotBad).load(std::memory_order_relaxed);
    if (at.load(std::memory_order_acquire) == start) {
      c.calls += calls;
      c.unhealthy += bad;
    }
  }
  return c;
}

// Evaluates, in order, the windows of the current closed period that ended since this
// shard last looked (its kEvaluated cell: the window start it had then; equal to the
// current one means nothing ended since, the common case). Only windows some shard still
// holds can have outcomes, so the candidates are the slots' starts (two per shard). Every
// shard reaches the same verdict and publishes the same "open until" (the window's end +
// open_s).
Opened Breaker::evaluate_ended(uint32_t shard, uint64_t now_ms) noexcept {
  const uint64_t anchor = anchor_.load(std::memory_order_acquire);
  if (anchor == kUnset || now_ms < anchor + window_ms_) {
    return {};
  }
  const uint64_t current = anchor + (now_ms - anchor) / window_ms_ * window_ms_;
  std::atomic<uint64_t>& looked = cells_.at(shard, kEvaluated);
  uint64_t from = looked.load(std::memory_order_relaxed);
  if (from == current) {
    return {};
  }
  looked.store(current, std::memory_order_relaxed);
  from = std::max(from, anchor);
  for (;;) {
    uint64_t next = UINT64_MAX;  // the earliest ended window from `from` on
    for (uint32_t s = 0; s < cells_.shards(); ++s) {
      for (uint32_t slot = 0; slot < 2; ++slot) {
        const uint64_t st =
            cells_.at(s, slot * kSlotSize + kSlotStart).load(std::memory_order_acquire);
        if (st >= from && st < current) {
          next = std::min(next, st);
        }
      }
    }
    if (next == UINT64_MAX) {
      return {};
    }
    from = next + 1;
    const Counts c = window_counts(next);
    const uint64_t until = next + window_ms_ + uint64_t{t_.open_s} * 1000;
    if (c.calls >= t_.min_calls &&
        c.unhealthy * 100 >= uint64_t{t_.unhealthy_percentage} * c.calls && until > now_ms) {
      return open(until, c);
    }
  }
}

}  // namespace ringway::breaker
