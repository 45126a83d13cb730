// serve(): the process's start, run and stop, wired from the control module's parts. The
// main thread sets what is process-wide (open files limit, blocked signals), then starts
// the control thread `rw-control` and waits for it; the main thread keeps the process name
// (`ringway` in /proc/PID/comm, what pgrep and killall match). The control thread reads the
// start-up affinity mask (inherited unchanged from the main thread), opens the listeners,
// starts the shard threads (which inherit that mask, then pin themselves), runs the control
// loop until SIGTERM/SIGINT, then drains.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "control/control_loop.h"
#include "control/listeners.h"
#include "control/process.h"
#include "control/publisher.h"
#include "control/shards.h"
#include "control/snapshot.h"
#include "control/systemd.h"
#include "control/watchdog.h"
#include "core/cpu.h"
#include "proxy/shard.h"
#include "ringway/clock.h"
#include "ringway/log.h"
#include "ringway/server.h"
#include "ringway/tls.h"

namespace ringway {
namespace control {
namespace {

void init_context(proxy::ShardContext& ctx, RcuDomain<proxy::Snapshot>& rcu, uint32_t shards,
                  uint32_t max_connections) {
  ctx.rcu = &rcu;
  ctx.shard_count = shards;
  ctx.max_connections = max_connections;
  ctx.conn_counts = core::ShardCells<uint64_t>(shards, 1);
  ctx.stats = core::ShardCells<uint64_t>(shards, proxy::kStatCount);
  ctx.loop_turns = core::ShardCells<uint64_t>(shards, 1);
  ctx.access_log_gen = core::ShardCells<uint64_t>(shards, 1);
  ctx.access_log_dropped = core::ShardCells<uint64_t>(shards, 1);
  for (uint32_t i = 0; i < shards; ++i) {
    ctx.wake_fds.push_back(eventfd(0, EFD_CLOEXEC));
  }
}

// systemd's watchdog (WatchdogSec= sets WATCHDOG_USEC): enabled when the variables are
// meant for this process; logged once with its interval.
void start_watchdog(ControlLoop& loop, const proxy::ShardContext& ctx) {
  const char* usec = getenv("WATCHDOG_USEC");
  const char* pid = getenv("WATCHDOG_PID");
  const Watchdog wd = Watchdog::from_env(usec, pid, getpid());
  if (wd.enabled()) {
    RW_INFO("watchdog enabled interval_ms=%llu (WATCHDOG_USEC=%s)",
            static_cast<unsigned long long>(wd.interval_ms()), usec);
    loop.watch(wd, ctx);
  } else if (usec != nullptr) {
    RW_WARN("watchdog disabled: WATCHDOG_USEC=%s WATCHDOG_PID=%s (our pid %d)", usec,
            pid == nullptr ? "unset" : pid, static_cast<int>(getpid()));
  }
}

// SIGTERM/SIGINT: listeners close, idle connections close, in-flight exchanges finish;
// after `drain_timeout_ms` the shards close what is left. Returns once every shard thread
// has been joined.
void drain(const ServeOptions& opt, const Clock& clock, ControlLoop& loop, proxy::ShardContext& ctx,
           ShardThreads& st) {
  RW_INFO("draining");
  notify_systemd("STOPPING=1");
  ctx.draining.store(true, std::memory_order_release);
  ctx.wake_all();
  if (!loop.drain(st, clock.now_ms() + opt.drain_timeout_ms)) {
    RW_WARN("drain timeout (%u ms): closing remaining connections", opt.drain_timeout_ms);
    ctx.force_stop.store(true, std::memory_order_release);
    ctx.wake_all();
  }
  join_shards(st);
}

// Everything after the listeners are open: the loop, the first snapshot, the shards, the
// serving loop and the drain. Returns the process exit code.
int run(const ServeOptions& opt, std::shared_ptr<const proxy::Compiled> compiled,
        std::vector<std::vector<int>> fds, int admin_fd, const std::vector<int>& mask,
        RcuDomain<proxy::Snapshot>& rcu, proxy::ShardContext& ctx) {
  SteadyClock clock;
  std::unique_ptr<ControlLoop> loop;
  try {
    loop = std::make_unique<ControlLoop>(clock, rcu);
  } catch (const std::exception& e) {
    RW_ERROR("control loop: %s", e.what());
    return 1;
  }
  Publisher publisher(opt, rcu, ctx, ctx.shard_count, loop->checker(), ctx.metrics);
  publisher.install(std::move(compiled));
  if (admin_fd >= 0) {
    loop->start_admin(admin_fd, {&clock, &rcu, &loop->checker(), &ctx, ctx.metrics,
                                 &publisher.reloads(), &publisher.source_status()});
  }
  if (publisher.running().etcd) {
    const config::EtcdSource etcd = *publisher.running().etcd;  // the first read replaces it
    // The first read is waited for (at most timeout_ms) so that a node starts serving its
    // APIs, not 404s; etcd down at start: it serves the file alone and keeps trying.
    bool read = false;
    try {
      read = loop->start_etcd(etcd, publisher, clock.now_ms() + etcd.timeout_ms);
    } catch (const tls::FileError& e) {  // checked at load; changed on disk since
      RW_ERROR("config error: config_source.etcd.tls.%s: %s", e.field.c_str(), e.message.c_str());
      return 1;
    }
    if (!read) {
      RW_WARN("etcd: no answer within %u ms: serving without shared objects until it answers",
              etcd.timeout_ms);
    }
  }
  ShardThreads st;
  st.exit_fd = loop->shard_exit_fd();
  start_shards(ctx, std::move(fds), mask, st);
  if (st.failed.load() != 0) {
    join_shards(st);
    return 1;
  }
  RW_INFO("ready shards=%u", ctx.shard_count);
  char ready[64];
  snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving, %u shards", ctx.shard_count);
  notify_systemd(ready);
  start_watchdog(*loop, ctx);
  loop->serve(publisher);
  drain(opt, clock, *loop, ctx, st);
  return 0;
}

// The control thread's body.
int control_thread(const ServeOptions& opt, config::Config initial) {
  const std::vector<int> mask = startup_cpus();
  std::vector<config::Error> errors;
  const uint32_t shards = shard_count(opt, initial.shards, mask);
  metrics::Store store(shards);
  auto compiled = compile(std::move(initial), shards, &errors, nullptr, &store);
  if (!compiled) {
    log_config_errors(errors);
    return 1;
  }
  RcuDomain<proxy::Snapshot> rcu(shards);
  proxy::ShardContext ctx;
  init_context(ctx, rcu, shards, compiled->config.limits.max_connections);
  ctx.metrics = &store;
  std::vector<std::vector<int>> fds;
  int admin_fd = -1;
  try {
    fds = open_listeners(compiled->config, shards);
    if (compiled->config.admin) {
      admin_fd = open_admin_listener(*compiled->config.admin);
    }
  } catch (const std::exception& e) {
    RW_ERROR("cannot listen: %s", e.what());
    return 1;
  }
  if (run(opt, std::move(compiled), std::move(fds), admin_fd, mask, rcu, ctx) != 0) {
    return 1;
  }
  rcu.reclaim();
  for (int fd : ctx.wake_fds) {
    ::close(fd);
  }
  RW_INFO("stopped");
  return 0;
}

}  // namespace
}  // namespace control

int serve(const ServeOptions& opt, config::Config initial) {
  control::raise_open_files_limit();
  control::block_control_signals();  // before any thread starts: every thread inherits it
  int rc = 1;
  std::thread control([&] {
    core::name_thread("rw-control");
    rc = control::control_thread(opt, std::move(initial));
  });
  control.join();
  return rc;
}

}  // namespace ringway
