// Self-test of the harness without ringway: the stub backend through the Client, the
// process helpers against fake gateways (shell scripts), JSON and config helpers.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <csignal>

#include "harness.h"

namespace ringway::integration {
namespace {

class StubTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    backend_ = std::make_unique<Backend>();
    started_ = backend_->Start("self");
  }
  static void TearDownTestSuite() { backend_.reset(); }
  void SetUp() override { ASSERT_TRUE(started_); }
  static int port() { return backend_->port(); }

  static inline std::unique_ptr<Backend> backend_;
  static inline ::testing::AssertionResult started_ = ::testing::AssertionFailure();
};

TEST(WireTest, Fnv1aKnownVectors) {
  EXPECT_EQ(Fnv1aHex(""), "cbf29ce484222325");
  EXPECT_EQ(Fnv1aHex("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(Fnv1aHex("foobar"), "85944171f73967e8");
}

TEST(WireTest, PatternIsDeterministic) {
  EXPECT_EQ(PatternBytes(0, 28), "abcdefghijklmnopqrstuvwxyzab");
  EXPECT_EQ(PatternBytes(25, 3), "zab");
  EXPECT_TRUE(MatchesPattern(100000, PatternBytes(100000, 200000)));
  EXPECT_FALSE(MatchesPattern(1, PatternBytes(0, 10)));
}

TEST_F(StubTest, EchoReportsRequest) {
  auto r = HttpGet(port(), "/echo/x?y=1&z", {{"X-Custom", "v1"}});
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoField(*r, "server"), "self");
  EXPECT_EQ(EchoField(*r, "method"), "GET");
  EXPECT_EQ(EchoField(*r, "target"), "/echo/x?y=1&z");
  EXPECT_EQ(EchoHeader(*r, "x-custom"), "v1");
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 0);
  EXPECT_TRUE(backend_->WaitRequest("GET /echo/x?y=1&z", 2000));
}

TEST_F(StubTest, BodyChecksumContentLengthAndChunked) {
  Client c(port());
  auto r = c.Request("POST", "/echo", {}, "hello world");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 11);
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex("hello world"));
  ASSERT_TRUE(c.Send(BuildRequest("POST", "/echo", {{"Transfer-Encoding", "chunked"}},
                                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")));
  r = c.ReadFinal();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 11);
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex("hello world"));
}

TEST_F(StubTest, PipelinedRequestsAnsweredInOrderOnOneConnection) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/delay/50") + BuildRequest("GET", "/echo/2") +
                     BuildRequest("HEAD", "/bytes/10") + BuildRequest("GET", "/echo/4")));
  std::vector<std::string> targets;
  for (bool head : {false, false, true, false}) {
    auto r = c.Read(head);
    ASSERT_TRUE(HasStatus(r, 200));
    targets.push_back(head ? "HEAD" : EchoField(*r, "target"));
    EXPECT_EQ(r->body_bytes, 0u + (head ? 0 : r->body.size()));
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/delay/50", "/echo/2", "HEAD", "/echo/4"}));
}

TEST_F(StubTest, BytesChunkedAndCloseDelimitedBodies) {
  for (std::string kind : {"bytes", "chunked", "close"}) {
    EXPECT_TRUE(HasPatternBody(HttpGet(port(), "/" + kind + "/100003"), 100003)) << kind;
  }
  EXPECT_EQ(HttpGet(port(), "/chunked/10")->Header("transfer-encoding"), "chunked");
  EXPECT_FALSE(HttpGet(port(), "/close/10")->HasHeader("content-length"));
}

TEST_F(StubTest, NoBodyForHeadAnd204And304) {
  Client c(port());
  for (std::string target : {"/status/204", "/status/304"}) {
    auto r = c.Get(target);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, std::stoi(target.substr(8)));
    EXPECT_EQ(r->body_bytes, 0u);
  }
  auto head = c.Request("HEAD", "/bytes/1000");
  ASSERT_TRUE(HasStatus(head, 200));
  EXPECT_EQ(head->Header("content-length"), "1000");
  EXPECT_TRUE(EchoedTarget(c.Get("/echo/after"), "/echo/after"));
}

TEST_F(StubTest, ResetClosesWithoutAnswer) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/reset")));
  EXPECT_FALSE(c.Read());
  EXPECT_EQ(c.last_status(), ReadStatus::kError) << ToString(c.last_status());
}

TEST_F(StubTest, SinkAndExpectContinue) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  std::string body = PatternBytes(0, 1 << 20);
  ASSERT_TRUE(c.Send(
      BuildRequest("PUT", "/sink", {{"Content-Length", "1048576"}, {"Expect", "100-continue"}})));
  auto interim = c.Read();
  ASSERT_TRUE(HasStatus(interim, 100));
  ASSERT_TRUE(c.Send(body));
  auto r = c.ReadFinal();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/bytes"), 1 << 20);
  EXPECT_EQ(JsonString(r->body, "/fnv"), Fnv1aHex(body));
}

TEST_F(StubTest, HopByHopHeadersAreSentByStub) {
  auto r = HttpGet(port(), "/headers");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->Header("x-foo"), "must-not-pass");
  EXPECT_TRUE(r->HasHeader("keep-alive"));
  EXPECT_EQ(r->Header("x-end-to-end"), "kept");
}

TEST_F(StubTest, ByeClosesAfterAnswer) {
  Client c(port());
  auto r = c.Get("/bye");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed(2000));
}

TEST(ClientTest, UnusedPortIsRefused) {
  Client c(UnusedPort());
  EXPECT_FALSE(c.Connect());
  EXPECT_EQ(c.connect_errno(), ECONNREFUSED);
}

// A fake ringway: a shell script in a temp dir.
std::string FakeGateway(const TempDir& dir, const std::string& body) {
  std::string path = dir.WriteFile("fake-ringway", "#!/bin/sh\n" + body);
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST(GatewayHarnessTest, FailsFastWhenTheBinaryExits) {
  TempDir dir;
  Gateway gw;
  auto start = std::chrono::steady_clock::now();
  auto r = gw.Start("{}", {.binary = FakeGateway(dir, "echo 'boom' >&2\nexit 3\n")});
  EXPECT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_NE(std::string(r.message()).find("exited with status 3"), std::string::npos)
      << r.message();
  EXPECT_NE(std::string(r.message()).find("boom"), std::string::npos);
}

TEST(GatewayHarnessTest, ReadyTimeoutWhenSilent) {
  TempDir dir;
  Gateway gw;
  auto r = gw.Start("{}", {.ready_timeout_ms = 300, .binary = FakeGateway(dir, "exec sleep 30\n")});
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("still running"), std::string::npos) << r.message();
}

TEST(GatewayHarnessTest, ParsesListenersAndSignals) {
  TempDir dir;
  Gateway gw;
  std::string script =
      "echo \"2024-01-01T00:00:00Z info listening name=main address=127.0.0.1:4567\" >&2\n"
      "echo \"2024-01-01T00:00:00Z info listening name=alt address=127.0.0.1:4568\" >&2\n"
      "echo \"2024-01-01T00:00:00Z info ready shards=2\" >&2\n"
      "exec sleep 30\n";
  ASSERT_TRUE(gw.Start("{\"x\":1}", {.binary = FakeGateway(dir, script)}));
  EXPECT_EQ(gw.port(), 4567);
  EXPECT_EQ(gw.port("alt"), 4568);
  EXPECT_EQ(gw.port("nope"), -1);
  EXPECT_GT(gw.RssKib(), 0);
  EXPECT_TRUE(gw.LogContains("ready shards=2"));
  EXPECT_FALSE(gw.WaitLog("never", 50));
  gw.Signal(SIGTERM);
  EXPECT_EQ(gw.WaitExit(3000), 128 + SIGTERM);
}

TEST(JsonTest, FieldsAndGatewayErrors) {
  Response r;
  r.status = 404;
  r.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", "rid-1"}};
  r.body = R"({"error_code":"RW.0404","error_msg":"no api","request_id":"rid-1","n":7})";
  EXPECT_EQ(JsonString(r.body, "/error_code"), "RW.0404");
  EXPECT_EQ(JsonInt(r.body, "/n"), 7);
  EXPECT_EQ(JsonString(r.body, "/missing"), std::nullopt);
  EXPECT_EQ(JsonString("not json", "/x"), std::nullopt);
  EXPECT_TRUE(IsGatewayError(r, 404));
  EXPECT_FALSE(IsGatewayError(r, 400));
  r.headers[1].second = "other";
  EXPECT_FALSE(IsGatewayError(r, 404));
}

TEST(JsonTest, BuildConfigIsValidJson) {
  ConfigSpec spec;
  spec.limits = R"("max_headers": 10)";
  spec.apis = {ProxyApi("a", "GET", "/a/{id}", "127.0.0.1:1", "/b/{id}", "", R"("timeout_ms":5)"),
               MockApi("ping", "ANY", "/ping", "p\"o\"ng")};
  std::string json = BuildConfig(spec);
  EXPECT_EQ(JsonString(json, "/apis/0/backend/url"), "127.0.0.1:1");
  EXPECT_EQ(JsonInt(json, "/apis/0/backend/timeout_ms"), 5);
  EXPECT_EQ(JsonString(json, "/apis/1/backend/mock/body"), "p\"o\"ng");
  EXPECT_EQ(JsonInt(json, "/limits/max_headers"), 10);
  EXPECT_EQ(JsonString(json, "/listeners/0/address"), "127.0.0.1:0");
  EXPECT_EQ(JsonString(json, "/listeners/0/tls"), std::nullopt);
}

TEST(JsonTest, BuildConfigPutsTlsOnItsListener) {
  ConfigSpec spec;
  spec.listeners = {"plain", "tls"};
  spec.listener_tls = {{"tls", R"({"certificate":"/c.pem","private_key":"/k.pem"})"}};
  spec.apis = {PingApi()};
  std::string json = BuildConfig(spec);
  EXPECT_EQ(JsonString(json, "/listeners/0/name"), "plain");
  EXPECT_EQ(JsonString(json, "/listeners/0/tls/certificate"), std::nullopt);
  EXPECT_EQ(JsonString(json, "/listeners/1/name"), "tls");
  EXPECT_EQ(JsonString(json, "/listeners/1/tls/certificate"), "/c.pem");
  EXPECT_EQ(JsonString(json, "/listeners/1/tls/private_key"), "/k.pem");
}

TEST(ProcessTest, StdinIsFedThenClosed) {
  CommandResult r = RunCommand({"/bin/cat"}, 5000, "one\ntwo\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\n");
  r = RunCommand({"/bin/cat"}, 5000);  // no input: /dev/null
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");

  Process cat;
  std::string error;
  ASSERT_TRUE(cat.Spawn({"/bin/cat"}, &error, /*pipe_stdin=*/true)) << error;
  ASSERT_TRUE(cat.WriteStdin("first;"));
  EXPECT_TRUE(cat.WaitFor(Process::kStdout, "first;", 5000));  // while stdin is still open
  ASSERT_TRUE(cat.WriteStdin("second"));
  cat.CloseStdin();
  EXPECT_EQ(cat.WaitExit(5000), 0);
  EXPECT_EQ(cat.Output(Process::kStdout), "first;second");
  EXPECT_FALSE(cat.WriteStdin("late"));

  Process plain;
  ASSERT_TRUE(plain.Spawn({"/bin/cat"}, &error)) << error;
  EXPECT_FALSE(plain.WriteStdin("x")) << "stdin is not piped";
  EXPECT_EQ(plain.WaitExit(5000), 0);
}

}  // namespace
}  // namespace ringway::integration
