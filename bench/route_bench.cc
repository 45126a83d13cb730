// Micro-benchmarks of the routing table: match() with 10 and 10,000 APIs (literal hits,
// parameter hits after backtracking, prefix hits, misses) and render_path().
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "ringway/route.h"

namespace ringway::route {
namespace {

// `n` APIs shaped like a real catalogue: per service (n / 3 of them) an exact GET route
// with a parameter, a POST route whose parameter shadows "items", and a static prefix.
std::unique_ptr<RouteTable> make_table(int n) {
  config::Config cfg;
  cfg.environments = {{"RELEASE", {{"version", "v1"}}}};
  for (int i = 0; i < n; ++i) {
    const std::string svc = "/svc" + std::to_string(i / 3);
    config::Api api;
    api.name = "api" + std::to_string(i);
    api.environments = {"RELEASE"};
    api.backend.http.channel = "c";
    switch (i % 3) {
      case 0:
        api.req_method = config::Method::kGet;
        api.req_uri = svc + "/items/{id}";
        api.backend.http.req_uri = "/#version#/items/{id}";
        break;
      case 1:
        api.req_method = config::Method::kPost;
        api.req_uri = svc + "/{tenant}/orders";
        break;
      default:
        api.req_uri = svc + "/static";
        api.match_mode = config::MatchMode::kPrefix;
        api.backend.http.req_uri = "/assets";
    }
    cfg.apis.push_back(std::move(api));
  }
  std::vector<config::Error> errors;
  return RouteTable::build(cfg, &errors);
}

void run_match(benchmark::State& state, MethodKey method, std::string_view path) {
  const auto table = make_table(static_cast<int>(state.range(0)));
  bench::Loop(state, [&] {
    MatchResult m = table->match(method, "api.example.com:8080", path, "");
    benchmark::DoNotOptimize(m);
  });
}

void BM_MatchParam(benchmark::State& state) {
  run_match(state, MethodKey::kGet, "/svc2/items/12345");
}
void BM_MatchBacktrack(benchmark::State& state) {
  run_match(state, MethodKey::kPost, "/svc2/items/orders");
}
void BM_MatchPrefix(benchmark::State& state) {
  run_match(state, MethodKey::kGet, "/svc2/static/css/site.css");
}
void BM_MatchMiss(benchmark::State& state) {
  run_match(state, MethodKey::kGet, "/nowhere/items/1");
}

void BM_RenderPath(benchmark::State& state) {
  const auto table = make_table(10000);
  const MatchResult m = table->match(MethodKey::kGet, "", "/svc3333/items/12345", "");
  char buf[256];
  bench::Loop(state, [&] {
    Writer w(buf, sizeof(buf));
    benchmark::DoNotOptimize(table->render_path(m, "page=2&size=50", w));
    benchmark::DoNotOptimize(buf);
  });
}

BENCHMARK(BM_MatchParam)->Arg(10)->Arg(10000);
BENCHMARK(BM_MatchBacktrack)->Arg(10)->Arg(10000);
BENCHMARK(BM_MatchPrefix)->Arg(10)->Arg(10000);
BENCHMARK(BM_MatchMiss)->Arg(10)->Arg(10000);
BENCHMARK(BM_RenderPath);

}  // namespace
}  // namespace ringway::route

BENCHMARK_MAIN();
