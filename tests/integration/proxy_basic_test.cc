// Issue 3: mock and url backends, request rewriting, forwarded headers, X-Request-Id,
// hop-by-hop headers in both directions, listeners.
#include "harness.h"

namespace ringway::integration {
namespace {

class ProxyBasicTest : public SharedStackTest<ProxyBasicTest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.listeners = {"main", "alt"};
    spec.environments = R"([{"name":"RELEASE","variables":{"version":"v1"}}])";
    spec.apis = {
        PingApi(),
        StubApi(b),
        ProxyApi("get_order", "GET", "/orders/{id}", b.address(), "/#version#/orders/{id}"),
        ProxyApi("as_post", "GET", "/as-post", b.address(), "/as-post", "",
                 R"("req_method":"POST")"),
        ProxyApi("host_override", "GET", "/host-override", b.address(), "/host-override", "",
                 R"("host_header":"orders.internal")"),
    };
    return BuildConfig(spec);
  }
};

TEST_F(ProxyBasicTest, PingMockAnswers) {
  auto r = HttpGet(port(), "/ping");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->body, kPingBody);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_FALSE(r->Header("x-request-id").empty());
}

TEST_F(ProxyBasicTest, UrlBackendGetsTemplatedPathAndQuery) {
  auto r = HttpGet(port(), "/orders/42?x=1&y=a%20b&x=2");
  ASSERT_TRUE(EchoedTarget(r, "/v1/orders/42?x=1&y=a%20b&x=2"));
  EXPECT_EQ(EchoField(*r, "server"), "stub");
  EXPECT_EQ(EchoField(*r, "method"), "GET");
}

TEST_F(ProxyBasicTest, BackendReqMethodOverridesRequestMethod) {
  auto r = HttpGet(port(), "/as-post");
  ASSERT_TRUE(EchoedTarget(r, "/as-post"));
  EXPECT_EQ(EchoField(*r, "method"), "POST");
}

TEST_F(ProxyBasicTest, RequestBodyAndMethodRelayed) {
  Client c(port());
  auto r = c.Request("PUT", "/stub/echo/put", {{"Content-Type", "text/plain"}}, "payload-123");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoField(*r, "method"), "PUT");
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 11);
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex("payload-123"));
  EXPECT_EQ(EchoHeader(*r, "content-type"), "text/plain");
}

TEST_F(ProxyBasicTest, DefaultHostHeaderIsBackendAddress) {
  auto r = HttpGet(port(), "/stub/echo", {{"Host", "shop.example.com"}});
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoHeader(*r, "host"), backend().address());
}

TEST_F(ProxyBasicTest, HostHeaderOverride) {
  auto r = HttpGet(port(), "/host-override");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoHeader(*r, "host"), "orders.internal");
}

TEST_F(ProxyBasicTest, ForwardedHeadersAdded) {
  auto r = HttpGet(port(), "/stub/echo", {{"Host", "shop.example.com"}});
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoHeader(*r, "x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(EchoHeader(*r, "x-forwarded-proto"), "http");
  EXPECT_EQ(EchoHeader(*r, "x-forwarded-host"), "shop.example.com");
}

TEST_F(ProxyBasicTest, ForwardedForIsAppendedTo) {
  auto r = HttpGet(port(), "/stub/echo", {{"X-Forwarded-For", "10.1.2.3, 10.0.0.9"}});
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(EchoHeader(*r, "x-forwarded-for"), "10.1.2.3, 10.0.0.9, 127.0.0.1");
}

TEST_F(ProxyBasicTest, RequestIdGeneratedEchoedAndForwarded) {
  auto r1 = HttpGet(port(), "/stub/echo/1");
  auto r2 = HttpGet(port(), "/stub/echo/2");
  ASSERT_TRUE(HasStatus(r1, 200));
  ASSERT_TRUE(HasStatus(r2, 200));
  std::string id1 = r1->Header("x-request-id");
  EXPECT_FALSE(id1.empty());
  EXPECT_EQ(r1->HeaderCount("x-request-id"), 1u);
  EXPECT_EQ(EchoHeader(*r1, "x-request-id"), id1);
  EXPECT_NE(r2->Header("x-request-id"), id1);
}

TEST_F(ProxyBasicTest, RequestIdKeptWhenClientSendsOne) {
  auto r = HttpGet(port(), "/stub/echo", {{"X-Request-Id", "client-rid-77"}});
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->Header("x-request-id"), "client-rid-77");
  EXPECT_EQ(EchoHeader(*r, "x-request-id"), "client-rid-77");
  auto mock = HttpGet(port(), "/ping", {{"X-Request-Id", "client-rid-78"}});
  ASSERT_TRUE(HasStatus(mock, 200));
  EXPECT_EQ(mock->Header("x-request-id"), "client-rid-78");
}

TEST_F(ProxyBasicTest, UnknownPathIsJsonError404WithRequestId) {
  auto r = HttpGet(port(), "/no/such/api", {{"X-Request-Id", "rid-404"}});
  EXPECT_TRUE(IsGatewayError(r, 404));
  EXPECT_EQ(JsonString(r->body, "/request_id"), "rid-404");
}

TEST_F(ProxyBasicTest, HopByHopRequestHeadersNotForwarded) {
  auto r = HttpGet(port(), "/stub/echo",
                   {{"Connection", "keep-alive, X-Hop"},
                    {"X-Hop", "secret"},
                    {"Keep-Alive", "timeout=300"},
                    {"TE", "trailers"},
                    {"Trailer", "X-Checksum"},
                    {"Upgrade", "foo/1"},
                    {"Proxy-Authorization", "Basic eDp5"},
                    {"Proxy-Connection", "keep-alive"},
                    {"X-End-To-End", "yes"}});
  ASSERT_TRUE(HasStatus(r, 200));
  for (const char* h : {"x-hop", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization",
                        "proxy-connection"}) {
    EXPECT_EQ(EchoHeader(*r, h), "<absent>") << h;
  }
  EXPECT_FALSE(HasToken(EchoHeader(*r, "connection"), "x-hop"));
  EXPECT_EQ(EchoHeader(*r, "x-end-to-end"), "yes");
}

TEST_F(ProxyBasicTest, HopByHopResponseHeadersNotForwarded) {
  auto r = HttpGet(port(), "/stub/headers");
  ASSERT_TRUE(HasStatus(r, 200));
  for (const char* h : {"x-foo", "keep-alive", "proxy-connection", "upgrade", "trailer"}) {
    EXPECT_FALSE(r->HasHeader(h)) << h << ": " << r->Header(h);
  }
  EXPECT_FALSE(HasToken(r->Header("connection"), "x-foo"));
  EXPECT_EQ(r->Header("x-end-to-end"), "kept");
}

TEST_F(ProxyBasicTest, BackendStatusAndBodyRelayed) {
  auto r = HttpGet(port(), "/stub/status/418");
  ASSERT_TRUE(HasStatus(r, 418));
  EXPECT_EQ(r->body, "status 418\n");
  auto unavailable = HttpGet(port(), "/stub/status/503");
  ASSERT_TRUE(HasStatus(unavailable, 503));
  EXPECT_EQ(unavailable->body, "status 503\n");
}

TEST_F(ProxyBasicTest, EveryListenerServes) {
  int alt = gateway().port("alt");
  ASSERT_GT(alt, 0);
  EXPECT_NE(alt, port());
  auto r = HttpGet(alt, "/ping");
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->body, kPingBody);
}

}  // namespace
}  // namespace ringway::integration
