// Issue 3: API routing: environments by X-Stage, method, specificity (exact, params,
// prefix), prefix rest appended, {name+}, domains.
#include "harness.h"

namespace ringway::integration {
namespace {

class RoutingTest : public SharedStackTest<RoutingTest> {
 public:
  static std::string Config(const Backend& b) {
    const std::string url = b.address();
    const std::string prefix = R"("match_mode":"prefix")";
    ConfigSpec spec;
    spec.environments = R"([{"name":"RELEASE","variables":{"version":"v1"}},
        {"name":"TEST","variables":{"version":"v2"}}, {"name":"STAGING"}])";
    spec.apis = {
        ProxyApi("get_order", "GET", "/orders/{id}", url, "/#version#/orders/{id}",
                 R"("environments":["RELEASE","TEST"])"),
        MockApi("beta", "GET", "/beta", "beta", R"("environments":["TEST"])"),
        MockApi("only_get", "GET", "/only-get", "only-get"),
        MockApi("any", "ANY", "/any", "any"),
        MockApi("exact", "GET", "/items/special", "exact"),
        MockApi("param", "GET", "/items/{id}", "param"),
        MockApi("prefix", "GET", "/items", "prefix", prefix),
        MockApi("deep_prefix", "GET", "/items/deep", "deep-prefix", prefix),
        ProxyApi("pre", "ANY", "/pre", url, "/backend", prefix),
        ProxyApi("files", "GET", "/files/{path+}", url, "/store/{path}"),
        ProxyApi("posts", "GET", "/users/{uid}/posts/{pid}", url, "/u/{uid}/p/{pid}"),
        MockApi("domain", "GET", "/d", "domain", R"("domain":"api.example.com")"),
        MockApi("no_domain", "GET", "/d", "no-domain"),
    };
    return BuildConfig(spec);
  }

  // Body of a 200 answer, or a description of what came instead.
  static std::string BodyOf(std::string_view method, std::string_view target,
                            const HeaderList& headers = {}) {
    Client c(port());
    auto r = c.Request(method, target, headers);
    if (!r) {
      return "<no response>";
    }
    return r->status == 200 ? r->body : "<status " + std::to_string(r->status) + ">";
  }
};

TEST_F(RoutingTest, ReleaseIsTheDefaultStage) {
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/orders/7"), "/v1/orders/7"));
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/orders/7", {{"X-Stage", "RELEASE"}}), "/v1/orders/7"));
}

TEST_F(RoutingTest, XStageSelectsEnvironmentVariables) {
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/orders/7", {{"X-Stage", "TEST"}}), "/v2/orders/7"));
}

TEST_F(RoutingTest, UnknownStageIs404) {
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/orders/7", {{"X-Stage", "NOPE"}}), 404));
}

TEST_F(RoutingTest, ApiNotPublishedInStageIs404) {
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/orders/7", {{"X-Stage", "STAGING"}}), 404));
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/beta"), 404));
  EXPECT_EQ(BodyOf("GET", "/beta", {{"X-Stage", "TEST"}}), "beta");
}

TEST_F(RoutingTest, MethodMismatchIs404) {
  EXPECT_EQ(BodyOf("GET", "/only-get"), "only-get");
  Client c(port());
  EXPECT_TRUE(IsGatewayError(c.Request("POST", "/only-get", {}, "x"), 404));
}

TEST_F(RoutingTest, AnyMatchesEveryMethod) {
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    EXPECT_EQ(BodyOf(method, "/any"), "any") << method;
  }
}

TEST_F(RoutingTest, MostSpecificRouteWins) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/items/special", "exact"},         // exact before params
      {"/items/7", "param"},               // params before prefix
      {"/items/deep", "param"},            // params before prefix, even a longer one
      {"/items/7/reviews", "prefix"},      // no exact or param route: prefix
      {"/items", "prefix"},                // a prefix matches itself
      {"/items/deep/x/y", "deep-prefix"},  // longer prefix first
      {"/items/special/x", "prefix"},      // exact does not match below itself
  };
  for (const auto& [target, body] : cases) {
    EXPECT_EQ(BodyOf("GET", target), body) << target;
  }
}

TEST_F(RoutingTest, PrefixMatchIsBySegment) {
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/itemsfoo"), 404));
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/prefix"), 404));
}

TEST_F(RoutingTest, PrefixAppendsRestOfPathAndQuery) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/pre/x/y?q=1", "/backend/x/y?q=1"},
      {"/pre", "/backend"},
      {"/pre?z=2", "/backend?z=2"},
      {"/pre/a%2Fb", "/backend/a%2Fb"},
  };
  for (const auto& [target, want] : cases) {
    EXPECT_TRUE(EchoedTarget(HttpGet(port(), target), want)) << target;
  }
}

TEST_F(RoutingTest, GreedyParamExpandsToRestOfPath) {
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/files/a/b/c.txt?v=3"), "/store/a/b/c.txt?v=3"));
}

TEST_F(RoutingTest, SeveralParamsSubstituted) {
  EXPECT_TRUE(EchoedTarget(HttpGet(port(), "/users/u1/posts/p9"), "/u/u1/p/p9"));
  EXPECT_TRUE(IsGatewayError(HttpGet(port(), "/users/u1/posts"), 404));
}

TEST_F(RoutingTest, DomainRouting) {
  EXPECT_EQ(BodyOf("GET", "/d", {{"Host", "api.example.com"}}), "domain");
  EXPECT_EQ(BodyOf("GET", "/d", {{"Host", "other.example.com"}}), "no-domain");
  EXPECT_EQ(BodyOf("GET", "/d", {{"Host", "localhost"}}), "no-domain");
}

}  // namespace
}  // namespace ringway::integration
