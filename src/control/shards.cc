#include "control/shards.h"

#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cstring>
#include <exception>
#include <string>

#include "core/cpu.h"
#include "ringway/log.h"

namespace ringway::control {
namespace {

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

// Tells the control loop that a shard thread ended (it reads exit_fd).
void signal_exit(const ShardThreads& st) {
  if (st.exit_fd < 0) {
    return;
  }
  uint64_t one = 1;
  ssize_t rc = write(st.exit_fd, &one, sizeof(one));
  (void)rc;
}

}  // namespace

std::vector<int> startup_cpus() {
  int err = 0;
  std::vector<int> cpus = core::allowed_cpus(&err);
  if (cpus.empty()) {
    RW_WARN("cannot read the cpu affinity mask: %s", strerror(err));
  }
  return cpus;
}

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

void start_shards(proxy::ShardContext& ctx, std::vector<std::vector<int>> fds,
                  const std::vector<int>& mask, ShardThreads& st) {
  uint32_t n = ctx.shard_count;
  auto gate = std::make_shared<std::barrier<>>(static_cast<ptrdiff_t>(n) + 1);
  for (uint32_t i = 0; i < n; ++i) {
    st.done.push_back(std::make_unique<std::atomic<bool>>(false));
    std::atomic<bool>* done = st.done.back().get();
    int cpu = mask.empty() ? -1 : mask[i % mask.size()];
    st.threads.emplace_back([&ctx, &st, gate, done, i, cpu, f = std::move(fds[i])]() mutable {
      setup_shard_thread(i, cpu);
      std::unique_ptr<proxy::Shard> shard;
      try {
        // The ring is created here: SINGLE_ISSUER binds it to this thread.
        shard = std::make_unique<proxy::Shard>(i, &ctx, std::move(f));
      } catch (const std::exception& e) {
        RW_ERROR("shard %u failed to start: %s", i, e.what());
        st.failed.fetch_add(1);
      }
      // Nobody accepts until every shard exists (and registered with RCU).
      gate->arrive_and_wait();
      if (shard && st.failed.load() == 0) {
        shard->run();
      } else {
        ctx.rcu->report(i, RcuDomain<proxy::Snapshot>::kNone);
      }
      done->store(true);
      signal_exit(st);
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

void join_shards(ShardThreads& st) {
  for (auto& t : st.threads) {
    t.join();
  }
}

}  // namespace ringway::control
