// Micro-benchmark of App authentication on the request path: verify() of a ~300-byte signed
// GET (path, query, four signed headers), as the gateway runs it once per request after the
// Authorization header was parsed and the app secret found. Allocations in the timed loop
// must stay 0 (allocs_per_iter, bench/alloc_counter.h).
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alloc_counter.h"
#include "ringway/auth.h"

namespace ringway::auth {
namespace {

constexpr int64_t kNow = 1704164645;

struct Headers {
  std::vector<std::pair<std::string, std::string>> list;
  static std::string_view Lookup(const void* ctx, std::string_view lower_name) {
    for (const auto& [name, value] : static_cast<const Headers*>(ctx)->list) {
      if (name == lower_name) {
        return value;
      }
    }
    return {};
  }
};

void BM_VerifyGet300(benchmark::State& state) {
  const std::string path = "/v1/0a1b2c/orders/2024";
  const std::string query = "limit=50&status=open&tag=a%20b";
  SignInput in{"GET",
               "http://api.example.com" + path + "?" + query,
               {{"X-Project-Id", "0a1b2c"}, {"Accept", "application/json"}},
               "",
               "key1",
               "app-secret-0123456789abcdef",
               kNow};
  Headers h;
  h.list = {
      {"host", "api.example.com"}, {"x-project-id", "0a1b2c"}, {"accept", "application/json"}};
  for (const auto& [name, value] : sign(in)) {
    h.list.emplace_back(name == "Authorization" ? "authorization" : "x-sdk-date", value);
  }
  const std::string auth(Headers::Lookup(&h, "authorization"));
  size_t bytes = 4 + path.size() + 1 + query.size() + 11;  // request line
  for (const auto& [name, value] : h.list) {
    bytes += name.size() + 2 + value.size() + 2;
  }
  Authorization a;
  if (!parse_authorization(auth, &a)) {
    state.SkipWithError("parse_authorization failed");
    return;
  }
  const RequestView r{"GET", path, query, &h, &Headers::Lookup};
  char scratch[2048];
  bench::Loop(state, [&] {
    const AuthError e =
        verify(r, a, in.app_secret, kEmptyBodySha256, kNow, scratch, sizeof(scratch));
    benchmark::DoNotOptimize(e);
    if (e != AuthError::kNone) {
      state.SkipWithError("verify failed");
    }
  });
  state.counters["request_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_VerifyGet300);

}  // namespace
}  // namespace ringway::auth

BENCHMARK_MAIN();
