// Issue 13: circuit-breaker policies (CONFIG.md "policies", "bindings", "Circuit-breaker
// numbers"; seeds/circuit-breaker.txt). The seed's script example is accepted verbatim; a
// backend that times out or fails trips the breaker after the threshold (counter and
// percentage modes, counts summed over the node's shards); while open the downgrade answers
// (mock, http, channel, passthrough, function sync/async, none: 503 JSON) with the
// X-Ringway-Downgrade header and without reaching the API's backend; it closes after
// open_breaker_time with counts reset; rules on reqPath keep their own backend and counts;
// scope share vs basic; state changes are logged; a reload keeps the state of an unchanged
// policy; invalid policies are rejected with their JSON path.
//
// Every test starts its own backends and gateway (breaker state must start closed).
#include <chrono>
#include <csignal>
#include <initializer_list>
#include <memory>
#include <sstream>

#include "channels.h"
#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kDowngradeHeader = "x-ringway-downgrade";
constexpr std::string_view kStatus500 = R"(["$context.statusCode","in","500,502"])";

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// ---- policy JSON (the seed's script format) ----

struct Trigger {
  std::string type = "condition";  // "timeout" | "condition"
  std::string mode = "counter";    // "counter" | "percentage"
  int threshold = 3;
  int window_s = 60;
  int open_s = 60;
  int percentage = 51;
  int min_calls = 1;
  std::string condition = std::string(kStatus500);  // JSON, for type "condition"
};

std::string TriggerJson(const Trigger& t) {
  std::string out = "{\"breaker_type\":" + JsonQuote(t.type) +
                    ",\"breaker_mode\":" + JsonQuote(t.mode) +
                    ",\"unhealthy_threshold\":" + std::to_string(t.threshold) +
                    ",\"time_window\":" + std::to_string(t.window_s) +
                    ",\"open_breaker_time\":" + std::to_string(t.open_s) +
                    ",\"unhealthy_percentage\":" + std::to_string(t.percentage) +
                    ",\"min_call_threshold\":" + std::to_string(t.min_calls);
  if (t.type == "condition") {
    out += ",\"unhealthy_condition\":" + t.condition;
  }
  return out + "}";
}

// Downgrade backends, with the seed's null members for the kinds not used.
std::string DowngradeJson(std::string_view type, std::string_view passthrough = "null",
                          std::string_view func = "null", std::string_view mock = "null",
                          std::string_view http = "null") {
  return "{\"type\":" + JsonQuote(type) + ",\"passthrough_infos\":" + std::string(passthrough) +
         ",\"func_info\":" + std::string(func) + ",\"mock_info\":" + std::string(mock) +
         ",\"http_info\":" + std::string(http) + ",\"http_vpc_info\":null}";
}

// `headers_json`: the seed's [{key, value}] list.
std::string MockDowngrade(int status, std::string_view body, std::string_view headers_json = "[]") {
  return DowngradeJson("mock", "null", "null",
                       "{\"status_code\":" + std::to_string(status) + ",\"result_content\":" +
                           JsonQuote(body) + ",\"headers\":" + std::string(headers_json) + "}");
}

std::string HttpDowngrade(std::string_view address, std::string_view method, std::string_view path,
                          std::string_view channel = "") {
  return DowngradeJson("http", "null", "null", "null",
                       "{\"isVpc\":" + std::string(channel.empty() ? "false" : "true") +
                           ",\"vpc_channel_id\":" + JsonQuote(channel) +
                           ",\"address\":" + JsonQuote(address) +
                           ",\"scheme\":\"HTTP\",\"method\":" + JsonQuote(method) +
                           ",\"path\":" + JsonQuote(path) + ",\"timeout\":3000}");
}

std::string PassthroughDowngrade(std::string_view infos_json) {
  return DowngradeJson("passthrough", infos_json);
}

std::string FunctionDowngrade(std::string_view urn, std::string_view invocation) {
  return DowngradeJson("function", "null",
                       "{\"function_urn\":" + JsonQuote(urn) +
                           ",\"invocation_type\":" + JsonQuote(invocation) + ",\"timeout\":3000}");
}

// A policy's content. `downgrade`: a downgrade backend's JSON or "null"; `extra`: more
// members without braces (downgrade_parameters, downgrade_rules).
std::string Content(const Trigger& t, std::string_view downgrade, std::string_view scope = "basic",
                    std::string_view extra = "") {
  return "{\"breaker_condition\":" + TriggerJson(t) + ",\"scope\":" + JsonQuote(scope) +
         ",\"downgrade_default\":" + std::string(downgrade) +
         (extra.empty() ? "" : "," + std::string(extra)) + "}";
}

// The top-level "policies" and "bindings" members (for ConfigSpec::extra): policy "cb"
// with `content`, bound to each of `apis` in RELEASE.
std::string PolicyMembers(std::string_view content, std::initializer_list<std::string_view> apis) {
  std::string bindings;
  for (std::string_view api : apis) {
    bindings += (bindings.empty() ? "" : ",") + std::string("{\"policy\":\"cb\",\"api\":") +
                JsonQuote(api) + ",\"environment\":\"RELEASE\"}";
  }
  return R"("policies":[{"name":"cb","type":"circuit_breaker","content":)" + std::string(content) +
         "}],\n  \"bindings\":[" + bindings + "]";
}

// The API of most tests: ANY /stub (prefix) proxied to the backend's /stub, no retries:
// "/stub/status/500" fails, "/stub/echo" answers with the request as JSON.
std::string OriginApi(const Backend& b) {
  return StubApi(b, R"("retry_count":0,"timeout_ms":3000)");
}

std::string ConfigWith(std::vector<std::string> apis, std::string policy_members) {
  ConfigSpec spec;
  spec.apis = std::move(apis);
  spec.extra = std::move(policy_members);
  return BuildConfig(spec);
}

// ---- assertions ----

// Answered by the API's backend (or by the gateway for a backend failure): `status`, no
// downgrade header.
::testing::AssertionResult Forwarded(const std::optional<Response>& r, int status) {
  ::testing::AssertionResult ok = HasStatus(r, status);
  if (ok && r->HasHeader(kDowngradeHeader)) {
    return ::testing::AssertionFailure()
           << "downgraded (" << kDowngradeHeader << ": " << r->Header(kDowngradeHeader)
           << ") while the breaker should be closed; body: " << r->body.substr(0, 300);
  }
  return ok;
}

// Answered by a downgrade: `status` and "x-ringway-downgrade: cb/<rule>".
::testing::AssertionResult Downgraded(const std::optional<Response>& r, int status,
                                      std::string_view rule = "default") {
  ::testing::AssertionResult ok = HasStatus(r, status);
  if (!ok) {
    return ok << "\n(expected a downgraded answer, rule " << rule << ")";
  }
  std::string want = "cb/" + std::string(rule);
  if (r->HeaderCount(kDowngradeHeader) != 1 || r->Header(kDowngradeHeader) != want) {
    return ::testing::AssertionFailure()
           << kDowngradeHeader << " is \"" << r->Header(kDowngradeHeader) << "\" ("
           << r->HeaderCount(kDowngradeHeader) << " times), want \"" << want
           << "\"; body: " << r->body.substr(0, 300);
  }
  return ::testing::AssertionSuccess();
}

// Whether a line of the gateway's log holds every one of `parts`.
bool HasLogLine(const Gateway& gw, const std::vector<std::string>& parts) {
  std::istringstream log(gw.Log());
  for (std::string line; std::getline(log, line);) {
    bool all = true;
    for (const std::string& p : parts) {
      all = all && line.find(p) != std::string::npos;
    }
    if (all) {
      return true;
    }
  }
  return false;
}

// A log line holding every one of `parts` appears within timeout_ms.
::testing::AssertionResult WaitLogLine(const Gateway& gw, std::vector<std::string> parts,
                                       int timeout_ms = 3000) {
  auto found = [&] { return HasLogLine(gw, parts); };
  if (PollUntil(found, timeout_ms)) {
    return ::testing::AssertionSuccess();
  }
  std::string want;
  for (const std::string& p : parts) {
    want += " [" + p + "]";
  }
  return ::testing::AssertionFailure() << "no log line with" << want << "; log tail:\n"
                                       << gw.LogTail();
}

// The "breaker open" line of policy cb for `api` and `rule`.
::testing::AssertionResult LoggedOpen(const Gateway& gw, std::string_view api,
                                      std::string_view rule = "default") {
  return WaitLogLine(
      gw, {"breaker open", "policy=cb", "api=" + std::string(api), "rule=" + std::string(rule)});
}

// `n` requests for `target` on `c`, each forwarded and answered `status`.
::testing::AssertionResult SendForwarded(Client& c, std::string_view target, int n, int status) {
  for (int i = 0; i < n; ++i) {
    ::testing::AssertionResult ok = Forwarded(c.Get(target), status);
    if (!ok) {
      return ok << "\n(request " << i + 1 << " of " << n << " for " << target << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- the seed's example ----

// seeds/circuit-breaker.txt, "Script Configuration Example", verbatim but for the http
// downgrade's address ("10.10.10.10" there).
std::string SeedExample(std::string_view address) {
  std::string seed = R"({
  "breaker_condition":{
    "breaker_type":"timeout",
    "breaker_mode":"counter",
    "unhealthy_threshold":30,
    "time_window":15,
    "open_breaker_time":15,
    "unhealthy_percentage":51,
    "min_call_threshold":20
  },
  "scope":"share",
  "downgrade_default":{
    "type":"http",
    "passthrough_infos":null,
    "func_info":null,
    "mock_info":null,
    "http_info":{
      "isVpc":false,
      "vpc_channel_id":"",
      "address":"10.10.10.10",
      "scheme":"HTTP",
      "method":"GET",
      "path":"/demo",
      "timeout":5000
    },
    "http_vpc_info":null
  },
  "downgrade_parameters":[
  {
    "name":"reqPath",
    "type":"path",
    "value":"path",
    "disabled":true,
    "focused":true,
    "id":"92002eqbpilg6g"
  },
  {
    "name":"method",
    "type":"method",
    "value":"method",
    "disabled":true,
    "focused":true,
    "id":"tuvxetsdqvcos8"
  }],
  "downgrade_rules":[
  {
    "rule_name":"rule-test1",
    "parameters":[
      "reqPath",
      "method"
    ],
    "match_regex":"[\"reqPath\",\"==\",\"/test\"]",
    "downgrade_backend":{
      "type":"mock",
      "passthrough_infos":null,
      "func_info":null,
      "mock_info":{
        "status_code":200,
        "result_content":"{status: ok}",
        "headers":[]
      },
      "http_info":null,
      "http_vpc_info":null
    },
    "breaker_condition":{
      "breaker_type":"timeout",
      "breaker_mode":"percentage",
      "unhealthy_threshold":30,
      "time_window":15,
      "open_breaker_time":15,
      "unhealthy_percentage":51,
      "min_call_threshold":20
    }
  }]
})";
  seed.replace(seed.find("10.10.10.10"), 11, address);
  return seed;
}

TEST(BreakerSeedTest, SeedScriptExampleIsAccepted) {
  Backend origin, fallback;
  ASSERT_TRUE(origin.Start("origin"));
  ASSERT_TRUE(fallback.Start("fallback"));
  std::string config =
      ConfigWith({OriginApi(origin)}, PolicyMembers(SeedExample(fallback.address()), {"stub"}));

  TempDir dir;
  CommandResult check = RunRingway({"check", "-c", dir.WriteFile("seed.json", config)});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  Gateway gw;
  ASSERT_TRUE(gw.Start(config));
  // Closed: the API's own backend answers.
  auto r = HttpGet(gw.port(), "/stub/echo");
  EXPECT_TRUE(Forwarded(r, 200));
  EXPECT_EQ(Who(r), "origin");
}

// ---- timeout trigger, mock downgrade, closing ----

class BreakerTimeoutTest : public ::testing::Test {
 protected:
  static constexpr int kTimeoutMs = 200;
  static constexpr int kThreshold = 3;

  // GET /slow reaches the backend's /delay/2000 with a 200 ms timeout and no retry: a 504.
  // GET /plain is not bound: the backend's echo.
  ::testing::AssertionResult Start(int open_s) {
    if (::testing::AssertionResult ok = origin_.Start("origin"); !ok) {
      return ok;
    }
    Trigger t;
    t.type = "timeout";
    t.threshold = kThreshold;
    t.open_s = open_s;
    std::string mock = MockDowngrade(299, R"({"degraded":true})",
                                     R"([{"key":"x-mock","value":"yes"},)"
                                     R"({"key":"content-type","value":"application/json"}])");
    std::string config = ConfigWith(
        {ProxyApi("slow", "GET", "/slow", origin_.address(), "/delay/2000", "",
                  R"("timeout_ms":)" + std::to_string(kTimeoutMs) + R"(,"retry_count":0)"),
         ProxyApi("plain", "GET", "/plain", origin_.address(), "/plain")},
        PolicyMembers(Content(t, mock), {"slow"}));
    return gw_.Start(config);
  }
  size_t SlowCalls() const { return origin_.RequestCount(" GET /delay/2000"); }
  // Every request the backend logged before this returns has been logged: a request to
  // the unbound API is answered by it after the gateway sent everything before.
  ::testing::AssertionResult BackendBarrier() {
    std::string target = "/plain?barrier=" + std::to_string(++barriers_);
    ::testing::AssertionResult ok = Forwarded(HttpGet(gw_.port(), target), 200);
    if (ok && !origin_.WaitRequest(" GET " + target, 2000)) {
      return ::testing::AssertionFailure() << target << " not logged by the backend";
    }
    return ok;
  }
  ::testing::AssertionResult Trip(Client& c) {
    ::testing::AssertionResult ok = SendForwarded(c, "/slow", kThreshold, 504);
    if (ok && !PollUntil([&] { return SlowCalls() == size_t{kThreshold}; }, 2000)) {
      return ::testing::AssertionFailure()
             << "the backend logged " << SlowCalls() << " calls, want " << kThreshold;
    }
    return ok;
  }
  static ::testing::AssertionResult IsMock(const std::optional<Response>& r) {
    ::testing::AssertionResult ok = Downgraded(r, 299);
    if (ok && (r->body != R"({"degraded":true})" || r->Header("x-mock") != "yes" ||
               r->Header("content-type") != "application/json")) {
      return ::testing::AssertionFailure()
             << "not the mock: body " << r->body << ", x-mock \"" << r->Header("x-mock")
             << "\", content-type \"" << r->Header("content-type") << "\"";
    }
    return ok;
  }

  Backend origin_;
  Gateway gw_;
  int barriers_ = 0;
};

TEST_F(BreakerTimeoutTest, TimeoutTripsAndMockAnswersWithoutReachingBackend) {
  ASSERT_TRUE(Start(60));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  EXPECT_TRUE(IsMock(c.Get("/slow")));
  EXPECT_TRUE(IsMock(HttpGet(gw_.port(), "/slow")));  // from a new connection too
  ASSERT_TRUE(BackendBarrier());
  EXPECT_EQ(SlowCalls(), size_t{kThreshold}) << "a downgraded request reached the backend";
  EXPECT_TRUE(LoggedOpen(gw_, "slow"));
  // An API that is not bound is not affected.
  EXPECT_TRUE(Forwarded(HttpGet(gw_.port(), "/plain"), 200));
}

TEST_F(BreakerTimeoutTest, BelowThresholdStaysClosed) {
  ASSERT_TRUE(Start(60));
  Client c(gw_.port());
  ASSERT_TRUE(SendForwarded(c, "/slow", kThreshold - 1, 504));
  // A gateway 404 (exact match: no API for /slow/...) is not counted.
  EXPECT_TRUE(IsGatewayError(c.Get("/slow/nothing-here"), 404));
  EXPECT_TRUE(Forwarded(c.Get("/slow"), 504)) << "opened before the threshold";
  EXPECT_TRUE(IsMock(c.Get("/slow"))) << "did not open at the threshold";
}

TEST_F(BreakerTimeoutTest, ClosesAfterOpenTime) {
  ASSERT_TRUE(Start(1));
  Client c(gw_.port());
  Clock::time_point before_trip = Clock::now();
  ASSERT_TRUE(Trip(c));
  ASSERT_TRUE(IsMock(c.Get("/slow")));
  ASSERT_TRUE(LoggedOpen(gw_, "slow"));
  // Mocks until open_breaker_time has passed, then the backend again.
  std::optional<Response> last;
  bool reached = PollUntil(
      [&] {
        last = c.Get("/slow");
        return !last || !last->HasHeader(kDowngradeHeader);
      },
      5000);
  ASSERT_TRUE(reached) << "still downgraded 5 s after opening for 1 s";
  EXPECT_TRUE(Forwarded(last, 504));
  EXPECT_GE(MsSince(before_trip), 1000) << "closed before open_breaker_time";
  EXPECT_TRUE(PollUntil([&] { return SlowCalls() == size_t{kThreshold} + 1; }, 2000))
      << SlowCalls() << " calls at the backend";
  EXPECT_TRUE(WaitLogLine(gw_, {"breaker closed", "policy=cb", "api=slow", "rule=default"}));
  // Counts were reset: one more timeout does not reopen it (the window is 60 s).
  EXPECT_TRUE(Forwarded(c.Get("/slow"), 504)) << "counts from before the opening were kept";
}

// ---- status conditions and the downgrade kinds ----

// A closed breaker on ANY /stub (prefix, backend's /stub, no retries) with a condition on
// 500/502, tripped by `threshold` 500s.
class BreakerDowngradeTest : public ::testing::Test {
 protected:
  static constexpr int kThreshold = 3;

  ::testing::AssertionResult Start(std::string_view downgrade, std::string extra_top = "") {
    if (::testing::AssertionResult ok = origin_.Start("origin"); !ok) {
      return ok;
    }
    Trigger t;
    t.threshold = kThreshold;
    std::string members = PolicyMembers(Content(t, downgrade), {"stub"});
    if (!extra_top.empty()) {
      members = extra_top + ",\n  " + members;
    }
    return gw_.Start(ConfigWith(
        {OriginApi(origin_), ProxyApi("plain", "GET", "/plain", origin_.address(), "/plain")},
        members));
  }
  // Every request the gateway sent the backend before this has been logged by it: a
  // request to the unbound API /plain, logged after the gateway sent everything before.
  ::testing::AssertionResult BackendBarrier() {
    std::string target = "/plain?barrier=" + std::to_string(++barriers_);
    ::testing::AssertionResult ok = Forwarded(HttpGet(gw_.port(), target), 200);
    if (ok && !origin_.WaitRequest(" GET " + target, 2000)) {
      return ::testing::AssertionFailure() << target << " not logged by the backend";
    }
    return ok;
  }
  ::testing::AssertionResult Trip(Client& c) {
    return SendForwarded(c, "/stub/status/500", kThreshold, 500);
  }
  size_t OriginCalls() const { return origin_.RequestCount(" /stub/"); }

  Backend origin_;
  Gateway gw_;
  int barriers_ = 0;
};

TEST_F(BreakerDowngradeTest, NoDowngradeAnswers503Json) {
  ASSERT_TRUE(Start("null"));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  ASSERT_TRUE(PollUntil([&] { return OriginCalls() == size_t{kThreshold}; }, 2000));
  auto r = c.Get("/stub/echo");
  EXPECT_TRUE(IsGatewayError(r, 503));
  EXPECT_TRUE(Downgraded(r, 503));
  EXPECT_EQ(JsonString(r ? r->body : "", "/error_code").value_or("<none>"), "RW.5031");
  EXPECT_TRUE(LoggedOpen(gw_, "stub"));
  // The 503 came from the gateway: nothing more reached the backend.
  ASSERT_TRUE(BackendBarrier());
  EXPECT_EQ(OriginCalls(), size_t{kThreshold});
}

TEST_F(BreakerDowngradeTest, HttpDowngradeGoesToOtherBackend) {
  Backend fallback;
  ASSERT_TRUE(fallback.Start("fallback"));
  ASSERT_TRUE(Start(HttpDowngrade(fallback.address(), "POST", "/fallback/path")));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  EXPECT_EQ(fallback.RequestCount("req "), 0u) << "the fallback was called while closed";
  auto r = c.Get("/stub/echo?q=1&r=2");
  ASSERT_TRUE(Downgraded(r, 200));
  EXPECT_EQ(Who(r), "fallback");
  EXPECT_EQ(EchoField(*r, "method"), "POST") << "http_info.method";
  EXPECT_EQ(EchoField(*r, "target"), "/fallback/path?q=1&r=2")
      << "http_info.path with the request's query string";
  EXPECT_TRUE(fallback.WaitRequest(" POST /fallback/path?q=1&r=2", 2000));
  ASSERT_TRUE(BackendBarrier());
  EXPECT_EQ(OriginCalls(), size_t{kThreshold}) << "the API's backend was called while open";
}

TEST_F(BreakerDowngradeTest, FailedHttpDowngradeStillCarriesTheDowngradeHeader) {
  std::string dead = "127.0.0.1:" + std::to_string(UnusedPort());
  ASSERT_TRUE(Start(HttpDowngrade(dead, "GET", "/fallback")));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  auto r = c.Get("/stub/echo");
  EXPECT_TRUE(IsGatewayError(r, 502));  // the downgrade backend refused the connection
  EXPECT_TRUE(Downgraded(r, 502));
  // Not counted either way: the breaker stays open and the origin unreached.
  ASSERT_TRUE(BackendBarrier());
  EXPECT_EQ(OriginCalls(), size_t{kThreshold});
}

TEST_F(BreakerDowngradeTest, HttpDowngradeWithEmptyMethodKeepsTheRequestsMethod) {
  Backend fallback;
  ASSERT_TRUE(fallback.Start("fallback"));
  ASSERT_TRUE(Start(HttpDowngrade(fallback.address(), "", "/fallback")));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  auto r = c.Request("DELETE", "/stub/thing");
  ASSERT_TRUE(Downgraded(r, 200));
  EXPECT_EQ(Who(r), "fallback");
  EXPECT_EQ(EchoField(*r, "method"), "DELETE");
  EXPECT_EQ(EchoField(*r, "target"), "/fallback");
}

TEST_F(BreakerDowngradeTest, ChannelDowngradeGoesToTheChannelsMember) {
  Backend member;
  ASSERT_TRUE(member.Start("member"));
  std::string channels = ChannelsMember({{"fallback_pool", "wrr", {MemberOf(member)}}});
  ASSERT_TRUE(Start(HttpDowngrade("", "GET", "/from-channel", "fallback_pool"), channels));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  auto r = c.Get("/stub/echo");
  ASSERT_TRUE(Downgraded(r, 200));
  EXPECT_EQ(Who(r), "member");
  EXPECT_EQ(EchoField(*r, "target"), "/from-channel");
}

TEST_F(BreakerDowngradeTest, PassthroughAddsHeaders) {
  ASSERT_TRUE(Start(PassthroughDowngrade(
      R"([{"key":"x-downgraded","value":"yes"},{"key":"x-breaker","value":"cb"}])")));
  Client c(gw_.port());
  auto closed = c.Get("/stub/echo");
  ASSERT_TRUE(Forwarded(closed, 200));
  EXPECT_EQ(EchoHeader(*closed, "x-downgraded"), "<absent>") << "added while closed";
  ASSERT_TRUE(Trip(c));
  auto r = c.Get("/stub/echo/passed?k=v");
  ASSERT_TRUE(Downgraded(r, 200));
  EXPECT_EQ(Who(r), "origin") << "passthrough goes to the API's own backend";
  EXPECT_EQ(EchoField(*r, "target"), "/stub/echo/passed?k=v");
  EXPECT_EQ(EchoHeader(*r, "x-downgraded"), "yes");
  EXPECT_EQ(EchoHeader(*r, "x-breaker"), "cb");
  // The breaker stays open, and every passthrough answer, a 500 too, is a downgrade.
  EXPECT_TRUE(Downgraded(c.Get("/stub/status/500"), 500));
  EXPECT_TRUE(Downgraded(c.Get("/stub/echo"), 200));
}

TEST_F(BreakerDowngradeTest, FunctionSyncRelaysTheFunctionsAnswer) {
  Backend fn;
  ASSERT_TRUE(fn.Start("fn"));
  ASSERT_TRUE(Start(FunctionDowngrade("http://" + fn.address() + "/fn/sync", "sync")));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  EXPECT_EQ(fn.RequestCount("req "), 0u) << "the function was called while closed";
  auto r = c.Get("/stub/echo");
  ASSERT_TRUE(Downgraded(r, 200));
  EXPECT_EQ(Who(r), "fn") << "the function's answer is relayed";
  EXPECT_EQ(EchoField(*r, "target").rfind("/fn/sync", 0), 0u) << EchoField(*r, "target");
  EXPECT_TRUE(Counted(fn, " /fn/sync", 1));
  ASSERT_TRUE(BackendBarrier());
  EXPECT_EQ(OriginCalls(), size_t{kThreshold}) << "the API's backend was called while open";
}

TEST_F(BreakerDowngradeTest, FunctionAsyncAnswers202AtOnceAndStillCalls) {
  Backend fn;
  ASSERT_TRUE(fn.Start("fn"));
  // The function answers after 1.5 s; the client must not wait for it.
  ASSERT_TRUE(Start(FunctionDowngrade("http://" + fn.address() + "/fn/delay/1500", "async")));
  Client c(gw_.port());
  ASSERT_TRUE(Trip(c));
  Clock::time_point sent = Clock::now();
  auto r = c.Get("/stub/echo");
  int64_t waited = MsSince(sent);
  ASSERT_TRUE(Downgraded(r, 202));
  EXPECT_LT(waited, 1000) << "the 202 waited for the function";
  EXPECT_EQ(r->body.find("\"server\":\"fn\""), std::string::npos) << "the function's answer";
  EXPECT_TRUE(fn.WaitRequest(" /fn/delay/1500", 3000)) << "the function was not called";
  // The connection stays usable.
  EXPECT_TRUE(Downgraded(c.Get("/stub/echo"), 202));
  EXPECT_TRUE(PollUntil([&] { return fn.RequestCount(" /fn/delay/1500") == 2; }, 3000));
}

// Outcomes are counted once per client request: a GET reset by the backend is retried
// once (the default retry_count), and both attempts make one unhealthy outcome.
TEST(BreakerCountingTest, RetriedRequestCountsOnce) {
  Backend reset;
  ASSERT_TRUE(reset.Start(BackendOptions{.name = "reset", .extra_args = {"--reset-all"}}));
  Trigger t;
  t.threshold = 2;
  std::string config = ConfigWith({ProxyApi("flaky", "GET", "/flaky", reset.address(), "/flaky")},
                                  PolicyMembers(Content(t, "null"), {"flaky"}));
  Gateway gw;
  ASSERT_TRUE(gw.Start(config));
  Client c(gw.port());
  EXPECT_TRUE(Forwarded(c.Get("/flaky"), 502));
  ASSERT_TRUE(PollUntil([&] { return reset.RequestCount(" GET /flaky") == 2; }, 2000))
      << "the GET was not retried (" << reset.RequestCount(" GET /flaky")
      << " attempts): the test proves nothing";
  EXPECT_TRUE(Forwarded(c.Get("/flaky"), 502)) << "each attempt was counted";
  EXPECT_TRUE(Downgraded(c.Get("/flaky"), 503));
}

// Gateway-rejected requests (404 for a method the API does not take) are not counted.
TEST(BreakerCountingTest, GatewayRejectionsAreNotCounted) {
  Trigger t;
  t.threshold = 2;
  t.condition = R"(["$context.statusCode","in","404,500"])";
  Backend origin;
  ASSERT_TRUE(origin.Start("origin"));
  std::string config = ConfigWith({ProxyApi("getter", "GET", "/getter", origin.address(),
                                            "/status/500", "", R"("retry_count":0)")},
                                  PolicyMembers(Content(t, "null"), {"getter"}));
  Gateway gw;
  ASSERT_TRUE(gw.Start(config));
  Client c(gw.port());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(IsGatewayError(c.Request("POST", "/getter"), 404));
    EXPECT_TRUE(IsGatewayError(c.Get("/getter/deeper"), 404));
  }
  EXPECT_TRUE(Forwarded(c.Get("/getter"), 500)) << "404s were counted";
  EXPECT_TRUE(Forwarded(c.Get("/getter"), 500));
  EXPECT_TRUE(Downgraded(c.Get("/getter"), 503));
}

// The condition's latency form: a backend slower than 300 ms is unhealthy though it
// answers 200; the OR form in a string.
TEST(BreakerConditionTest, LatencyConditionInAStringWithOr) {
  Backend origin;
  ASSERT_TRUE(origin.Start("origin"));
  Trigger t;
  t.threshold = 2;
  t.condition = JsonQuote(
      R"(["OR",["$context.statusCode","in","503"],["$context.backendResponseTime",">",300]])");
  std::string config = ConfigWith(
      {OriginApi(origin)}, PolicyMembers(Content(t, MockDowngrade(200, "mocked")), {"stub"}));
  Gateway gw;
  ASSERT_TRUE(gw.Start(config));
  Client c(gw.port());
  // Fast answers, 500 included, are healthy under this condition.
  EXPECT_TRUE(SendForwarded(c, "/stub/status/500", 3, 500));
  EXPECT_TRUE(SendForwarded(c, "/stub/delay/10", 3, 200));
  EXPECT_TRUE(Forwarded(c.Get("/stub/delay/500"), 200));
  EXPECT_TRUE(Forwarded(c.Get("/stub/status/503"), 503));
  auto r = c.Get("/stub/echo");
  EXPECT_TRUE(Downgraded(r, 200));
  EXPECT_EQ(r ? r->body : "", "mocked");
}

// ---- rules ----

// One API for every path (/{rest+} -> the backend's /status/500/{rest}: every request
// fails with 500); the seed's reqPath rule with its own mock and a threshold of 2, the
// default with a threshold of 3 and another mock.
TEST(BreakerRuleTest, RuleOnPathHasOwnMockAndCounts) {
  Backend origin;
  ASSERT_TRUE(origin.Start("origin"));
  Trigger def;
  def.threshold = 3;
  Trigger rule;
  rule.threshold = 2;
  std::string rules =
      R"("downgrade_parameters":[)"
      R"({"name":"reqPath","type":"path","value":"path","disabled":true,"focused":true,"id":"a1"},)"
      R"({"name":"method","type":"method","value":"method","disabled":true,"focused":true,"id":"a2"}],)"
      R"("downgrade_rules":[{"rule_name":"rule-test1","parameters":["reqPath","method"],)"
      R"("match_regex":"[\"reqPath\",\"==\",\"/test\"]","downgrade_backend":)" +
      MockDowngrade(200, "{status: ok}") + R"(,"breaker_condition":)" + TriggerJson(rule) + "}]";
  std::string content = Content(def, MockDowngrade(299, "default-mock"), "basic", rules);
  std::string config = ConfigWith({ProxyApi("all", "GET", "/{rest+}", origin.address(),
                                            "/status/500/{rest}", "", R"("retry_count":0)")},
                                  PolicyMembers(content, {"all"}));
  Gateway gw;
  ASSERT_TRUE(gw.Start(config));
  Client c(gw.port());
  ASSERT_TRUE(SendForwarded(c, "/other", 2, 500));  // default: 2 of 3
  // The rule's request counts under the rule only: were it counted under the default
  // too, the default would now be open.
  ASSERT_TRUE(SendForwarded(c, "/test", 1, 500));  // rule: 1 of 2
  ASSERT_TRUE(Forwarded(c.Get("/other"), 500)) << "a rule's outcome was counted by the default";
  // Default: 3 of 3, open. The rule's breaker is its own: still closed.
  EXPECT_TRUE(Forwarded(c.Get("/test"), 500)) << "the default's opening opened /test too";
  // Rule: 2 of 2, open.
  auto r = c.Get("/test");
  ASSERT_TRUE(Downgraded(r, 200, "rule-test1"));
  EXPECT_EQ(r->body, "{status: ok}");
  auto d = c.Get("/other");
  ASSERT_TRUE(Downgraded(d, 299, "default"));
  EXPECT_EQ(d->body, "default-mock");
  // "/test/x" is not "/test": the default.
  EXPECT_TRUE(Downgraded(c.Get("/test/x"), 299, "default"));
  EXPECT_TRUE(LoggedOpen(gw, "all", "rule-test1"));
  EXPECT_TRUE(LoggedOpen(gw, "all", "default"));
}

// A rule without breaker_condition or downgrade_backend uses the default trigger and the
// default downgrade, with its own counts; a rule's failures open only that rule.
TEST(BreakerRuleTest, RuleWithoutTriggerOrBackendUsesTheDefaults) {
  Backend origin;
  ASSERT_TRUE(origin.Start("origin"));
  Trigger def;
  def.threshold = 2;
  std::string rules = R"("downgrade_parameters":[{"name":"reqPath","type":"path","value":"path"}],)"
                      R"("downgrade_rules":[{"rule_name":"only-test","parameters":["reqPath"],)"
                      R"("match_regex":"[\"reqPath\",\"==\",\"/test\"]","downgrade_backend":null,)"
                      R"("breaker_condition":null}])";
  std::string content = Content(def, MockDowngrade(299, "default-mock"), "basic", rules);
  std::string config = ConfigWith({ProxyApi("all", "GET", "/{rest+}", origin.address(),
                                            "/status/500/{rest}", "", R"("retry_count":0)")},
                                  PolicyMembers(content, {"all"}));
  Gateway gw;
  ASSERT_TRUE(gw.Start(config));
  Client c(gw.port());
  ASSERT_TRUE(SendForwarded(c, "/test", 2, 500));
  auto r = c.Get("/test");
  ASSERT_TRUE(Downgraded(r, 299, "only-test"));
  EXPECT_EQ(r->body, "default-mock");
  EXPECT_TRUE(Forwarded(c.Get("/other"), 500)) << "the rule's opening opened the default";
}

// ---- scope ----

class BreakerScopeTest : public ::testing::Test {
 protected:
  // Two APIs on one backend, both bound to cb (threshold 3) with `scope`.
  ::testing::AssertionResult Start(std::string_view scope) {
    if (::testing::AssertionResult ok = origin_.Start("origin"); !ok) {
      return ok;
    }
    Trigger t;
    t.threshold = 3;
    std::string content = Content(t, MockDowngrade(299, "mocked"), scope);
    return gw_.Start(ConfigWith({ProxyApi("api_a", "GET", "/a", origin_.address(), "/a",
                                          R"("match_mode":"prefix")", R"("retry_count":0)"),
                                 ProxyApi("api_b", "GET", "/b", origin_.address(), "/b",
                                          R"("match_mode":"prefix")", R"("retry_count":0)")},
                                PolicyMembers(content, {"api_a", "api_b"})));
  }

  Backend origin_;
  Gateway gw_;
};

TEST_F(BreakerScopeTest, ShareOpensEveryBoundApi) {
  ASSERT_TRUE(Start("share"));
  Client c(gw_.port());
  ASSERT_TRUE(SendForwarded(c, "/a/status/500", 2, 500));
  ASSERT_TRUE(SendForwarded(c, "/b/status/500", 1, 500));  // 3 together: open
  EXPECT_TRUE(Downgraded(c.Get("/b/echo"), 299));
  EXPECT_TRUE(Downgraded(c.Get("/a/echo"), 299));
  EXPECT_TRUE(WaitLogLine(gw_, {"breaker open", "policy=cb"}));
}

TEST_F(BreakerScopeTest, BasicKeepsEachApiApart) {
  ASSERT_TRUE(Start("basic"));
  Client c(gw_.port());
  ASSERT_TRUE(SendForwarded(c, "/a/status/500", 2, 500));
  ASSERT_TRUE(SendForwarded(c, "/b/status/500", 2, 500)) << "b counted a's failures";
  ASSERT_TRUE(Forwarded(c.Get("/a/status/500"), 500));  // a: 3, open
  EXPECT_TRUE(Downgraded(c.Get("/a/echo"), 299));
  auto b = c.Get("/b/echo");
  EXPECT_TRUE(Forwarded(b, 200)) << "a's opening opened b";
  EXPECT_TRUE(LoggedOpen(gw_, "api_a"));
  EXPECT_FALSE(HasLogLine(gw_, {"breaker open", "api=api_b"})) << gw_.LogTail();
}

// ---- node-wide counts ----

// The shard that served the last debug-logged gateway error ("shard N: 404 RW.4040 ...")
// of a request on `c`; -1 if unknown.
int ShardOf(Gateway& gw, Client& c) {
  auto tagged = [&](int shard) {
    return gw.LogCount("shard " + std::to_string(shard) + ": 404 RW.4040");
  };
  size_t before0 = tagged(0), before1 = tagged(1);
  if (!IsGatewayError(c.Get("/no-api-here"), 404)) {
    return -1;
  }
  if (!PollUntil([&] { return tagged(0) + tagged(1) > before0 + before1; }, 2000)) {
    return -1;
  }
  return tagged(0) > before0 ? 0 : 1;
}

TEST(BreakerShardsTest, TwoShardsTripNodeWideThreshold) {
  // Connections refused (502 RW.5020, no retry) are unhealthy; threshold 4, no downgrade.
  Trigger t;
  t.threshold = 4;
  std::string dead = "127.0.0.1:" + std::to_string(UnusedPort());
  std::string config =
      ConfigWith({ProxyApi("dead", "GET", "/dead", dead, "/dead", "", R"("retry_count":0)")},
                 PolicyMembers(Content(t, "null"), {"dead"}));
  Gateway gw;
  ASSERT_TRUE(gw.Start(config, GatewayOptions{.shards = 2}));

  // A kept-alive connection on each shard (connections are spread by the kernel: open
  // them until both shards have one).
  std::unique_ptr<Client> on[2];
  for (int i = 0; i < 40 && (!on[0] || !on[1]); ++i) {
    auto c = std::make_unique<Client>(gw.port());
    int shard = ShardOf(gw, *c);
    ASSERT_GE(shard, 0) << "no \"shard N: 404 RW.4040\" debug line; log:\n" << gw.LogTail();
    if (!on[shard]) {
      on[shard] = std::move(c);
    }
  }
  ASSERT_TRUE(on[0] && on[1]) << "40 connections all went to one shard";

  auto failures_on = [&](int shard) {
    return gw.LogCount("shard " + std::to_string(shard) + ": 502 RW.5020");
  };
  // 2 + 2 unhealthy outcomes: no shard alone reaches 4.
  EXPECT_TRUE(Forwarded(on[0]->Get("/dead"), 502));
  EXPECT_TRUE(Forwarded(on[1]->Get("/dead"), 502));
  EXPECT_TRUE(Forwarded(on[0]->Get("/dead"), 502));
  EXPECT_TRUE(Forwarded(on[1]->Get("/dead"), 502)) << "opened after 3 unhealthy outcomes";
  EXPECT_TRUE(PollUntil([&] { return failures_on(0) == 2 && failures_on(1) == 2; }, 2000))
      << "502s by shard: " << failures_on(0) << " + " << failures_on(1) << "\n"
      << gw.LogTail();
  // The fourth opened it for both shards.
  EXPECT_TRUE(Downgraded(on[0]->Get("/dead"), 503));
  EXPECT_TRUE(Downgraded(on[1]->Get("/dead"), 503));
  EXPECT_TRUE(LoggedOpen(gw, "dead"));
  EXPECT_EQ(failures_on(0) + failures_on(1), 4u);
}

// ---- percentage mode ----

class BreakerPercentageTest : public ::testing::Test {
 protected:
  // Window 1 s, at least 4 calls, 50 % of 500s.
  ::testing::AssertionResult Start() {
    if (::testing::AssertionResult ok = origin_.Start("origin"); !ok) {
      return ok;
    }
    Trigger t;
    t.mode = "percentage";
    t.window_s = 1;
    t.min_calls = 4;
    t.percentage = 50;
    t.condition = R"(["$context.statusCode","in","500"])";
    return gw_.Start(ConfigWith({OriginApi(origin_)},
                                PolicyMembers(Content(t, MockDowngrade(299, "mocked")), {"stub"})));
  }

  Backend origin_;
  Gateway gw_;
};

TEST_F(BreakerPercentageTest, PercentageOpensAtWindowEnd) {
  ASSERT_TRUE(Start());
  Client c(gw_.port());
  Clock::time_point start = Clock::now();
  ASSERT_TRUE(SendForwarded(c, "/stub/status/500", 2, 500));
  ASSERT_TRUE(SendForwarded(c, "/stub/echo", 2, 200));
  // 2 of 4 (50 %, min calls reached), but the window has not ended.
  if (MsSince(start) < 700) {
    EXPECT_TRUE(Forwarded(c.Get("/stub/status/500"), 500)) << "opened before the window's end";
  }
  // More 500s only raise the share; the first downgrade comes once the window ended.
  std::optional<Response> last;
  bool opened = PollUntil(
      [&] {
        last = c.Get("/stub/status/500");
        return !last || last->HasHeader(kDowngradeHeader);
      },
      5000);
  ASSERT_TRUE(opened) << "not open 5 s after a window of 1 s with 50 % failures";
  EXPECT_TRUE(Downgraded(last, 299));
  // The gateway reads its clock once per loop turn, in whole ms: allow for that granularity.
  EXPECT_GE(MsSince(start), 990) << "opened before the window's end";
  EXPECT_TRUE(LoggedOpen(gw_, "stub"));
}

TEST_F(BreakerPercentageTest, BelowPercentageStaysClosed) {
  ASSERT_TRUE(Start());
  Client c(gw_.port());
  Clock::time_point start = Clock::now();
  ASSERT_TRUE(SendForwarded(c, "/stub/status/500", 1, 500));
  // 1 of 4+ (25 % and less) in the first window, then none: never opens. Requests take
  // 50 ms each at the backend, for 2.5 s (two windows and a half).
  int sent = 0;
  while (MsSince(start) < 2500) {
    ASSERT_TRUE(Forwarded(c.Get("/stub/delay/50"), 200)) << "after " << sent << " requests";
    ++sent;
  }
  EXPECT_FALSE(gw_.LogContains("breaker open")) << gw_.LogTail();
  // The policy is live: a window of 500s only opens it at that window's end.
  std::optional<Response> last;
  bool opened = PollUntil(
      [&] {
        last = c.Get("/stub/status/500");
        return !last || last->HasHeader(kDowngradeHeader);
      },
      4000);
  EXPECT_TRUE(opened) << "a window of 500s did not open the breaker";
  EXPECT_TRUE(Downgraded(last, 299));
}

// ---- reload ----

class BreakerReloadTest : public ::testing::Test {
 protected:
  // Threshold 3 on /stub, mock `mock_body`; `fresh`: an extra mock API /fresh.
  std::string Config(std::string_view mock_body, bool fresh, int time_window = 60) const {
    Trigger t;
    t.window_s = time_window;
    std::vector<std::string> apis = {OriginApi(origin_)};
    if (fresh) {
      apis.push_back(MockApi("fresh", "GET", "/fresh", "fresh"));
    }
    return ConfigWith(apis, PolicyMembers(Content(t, MockDowngrade(299, mock_body)), {"stub"}));
  }
  void SetUp() override {
    ASSERT_TRUE(origin_.Start("origin"));
    ASSERT_TRUE(gw_.Start(Config("v1", false)));
    Client c(gw_.port());
    ASSERT_TRUE(SendForwarded(c, "/stub/status/500", 3, 500));
    auto r = c.Get("/stub/echo");
    ASSERT_TRUE(Downgraded(r, 299));
    ASSERT_EQ(r->body, "v1");
  }
  // Publishes `config` (with /fresh) and waits until /fresh answers on `c` (whose shard
  // then serves the new configuration).
  ::testing::AssertionResult Reload(const std::string& config, Client& c) {
    gw_.WriteConfig(config);
    gw_.Signal(SIGHUP);
    if (!gw_.WaitLog("reload ok generation=", 5000)) {
      return ::testing::AssertionFailure() << "no reload ok:\n" << gw_.LogTail();
    }
    if (!PollUntil(
            [&] {
              auto r = c.Get("/fresh");
              if (!r || r->Header("connection") == "close") {
                c.Close();
              }
              return r && r->status == 200;
            },
            5000)) {
      return ::testing::AssertionFailure() << "/fresh not served after the reload";
    }
    return ::testing::AssertionSuccess();
  }

  Backend origin_;
  Gateway gw_;
};

TEST_F(BreakerReloadTest, ReloadKeepsOpenStateForUnchangedPolicy) {
  Client c(gw_.port());
  ASSERT_TRUE(Reload(Config("v1", true), c));
  auto r = c.Get("/stub/echo");
  EXPECT_TRUE(Downgraded(r, 299)) << "the reload closed an unchanged policy's breaker";
  EXPECT_EQ(origin_.RequestCount(" /stub/echo"), 0u);
}

TEST_F(BreakerReloadTest, ReloadResetsChangedPolicy) {
  Client c(gw_.port());
  ASSERT_TRUE(Reload(Config("v2", true), c));
  EXPECT_TRUE(Forwarded(c.Get("/stub/echo"), 200)) << "a changed policy kept its open state";
  // Counts were reset too: 2 more failures do not open it.
  EXPECT_TRUE(SendForwarded(c, "/stub/status/500", 2, 500));
  EXPECT_TRUE(Forwarded(c.Get("/stub/echo"), 200));
  EXPECT_TRUE(SendForwarded(c, "/stub/status/500", 1, 500));
  auto r = c.Get("/stub/echo");
  EXPECT_TRUE(Downgraded(r, 299));
  EXPECT_EQ(r ? r->body : "", "v2");
}

TEST_F(BreakerReloadTest, BadPolicyReloadKeepsRunningConfig) {
  gw_.WriteConfig(Config("v1", true, 0));
  gw_.Signal(SIGHUP);
  ASSERT_TRUE(gw_.WaitLog("reload failed", 5000)) << gw_.LogTail();
  EXPECT_TRUE(gw_.LogContains("policies[0].content.breaker_condition.time_window"))
      << gw_.LogTail();
  EXPECT_TRUE(IsGatewayError(HttpGet(gw_.port(), "/fresh"), 404)) << "the bad config was published";
  EXPECT_TRUE(Downgraded(HttpGet(gw_.port(), "/stub/echo"), 299)) << "the breaker state was lost";
  EXPECT_TRUE(gw_.running());
}

TEST_F(BreakerReloadTest, ReloadThatRemovesABoundPolicyIsRejectedWithTheBindingsPath) {
  // The policy is gone, its binding stays: "bindings[0].policy: unknown policy".
  std::string config = Config("v1", true);
  const std::string policies_start = "\"policies\":";
  size_t from = config.find(policies_start);
  size_t to = config.find("\"bindings\":", from);
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  config.replace(from, to - from, "\"policies\": [],\n  ");
  gw_.WriteConfig(config);
  gw_.Signal(SIGHUP);
  ASSERT_TRUE(gw_.WaitLog("reload failed", 5000)) << gw_.LogTail();
  EXPECT_TRUE(gw_.LogContains("bindings[0].policy: unknown policy \"cb\"")) << gw_.LogTail();
  EXPECT_TRUE(Downgraded(HttpGet(gw_.port(), "/stub/echo"), 299)) << "the running policy was lost";
}

// ---- ringway check ----

class BreakerCheckTest : public ::testing::Test {
 protected:
  // `ringway check` with policy cb (`content`) bound to the API "stub"; output in `output`.
  int Check(std::string_view content, std::string bindings_override = "") {
    std::string members = PolicyMembers(content, {"stub"});
    if (!bindings_override.empty()) {
      members = R"("policies":[{"name":"cb","type":"circuit_breaker","content":)" +
                std::string(content) + "}],\n  " + bindings_override;
    }
    std::string config =
        ConfigWith({ProxyApi("stub", "ANY", "/stub", "127.0.0.1:9", "/stub")}, members);
    CommandResult r = RunRingway({"check", "-c", dir_.WriteFile("check.json", config)});
    output = r.out + r.err;
    return r.exit_code;
  }
  bool Has(std::string_view s) const { return output.find(s) != std::string::npos; }

  TempDir dir_;
  std::string output;
};

TEST_F(BreakerCheckTest, ValidPolicyIsAccepted) {
  EXPECT_EQ(Check(Content(Trigger{}, MockDowngrade(200, "ok"))), 0) << output;
  EXPECT_FALSE(Has("error:")) << output;
}

TEST_F(BreakerCheckTest, BadPolicyRejectedWithPath) {
  Trigger zero_window;
  zero_window.window_s = 0;
  EXPECT_EQ(Check(Content(zero_window, "null")), 1) << output;
  EXPECT_TRUE(
      Has("error: policies[0].content.breaker_condition.time_window: must be between 1 "
          "and 3600 (got 0)"))
      << output;

  Trigger long_open;
  long_open.open_s = 3601;
  EXPECT_EQ(Check(Content(long_open, "null")), 1) << output;
  EXPECT_TRUE(Has("error: policies[0].content.breaker_condition.open_breaker_time: ")) << output;

  Trigger bad_type;
  bad_type.type = "latency";
  EXPECT_EQ(Check(Content(bad_type, "null")), 1) << output;
  EXPECT_TRUE(Has("error: policies[0].content.breaker_condition.breaker_type: ")) << output;

  Trigger bad_pct;
  bad_pct.percentage = 101;
  EXPECT_EQ(Check(Content(bad_pct, "null")), 1) << output;
  EXPECT_TRUE(Has("error: policies[0].content.breaker_condition.unhealthy_percentage: ")) << output;

  EXPECT_EQ(Check(Content(Trigger{}, DowngradeJson("carrier-pigeon"))), 1) << output;
  EXPECT_TRUE(Has("error: policies[0].content.downgrade_default.type: ")) << output;
}

TEST_F(BreakerCheckTest, BindingToUnknownPolicyOrApiRejectedWithPath) {
  EXPECT_EQ(Check(Content(Trigger{}, "null"),
                  R"("bindings":[{"policy":"nope","api":"stub","environment":"RELEASE"}])"),
            1)
      << output;
  EXPECT_TRUE(Has("error: bindings[0].policy")) << output;
  EXPECT_EQ(Check(Content(Trigger{}, "null"),
                  R"("bindings":[{"policy":"cb","api":"nope","environment":"RELEASE"}])"),
            1)
      << output;
  EXPECT_TRUE(Has("error: bindings[0].api")) << output;
}

}  // namespace
}  // namespace ringway::integration
