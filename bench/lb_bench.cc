// Micro-benchmarks of Balancer::pick() per strategy with 3 and 100 members (one shard of
// eight for WLC's summed cells). Allocations in the timed loop are counted
// (allocs_per_iter, bench/alloc_counter.h) and must stay 0.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "alloc_counter.h"
#include "ringway/lb.h"

namespace ringway::lb {
namespace {

constexpr uint32_t kShards = 8;

// `n` members in two groups (3:1), mixed weights, one standby; health all up.
config::Channel make_channel(config::BalanceStrategy strategy, int n) {
  config::Channel ch;
  ch.name = "c";
  ch.port = 9000;
  ch.balance_strategy = strategy;
  ch.member_groups = {{"main", 3, ""}, {"dr", 1, ""}};
  for (int i = 0; i < n; ++i) {
    config::Member m;
    m.host = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    m.weight = 1 + static_cast<uint32_t>(i % 4);
    m.group = i % 3 == 2 ? "dr" : "main";
    m.is_backup = i == n - 1;
    ch.members.push_back(m);
  }
  return ch;
}

void run_pick(benchmark::State& state, config::BalanceStrategy strategy) {
  const int n = static_cast<int>(state.range(0));
  const Balancer b = Balancer::build(make_channel(strategy, n), kShards);
  ShardState shard = b.make_shard_state();
  const std::vector<uint8_t> up(n, 1);
  const Health health{up.data(), static_cast<uint32_t>(n)};
  std::vector<uint64_t> keys;
  for (int i = 0; i < 1024; ++i) {
    keys.push_back(hash_bytes("client-" + std::to_string(i)));
  }
  for (uint32_t s = 0; s < kShards; ++s) {  // some load on other shards' cells
    b.acquire(s, s % static_cast<uint32_t>(n));
  }
  size_t i = 0;
  bench::Loop(state, [&] {
    const uint32_t m = b.pick(shard, health, keys[i++ & 1023], Tried{});
    benchmark::DoNotOptimize(m);
  });
}

void BM_PickWrr(benchmark::State& state) { run_pick(state, config::BalanceStrategy::kWrr); }
void BM_PickWlc(benchmark::State& state) { run_pick(state, config::BalanceStrategy::kWlc); }
void BM_PickSh(benchmark::State& state) { run_pick(state, config::BalanceStrategy::kSh); }
void BM_PickUriHash(benchmark::State& state) { run_pick(state, config::BalanceStrategy::kUriHash); }

BENCHMARK(BM_PickWrr)->Arg(3)->Arg(100);
BENCHMARK(BM_PickWlc)->Arg(3)->Arg(100);
BENCHMARK(BM_PickSh)->Arg(3)->Arg(100);
BENCHMARK(BM_PickUriHash)->Arg(3)->Arg(100);

// Retry path: the first two members tried.
void BM_PickWrrRetry(benchmark::State& state) {
  const Balancer b = Balancer::build(make_channel(config::BalanceStrategy::kWrr, 100), 1);
  ShardState shard = b.make_shard_state();
  Tried tried;
  tried.add(0);
  tried.add(1);
  bench::Loop(state, [&] { benchmark::DoNotOptimize(b.pick(shard, Health{}, 0, tried)); });
}
BENCHMARK(BM_PickWrrRetry);

// Hot-path key for uri_hash: path without query, hashed.
void BM_PathKey(benchmark::State& state) {
  bench::Loop(state,
              [&] { benchmark::DoNotOptimize(path_key("/v1/orders/123456/items?expand=all")); });
}
BENCHMARK(BM_PathKey);

}  // namespace
}  // namespace ringway::lb

BENCHMARK_MAIN();
