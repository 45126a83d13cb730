// Issue 3: `limits` of CONFIG.md: 414, 431 (count and bytes), 413 (Content-Length and
// chunked), client_header_timeout_ms, client_idle_timeout_ms, max_connections.
#include <chrono>
#include <thread>

#include "harness.h"

namespace ringway::integration {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kHeaderTimeoutMs = 300;
constexpr int kIdleTimeoutMs = 400;

class LimitsTest : public SharedStackTest<LimitsTest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.limits = R"("max_header_bytes": 1024, "max_headers": 10, "max_body_bytes": 1000,)"
                  R"("client_header_timeout_ms": )" +
                  std::to_string(kHeaderTimeoutMs) + R"(, "client_idle_timeout_ms": )" +
                  std::to_string(kIdleTimeoutMs);
    spec.apis = {PingApi(), StubApi(b)};
    return BuildConfig(spec);
  }
};

std::string Repeat(char c, size_t n) { return std::string(n, c); }

// "X-H0: v\r\n" ... for n headers.
std::string NumberedHeaders(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += "X-H" + std::to_string(i) + ": v\r\n";
  }
  return out;
}

std::string ChunkedHead(std::string_view target) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
}

// One chunk of `n` pattern bytes.
std::string Chunk(size_t n) {
  char line[32];
  std::snprintf(line, sizeof(line), "%zx\r\n", n);
  return line + PatternBytes(0, n) + "\r\n";
}

long ElapsedMs(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

TEST_F(LimitsTest, LongRequestLineIs414) {
  std::string raw = "GET /stub/" + Repeat('a', 1100) + " HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_TRUE(RejectedAndClosed(port(), raw, 414));
}

TEST_F(LimitsTest, TooManyHeadersIs431) {
  std::string raw = "GET /ping HTTP/1.1\r\nHost: a\r\n" + NumberedHeaders(15) + "\r\n";
  EXPECT_TRUE(RejectedAndClosed(port(), raw, 431));
}

TEST_F(LimitsTest, HeadersOverByteLimitAre431) {
  std::string raw = "GET /ping HTTP/1.1\r\nHost: a\r\nX-Big: " + Repeat('b', 1100) + "\r\n\r\n";
  EXPECT_TRUE(RejectedAndClosed(port(), raw, 431));
}

TEST_F(LimitsTest, HeadsWithinLimitsPass) {
  // 10 header lines (Host included), about 900 bytes with the request line.
  std::string raw = "GET /stub/echo HTTP/1.1\r\nHost: a\r\n" + NumberedHeaders(8) +
                    "X-Pad: " + Repeat('p', 780) + "\r\n\r\n";
  ASSERT_LT(raw.size(), 1000u);
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(raw));
  auto r = c.Read();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoHeader(*r, "x-pad").size(), 780u);
}

TEST_F(LimitsTest, ContentLengthOverLimitIs413) {
  EXPECT_TRUE(RejectedAndClosed(
      port(), "POST /stub/sink HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413));
}

TEST_F(LimitsTest, ChunkedBodyOverLimitIs413) {
  EXPECT_TRUE(RejectedAndClosed(port(), ChunkedHead("/stub/sink") + Chunk(600) + Chunk(600), 413));
}

TEST_F(LimitsTest, BodiesAtLimitPass) {
  Client c(port());
  auto r = c.Request("POST", "/stub/sink", {}, PatternBytes(0, 1000));
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/bytes"), 1000);
  ASSERT_TRUE(c.Send(ChunkedHead("/stub/sink") + Chunk(500) + Chunk(500) + "0\r\n\r\n"));
  r = c.Read();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/bytes"), 1000);
}

TEST_F(LimitsTest, IncompleteHeadClosedAfterHeaderTimeout) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send("GET /ping HTTP/1.1\r\nHost: a\r\n"));
  auto start = Clock::now();
  std::string got;
  EXPECT_TRUE(c.WaitClosed(3000, &got));
  EXPECT_GE(ElapsedMs(start), kHeaderTimeoutMs - 50);
  if (!got.empty()) {
    EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
  }
}

// A head trickled one byte per 100 ms is closed once the header timeout has passed since
// its start: progress does not restart the timer.
TEST_F(LimitsTest, TrickledHeadClosedAfterHeaderTimeout) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send("GET /ping HTTP/1.1\r\nHost: a\r\nX-Slow: "));
  auto start = Clock::now();
  bool gateway_acted = false;
  for (int i = 0; i < 30 && !gateway_acted; ++i) {
    gateway_acted = c.Readable() || !c.Send("a");
    if (!gateway_acted) {
      std::this_thread::sleep_for(milliseconds(100));  // the slow client's pace
    }
  }
  EXPECT_TRUE(gateway_acted);
  EXPECT_LT(ElapsedMs(start), kHeaderTimeoutMs + 1000);
  EXPECT_TRUE(c.WaitClosed(2000));
}

TEST_F(LimitsTest, IdleKeepAliveConnectionClosed) {
  Client c(port());
  ASSERT_TRUE(HasStatus(c.Get("/ping"), 200));
  auto start = Clock::now();
  std::string got;
  EXPECT_TRUE(c.WaitClosed(3000, &got));
  EXPECT_GE(ElapsedMs(start), kIdleTimeoutMs - 100);
  EXPECT_EQ(got, "") << "idle close must not send a response";
}

TEST_F(LimitsTest, BusyConnectionOutlivesIdleTimeout) {
  Client c(port());
  auto start = Clock::now();
  for (int i = 0; ElapsedMs(start) < 2 * kIdleTimeoutMs; ++i) {
    ASSERT_TRUE(HasStatus(c.Get("/ping"), 200)) << "request " << i;
    std::this_thread::sleep_for(milliseconds(kIdleTimeoutMs / 4));  // the client's pace
  }
}

class MaxConnectionsTest : public SharedStackTest<MaxConnectionsTest> {
 public:
  static GatewayOptions Options() { return {.shards = 1}; }
  static std::string Config(const Backend&) {
    ConfigSpec spec;
    spec.limits = R"("max_connections": 2)";
    spec.apis = {PingApi()};
    return BuildConfig(spec);
  }
};

TEST_F(MaxConnectionsTest, ConnectionsBeyondLimitClosedAtOnce) {
  Client a(port());
  Client b(port());
  ASSERT_TRUE(HasStatus(a.Get("/ping"), 200));
  ASSERT_TRUE(HasStatus(b.Get("/ping"), 200));
  Client over(port());
  ASSERT_TRUE(over.Connect());  // the kernel accepts; the gateway must close it
  over.Send(BuildRequest("GET", "/ping"));
  auto start = Clock::now();
  std::string got;
  EXPECT_TRUE(over.WaitClosed(2000, &got));
  EXPECT_LT(ElapsedMs(start), 1000);
  EXPECT_TRUE(got.empty() || got.rfind("HTTP/1.1 503", 0) == 0) << got;
  // The two admitted connections still work; closing one makes room again.
  EXPECT_TRUE(HasStatus(a.Get("/ping"), 200));
  a.Close();
  EXPECT_TRUE(PollUntil([&] { return HasStatus(HttpGet(port(), "/ping"), 200); }, 3000));
  EXPECT_TRUE(HasStatus(b.Get("/ping"), 200));
}

}  // namespace
}  // namespace ringway::integration
