// Issue 16: 50 SIGHUP reloads, alternating valid and invalid files, while ringway-load keeps
// 64 connections busy on a channel API: no request fails; the health state (a member the
// checks marked down stays down: requests would reach it otherwise) and the breaker state
// (an open breaker stays open) survive every valid reload; ringway_config_generation moves
// only on valid files; ringway_reloads_total{result} counts exactly what was sent. State is
// read from the admin listener's /metrics (docs/admin.md). Skipped when the build has no
// ringway-load (-Dbench=false).
#include <simdjson.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "channels.h"
#include "harness.h"
#include "prom_text.h"

namespace ringway::integration {
namespace {

constexpr int kReloads = 50;
constexpr std::string_view kStatus500 = R"(["$context.statusCode","in","500,502"])";

// $RINGWAY_LOAD_BIN, or "" when the build has none.
std::string LoadBin() {
  const char* bin = getenv("RINGWAY_LOAD_BIN");
  return bin != nullptr && access(bin, X_OK) == 0 ? bin : "";
}

// Breaker "cb" on API "stub": two 5xx in 60 s open it for an hour (the longest allowed), no
// downgrade (503 while open).
std::string BreakerMembers() {
  return R"("policies":[{"name":"cb","type":"circuit_breaker","content":{"breaker_condition":)"
         R"({"breaker_type":"condition","breaker_mode":"counter","unhealthy_threshold":2,)"
         R"("time_window":60,"open_breaker_time":3600,"unhealthy_percentage":51,)"
         R"("min_call_threshold":1,"unhealthy_condition":)" +
         std::string(kStatus500) +
         R"(},"scope":"basic","downgrade_default":null}}],)"
         "\n  "
         R"("bindings":[{"policy":"cb","api":"stub","environment":"RELEASE"}])";
}

// Admin on 127.0.0.1:0; channel "pool" of "live" and "dead" with TCP health checks behind
// API "pooled" (no retry: a request sent to "dead" fails); API "stub" to "origin" under
// breaker "cb"; a mock "/version" whose body tells the generations apart. `variant` only
// changes that body, so channels and policies are unchanged by a valid reload. `invalid`:
// the same document with one error (apis[0].backend.timeout_ms).
std::string ReloadConfig(ChannelStack& s, int variant, bool invalid) {
  ConfigSpec spec;
  spec.apis = {ChannelApi("pooled", "/pool", "pool",
                          invalid ? R"("retry_count":0,"timeout_ms":0)" : R"("retry_count":0)"),
               StubApi(s.backend("origin"), R"("retry_count":0,"timeout_ms":3000)"),
               MockApi("version", "GET", "/version", "v" + std::to_string(variant))};
  spec.extra =
      R"("admin": {"address": "127.0.0.1:0"},)"
      "\n  " +
      ChannelsMember({{.name = "pool",
                       .members = {MemberOf(s.backend("live")), MemberOf(s.backend("dead"))},
                       .health_check = TcpHealthCheck()}}) +
      ",\n  " + BreakerMembers();
  return BuildConfig(spec);
}

// A metric of the last scrape, -1 when absent.
double Metric(const PromText& m, std::string_view name, const Labels& labels = {}) {
  return m.Value(name, labels).value_or(-1);
}

// ringway-load's --json result: every request answered with a 2xx, nothing lost or failed.
::testing::AssertionResult NoFailedRequests(const std::string& out, int exit_code,
                                            const std::string& err) {
  if (exit_code != 0) {
    return ::testing::AssertionFailure()
           << "exit " << exit_code << "\nstdout: " << out << "\nstderr: " << err;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(out).get(doc) != simdjson::SUCCESS) {
    return ::testing::AssertionFailure() << "--json output does not parse: " << out;
  }
  int64_t requests = -1, responses = -2, ok = -3, errors = -4, lost = -5;
  const bool found = doc["requests"].get(requests) == simdjson::SUCCESS &&
                     doc["responses"].get(responses) == simdjson::SUCCESS &&
                     doc["status"]["2xx"].get(ok) == simdjson::SUCCESS &&
                     doc["errors"]["total"].get(errors) == simdjson::SUCCESS &&
                     doc["lost"].get(lost) == simdjson::SUCCESS;
  if (!found || requests <= 0 || requests != responses || ok != responses || errors != 0 ||
      lost != 0) {
    return ::testing::AssertionFailure() << "failed requests: " << out;
  }
  return ::testing::AssertionSuccess();
}

class ReloadLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LoadBin().empty()) {
      GTEST_SKIP() << "RINGWAY_LOAD_BIN not set or not executable (built with -Dbench=false?)";
    }
    GatewayOptions opts;
    opts.log_level = "info";
    ASSERT_TRUE(stack_.Start(
        {Stub("live"), Stub("dead"), Stub("origin")},
        [](ChannelStack& s) { return ReloadConfig(s, 0, false); }, opts));
  }
  Gateway& gw() { return stack_.gateway(); }

  Labels Member(const char* name) {
    return {{"channel", "pool"}, {"member", stack_.backend(name).address()}};
  }
  static Labels Breaker() {
    return {{"policy", "cb"}, {"api", "stub"}, {"environment", "RELEASE"}, {"rule", "default"}};
  }

  ChannelStack stack_;
};

TEST_F(ReloadLoadTest, FiftyReloadsUnderLoadKeepStateAndFailNoRequest) {
  const int port = stack_.port();
  // "dead" goes down by health check; the breaker opens on two 500s.
  stack_.backend("dead").Kill();
  PromText m;
  ASSERT_TRUE(PollUntil(
      [&] {
        return ScrapeMetrics(gw(), &m) && Metric(m, "ringway_member_up", Member("dead")) == 0;
      },
      30000))
      << "dead never marked down; member_up=" << Metric(m, "ringway_member_up", Member("dead"))
      << "\n"
      << gw().LogTail();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(HasStatus(HttpGet(port, "/stub/status/500"), 500));
  }
  ASSERT_TRUE(PollUntil(
      [&] { return ScrapeMetrics(gw(), &m) && Metric(m, "ringway_breaker_open", Breaker()) == 1; },
      5000))
      << "breaker not open: " << Metric(m, "ringway_breaker_open", Breaker());
  ASSERT_TRUE(IsGatewayError(HttpGet(port, "/stub/echo"), 503));
  ASSERT_TRUE(ScrapeMetrics(gw(), &m));
  const double generation0 = Metric(m, "ringway_config_generation");
  ASSERT_GE(generation0, 1);
  const double ok0 = m.Value("ringway_reloads_total", {{"result", "ok"}}).value_or(0);
  const double failed0 = m.Value("ringway_reloads_total", {{"result", "failed"}}).value_or(0);
  EXPECT_EQ(ok0, 0);
  EXPECT_EQ(failed0, 0);

  // Steady load: 64 connections, open loop at a bounded rate (the machine is shared),
  // bounded in time; stopped with SIGINT once the reloads are done.
  Process load;
  std::string error;
  ASSERT_TRUE(load.Spawn({LoadBin(), "-c", "64", "-R", "2000", "-d", "120s", "--timeout", "5s",
                          "--json", "http://127.0.0.1:" + std::to_string(port) + "/pool/x"},
                         &error))
      << error;
  ASSERT_TRUE(stack_.backend("live").WaitRequest("GET /pool/x", 5000)) << "no load arrived";

  int ok_sent = 0;
  int failed_sent = 0;
  for (int i = 0; i < kReloads; ++i) {
    SCOPED_TRACE("reload " + std::to_string(i + 1));
    const bool valid = i % 2 == 0;
    gw().WriteConfig(ReloadConfig(stack_, i + 1, !valid));
    gw().Signal(SIGHUP);
    (valid ? ok_sent : failed_sent)++;
    ASSERT_TRUE(PollUntil(
        [&] {
          return gw().LogCount("reload ok generation=") == static_cast<size_t>(ok_sent) &&
                 gw().LogCount("reload failed") == static_cast<size_t>(failed_sent);
        },
        10000))
        << gw().LogTail();
    ASSERT_TRUE(ScrapeMetrics(gw(), &m));
    EXPECT_EQ(Metric(m, "ringway_config_generation"), generation0 + ok_sent);
    EXPECT_EQ(Metric(m, "ringway_reloads_total", {{"result", "ok"}}), ok_sent);
    EXPECT_EQ(Metric(m, "ringway_reloads_total", {{"result", "failed"}}), failed_sent);
    EXPECT_EQ(Metric(m, "ringway_member_up", Member("dead")), 0);
    EXPECT_EQ(Metric(m, "ringway_member_up", Member("live")), 1);
    EXPECT_EQ(Metric(m, "ringway_breaker_open", Breaker()), 1);
    if (HasFailure()) {
      break;
    }
  }
  EXPECT_EQ(ok_sent, kReloads / 2);
  EXPECT_EQ(failed_sent, kReloads / 2);
  // The last valid file is the one served; the breaker still answers for the origin.
  auto version = HttpGet(port, "/version");
  EXPECT_TRUE(version && version->status == 200 &&
              version->body == "v" + std::to_string(kReloads - 1))
      << (version ? version->body : "no response");
  EXPECT_TRUE(IsGatewayError(HttpGet(port, "/stub/echo"), 503));

  ASSERT_TRUE(load.running()) << "ringway-load ended before the reloads did:\n"
                              << load.Output(Process::kStdout) << load.Output(Process::kStderr);
  load.Signal(SIGINT);
  std::optional<int> exit_code = load.WaitExit(20000);
  ASSERT_TRUE(exit_code.has_value()) << "ringway-load did not stop on SIGINT";
  EXPECT_TRUE(
      NoFailedRequests(load.Output(Process::kStdout), *exit_code, load.Output(Process::kStderr)));
  EXPECT_TRUE(gw().running());
}

}  // namespace
}  // namespace ringway::integration
