// The shard threads: how many, where they run (the start-up affinity mask), starting them
// behind one gate, and knowing when they have all ended.
//
// Thread affinity: control thread (the shard threads it starts only touch ShardThreads'
// atomics and write to its exit fd).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/shard.h"
#include "ringway/server.h"

namespace ringway::control {

// The CPUs of the calling thread's affinity mask (for the control thread: the mask the
// process was started with, inherited from the main thread); empty (logged) if unreadable.
std::vector<int> startup_cpus();

// `--shards`, else the configuration's `shards`, else one shard per CPU of `mask` (online
// CPUs if it is empty). Logs where the shards will run: shard i on mask[i % mask.size()].
uint32_t shard_count(const ServeOptions& opt, uint32_t configured, const std::vector<int>& mask);

struct ShardThreads {
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<std::atomic<bool>>> done;  // [shard]: its thread body ended
  std::atomic<uint32_t> failed{0};                       // shards that could not be built
  int exit_fd = -1;  // eventfd (not owned): each shard thread adds 1 as it ends
};

// Starts shard i on a thread named rw-shard-<i>, pinned to mask[i % mask.size()] (not
// pinned if `mask` is empty), and returns once every shard has been built (or failed to)
// and passed the gate; none serves unless all were built. `ctx` and `st` must outlive the
// threads (join_shards).
void start_shards(proxy::ShardContext& ctx, std::vector<std::vector<int>> fds,
                  const std::vector<int>& mask, ShardThreads& st);

// Whether every shard thread's body has ended.
bool all_done(const ShardThreads& st);

void join_shards(ShardThreads& st);

}  // namespace ringway::control
