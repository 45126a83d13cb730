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

// One shard: its slot table and backend receive buffers are the whole gateway's.
template <int kMaxConnections, int kTimeoutMs>
class OneShardStubTest : public SharedStackTest<OneShardStubTest<kMaxConnections, kTimeoutMs>> {
 public:
  static GatewayOptions Options() { return {.shards = 1}; }
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.limits = R"("max_connections": )" + std::to_string(kMaxConnections);
    spec.apis = {StubApi(b, R"("timeout_ms": )" + std::to_string(kTimeoutMs))};
    return BuildConfig(spec);
  }
};

// Clients that stop reading in the middle of a response, the last bytes of a Connection:
// close exchange among them (that send carries the kernel-linked close): the backend
// timeout, which also bounds the download, closes each one and gives its slot back. With
// max_connections 2, a stalled connection that kept its slot would keep the gateway full.
using StalledClientTest = OneShardStubTest<2, kBackendTimeoutMs>;

// A connection whose client never reads (a tiny receive buffer, and small segments so
// that the gateway's send buffer stays small too) once its response has started. Retried
// while the gateway still frees the slots of the previous round's connections.
std::unique_ptr<Client> StalledClient(int port, const std::string& target) {
  auto start = Clock::now();
  while (ElapsedMs(start) < 5000) {
    auto c = std::make_unique<Client>(port);
    c->SetRecvBuffer(1);  // the kernel's minimum
    c->SetMaxSegment(536);
    if (c->Connect() &&
        c->Send("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") &&
        c->Peek(12) == "HTTP/1.1 200") {
      return c;
    }
  }
  return nullptr;
}

TEST_F(StalledClientTest, NonReadingClientsAreClosedAndTheirSlotsFreed) {
  // Larger than the kernel buffers on both sides, whole in the gateway's relay buffer (its
  // last send is the linked one) or not, relayed straight (Content-Length) and through the
  // parser (chunked).
  for (const char* what : {"bytes/120000", "bytes/8000000", "chunked/8000000"}) {
    std::vector<std::unique_ptr<Client>> stalled;
    for (int i = 0; i < 2; ++i) {
      stalled.push_back(StalledClient(port(), std::string("/stub/") + what));
      ASSERT_NE(stalled.back(), nullptr) << what;
    }
    // Both slots are taken until the timeout; then both must serve again, at once: two
    // kept-alive connections, each answered.
    auto start = Clock::now();
    bool served = false;
    while (!served && ElapsedMs(start) < 5000) {
      Client a(port());
      Client b(port());
      served = EchoedTarget(a.Get("/stub/echo/a"), "/stub/echo/a") &&
               EchoedTarget(b.Get("/stub/echo/b"), "/stub/echo/b");
    }
    EXPECT_TRUE(served) << what << ": a stalled connection kept its slot";
    EXPECT_GE(ElapsedMs(start), kBackendTimeoutMs / 2) << what << ": served before the timeout";
  }
  EXPECT_TRUE(stack().Healthy());
}

// More clients that stop reading than a shard has backend receive buffers (256), each in
// a Content-Length response whose first receive would be sent from its buffer (a lead)
// and so hold it until sent. At most kMaxLeads (128) are held that way, the others are
// copied out: backend receives never run dry, and a client that reads is answered while
// all of them are still stalled (their backend timeout is a minute away).
using StalledLeadsTest = OneShardStubTest<1000, 60000>;

TEST_F(StalledLeadsTest, ReadingClientAnsweredWhileMoreClientsThanBuffersStall) {
  std::vector<std::unique_ptr<Client>> stalled;
  for (int i = 0; i < 300; ++i) {
    stalled.push_back(StalledClient(port(), "/stub/bytes/120000"));
    ASSERT_NE(stalled.back(), nullptr) << "stalled client " << i << " got no response head";
  }
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/stub/echo/reader"), "/stub/echo/reader"));
  EXPECT_TRUE(stack().Healthy());
}

}  // namespace
}  // namespace ringway::integration
