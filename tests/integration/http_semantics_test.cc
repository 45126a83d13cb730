// Issue 3: HTTP/1.1 through the gateway: keep-alive, pipelining, chunked bodies both ways,
// Expect: 100-continue, HEAD/204/304, close-delimited backend bodies, Connection: close.
#include "harness.h"

namespace ringway::integration {
namespace {

class HttpSemanticsTest : public SharedStackTest<HttpSemanticsTest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.apis = {PingApi(), StubApi(b)};
    return BuildConfig(spec);
  }
};

// Chunked framing of `body` in chunks of the given sizes (the last one takes the rest).
std::string Chunked(std::string_view body, const std::vector<size_t>& sizes) {
  std::string out;
  size_t i = 0;
  while (!body.empty()) {
    size_t n = i < sizes.size() ? std::min(sizes[i++], body.size()) : body.size();
    char line[32];
    std::snprintf(line, sizeof(line), "%zx\r\n", n);
    out += line;
    out += body.substr(0, n);
    out += "\r\n";
    body.remove_prefix(n);
  }
  return out + "0\r\n\r\n";
}

TEST_F(HttpSemanticsTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  for (int i = 0; i < 5; ++i) {
    std::string target = "/stub/echo/keepalive-" + std::to_string(i);
    auto r = c.Get(target);
    ASSERT_TRUE(EchoedTarget(r, target)) << "request " << i;
    EXPECT_FALSE(HasToken(r->Header("connection"), "close"));
  }
  // The stub's log line may reach the harness a moment after its response.
  EXPECT_TRUE(PollUntil([] { return backend().RequestCount("/stub/echo/keepalive-") == 5u; }, 2000))
      << backend().RequestCount("/stub/echo/keepalive-");
}

TEST_F(HttpSemanticsTest, PipelinedRequestsAnsweredInOrder) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/stub/delay/200?n=1") +
                     BuildRequest("GET", "/stub/echo/pipelined-2") + BuildRequest("GET", "/ping")));
  EXPECT_TRUE(EchoedTarget(c.Read(), "/stub/delay/200?n=1"));
  EXPECT_TRUE(EchoedTarget(c.Read(), "/stub/echo/pipelined-2"));
  auto r3 = c.Read();
  ASSERT_TRUE(HasStatus(r3, 200));
  EXPECT_EQ(r3->body, kPingBody);
}

// A pipelined burst far larger than a connection's input buffer, sent while the first
// request waits on a slow backend: the gateway's receive takes what fits, holds a little
// more and stops (the rest waits in the kernel); every request is then answered, in order,
// none lost or repeated. The client's EOF, sent right behind the burst, is acted on only
// after the last of them was answered: then the connection closes.
TEST_F(HttpSemanticsTest, PipelinedBurstBeyondTheInputBufferServedInOrderThenEof) {
  constexpr int kRequests = 1500;
  Client c(port(), 10000);
  ASSERT_TRUE(c.Connect());
  std::string burst = BuildRequest("GET", "/stub/delay/300?n=burst");
  for (int i = 0; i < kRequests; ++i) {
    burst += BuildRequest("GET", "/stub/echo/burst-" + std::to_string(i));
  }
  ASSERT_GT(burst.size(), 64u * 1024);
  ASSERT_TRUE(c.Send(burst));
  c.ShutdownWrite();
  EXPECT_TRUE(EchoedTarget(c.Read(), "/stub/delay/300?n=burst"));
  for (int i = 0; i < kRequests; ++i) {
    std::string target = "/stub/echo/burst-" + std::to_string(i);
    ASSERT_TRUE(EchoedTarget(c.Read(), target)) << target;
  }
  EXPECT_TRUE(c.WaitClosed(3000));
  EXPECT_TRUE(PollUntil(
      [] { return backend().RequestCount("/stub/echo/burst-") == static_cast<size_t>(kRequests); },
      3000))
      << backend().RequestCount("/stub/echo/burst-");
}

// A Content-Length body whose rest after the first receive is small arrives in pieces
// (drip: 8 pieces, 5 ms apart): the rest is copied as it comes, and the backend
// connection is reused afterwards. Sizes around the 16 KiB direct-relay threshold.
TEST_F(HttpSemanticsTest, SmallBodyRestsInPiecesOnOneConnection) {
  Client c(port());
  for (size_t n : {4000u, 20000u, 32768u, 32769u, 40000u}) {
    ASSERT_TRUE(HasPatternBody(c.Get("/stub/drip/" + std::to_string(n)), n)) << n;
    ASSERT_TRUE(EchoedTarget(c.Get("/stub/echo/after-drip"), "/stub/echo/after-drip")) << n;
  }
}

TEST_F(HttpSemanticsTest, ChunkedRequestBodyRelayedIntact) {
  std::string body = PatternBytes(7, 200000);
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(
      c.Send(BuildRequest("POST", "/stub/echo/chunked-in", {{"Transfer-Encoding", "chunked"}},
                          Chunked(body, {1, 1000, 65536, 3}))));
  auto r = c.ReadFinal();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 200000);
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(body));
}

TEST_F(HttpSemanticsTest, ChunkedResponseRelayedIntact) {
  EXPECT_TRUE(HasPatternBody(HttpGet(port(), "/stub/chunked/300001"), 300001));
}

TEST_F(HttpSemanticsTest, ContentLengthBodiesRelayedBothWays) {
  std::string body = PatternBytes(3, 100000);
  Client c(port());
  auto up = c.Request("POST", "/stub/sink", {}, body);
  ASSERT_TRUE(HasStatus(up, 200));
  EXPECT_EQ(JsonInt(up->body, "/bytes"), 100000);
  EXPECT_EQ(JsonString(up->body, "/fnv"), Fnv1aHex(body));
  auto down = c.Get("/stub/bytes/500000");
  ASSERT_TRUE(HasPatternBody(down, 500000));
  EXPECT_EQ(down->Header("content-length"), "500000");
}

// Large Content-Length bodies are received straight into the client's buffer (no parser):
// a body that arrives in pieces with pauses, and large and small bodies mixed on one
// keep-alive connection, must come through whole and in order.
TEST_F(HttpSemanticsTest, LargeBodiesInPiecesAndMixedSizesOnOneConnection) {
  Client c(port());
  ASSERT_TRUE(HasPatternBody(c.Get("/stub/drip/300001"), 300001));
  for (size_t n : {65536u, 13u, 16385u, 200000u, 1024u, 16384u, 131072u, 131073u, 1u}) {
    ASSERT_TRUE(HasPatternBody(c.Get("/stub/bytes/" + std::to_string(n)), n)) << n;
  }
  // Pipelined: the second request waits in the gateway while the first body streams.
  ASSERT_TRUE(
      c.Send(BuildRequest("GET", "/stub/bytes/250000") + BuildRequest("GET", "/stub/drip/70000")));
  ASSERT_TRUE(HasPatternBody(c.ReadFinal(), 250000));
  ASSERT_TRUE(HasPatternBody(c.ReadFinal(), 70000));
  auto head = c.Request("HEAD", "/stub/bytes/300000");
  ASSERT_TRUE(HasStatus(head, 200));
  EXPECT_EQ(head->body_bytes, 0u);
  EXPECT_TRUE(EchoedTarget(c.Get("/stub/echo/after-large"), "/stub/echo/after-large"));
}

TEST_F(HttpSemanticsTest, ExpectContinueGets100ThenFinalResponse) {
  std::string body = PatternBytes(0, 5000);
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("POST", "/stub/sink",
                                  {{"Content-Length", "5000"}, {"Expect", "100-continue"}})));
  auto interim = c.Read();  // nothing of the body has been sent yet
  ASSERT_TRUE(HasStatus(interim, 100));
  ASSERT_TRUE(c.Send(body));
  auto r = c.ReadFinal();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/bytes"), 5000);
  EXPECT_EQ(JsonString(r->body, "/fnv"), Fnv1aHex(body));
}

// After a response without a body, the next response on the connection must parse: any
// stray body byte would corrupt it.
TEST_F(HttpSemanticsTest, HeadAnd204And304HaveNoBody) {
  Client c(port());
  auto head = c.Request("HEAD", "/stub/bytes/5000");
  ASSERT_TRUE(HasStatus(head, 200));
  EXPECT_EQ(head->body_bytes, 0u);
  for (int status : {204, 304}) {
    auto r = c.Get("/stub/status/" + std::to_string(status));
    ASSERT_TRUE(HasStatus(r, status));
    EXPECT_EQ(r->body_bytes, 0u);
  }
  EXPECT_TRUE(EchoedTarget(c.Get("/stub/echo/after-no-body"), "/stub/echo/after-no-body"));
  EXPECT_EQ(c.ReadUntilEof(100), "");  // nothing left over on the connection
}

TEST_F(HttpSemanticsTest, CloseDelimitedBackendBodyRelayed) {
  EXPECT_TRUE(HasPatternBody(HttpGet(port(), "/stub/close/200003"), 200003));
}

TEST_F(HttpSemanticsTest, ClientConnectionCloseHonoured) {
  Client c(port());
  auto r = c.Get("/stub/echo/client-close", {{"Connection", "close"}});
  ASSERT_TRUE(EchoedTarget(r, "/stub/echo/client-close"));
  EXPECT_TRUE(HasToken(r->Header("connection"), "close"));
  EXPECT_TRUE(c.WaitClosed(2000));
}

TEST_F(HttpSemanticsTest, BackendConnectionCloseKeepsClientConnection) {
  Client c(port());
  for (int i = 0; i < 3; ++i) {
    auto r = c.Get("/stub/bye/" + std::to_string(i));
    ASSERT_TRUE(HasStatus(r, 200)) << "request " << i;
    EXPECT_FALSE(HasToken(r->Header("connection"), "close"));
  }
  EXPECT_TRUE(EchoedTarget(c.Get("/stub/echo/after-bye"), "/stub/echo/after-bye"));
}

TEST_F(HttpSemanticsTest, Http10ClientWithoutHostIsServedThenClosed) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send("GET /ping HTTP/1.0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->body, kPingBody);
  EXPECT_TRUE(c.WaitClosed(2000));
}

}  // namespace
}  // namespace ringway::integration
