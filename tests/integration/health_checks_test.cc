// Issue 5: active health checks end to end: a killed member is marked down after the
// threshold and traffic moves to the others (a reload keeps it down), it comes back after a
// restart on the same port; disabled members are not checked; standby members serve only
// while every primary is down; all members down is a 503. Checks run every 5 s (the
// minimum) with thresholds of 2, so a transition takes 5-10 s: each test waits for the
// gateway's log line, with a deadline, never a fixed sleep.
#include <csignal>
#include <cstdlib>

#include "channels.h"

namespace ringway::integration {
namespace {

constexpr int kTransitionMs = 16000;  // 2 checks 5 s apart, plus the 2 s timeout and slack
constexpr int kPublishMs = 3000;      // the new health snapshot reaching the shards

// "health: channel C member HOST:PORT" + " down" / " up".
std::string HealthLine(std::string_view channel, const Backend& b, std::string_view what) {
  return "health: channel " + std::string(channel) + " member " + b.address() + " " +
         std::string(what);
}

// Special members of channel "hc", by name.
struct Roles {
  std::string standby;
  std::string disabled;
  bool dead_at_start = false;  // all members killed before the gateway starts
};

class HealthChecksTest : public ::testing::Test {
 protected:
  // A gateway with channel "hc" (`check`) over `members` at /hc. Members start healthy in
  // the gateway: dead ones are marked down by its first two checks (at 0 and 5 s).
  void StartStack(const std::vector<BackendOptions>& members, std::string check,
                  const Roles& roles = {}) {
    ASSERT_TRUE(stack_.Start(members, [&](ChannelStack& s) {
      ChannelSpec hc{"hc", "wrr", {}, "", check};
      for (const BackendOptions& m : members) {
        hc.members.push_back(MemberOf(s.backend(m.name)));
        hc.members.back().is_backup = m.name == roles.standby;
        hc.members.back().enabled = m.name != roles.disabled;
        if (roles.dead_at_start) {
          s.backend(m.name).Kill();
        }
      }
      ConfigSpec spec;
      spec.extra = ChannelsMember({hc});
      spec.apis = {ChannelApi("hc", "/hc", "hc"),
                   ChannelApi("hc0", "/hc0", "hc", R"("retry_count":0)")};
      return BuildConfig(spec);
    }));
  }
  // Kills the members (if still running) and waits until the gateway has marked each of them down.
  void KillAndWaitDown(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      backend(name).Kill();
    }
    for (const std::string& name : names) {
      std::string down = HealthLine("hc", backend(name), "down (reason: refused");
      ASSERT_TRUE(stack_.gateway().WaitLog(down, kTransitionMs)) << "no \"" << down << "\"; log:\n"
                                                                 << stack_.gateway().LogTail();
    }
  }
  // Restarts a member on its port and waits for it to be marked up and to answer.
  void RestartAndWaitUp(const std::string& name) {
    ASSERT_TRUE(backend(name).Restart());
    std::string up = HealthLine("hc", backend(name), "up (2 consecutive successes)");
    ASSERT_TRUE(stack_.gateway().WaitLog(up, kTransitionMs)) << "no \"" << up << "\"; log:\n"
                                                             << stack_.gateway().LogTail();
    ASSERT_TRUE(WaitAnsweredBy(port(), "/hc/back", name, kPublishMs)) << name << " marked up";
  }
  Backend& backend(const std::string& name) { return stack_.backend(name); }
  int port() const { return stack_.port(); }
  Tally Count(int n) { return CountAnswers(port(), "/hc/n", n); }

  ChannelStack stack_;
};

TEST_F(HealthChecksTest, KilledMemberIsMarkedDownThenUpAfterRestart) {
  ASSERT_NO_FATAL_FAILURE(StartStack({Stub("a"), Stub("b", "127.0.0.2"), Stub("off", "127.0.0.3")},
                                     HttpHealthCheck("/health"), {.disabled = "off"}));
  EXPECT_EQ(Count(20), (Tally{{"a", 10}, {"b", 10}}));
  EXPECT_TRUE(backend("a").WaitRequest("GET /health", 1000)) << "no http check seen";

  ASSERT_NO_FATAL_FAILURE(KillAndWaitDown({"a"}));
  Gateway& gw = stack_.gateway();
  EXPECT_TRUE(
      gw.LogContains(HealthLine("hc", backend("a"), "down (reason: refused, 2 consecutive")))
      << gw.LogTail();
  EXPECT_GE(gw.LogCount(HealthLine("hc", backend("a"), "check failed: refused")), 2u);
  EXPECT_EQ(Count(20), (Tally{{"b", 20}}));
  // A reload keeps the state of an unchanged member: no request reaches dead "a" (without
  // retries, each would be a 502).
  gw.Signal(SIGHUP);
  ASSERT_TRUE(gw.WaitLog("reload ok generation=", 5000)) << gw.LogTail();
  EXPECT_EQ(CountAnswers(port(), "/hc0/n", 20), (Tally{{"b", 20}}));

  ASSERT_NO_FATAL_FAILURE(RestartAndWaitUp("a"));
  EXPECT_EQ(Count(20), (Tally{{"a", 10}, {"b", 10}}));
  EXPECT_GE(backend("b").RequestCount("GET /health"), 4u);
  EXPECT_EQ(backend("off").RequestCount("GET "), 0u) << "a disabled member was checked or used";
}

TEST_F(HealthChecksTest, StandbyServesOnlyWhilePrimariesAreDown) {
  ASSERT_NO_FATAL_FAILURE(
      StartStack({Stub("p1"), Stub("p2", "127.0.0.2"), Stub("standby", "127.0.0.3")},
                 TcpHealthCheck(), {.standby = "standby"}));
  EXPECT_EQ(Count(20), (Tally{{"p1", 10}, {"p2", 10}}));
  EXPECT_EQ(backend("standby").RequestCount(" /hc/"), 0u);

  ASSERT_NO_FATAL_FAILURE(KillAndWaitDown({"p1", "p2"}));
  ASSERT_TRUE(WaitAnsweredBy(port(), "/hc/failover", "standby", kPublishMs));
  EXPECT_EQ(Count(20), (Tally{{"standby", 20}}));

  ASSERT_NO_FATAL_FAILURE(RestartAndWaitUp("p1"));
  size_t standby_before = backend("standby").RequestCount(" /hc/");
  EXPECT_EQ(Count(20), (Tally{{"p1", 20}}));
  EXPECT_EQ(backend("standby").RequestCount(" /hc/"), standby_before);
}

// Members start healthy: dead ones are a 502 (both refused) until the checks mark them
// down; then the channel has no member at all: 503.
TEST_F(HealthChecksTest, AllMembersDownIs503WithRetryAfter) {
  ASSERT_NO_FATAL_FAILURE(
      StartStack({Stub("a"), Stub("b", "127.0.0.2")}, TcpHealthCheck(), {.dead_at_start = true}));
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/hc/early"), 502));
  ASSERT_NO_FATAL_FAILURE(KillAndWaitDown({"a", "b"}));
  std::optional<Response> r;
  ASSERT_TRUE(PollUntil(
      [&] {
        r = HttpGet(port(), "/hc/none");
        return r && r->status == 503;
      },
      kPublishMs))
      << Who(r);
  EXPECT_TRUE(IsGatewayError(r, 503));
  EXPECT_EQ(JsonString(r->body, "/error_code").value_or(""), "RW.5030") << r->body;
  EXPECT_GE(std::atoi(r->Header("retry-after").c_str()), 1)
      << "Retry-After: \"" << r->Header("retry-after") << "\"";
}

}  // namespace
}  // namespace ringway::integration
