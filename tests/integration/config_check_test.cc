// Issue 3: `ringway check` (summary or every error with its JSON path, exit 1), `ringway
// serve` refusing an invalid config, `ringway --version`.
#include <cstdlib>

#include "harness.h"

namespace ringway::integration {
namespace {

class ConfigCheckTest : public ::testing::Test {
 protected:
  // Runs `ringway check -c FILE` on `config`; stdout and stderr together in `output`.
  CommandResult Check(const std::string& config) {
    CommandResult r = RunRingway({"check", "-c", dir_.WriteFile("check.json", config)});
    output = r.out + r.err;
    return r;
  }
  static std::string WithApis(std::vector<std::string> apis, std::string extra = "") {
    ConfigSpec spec;
    spec.environments = R"([{"name":"RELEASE","variables":{"version":"v1"}},{"name":"TEST"}])";
    spec.apis = std::move(apis);
    spec.extra = std::move(extra);
    return BuildConfig(spec);
  }
  static std::string GoodApi() {
    return ProxyApi("orders", "GET", "/orders/{id}", "127.0.0.1:9", "/#version#/orders/{id}");
  }

  TempDir dir_;
  std::string output;
};

TEST_F(ConfigCheckTest, VersionPrintsProjectVersion) {
  CommandResult r = RunRingway({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  const char* version = std::getenv("RINGWAY_VERSION");
  ASSERT_NE(version, nullptr) << "run through meson test";
  EXPECT_NE((r.out + r.err).find(version), std::string::npos) << r.out << r.err;
}

TEST_F(ConfigCheckTest, ValidConfigPrintsSummaryAndExitsZero) {
  CommandResult r = Check(WithApis({PingApi(), GoodApi()}));
  EXPECT_EQ(r.exit_code, 0) << output;
  EXPECT_NE(output.find("main"), std::string::npos) << "listener missing from:\n" << output;
  EXPECT_NE(output.find("RELEASE"), std::string::npos) << output;
  EXPECT_EQ(output.find("error:"), std::string::npos) << output;
}

TEST_F(ConfigCheckTest, ErrorNamesItsJsonPath) {
  std::string bad =
      ProxyApi("orders", "GET", "/orders/{id}", "127.0.0.1:9", "/x", "", R"("timeout_ms": 0)");
  CommandResult r = Check(WithApis({PingApi(), bad}));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("error: apis[1].backend.timeout_ms: "), std::string::npos) << output;
}

TEST_F(ConfigCheckTest, EveryErrorIsReported) {
  std::string bad_timeout =
      ProxyApi("a", "GET", "/a", "127.0.0.1:9", "/x", "", R"("retry_count": 11)");
  std::string bad_method = MockApi("b", "FETCH", "/b", "b");
  std::string bad_field = MockApi("c", "GET", "/c", "c", R"("colour": "blue")");
  CommandResult r = Check(WithApis({bad_timeout, bad_method, bad_field}));
  EXPECT_EQ(r.exit_code, 1) << output;
  for (const char* path : {"error: apis[0].backend.retry_count: ", "error: apis[1].req_method: ",
                           "error: apis[2].colour: "}) {
    EXPECT_NE(output.find(path), std::string::npos) << path << " missing from:\n" << output;
  }
}

TEST_F(ConfigCheckTest, DuplicateApisRejected) {
  CommandResult r = Check(
      WithApis({MockApi("a", "GET", "/same/{x}", "a"), MockApi("b", "ANY", "/same/{y}", "b")}));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("error: apis[1]"), std::string::npos) << output;
}

TEST_F(ConfigCheckTest, UnknownEnvironmentReferenceRejected) {
  CommandResult r = Check(WithApis({MockApi("a", "GET", "/a", "a", R"("environments":["NOPE"])")}));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("error: apis[0].environments"), std::string::npos) << output;
}

TEST_F(ConfigCheckTest, AdminListenerIsAcceptedAndListed) {
  CommandResult r = Check(WithApis({PingApi()}, R"("admin": {"address": "127.0.0.1:0"})"));
  EXPECT_EQ(r.exit_code, 0) << output;
  EXPECT_NE(output.find("\nadmin 127.0.0.1:0\n"), std::string::npos) << output;
  r = Check(WithApis({PingApi()}, R"("admin": {"address": "localhost:99"})"));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("error: admin.address"), std::string::npos) << output;
}

TEST_F(ConfigCheckTest, MalformedJsonAndMissingFileFail) {
  EXPECT_EQ(Check("{\"version\": 1,").exit_code, 1) << output;
  CommandResult missing = RunRingway({"check", "-c", dir_.path() + "/no-such.json"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.exit_code, -1) << "check hung";
}

TEST_F(ConfigCheckTest, ServeRefusesInvalidConfig) {
  std::string bad = ProxyApi("a", "GET", "/a", "127.0.0.1:9", "/x", "", R"("timeout_ms": 0)");
  std::string path = dir_.WriteFile("serve.json", WithApis({bad}));
  CommandResult r = RunRingway({"serve", "-c", path, "--shards", "1"}, 5000);
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.exit_code, -1) << "serve kept running on an invalid config";
  EXPECT_NE(r.err.find("apis[0].backend.timeout_ms"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("listening"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ringway::integration
