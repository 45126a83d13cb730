// Issue 5: retries over a load-balance channel (retry_count, seed semantics): a GET reset
// or timed out by one member is retried on the other, a POST or PATCH that reached a member
// is never replayed, retry_count 0 means no retry, a refused connection is retried (a POST
// only with an explicit retry_count); `ringway check` limits retry_count by the enabled
// members.
#include "channels.h"

namespace ringway::integration {
namespace {

constexpr int kRequests = 10;
constexpr int kTimeoutMs = 200;  // of the "sluggish" APIs; the "slow" member takes 1 s

class RetriesTest : public SharedChannelStackTest<RetriesTest> {
 public:
  // "reset" reads and logs every request, then resets the connection; "slow" answers
  // after 1 s; "good" answers. Its address is longer than the others': a retry on it
  // rewrites the Host of the first member with a longer one.
  static std::vector<BackendOptions> Backends() {
    return {Stub("reset", "127.0.0.1", {"--reset-all"}), Stub("good", "127.0.0.200"),
            Stub("slow", "127.0.0.3", {"--delay-ms", "1000"})};
  }
  static std::string Config(ChannelStack& s) {
    MemberSpec dead;  // nothing listens there, and no health check marks it down
    dead.host = "127.0.0.1";
    dead.port = UnusedPort();
    std::vector<MemberSpec> flaky = {MemberOf(s.backend("reset")), MemberOf(s.backend("good"))};
    ConfigSpec spec;
    std::vector<MemberSpec> sluggish = {MemberOf(s.backend("slow")), MemberOf(s.backend("good"))};
    spec.extra = ChannelsMember({{"flaky", "wrr", flaky},
                                 {"half_dead", "wrr", {dead, MemberOf(s.backend("good"))}},
                                 {"sluggish", "wrr", sluggish}});
    spec.apis = {ChannelApi("flaky", "/flaky", "flaky"),
                 ChannelApi("flaky_once", "/flaky-once", "flaky", R"("retry_count":1)"),
                 ChannelApi("flaky_never", "/flaky-never", "flaky", R"("retry_count":0)"),
                 ChannelApi("dead", "/dead", "half_dead"),
                 ChannelApi("dead_once", "/dead-once", "half_dead", R"("retry_count":1)"),
                 ChannelApi("sluggish", "/sluggish", "sluggish",
                            R"("timeout_ms":)" + std::to_string(kTimeoutMs))};
    return BuildConfig(spec);
  }

  // Sends kRequests `method prefix/<i>` with a body. Each must reach exactly one member
  // once: `failing` answered by the gateway with `status` ("status 502"), else a 200 from
  // "good". Returns how many reached `failing`.
  // `headers` / `body`: of each request.
  static int ExpectNotReplayed(const std::string& method, const std::string& prefix,
                               const std::string& failing = "reset",
                               const std::string& status = "status 502",
                               const HeaderList& headers = {}, const std::string& body = "body") {
    std::vector<std::string> answers;
    Client c(port());
    for (int i = 0; i < kRequests; ++i) {
      auto r = c.Request(method, prefix + "/" + std::to_string(i), headers, body);
      answers.push_back(Who(r));
      if (!r || r->Header("connection") == "close") {
        c.Close();
      }
    }
    const std::string needle = " " + method + " " + prefix + "/";
    auto seen = [&] {
      return backend(failing).RequestCount(needle) + backend("good").RequestCount(needle);
    };
    EXPECT_TRUE(PollUntil([&] { return seen() >= kRequests; }, 2000))
        << seen() << " request lines logged";
    int failed = 0;
    for (int i = 0; i < kRequests; ++i) {
      std::string target = prefix + "/" + std::to_string(i);
      size_t at_failing = RequestsFor(backend(failing), method, target);
      EXPECT_EQ(at_failing + RequestsFor(backend("good"), method, target), 1u)
          << method << " " << target << " reached the members more than once";
      EXPECT_EQ(answers[static_cast<size_t>(i)], at_failing > 0 ? status : "good") << target;
      failed += at_failing > 0 ? 1 : 0;
    }
    return failed;
  }
};

// GETs to `prefix/<i>` all answered by "good" (with its own Host), about half of them
// after `failing` had them first (WRR alternates the first attempts).
void ExpectGetsRetried(int port, const std::string& prefix, Backend& failing, Backend& good) {
  Client c(port);
  for (int i = 0; i < kRequests; ++i) {
    std::string target = prefix + "/" + std::to_string(i);
    auto r = c.Get(target);
    ASSERT_TRUE(HasStatus(r, 200)) << target;
    EXPECT_EQ(Who(r), "good") << target;
    EXPECT_EQ(EchoHeader(*r, "host"), good.address()) << "Host of the first member";
  }
  const std::string needle = " GET " + prefix + "/";
  EXPECT_TRUE(PollUntil([&] { return failing.RequestCount(needle) >= kRequests / 2 - 1; }, 2000))
      << failing.RequestCount(needle) << " GETs reached " << failing.name();
}

TEST_F(RetriesTest, GetResetByOneMemberIsRetriedOnTheOther) {
  ExpectGetsRetried(port(), "/flaky/get", backend("reset"), backend("good"));
}

TEST_F(RetriesTest, GetTimedOutOnOneMemberIsRetriedOnTheOther) {
  ExpectGetsRetried(port(), "/sluggish/get", backend("slow"), backend("good"));
}

TEST_F(RetriesTest, PostTimedOutIsNotReplayed) {
  EXPECT_GE(ExpectNotReplayed("POST", "/sluggish/post", "slow", "status 504"), kRequests / 2 - 1);
}

TEST_F(RetriesTest, PostThatReachedAMemberIsNotReplayed) {
  EXPECT_GE(ExpectNotReplayed("POST", "/flaky/post"), kRequests / 2 - 1);
}

TEST_F(RetriesTest, PostIsNotReplayedEvenWithRetryCount) {
  EXPECT_GE(ExpectNotReplayed("POST", "/flaky-once/post"), kRequests / 2 - 1);
}

TEST_F(RetriesTest, PatchIsNotReplayed) {
  EXPECT_GE(ExpectNotReplayed("PATCH", "/flaky/patch"), kRequests / 2 - 1);
}

// A WebSocket handshake that may have reached a member is never replayed (docs/upgrades.md),
// whatever retry_count allows; "good" answers it as an ordinary GET (200), and the client
// connection then carries the next request. Fails if upgrades were retried like GETs.
const HeaderList kUpgrade = {{"Connection", "Upgrade"},
                             {"Upgrade", "websocket"},
                             {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                             {"Sec-WebSocket-Version", "13"}};

TEST_F(RetriesTest, UpgradeThatReachedAMemberIsNotReplayed) {
  EXPECT_GE(ExpectNotReplayed("GET", "/flaky-once/ws", "reset", "status 502", kUpgrade, ""),
            kRequests / 2 - 1);
}

// A refused connect proves the handshake was not seen: it goes to the other member.
TEST_F(RetriesTest, UpgradeAfterConnectionRefusedGoesToTheOtherMember) {
  Client c(port());
  for (int i = 0; i < kRequests; ++i) {
    auto r = c.Request("GET", "/dead-once/ws/" + std::to_string(i), kUpgrade);
    ASSERT_TRUE(HasStatus(r, 200)) << i;
    EXPECT_EQ(Who(r), "good") << i;
    EXPECT_EQ(EchoHeader(*r, "upgrade"), "websocket") << i;
  }
}

TEST_F(RetriesTest, RetryCountZeroMeansNoRetry) {
  EXPECT_GE(ExpectNotReplayed("GET", "/flaky-never/get"), kRequests / 2 - 1);
}

TEST_F(RetriesTest, GetAfterConnectionRefusedGoesToTheOtherMember) {
  EXPECT_EQ(CountAnswers(port(), "/dead/get", kRequests), (Tally{{"good", kRequests}}));
}

// A refused connection proves the request was not processed: a POST may be retried, but
// only when retry_count asks for it (the default never retries POST or PATCH).
TEST_F(RetriesTest, PostAfterConnectionRefusedIsRetriedOnlyWithRetryCount) {
  Client c(port());
  for (int i = 0; i < kRequests; ++i) {
    std::string body = "post-body-" + std::to_string(i);
    auto r = c.Request("POST", "/dead-once/post/" + std::to_string(i), {}, body);
    ASSERT_TRUE(HasStatus(r, 200)) << i;
    EXPECT_EQ(Who(r), "good") << i;
    EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(body)) << "body replayed intact " << i;
    EXPECT_EQ(EchoHeader(*r, "host"), backend("good").address()) << i;
  }
  Tally by_default = CountAnswers(port(), "/dead/post", kRequests, 1, "POST");
  EXPECT_GE(by_default["status 502"], kRequests / 2 - 1) << ::testing::PrintToString(by_default);
  EXPECT_EQ(by_default["status 502"] + by_default["good"], kRequests)
      << ::testing::PrintToString(by_default);
}

// ---- ringway check ----

class RetryCountCheckTest : public ::testing::Test {
 protected:
  // `ringway check` on a channel of `members` and an API with `retry_count`; stdout and
  // stderr together in `output`.
  int Check(std::vector<MemberSpec> members, int retry_count) {
    ConfigSpec spec;
    spec.extra = ChannelsMember({{"pool", "wrr", std::move(members)}});
    spec.apis = {PingApi(), ChannelApi("pooled", "/pooled", "pool",
                                       R"("retry_count":)" + std::to_string(retry_count))};
    CommandResult r = RunRingway({"check", "-c", dir_.WriteFile("check.json", BuildConfig(spec))});
    output = r.out + r.err;
    return r.exit_code;
  }
  static MemberSpec At(int port, bool enabled = true, bool is_backup = false) {
    MemberSpec m;
    m.host = "127.0.0.1";
    m.port = port;
    m.enabled = enabled;
    m.is_backup = is_backup;
    return m;
  }

  TempDir dir_;
  std::string output;
};

TEST_F(RetryCountCheckTest, RetryCountBelowEnabledMembersIsAccepted) {
  EXPECT_EQ(Check({At(9001), At(9002)}, 1), 0) << output;
}

TEST_F(RetryCountCheckTest, StandbyCountsAsEnabled) {
  EXPECT_EQ(Check({At(9001), At(9002, true, true)}, 1), 0) << output;
}

TEST_F(RetryCountCheckTest, RetryCountNotBelowEnabledMembersIsAnError) {
  EXPECT_EQ(Check({At(9001), At(9002)}, 2), 1) << output;
  EXPECT_NE(output.find("apis[1].backend.retry_count"), std::string::npos) << output;
}

TEST_F(RetryCountCheckTest, DisabledMembersDoNotCount) {
  EXPECT_EQ(Check({At(9001), At(9002), At(9003, false)}, 2), 1) << output;
  EXPECT_NE(output.find("apis[1].backend.retry_count"), std::string::npos) << output;
}

}  // namespace
}  // namespace ringway::integration
