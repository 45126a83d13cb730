// systemd's service watchdog (WatchdogSec=): WATCHDOG=1 is sent only while every shard's
// event loop is turning, so a shard stuck in a turn (a busy loop, a blocking call) stops
// the pings and systemd restarts the service.
//
// Each shard stores its loop-turn count in ShardContext::loop_turns once per turn. At each
// tick (every interval_ms(): half of WATCHDOG_USEC) the control loop reads the counts and
// asks tick() whether to ping: yes only if every count moved since the previous tick. After
// each tick the control loop wakes every shard (ShardContext::wake_all), so an idle but
// healthy shard turns at least once before the next tick.
//
// Pure: no clock, no I/O, no environment reads; time and the counts are parameters.
// Thread affinity: control thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/shard_cells.h"

namespace ringway::control {

class Watchdog {
 public:
  // Disabled: next_due() is kNever and tick() never pings.
  Watchdog() = default;

  // From systemd's environment: `watchdog_usec` is $WATCHDOG_USEC, `watchdog_pid`
  // $WATCHDOG_PID (null: unset), `self` this process's pid. Enabled when WATCHDOG_USEC is
  // a positive decimal and WATCHDOG_PID is unset or equal to `self` (a pid that differs
  // means the variables were meant for another process, e.g. a parent that exec'd us
  // without clearing them). The interval is half the timeout, at least 1 ms.
  static Watchdog from_env(const char* watchdog_usec, const char* watchdog_pid, pid_t self);

  bool enabled() const { return interval_ms_ != 0; }
  uint64_t interval_ms() const { return interval_ms_; }

  // Arms the first tick at `now` + interval with `turns` (one count per shard) as the
  // counts to compare against. Does nothing when disabled.
  void start(uint64_t now, std::span<const uint64_t> turns);
  // Clock ms of the next tick; kNever when disabled or not started.
  uint64_t next_due() const { return next_due_; }
  // At `now` >= next_due(): true when every shard's count in `turns` differs from the one
  // seen at the previous tick (or start), i.e. a WATCHDOG=1 is due. The counts become the
  // new reference and the next tick is set to `now` + interval. Before next_due(), or when
  // disabled: false, nothing changes. A different number of shards than at start: false.
  bool tick(uint64_t now, std::span<const uint64_t> turns);

 private:
  uint64_t interval_ms_ = 0;
  uint64_t next_due_ = UINT64_MAX;
  std::vector<uint64_t> seen_;
};

// Reads every shard's cell 0 of `cells` (relaxed loads) into `out` (resized to the shard
// count). Any thread.
void read_turns(const core::ShardCells<uint64_t>& cells, std::vector<uint64_t>& out);

}  // namespace ringway::control
