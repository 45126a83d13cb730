// Issue 16: the admin listener (docs/admin.md). Served by the control thread, on its own
// address only: /healthz, the /v1 JSON endpoints, errors as JSON, keep-alive and
// pipelining, bounded heads and connections, and a reload that would move it is refused.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "channels.h"
#include "harness.h"

namespace ringway::integration {
namespace {

// A channel of a live stub and a dead port (tcp checks), an API over it, an API whose url
// refuses (breaker "cb", threshold 1) and a slow API; the admin listener on port 0.
class AdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    live_ = std::make_unique<Backend>();
    ASSERT_TRUE(live_->Start("live"));
    dead_member_ = "127.0.0.1:" + std::to_string(UnusedPort());
    ChannelSpec pool{"pool", "wrr", {MemberOf(*live_)}, "", TcpHealthCheck()};
    pool.members.push_back(
        MemberSpec{.host = "127.0.0.1", .port = std::stoi(dead_member_.substr(10))});
    ConfigSpec spec;
    spec.apis = {ChannelApi("pool", "/pool", "pool"),
                 ProxyApi("dead", "GET", "/dead", "127.0.0.1:" + std::to_string(UnusedPort()),
                          "/dead", "", R"("retry_count":0)"),
                 StubApi(*live_)};
    spec.extra = R"("admin": {"address": "127.0.0.1:0"},)"
                 "\n  " +
                 ChannelsMember({pool}) + ",\n  " + BreakerPolicy("dead");
    config_ = BuildConfig(spec);
    gw_ = std::make_unique<Gateway>();
    ASSERT_TRUE(gw_->Start(config_));
    admin_ = gw_->port("admin");
  }
  static void TearDownTestSuite() {
    gw_.reset();
    live_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(gw_ && gw_->running());
    ASSERT_GT(admin_, 0) << gw_->LogTail();
  }

  static std::optional<Response> Admin(std::string_view target) { return HttpGet(admin_, target); }
  // Polls `target` until `pred` holds for its body (at most `ms`).
  template <class Pred>
  static std::string PollAdmin(std::string_view target, Pred pred, int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::string body;
    do {
      auto r = Admin(target);
      body = r ? r->body : "";
      if (r && r->status == 200 && pred(body)) {
        return body;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
    } while (std::chrono::steady_clock::now() < end);
    return "timed out; last: " + body;
  }

  static inline std::unique_ptr<Backend> live_;
  static inline std::unique_ptr<Gateway> gw_;
  static inline std::string dead_member_;
  static inline std::string config_;
  static inline int admin_ = -1;
};

TEST_F(AdminTest, HealthzAndErrorsAreJson) {
  auto r = Admin("/healthz");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->body, "ok\n");
  r = Admin("/nope?x=1");
  ASSERT_TRUE(HasStatus(r, 404));
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(JsonString(r->body, "/error"), "not found");
  EXPECT_EQ(JsonString(r->body, "/path"), "/nope");
  Client c(admin_);
  r = c.Request("POST", "/healthz", {}, "x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);  // a body: refused and closed
  EXPECT_TRUE(c.WaitClosed(2000));
  Client d(admin_);
  r = d.Request("DELETE", "/healthz");
  ASSERT_TRUE(HasStatus(r, 405));
  EXPECT_EQ(JsonString(r->body, "/error"), "method not allowed");
}

TEST_F(AdminTest, KeepAliveAndPipelining) {
  Client c(admin_);
  ASSERT_TRUE(c.Connect());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(HasStatus(c.Get("/healthz"), 200)) << i;
  }
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/v1/shards") + BuildRequest("HEAD", "/healthz") +
                     BuildRequest("GET", "/healthz", {{"Connection", "close"}})));
  auto a = c.Read();
  ASSERT_TRUE(HasStatus(a, 200));
  EXPECT_TRUE(JsonInt(a->body, "/shards/1/id"));
  auto b = c.Read(/*head_request=*/true);
  ASSERT_TRUE(HasStatus(b, 200));
  EXPECT_EQ(b->Header("content-length"), "3");
  auto last = c.Read();
  ASSERT_TRUE(HasStatus(last, 200));
  EXPECT_EQ(last->body, "ok\n");
  EXPECT_TRUE(c.WaitClosed(2000));
}

TEST_F(AdminTest, OversizedHeadIs431AndClosed) {
  Client c(admin_);
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(HasStatus(r, 431));
  EXPECT_TRUE(c.WaitClosed(2000));
  EXPECT_TRUE(HasStatus(Admin("/healthz"), 200));
}

TEST_F(AdminTest, AtMost64ConnectionsAndTheRestAreClosed) {
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 64; ++i) {
    held.push_back(std::make_unique<Client>(admin_));
    ASSERT_TRUE(held.back()->Connect());
    ASSERT_TRUE(HasStatus(held.back()->Get("/healthz"), 200)) << i;  // accepted and served
  }
  Client extra(admin_);
  ASSERT_TRUE(extra.Connect());  // the kernel accepts; the admin closes it
  EXPECT_TRUE(extra.WaitClosed(3000));
  held.pop_back();
  EXPECT_TRUE(gw_->WaitLog("admin: 64 connections open", 1000));
  // A slot is free once the closed connection is seen: poll for it.
  std::string body = PollAdmin(
      "/healthz", [](const std::string& b) { return b == "ok\n"; }, 5000);
  EXPECT_EQ(body, "ok\n");
}

TEST_F(AdminTest, NotServedOnThePublicListener) {
  EXPECT_TRUE(IsGatewayError(HttpGet(gw_->port(), "/healthz"), 404));
  EXPECT_TRUE(IsGatewayError(HttpGet(gw_->port(), "/metrics"), 404));
}

TEST_F(AdminTest, ChannelsShowHealthAndWhy) {
  std::string body = PollAdmin(
      "/v1/channels",
      [](const std::string& b) { return b.find(R"("healthy":false)") != std::string::npos; },
      30000);
  EXPECT_EQ(JsonString(body, "/channels/0/name"), "pool") << body;
  EXPECT_EQ(JsonString(body, "/channels/0/algorithm"), "wrr");
  EXPECT_EQ(JsonString(body, "/channels/0/members/0/address"), live_->address());
  EXPECT_EQ(JsonString(body, "/channels/0/members/0/reason"), "ok");
  EXPECT_EQ(JsonString(body, "/channels/0/members/1/address"), dead_member_);
  EXPECT_NE(body.find(R"("healthy":false,"reason":"refused")"), std::string::npos) << body;
  EXPECT_GE(JsonInt(body, "/channels/0/members/1/consecutive_failures").value_or(0), 2);
  EXPECT_GT(JsonInt(body, "/channels/0/members/1/since_unix_ms").value_or(0), 1700000000000);
  EXPECT_GE(JsonInt(body, "/generation").value_or(0), 2);  // the health change was published
}

TEST_F(AdminTest, BreakersShowStateCountsAndWhyTheyOpened) {
  auto r = Admin("/v1/breakers");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonString(r->body, "/breakers/0/policy"), "cb");
  EXPECT_EQ(JsonString(r->body, "/breakers/0/api"), "dead");
  EXPECT_EQ(JsonString(r->body, "/breakers/0/rule"), "default");
  EXPECT_EQ(JsonString(r->body, "/breakers/0/downgrade"), "reject");
  if (JsonString(r->body, "/breakers/0/state") == "closed") {
    EXPECT_NE(r->body.find(R"("open_until_unix_ms":null)"), std::string::npos) << r->body;
    EXPECT_TRUE(IsGatewayError(HttpGet(gw_->port(), "/dead"), 502));  // refused: opens it
  }
  r = Admin("/v1/breakers");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonString(r->body, "/breakers/0/state"), "open") << r->body;
  EXPECT_EQ(JsonInt(r->body, "/breakers/0/opened_total"), 1);
  EXPECT_EQ(JsonInt(r->body, "/breakers/0/threshold"), 1);
  EXPECT_GT(JsonInt(r->body, "/breakers/0/open_until_unix_ms").value_or(0), 1700000000000);
  EXPECT_EQ(JsonString(r->body, "/breakers/0/last_opened/reason"),
            "1 unhealthy outcomes in 60 s (threshold 1)");
  EXPECT_TRUE(IsGatewayError(HttpGet(gw_->port(), "/dead"), 503));  // open: rejected
  // The same in /metrics: open, one transition to open, none back, the rejection counted.
  auto m = Admin("/metrics");
  ASSERT_TRUE(HasStatus(m, 200));
  const std::string labels = R"(policy="cb",api="dead",environment="RELEASE",rule="default")";
  for (const std::string& line :
       {"ringway_breaker_open{" + labels + "} 1\n",
        "ringway_breaker_transitions_total{" + labels + ",to=\"open\"} 1\n",
        "ringway_breaker_transitions_total{" + labels + ",to=\"closed\"} 0\n",
        std::string(R"(ringway_backend_requests_total{api="dead",member=)")}) {
    EXPECT_NE(m->body.find(line), std::string::npos) << line << "\n" << m->body;
  }
  const std::string downgraded =
      R"(ringway_downgraded_requests_total{policy="cb",api="dead",environment="RELEASE",type="reject"} )";
  const size_t at = m->body.find(downgraded);
  ASSERT_NE(at, std::string::npos) << m->body;
  EXPECT_GE(std::stoi(m->body.substr(at + downgraded.size())), 1);
}

TEST_F(AdminTest, ShardsTurnAndCount) {
  auto a = Admin("/v1/shards");
  ASSERT_TRUE(HasStatus(a, 200));
  EXPECT_TRUE(JsonInt(a->body, "/shards/1/loop_turns"));
  EXPECT_FALSE(JsonInt(a->body, "/shards/2/id"));  // two shards
  ASSERT_TRUE(HasStatus(HttpGet(gw_->port(), "/stub/echo"), 200));
  std::string body = PollAdmin(
      "/v1/shards",
      [&](const std::string& b) {
        return JsonInt(b, "/shards/0/loop_turns") > JsonInt(a->body, "/shards/0/loop_turns") &&
               JsonInt(b, "/shards/1/loop_turns") > JsonInt(a->body, "/shards/1/loop_turns") &&
               JsonInt(b, "/shards/0/requests").value_or(0) +
                       JsonInt(b, "/shards/1/requests").value_or(0) >
                   JsonInt(a->body, "/shards/0/requests").value_or(0) +
                       JsonInt(a->body, "/shards/1/requests").value_or(0);
      },
      5000);
  EXPECT_EQ(body.find("timed out"), std::string::npos) << body;
}

TEST_F(AdminTest, ReloadThatMovesTheAdminListenerIsRefused) {
  std::string moved = config_;
  const std::string from = R"("admin": {"address": "127.0.0.1:0"})";
  moved.replace(moved.find(from), from.size(), R"("admin": {"address": "127.0.0.1:1"})");
  const size_t failed = gw_->LogCount("reload failed");
  gw_->WriteConfig(moved);
  gw_->Signal(SIGHUP);
  ASSERT_TRUE(gw_->WaitLog("listener, admin and shard changes need a restart", 5000));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (gw_->LogCount("reload failed") == failed && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  EXPECT_EQ(gw_->LogCount("reload failed"), failed + 1);
  gw_->WriteConfig(config_);
  EXPECT_TRUE(HasStatus(Admin("/healthz"), 200));
}

// A drain answers 503 at /healthz while in-flight requests finish.
TEST(AdminDrainTest, HealthzIs503WhileDraining) {
  Backend slow;
  ASSERT_TRUE(slow.Start("slow"));
  ConfigSpec spec;
  spec.apis = {StubApi(slow)};
  spec.extra = R"("admin": {"address": "127.0.0.1:0"})";
  Gateway gw;
  GatewayOptions opts;
  opts.extra_args = {"--drain-timeout-ms", "10000"};
  ASSERT_TRUE(gw.Start(BuildConfig(spec), opts));
  const int admin = gw.port("admin");
  ASSERT_TRUE(HasStatus(HttpGet(admin, "/healthz"), 200));
  Client c(gw.port(), 10000);
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/stub/delay/1500")));
  ASSERT_TRUE(slow.WaitRequest("/stub/delay/1500", 3000));
  gw.Signal(SIGTERM);
  ASSERT_TRUE(gw.WaitLog("draining", 3000));
  auto h = HttpGet(admin, "/healthz");
  ASSERT_TRUE(HasStatus(h, 503));
  EXPECT_EQ(h->body, "draining\n");
  EXPECT_TRUE(HasStatus(c.Read(), 200));  // the in-flight request still finishes
  EXPECT_EQ(gw.WaitExit(10000), 0);
}

}  // namespace
}  // namespace ringway::integration
