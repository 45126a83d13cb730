// Issue 16: the access log (one JSON line per answered request, docs/admin.md "Access log")
// and X-Request-Id. A real gateway with `access_log` in its config and a real stub backend;
// requests from /usr/bin/curl (CURL_BIN, a client not written here) and the harness client.
// Each line is found by its request_id; logrotate (rename + SIGUSR1) loses no line.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>

#include "harness.h"

namespace ringway::integration {
namespace {

constexpr int kWaitMs = 3000;  // a line reaches the file within ~200 ms

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

// The line whose request_id is `id` (the first), polled for until the deadline.
std::optional<std::string> WaitLine(const std::string& path, const std::string& id,
                                    int timeout_ms = kWaitMs) {
  std::optional<std::string> found;
  PollUntil(
      [&] {
        for (const std::string& l : ReadLines(path)) {
          if (JsonString(l, "/request_id") == id) {
            found = l;
            return true;
          }
        }
        return false;
      },
      timeout_ms);
  return found;
}

size_t CountWithPrefix(const std::string& path, const std::string& prefix) {
  size_t n = 0;
  for (const std::string& l : ReadLines(path)) {
    std::optional<std::string> id = JsonString(l, "/request_id");
    n += id && id->rfind(prefix, 0) == 0 ? 1 : 0;
  }
  return n;
}

bool Has(const std::string& line, const std::string& raw) {
  return line.find(raw) != std::string::npos;
}

// Whether process `pid` has `path` open (one of /proc/PID/fd links to it).
bool HoldsOpen(pid_t pid, const std::string& path) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd/";
  for (int fd = 0; fd < 1024; ++fd) {
    char target[4096];
    ssize_t n = ::readlink((dir + std::to_string(fd)).c_str(), target, sizeof(target));
    if (n > 0 && std::string(target, static_cast<size_t>(n)) == path) {
      return true;
    }
  }
  return false;
}

mode_t CurrentUmask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

bool IsHex32(const std::string& s) { return std::regex_match(s, std::regex("[0-9a-f]{32}")); }

class AccessLogTest : public SharedStackTest<AccessLogTest> {
 public:
  static std::string LogPath() { return dir().path() + "/access.log"; }

  static std::string Config(const Backend& b) {
    for (const char* name : {"/access.log", "/access.log.1", "/access-2.log"}) {
      std::remove((dir().path() + name).c_str());  // a fresh suite (--gtest_repeat) starts empty
    }
    return ConfigText(b);
  }

  static std::string ConfigText(const Backend& b) {
    ConfigSpec spec;
    spec.apis = {
        PingApi(),
        StubApi(b),
        ProxyApi("get_order", "GET", "/orders/{id}", b.address(), "/orders/{id}"),
        ProxyApi("dead", "GET", "/dead", "127.0.0.1:" + std::to_string(DeadPort()), "/dead", "",
                 R"("retry_count":1)"),
    };
    // Relative: resolved against the config file's directory (the gateway's temp dir), so
    // use the absolute path of our own directory.
    spec.extra = R"("access_log": {"path": )" + JsonQuote(LogPath()) + "}";
    return BuildConfig(spec);
  }

 protected:
  static TempDir& dir() {
    static TempDir d;
    return d;
  }
  static int DeadPort() {
    static int p = UnusedPort();
    return p;
  }
};

// Every line of the file is one JSON object with the contract's fields.
void ExpectWellFormed(const std::string& path) {
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_FALSE(lines.empty());
  const std::regex time("\"time\":\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\"");
  for (const std::string& l : lines) {
    EXPECT_TRUE(JsonString(l, "/request_id").has_value()) << l;
    EXPECT_TRUE(JsonInt(l, "/status").has_value()) << l;
    EXPECT_TRUE(JsonInt(l, "/bytes_out").has_value()) << l;
    EXPECT_TRUE(std::regex_search(l, time)) << l;
    EXPECT_TRUE(std::regex_search(l, std::regex("\"total_ms\":\\d+\\.\\d{3},"))) << l;
  }
}

TEST_F(AccessLogTest, CurlRequestThroughTheBackend) {
  const char* curl = std::getenv("CURL_BIN");
  ASSERT_NE(curl, nullptr) << "CURL_BIN not set (curl not found by meson)";
  std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/orders/42?a=1&b=%22";
  CommandResult r = RunCommand({curl, "-s", "-D", "-", "-o", "/dev/null", "-w",
                                "\nsizes %{size_request} %{size_header} "
                                "%{size_download}\n",
                                url},
                               10000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.out, m, std::regex("x-request-id: ([0-9a-f]+)\r\n", std::regex::icase)))
      << r.out;
  const std::string id = m[1];
  EXPECT_TRUE(IsHex32(id)) << id;
  std::smatch s;
  ASSERT_TRUE(std::regex_search(r.out, s, std::regex("sizes (\\d+) (\\d+) (\\d+)"))) << r.out;
  std::optional<std::string> line = WaitLine(LogPath(), id);
  ASSERT_TRUE(line) << "no line for " << id << "\n" << gateway().LogTail();
  const std::string& l = *line;
  EXPECT_EQ(JsonInt(l, "/status"), 200) << l;
  EXPECT_EQ(JsonString(l, "/method"), "GET") << l;
  EXPECT_EQ(JsonString(l, "/path"), "/orders/42?a=1&b=%22") << l;
  EXPECT_EQ(JsonString(l, "/api"), "get_order") << l;
  EXPECT_EQ(JsonString(l, "/environment"), "RELEASE") << l;
  EXPECT_EQ(JsonString(l, "/member"), backend().address()) << l;
  EXPECT_EQ(JsonInt(l, "/attempts"), 1) << l;
  EXPECT_TRUE(Has(l, "\"breaker\":null,\"downgrade\":null")) << l;
  EXPECT_EQ(JsonInt(l, "/bytes_in"), std::stoll(s[1])) << l;
  EXPECT_EQ(JsonInt(l, "/bytes_out"), std::stoll(s[2]) + std::stoll(s[3])) << l;
  EXPECT_TRUE(JsonString(l, "/client").value_or("").rfind("127.0.0.1:", 0) == 0) << l;
  std::smatch t;
  ASSERT_TRUE(
      std::regex_search(l, t, std::regex("\"total_ms\":([0-9.]+),\"backend_ms\":([0-9.]+)")));
  EXPECT_GT(std::stod(t[2]), 0.0) << l;
  // The time is UTC now (within a few seconds).
  std::tm tm{};
  const std::string when = JsonString(l, "/time").value_or("");
  ASSERT_NE(strptime(when.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << l;
  EXPECT_LE(std::llabs(static_cast<long long>(timegm(&tm) - std::time(nullptr))), 5) << l;
  EXPECT_LE(std::stod(t[2]), std::stod(t[1])) << l;
  ExpectWellFormed(LogPath());
}

TEST_F(AccessLogTest, NoApiIs404WithEmptyApiAndMember) {
  auto r = HttpGet(port(), "/no/such/api", {{"X-Request-Id", "alog-404"}});
  ASSERT_TRUE(IsGatewayError(r, 404));
  std::optional<std::string> l = WaitLine(LogPath(), "alog-404");
  ASSERT_TRUE(l) << gateway().LogTail();
  EXPECT_EQ(JsonInt(*l, "/status"), 404) << *l;
  EXPECT_EQ(JsonString(*l, "/api"), "") << *l;
  EXPECT_EQ(JsonString(*l, "/member"), "") << *l;
  EXPECT_EQ(JsonInt(*l, "/attempts"), 0) << *l;
  EXPECT_EQ(JsonString(*l, "/path"), "/no/such/api") << *l;
  EXPECT_TRUE(Has(*l, "\"backend_ms\":0.000}")) << *l;
}

TEST_F(AccessLogTest, MockAnswerIsLogged) {
  auto r = HttpGet(port(), "/ping", {{"X-Request-Id", "alog-mock"}});
  ASSERT_TRUE(HasStatus(r, 200));
  std::optional<std::string> l = WaitLine(LogPath(), "alog-mock");
  ASSERT_TRUE(l);
  EXPECT_EQ(JsonString(*l, "/api"), "ping") << *l;
  EXPECT_EQ(JsonInt(*l, "/attempts"), 0) << *l;
  EXPECT_GT(JsonInt(*l, "/bytes_out").value_or(0), static_cast<int64_t>(kPingBody.size())) << *l;
}

TEST_F(AccessLogTest, MalformedRequestIs400) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: a\r\nBad Header Line\r\n\r\n"));
  auto r = c.ReadFinal();
  ASSERT_TRUE(IsGatewayError(r, 400));
  const std::string id = r->Header("x-request-id");
  EXPECT_TRUE(IsHex32(id)) << id;
  std::optional<std::string> l = WaitLine(LogPath(), id);
  ASSERT_TRUE(l) << gateway().LogTail();
  EXPECT_EQ(JsonInt(*l, "/status"), 400) << *l;
  EXPECT_EQ(JsonString(*l, "/api"), "") << *l;
}

TEST_F(AccessLogTest, RetriedAttemptsAreCounted) {
  auto r = HttpGet(port(), "/dead", {{"X-Request-Id", "alog-retry"}});
  ASSERT_TRUE(IsGatewayError(r, 502));
  std::optional<std::string> l = WaitLine(LogPath(), "alog-retry");
  ASSERT_TRUE(l);
  EXPECT_EQ(JsonInt(*l, "/status"), 502) << *l;
  EXPECT_EQ(JsonInt(*l, "/attempts"), 2) << *l;
  EXPECT_EQ(JsonString(*l, "/member"), "127.0.0.1:" + std::to_string(DeadPort())) << *l;
}

TEST_F(AccessLogTest, ClientRequestIdKeptUpTo128VisibleCharacters) {
  const std::string id128(128, 'k');
  auto r = HttpGet(port(), "/stub/echo", {{"X-Request-Id", id128}});
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->Header("x-request-id"), id128);
  EXPECT_EQ(EchoHeader(*r, "x-request-id"), id128);  // what the backend saw
  EXPECT_TRUE(WaitLine(LogPath(), id128)) << "no line for the 128-char id";
  for (const std::string& bad :
       {std::string(129, 'k'), std::string("tab\there"), std::string("quote\"d")}) {
    auto b = HttpGet(port(), "/stub/echo", {{"X-Request-Id", bad}});
    ASSERT_TRUE(HasStatus(b, 200)) << bad;
    const std::string made = b->Header("x-request-id");
    EXPECT_TRUE(IsHex32(made)) << bad << " -> " << made;
    EXPECT_EQ(EchoHeader(*b, "x-request-id"), made) << bad;
    EXPECT_TRUE(WaitLine(LogPath(), made)) << made;
  }
}

// logrotate: mv the file, SIGUSR1, the gateway writes to a new file at the path; the old
// lines are all in the renamed file, the new ones all in the new file. Last: it moves the
// file the other tests read.
TEST_F(AccessLogTest, ReopenOnSigusr1AfterRename) {
  constexpr int kEach = 20;
  Client c(port());
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(HasStatus(c.Get("/ping", {{"X-Request-Id", "rot-a-" + std::to_string(i)}}), 200));
  }
  ASSERT_TRUE(PollUntil([] { return CountWithPrefix(LogPath(), "rot-a-") == kEach; }, kWaitMs));
  const std::string rotated = LogPath() + ".1";
  ASSERT_EQ(::rename(LogPath().c_str(), rotated.c_str()), 0);
  // Lines logged between the rename and the reopen still go to the renamed file.
  ASSERT_TRUE(HasStatus(c.Get("/ping", {{"X-Request-Id", "rot-a-between"}}), 200));
  const size_t reopened = gateway().LogCount("access log reopened");
  gateway().Signal(SIGUSR1);
  ASSERT_TRUE(
      PollUntil([&] { return gateway().LogCount("access log reopened") > reopened; }, kWaitMs))
      << gateway().LogTail();
  Client fresh(port());
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(HasStatus(
        (i % 2 ? c : fresh).Get("/stub/echo", {{"X-Request-Id", "rot-b-" + std::to_string(i)}}),
        200));
  }
  EXPECT_TRUE(PollUntil([] { return CountWithPrefix(LogPath(), "rot-b-") == kEach; }, kWaitMs))
      << CountWithPrefix(LogPath(), "rot-b-") << " new lines at the path";
  EXPECT_TRUE(PollUntil([&] { return CountWithPrefix(rotated, "rot-a-") == kEach + 1; }, kWaitMs))
      << CountWithPrefix(rotated, "rot-a-") << " old lines in the renamed file";
  EXPECT_EQ(CountWithPrefix(LogPath(), "rot-a-"), 0u);
  EXPECT_EQ(CountWithPrefix(rotated, "rot-b-"), 0u);
  ExpectWellFormed(LogPath());
  ExpectWellFormed(rotated);
  // Once every shard moved to the new file, the control thread closes the renamed one.
  EXPECT_TRUE(PollUntil([&] { return !HoldsOpen(gateway().pid(), rotated); }, kWaitMs));
  EXPECT_TRUE(HoldsOpen(gateway().pid(), LogPath()));
}

// A reload may change the path: a file that cannot be opened is logged with its path and
// errno and the current one stays in use; an openable one is used from then on. Runs after
// the rotation test (it moves the path the others read).
TEST_F(AccessLogTest, ReloadChangesThePath) {
  auto reload_with = [&](const std::string& path) {
    const size_t reloads = gateway().LogCount("reload ok");
    std::string cfg = ConfigText(backend());
    const std::string quoted = JsonQuote(LogPath());
    cfg.replace(cfg.find(quoted), quoted.size(), JsonQuote(path));
    gateway().WriteConfig(cfg);
    gateway().Signal(SIGHUP);
    return PollUntil([&] { return gateway().LogCount("reload ok") > reloads; }, kWaitMs);
  };
  const std::string bad = dir().path() + "/no-such-dir/access.log";
  ASSERT_TRUE(reload_with(bad)) << gateway().LogTail();
  EXPECT_TRUE(gateway().WaitLog("access log: cannot open " + bad, kWaitMs)) << gateway().LogTail();
  ASSERT_TRUE(HasStatus(HttpGet(port(), "/ping", {{"X-Request-Id", "reload-old"}}), 200));
  EXPECT_TRUE(WaitLine(LogPath(), "reload-old")) << "the current file stays in use";

  const std::string next = dir().path() + "/access-2.log";
  ASSERT_TRUE(reload_with(next)) << gateway().LogTail();
  ASSERT_TRUE(HasStatus(HttpGet(port(), "/ping", {{"X-Request-Id", "reload-new"}}), 200));
  EXPECT_TRUE(WaitLine(next, "reload-new")) << gateway().LogTail();
  EXPECT_EQ(CountWithPrefix(LogPath(), "reload-new"), 0u);
  struct stat st {};
  ASSERT_EQ(::stat(next.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u & ~CurrentUmask());
}

// SIGTERM right after a request: the drain writes what the shard still buffered (lines wait
// up to ~50 ms for a flush) before the process exits.
TEST(AccessLogDrainTest, DrainFlushesBufferedLines) {
  TempDir dir;
  const std::string path = dir.path() + "/drain.log";
  Stack s;
  ASSERT_TRUE(s.Start([&](const Backend& b) {
    ConfigSpec spec;
    spec.apis = {PingApi(), StubApi(b)};
    spec.extra = R"("access_log": {"path": )" + JsonQuote(path) + "}";
    return BuildConfig(spec);
  }));
  constexpr int kCount = 30;
  Client c(s.port());
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(
        HasStatus(c.Get("/stub/echo", {{"X-Request-Id", "drain-" + std::to_string(i)}}), 200));
  }
  c.Close();
  s.gateway().Signal(SIGTERM);
  ASSERT_EQ(s.gateway().WaitExit(10000), 0) << s.gateway().LogTail();
  EXPECT_EQ(CountWithPrefix(path, "drain-"), static_cast<size_t>(kCount));
}

// A request answered by an open breaker's mock downgrade names the breaker's policy/rule and
// the downgrade kind, with no backend attempt.
TEST(AccessLogBreakerTest, DowngradeIsNamed) {
  TempDir dir;
  const std::string path = dir.path() + "/breaker.log";
  Stack s;
  ASSERT_TRUE(s.Start([&](const Backend& b) {
    ConfigSpec spec;
    spec.apis = {StubApi(b, R"("retry_count":0)")};
    const std::string content =
        R"({"breaker_condition":{"breaker_type":"condition","breaker_mode":"counter",)"
        R"("unhealthy_threshold":2,"time_window":60,"open_breaker_time":60,)"
        R"("unhealthy_percentage":51,"min_call_threshold":1,)"
        R"("unhealthy_condition":["$context.statusCode","in","500"]},"scope":"basic",)"
        R"("downgrade_default":{"type":"mock","passthrough_infos":null,"func_info":null,)"
        R"("mock_info":{"status_code":200,"result_content":"mocked","headers":[]},)"
        R"("http_info":null,"http_vpc_info":null}})";
    spec.extra = R"("access_log": {"path": )" + JsonQuote(path) +
                 R"(}, "policies":[{"name":"cb","type":"circuit_breaker","content":)" + content +
                 R"(}], "bindings":[{"policy":"cb","api":"stub","environment":"RELEASE"}])";
    return BuildConfig(spec);
  }));
  Client c(s.port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(HasStatus(c.Get("/stub/status/500"), 500));
  }
  auto r = c.Get("/stub/echo", {{"X-Request-Id", "alog-downgraded"}});
  ASSERT_TRUE(HasStatus(r, 200));
  ASSERT_EQ(r->body, "mocked");
  std::optional<std::string> l = WaitLine(path, "alog-downgraded");
  ASSERT_TRUE(l) << s.gateway().LogTail();
  EXPECT_TRUE(Has(*l, R"("breaker":"cb/default","downgrade":"mock")")) << *l;
  EXPECT_EQ(JsonString(*l, "/api"), "stub") << *l;
  EXPECT_EQ(JsonInt(*l, "/attempts"), 0) << *l;
  EXPECT_EQ(JsonString(*l, "/member"), "") << *l;
}

}  // namespace
}  // namespace ringway::integration
