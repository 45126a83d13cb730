// A shard: one thread, one io_uring, its own listeners, client and backend connections,
// pools and timers. Nothing here is shared with other shards except the read-only
// snapshot (RCU) and the control flags in ShardContext. Shard is the event loop: it
// accepts, reaps completions and dispatches them by op kind to its parts (ClientSide,
// Forwarder, Upstreams over one ShardCore), runs timers, and drains.
//
// Thread affinity: everything is shard-local, construction included (it runs on the shard's
// own thread, so its single-issuer ring belongs to that thread).
#pragma once

#include <cstdint>
#include <vector>

#include "core/timer_wheel.h"
#include "proxy/accept_backoff.h"
#include "proxy/client_side.h"
#include "proxy/forwarder.h"
#include "proxy/shard_core.h"
#include "proxy/upstreams.h"
#include "proxy/wait_batch.h"
#include "ringway/clock.h"

namespace ringway::proxy {

class Shard {
 public:
  Shard(uint32_t id, ShardContext* ctx, std::vector<int> listen_fds);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Thread body: serves until drained. noexcept: data-plane errors are values.
  void run() noexcept;
  uint32_t id() const { return k_.id_; }

 private:
  void quiescent_point();
  void publish_stats();
  unsigned reap();
  void dispatch(uint64_t user_data, int res, uint32_t flags);
  void arm_accept(uint32_t listener);
  void on_accept(uint32_t listener, int res, uint32_t flags);
  void pause_accept(uint32_t listener, int err);
  void resume_paused_accepts();
  void on_timer(core::TimerNode* node);
  void start_drain();
  bool drained() const;
  void rearm_starved();
  void finish_access_log();
  void arm_wake();

  std::vector<int> listen_fds_;
  // Per listener: its multishot accept is pending; or its accepting is paused (`retry`
  // armed, owner = listener index) after a failure a pause can outlast (accept_backoff.h).
  struct AcceptState {
    bool armed = false;
    core::TimerNode retry;
    AcceptBackoff backoff;
  };
  std::vector<AcceptState> accepts_;  // sized once: timers point into it
  uint32_t listeners_open_;
  SteadyClock clock_;
  WaitPlan wait_;              // how the next wait batches completions (wait_batch.h)
  unsigned accepted_ = 0;      // connections accepted in this turn of the loop
  uint64_t wake_value_ = 0;    // eventfd read target
  uint64_t turns_ = 0;         // loop turns so far (published in ShardContext::loop_turns)
  uint64_t next_trim_ms_ = 0;  // when idle buffer memory is next given back (trim_memory)
  ShardCore k_;
  ClientSide client_;
  Forwarder fwd_;
  Upstreams up_;
};

}  // namespace ringway::proxy
