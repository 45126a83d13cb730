// The control thread's event loop: one io_uring (not a shard's) for everything the control
// plane waits on, so the thread sleeps in one place and wakes only for work:
//   - signals: SIGHUP, SIGTERM, SIGINT and SIGUSR1 are blocked in every thread and read here
//     from a signalfd (Op::kSignal); SIGUSR1 reopens the access log (AccessLogFiles);
//   - health checks: the checker queues its operations on this ring (Op::kHealth) and the
//     loop wakes for its completions and for the next check due;
//   - shard exits: each shard thread adds 1 to an eventfd as it ends (Op::kShardExit), so a
//     drain ends as soon as the last shard does;
//   - RCU: retired snapshots, and access log fds the shards moved past, are reclaimed after
//     every turn, with a retry timer only while some wait for the shards;
//   - the admin listener (Op::kAdmin): its accepts, receives and sends (admin::Server),
//     and the idle deadlines of its connections;
//   - the etcd config source (Op::kEtcd, etcd_watch.h): its reads and watch, its retry and
//     coalescing deadlines; changed objects are installed through the Publisher;
//   - the systemd watchdog: WATCHDOG=1 at each tick while every shard turns (watchdog.h).
// Timers are the wait's timeout (the earliest deadline), not timeout operations.
//
// Thread affinity: control thread only. The ring is single-issuer: construct, run and
// destroy the loop on that thread.
#pragma once

#include <sys/signalfd.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "control/etcd_watch.h"
#include "control/loop_ops.h"
#include "control/publisher.h"
#include "control/shards.h"
#include "control/watchdog.h"
#include "core/ring.h"
#include "ringway/admin.h"
#include "ringway/clock.h"
#include "ringway/health.h"
#include "ringway/rcu.h"

namespace ringway::control {

class ControlLoop {
 public:
  // `clock` and `rcu` must outlive the loop. Throws std::runtime_error when the ring, the
  // signalfd or the eventfd cannot be made (start-up only). The calling thread must have
  // the control signals blocked (block_control_signals).
  ControlLoop(const Clock& clock, RcuDomain<proxy::Snapshot>& rcu);
  ~ControlLoop();
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  // Serves the admin API on `listen_fd` (owned from now on) from this loop's ring.
  void start_admin(int listen_fd, const admin::Sources& src);

  // Reads and watches the shared objects in etcd (config_source.etcd) from this loop's ring,
  // installing them through `publisher` (which must outlive the loop): at once, and from
  // serve() on. Then turns until the first read is installed, SIGTERM/SIGINT, or the clock
  // reaches `deadline_ms`; returns whether the first read arrived.
  bool start_etcd(const config::EtcdSource& cfg, Publisher& publisher, uint64_t deadline_ms);

  // The health checker, running on this loop's ring.
  health::Checker& checker() { return *checker_; }
  // For ShardThreads::exit_fd; valid for the loop's lifetime.
  int shard_exit_fd() const { return exit_fd_; }

  // Pings systemd's watchdog from serve() while every shard of `ctx` turns (watchdog.h):
  // the first tick is due one interval from now. `ctx` must outlive serve(). A disabled
  // `wd` changes nothing. Call before serve().
  void watch(const Watchdog& wd, const proxy::ShardContext& ctx);

  // Serves until SIGTERM or SIGINT: SIGHUP reloads through `publisher` (systemd
  // RELOADING=1, then READY=1), a health change is published at the end of the turn that
  // saw it, checks start when due.
  void serve(Publisher& publisher);

  // Turns until every shard of `st` has ended (true) or the clock reaches `deadline_ms`
  // (false). Health checks stop (in-flight ones are cancelled) and signals are ignored.
  bool drain(const ShardThreads& st, uint64_t deadline_ms);

 private:
  enum class Phase : uint8_t { kServing, kStopping, kDraining };

  void arm_signal_read();
  void arm_exit_read();
  // Submits, sleeps until a completion or `wake_at` (clock ms; kNever: no timeout), then
  // dispatches every completion that is ready.
  void turn(uint64_t wake_at);
  void dispatch(uint64_t user_data, int res);
  void on_signal(int res);
  // Frees retired snapshots no shard holds; schedules a retry while some remain.
  void reclaim();
  uint64_t admin_due() const;  // the admin connections' next idle deadline, or kNever
  uint64_t etcd_due() const { return etcd_ ? etcd_->next_due() : kNever; }
  // Installs the etcd objects when a read or a coalesced burst of events is ready.
  void poll_etcd();
  // A watchdog tick when one is due at `now`: WATCHDOG=1 if every shard turned since the
  // previous tick, then every shard is woken so that an idle one turns before the next.
  void watchdog_tick(uint64_t now);

  const Clock& clock_;
  RcuDomain<proxy::Snapshot>& rcu_;
  // Read targets the kernel writes into: declared before ring_, so they outlive it.
  signalfd_siginfo siginfo_{};
  uint64_t exits_ = 0;
  // Its connections' buffers are receive targets too: declared before ring_, so the ring
  // (and its pending operations) goes first.
  std::unique_ptr<admin::Server> admin_;
  std::unique_ptr<EtcdWatch> etcd_;  // receives into its own buffer, like admin_
  std::unique_ptr<core::Ring> ring_;
  int signal_fd_ = -1;
  int exit_fd_ = -1;
  std::unique_ptr<health::Checker> checker_;  // on ring_: destroyed first
  Publisher* publisher_ = nullptr;            // while serving
  Phase phase_ = Phase::kServing;
  bool health_changed_ = false;
  uint64_t reclaim_due_ = kNever;
  Watchdog watchdog_;                             // disabled unless watch() enabled it
  const proxy::ShardContext* watched_ = nullptr;  // the shards watchdog_ watches
  std::vector<uint64_t> turns_;                   // reused read of their loop_turns
  std::vector<std::pair<uint64_t, int>> cqes_;    // reused batch of (user_data, res)
};

}  // namespace ringway::control
