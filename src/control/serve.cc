// The control thread: listeners, shard threads, signals (SIGHUP reload, SIGTERM/SIGINT
// drain), snapshot publication and reclamation, systemd notification.
#include "ringway/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/snapshot.h"
#include "core/cpu.h"
#include "proxy/shard.h"
#include "ringway/clock.h"
#include "ringway/health.h"
#include "ringway/log.h"

namespace ringway {
namespace {

using proxy::Shard;
using proxy::ShardContext;
using proxy::Snapshot;

// Listener hosts are IP literals (the loader checks), so this never queries DNS.
sockaddr_storage to_sockaddr(const config::Address& a, socklen_t* len) {
  sockaddr_storage ss{};
  std::string why;
  if (!config::resolve_address(a.host, a.port, &ss, len, &why)) {
    throw std::runtime_error("listener address: " + why);
  }
  return ss;
}

// One SO_REUSEPORT socket bound to `ss` (whose port may be 0: the caller then binds the
// other shards' sockets to the port the first one got).
int open_listener(sockaddr_storage& ss, socklen_t len) {
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(std::string("socket: ") + strerror(errno));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // inherited by accepted
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 4096) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("bind/listen: ") + strerror(err));
  }
  socklen_t l = len;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l);
  return fd;
}

std::string address_text(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(s6->sin6_port));
  }
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(s4->sin_port));
}

// fds[shard][listener]
std::vector<std::vector<int>> open_listeners(const config::Config& cfg, uint32_t shards) {
  std::vector<std::vector<int>> fds(shards);
  for (const auto& l : cfg.listeners) {
    socklen_t len = 0;
    sockaddr_storage ss = to_sockaddr(l.address, &len);
    for (uint32_t s = 0; s < shards; ++s) {
      fds[s].push_back(open_listener(ss, len));  // ss now carries the bound port
    }
    RW_INFO("listening name=%s address=%s", l.name.c_str(), address_text(ss).c_str());
  }
  return fds;
}

// Every connection holds an fd, and a soft limit of 1024 is common where the hard one allows
// far more (only tools/ringway.service sets LimitNOFILE). Raised before the shards start:
// their fixed-file tables are sized from it. A failure leaves the limit as it was.
void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    RW_WARN("open files limit: getrlimit: %s", strerror(errno));
    return;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised{lim.rlim_max, lim.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim.rlim_cur = lim.rlim_max;
    } else {
      RW_WARN("cannot raise the open files limit from %llu to %llu: %s",
              static_cast<unsigned long long>(lim.rlim_cur),
              static_cast<unsigned long long>(lim.rlim_max), strerror(errno));
    }
  }
  RW_INFO("open files limit=%llu", static_cast<unsigned long long>(lim.rlim_cur));
}

void notify_systemd(const char* state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') {
    return;
  }
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  size_t n = strnlen(path, sizeof(un.sun_path) - 1);
  memcpy(un.sun_path, path, n);
  if (un.sun_path[0] == '@') {
    un.sun_path[0] = '\0';  // abstract socket
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  sendto(fd, state, strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&un),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n));
  ::close(fd);
}

// `--shards`, else the configuration's `shards`, else one shard per CPU of `mask` (the
// mask the process was started with; online CPUs if it could not be read). Logs where the
// shards will run: shard i on mask[i % mask.size()].
uint32_t shard_count(const ServeOptions& opt, uint32_t configured, const std::vector<int>& mask) {
  uint32_t shards = opt.shards != 0 ? opt.shards : configured;
  if (shards == 0) {
    shards = !mask.empty() ? static_cast<uint32_t>(mask.size())
                           : std::max(1u, std::thread::hardware_concurrency());
  }
  if (mask.empty()) {
    RW_WARN("shards=%u not pinned: no cpu affinity mask", shards);
    return shards;
  }
  RW_INFO("pinning shards=%u cpus=%s", shards, core::cpu_list_text(mask).c_str());
  if (shards > mask.size()) {
    RW_WARN(
        "shards=%u exceed the %zu cpus of the affinity mask: they wrap around (shard i on "
        "cpu number i mod %zu of the mask)",
        shards, mask.size(), mask.size());
  }
  return shards;
}

// Names the calling shard thread rw-shard-<i> and pins it to `cpu` (-1: not pinned). Runs
// on the shard's own thread before its ring and buffers exist, so that their memory is
// first touched from the CPU that will use it.
void setup_shard_thread(uint32_t i, int cpu) {
  core::name_thread("rw-shard-" + std::to_string(i));
  if (cpu < 0) {
    return;
  }
  if (int err = core::pin_thread(cpu); err != 0) {
    RW_WARN("shard %u: cannot pin to cpu %d: %s", i, cpu, strerror(err));
  } else {
    RW_DEBUG("shard %u pinned cpu=%d", i, cpu);
  }
}

// The CPUs of the affinity mask the process was started with; empty (logged) if unreadable.
// Main thread, before any other thread starts (threads inherit the mask of their creator).
std::vector<int> startup_cpus() {
  int err = 0;
  std::vector<int> cpus = core::allowed_cpus(&err);
  if (cpus.empty()) {
    RW_WARN("cannot read the cpu affinity mask: %s", strerror(err));
  }
  return cpus;
}

struct ShardThreads {
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<std::atomic<bool>>> done;
  std::atomic<uint32_t> failed{0};
};

// Starts shard i on a thread pinned to mask[i % mask.size()] (not pinned if `mask` is
// empty) and returns once every shard has been built (or failed to) and passed the gate.
void start_shards(ShardContext& ctx, std::vector<std::vector<int>> fds,
                  const std::vector<int>& mask, ShardThreads& st) {
  uint32_t n = ctx.shard_count;
  auto gate = std::make_shared<std::barrier<>>(static_cast<ptrdiff_t>(n) + 1);
  for (uint32_t i = 0; i < n; ++i) {
    st.done.push_back(std::make_unique<std::atomic<bool>>(false));
    std::atomic<bool>* done = st.done.back().get();
    int cpu = mask.empty() ? -1 : mask[i % mask.size()];
    st.threads.emplace_back([&ctx, &st, gate, done, i, cpu, f = std::move(fds[i])]() mutable {
      setup_shard_thread(i, cpu);
      std::unique_ptr<Shard> shard;
      try {
        // The ring is created here: SINGLE_ISSUER binds it to this thread.
        shard = std::make_unique<Shard>(i, &ctx, std::move(f));
      } catch (const std::exception& e) {
        RW_ERROR("shard %u failed to start: %s", i, e.what());
        st.failed.fetch_add(1);
      }
      // Nobody accepts until every shard exists (and registered with RCU).
      gate->arrive_and_wait();
      if (shard && st.failed.load() == 0) {
        shard->run();
      } else {
        ctx.rcu->report(i, RcuDomain<Snapshot>::kNone);
      }
      done->store(true);
    });
  }
  gate->arrive_and_wait();
}

bool all_done(const ShardThreads& st) {
  for (const auto& d : st.done) {
    if (!d->load()) {
      return false;
    }
  }
  return true;
}

sigset_t control_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  return sigs;
}

bool same_listeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size() || a.shards != b.shards) {
    return false;
  }
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].name != b.listeners[i].name ||
        a.listeners[i].address.text != b.listeners[i].address.text) {
      return false;
    }
  }
  return true;
}

void log_errors(const std::vector<config::Error>& errors) {
  for (const auto& e : errors) {
    RW_ERROR("config error: %s", e.str().c_str());
  }
}

// The control thread's state: the running compiled configuration, the health checker,
// and where snapshots are published. Control thread only.
struct Control {
  const ServeOptions& opt;
  RcuDomain<Snapshot>& rcu;
  ShardContext& ctx;
  uint32_t shards;
  SteadyClock clock;
  health::Checker checker{clock};
  std::shared_ptr<const proxy::Compiled> compiled;

  // Publishes the running configuration with the checker's current health.
  void publish() {
    rcu.publish(control::make_snapshot(compiled, checker.up()));
    ctx.wake_all();
  }

  // Makes `next` the running configuration; a reload keeps the health of members whose
  // address and check settings did not change.
  void install(std::shared_ptr<const proxy::Compiled> next) {
    compiled = std::move(next);
    checker.set_targets(compiled->health.targets);
    publish();
  }

  // Keeps serving the running configuration when the file is bad.
  void reload() {
    config::LoadResult r = config::load_config_file(opt.config_path);
    std::vector<config::Error> errors = r.errors;
    std::shared_ptr<const proxy::Compiled> next;
    if (r.ok()) {
      if (!same_listeners(compiled->config, *r.config)) {
        errors.push_back({"listeners", "listener and shard changes need a restart"});
      } else {
        next = control::compile(std::move(*r.config), shards, &errors);
      }
    }
    if (!next || !errors.empty()) {
      log_errors(errors);
      RW_ERROR("reload failed errors=%zu", errors.size());
      return;
    }
    install(std::move(next));
    RW_INFO("reload ok generation=%llu", static_cast<unsigned long long>(rcu.generation()));
  }

  // Runs health checks and waits for a signal, about `ms` in all. Returns the signal or 0.
  int wait(uint64_t ms) {
    if (!compiled->health.targets.empty()) {
      if (checker.run_for(ms)) {
        publish();
      }
      ms = 0;
    }
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000};
    sigset_t sigs = control_signals();
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    rcu.reclaim();
    return sig > 0 ? sig : 0;
  }
};

void drain(const ServeOptions& opt, const Clock& clock, ShardContext& ctx, ShardThreads& st) {
  RW_INFO("draining");
  notify_systemd("STOPPING=1");
  ctx.draining.store(true, std::memory_order_release);
  ctx.wake_all();
  uint64_t deadline = clock.now_ms() + opt.drain_timeout_ms;
  while (!all_done(st) && clock.now_ms() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // control thread, not a test
    ctx.rcu->reclaim();
  }
  if (!all_done(st)) {
    RW_WARN("drain timeout (%u ms): closing remaining connections", opt.drain_timeout_ms);
    ctx.force_stop.store(true, std::memory_order_release);
    ctx.wake_all();
  }
  for (auto& t : st.threads) {
    t.join();
  }
}

}  // namespace

int serve(const ServeOptions& opt, config::Config initial) {
  raise_open_files_limit();
  // This thread becomes the control thread. No other thread exists yet, so its mask is the
  // one the process was started with; shard threads inherit it until they pin themselves.
  core::name_thread("rw-control");
  const std::vector<int> mask = startup_cpus();
  std::vector<config::Error> errors;
  uint32_t shards = shard_count(opt, initial.shards, mask);
  auto compiled = control::compile(std::move(initial), shards, &errors);
  if (!compiled) {
    log_errors(errors);
    return 1;
  }
  sigset_t sigs = control_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // inherited by shard threads
  signal(SIGPIPE, SIG_IGN);
  RcuDomain<Snapshot> rcu(shards);
  ShardContext ctx;
  ctx.rcu = &rcu;
  ctx.shard_count = shards;
  ctx.max_connections = compiled->config.limits.max_connections;
  ctx.conn_counts = std::vector<proxy::ShardCell>(shards);
  for (uint32_t i = 0; i < shards; ++i) {
    ctx.wake_fds.push_back(eventfd(0, EFD_CLOEXEC));
  }
  std::vector<std::vector<int>> fds;
  try {
    fds = open_listeners(compiled->config, shards);
  } catch (const std::exception& e) {
    RW_ERROR("cannot listen: %s", e.what());
    return 1;
  }
  Control control{opt, rcu, ctx, shards};
  control.install(std::move(compiled));
  ShardThreads st;
  start_shards(ctx, std::move(fds), mask, st);
  if (st.failed.load() != 0) {
    for (auto& t : st.threads) {
      t.join();
    }
    return 1;
  }
  RW_INFO("ready shards=%u", shards);
  notify_systemd("READY=1");
  for (int sig = 0; sig != SIGTERM && sig != SIGINT; sig = control.wait(100)) {
    if (sig == SIGHUP) {
      notify_systemd("RELOADING=1");
      control.reload();
      notify_systemd("READY=1");
    }
  }
  drain(opt, control.clock, ctx, st);
  rcu.reclaim();
  for (int fd : ctx.wake_fds) {
    ::close(fd);
  }
  RW_INFO("stopped");
  return 0;
}

}  // namespace ringway
