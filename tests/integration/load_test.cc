// Issue 4: ringway-load against a real ringway (mock /ping API). Correctness of the
// load generator's counts, not speed: every request sent is answered, no errors, and the
// --json output parses. Skipped when the build has no ringway-load (-Dbench=false).
#include <simdjson.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "harness.h"

namespace ringway::integration {
namespace {

// $RINGWAY_LOAD_BIN, or "" when the build has none.
std::string LoadBin() {
  const char* bin = getenv("RINGWAY_LOAD_BIN");
  return bin != nullptr && access(bin, X_OK) == 0 ? bin : "";
}

CommandResult RunLoad(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LoadBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 20000);
}

// The counts of a --json result: every request answered with a 2xx, nothing else.
::testing::AssertionResult CountsAgree(const CommandResult& run) {
  if (run.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "exit " << run.exit_code << "\nstdout: " << run.out << "\nstderr: " << run.err;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(run.out).get(doc) != simdjson::SUCCESS) {
    return ::testing::AssertionFailure() << "--json output does not parse: " << run.out;
  }
  int64_t requests = -1, responses = -2, ok = -3, errors = -4, lost = -5;
  double rps = -1;
  const bool found = doc["requests"].get(requests) == simdjson::SUCCESS &&
                     doc["responses"].get(responses) == simdjson::SUCCESS &&
                     doc["status"]["2xx"].get(ok) == simdjson::SUCCESS &&
                     doc["errors"]["total"].get(errors) == simdjson::SUCCESS &&
                     doc["lost"].get(lost) == simdjson::SUCCESS &&
                     doc["rps"].get(rps) == simdjson::SUCCESS;
  if (!found || requests <= 0 || requests != responses || ok != responses || errors != 0 ||
      lost != 0 || !(rps > 0)) {
    return ::testing::AssertionFailure() << "counts disagree: " << run.out;
  }
  return ::testing::AssertionSuccess();
}

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LoadBin().empty()) {
      GTEST_SKIP() << "RINGWAY_LOAD_BIN not set or not executable (built with -Dbench=false?)";
    }
    ConfigSpec spec;
    spec.apis = {PingApi()};
    GatewayOptions opts;
    opts.shards = 1;
    opts.log_level = "info";
    ASSERT_TRUE(gateway_.Start(BuildConfig(spec), opts));
    url_ = "http://127.0.0.1:" + std::to_string(gateway_.port()) + "/ping";
  }

  Gateway gateway_;
  std::string url_;
};

TEST_F(LoadTest, ClosedLoopOneSecondEveryRequestAnswered) {
  const CommandResult run = RunLoad({"-d", "1s", "-c", "8", "--json", url_});
  EXPECT_TRUE(CountsAgree(run));
  EXPECT_TRUE(gateway_.running());
}

TEST_F(LoadTest, PipelinedNewConnectionAndOpenLoopRunsAgree) {
  EXPECT_TRUE(CountsAgree(RunLoad({"-d", "300ms", "-c", "4", "-p", "4", "--json", url_})));
  EXPECT_TRUE(CountsAgree(RunLoad({"-d", "300ms", "-c", "4", "--close", "--json", url_})));
  EXPECT_TRUE(CountsAgree(RunLoad({"-d", "300ms", "-c", "4", "-R", "400", "--json", url_})));
  EXPECT_TRUE(CountsAgree(RunLoad({"-n", "500", "-c", "4", "-t", "2", "--json", url_})));
}

TEST_F(LoadTest, HumanTableShowsTheSameRun) {
  const CommandResult run = RunLoad({"-n", "100", "-c", "2", url_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("100 sent, 100 answered, 0 lost"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("2xx 100"), std::string::npos) << run.out;
}

TEST_F(LoadTest, RefusesTargetsOffLoopback) {
  const CommandResult run = RunLoad({"-d", "1s", "http://192.0.2.1:80/"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("refusing target host '192.0.2.1'"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace ringway::integration
