// The control loop's pure parts: the user_data codec of its ring and the arithmetic of
// when to wake up. No I/O, no clock; any thread.
//
// user_data layout: [63..56] Op, [55..0] payload. The payload belongs to whoever queued
// the operation: for kHealth it is the health checker's own encoding (health::Checker is
// given encode(Op::kHealth) as its tag and keeps below it), for the loop's own reads it is
// 0. The shards' codec (core/user_data.h) is a different ring's and is not used here.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>

namespace ringway::control {

enum class Op : uint8_t {
  kIgnore = 0,  // completions nobody waits for
  kSignal,      // the signalfd read (SIGHUP, SIGTERM, SIGINT, SIGUSR1) completed
  kShardExit,   // the shard-exit eventfd read completed: a shard thread ended
  kHealth,      // one of the health checker's operations (payload: the checker's)
  kAdmin,       // the admin listener's operations (payload: admin::Server's own encoding)
  kEtcd,        // the etcd config source's operations (payload: EtcdWatch's own encoding)
};

inline constexpr int kOpShift = 56;
inline constexpr uint64_t kPayloadMask = (uint64_t{1} << kOpShift) - 1;

constexpr uint64_t encode(Op op, uint64_t payload = 0) {
  return (static_cast<uint64_t>(op) << kOpShift) | (payload & kPayloadMask);
}
constexpr Op op_of(uint64_t user_data) { return static_cast<Op>(user_data >> kOpShift); }
constexpr uint64_t payload_of(uint64_t user_data) { return user_data & kPayloadMask; }

// A deadline that is not set (clock ms).
inline constexpr uint64_t kNever = UINT64_MAX;
// While retired snapshots wait for the shards to pass their quiescent point, the loop
// retries reclaiming them this often; with none waiting it sets no timer at all.
inline constexpr uint64_t kReclaimRetryMs = 100;

// How long to wait at `now` for the earliest of `deadlines` (clock ms; kNever: not set):
// 0 once one has passed, kNever when none is set (wait for a completion only).
constexpr uint64_t wait_ms(uint64_t now, std::initializer_list<uint64_t> deadlines) {
  uint64_t earliest = kNever;
  for (uint64_t d : deadlines) {
    earliest = std::min(earliest, d);
  }
  if (earliest == kNever) {
    return kNever;
  }
  return earliest > now ? earliest - now : 0;
}

// When to try reclaiming again after a reclaim at `now` left `kept` snapshots waiting.
constexpr uint64_t next_reclaim(uint64_t now, size_t kept) {
  return kept == 0 ? kNever : now + kReclaimRetryMs;
}

}  // namespace ringway::control
