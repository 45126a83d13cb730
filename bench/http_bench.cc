// Micro-benchmarks for src/http: parsing a typical ~300-byte API request and writing
// the upstream head for it.
#include <benchmark/benchmark.h>

#include <string>

#include "alloc_counter.h"
#include "ringway/http.h"

namespace {

using ringway::Writer;
using namespace ringway::http;

const std::string kRequest =
    "GET /v1/orders/12345/items?limit=20&offset=40 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: okhttp/4.12.0\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl\r\n"
    "X-Stage: RELEASE\r\n"
    "X-Forwarded-For: 203.0.113.7\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

void BM_ParseRequest(benchmark::State& state) {
  RequestParser parser(ParserLimits{}, BodySink{});
  ringway::bench::Loop(state, [&] {
    parser.reset();
    FeedResult r = parser.feed(kRequest.data(), kRequest.size());
    r = parser.feed(kRequest.data() + r.consumed, kRequest.size() - r.consumed);
    benchmark::DoNotOptimize(r);
  });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
}
BENCHMARK(BM_ParseRequest);

void BM_WriteUpstreamHead(benchmark::State& state) {
  RequestParser parser(ParserLimits{}, BodySink{});
  parser.feed(kRequest.data(), kRequest.size());
  const UpstreamRequest up{.method = "GET",
                           .path_and_query = "/orders/12345/items?limit=20&offset=40",
                           .host = "orders.internal:8080",
                           .client_ip = "198.51.100.20",
                           .proto = "https",
                           .forwarded_host = "api.example.com",
                           .request_id = "5f2b9c1e-8d4a-4b7e-9a3c-1d2e3f4a5b6c"};
  char buf[2048];
  ringway::bench::Loop(state, [&] {
    Writer w(buf, sizeof(buf));
    write_upstream_head(parser.head(), up, w);
    benchmark::DoNotOptimize(w.size());
  });
}
BENCHMARK(BM_WriteUpstreamHead);

}  // namespace

BENCHMARK_MAIN();
