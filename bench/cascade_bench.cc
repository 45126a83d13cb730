// Micro-benchmarks of the cascade channel on the request path of a cascaded instance:
// verify() of the cascade headers of a ~300-byte signed GET (one key, and two during a key
// rotation: both HMACs are always computed), and NonceCache::insert() of a fresh nonce.
// Allocations in the timed loops must stay 0 (allocs_per_iter, bench/alloc_counter.h).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "alloc_counter.h"
#include "ringway/cascade.h"

namespace ringway::cascade {
namespace {

constexpr int64_t kNow = 1704164645;
constexpr std::string_view kKeys[] = {"cascade-key-new-0123456789abcdef",
                                      "cascade-key-old-0123456789abcdef"};
constexpr std::string_view kAllowed[] = {"gw-west-1", "gw-west-2"};
constexpr std::string_view kMethod = "GET";
constexpr std::string_view kTarget = "/v1/orders/2024?limit=50";
constexpr std::string_view kHost = "gw-east.example";

// The request as sent: request line, Host and the five cascade headers.
struct SignedGet {
  char headers[512];
  size_t headers_len = 0;
  Fields fields;
  size_t request_bytes = 0;
};

std::string_view Value(std::string_view lines, std::string_view name) {
  const size_t at = lines.find(name);
  const size_t start = at + name.size() + 2;  // "Name: "
  return lines.substr(start, lines.find("\r\n", start) - start);
}

bool MakeSignedGet(SignedGet* g) {
  const uint8_t nonce[16] = {0x9a, 0x01, 0x7c, 0x3e, 0x55, 0x10, 0xfe, 0x42,
                             0x8b, 0x66, 0x21, 0xd0, 0x07, 0xc9, 0x3a, 0xb4};
  g->headers_len = write_headers(kKeys[0], kAllowed[0], kNow, nonce, 1, kMethod, kTarget, kHost,
                                 g->headers, sizeof(g->headers));
  const std::string_view lines(g->headers, g->headers_len);
  g->fields = {Value(lines, "Instance"), Value(lines, "Time"), Value(lines, "Nonce"),
               Value(lines, "Hop"), Value(lines, "Signature")};
  g->request_bytes =
      kMethod.size() + 1 + kTarget.size() + 11 + 6 + kHost.size() + 2 + g->headers_len + 2;
  return g->headers_len != 0;
}

void BM_VerifyGet300(benchmark::State& state) {
  SignedGet g;
  if (!MakeSignedGet(&g)) {
    state.SkipWithError("write_headers failed");
    return;
  }
  const size_t nkeys = static_cast<size_t>(state.range(0));
  bench::Loop(state, [&] {
    uint32_t hop = 0;
    int64_t time = 0;
    const Verdict v = verify(g.fields, kKeys, nkeys, kAllowed, std::size(kAllowed), kNow, kMethod,
                             kTarget, kHost, &hop, &time);
    benchmark::DoNotOptimize(v);
    if (v != Verdict::kOk) {
      state.SkipWithError("verify failed");
    }
  });
  state.counters["request_bytes"] = static_cast<double>(g.request_bytes);
}
BENCHMARK(BM_VerifyGet300)->Arg(1)->Arg(2)->ArgName("keys");

// A fresh nonce per iteration into a table of 2^slots_log2 slots (21, the default: 16 MiB,
// so mostly a cache miss; 16: 512 KiB, cache-resident). The clock moves one second per
// slots/2048 inserts, so about 30% of the slots hold live entries and the table never fills.
void BM_NonceCacheInsert(benchmark::State& state) {
  const auto slots_log2 = static_cast<uint32_t>(state.range(0));
  NonceCache cache(slots_log2);
  const uint64_t per_second = cache.slots() >> 11;
  char nonce[33] = "0123456789abcdef0000000000000000";
  uint64_t i = 0;
  bench::Loop(state, [&] {
    uint64_t v = i;
    for (int d = 31; d >= 16; --d, v >>= 4) {
      nonce[d] = "0123456789abcdef"[v & 0xF];
    }
    const int64_t now = kNow + static_cast<int64_t>(i / per_second);
    const NonceCache::Result r = cache.insert(std::string_view(nonce, 32), now, now);
    benchmark::DoNotOptimize(r);
    if (r != NonceCache::Result::kFresh) {
      state.SkipWithError("insert was not fresh");
    }
    ++i;
  });
}
BENCHMARK(BM_NonceCacheInsert)->Arg(21)->Arg(16)->ArgName("slots_log2");

}  // namespace
}  // namespace ringway::cascade

BENCHMARK_MAIN();
