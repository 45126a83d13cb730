// Unit tests of the routing table (ringway/route.h): matching precedence, prefixes,
// hosts, methods, stages, backend templates, mock heads and url resolution.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ringway/route.h"

namespace ringway::route {
namespace {

using config::MatchMode;
using config::Method;
using Status = MatchResult::Status;

config::Api make_api(std::string name, Method method, std::string uri,
                     MatchMode mode = MatchMode::kExact, std::string backend_uri = "") {
  config::Api api;
  api.name = std::move(name);
  api.req_method = method;
  api.req_uri = std::move(uri);
  api.match_mode = mode;
  api.environments = {"RELEASE"};
  api.backend.http.channel = "orders";  // no resolution at build
  api.backend.http.req_uri = std::move(backend_uri);
  return api;
}

config::Api prefix_api(std::string name, std::string uri, std::string backend_uri = "/back") {
  return make_api(std::move(name), Method::kAny, std::move(uri), MatchMode::kPrefix,
                  std::move(backend_uri));
}

config::Config make_config(std::vector<config::Api> apis) {
  config::Config cfg;
  cfg.environments = {{"RELEASE", {{"version", "v1"}}}, {"TEST", {{"version", "v2"}}}};
  cfg.apis = std::move(apis);
  return cfg;
}

std::unique_ptr<RouteTable> build_ok(const config::Config& cfg) {
  std::vector<config::Error> errors;
  auto table = RouteTable::build(cfg, &errors);
  for (const config::Error& e : errors) {
    ADD_FAILURE() << e.str();
  }
  return table;
}

std::vector<std::string> build_errors(const config::Config& cfg) {
  std::vector<config::Error> errors;
  EXPECT_EQ(RouteTable::build(cfg, &errors), nullptr);
  std::vector<std::string> out;
  for (const config::Error& e : errors) {
    out.push_back(e.str());
  }
  return out;
}

// Name of the matched API, or "-" / "no-env".
std::string name_of(const MatchResult& m) {
  if (m.status == Status::kNoEnvironment) {
    return "no-env";
  }
  return m.status == Status::kOk ? m.api->name : "-";
}

MatchResult get(const RouteTable& t, std::string_view path, std::string_view host = "",
                std::string_view stage = "") {
  return t.match(MethodKey::kGet, host, path, stage);
}

// Expects each path (GET, any host, RELEASE) to match the named API ("-": none).
void expect_names(const RouteTable& t,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> cases) {
  for (const auto& [path, name] : cases) {
    EXPECT_EQ(name_of(get(t, path)), name) << path;
  }
}

std::string render(const RouteTable& t, const MatchResult& m, std::string_view query = "") {
  char buf[512];
  Writer w(buf, sizeof(buf));
  if (!t.render_path(m, query, w)) {
    return "<render failed>";
  }
  return std::string(w.view());
}

TEST(RouteMatch, LiteralBeforeParamBeforeGreedy) {
  auto t = build_ok(make_config({make_api("greedy", Method::kGet, "/a/{p+}"),
                                 make_api("param", Method::kGet, "/a/{x}"),
                                 make_api("lit", Method::kGet, "/a/b")}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(name_of(get(*t, "/a/b")), "lit");
  MatchResult m = get(*t, "/a/c");
  EXPECT_EQ(name_of(m), "param");
  ASSERT_EQ(m.param_count, 1u);
  EXPECT_EQ(m.params[0], "c");
  m = get(*t, "/a/c/d/");
  EXPECT_EQ(name_of(m), "greedy");
  ASSERT_EQ(m.param_count, 1u);
  EXPECT_EQ(m.params[0], "c/d/");
  // {x} and {p+} need a non-empty value; a path must start with '/'.
  expect_names(*t, {{"/a/", "-"}, {"/a", "-"}, {"a/b", "-"}, {"", "-"}});
}

TEST(RouteMatch, Backtracks) {
  auto t = build_ok(make_config({make_api("param", Method::kGet, "/a/{x}/c"),
                                 make_api("lit", Method::kGet, "/a/b/d"),
                                 make_api("deep", Method::kGet, "/{s}/{t}/{u}/e")}));
  ASSERT_NE(t, nullptr);
  MatchResult m = get(*t, "/a/b/c");
  EXPECT_EQ(name_of(m), "param");
  EXPECT_EQ(m.params[0], "b");
  EXPECT_EQ(name_of(get(*t, "/a/b/d")), "lit");
  m = get(*t, "/a/b/d/e");
  EXPECT_EQ(name_of(m), "deep");
  ASSERT_EQ(m.param_count, 3u);
  EXPECT_EQ(m.params[2], "d");
  EXPECT_EQ(name_of(get(*t, "/a/b/e")), "-");
}

TEST(RouteMatch, TrailingSlashIsALiteralSegment) {
  auto t = build_ok(
      make_config({make_api("a", Method::kGet, "/a"), make_api("a-slash", Method::kGet, "/x/"),
                   make_api("root", Method::kGet, "/")}));
  ASSERT_NE(t, nullptr);
  expect_names(
      *t, {{"/a", "a"}, {"/a/", "-"}, {"/x/", "a-slash"}, {"/x", "-"}, {"/", "root"}, {"//", "-"}});
}

TEST(RouteMatch, PrefixBySegment) {
  auto t = build_ok(make_config({prefix_api("pre", "/pre")}));
  ASSERT_NE(t, nullptr);
  MatchResult m = get(*t, "/pre");
  EXPECT_EQ(name_of(m), "pre");
  EXPECT_EQ(m.rest, "");
  m = get(*t, "/pre/x/y");
  EXPECT_EQ(name_of(m), "pre");
  EXPECT_EQ(m.rest, "/x/y");
  EXPECT_EQ(get(*t, "/pre/").rest, "/");
  EXPECT_EQ(name_of(get(*t, "/prefoo")), "-");
  EXPECT_EQ(name_of(get(*t, "/pr")), "-");
}

TEST(RouteMatch, PrefixEndingInSlash) {
  auto t = build_ok(make_config({prefix_api("dir", "/a/", "/back"), prefix_api("root", "/")}));
  ASSERT_NE(t, nullptr);
  MatchResult m = get(*t, "/a/x");
  EXPECT_EQ(name_of(m), "dir");
  EXPECT_EQ(m.rest, "x");
  EXPECT_EQ(render(*t, m), "/back/x");
  EXPECT_EQ(get(*t, "/a/").rest, "");
  m = get(*t, "/a");
  EXPECT_EQ(name_of(m), "root");
  EXPECT_EQ(m.rest, "a");
  EXPECT_EQ(render(*t, m), "/back/a");
  EXPECT_EQ(name_of(get(*t, "/")), "root");
  EXPECT_EQ(get(*t, "/").rest, "");
}

TEST(RouteMatch, LongestPrefixWins) {
  auto t = build_ok(make_config({prefix_api("short", "/a"), prefix_api("long", "/a/b/c"),
                                 prefix_api("param", "/a/{x}"), prefix_api("lit", "/a/b")}));
  ASSERT_NE(t, nullptr);
  MatchResult m = get(*t, "/a/b/c/d");
  EXPECT_EQ(name_of(m), "long");
  EXPECT_EQ(m.rest, "/d");
  m = get(*t, "/a/b/z");
  EXPECT_EQ(name_of(m), "lit");  // equal length: literal before parameter
  EXPECT_EQ(m.rest, "/z");
  m = get(*t, "/a/q/z");
  EXPECT_EQ(name_of(m), "param");
  EXPECT_EQ(m.params[0], "q");
  EXPECT_EQ(m.rest, "/z");
  EXPECT_EQ(name_of(get(*t, "/a")), "short");
  EXPECT_EQ(get(*t, "/a/").rest, "/");
}

TEST(RouteMatch, ExactBeatsPrefix) {
  auto t = build_ok(
      make_config({prefix_api("prefix", "/a/b"), make_api("exact", Method::kGet, "/a/{x}/c"),
                   make_api("same", Method::kGet, "/a/b"),
                   make_api("greedy", Method::kGet, "/g/{p+}"), prefix_api("g-prefix", "/g")}));
  ASSERT_NE(t, nullptr);
  expect_names(*t, {{"/a/b/c", "exact"},
                    {"/a/b", "same"},
                    {"/a/b/d", "prefix"},
                    {"/g/x", "greedy"},
                    {"/g", "g-prefix"}});
}

TEST(RouteMatch, DomainWithPortAndCase) {
  config::Api with_domain = make_api("domain", Method::kGet, "/x");
  with_domain.domain = "Api.Example.com";
  config::Api catch_all = prefix_api("domain-root", "/");
  catch_all.domain = "catch.example.com";
  auto t = build_ok(make_config({make_api("any-host", Method::kGet, "/x"), with_domain,
                                 make_api("only-any", Method::kGet, "/y"), catch_all}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(name_of(get(*t, "/x", "api.example.COM:8080")), "domain");
  EXPECT_EQ(name_of(get(*t, "/x", "API.EXAMPLE.COM.")), "domain");
  EXPECT_EQ(name_of(get(*t, "/x", "other.example.com")), "any-host");
  EXPECT_EQ(name_of(get(*t, "/x", "")), "any-host");
  EXPECT_EQ(name_of(get(*t, "/x", "[::1]:80")), "any-host");
  EXPECT_EQ(name_of(get(*t, "/y", "api.example.com")), "only-any");  // falls back
  EXPECT_EQ(name_of(get(*t, "/x", "catch.example.com")), "domain-root");
}

TEST(RouteMatch, Methods) {
  auto t = build_ok(make_config(
      {make_api("get", Method::kGet, "/m"), make_api("any", Method::kAny, "/m"),
       make_api("get-only", Method::kGet, "/g"), make_api("lit-get", Method::kGet, "/a/b"),
       make_api("param-post", Method::kPost, "/a/{x}")}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(name_of(t->match(MethodKey::kGet, "", "/m", "")), "get");
  EXPECT_EQ(name_of(t->match(MethodKey::kPost, "", "/m", "")), "any");
  EXPECT_EQ(name_of(t->match(MethodKey::kOther, "", "/m", "")), "any");
  EXPECT_EQ(t->match(MethodKey::kPost, "", "/g", "").status, Status::kNoApi);
  EXPECT_EQ(name_of(t->match(MethodKey::kPost, "", "/a/b", "")), "param-post");
  EXPECT_EQ(method_key("GET"), MethodKey::kGet);
  EXPECT_EQ(method_key("OPTIONS"), MethodKey::kOptions);
  EXPECT_EQ(method_key("get"), MethodKey::kOther);
  EXPECT_EQ(method_key("PROPFIND"), MethodKey::kOther);
}

TEST(RouteMatch, Stages) {
  config::Api test_only = make_api("test-only", Method::kGet, "/t");
  test_only.environments = {"TEST"};
  config::Api both = make_api("both", Method::kGet, "/b");
  both.environments = {"TEST", "RELEASE"};
  auto t = build_ok(make_config({test_only, both}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->environments(), (std::vector<std::string>{"RELEASE", "TEST"}));
  EXPECT_EQ(name_of(get(*t, "/t")), "-");
  EXPECT_EQ(name_of(get(*t, "/t", "", "RELEASE")), "-");
  MatchResult m = get(*t, "/t", "", "TEST");
  EXPECT_EQ(name_of(m), "test-only");
  EXPECT_EQ(m.environment, 1u);
  EXPECT_EQ(get(*t, "/b").environment, 0u);
  EXPECT_EQ(name_of(get(*t, "/b", "", "NOPE")), "no-env");
  EXPECT_EQ(name_of(get(*t, "/b", "", "test")), "no-env");
  EXPECT_FALSE(t->apis()[0].published[0]);
  EXPECT_TRUE(t->apis()[0].published[1]);
}

TEST(RouteRender, ParamsVariablesAndQuery) {
  config::Api api = make_api("orders", Method::kGet, "/orders/{id}/{item}", MatchMode::kExact,
                             "/#version#/o/{item}/{id}");
  api.environments = {"RELEASE", "TEST"};
  auto t = build_ok(make_config({api}));
  ASSERT_NE(t, nullptr);
  MatchResult m = get(*t, "/orders/4%202/x");
  EXPECT_EQ(render(*t, m), "/v1/o/x/4%202");
  EXPECT_EQ(render(*t, m, "a=1&b"), "/v1/o/x/4%202?a=1&b");
  EXPECT_EQ(render(*t, get(*t, "/orders/7/y", "", "TEST")), "/v2/o/y/7");
}

TEST(RouteRender, GreedyRestAndRequestPath) {
  auto t = build_ok(
      make_config({make_api("files", Method::kGet, "/files/{p+}", MatchMode::kExact, "/store/{p}"),
                   prefix_api("pre", "/pre", "/back"), prefix_api("pre-slash", "/slash", "/back/"),
                   prefix_api("pre-param", "/u/{id}", "/users/{id}"),
                   make_api("as-is", Method::kGet, "/same/{x}")}));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(render(*t, get(*t, "/files/a/b%2Fc")), "/store/a/b%2Fc");
  EXPECT_EQ(render(*t, get(*t, "/pre")), "/back");
  EXPECT_EQ(render(*t, get(*t, "/pre/x/y"), "q=1"), "/back/x/y?q=1");
  EXPECT_EQ(render(*t, get(*t, "/slash/x")), "/back/x");
  EXPECT_EQ(render(*t, get(*t, "/slash")), "/back/");
  EXPECT_EQ(render(*t, get(*t, "/u/9/posts")), "/users/9/posts");
  EXPECT_EQ(render(*t, get(*t, "/same/%7E"), "z"), "/same/%7E?z");
}

TEST(RouteRender, Overflow) {
  auto t = build_ok(make_config({prefix_api("pre", "/pre", "/backend")}));
  ASSERT_NE(t, nullptr);
  MatchResult m = get(*t, "/pre/abc");
  for (size_t cap : {0u, 5u, 11u, 13u}) {
    char buf[16];
    Writer w(buf, cap);
    EXPECT_FALSE(t->render_path(m, "q=1", w)) << cap;
  }
  char buf[16];
  Writer w(buf, 16);
  EXPECT_TRUE(t->render_path(m, "q=1", w));
  EXPECT_EQ(w.view(), "/backend/abc?q=1");
  MatchResult none = get(*t, "/nope");
  Writer w2(buf, 16);
  EXPECT_FALSE(t->render_path(none, "", w2));
}

TEST(RouteBackend, MockHead) {
  config::Api api = make_api("ping", Method::kAny, "/ping");
  api.backend.type = config::BackendType::kMock;
  api.backend.mock.status = 201;
  api.backend.mock.headers = {{"content-type", "application/json"},
                              {"Content-Length", "99"},
                              {"Transfer-Encoding", "chunked"},
                              {"connection", "close"},
                              {"x-b", "2"}};
  api.backend.mock.body = "{\"pong\":true}";
  config::Api odd = api;
  odd.req_uri = "/odd";
  odd.backend.mock = {299, {}, ""};
  auto t = build_ok(make_config({api, odd}));
  ASSERT_NE(t, nullptr);
  const CompiledBackend& b = get(*t, "/ping").api->backend;
  EXPECT_EQ(b.type, config::BackendType::kMock);
  EXPECT_EQ(b.mock_head,
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nx-b: 2\r\n"
            "content-length: 13\r\n");
  EXPECT_EQ(b.mock_body, "{\"pong\":true}");
  EXPECT_EQ(b.mock_status, 201);
  EXPECT_EQ(get(*t, "/odd").api->backend.mock_head, "HTTP/1.1 299 \r\ncontent-length: 0\r\n");
}

config::Api url_api(std::string host, uint16_t port, bool v6) {
  config::Api api = make_api("u", Method::kGet, "/u");
  api.backend.http.channel.clear();
  api.backend.http.url.host = std::move(host);
  api.backend.http.url.port = port;
  api.backend.http.url.v6 = v6;
  return api;
}

// Builds a table of one API and returns its compiled backend (empty if the build failed).
CompiledBackend backend_of(const config::Api& api) {
  auto t = build_ok(make_config({api}));
  return t != nullptr ? t->apis()[0].backend : CompiledBackend{};
}

TEST(RouteBackend, ResolvesIpv4Url) {
  config::Api api = url_api("127.0.0.1", 9000, false);
  api.backend.http.req_method = Method::kPost;
  api.backend.http.timeout_ms = 700;
  api.backend.http.retry_count = 2;
  const CompiledBackend b = backend_of(api);
  ASSERT_EQ(b.addr.ss_family, AF_INET);
  ASSERT_EQ(b.addr_len, sizeof(sockaddr_in));
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&b.addr);
  EXPECT_EQ(ntohs(sin->sin_port), 9000);
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(b.authority, "127.0.0.1:9000");
  EXPECT_EQ(b.host_header, "127.0.0.1:9000");
  EXPECT_EQ(b.method, "POST");
  EXPECT_EQ(b.timeout_ms, 700u);
  EXPECT_EQ(b.retry_count, 2);
}

TEST(RouteBackend, ResolvesIpv6UrlAndKeepsHostHeader) {
  config::Api api = url_api("::1", 80, true);
  api.backend.http.host_header = "orders.internal";
  const CompiledBackend b = backend_of(api);
  ASSERT_EQ(b.addr.ss_family, AF_INET6);
  EXPECT_EQ(b.addr_len, sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&b.addr);
  EXPECT_EQ(ntohs(sin6->sin6_port), 80);
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
  EXPECT_EQ(b.authority, "[::1]");
  EXPECT_EQ(b.host_header, "orders.internal");
  EXPECT_EQ(b.method, "");
}

TEST(RouteBackend, ChannelHasNoAddressYet) {
  const CompiledBackend b = backend_of(make_api("c", Method::kGet, "/c"));
  EXPECT_EQ(b.type, config::BackendType::kHttp);
  EXPECT_EQ(b.addr_len, 0u);
}

TEST(RouteBuild, Errors) {
  config::Api bad_host = url_api("no-such-host.invalid", 80, false);
  const auto resolve = build_errors(make_config({bad_host}));
  ASSERT_EQ(resolve.size(), 1u);
  EXPECT_EQ(resolve[0].rfind("apis[0].backend.url: cannot resolve \"no-such-host.invalid\"", 0), 0u)
      << resolve[0];

  config::Api unknown_env = make_api("e", Method::kGet, "/e");
  unknown_env.environments = {"RELEASE", "PROD"};
  config::Api no_var = make_api("v", Method::kGet, "/v", MatchMode::kExact, "/#missing#");
  config::Api no_param = make_api("p", Method::kGet, "/p/{id}", MatchMode::kExact, "/{ID}");
  config::Api greedy_mid = make_api("g", Method::kGet, "/g/{p+}/x");
  config::Api dup_a = make_api("d1", Method::kGet, "/d/{x}");
  config::Api dup_b = make_api("d2", Method::kGet, "/d/{y}");
  EXPECT_EQ(build_errors(make_config({unknown_env, no_var, no_param, greedy_mid, dup_a, dup_b})),
            (std::vector<std::string>{
                "apis[0].environments[1]: unknown environment \"PROD\"",
                "apis[1].backend.req_uri: variable \"#missing#\" is not defined in "
                "environment \"RELEASE\"",
                "apis[2].backend.req_uri: unknown path parameter \"{ID}\"",
                "apis[3].req_uri: \"{name+}\" must be the last segment",
                "apis[5].req_uri: same method, domain and pattern as apis[4] in environment "
                "\"RELEASE\"",
            }));
}

TEST(RouteMatch, TenThousandApis) {
  std::vector<config::Api> apis;
  constexpr int kApis = 10000;
  for (int i = 0; i < kApis; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 4) {
      case 0:
        apis.push_back(make_api("a" + n, Method::kGet, "/svc" + n + "/items/{id}",
                                MatchMode::kExact, "/" + n + "/{id}"));
        break;
      case 1:
        apis.push_back(prefix_api("a" + n, "/svc" + n + "/static", "/s" + n));
        break;
      case 2:
        apis.push_back(make_api("a" + n, Method::kPost, "/svc" + n + "/{a}/{b}/x"));
        break;
      default:
        apis.push_back(make_api("a" + n, Method::kAny, "/v1/shared/" + n));
        apis.back().domain = "host" + std::to_string(i % 7) + ".example";
    }
  }
  auto t = build_ok(make_config(apis));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->apis().size(), static_cast<size_t>(kApis));
  EXPECT_EQ(render(*t, get(*t, "/svc4000/items/77")), "/4000/77");
  EXPECT_EQ(render(*t, get(*t, "/svc9997/static/css/x.css")), "/s9997/css/x.css");
  EXPECT_EQ(name_of(t->match(MethodKey::kPost, "", "/svc9998/p/q/x", "")), "a9998");
  EXPECT_EQ(name_of(t->match(MethodKey::kGet, "", "/svc9998/p/q/x", "")), "-");
  EXPECT_EQ(name_of(get(*t, "/v1/shared/9999", "HOST3.example:443")), "a9999");
  EXPECT_EQ(name_of(get(*t, "/v1/shared/9999", "host4.example")), "-");
  EXPECT_EQ(name_of(get(*t, "/svc4000/items")), "-");
  EXPECT_EQ(name_of(get(*t, "/svc10000/items/1")), "-");
}

}  // namespace
}  // namespace ringway::route
