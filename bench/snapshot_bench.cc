// Micro-benchmark of the snapshot read a shard makes at the top of every loop turn:
// RcuDomain<Snapshot>::current() plus report() of the generation it holds, alone and with
// two readers on their own cache lines (as two shards).
#include <benchmark/benchmark.h>

#include <memory>

#include "alloc_counter.h"
#include "control/snapshot.h"
#include "ringway/rcu.h"

namespace ringway::proxy {
namespace {

constexpr uint32_t kReaders = 2;

RcuDomain<Snapshot>& Domain() {
  static RcuDomain<Snapshot>* domain = [] {
    auto* d = new RcuDomain<Snapshot>(kReaders);
    d->publish(std::make_unique<Snapshot>());
    return d;
  }();
  return *domain;
}

void BM_SnapshotRead(benchmark::State& state) {
  RcuDomain<Snapshot>& rcu = Domain();
  const auto reader = static_cast<uint32_t>(state.thread_index());
  bench::Loop(state, [&] {
    const Snapshot* snap = rcu.current();
    rcu.report(reader, snap->generation);
    benchmark::DoNotOptimize(snap);
  });
}
BENCHMARK(BM_SnapshotRead)->Threads(1)->Threads(kReaders);

}  // namespace
}  // namespace ringway::proxy

BENCHMARK_MAIN();
