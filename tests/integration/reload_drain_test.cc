// Issue 3: SIGHUP reload (invalid file keeps the old config, valid file is published) while
// clients keep sending requests; SIGTERM/SIGINT drain with --drain-timeout-ms.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>

#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

std::string ConfigV1(const Backend& b) {
  ConfigSpec spec;
  spec.apis = {PingApi(), MockApi("version", "GET", "/version", "v1"), StubApi(b)};
  return BuildConfig(spec);
}

// Exactly one error, at apis[2].backend.timeout_ms.
std::string ConfigInvalid(const Backend& b) {
  ConfigSpec spec;
  spec.apis = {PingApi(), MockApi("version", "GET", "/version", "v1"),
               StubApi(b, R"("timeout_ms": 0)")};
  return BuildConfig(spec);
}

std::string ConfigV2(const Backend& b) {
  ConfigSpec spec;
  spec.apis = {PingApi(), MockApi("version", "GET", "/version", "v2"), StubApi(b),
               MockApi("fresh", "GET", "/fresh", "fresh")};
  return BuildConfig(spec);
}

std::string BodyOf(int port, std::string_view target) {
  auto r = HttpGet(port, target);
  return r && r->status == 200 ? r->body : "<no 200>";
}

// Requests in a loop until stopped, from two threads: one on a single kept-alive
// connection, one on a new connection per request. Anything but a 200 is a failure.
class Load {
 public:
  Load(int port, std::vector<std::string> targets) : port_(port), targets_(std::move(targets)) {
    threads_.emplace_back([this] { Run(true); });
    threads_.emplace_back([this] { Run(false); });
  }
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }
  int ok() const { return ok_; }
  // Waits until `n` more requests have succeeded.
  bool WaitProgress(int n) {
    int target = ok_ + n;
    return PollUntil([&] { return ok_ >= target; }, 5000);
  }
  std::string Failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void Run(bool keep_alive) {
    Client c(port_);
    for (size_t i = 0; !stop_; ++i) {
      const std::string& target = targets_[i % targets_.size()];
      auto r = keep_alive ? c.Get(target) : HttpGet(port_, target);
      if (r && r->status == 200) {
        ++ok_;
        continue;
      }
      c.Close();  // start over on a new connection
      std::lock_guard<std::mutex> lock(mu_);
      if (++failure_count_ > 20) {
        continue;  // enough detail already
      }
      failures_ += (keep_alive ? "keep-alive " : "new-conn ") + target + ": " +
                   (r ? std::to_string(r->status) : std::string("no response")) + "\n";
    }
  }

  int port_;
  std::vector<std::string> targets_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::mutex mu_;
  std::string failures_;
  int failure_count_ = 0;
  std::vector<std::thread> threads_;
};

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(stack_.Start(&ConfigV1)); }
  Gateway& gw() { return stack_.gateway(); }
  Stack stack_;
};

TEST_F(ReloadTest, InvalidFileKeepsOldConfigWhileServing) {
  Load load(stack_.port(), {"/version", "/stub/delay/20"});
  ASSERT_TRUE(load.WaitProgress(10));
  gw().WriteConfig(ConfigInvalid(stack_.backend()));
  gw().Signal(SIGHUP);
  ASSERT_TRUE(gw().WaitLog("reload failed errors=1", 5000)) << gw().LogTail();
  EXPECT_TRUE(gw().LogContains("config error: apis[2].backend.timeout_ms")) << gw().LogTail();
  EXPECT_TRUE(load.WaitProgress(10));
  load.Stop();
  EXPECT_EQ(load.Failures(), "");
  EXPECT_EQ(BodyOf(stack_.port(), "/version"), "v1");
  EXPECT_TRUE(gw().running());
}

TEST_F(ReloadTest, ValidFilePublishedWhileServing) {
  Load load(stack_.port(), {"/version", "/stub/delay/20"});
  ASSERT_TRUE(load.WaitProgress(10));
  EXPECT_TRUE(IsGatewayError(HttpGet(stack_.port(), "/fresh"), 404));
  gw().WriteConfig(ConfigV2(stack_.backend()));
  gw().Signal(SIGHUP);
  ASSERT_TRUE(gw().WaitLog("reload ok generation=", 5000)) << gw().LogTail();
  EXPECT_TRUE(PollUntil([&] { return BodyOf(stack_.port(), "/fresh") == "fresh"; }, 5000));
  EXPECT_TRUE(PollUntil([&] { return BodyOf(stack_.port(), "/version") == "v2"; }, 5000));
  EXPECT_TRUE(load.WaitProgress(10));
  load.Stop();
  EXPECT_EQ(load.Failures(), "");
}

class DrainTest : public ::testing::Test {
 protected:
  ::testing::AssertionResult Start(int drain_timeout_ms) {
    return stack_.Start(&ConfigV1,
                        {.extra_args = {"--drain-timeout-ms", std::to_string(drain_timeout_ms)}});
  }
  Gateway& gw() { return stack_.gateway(); }
  // Sends a request the stub answers after `ms`, and waits until the stub has it.
  ::testing::AssertionResult SendSlow(Client& c, int ms) {
    std::string target = "/stub/delay/" + std::to_string(ms);
    if (!c.Connect() || !c.Send(BuildRequest("GET", target)) ||
        !stack_.backend().WaitRequest("GET " + target, 3000)) {
      return ::testing::AssertionFailure() << target << " did not reach the backend";
    }
    return ::testing::AssertionSuccess();
  }
  Stack stack_;
};

// A new connection is refused, or accepted by the kernel and closed unanswered.
bool NewConnectionRefused(int port) {
  Client c(port, 500);
  if (!c.Connect()) {
    return c.connect_errno() == ECONNREFUSED;
  }
  c.Send(BuildRequest("GET", "/ping"));
  std::string got;
  return c.WaitClosed(200, &got) && got.empty();
}

TEST_F(DrainTest, SigtermFinishesInFlightRequestThenExits) {
  ASSERT_TRUE(Start(5000));
  const int port = stack_.port();
  Client slow(port);
  ASSERT_TRUE(SendSlow(slow, 1000));
  Client idle(port);
  ASSERT_TRUE(HasStatus(idle.Get("/ping"), 200));
  auto sigterm_at = Clock::now();
  gw().Signal(SIGTERM);
  ASSERT_TRUE(gw().WaitLog("draining", 3000)) << gw().LogTail();
  EXPECT_TRUE(PollUntil([&] { return NewConnectionRefused(port); }, 900));
  EXPECT_LT(Clock::now() - sigterm_at, std::chrono::milliseconds(1000))
      << "listeners must close while the slow request is still in flight";
  EXPECT_TRUE(idle.WaitClosed(2000)) << "idle keep-alive connection not closed by the drain";
  EXPECT_TRUE(EchoedTarget(slow.ReadFinal(), "/stub/delay/1000"));
  EXPECT_EQ(gw().WaitExit(5000), 0) << gw().LogTail();
  EXPECT_TRUE(gw().LogContains("stopped"));
}

TEST_F(DrainTest, DrainTimeoutBoundsShutdown) {
  ASSERT_TRUE(Start(300));
  Client slow(stack_.port());
  ASSERT_TRUE(SendSlow(slow, 5000));
  auto sigterm_at = Clock::now();
  gw().Signal(SIGTERM);
  EXPECT_EQ(gw().WaitExit(4000), 0) << gw().LogTail();
  EXPECT_LT(Clock::now() - sigterm_at, std::chrono::milliseconds(3000));
  EXPECT_TRUE(slow.WaitClosed(1000));
}

TEST_F(DrainTest, SigintDrainsToo) {
  ASSERT_TRUE(Start(5000));
  Client idle(stack_.port());
  ASSERT_TRUE(HasStatus(idle.Get("/ping"), 200));
  gw().Signal(SIGINT);
  EXPECT_EQ(gw().WaitExit(5000), 0) << gw().LogTail();
  EXPECT_TRUE(idle.WaitClosed(1000));
  EXPECT_TRUE(gw().LogContains("draining"));
  EXPECT_TRUE(gw().LogContains("stopped"));
}

// A reload that changes `limits` applies every field of it (one shard, so the parser of an
// earlier exchange is the one reused).
class ReloadLimitsTest : public ::testing::Test {
 protected:
  static std::string Config(const Backend& b, const std::string& limits) {
    ConfigSpec spec;
    spec.limits = limits;
    spec.apis = {PingApi(), StubApi(b)};
    return BuildConfig(spec);
  }
  ::testing::AssertionResult Start(const std::string& limits) {
    return stack_.Start([limits](const Backend& b) { return Config(b, limits); }, {.shards = 1});
  }
  ::testing::AssertionResult Reload(const std::string& limits) {
    gw().WriteConfig(Config(stack_.backend(), limits));
    gw().Signal(SIGHUP);
    std::string ok = "reload ok generation=" + std::to_string(++generation_);
    if (!gw().WaitLog(ok, 5000)) {
      return ::testing::AssertionFailure() << "no '" << ok << "'\n" << gw().LogTail();
    }
    return ::testing::AssertionSuccess();
  }
  Gateway& gw() { return stack_.gateway(); }
  Stack stack_;
  int generation_ = 1;
};

TEST_F(ReloadLimitsTest, MaxConnectionsFollowsTheReload) {
  ASSERT_TRUE(Start(R"("max_connections": 2)"));
  const int port = stack_.port();
  // Raised above what the shard was sized for at start: every connection is served.
  ASSERT_TRUE(Reload(R"("max_connections": 8)"));
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 6; ++i) {
    held.push_back(std::make_unique<Client>(port));
    ASSERT_TRUE(HasStatus(held.back()->Get("/ping"), 200)) << "connection " << i;
  }
  // Lowered below the open count: a new connection is closed unanswered ...
  ASSERT_TRUE(Reload(R"("max_connections": 3)"));
  EXPECT_TRUE(NewConnectionRefused(port));
  EXPECT_TRUE(HasStatus(held[0]->Get("/ping"), 200));  // open ones are kept
  // ... until enough of them closed.
  held.resize(2);
  EXPECT_TRUE(PollUntil(
      [&] {
        Client c(port, 500);
        return static_cast<bool>(HasStatus(c.Get("/ping"), 200));
      },
      5000));
}

TEST_F(ReloadLimitsTest, ResponseHeadLimitFollowsTheReload) {
  ASSERT_TRUE(Start(R"("max_header_bytes": 32768)"));
  const int port = stack_.port();
  EXPECT_TRUE(HasStatus(HttpGet(port, "/stub/bighead/8000"), 200));
  ASSERT_TRUE(Reload(R"("max_header_bytes": 4096)"));
  auto r = HttpGet(port, "/stub/bighead/8000");
  EXPECT_TRUE(IsGatewayError(r, 502));
  EXPECT_NE(r ? r->body.find("RW.5231") : std::string::npos, std::string::npos);
  EXPECT_TRUE(HasStatus(HttpGet(port, "/stub/bighead/100"), 200));
  ASSERT_TRUE(Reload(R"("max_header_bytes": 32768)"));
  EXPECT_TRUE(HasStatus(HttpGet(port, "/stub/bighead/8000"), 200));
}

}  // namespace
}  // namespace ringway::integration
