// How a shard's loop waits for its next completions (Shard::run -> Ring::submit_and_wait_batch):
// the kernel wakes the sleeping shard once `batch` completions are queued, or `min_wait_us`
// after the first one came (Linux 6.12's min_wait_usec; older kernels wait for one).
//
// Why: each wake-up of a sleeping shard costs a context switch and a loop turn; with 64 busy
// keep-alive connections that was a fifth to a third of the shard's CPU per request. Waiting
// a little for completions that are surely coming lets one turn handle many. Bounded so it
// rarely waits for completions that cannot come: at most what the last turn handled, and at
// most a quarter of the exchanges in progress (each brings its next receive or send, but
// they move in step with their clients too: half let wrk -c4's p50 go from 150 to 210 us).
// Fewer than 8 exchanges in progress wait for one completion, as before, so a lone request,
// or a few, pay no delay (bench/README.md, "Why the code is so").
//
// Thread affinity: pure function.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ringway::proxy {

struct WaitPlan {
  unsigned batch = 1;        // completions the wait asks for
  uint32_t min_wait_us = 0;  // 0: return at the first
};

inline constexpr unsigned kMaxWaitBatch = 32;
// After accepts: connecting clients pay the shard's wake-up in their connect().
inline constexpr uint32_t kAcceptBatchWaitUs = 10;
// Exchanges in progress: the most a completion that arrives alone waits for company.
inline constexpr uint32_t kBusyBatchWaitUs = 100;

// `reaped`: completions the last turn handled; `accepted`: it accepted connections;
// `exchanges`: exchanges in progress on the shard (requests begun and not answered, not
// counting open tunnels, which may stay quiet for hours).
constexpr WaitPlan plan_wait(unsigned reaped, bool accepted, uint64_t exchanges) {
  if (accepted) {
    return {std::clamp(reaped, 1u, kMaxWaitBatch), kAcceptBatchWaitUs};
  }
  uint64_t coming = std::min<uint64_t>({reaped, exchanges / 4, kMaxWaitBatch});
  if (coming <= 1) {
    return {1, 0};
  }
  return {static_cast<unsigned>(coming), kBusyBatchWaitUs};
}

}  // namespace ringway::proxy
