// libFuzzer target: backend path templates (route/templates.cc), compiled from a configuration
// and rendered for a matched request.
//
// Input: a flags byte (bit 0: prefix match; bit 1: X-Stage TEST; bit 2: the API has a domain),
// then newline-separated fields: the API's request pattern, the backend req_uri template, an
// environment variable's name and value, the request path, the query. The configuration is
// loaded as a file would be (so only templates the loader accepts are built); a matched path
// is rendered three times: into a large buffer, into exactly the bytes it took (must fit, same
// bytes) and into one byte less (must report that it does not fit).
#include <memory>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "numeric_dns.h"
#include "ringway/buffer.h"
#include "ringway/config.h"
#include "ringway/route.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  if (size < 1) {
    return 0;
  }
  const uint8_t flags = data[0];
  const std::vector<std::string_view> f =
      fuzz::fields(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), '\n', 6);
  if (f.size() < 6) {
    return 0;
  }
  const std::string json =
      R"({"version": 1, "instance": {"id": "fuzz"},
  "listeners": [{"name": "l", "address": "127.0.0.1:0"}],
  "environments": [{"name": "RELEASE", "variables": {)" +
      fuzz::json_string(f[2]) + ": " + fuzz::json_string(f[3]) +
      R"(}}, {"name": "TEST", "variables": {)" + fuzz::json_string(f[2]) + R"(: "t"}}],
  "apis": [{"name": "a", "req_method": "ANY", "req_uri": )" +
      fuzz::json_string(f[0]) + R"(, "match_mode": )" +
      ((flags & 1) != 0 ? R"("prefix")" : R"("exact")") +
      ((flags & 4) != 0 ? R"(, "domain": "api.example.com")" : "") +
      R"(, "environments": ["RELEASE", "TEST"],
    "backend": {"url": "127.0.0.1:9", "req_uri": )" +
      fuzz::json_string(f[1]) + "}}]}";
  config::LoadResult r = config::load_config(json);
  if (!r.ok()) {
    return 0;
  }
  std::vector<config::Error> errors;
  const std::unique_ptr<route::RouteTable> table = route::RouteTable::build(*r.config, &errors);
  FUZZ_CHECK((table != nullptr) == errors.empty());
  if (table == nullptr) {
    return 0;
  }
  // The request path as the parser hands it over: its own buffer.
  const std::vector<char> path(f[4].begin(), f[4].end());
  const std::string_view path_view(path.data(), path.size());
  const route::MatchResult m = table->match(route::MethodKey::kGet, "api.example.com", path_view,
                                            (flags & 2) != 0 ? "TEST" : "");
  if (m.status != route::MatchResult::Status::kOk) {
    return 0;
  }
  FUZZ_CHECK(m.api != nullptr && m.param_count <= route::kMaxParams);
  FUZZ_CHECK(m.param_count == m.api->param_names.size());
  for (uint32_t i = 0; i < m.param_count; ++i) {
    FUZZ_CHECK(fuzz::inside(m.params[i], path.data(), path.size()));
  }
  FUZZ_CHECK(fuzz::inside(m.rest, path.data(), path.size()));
  const std::string_view query = f[5];
  std::vector<char> big(8192);
  Writer w(big.data(), big.size());
  if (!table->render_path(m, query, w)) {
    FUZZ_CHECK(!w.ok());
    return 0;
  }
  FUZZ_CHECK(w.ok() && w.size() > 0);
  const std::string_view rendered = w.view();
  if (!query.empty()) {
    FUZZ_CHECK(rendered.size() > query.size() &&
               rendered.substr(rendered.size() - query.size() - 1) == "?" + std::string(query));
  }
  std::vector<char> exact(rendered.size());
  Writer we(exact.data(), exact.size());
  FUZZ_CHECK(table->render_path(m, query, we) && we.view() == rendered);
  std::vector<char> short_by_one(rendered.size() - 1);
  Writer ws(short_by_one.data(), short_by_one.size());
  FUZZ_CHECK(!table->render_path(m, query, ws));
  return 0;
}
