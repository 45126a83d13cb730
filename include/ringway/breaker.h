// Circuit-breaker trigger state (seeds/circuit-breaker.txt, CONFIG.md "policies"): when a
// breaker opens and for how long, from the outcomes of the requests it guards, counted per
// gateway node (the sum over its shards).
//
// One Breaker per breaker instance (policy x API or shared scope x rule x environment),
// built with the compiled configuration and shared by every shard:
//   - each shard records outcomes in its own cells (core::ShardCells: relaxed load + store,
//     no read-modify-write, one cache line apart from other shards);
//   - a shard whose record may trip the breaker sums the cells of every shard (relaxed
//     loads) and, when the node-wide figure reaches the trigger, publishes "open until T"
//     with one atomic store that every shard reads;
//   - open for `open_s`, then closed with the counts of before the opening ignored (the
//     seed has no half-open state).
// Modes: counter — opens at once when the unhealthy outcomes of the last `time_window_s`
// seconds (1 s buckets) reach `unhealthy_threshold`; percentage — consecutive fixed windows
// of `time_window_s`, the first starting at the first counted outcome after the breaker
// closed, each evaluated at its end: opens when it saw at least `min_calls` outcomes of
// which at least `unhealthy_percentage` % were unhealthy.
//
// Time is a parameter (milliseconds of a steady clock, > 0). Thread affinity: record() and
// is_open() by shard `shard` only, for its own index; token(), open_until() and counts()
// from any thread. Nothing allocates or locks after construction.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/shard_cells.h"

namespace ringway::breaker {

enum class Mode : uint8_t { kCounter, kPercentage };

// breaker_condition's numbers, validated by the loader.
struct Trigger {
  Mode mode = Mode::kCounter;
  uint32_t unhealthy_threshold = 1;     // counter: unhealthy outcomes in the window
  uint32_t time_window_s = 1;           // 1..3600
  uint32_t open_s = 1;                  // open_breaker_time, 1..3600
  uint32_t unhealthy_percentage = 100;  // percentage: 1..100
  uint32_t min_calls = 1;               // percentage: outcomes in the window, at least
};

// Node-wide counts: counter mode, the sliding window ending now; percentage mode, the
// window in progress (or, in an Opened, the window that tripped).
struct Counts {
  uint64_t unhealthy = 0;
  uint64_t calls = 0;  // percentage mode only (counter mode counts unhealthy outcomes only)
};

// What a record() did: opened the breaker (until `until_ms`, on `counts`), or nothing.
struct Opened {
  bool opened = false;
  uint64_t until_ms = 0;
  Counts counts;
};

class Breaker {
 public:
  Breaker(const Trigger& trigger, uint32_t shards);
  Breaker(const Breaker&) = delete;
  Breaker& operator=(const Breaker&) = delete;

  const Trigger& trigger() const noexcept { return t_; }

  // Taken when a request starts: its outcome counts only if the breaker has not opened
  // since (a late outcome from before a state change is dropped).
  uint64_t token() const noexcept { return open_until_.load(std::memory_order_acquire); }
  // 0 until the breaker first opens; it is open while now < open_until().
  uint64_t open_until() const noexcept { return open_until_.load(std::memory_order_acquire); }

  // Shard `shard`: whether requests are downgraded now. In percentage mode it first
  // evaluates a window that ended since this shard last looked (the verdict is due at the
  // window's end even when no outcome arrives after it); `opened` (optional) says whether
  // this call published the opening (for the log line).
  bool is_open(uint32_t shard, uint64_t now_ms, Opened* opened = nullptr) noexcept;

  // Shard `shard`: one outcome of a request forwarded to the guarded backend (the final
  // attempt). Dropped when the breaker opened since `token` was taken, or is open.
  Opened record(uint32_t shard, uint64_t now_ms, bool unhealthy, uint64_t token) noexcept;

  // Any thread: whether the caller is the first to find the breaker closed again after its
  // last opening (one compare-exchange per opening), so exactly one "closed" line is logged.
  bool take_closed(uint64_t now_ms) noexcept;

  // Any thread: the node-wide counts now (for logs and the admin API; may lag by the
  // updates in flight on other shards).
  Counts counts(uint64_t now_ms) const noexcept;
  // Any thread: how many times it opened, and the last opening's start (ms, 0: never) and
  // counts (the admin API's "why").
  uint64_t openings() const noexcept { return openings_.load(std::memory_order_acquire); }
  uint64_t last_opened_ms() const noexcept {
    return last_opened_ms_.load(std::memory_order_acquire);
  }
  Counts last_opened_counts() const noexcept {
    return {last_unhealthy_.load(std::memory_order_relaxed),
            last_calls_.load(std::memory_order_relaxed)};
  }

 private:
  // Percentage-mode cells of a shard: two window slots (by window parity), each its start
  // (ms), calls and unhealthy outcomes; then the window start it had when it last looked
  // for ended windows.
  static constexpr uint32_t kSlotStart = 0, kSlotCalls = 1, kSlotBad = 2, kSlotSize = 3;
  static constexpr uint32_t kEvaluated = 2 * kSlotSize;
  static constexpr uint64_t kUnset = 0;

  Opened record_counter(uint32_t shard, uint64_t now_ms, bool unhealthy) noexcept;
  Opened record_percentage(uint32_t shard, uint64_t now_ms, bool unhealthy) noexcept;
  uint64_t window_sum(uint64_t now_ms) const noexcept;
  // The start of the window `now_ms` falls in (setting the anchor on the first outcome of
  // a closed period); kUnset while no outcome was counted since the breaker closed.
  uint64_t window_start(uint64_t now_ms, bool set) noexcept;
  Counts window_counts(uint64_t start) const noexcept;
  Opened evaluate_ended(uint32_t shard, uint64_t now_ms) noexcept;
  Opened open(uint64_t until_ms, Counts c) noexcept;

  Trigger t_;
  uint64_t window_ms_;
  std::atomic<uint64_t> open_until_{0};
  std::atomic<uint64_t> anchor_{kUnset};  // percentage: the first window's start
  std::atomic<uint64_t> closed_seen_{0};  // the open_until_ whose end was reported
  // Written by the shard whose compare-exchange published an opening (rare).
  std::atomic<uint64_t> openings_{0};
  std::atomic<uint64_t> last_opened_ms_{0};
  std::atomic<uint64_t> last_unhealthy_{0};
  std::atomic<uint64_t> last_calls_{0};
  core::ShardCells<uint64_t> cells_;  // counter: time_window_s buckets; percentage: 7
};

}  // namespace ringway::breaker
