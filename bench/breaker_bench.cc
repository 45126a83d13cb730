// Micro-benchmarks of the circuit-breaker trigger on the request path: the check when a
// request starts (token + is_open) and the record of its outcome, healthy and unhealthy,
// for both modes, on one shard of eight; and a downgrade rule's match_regex matched against
// a request's values; and a bound policy's whole request-path work (proxy/guard.h).
// Allocations in the timed loop must stay 0 (allocs_per_iter,
// bench/alloc_counter.h).
#include <benchmark/benchmark.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc_counter.h"
#include "breaker/condition.h"
#include "breaker/rules.h"
#include "proxy/guard.h"
#include "ringway/breaker.h"

namespace ringway::breaker {
namespace {

constexpr uint32_t kShards = 8;

Trigger Seed(Mode mode) {  // the seed's example script: 15 s window, 30 unhealthy / 51 %
  Trigger t;
  t.mode = mode;
  t.unhealthy_threshold = 30;
  t.time_window_s = 15;
  t.open_s = 15;
  t.unhealthy_percentage = 51;
  t.min_calls = 20;
  return t;
}

// One request: the check at its start and the record of its outcome. `every`: one
// unhealthy outcome per `every` requests (0: none); the threshold is never reached, since
// each iteration moves the clock 1 ms and the breaker would otherwise open.
void run_exchange(benchmark::State& state, Mode mode) {
  const auto every = static_cast<uint64_t>(state.range(0));
  Breaker b(Seed(mode), kShards);
  uint64_t now = 1'000'000;
  uint64_t i = 0;
  bench::Loop(state, [&] {
    ++now;
    const uint64_t token = b.token();
    const bool open = b.is_open(3, now);
    benchmark::DoNotOptimize(open);
    const bool unhealthy = every != 0 && ++i % every == 0;
    benchmark::DoNotOptimize(b.record(3, now, unhealthy, token));
  });
}

void BM_CounterExchange(benchmark::State& state) { run_exchange(state, Mode::kCounter); }
void BM_PercentageExchange(benchmark::State& state) { run_exchange(state, Mode::kPercentage); }

// range(0): one unhealthy outcome per N requests (0: all healthy). Counter mode: 1 per
// 1000 stays under 30 per 15 s at 1 request per ms.
BENCHMARK(BM_CounterExchange)->Arg(0)->Arg(1000);
BENCHMARK(BM_PercentageExchange)->Arg(0)->Arg(4);

// A two-test rule (path ==, method in a list) over the seed's two parameters; the request
// matches on the list's last item, so both tests and every item are looked at.
void BM_RuleMatch(benchmark::State& state) {
  std::string error;
  std::vector<Param> params = {*make_param("reqPath", "path", "path", &error),
                               *make_param("method", "method", "method", &error)};
  std::optional<Match> m = Match::compile(
      R"("[\"AND\",[\"reqPath\",\"==\",\"/test\"],[\"method\",\"in\",\"GET, POST, PUT\"]]")",
      params, &error);
  if (!m) {
    state.SkipWithError(error.c_str());
    return;
  }
  std::string_view values[] = {"/test", "PUT"};
  bench::Loop(state, [&] {
    benchmark::DoNotOptimize(values);
    benchmark::DoNotOptimize(m->matches(values));
  });
}

BENCHMARK(BM_RuleMatch);

// The whole request-path cost of a bound policy, as proxy/guard.cc spends it: the seed's
// rule (reqPath == /test) and the default with a condition trigger (status in a list OR
// latency), values for the used parameters, the rule picked, its breaker checked and its
// token taken, then the outcome judged and recorded. range(0): 1 = the request matches the
// rule, 0 = it falls to the default (both tests of the rule fail first).
void BM_GuardExchange(benchmark::State& state) {
  std::string error;
  proxy::Guard g;
  g.params = {*make_param("reqPath", "path", "path", &error),
              *make_param("method", "method", "method", &error)};
  for (int i = 0; i < 2; ++i) {
    proxy::GuardRule r;
    r.name = i == 0 ? "rule-test1" : "default";
    if (i == 0) {
      r.match = Match::compile(R"("[\"reqPath\",\"==\",\"/test\"]")", g.params, &error);
      g.used_params |= r.match ? r.match->used_params() : 0;
    }
    r.condition = Condition::compile(
        R"(["OR",["$context.statusCode","in","500,501,504"],["$context.backendResponseTime",">",6000]])",
        &error);
    r.breaker = std::make_shared<Breaker>(Seed(Mode::kCounter), kShards);
    g.rules.push_back(std::move(r));
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string_view path = state.range(0) == 1 ? "/test" : "/orders/42";
  uint64_t now = 1'000'000;
  bench::Loop(state, [&] {
    ++now;
    std::string_view values[Match::kMaxParams];
    values[0] = path;
    values[1] = "GET";
    benchmark::DoNotOptimize(values);
    const proxy::GuardRule& r = g.pick(values);
    if (r.breaker->is_open(3, now)) {
      return;
    }
    const uint64_t token = r.breaker->token();
    const bool bad = r.condition->holds(Outcome{200, 12});
    benchmark::DoNotOptimize(r.breaker->record(3, now, bad, token));
  });
}

BENCHMARK(BM_GuardExchange)->Arg(0)->Arg(1);

}  // namespace
}  // namespace ringway::breaker

BENCHMARK_MAIN();
