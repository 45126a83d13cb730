// Allocation counting for the micro-benchmarks: alloc_counter.cc replaces the global
// operator new (every form) with one that counts per thread, so a benchmark sees how many
// heap allocations its loop made.
//
//   void BM_X(benchmark::State& state) {
//     ...set-up (may allocate)...
//     ringway::bench::Loop(state, [&] { ...one iteration... });  // reports allocs_per_iter
//   }
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace ringway::bench {

// Heap allocations (operator new calls) made so far by the calling thread.
uint64_t AllocCount();

// Sets the counter `allocs_per_iter`; on the request path (`request_path`), any
// allocation fails the benchmark with an error naming the count.
void ReportAllocs(benchmark::State& state, uint64_t allocs, bool request_path);

// The benchmark loop: runs `body` once per iteration and reports the allocations it made.
template <typename Body>
void Loop(benchmark::State& state, Body&& body, bool request_path = true) {
  const uint64_t start = AllocCount();
  for (auto _ : state) {
    body();
  }
  ReportAllocs(state, AllocCount() - start, request_path);
}

}  // namespace ringway::bench
