// Unit tests of the configuration loader (CONFIG.md, schema 1): the documented example,
// defaults, and the exact "<path>: <message>" of every kind of error.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <simdjson.h>

#include "config/loader.h"
#include "ringway/config.h"
#include "ringway/config_source.h"

namespace ringway::config {
namespace {

using Errors = std::vector<std::string>;

// The example of CONFIG.md, verbatim.
// The smallest valid circuit-breaker content.
constexpr std::string_view kBreakerContent =
    R"({"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter",
        "unhealthy_threshold": 3, "time_window": 10, "open_breaker_time": 10}})";

constexpr std::string_view kExample = R"json(
{
  "version": 1,
  "instance": {
    "id": "gw-east-1",
    "cascade": {
      "enabled": true,
      "auth_key": "env:RINGWAY_CASCADE_KEY",
      "allowed_instances": ["gw-west-1"]
    }
  },
  "shards": 0,
  "listeners": [
    { "name": "public", "address": "0.0.0.0:8080" },
    { "name": "public-tls", "address": "0.0.0.0:8443",
      "tls": { "certificate": "/etc/ringway/tls/gw.crt", "private_key": "/etc/ringway/tls/gw.key" } }
  ],
  "admin": { "address": "127.0.0.1:9901" },
  "limits": {
    "max_header_bytes": 32768, "max_headers": 100, "max_body_bytes": 12582912,
    "client_header_timeout_ms": 10000, "client_idle_timeout_ms": 60000,
    "max_connections": 100000
  },
  "environments": [
    { "name": "RELEASE", "variables": { "version": "v1" } },
    { "name": "TEST",    "variables": { "version": "v2" } }
  ],
  "apps": [ { "name": "shop-web", "app_key": "k-123", "app_secret": "env:SHOP_WEB_SECRET" } ],
  "channels": [
    {
      "name": "orders",
      "port": 9001,
      "balance_strategy": "wrr",
      "member_groups": [ { "name": "primary", "weight": 3, "description": "main DC" },
                         { "name": "dr", "weight": 1 } ],
      "members": [
        { "host": "127.0.0.1", "port": 0,    "weight": 10, "group": "primary" },
        { "host": "127.0.0.1", "port": 9011, "weight": 5,  "group": "primary", "enabled": false },
        { "host": "127.0.0.2", "port": 0,    "weight": 1,  "group": "dr", "is_backup": true }
      ],
      "health_check": {
        "protocol": "http", "path": "/health", "method": "GET", "port": 0,
        "healthy_threshold": 2, "unhealthy_threshold": 3,
        "timeout_s": 2, "interval_s": 5, "http_codes": "200,201,208-209"
      }
    }
  ],
  "apis": [
    {
      "name": "get_order", "group": "shop",
      "req_method": "GET", "req_uri": "/orders/{id}", "match_mode": "exact",
      "auth_type": "none",
      "environments": ["RELEASE", "TEST"],
      "backend": {
        "type": "http", "req_protocol": "http", "req_method": "GET",
        "channel": "orders", "req_uri": "/#version#/orders/{id}",
        "host_header": "orders.internal", "timeout_ms": 5000, "retry_count": -1
      }
    },
    {
      "name": "ping", "req_method": "ANY", "req_uri": "/ping", "environments": ["RELEASE"],
      "backend": { "type": "mock", "mock": { "status": 200,
        "headers": { "content-type": "application/json" }, "body": "{\"pong\":true}" } }
    }
  ],
  "policies": [
    { "name": "orders-breaker", "type": "circuit_breaker",
      "content": { "breaker_condition": { "breaker_type": "timeout", "breaker_mode": "counter",
                   "unhealthy_threshold": 30, "time_window": 15, "open_breaker_time": 15 },
                   "scope": "basic", "downgrade_default": null } }
  ],
  "bindings": [ { "policy": "orders-breaker", "api": "get_order", "environment": "RELEASE" } ]
}
)json";

Errors strings(const LoadResult& r) {
  Errors out;
  for (const Error& e : r.errors) {
    out.push_back(e.str());
  }
  return out;
}

// Loads with the "not supported yet" gate open: what the next releases will accept. TLS
// files are not read (parsing tests name files that do not exist).
LoadResult load_all(std::string_view json, std::string_view base_dir = ".") {
  return internal::load_config_with(json, {base_dir, internal::BuiltFeatures::all(), false});
}

Errors errors_of(const std::string& json) { return strings(load_all(json)); }
Errors gated_errors_of(const std::string& json) { return strings(load_config(json)); }

// A document with version and instance, plus `members` (top-level JSON members).
std::string doc(const std::string& members = "") {
  return R"({"version": 1, "instance": {"id": "gw"})" + (members.empty() ? "" : ", " + members) +
         "}";
}

// An API with a url backend; `fields` adds API fields, `backend` backend fields.
std::string api(const std::string& name, const std::string& method, const std::string& uri,
                const std::string& fields = "", const std::string& backend = "") {
  return R"({"name": ")" + name + R"(", "req_method": ")" + method + R"(", "req_uri": ")" + uri +
         "\", " + fields + R"("backend": {"url": "127.0.0.1:9000", "req_uri": "/")" +
         (backend.empty() ? "" : ", " + backend) + "}}";
}

std::string apis(const std::vector<std::string>& list) {
  std::string out = "\"apis\": [";
  for (size_t i = 0; i < list.size(); ++i) {
    out += (i ? ", " : "") + list[i];
  }
  return out + "]";
}

// A channel "orders" (port 9001) with the given members JSON.
std::string channel(const std::string& members = R"({"host": "127.0.0.1"})",
                    const std::string& fields = "") {
  return R"("channels": [{"name": "orders", "port": 9001, )" + fields + R"("members": [)" +
         members + "]}]";
}

// An API backed by channel "orders" with the given backend fields.
std::string channel_api(const std::string& backend = "") {
  return apis({R"({"name": "a", "req_uri": "/a", "backend": {"channel": "orders", "req_uri": "/")" +
               (backend.empty() ? "" : ", " + backend) + "}}"});
}

struct Case {
  std::string json;
  Errors errors;
};

void expect_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_EQ(errors_of(c.json), c.errors);
  }
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("RINGWAY_CASCADE_KEY", "0123456789abcdef-key", 1);
    setenv("SHOP_WEB_SECRET", "s3cret", 1);
    unsetenv("RINGWAY_TEST_UNSET");
  }
};

TEST_F(ConfigTest, ExampleLoadsWithTheGateOpen) {
  LoadResult r = load_all(kExample);
  ASSERT_EQ(strings(r), Errors{});
  ASSERT_TRUE(r.ok());
  const Config& c = *r.config;
  EXPECT_EQ(c.instance.id, "gw-east-1");
  EXPECT_TRUE(c.instance.cascade.enabled);
  ASSERT_EQ(c.instance.cascade.auth_keys.size(), 1u);
  EXPECT_EQ(c.instance.cascade.auth_keys[0].value, "0123456789abcdef-key");
  EXPECT_EQ(c.instance.cascade.allowed_instances, Errors{"gw-west-1"});
  ASSERT_EQ(c.listeners.size(), 2u);
  ASSERT_TRUE(c.listeners[1].tls.has_value());
  EXPECT_EQ(c.listeners[1].tls->private_key, "/etc/ringway/tls/gw.key");
  EXPECT_EQ(c.limits.max_body_bytes, 12582912u);
  ASSERT_EQ(c.environments.size(), 2u);
  EXPECT_EQ(c.environments[1].variables.at("version"), "v2");
  EXPECT_EQ(c.apps[0].app_secret.value, "s3cret");

  ASSERT_EQ(c.channels.size(), 1u);
  const Channel& ch = c.channels[0];
  EXPECT_EQ(ch.port, 9001);
  EXPECT_EQ(ch.member_groups[0].weight, 3u);
  ASSERT_EQ(ch.members.size(), 3u);
  EXPECT_EQ(ch.members[0].weight, 10u);
  EXPECT_FALSE(ch.members[1].enabled);
  EXPECT_TRUE(ch.members[2].is_backup);
  EXPECT_EQ(ch.members[2].group, "dr");
  ASSERT_TRUE(ch.health_check.has_value());
  EXPECT_EQ(ch.health_check->protocol, CheckProtocol::kHttp);
  EXPECT_EQ(ch.health_check->unhealthy_threshold, 3u);
  EXPECT_EQ(ch.health_check->interval_s, 5u);
  using Ranges = std::vector<std::pair<uint16_t, uint16_t>>;
  EXPECT_EQ(ch.health_check->codes, (Ranges{{200, 200}, {201, 201}, {208, 209}}));

  ASSERT_EQ(c.apis.size(), 2u);
  const Api& get = c.apis[0];
  EXPECT_EQ(get.req_method, Method::kGet);
  EXPECT_EQ(get.environments, (Errors{"RELEASE", "TEST"}));
  EXPECT_EQ(get.backend.http.channel, "orders");
  EXPECT_EQ(get.backend.http.req_method, Method::kGet);
  EXPECT_EQ(get.backend.http.req_uri, "/#version#/orders/{id}");
  EXPECT_EQ(get.backend.http.host_header, "orders.internal");
  const Api& ping = c.apis[1];
  EXPECT_EQ(ping.req_method, Method::kAny);
  EXPECT_EQ(ping.backend.type, BackendType::kMock);
  EXPECT_EQ(ping.backend.mock.headers.at(0).second, "application/json");
  EXPECT_EQ(ping.backend.mock.body, "{\"pong\":true}");

  EXPECT_EQ(c.policies[0].type, "circuit_breaker");
  EXPECT_EQ(
      c.policies[0].content_json.rfind(R"({"breaker_condition":{"breaker_type":"timeout")", 0), 0u);
  EXPECT_EQ(c.bindings[0].api, "get_order");
}

TEST_F(ConfigTest, ExamplePassesTheNotSupportedYetGate) {
  // Every feature of the example is built: only its certificate files (absent here) fail.
  EXPECT_EQ(gated_errors_of(std::string(kExample)),
            (Errors{"listeners[1].tls.certificate: cannot read /etc/ringway/tls/gw.crt: No such "
                    "file or directory"}));
}

TEST_F(ConfigTest, SupportedPartOfTheExampleLoads) {
  LoadResult r = load_config(R"({
    "version": 1, "instance": {"id": "gw-east-1"}, "shards": 2,
    "listeners": [{"name": "public", "address": "0.0.0.0:8080"}],
    "limits": {"max_header_bytes": 16384, "upgrade_idle_timeout_ms": 45000},
    "environments": [{"name": "RELEASE", "variables": {"version": "v1"}},
                     {"name": "TEST", "variables": {"version": "v2"}}],
    "apps": [{"name": "shop-web", "app_key": "k-123", "app_secret": "env:SHOP_WEB_SECRET"}],
    "apis": [
      {"name": "get_order", "group": "shop", "req_method": "GET", "req_uri": "/orders/{id}",
       "match_mode": "exact", "auth_type": "none", "environments": ["RELEASE", "TEST"],
       "backend": {"type": "http", "req_protocol": "http", "req_method": "GET",
                   "url": "localhost:9000", "req_uri": "/#version#/orders/{id}",
                   "host_header": "orders.internal", "timeout_ms": 5000, "retry_count": 2}},
      {"name": "ping", "req_method": "ANY", "req_uri": "/ping", "environments": ["RELEASE"],
       "backend": {"type": "mock", "mock": {"status": 200,
         "headers": {"content-type": "application/json"}, "body": "{\"pong\":true}"}}}]})");
  ASSERT_EQ(strings(r), Errors{});
  const Config& c = *r.config;
  EXPECT_EQ(c.shards, 2u);
  EXPECT_EQ(c.limits.max_header_bytes, 16384u);
  EXPECT_EQ(c.limits.max_headers, 100u);
  EXPECT_EQ(c.limits.upgrade_idle_timeout_ms, 45000u);
  EXPECT_EQ(c.apis[0].backend.http.url.host, "localhost");
  EXPECT_EQ(c.apis[0].backend.http.url.port, 9000);
  EXPECT_EQ(c.apis[0].backend.http.retry_count, 2);
  EXPECT_EQ(c.apps[0].app_secret.source, "env:SHOP_WEB_SECRET");
}

TEST_F(ConfigTest, Defaults) {
  LoadResult r = load_config(doc(
      apis({R"({"name": "a", "req_uri": "/a", "backend": {"url": "127.0.0.1:1", "req_uri": "/"}})",
            R"({"name": "m", "req_uri": "/m", "backend": {"type": "mock"}})"})));
  ASSERT_EQ(strings(r), Errors{});
  const Config& c = *r.config;
  EXPECT_EQ(c.shards, 0u);
  EXPECT_FALSE(c.admin.has_value());
  EXPECT_FALSE(c.instance.cascade.enabled);
  EXPECT_EQ(c.limits.max_header_bytes, 32768u);
  EXPECT_EQ(c.limits.max_body_bytes, 12582912u);
  EXPECT_EQ(c.limits.max_connections, 100000u);
  EXPECT_EQ(c.limits.upgrade_idle_timeout_ms, 300000u);
  ASSERT_EQ(c.environments.size(), 1u);
  EXPECT_EQ(c.environments[0].name, "RELEASE");
  const Api& a = c.apis[0];
  EXPECT_EQ(a.req_method, Method::kAny);
  EXPECT_EQ(a.match_mode, MatchMode::kExact);
  EXPECT_EQ(a.auth_type, AuthType::kNone);
  EXPECT_EQ(a.environments, Errors{"RELEASE"});
  EXPECT_EQ(a.backend.type, BackendType::kHttp);
  EXPECT_EQ(a.backend.http.req_protocol, "http");
  EXPECT_FALSE(a.backend.http.req_method.has_value());
  EXPECT_EQ(a.backend.http.timeout_ms, 5000u);
  EXPECT_EQ(a.backend.http.retry_count, -1);
  EXPECT_EQ(c.apis[1].backend.mock.status, 200);
}

TEST_F(ConfigTest, ChannelDefaults) {
  LoadResult r = load_all(doc(channel(R"({"host": "127.0.0.1"})", R"("health_check": {}, )")));
  ASSERT_EQ(strings(r), Errors{});
  const Channel& ch = r.config->channels[0];
  EXPECT_EQ(ch.balance_strategy, BalanceStrategy::kWrr);
  EXPECT_EQ(ch.members[0].weight, 1u);
  EXPECT_TRUE(ch.members[0].enabled);
  const HealthCheck& h = *ch.health_check;
  EXPECT_EQ(h.protocol, CheckProtocol::kTcp);
  EXPECT_EQ(h.path, "/");
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.healthy_threshold, 2u);
  EXPECT_EQ(h.unhealthy_threshold, 5u);
  EXPECT_EQ(h.timeout_s, 5u);
  EXPECT_EQ(h.interval_s, 10u);
  EXPECT_EQ(h.http_codes, "200");
  EXPECT_EQ(h.codes, (std::vector<std::pair<uint16_t, uint16_t>>{{200, 200}}));
}

TEST_F(ConfigTest, ReleaseIsAddedWhenNotListed) {
  LoadResult r =
      load_config(doc(R"("environments": [{"name": "TEST"}], )" + apis({api("a", "GET", "/a")})));
  ASSERT_EQ(strings(r), Errors{});
  ASSERT_EQ(r.config->environments.size(), 2u);
  EXPECT_EQ(r.config->environments[0].name, "TEST");
  EXPECT_EQ(r.config->environments[1].name, "RELEASE");
  EXPECT_TRUE(r.config->environments[1].variables.empty());
  EXPECT_EQ(r.config->apis[0].environments, Errors{"RELEASE"});
}

TEST_F(ConfigTest, UnknownFieldsAtAnyDepth) {
  expect_cases({
      {doc(R"("extra": 1)"), {"extra: unknown field"}},
      {doc(apis({R"({"name": "m", "req_uri": "/m",
                    "backend": {"type": "mock", "mock": {"status": 200, "colour": "red"}}})"})),
       {"apis[0].backend.mock.colour: unknown field"}},
      {doc(R"("listeners": [{"name": "l", "address": "0.0.0.0:0", "tls": {"certificate": "c",
             "private_key": "k", "sni": [{"server_name": "a.example", "certificate": "c",
             "private_key": "k", "foo": 1}]}}])"),
       {"listeners[0].tls.sni[0].foo: unknown field"}},
      {doc(channel(R"({"host": "127.0.0.1"})", R"("health_check": {"bogus": true}, )")),
       {"channels[0].health_check.bogus: unknown field"}},
      {R"({"version": 1, "instance": {"id": "gw", "cascade": {"x": 1}}})",
       {"instance.cascade.x: unknown field"}},
      {R"({"version": 1, "version": 1, "instance": {"id": "gw"}})", {"version: duplicate field"}},
  });
}

TEST_F(ConfigTest, WrongTypesAreReportedOnce) {
  expect_cases({
      {doc(R"("shards": "2")"), {"shards: must be an integer (got string)"}},
      {doc(R"("listeners": {"name": "x"})"), {"listeners: must be an array (got object)"}},
      {doc(R"("limits": {"max_headers": 1.5})"),
       {"limits.max_headers: must be an integer (got 1.5)"}},
      {doc(apis({R"({"name": "a", "req_uri": "/a", "backend": "http://x"})"})),
       {"apis[0].backend: must be an object (got string)"}},
      {doc(R"("apis": [42])"), {"apis[0]: must be an object (got number)"}},
      {doc(R"("environments": [{"name": "TEST", "variables": {"version": 2}}])"),
       {"environments[0].variables.version: must be a string (got number)"}},
      {doc(apis({api("a", "GET", "/a", "", R"("cascade": "yes")")})),
       {"apis[0].backend.cascade: must be a boolean (got string)"}},
      {R"({"version": 1, "instance": null})", {"instance: must be an object (got null)"}},
      {"[1]", {"must be an object (got array)"}},
  });
}

TEST_F(ConfigTest, OutOfRange) {
  std::string two_members = R"({"host": "127.0.0.1", "weight": 10001})";
  expect_cases({
      {doc(apis({api("a", "GET", "/a", "", R"("retry_count": 11)")})),
       {"apis[0].backend.retry_count: must be between -1 and 10 (got 11)"}},
      {doc(apis({api("a", "GET", "/a", "", R"("retry_count": -2)")})),
       {"apis[0].backend.retry_count: must be between -1 and 10 (got -2)"}},
      {doc(apis({api("a", "GET", "/a", "", R"("timeout_ms": 0)")})),
       {"apis[0].backend.timeout_ms: must be between 1 and 600000 (got 0)"}},
      {doc(R"("shards": 5000)"), {"shards: must be between 0 and 1024 (got 5000)"}},
      {doc(R"("limits": {"max_headers": 0})"),
       {"limits.max_headers: must be between 1 and 4294967295 (got 0)"}},
      {doc(R"("limits": {"upgrade_idle_timeout_ms": 0})"),
       {"limits.upgrade_idle_timeout_ms: must be between 1 and 4294967295 (got 0)"}},
      {doc(R"("limits": {"max_body_bytes": 18446744073709551615})"),
       {"limits.max_body_bytes: must be between 0 and 9223372036854775807 (got "
        "18446744073709551615)"}},
      {doc(apis({R"({"name": "m", "req_uri": "/m", "backend": {"type": "mock",
                    "mock": {"status": 99}}})"})),
       {"apis[0].backend.mock.status: must be between 200 and 599 (got 99)"}},
      {R"({"version": 2, "instance": {"id": "gw"}})", {"version: must be 1 (got 2)"}},
      {doc(channel(two_members)),
       {"channels[0].members[0].weight: must be between 0 and 10000 (got 10001)"}},
      {doc(channel(R"({"host": "127.0.0.1"})",
                   R"("member_groups": [{"name": "g", "weight": 101}], )")),
       {"channels[0].member_groups[0].weight: must be between 0 and 100 (got 101)"}},
      {doc(channel(R"({"host": "127.0.0.1", "port": 65536})")),
       {"channels[0].members[0].port: must be between 0 and 65535 (got 65536)"}},
  });
}

TEST_F(ConfigTest, RequiredFields) {
  std::string url_backend = R"("backend": {"url": "127.0.0.1:1", "req_uri": "/"})";
  expect_cases({
      {R"({"instance": {"id": "gw"}})", {"version: is required"}},
      {R"({"version": 1})", {"instance: is required"}},
      {R"({"version": 1, "instance": {}})", {"instance.id: is required"}},
      {doc(apis({R"({"req_uri": "/a", )" + url_backend + "}"})), {"apis[0].name: is required"}},
      {doc(apis({R"({"name": "a", )" + url_backend + "}"})), {"apis[0].req_uri: is required"}},
      {doc(apis({R"({"name": "a", "req_uri": "/a"})"})), {"apis[0].backend: is required"}},
      {doc(apis({R"({"name": "a", "req_uri": "/a", "backend": {"url": "127.0.0.1:1"}})"})),
       {"apis[0].backend.req_uri: is required"}},
      {doc(R"("listeners": [{"name": "l"}])"), {"listeners[0].address: is required"}},
      {doc(R"("apps": [{"name": "web", "app_key": "k"}])"), {"apps[0].app_secret: is required"}},
  });
}

TEST_F(ConfigTest, NamesFollowTheRulesAndAreUnique) {
  std::string long_name(65, 'a');
  expect_cases({
      {doc(R"("listeners": [{"name": "pub lic", "address": "0.0.0.0:0"}])"),
       {R"(listeners[0].name: must be 1-64 characters of [A-Za-z0-9_-] (got "pub lic"))"}},
      {doc(R"("listeners": [{"name": ")" + long_name + R"(", "address": "0.0.0.0:0"}])"),
       {"listeners[0].name: must be 1-64 characters of [A-Za-z0-9_-] (got \"" +
        std::string(64, 'a') + "\"...)"}},
      {doc(R"("listeners": [{"name": "public", "address": "0.0.0.0:8080"},
                            {"name": "public", "address": "0.0.0.0:8081"}])"),
       {R"(listeners[1].name: duplicate listener "public" (first at listeners[0].name))"}},
      {doc(apis({api("a", "GET", "/a"), api("a", "GET", "/b")})),
       {R"(apis[1].name: duplicate api "a" (first at apis[0].name))"}},
      {doc(R"("environments": [{"name": "TEST"}, {"name": "TEST"}])"),
       {R"(environments[1].name: duplicate environment "TEST" (first at environments[0].name))"}},
      {doc(R"("environments": [{"name": "TEST", "variables": {"v": "x", "9ab": "y"}}])"),
       {R"(environments[0].variables.v: must be 3-32 characters of [A-Za-z0-9_-] starting with a letter (got "v"))",
        R"(environments[0].variables.9ab: must be 3-32 characters of [A-Za-z0-9_-] starting with a letter (got "9ab"))"}},
      {doc(R"("apps": [{"name": "a", "app_key": "k", "app_secret": "s"},
                       {"name": "b", "app_key": "k", "app_secret": "s"}])"),
       {R"(apps[1].app_key: duplicate app_key "k" (first at apps[0].app_key))"}},
      {R"({"version": 1, "instance": {"id": "gw east"}})",
       {R"(instance.id: must be 1-64 characters of [A-Za-z0-9_-] (got "gw east"))"}},
  });
}

TEST_F(ConfigTest, EnumsListTheirChoices) {
  expect_cases({
      {doc(apis({api("a", "GET", "/a", R"("match_mode": "fuzzy", )")})),
       {R"(apis[0].match_mode: must be one of exact, prefix (got "fuzzy"))"}},
      {doc(apis({api("a", "FETCH", "/a")})),
       {R"(apis[0].req_method: must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY (got "FETCH"))"}},
      {doc(apis({api("a", "GET", "/a", "", R"("req_method": "ANY")")})),
       {R"(apis[0].backend.req_method: must be one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS (got "ANY"))"}},
      {doc(channel(R"({"host": "127.0.0.1"})", R"("balance_strategy": "rr", )")),
       {R"(channels[0].balance_strategy: must be one of wrr, wlc, sh, uri_hash (got "rr"))"}},
      {doc(R"("policies": [{"name": "p", "type": "rate_limit", "content": {}}])"),
       {R"(policies[0].type: must be one of circuit_breaker (got "rate_limit"))"}},
  });
}

TEST_F(ConfigTest, DuplicateApis) {
  std::string conflict =
      R"(apis[1]: conflicts with apis[0] "a" in environment "RELEASE" (same domain, match_mode, path pattern and method))";
  std::string envs = R"("environments": [{"name": "TEST"}], )";
  expect_cases({
      // Parameter names are ignored.
      {doc(apis({api("a", "GET", "/o/{id}"), api("b", "GET", "/o/{order_id}")})), {conflict}},
      // ANY overlaps every method.
      {doc(apis({api("a", "POST", "/o"), api("b", "ANY", "/o")})), {conflict}},
      {doc(apis({api("a", "GET", "/o"), api("b", "GET", "/o", R"("match_mode": "prefix", )")})),
       {}},
      {doc(apis({api("a", "GET", "/o"), api("b", "POST", "/o")})), {}},
      {doc(apis({api("a", "GET", "/o/{id}"), api("b", "GET", "/o/{id+}")})), {}},
      {doc(envs +
           apis({api("a", "GET", "/o"), api("b", "GET", "/o", R"("environments": ["TEST"], )")})),
       {}},
      {doc(envs + apis({api("a", "GET", "/o", R"("environments": ["RELEASE", "TEST"], )"),
                        api("b", "GET", "/o", R"("environments": ["TEST"], )")})),
       {R"(apis[1]: conflicts with apis[0] "a" in environment "TEST" (same domain, match_mode, path pattern and method))"}},
      // Domains compare without case; no domain is not the same as a domain.
      {doc(apis({api("a", "GET", "/o", R"("domain": "Api.example.com", )"),
                 api("b", "GET", "/o", R"("domain": "api.example.com", )")})),
       {conflict}},
      {doc(apis(
           {api("a", "GET", "/o", R"("domain": "api.example.com", )"), api("b", "GET", "/o")})),
       {}},
      // A wrong req_uri is reported once, not also as a duplicate.
      {doc(apis({api("a", "GET", "/o{x}"), api("b", "GET", "/o{x}")})),
       {R"(apis[0].req_uri: a parameter must be a whole segment like {id} (got "o{x}"))",
        R"(apis[1].req_uri: a parameter must be a whole segment like {id} (got "o{x}"))"}},
  });
}

TEST_F(ConfigTest, CrossReferencesMustResolve) {
  std::string policy = R"("policies": [{"name": "cb", "type": "circuit_breaker", "content": )" +
                       std::string(kBreakerContent) +
                       R"(},
                                        {"name": "cb2", "type": "circuit_breaker", "content": )" +
                       std::string(kBreakerContent) + "}], ";
  std::string binding = R"({"policy": "cb", "api": "a", "environment": "RELEASE"})";
  expect_cases({
      {doc(channel() + ", " +
           apis(
               {R"({"name": "a", "req_uri": "/a", "backend": {"channel": "nope", "req_uri": "/"}})"})),
       {R"(apis[0].backend.channel: unknown channel "nope")"}},
      {doc(apis({api("a", "GET", "/a", R"("environments": ["PROD"], )")})),
       {R"(apis[0].environments[0]: unknown environment "PROD")"}},
      {doc(apis({api("a", "GET", "/a", R"("environments": ["RELEASE", "RELEASE"], )")})),
       {R"(apis[0].environments[1]: duplicate environment "RELEASE" (first at apis[0].environments[0]))"}},
      {doc(channel(R"({"host": "127.0.0.1", "group": "blue"})")),
       {R"(channels[0].members[0].group: unknown member group "blue")"}},
      {doc(policy + apis({api("a", "GET", "/a")}) +
           R"(, "bindings": [{"policy": "nope", "api": "zz", "environment": "PROD"}])"),
       {R"(bindings[0].policy: unknown policy "nope")", R"(bindings[0].api: unknown api "zz")",
        R"(bindings[0].environment: unknown environment "PROD")"}},
      {doc(policy + R"("environments": [{"name": "TEST"}], )" + apis({api("a", "GET", "/a")}) +
           R"(, "bindings": [{"policy": "cb", "api": "a", "environment": "TEST"}])"),
       {R"(bindings[0].environment: api "a" is not published in environment "TEST")"}},
      {doc(policy + apis({api("a", "GET", "/a")}) + R"(, "bindings": [)" + binding +
           R"(, {"policy": "cb2", "api": "a", "environment": "RELEASE"}])"),
       {R"(bindings[1]: api "a" already has a circuit_breaker policy in environment "RELEASE" (bindings[0]))"}},
      // A section that cannot be read does not make every reference to it an error.
      {doc(R"("channels": {"name": "orders"}, )" + channel_api()),
       {"channels: must be an array (got object)"}},
      {doc(R"("channels": [{"name": "or ders", "port": 9001, "members": [{"host": "h"}]}], )" +
           apis(
               {R"({"name": "a", "req_uri": "/a", "backend": {"channel": "or ders", "req_uri": "/"}})"})),
       {R"(channels[0].name: must be 1-64 characters of [A-Za-z0-9_-] (got "or ders"))"}},
  });
}

TEST_F(ConfigTest, RetryCountIsBelowTheEnabledMembers) {
  // Two enabled members: the standby counts, the disabled one does not.
  std::string members = R"({"host": "127.0.0.1"}, {"host": "127.0.0.2", "enabled": false},
                           {"host": "127.0.0.3", "is_backup": true})";
  expect_cases({
      {doc(channel(members) + ", " + channel_api(R"("retry_count": 1)")), {}},
      {doc(channel(members) + ", " + channel_api(R"("retry_count": 2)")),
       {R"(apis[0].backend.retry_count: must be lower than 2, the number of enabled members of channel "orders" (got 2))"}},
      {doc(channel(R"({"host": "127.0.0.1", "enabled": false})") + ", " +
           channel_api(R"("retry_count": -1)")),
       {}},
      {doc(apis({api("a", "GET", "/a", "", R"("retry_count": 10)")})), {}},
  });
}

TEST_F(ConfigTest, HealthCheck) {
  auto check = [](const std::string& fields) {
    return doc(channel(R"({"host": "127.0.0.1"})", R"("health_check": {)" + fields + "}, "));
  };
  std::string at = "channels[0].health_check.";
  expect_cases({
      {check(R"("protocol": "http", "timeout_s": 5, "interval_s": 5)"),
       {at + "interval_s: must be greater than timeout_s (got 5, timeout_s 5)"}},
      {check(R"("timeout_s": 20)"),
       {at + "interval_s: must be greater than timeout_s (got 10, timeout_s 20)"}},
      {check(R"("timeout_s": 31)"), {at + "timeout_s: must be between 2 and 30 (got 31)"}},
      {check(R"("interval_s": 301)"), {at + "interval_s: must be between 5 and 300 (got 301)"}},
      {check(R"("healthy_threshold": 1)"),
       {at + "healthy_threshold: must be between 2 and 10 (got 1)"}},
      {check(R"("unhealthy_threshold": 11)"),
       {at + "unhealthy_threshold: must be between 2 and 10 (got 11)"}},
      {check(R"("protocol": "http", "http_codes": "200,abc")"),
       {at +
        R"(http_codes: must be status codes 100-599 or ranges like 200-299, separated by commas (got "200,abc"))"}},
      {check(R"("protocol": "http", "http_codes": "209-208")"),
       {at +
        R"(http_codes: must be status codes 100-599 or ranges like 200-299, separated by commas (got "209-208"))"}},
      {check(R"("protocol": "http", "http_codes": "600")"),
       {at +
        R"(http_codes: must be status codes 100-599 or ranges like 200-299, separated by commas (got "600"))"}},
      {check(R"("protocol": "tcp", "path": "/x")"),
       {at + "path: only allowed with protocol http or https"}},
      {check(R"("protocol": "http", "client_ssl": {"certificate": "c", "private_key": "k"})"),
       {at + "client_ssl: only allowed with protocol https"}},
      {check(R"("protocol": "https", "client_ssl": {"certificate": "c"})"),
       {at + "client_ssl.private_key: is required"}},
      {check(R"("protocol": "https", "client_ssl": {"ca": "c"})"), {}},  // every member optional
      {check(R"("protocol": "http", "method": "POST")"),
       {at + R"(method: must be one of GET, HEAD (got "POST"))"}},
      {check(R"("protocol": "http", "path": "health")"),
       {at + R"(path: must start with "/" (got "health"))"}},
      {check(R"("protocol": "udp", "path": "/x")"),
       {at + R"(protocol: must be one of tcp, http, https (got "udp"))"}},
  });
  LoadResult r = load_all(check(R"("protocol": "http", "http_codes": "200,204-206,301")"));
  ASSERT_EQ(strings(r), Errors{});
  EXPECT_EQ(r.config->channels[0].health_check->codes,
            (std::vector<std::pair<uint16_t, uint16_t>>{{200, 200}, {204, 206}, {301, 301}}));
}

TEST_F(ConfigTest, Channels) {
  expect_cases({
      {doc(channel("")), {"channels[0].members: must have at least one member"}},
      {doc(R"("channels": [{"name": "orders", "port": 9001}])"),
       {"channels[0].members: is required"}},
      {doc(R"("channels": [{"name": "orders", "members": [{"host": "h"}]}])"),
       {"channels[0].port: is required"}},
      {doc(R"("channels": [{"name": "orders", "port": 0, "members": [{"host": "h"}]}])"),
       {"channels[0].port: must be between 1 and 65535 (got 0)"}},
      {doc(channel(R"({"host": "127.0.0.1"}, {"host": "127.0.0.1", "port": 9001})")),
       {R"(channels[0].members[1]: duplicate member "127.0.0.1:9001" (first at channels[0].members[0]))"}},
      {doc(channel(R"({"host": "bad host!"})")),
       {R"(channels[0].members[0].host: must be an IP address or a host name (got "bad host!"))"}},
      {doc(channel(R"({"host": "::1"}, {"host": "backend.internal", "port": 80})")), {}},
  });
}

TEST_F(ConfigTest, ReqUriRules) {
  expect_cases({
      {doc(apis({api("a", "GET", "orders")})),
       {R"(apis[0].req_uri: must start with "/" (got "orders"))"}},
      {doc(apis({api("a", "GET", "/" + std::string(512, 'x'))})),
       {"apis[0].req_uri: must be at most 512 characters (got 513)"}},
      {doc(apis({api("a", "GET", "/{rest+}/x")})),
       {R"(apis[0].req_uri: parameter "{rest+}" must be the last segment)"}},
      {doc(apis({api("a", "GET", "/{id}/{id}")})),
       {R"(apis[0].req_uri: duplicate parameter "{id}")"}},
      {doc(apis({api("a", "GET", "/a b")})), {R"(apis[0].req_uri: must not contain " ")"}},
      {doc(apis({api("a", "GET", "/a?x=1")})), {R"(apis[0].req_uri: must not contain "?")"}},
      {doc(apis({api("a", "GET", "/a//b")})),
       {R"(apis[0].req_uri: must not contain an empty segment ("//"))"}},
      {doc(apis({api("a", "GET", "/{}")})),
       {R"(apis[0].req_uri: parameter "{}": name must be 1-64 characters of [A-Za-z0-9_-])"}},
      {doc(apis({api("a", "GET", "/files/{path+}", R"("match_mode": "prefix", )"),
                 api("b", "GET", "/"), api("c", "GET", "/v1/orders/")})),
       {}},
  });
}

TEST_F(ConfigTest, BackendTemplates) {
  std::string envs = R"("environments": [{"name": "RELEASE", "variables": {"version": "v1"}},
                                           {"name": "TEST"}], )";
  std::string both = R"("environments": ["RELEASE", "TEST"], )";
  auto with_template = [](const std::string& uri, const std::string& tmpl,
                          const std::string& fields = "") {
    return apis({R"({"name": "a", "req_uri": ")" + uri + "\", " + fields +
                 R"("backend": {"url": "127.0.0.1:1", "req_uri": ")" + tmpl + "\"}}"});
  };
  std::string at = "apis[0].backend.req_uri: ";
  expect_cases({
      {doc(envs + with_template("/o/{id}", "/#version#/{id}", both)),
       {at + R"(variable #version# is not defined in environment "TEST")"}},
      {doc(envs + with_template("/o/{id}", "/#version#/{id}")), {}},
      {doc(with_template("/o", "/#version#")),
       {at + R"(variable #version# is not defined in environment "RELEASE")"}},
      {doc(with_template("/o/{id}", "/x/{oid}")),
       {at + "unknown parameter {oid} (not in the API's req_uri)"}},
      {doc(with_template("/o", "/#v#/")),
       {at +
        R"(variable "#v#": name must be 3-32 characters of [A-Za-z0-9_-] starting with a letter)"}},
      {doc(with_template("/o/{id}", "/x/{id")), {at + R"(unterminated "{")"}},
      {doc(with_template("/f/{rest+}", "/x/{rest+}")),
       {at + R"(write parameter "{rest+}" as {rest})"}},
      {doc(with_template("/f/{rest+}", "/x/{rest}")), {}},
      {doc(with_template("/o", "x")), {at + R"(must start with "/" (got "x"))"}},
      // The template is not checked against a req_uri that is already wrong.
      {doc(with_template("o/{id}", "/{id}")),
       {R"(apis[0].req_uri: must start with "/" (got "o/{id}"))"}},
  });
}

TEST_F(ConfigTest, BackendFields) {
  std::string at = "apis[0].backend";
  auto backend = [](const std::string& fields) {
    return doc(R"("channels": [{"name": "orders", "port": 1, "members": [{"host": "h"}]}], )" +
               apis({R"({"name": "a", "req_uri": "/a", "backend": {)" + fields + "}}"}));
  };
  expect_cases({
      {backend(R"("channel": "orders", "url": "127.0.0.1:1", "req_uri": "/")"),
       {at + ": must have exactly one of channel or url (got both)"}},
      {backend(R"("req_uri": "/")"),
       {at + ": must have exactly one of channel or url (got neither)"}},
      {backend(R"("url": "http://x:80", "req_uri": "/")"),
       {at +
        R"(.url: must be host:port with a port 1-65535, like localhost:9000 (got "http://x:80"))"}},
      {backend(R"("url": "localhost:0", "req_uri": "/")"),
       {at +
        R"(.url: must be host:port with a port 1-65535, like localhost:9000 (got "localhost:0"))"}},
      {backend(R"("url": "[::1]:8080", "req_uri": "/")"), {}},
      {backend(R"("type": "mock", "url": "127.0.0.1:1")"),
       {at + ".url: only allowed for http backends"}},
      {backend(R"("url": "127.0.0.1:1", "req_uri": "/", "mock": {})"),
       {at + ".mock: only allowed for mock backends"}},
      {backend(
           R"("url": "127.0.0.1:1", "req_uri": "/", "client_ssl": {"certificate": "c", "private_key": "k"})"),
       {at + ".client_ssl: only allowed with req_protocol https"}},
      {backend(
           R"("type": "mock", "mock": {"headers": {"Content-Length": "3", "x y": "1", "ok": "a\nb"}})"),
       {at + ".mock.headers.Content-Length: is set by the gateway",
        at + ".mock.headers.x y: must be a valid header name",
        at + ".mock.headers.ok: must not contain CR, LF or NUL"}},
      {backend(R"("type": "grpc", "url": "127.0.0.1:1", "mock": {})"),
       {at + R"(.type: must be one of http, mock (got "grpc"))"}},
      {backend(
           R"("req_protocol": "ftp", "url": "127.0.0.1:1", "req_uri": "/", "client_ssl": {"certificate": "c", "private_key": "k"})"),
       {at + R"(.req_protocol: must be one of http, https (got "ftp"))"}},
      {backend(R"("url": "127.0.0.1:1", "req_uri": "/", "host_header": "a b")"),
       {at + R"(.host_header: must be a host name with an optional port (got "a b"))"}},
      {doc(apis({api("a", "GET", "/a", R"("domain": "bad domain", )")})),
       {R"(apis[0].domain: must be a host name like api.example.com (got "bad domain"))"}},
  });
}

TEST_F(ConfigTest, Secrets) {
  auto app = [](const std::string& secret) {
    return doc(R"("apps": [{"name": "web", "app_key": "k", "app_secret": ")" + secret + "\"}]");
  };
  expect_cases({
      {app("env:RINGWAY_TEST_UNSET"),
       {"apps[0].app_secret: environment variable RINGWAY_TEST_UNSET is not set"}},
      {app("file:/nonexistent/secret"),
       {R"(apps[0].app_secret: cannot read "/nonexistent/secret": No such file or directory)"}},
      {app(""), {"apps[0].app_secret: must not be empty"}},
      // A device or a large file by mistake: refused after 64 KiB, not read forever.
      {app("file:/dev/zero"), {R"(apps[0].app_secret: "/dev/zero" is larger than 65536 bytes)"}},
  });
  LoadResult r = load_config(app("env:SHOP_WEB_SECRET"));
  ASSERT_EQ(strings(r), Errors{});
  EXPECT_EQ(r.config->apps[0].app_secret.value, "s3cret");
  r = load_config(app("plain-text"));
  ASSERT_EQ(strings(r), Errors{});
  EXPECT_EQ(r.config->apps[0].app_secret.source, "literal");
  EXPECT_EQ(r.config->apps[0].app_secret.value, "plain-text");
}

TEST_F(ConfigTest, FileSecretsResolveAgainstTheConfigDirectory) {
  char dir_template[] = "/tmp/ringway-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::ofstream(dir + "/secret.txt") << "abc\n";
  std::ofstream(dir + "/ringway.json")
      << doc(R"("apps": [{"name": "web", "app_key": "k", "app_secret": "file:secret.txt"}])");
  LoadResult r = load_config_file(dir + "/ringway.json");
  std::remove((dir + "/secret.txt").c_str());
  std::remove((dir + "/ringway.json").c_str());
  rmdir(dir.c_str());
  ASSERT_EQ(strings(r), Errors{});
  EXPECT_EQ(r.config->apps[0].app_secret.value, "abc");
  EXPECT_EQ(r.config->apps[0].app_secret.source, "file:" + dir + "/secret.txt");
}

TEST_F(ConfigTest, CascadeKeys) {
  auto cascade = [](const std::string& fields) {
    return R"({"version": 1, "instance": {"id": "gw", "cascade": {)" + fields + "}}}";
  };
  std::string at = "instance.cascade.";
  expect_cases({
      {cascade(R"("enabled": true, "auth_key": "short")"),
       {at + "auth_key: must be at least 16 bytes (got 5)"}},
      {cascade(R"("enabled": true)"), {at + "auth_key: is required"}},
      {cascade(R"("enabled": true, "auth_key": ["a", "b", "c"])"),
       {at + "auth_key: must be a string or a list of two strings [new, old]"}},
      {cascade(R"("enabled": true, "auth_key": ["env:RINGWAY_CASCADE_KEY", "tiny"])"),
       {at + "auth_key[1]: must be at least 16 bytes (got 4)"}},
      {cascade(R"("allowed_instances": ["a", "b", "c", "d", "e", "f"])"),
       {at + "allowed_instances: must have at most 5 entries (got 6)"}},
      {cascade(R"("allowed_instances": ["a", "a"])"),
       {at +
        R"(allowed_instances[1]: duplicate instance id "a" (first at instance.cascade.allowed_instances[0]))"}},
  });
  LoadResult r = load_all(
      cascade(R"("enabled": true, "auth_key": ["env:RINGWAY_CASCADE_KEY", "old-key-0123456789"])"));
  ASSERT_EQ(strings(r), Errors{});
  ASSERT_EQ(r.config->instance.cascade.auth_keys.size(), 2u);
  EXPECT_EQ(r.config->instance.cascade.auth_keys[1].value, "old-key-0123456789");
}

TEST_F(ConfigTest, ListenerAddresses) {
  std::string message = "must be an IP address and port like 0.0.0.0:8080 or [::1]:8080";
  expect_cases({
      {doc(R"("listeners": [{"name": "l", "address": "localhost:8080"}])"),
       {"listeners[0].address: " + message + R"( (got "localhost:8080"))"}},
      {doc(R"("listeners": [{"name": "l", "address": "0.0.0.0:65536"}])"),
       {"listeners[0].address: " + message + R"( (got "0.0.0.0:65536"))"}},
      {doc(R"("listeners": [{"name": "a", "address": "0.0.0.0:8080"},
                            {"name": "b", "address": "0.0.0.0:8080"}])"),
       {R"(listeners[1].address: duplicate address "0.0.0.0:8080" (first at listeners[0].address))"}},
      {doc(R"("listeners": [{"name": "a", "address": "[::1]:9901"}],
              "admin": {"address": "[::1]:9901"})"),
       {R"(admin.address: duplicate address "[::1]:9901" (first at listeners[0].address))"}},
      {doc(R"("listeners": [{"name": "a", "address": "127.0.0.1:0"},
                            {"name": "b", "address": "127.0.0.1:0"}])"),
       {}},
  });
  LoadResult r = load_all(doc(R"("listeners": [{"name": "l", "address": "[::1]:0",
      "tls": {"certificate": "gw.crt", "private_key": "/abs/gw.key"}}])"),
                          "/etc/ringway");
  ASSERT_EQ(strings(r), Errors{});
  EXPECT_TRUE(r.config->listeners[0].address.v6);
  EXPECT_EQ(r.config->listeners[0].tls->certificate, "/etc/ringway/gw.crt");
  EXPECT_EQ(r.config->listeners[0].tls->private_key, "/abs/gw.key");
}

TEST_F(ConfigTest, AccessLog) {
  EXPECT_FALSE(load_all(doc()).config->access_log.has_value());
  expect_cases({
      {doc(R"("access_log": {})"), {"access_log.path: is required"}},
      {doc(R"("access_log": {"path": ""})"), {"access_log.path: must not be empty"}},
      {doc(R"("access_log": {"path": "a.log", "format": "json"})"),
       {"access_log.format: unknown field"}},
      {doc(R"("access_log": {"path": 7})"), {"access_log.path: must be a string (got number)"}},
      {doc(R"("access_log": "a.log")"), {"access_log: must be an object (got string)"}},
  });
  LoadResult rel = load_all(doc(R"("access_log": {"path": "logs/access.log"})"), "/etc/ringway");
  ASSERT_EQ(strings(rel), Errors{});
  EXPECT_EQ(rel.config->access_log->path, "/etc/ringway/logs/access.log");
  LoadResult abs = load_all(doc(R"("access_log": {"path": "/var/log/rw.log"})"), "/etc/ringway");
  ASSERT_EQ(strings(abs), Errors{});
  EXPECT_EQ(abs.config->access_log->path, "/var/log/rw.log");
}

TEST(ParseAddress, AcceptsIpLiteralsAndHostNames) {
  std::optional<Address> a = parse_address("127.0.0.1:8080");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_FALSE(a->v6);
  a = parse_address("[::1]:0");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 0);
  EXPECT_TRUE(a->v6);
  EXPECT_EQ(a->text, "[::1]:0");
  EXPECT_TRUE(parse_address("0.0.0.0:0").has_value());
  EXPECT_TRUE(parse_address("localhost:9000").has_value());
  EXPECT_TRUE(parse_address("a.b-c.example:65535").has_value());
  for (std::string_view bad : {"", "1.2.3.4", "::1:80", "[::1]80", "[zz]:80", "h:-1", "h:65536",
                               "h:", ":80", "a b:80", "h:+80", "[::1]:"}) {
    EXPECT_FALSE(parse_address(bad).has_value()) << bad;
  }
}

TEST(Methods, ParseAndName) {
  for (std::string_view name :
       {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"}) {
    std::optional<Method> m = parse_method(name);
    ASSERT_TRUE(m.has_value()) << name;
    EXPECT_EQ(method_name(*m), name);
  }
  EXPECT_FALSE(parse_method("get").has_value());
  EXPECT_FALSE(parse_method("CONNECT").has_value());
}

TEST_F(ConfigTest, NotSupportedYet) {
  auto gated = [](const std::string& json, const Errors& expected) {
    SCOPED_TRACE(json);
    EXPECT_EQ(gated_errors_of(json), expected);
  };
  gated(doc(channel() + ", " + channel_api()), {});  // channels are built
  gated(doc(R"("channels": [{"name": "c", "port": 9001, "members": [{"host": "127.0.0.1"}],
                             "health_check": {"protocol": "https"}}])"),
        {});  // https checks are built
  // TLS is built: its files are read once the document is otherwise valid.
  gated(doc(R"("listeners": [{"name": "l", "address": "0.0.0.0:0",
                              "tls": {"certificate": "c", "private_key": "k"}}])"),
        {"listeners[0].tls.certificate: cannot read c: No such file or directory"});
  gated(doc(R"("policies": [{"name": "cb", "type": "circuit_breaker", "content": )" +
            std::string(kBreakerContent) + "}], " + apis({api("a", "GET", "/a")}) +
            R"(, "bindings": [{"policy": "cb", "api": "a", "environment": "RELEASE"}])"),
        {});  // circuit breakers are built
  gated(R"({"version": 1, "instance": {"id": "gw", "cascade": {"enabled": true,
            "auth_key": "env:RINGWAY_CASCADE_KEY"}}})",
        {});                                                                 // cascading is built
  gated(doc(apis({api("a", "GET", "/a", R"("auth_type": "app", )")})), {});  // app auth is built
  gated(
      doc(apis({api(
          "a", "GET", "/a", "",
          R"("req_protocol": "https", "client_ssl": {"certificate": "c", "private_key": "k"})")})),
      {"apis[0].backend.client_ssl.certificate: cannot read c: No such file or directory"});
  gated(doc(apis({api("a", "GET", "/a", "", R"("cascade": true)")})),
        {"apis[0].backend.cascade: needs instance.cascade.enabled with an auth_key (it signs "
         "with that key)"});
  // The admin listener is built: accepted.
  gated(doc(R"("admin": {"address": "127.0.0.1:9901"})"), {});
  // Validation still runs behind the gate.
  gated(doc(R"("listeners": [{"name": "l", "address": "0.0.0.0:0",
                              "tls": {"certificate": "c", "private_key": "k"}}],
               "channels": [{"name": "orders", "port": 0, "members": [{"host": "h"}]}])"),
        {"channels[0].port: must be between 1 and 65535 (got 0)"});
}

TEST_F(ConfigTest, SeveralErrorsAtOnce) {
  EXPECT_EQ(
      gated_errors_of(
          doc(R"("extra": true, "shards": "x",
      "listeners": [{"name": "l", "address": "nowhere"}], )" +
              apis({api("a", "GET", "/a", "", R"("retry_count": 11)"), api("b", "PUT", "b")}))),
      (Errors{
          "extra: unknown field", "shards: must be an integer (got string)",
          R"(listeners[0].address: must be an IP address and port like 0.0.0.0:8080 or [::1]:8080 (got "nowhere"))",
          "apis[0].backend.retry_count: must be between -1 and 10 (got 11)",
          R"(apis[1].req_uri: must start with "/" (got "b"))"}));
}

// A document with one circuit-breaker policy whose content is `content`.
std::string breaker_doc(const std::string& content, const std::string& more = "") {
  return doc(more + R"("policies": [{"name": "cb", "type": "circuit_breaker", "content": )" +
             content + "}]");
}

// kBreakerContent with `extra` members added.
std::string breaker_with(const std::string& extra) {
  return std::string(kBreakerContent.substr(0, kBreakerContent.size() - 1)) + ", " + extra + "}";
}

TEST_F(ConfigTest, Policies) {
  expect_cases({
      {doc(R"("policies": [{"name": "cb", "type": "circuit_breaker", "content": []}])"),
       {"policies[0].content: must be an object (got array)"}},
      {doc(R"("policies": [{"name": "cb", "type": "circuit_breaker"}])"),
       {"policies[0].content: is required"}},
      {breaker_doc("{}"), {"policies[0].content.breaker_condition: is required"}},
  });
  LoadResult r = load_all(breaker_doc(breaker_with(R"("downgrade_default": null)")));
  ASSERT_EQ(strings(r), Errors{});
  const config::Policy& p = r.config->policies[0];
  EXPECT_EQ(p.content_json.rfind(R"({"breaker_condition":{"breaker_type":"timeout")", 0), 0u);
  EXPECT_EQ(p.breaker.condition.unhealthy_threshold, 3u);
  EXPECT_EQ(p.breaker.condition.time_window_s, 10u);
  EXPECT_FALSE(p.breaker.share);
  EXPECT_FALSE(p.breaker.downgrade.has_value());
}

TEST_F(ConfigTest, BreakerConditionNumbersAndModes) {
  const std::string base = "policies[0].content.breaker_condition";
  auto cond = [](const std::string& fields) {
    return breaker_doc(R"({"breaker_condition": {)" + fields + "}}");
  };
  expect_cases({
      {cond(R"("breaker_type": "timeout", "breaker_mode": "counter", "unhealthy_threshold": 1,
               "time_window": 0, "open_breaker_time": 3601)"),
       {base + ".time_window: must be between 1 and 3600 (got 0)",
        base + ".open_breaker_time: must be between 1 and 3600 (got 3601)"}},
      {cond(R"("breaker_type": "slow", "breaker_mode": "counter", "unhealthy_threshold": 1,
               "time_window": 1, "open_breaker_time": 1)"),
       {base + R"(.breaker_type: must be one of timeout, condition (got "slow"))"}},
      // Each mode needs its own numbers; the other mode's may be null (the seed writes them).
      {cond(R"("breaker_type": "timeout", "breaker_mode": "counter", "time_window": 1,
               "open_breaker_time": 1, "unhealthy_percentage": null)"),
       {base + ".unhealthy_threshold: is required"}},
      {cond(R"("breaker_type": "timeout", "breaker_mode": "percentage", "time_window": 1,
               "open_breaker_time": 1, "unhealthy_percentage": 101, "unhealthy_threshold": 0)"),
       {base + ".unhealthy_threshold: must be between 1 and 1000000000 (got 0)",
        base + ".unhealthy_percentage: must be between 1 and 100 (got 101)",
        base + ".min_call_threshold: is required"}},
      {cond(R"("breaker_type": "condition", "breaker_mode": "counter", "unhealthy_threshold": 1,
               "time_window": 1, "open_breaker_time": 1)"),
       {base + ".unhealthy_condition: is required"}},
      {cond(R"("breaker_type": "condition", "breaker_mode": "counter", "unhealthy_threshold": 1,
               "time_window": 1, "open_breaker_time": 1,
               "unhealthy_condition": "[\"$context.statusCode\",\"like\",\"500\"]")"),
       {base + R"(.unhealthy_condition: element [1]: unknown operator "like")"}},
      {cond(R"("breaker_type": "condition", "breaker_mode": "counter", "unhealthy_threshold": 1,
               "time_window": 1, "open_breaker_time": 1,
               "unhealthy_condition": ["OR", ["$context.statusCode", "in", "500,504"],
                                             ["$context.backendResponseTime", ">", 6000]])"),
       {}},
  });
}

TEST_F(ConfigTest, BreakerDowngrades) {
  const std::string d = "policies[0].content.downgrade_default";
  auto with = [](const std::string& downgrade) {
    return breaker_doc(breaker_with(R"("downgrade_default": )" + downgrade));
  };
  expect_cases({
      {with(R"({"type": "teapot"})"),
       {d + R"(.type: must be one of mock, http, passthrough, function (got "teapot"))"}},
      {with(R"({"type": "mock", "mock_info": {"status_code": 99, "headers":
                 [{"key": "Content-Length", "value": "1"}, {"key": "x-a", "value": "a\nb"}]}})"),
       {d + ".mock_info.status_code: must be between 200 and 599 (got 99)",
        d + ".mock_info.headers[0]: is set by the gateway",
        d + ".mock_info.headers[1]: must not contain CR, LF or NUL"}},
      {with(R"({"type": "mock"})"), {d + ".mock_info: is required"}},
      {with(R"({"type": "http", "http_info": {"address": "a b", "scheme": "HTTPS"}})"),
       {d + R"(.http_info.address: must be host or host:port, like 10.10.10.10:8080 (got "a b"))",
        d + ".http_info.scheme: not supported yet"}},
      {with(R"({"type": "http", "http_info": null, "http_vpc_info": {"vpc_channel_id": "nope"}})"),
       {d + R"(.http_vpc_info.vpc_channel_id: unknown channel "nope")"}},
      {with(R"({"type": "function", "func_info": {"function_urn": "urn:fss:x",
                 "invocation_type": "later"}})"),
       {d + R"(.func_info.function_urn: must be an http URL like http://127.0.0.1:9000/fn (got "urn:fss:x"))",
        d + R"(.func_info.invocation_type: must be one of sync, async (got "later"))"}},
      {with(R"({"type": "passthrough", "passthrough_infos": [{"key": "x-why", "value": "cb"}]})"),
       {}},
  });
  LoadResult r = load_all(with(R"({"type": "function", "func_info": {"function_urn":
      "http://127.0.0.1:9000/fn/a", "invocation_type": "async", "timeout": 300}})"));
  ASSERT_EQ(strings(r), Errors{});
  const config::Downgrade& fn = *r.config->policies[0].breaker.downgrade;
  EXPECT_EQ(fn.function_address.port, 9000);
  EXPECT_EQ(fn.function_path, "/fn/a");
  EXPECT_TRUE(fn.function_async);
  EXPECT_EQ(fn.timeout_ms, 300u);
}

TEST_F(ConfigTest, BreakerRules) {
  const std::string params =
      R"("downgrade_parameters": [{"name": "reqPath", "type": "path", "value": "path"},
                                  {"name": "tier", "type": "header", "value": "X-Tier"}])";
  auto rules = [&params](const std::string& list) {
    return breaker_doc(breaker_with(params + R"(, "downgrade_rules": )" + list));
  };
  const std::string r0 = "policies[0].content.downgrade_rules[0]";
  expect_cases({
      {rules(R"([{"rule_name": "r1", "parameters": ["reqPath", "who"],
                  "match_regex": "[\"who\",\"==\",\"x\"]"}])"),
       {r0 + R"(.parameters[1]: unknown downgrade parameter "who")",
        r0 + R"(.match_regex: element [0]: unknown parameter "who" (reqPath, tier))"}},
      {rules(R"([{"rule_name": "r1", "match_regex": ["tier", "==", "gold"]},
                 {"rule_name": "r1", "match_regex": ["tier", "==", "silver"]}])"),
       {R"(policies[0].content.downgrade_rules[1]: duplicate rule_name "r1")"}},
      {rules(R"([{"rule_name": "r 1", "match_regex": ["tier", "==", "x"]}])"),
       {r0 + R"(.rule_name: must be 1-64 characters of A-Z a-z 0-9 _ - (got "r 1"))"}},
  });
  Errors e = errors_of(rules(R"([{"rule_name": "r1", "match_regex": ["tier", "~~", "("]}])"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind(r0 + R"(.match_regex: element [2]: invalid regular expression "(": )", 0),
            0u)
      << e[0];
  e = errors_of(breaker_doc(breaker_with(
      R"("downgrade_parameters": [{"name": "s", "type": "system", "value": "moon"}])")));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("policies[0].content.downgrade_parameters[0]: ", 0), 0u) << e[0];
}

TEST(LoadConfig, InvalidJsonAndMissingFiles) {
  LoadResult r = load_config("{");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].path, "");
  EXPECT_EQ(r.errors[0].message.rfind("invalid JSON: ", 0), 0u) << r.errors[0].message;
  EXPECT_FALSE(r.ok());
  r = load_config_file("/nonexistent/ringway.json");
  EXPECT_EQ(strings(r),
            Errors{R"(cannot read "/nonexistent/ringway.json": No such file or directory)"});
}

// ---- redacted_json (GET /v1/config) ----

// Every kind of secret CONFIG.md names, in every spelling: the values become "***", a list
// of keys a list of "***"; everything else is copied.
TEST(RedactedJson, ReplacesEverySecretKind) {
  const std::string in = R"json({
    "instance": {"id": "gw", "cascade": {"enabled": true, "auth_key": "literal-key-0123456789"}},
    "pair": {"auth_key": ["env:NEW_CASCADE_KEY", "file:/etc/ringway/old.key"]},
    "apps": [{"name": "a", "app_key": "k-1", "app_secret": "file:/etc/ringway/a.secret"},
             {"name": "b", "app_key": "k-2", "app_secret": "env:B_SECRET"},
             {"name": "c", "app_key": "k-3", "app_secret": "lit\"eral\\secret"}],
    "listeners": [{"name": "t", "tls": {"certificate": "/c.crt", "private_key": "/c.key",
                                        "private_key_passphrase": "env:TLS_PASS"}}],
    "config_source": {"etcd": {"endpoints": ["127.0.0.1:2379"], "password": "etcd-pw",
                     "tls": {"certificate": "/e.crt", "private_key": "/e.key", "ca": "/ca.crt",
                             "passphrase": "file:/e.pass"}}},
    "odd": {"app_secret": {"nested": "object"}, "auth_key": 12345}
  })json";
  const std::string out = redacted_json(in);
  EXPECT_EQ(out, R"({"instance":{"id":"gw","cascade":{"enabled":true,"auth_key":"***"}},)"
                 R"("pair":{"auth_key":["***","***"]},)"
                 R"("apps":[{"name":"a","app_key":"k-1","app_secret":"***"},)"
                 R"({"name":"b","app_key":"k-2","app_secret":"***"},)"
                 R"({"name":"c","app_key":"k-3","app_secret":"***"}],)"
                 R"("listeners":[{"name":"t","tls":{"certificate":"/c.crt","private_key":"/c.key",)"
                 R"("private_key_passphrase":"***"}}],)"
                 R"("config_source":{"etcd":{"endpoints":["127.0.0.1:2379"],"password":"***",)"
                 R"("tls":{"certificate":"/e.crt","private_key":"/e.key","ca":"/ca.crt",)"
                 R"("passphrase":"***"}}},)"
                 R"("odd":{"app_secret":"***","auth_key":"***"}})");
  for (std::string_view secret :
       {"literal-key", "NEW_CASCADE_KEY", "old.key", "a.secret", "B_SECRET", "eral", "TLS_PASS",
        "etcd-pw", "e.pass", "nested", "12345"}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(out).get(root), simdjson::SUCCESS) << out;
}

// Numbers are copied as written, strings keep their value (escapes and UTF-8 included),
// and names inside user maps (variables, mock headers) are data, not secret fields.
TEST(RedactedJson, KeepsEverythingElseExactly) {
  const std::string in =
      "{ \"n\" : [0, -0, 1.50, 1e3, -2.5E-7, 12582912, 18446744073709551615,"
      " -9223372036854775808, 1.7976931348623157e308],\n"
      "  \"t\": true, \"f\": false, \"z\": null, \"e\": {}, \"a\": [],\n"
      "  \"s\": [\"caf\\u00e9\", \"caf\xc3\xa9\", \"\\ud83d\\ude00\", \"\xe2\x82\xac\","
      " \"q\\\"b\\\\s\\/n\\nt\\tr\\rc\\u0001\\b\\f\", \"\"],\n"
      "  \"environments\": [{\"name\": \"RELEASE\", \"variables\": {\"password\": \"v1\","
      " \"auth_key\": \"kept\"}}],\n"
      "  \"mock\": {\"headers\": {\"app_secret\": \"shown\"}},\n"
      "  \"k\\u0065y\": \"escaped name\" }";
  const std::string out = redacted_json(in);
  EXPECT_EQ(out,
            "{\"n\":[0,-0,1.50,1e3,-2.5E-7,12582912,18446744073709551615,"
            "-9223372036854775808,1.7976931348623157e308],"
            "\"t\":true,\"f\":false,\"z\":null,\"e\":{},\"a\":[],"
            "\"s\":[\"caf\xc3\xa9\",\"caf\xc3\xa9\",\"\xf0\x9f\x98\x80\",\"\xe2\x82\xac\","
            "\"q\\\"b\\\\s/n\\nt\\tr\\rc\\u0001\\b\\f\",\"\"],"
            "\"environments\":[{\"name\":\"RELEASE\",\"variables\":{\"password\":\"v1\","
            "\"auth_key\":\"kept\"}}],"
            "\"mock\":{\"headers\":{\"app_secret\":\"shown\"}},"
            "\"key\":\"escaped name\"}");
  // The output parses to the same strings as the input.
  simdjson::dom::parser p1;
  simdjson::dom::parser p2;
  simdjson::dom::element a;
  simdjson::dom::element b;
  ASSERT_EQ(p1.parse(in).get(a), simdjson::SUCCESS);
  ASSERT_EQ(p2.parse(out).get(b), simdjson::SUCCESS) << out;
  for (int i = 0; i < 6; ++i) {
    std::string_view x;
    std::string_view y;
    ASSERT_EQ(a["s"].at(i).get(x), simdjson::SUCCESS);
    ASSERT_EQ(b["s"].at(i).get(y), simdjson::SUCCESS);
    EXPECT_EQ(x, y) << i;
  }
  uint64_t big = 0;
  ASSERT_EQ(b["n"].at(6).get(big), simdjson::SUCCESS);
  EXPECT_EQ(big, 18446744073709551615ull);
}

TEST(RedactedJson, InvalidJsonGivesNothing) {
  EXPECT_EQ(redacted_json("{"), "");
  EXPECT_EQ(redacted_json(R"({"a": [1, 2})"), "");
  EXPECT_EQ(redacted_json(""), "");
  EXPECT_EQ(redacted_json(R"({"a": "\ud800"})"), "");  // a lone surrogate
}

// The loader keeps the text it parsed; redacted, the example shows no secret spelling.
TEST_F(ConfigTest, LoadedConfigKeepsItsSourceForTheAdminApi) {
  LoadResult r = load_all(kExample);
  ASSERT_TRUE(r.ok()) << testing::PrintToString(strings(r));
  EXPECT_EQ(r.config->source, kExample);
  const std::string out = redacted_json(r.config->source);
  EXPECT_EQ(out.find("RINGWAY_CASCADE_KEY"), std::string::npos) << out;
  EXPECT_EQ(out.find("SHOP_WEB_SECRET"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("auth_key":"***")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("app_key":"k-123","app_secret":"***")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("private_key":"/etc/ringway/tls/gw.key")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("body":"{\"pong\":true}")"), std::string::npos) << out;
  // The redacted text is itself a valid configuration (with literal "***" secrets, too
  // short for a cascade key: the only error).
  EXPECT_EQ(strings(load_all(out)),
            Errors{"instance.cascade.auth_key: must be at least 16 bytes (got 3)"});
}

// ---- config_source and the shared objects (etcd) ----

constexpr std::string_view kSource =
    R"("config_source": {"etcd": {"endpoints": ["127.0.0.1:2379", "etcd-1.internal:2379"],
                                  "prefix": "/ringway/prod/", "timeout_ms": 2000}})";

TEST(ConfigSource, ReadsEtcdSettings) {
  LoadResult r = load_all(doc(std::string(kSource)));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(strings(r));
  ASSERT_TRUE(r.config->etcd);
  ASSERT_EQ(r.config->etcd->endpoints.size(), 2u);
  EXPECT_EQ(r.config->etcd->endpoints[1].host, "etcd-1.internal");
  EXPECT_EQ(r.config->etcd->endpoints[1].port, 2379);
  EXPECT_EQ(r.config->etcd->prefix, "/ringway/prod/");
  EXPECT_EQ(r.config->etcd->timeout_ms, 2000u);
  EXPECT_FALSE(load_all(doc()).config->etcd);
}

TEST(ConfigSource, ValidationErrors) {
  auto source = [](const std::string& etcd) {
    return doc(R"("config_source": {"etcd": )" + etcd + "}");
  };
  Errors e = errors_of(source(R"({"endpoints": ["127.0.0.1:2379"], "prefix": "/ringway/prod"})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("config_source.etcd.prefix: must start and end with \"/\"", 0), 0u) << e[0];
  e = errors_of(source(R"({"endpoints": ["127.0.0.1"], "prefix": "/p/"})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("config_source.etcd.endpoints[0]: must be host:port", 0), 0u) << e[0];
  e = errors_of(source(R"({"endpoints": ["127.0.0.1:0"], "prefix": "/p/"})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("config_source.etcd.endpoints[0]: ", 0), 0u) << e[0];
  e = errors_of(source(R"({"endpoints": [], "prefix": "/p/"})"));
  ASSERT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
  EXPECT_EQ(e[0], "config_source.etcd.endpoints: must have 1-16 entries (got 0)");
  e = errors_of(source(R"({"prefix": "/p/"})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("config_source.etcd.endpoints: ", 0), 0u) << e[0];
  e = errors_of(source(R"({"endpoints": ["127.0.0.1:2379"], "prefix": "/p q/"})"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("spaces or control characters"), std::string::npos) << e[0];
}

TEST(ConfigSource, SharedSectionsBesideItAreAnError) {
  std::string both = doc(std::string(kSource) + R"(, "environments": [{"name": "TEST"}], )" +
                         apis({api("a", "GET", "/a")}));
  Errors e = errors_of(both);
  ASSERT_EQ(e.size(), 2u) << ::testing::PrintToString(e);
  EXPECT_EQ(e[0].rfind("environments: comes from etcd when config_source.etcd is set", 0), 0u)
      << e[0];
  EXPECT_EQ(e[1].rfind("apis: comes from etcd", 0), 0u) << e[1];
  // An assembled document (the node's file plus etcd's objects) may hold both.
  LoadResult r = load_assembled(both, ".");
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(strings(r));
}

TEST(SplitShared, KeysAndMinifiedValuesInDocumentOrder) {
  std::vector<Error> errors;
  std::vector<SharedObject> objects = split_shared(kExample, &errors);
  EXPECT_TRUE(errors.empty());
  std::vector<std::string> keys;
  for (const SharedObject& o : objects) {
    keys.push_back(o.key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "environments/RELEASE", "environments/TEST", "apps/shop-web",
                      "channels/orders", "policies/orders-breaker", "apis/get_order", "apis/ping",
                      "bindings/orders-breaker.get_order.RELEASE"}));
  EXPECT_EQ(objects[1].value, R"({"name":"TEST","variables":{"version":"v2"}})");
  EXPECT_EQ(objects.back().value,
            R"({"policy":"orders-breaker","api":"get_order","environment":"RELEASE"})");
}

TEST(SplitShared, ObjectsWithoutAKeyAreReported) {
  std::vector<Error> errors;
  std::vector<SharedObject> objects = split_shared(
      R"({"apis": [{"name": "a"}, {"req_uri": "/"}, 3], "bindings": [{"policy": "p"}]})", &errors);
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].key, "apis/a");
  std::vector<std::string> e;
  for (const Error& x : errors) {
    e.push_back(x.str());
  }
  EXPECT_EQ(e, (std::vector<std::string>{
                   "apis[1]: needs a name to make its etcd key",
                   "apis[2]: needs a name to make its etcd key",
                   "bindings[0]: needs policy, api and environment to make its etcd key"}));
  errors.clear();
  EXPECT_TRUE(split_shared("[]", &errors).empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "must be a JSON object");
}

// The node's own file: no shared sections.
constexpr std::string_view kLocal =
    R"({"version": 1, "instance": {"id": "gw"},
        "config_source": {"etcd": {"endpoints": ["127.0.0.1:2379"], "prefix": "/r/"}}}
)";

TEST_F(ConfigTest, SplitThenAssembleLoadsTheSameObjects) {
  std::vector<Error> errors;
  std::map<std::string, std::string> objects;
  for (SharedObject& o : split_shared(kExample, &errors)) {
    objects[o.key] = o.value;
  }
  objects["_push"] = R"({"at":"x"})";  // reserved: skipped
  Assembled a = assemble(kLocal, "/r/", objects, &errors);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors.size());
  LoadResult r = internal::load_config_with(
      a.json, {".", internal::BuiltFeatures::all(), false, /*assembled=*/true});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(strings(r));
  EXPECT_EQ(r.config->apis.size(), 2u);
  EXPECT_EQ(r.config->bindings.size(), 1u);
  EXPECT_EQ(r.config->environments.size(), 2u);
  // Lists in key order: apis/get_order before apis/ping.
  EXPECT_EQ(r.config->apis[0].name, "get_order");
  EXPECT_NE(std::find(a.index_keys.begin(), a.index_keys.end(),
                      std::pair<std::string, std::string>{"apis[1]", "apis/ping"}),
            a.index_keys.end());
}

TEST(Assemble, BadObjectsAreReportedAtTheirKeys) {
  std::vector<Error> errors;
  std::map<std::string, std::string> objects = {{"apis/a", R"({"name": "b"})"},
                                                {"apis/x", "[1]"},
                                                {"things/x", "{}"},
                                                {"apis", "{}"},
                                                {"apis/a/b", R"({"name": "a/b"})"},
                                                {"environments/TEST", R"({"name":"TEST"})"}};
  Assembled a = assemble(R"({"version": 1})", "/r/", objects, &errors);
  std::vector<std::string> e;
  for (const Error& x : errors) {
    e.push_back(x.str());
  }
  ASSERT_EQ(e.size(), 5u) << ::testing::PrintToString(e);
  EXPECT_EQ(e[0].rfind("/r/apis: is not <section>/<name>", 0), 0u) << e[0];
  EXPECT_EQ(e[1], R"(/r/apis/a: name must equal the key's name "a" (got "b"))");
  EXPECT_EQ(e[2], "/r/apis/a/b: must be apis/<name>");
  EXPECT_EQ(e[3], "/r/apis/x: value must be a JSON object");
  EXPECT_EQ(e[4].rfind("/r/things/x: is not <section>/<name>", 0), 0u) << e[4];
  EXPECT_EQ(a.json, R"({"version": 1,"environments":[{"name":"TEST"}]})");
}

TEST(Assemble, ErrorPathsMapToKeys) {
  std::vector<Error> errors;
  std::map<std::string, std::string> objects = {
      {"apis/good", R"({"name":"good","req_method":"GET","req_uri":"/g",)"
                    R"("backend":{"url":"127.0.0.1:9","req_uri":"/"}})"},
      {"apis/worse", R"({"name":"worse","req_method":"GET","req_uri":"/w",)"
                     R"("backend":{"url":"127.0.0.1:9","req_uri":"/","retry_count":11}})"}};
  Assembled a = assemble(kLocal, "/r/", objects, &errors);
  ASSERT_TRUE(errors.empty());
  LoadResult r = load_assembled(a.json, ".");
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(strings(r));
  EXPECT_EQ(r.errors[0].path, "apis[1].backend.retry_count");
  map_error_paths(a, "/r/", &r.errors);
  EXPECT_EQ(r.errors[0].path, "/r/apis/worse.backend.retry_count");
  // Paths outside the shared lists stay; a longer index is not a prefix match.
  std::vector<Error> other = {{"instance.id", "x"}, {"apis[10]", "y"}, {"apis[1][0]", "z"}};
  map_error_paths(a, "/r/", &other);
  EXPECT_EQ(other[0].path, "instance.id");
  EXPECT_EQ(other[1].path, "apis[10]");
  EXPECT_EQ(other[2].path, "/r/apis/worse[0]");
}

}  // namespace
}  // namespace ringway::config
