// Issue 16: the admin listener's /metrics (docs/admin.md "Metrics") after known traffic: the
// exposition passes `promtool check metrics`, carries the exact counts of the requests sent
// (per API, environment and status; a 404 under api=""; backend outcomes per member;
// histogram counts and cumulative buckets; member health; connections; the configuration
// generation; process_* figures), and a real Prometheus scrapes it: `up` is 1 and a query
// returns the request count. The requests are sent with curl, independent of the harness's
// client. Skipped only when the prometheus binaries are absent (tools/setup --test installs
// Debian's prometheus package).
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "channels.h"
#include "harness.h"
#include "prom_text.h"

namespace ringway::integration {
namespace {

constexpr int kPooled = 24;   // GET /pool/<i>: channel "pool" of two stubs, answered 200
constexpr int kHello = 5;     // GET /hello: a mock API, 200
constexpr int kRefused = 3;   // GET /refused: a url backend on a port nothing listens on, 502
constexpr int kNotFound = 2;  // GET /nope/<i>: no API, 404

std::string Bin(const char* env, const char* fallback) {
  const char* v = getenv(env);
  return v != nullptr && *v != '\0' ? v : fallback;
}
std::string CurlBin() { return Bin("CURL_BIN", "/usr/bin/curl"); }
std::string PrometheusBin() { return Bin("PROMETHEUS_BIN", "/usr/bin/prometheus"); }
std::string PromtoolBin() { return Bin("PROMTOOL_BIN", "/usr/bin/promtool"); }
bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// The admin listener's port ("listening name=admin address=127.0.0.1:PORT").
int AdminPort(const Gateway& gw) { return gw.port("admin"); }

std::string AdminUrl(const Gateway& gw, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(AdminPort(gw)) + std::string(path);
}

// `promtool check metrics` on `text` (stdin): exit 0 and nothing reported.
::testing::AssertionResult PromtoolAccepts(std::string_view text) {
  CommandResult run = RunCommand({PromtoolBin(), "check", "metrics"}, 20000, text);
  if (!run.started || run.exit_code != 0 || !run.out.empty() || !run.err.empty()) {
    return ::testing::AssertionFailure() << "promtool exit " << run.exit_code
                                         << "\nstdout: " << run.out << "\nstderr: " << run.err;
  }
  return ::testing::AssertionSuccess();
}

// ---- the prometheus text parser and promtool themselves ----

constexpr std::string_view kSample =
    "# HELP demo_requests_total Requests.\n"
    "# TYPE demo_requests_total counter\n"
    "demo_requests_total{api=\"a\",environment=\"RELEASE\",code=\"200\"} 7\n"
    "demo_requests_total{api=\"\",environment=\"RELEASE\",code=\"404\"} 1\n"
    "# HELP demo_seconds Durations.\n"
    "# TYPE demo_seconds histogram\n"
    "demo_seconds_bucket{api=\"a\",le=\"0.005\"} 3\n"
    "demo_seconds_bucket{api=\"a\",le=\"+Inf\"} 7\n"
    "demo_seconds_sum{api=\"a\"} 0.0125\n"
    "demo_seconds_count{api=\"a\"} 7\n"
    "# HELP demo_up Up.\n"
    "# TYPE demo_up gauge\n"
    "demo_up{member=\"q\\\"x\\\\y\\nz\"} 1 1700000000000\n";

TEST(PromText, ParsesNamesLabelsValuesAndTypes) {
  std::string error;
  std::optional<PromText> t = ParsePromText(kSample, &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->samples.size(), 7u);
  EXPECT_EQ(t->types.at("demo_seconds"), "histogram");
  EXPECT_EQ(
      t->Value("demo_requests_total", {{"api", "a"}, {"environment", "RELEASE"}, {"code", "200"}}),
      7);
  EXPECT_EQ(t->Value("demo_requests_total", {{"api", "a"}}), std::nullopt);  // exact labels
  EXPECT_EQ(t->Sum("demo_requests_total", {{"environment", "RELEASE"}}), 8);
  EXPECT_EQ(t->Value("demo_seconds_bucket", {{"api", "a"}, {"le", "+Inf"}}), 7);
  EXPECT_EQ(t->Value("demo_up", {{"member", "q\"x\\y\nz"}}), 1);
  EXPECT_EQ(ParsePromValue("+Inf"), std::numeric_limits<double>::infinity());
  EXPECT_FALSE(ParsePromText("x{a=\"b\" 1\n", &error));
  EXPECT_FALSE(ParsePromText("x 1 2 3\n", &error));
  EXPECT_FALSE(ParsePromText("9x 1\n", &error));
  EXPECT_FALSE(ParsePromText("x{a=\"b\",a=\"c\"} 1\n", &error));
}

// promtool is called as the metrics test calls it, and can fail.
TEST(PromText, PromtoolChecksAsTheTestUsesIt) {
  if (!Executable(PromtoolBin())) {
    GTEST_SKIP() << PromtoolBin() << " is absent (install Debian's prometheus: tools/setup --test)";
  }
  EXPECT_TRUE(PromtoolAccepts(kSample));
  EXPECT_FALSE(PromtoolAccepts("# TYPE x counter\nx 1\n"));  // no _total, no HELP
  EXPECT_FALSE(PromtoolAccepts("x{a=\"b\" 1\n"));
}

// ---- ringway's /metrics ----

int RefusingPort() {
  static const int port = UnusedPort();
  return port;
}

// Admin on 127.0.0.1:0; channel "pool" of m1 and m2 (TCP health checks) behind API
// "pooled"; "refused" to a port nothing listens on (no retry); mock "hello".
class MetricsTest : public SharedChannelStackTest<MetricsTest> {
 public:
  static std::vector<BackendOptions> Backends() { return {Stub("m1"), Stub("m2")}; }
  static std::string Config(ChannelStack& s) {
    ConfigSpec spec;
    spec.apis = {
        ChannelApi("pooled", "/pool", "pool", R"("retry_count":0)"),
        ProxyApi("refused", "GET", "/refused", "127.0.0.1:" + std::to_string(RefusingPort()), "/x",
                 "", R"("retry_count":0,"timeout_ms":2000)"),
        MockApi("hello", "GET", "/hello", "hi")};
    spec.extra = R"("admin": {"address": "127.0.0.1:0"},)"
                 "\n  " +
                 ChannelsMember({{.name = "pool",
                                  .members = {MemberOf(s.backend("m1")), MemberOf(s.backend("m2"))},
                                  .health_check = TcpHealthCheck()}});
    return BuildConfig(spec);
  }
  static GatewayOptions Options() {
    GatewayOptions o;
    o.log_level = "info";
    return o;
  }
  static ::testing::AssertionResult StartStack(ChannelStack& s) {
    ::testing::AssertionResult started = s.Start(Backends(), &Config, Options());
    if (!started) {
      traffic_ = "stack not started: " + std::string(started.message());
      return started;
    }
    traffic_ = SendTraffic(s.port());
    return ::testing::AssertionSuccess();
  }

 protected:
  void SetUp() override {
    SharedChannelStackTest::SetUp();
    ASSERT_EQ(traffic_, "") << "the traffic was not answered as expected";
  }

  // Sends the requests with curl (one process, one kept-alive connection per host); ""
  // when every status is the expected one, else what came back.
  static std::string SendTraffic(int port) {
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    std::vector<std::string> argv = {CurlBin(), "-sS", "-w", "%{http_code}\n"};
    std::string want;
    auto add = [&](const std::string& path, int n, std::string_view code, bool numbered) {
      for (int i = 0; i < n; ++i) {
        argv.insert(argv.end(),
                    {"-o", "/dev/null", base + path + (numbered ? "/" + std::to_string(i) : "")});
        want += std::string(code) + "\n";
      }
    };
    add("/pool", kPooled, "200", true);
    add("/hello", kHello, "200", false);
    add("/refused", kRefused, "502", false);
    add("/nope", kNotFound, "404", true);
    CommandResult run = RunCommand(argv, 30000);
    if (run.exit_code != 0 || run.out != want) {
      return "curl exit " + std::to_string(run.exit_code) + ", codes:\n" + run.out + "\nwanted:\n" +
             want + "\nstderr: " + run.err;
    }
    return "";
  }

  static inline std::string traffic_ = "not sent";
};

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  if (!Executable(PromtoolBin())) {
    GTEST_SKIP() << PromtoolBin() << " is absent (install Debian's prometheus: tools/setup --test)";
  }
  ASSERT_GT(AdminPort(gateway()), 0) << "no admin listener logged:\n" << gateway().LogTail();
  CommandResult scrape =
      RunCommand({CurlBin(), "-sS", "--fail", AdminUrl(gateway(), "/metrics")}, 10000);
  ASSERT_EQ(scrape.exit_code, 0) << scrape.err << gateway().LogTail();
  ASSERT_FALSE(scrape.out.empty());
  EXPECT_TRUE(PromtoolAccepts(scrape.out)) << scrape.out;
}

TEST_F(MetricsTest, CountsAreExact) {
  PromText m;
  ASSERT_TRUE(ScrapeMetrics(gateway(), &m));
  const Labels pooled = {{"api", "pooled"}, {"environment", "RELEASE"}};
  auto with = [](Labels l, std::initializer_list<std::pair<const std::string, std::string>> more) {
    l.insert(more);
    return l;
  };
  EXPECT_EQ(m.types["ringway_requests_total"], "counter");
  EXPECT_EQ(m.Value("ringway_requests_total", with(pooled, {{"code", "200"}})), kPooled);
  EXPECT_EQ(m.Value("ringway_requests_total",
                    {{"api", "hello"}, {"environment", "RELEASE"}, {"code", "200"}}),
            kHello);
  EXPECT_EQ(m.Value("ringway_requests_total",
                    {{"api", "refused"}, {"environment", "RELEASE"}, {"code", "502"}}),
            kRefused);
  EXPECT_EQ(
      m.Value("ringway_requests_total", {{"api", ""}, {"environment", "RELEASE"}, {"code", "404"}}),
      kNotFound);
  EXPECT_EQ(m.Sum("ringway_requests_total"), kPooled + kHello + kRefused + kNotFound);

  // Backend outcomes: every pooled request reached a member (both took some), every
  // refused one failed to connect.
  EXPECT_EQ(m.types["ringway_backend_requests_total"], "counter");
  const std::string refused_member = "127.0.0.1:" + std::to_string(RefusingPort());
  EXPECT_EQ(m.Value("ringway_backend_requests_total",
                    {{"api", "refused"}, {"member", refused_member}, {"outcome", "connect_error"}}),
            kRefused);
  EXPECT_EQ(m.Sum("ringway_backend_requests_total", {{"api", "pooled"}, {"outcome", "ok"}}),
            kPooled);
  EXPECT_EQ(m.Sum("ringway_backend_requests_total", {{"api", "pooled"}}), kPooled);
  for (const char* name : {"m1", "m2"}) {
    EXPECT_GT(m.Sum("ringway_backend_requests_total",
                    {{"api", "pooled"}, {"member", backend(name).address()}, {"outcome", "ok"}}),
              0)
        << name;
  }
  EXPECT_EQ(m.Sum("ringway_backend_requests_total", {{"api", "hello"}}), 0);  // a mock

  // The duration histogram: _count is the request count, buckets are cumulative and end
  // with +Inf == _count.
  EXPECT_EQ(m.types["ringway_request_duration_seconds"], "histogram");
  EXPECT_EQ(m.Value("ringway_request_duration_seconds_count", pooled), kPooled);
  std::optional<double> sum = m.Value("ringway_request_duration_seconds_sum", pooled);
  ASSERT_TRUE(sum.has_value());
  EXPECT_GT(*sum, 0);
  std::vector<const PromSample*> buckets =
      m.Select("ringway_request_duration_seconds_bucket", pooled);
  ASSERT_GE(buckets.size(), 2u);
  double last_le = -1;
  double last_count = 0;
  for (const PromSample* b : buckets) {
    auto le = b->labels.find("le");
    ASSERT_NE(le, b->labels.end());
    std::optional<double> bound = ParsePromValue(le->second);
    ASSERT_TRUE(bound.has_value()) << le->second;
    EXPECT_GT(*bound, last_le) << "buckets not in increasing le order";
    EXPECT_GE(b->value, last_count) << "bucket le=" << le->second << " not cumulative";
    last_le = *bound;
    last_count = b->value;
  }
  EXPECT_TRUE(std::isinf(last_le)) << "the last bucket must be le=\"+Inf\"";
  EXPECT_EQ(last_count, kPooled);
  EXPECT_EQ(m.Value("ringway_request_duration_seconds_count",
                    {{"api", "hello"}, {"environment", "RELEASE"}}),
            kHello);

  // Gauges.
  EXPECT_EQ(m.types["ringway_member_up"], "gauge");
  for (const char* name : {"m1", "m2"}) {
    EXPECT_EQ(
        m.Value("ringway_member_up", {{"channel", "pool"}, {"member", backend(name).address()}}), 1)
        << name;
  }
  std::optional<double> client_conns = m.Value("ringway_connections", {{"side", "client"}});
  ASSERT_TRUE(client_conns.has_value());
  EXPECT_GE(*client_conns, 0);
  EXPECT_TRUE(m.Value("ringway_connections", {{"side", "backend"}}).has_value());
  std::optional<double> generation = m.Value("ringway_config_generation");
  ASSERT_TRUE(generation.has_value());
  EXPECT_GE(*generation, 1);
  EXPECT_EQ(m.types["ringway_config_generation"], "gauge");

  for (const char* name : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    std::optional<double> v = m.Value(name);
    ASSERT_TRUE(v.has_value()) << name;
    // CPU time is counted in clock ticks: a fresh, idle process may not have used one yet.
    EXPECT_GE(*v, std::string_view(name) == "process_cpu_seconds_total" ? 0 : 1) << name;
  }
}

// ---- a real Prometheus scraping the admin listener ----

// GET /api/v1/query?query=QUERY on a Prometheus; the JSON answer.
std::string PromQuery(int port, std::string_view query) {
  CommandResult r = RunCommand(
      {CurlBin(), "-sS", "-G", "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query",
       "--data-urlencode", "query=" + std::string(query)},
      5000);
  return r.exit_code == 0 ? r.out : "";
}

// The value of the single series a query returns ("" when it returns none or several).
std::string QueryValue(int port, std::string_view query, std::string* last_answer) {
  *last_answer = PromQuery(port, query);
  if (JsonString(*last_answer, "/data/result/1/value/1").has_value()) {
    return "";
  }
  return JsonString(*last_answer, "/data/result/0/value/1").value_or("");
}

TEST_F(MetricsTest, RealPrometheusScrapesTheAdminListener) {
  if (!Executable(PrometheusBin())) {
    GTEST_SKIP() << PrometheusBin()
                 << " is absent (install Debian's prometheus: tools/setup --test)";
  }
  ASSERT_GT(AdminPort(gateway()), 0) << gateway().LogTail();
  TempDir dir;
  const std::string config =
      dir.WriteFile("prom.yml",
                    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: ringway\n    metrics_path: /metrics\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:" +
                        std::to_string(AdminPort(gateway())) + "']\n");
  const int prom_port = UnusedPort();
  Process prometheus;
  std::string error;
  ASSERT_TRUE(prometheus.Spawn(
      {PrometheusBin(), "--config.file=" + config, "--storage.tsdb.path=" + dir.path() + "/data",
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
      &error))
      << error;
  std::string answer;
  EXPECT_TRUE(PollUntil(
      [&] { return QueryValue(prom_port, "up{job=\"ringway\"}", &answer) == "1"; }, 30000))
      << "last answer: " << answer << "\nprometheus log:\n"
      << prometheus.Output(Process::kStderr).substr(0, 4000);
  const std::string query =
      R"(ringway_requests_total{job="ringway",api="pooled",environment="RELEASE",code="200"})";
  EXPECT_TRUE(PollUntil(
      [&] { return QueryValue(prom_port, query, &answer) == std::to_string(kPooled); }, 15000))
      << "last answer: " << answer;
  const std::string not_found =
      R"(ringway_requests_total{job="ringway",api="",environment="RELEASE",code="404"})";
  EXPECT_EQ(QueryValue(prom_port, not_found, &answer), std::to_string(kNotFound)) << answer;
  prometheus.Signal(SIGTERM);
  EXPECT_TRUE(prometheus.WaitExit(15000).has_value()) << "prometheus did not stop on SIGTERM";
}

}  // namespace
}  // namespace ringway::integration
