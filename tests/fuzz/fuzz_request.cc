// libFuzzer target: client request heads and the checks the gateway makes on them.
//
// Input: split byte (fuzz_common.h), limits byte (bit 0: small limits, so 413/414/431 are
// reachable), then the bytes a client sends. Each complete head goes through what
// ClientSide::client_head_done does with it: the route match (method key, Host, path,
// X-Stage) on a fixed table, the backend path render, the App-auth and cascade header
// parsers, and the upstream head writer. The outcome split as the split byte says must agree
// with the outcome of the same bytes received at once (request_driver.h, same_outcome).
#include <array>
#include <memory>

#include "request_driver.h"
#include "ringway/auth.h"
#include "ringway/cascade.h"
#include "ringway/config.h"
#include "ringway/route.h"

namespace ringway::fuzz {
namespace {

// Mock and IP-literal backends only: building it resolves nothing.
constexpr std::string_view kConfig = R"({
  "version": 1, "instance": {"id": "fuzz"},
  "listeners": [{"name": "l", "address": "127.0.0.1:0"}],
  "environments": [{"name": "RELEASE", "variables": {"version": "v1"}},
                   {"name": "TEST", "variables": {"version": "v2"}}],
  "apis": [
    {"name": "a", "req_method": "GET", "req_uri": "/users/{id}", "environments": ["RELEASE", "TEST"],
     "backend": {"url": "127.0.0.1:9", "req_uri": "/#version#/u/{id}/x"}},
    {"name": "b", "req_method": "ANY", "req_uri": "/pre", "match_mode": "prefix",
     "backend": {"url": "127.0.0.1:9", "req_uri": "/back/"}},
    {"name": "c", "req_method": "POST", "req_uri": "/files/{path+}", "domain": "api.example.com",
     "backend": {"url": "[::1]:9", "req_uri": "/store/{path}"}},
    {"name": "d", "req_method": "PUT", "req_uri": "/raw", "backend": {"url": "127.0.0.1:9", "req_uri": "/"}},
    {"name": "e", "req_method": "ANY", "req_uri": "/ping", "auth_type": "app",
     "backend": {"type": "mock", "mock": {"status": 200, "body": "pong"}}}
  ]
})";

const route::RouteTable& table() {
  static const std::unique_ptr<route::RouteTable> t = [] {
    config::LoadResult r = config::load_config(kConfig);
    for (const config::Error& e : r.errors) {
      std::fprintf(stderr, "fuzz_request: built-in configuration: %s\n", e.str().c_str());
    }
    FUZZ_CHECK(r.ok());
    std::vector<config::Error> errors;
    std::unique_ptr<route::RouteTable> built = route::RouteTable::build(*r.config, &errors);
    FUZZ_CHECK(built != nullptr && errors.empty());
    return built;
  }();
  return *t;
}

std::string_view head_header(const void* ctx, std::string_view lower_name) {
  return static_cast<const http::RequestHead*>(ctx)->get(lower_name);
}

void gateway_checks(const http::RequestHead& h) {
  const route::MatchResult m =
      table().match(route::method_key(h.method_name), h.host, h.path, h.get("x-stage"));
  if (m.status == route::MatchResult::Status::kOk) {
    FUZZ_CHECK(m.api != nullptr && m.param_count <= route::kMaxParams);
    for (uint32_t i = 0; i < m.param_count; ++i) {
      FUZZ_CHECK(inside(m.params[i], h.path.data(), h.path.size()));
    }
    FUZZ_CHECK(inside(m.rest, h.path.data(), h.path.size()));
    std::array<char, 512> buf;
    Writer path(buf.data(), buf.size());
    if (table().render_path(m, h.query, path)) {
      FUZZ_CHECK(path.ok() && path.size() <= buf.size());
    }
  }
  // App authentication: the Authorization parser and, on a parse, the canonical request.
  auth::Authorization a;
  if (auth::parse_authorization(h.get("authorization"), &a)) {
    FUZZ_CHECK(!a.access.empty() && !a.signed_headers.empty() && !a.signature.empty());
    const auth::RequestView r{h.method_name, h.path, h.query, &h, &head_header};
    std::array<char, 4096> scratch;
    (void)auth::verify(r, a, "secret", auth::kEmptyBodySha256, 1700000000, scratch.data(),
                       scratch.size());
  }
  // The cascade channel's headers.
  const cascade::Fields f{h.get("x-ringway-cascade-instance"), h.get("x-ringway-cascade-time"),
                          h.get("x-ringway-cascade-nonce"), h.get("x-ringway-cascade-hop"),
                          h.get("x-ringway-cascade-signature")};
  if (cascade::any_present(f)) {
    const std::string_view keys[] = {"k1", "k2"};
    const std::string_view allowed[] = {"edge-1"};
    uint32_t hop = 0;
    int64_t time = 0;
    (void)cascade::verify(f, keys, 2, allowed, 1, 1700000000, h.method_name, h.target, h.host, &hop,
                          &time);
  }
  // The head sent upstream.
  http::UpstreamRequest req;
  req.method = h.method_name;
  req.path_and_query = h.target;
  req.host = "backend:8080";
  req.client_ip = "192.0.2.1";
  req.proto = "http";
  req.forwarded_host = h.host;
  req.request_id = "0123456789abcdef";
  req.content_length = h.chunked ? -1 : h.content_length;
  req.chunked = h.chunked;
  req.upgrade = h.upgrade;
  std::array<char, 16384> out;
  Writer w(out.data(), out.size());
  http::write_upstream_head(h, req, w);
  if (w.ok()) {
    const std::string_view sent(out.data(), w.size());
    FUZZ_CHECK(sent.size() >= 4 && sent.substr(sent.size() - 4) == "\r\n\r\n");
  }
  for (uint32_t i = 0; i < h.header_count; ++i) {
    (void)http::is_hop_by_hop(h.headers[i].name);
    (void)http::named_by_connection(h.headers[i].name, h.headers, h.header_count);
  }
  if (!h.upgrade.empty()) {
    FUZZ_CHECK(http::upgrade_passes(h.upgrade) && !h.has_body());
  }
}

}  // namespace
}  // namespace ringway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  if (size < 2) {
    return 0;
  }
  const uint8_t split_byte = data[0];
  http::ParserLimits limits;
  if ((data[1] & 1) != 0) {
    limits.max_header_bytes = 200;
    limits.max_headers = 6;
    limits.max_body_bytes = 64;
  }
  // A heap copy of exactly the message bytes, so ASan sees any read past them.
  const std::vector<char> msg(data + 2, data + size);
  auto split = fuzz::drive_request(msg.data(), msg.size(), split_byte, limits,
                                   [](const http::RequestHead& h) { fuzz::gateway_checks(h); });
  auto whole =
      fuzz::drive_request(msg.data(), msg.size(), 0, limits, [](const http::RequestHead&) {});
  fuzz::check_same(split, whole);
  return 0;
}
