// Issue 3: upstream failures: backend timeout 504, connection refused 502, reset 502, and a
// pooled connection the backend closed is retried on a fresh one.
#include <chrono>

#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBackendTimeoutMs = 300;

class BackendErrorsTest : public SharedStackTest<BackendErrorsTest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.apis = {
        StubApi(b, R"("timeout_ms": )" + std::to_string(kBackendTimeoutMs)),
        ProxyApi("refused", "GET", "/refused", "127.0.0.1:" + std::to_string(UnusedPort()), "/x"),
    };
    return BuildConfig(spec);
  }
};

long ElapsedMs(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

TEST_F(BackendErrorsTest, SlowBackendIs504AfterTimeout) {
  auto start = Clock::now();
  auto r = HttpGet(port(), "/stub/delay/3000");
  long elapsed = ElapsedMs(start);
  EXPECT_TRUE(IsGatewayError(r, 504));
  EXPECT_GE(elapsed, kBackendTimeoutMs - 50);
  EXPECT_LT(elapsed, 2000);
}

TEST_F(BackendErrorsTest, BackendWithinTimeoutAnswers) {
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/stub/delay/50"), "/stub/delay/50"));
}

TEST_F(BackendErrorsTest, ConnectionRefusedIs502) {
  auto start = Clock::now();
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/refused"), 502));
  EXPECT_LT(ElapsedMs(start), 2000);
}

TEST_F(BackendErrorsTest, BackendResetIs502) {
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/stub/reset"), 502));
}

TEST_F(BackendErrorsTest, ClientConnectionUsableAfterUpstreamErrors) {
  Client c(port());
  EXPECT_TRUE(IsGatewayError(c.Get("/stub/reset"), 502));
  auto r = c.Get("/stub/echo/after-error");
  if (!r) {  // the gateway may close after an error; a new connection must then work
    r = HttpGet(port(), "/stub/echo/after-error");
  }
  EXPECT_TRUE(EchoedTarget(r, "/stub/echo/after-error"));
}

// The stub answers /ghost keep-alive and then closes: the next request may find that
// pooled connection dead before any response byte, and must be retried, even a POST.
TEST_F(BackendErrorsTest, PooledConnectionClosedByBackendIsRetried) {
  Client c(port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(HasStatus(c.Get("/stub/ghost/" + std::to_string(i)), 200)) << i;
    std::string body = "after-ghost-" + std::to_string(i);
    auto r = c.Request("POST", "/stub/echo/" + body, {}, body);
    ASSERT_TRUE(HasStatus(r, 200)) << i;
    EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(body));
  }
}

// A backend that dies in the middle of a Content-Length body: the client connection is
// closed (the response can be neither completed nor replaced), and the connection's slot
// and buffers are given back: with max_connections 4, twenty such failures in a row
// (bodies relayed straight and through the parser) leave the gateway serving.
class TruncatedBodyTest : public SharedStackTest<TruncatedBodyTest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.limits = R"("max_connections": 4)";
    spec.apis = {StubApi(b)};
    return BuildConfig(spec);
  }
};

TEST_F(TruncatedBodyTest, ClientConnectionClosedAndNothingLeaks) {
  for (int i = 0; i < 20; ++i) {
    Client c(port());
    std::string target = "/stub/truncate/" + std::string(i % 2 ? "300000" : "6000");
    EXPECT_FALSE(c.Get(target).has_value()) << target;
    EXPECT_TRUE(c.WaitClosed(3000)) << target;
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/stub/echo/alive"), "/stub/echo/alive")) << i;
  }
  EXPECT_TRUE(stack().Healthy());
}

}  // namespace
}  // namespace ringway::integration
