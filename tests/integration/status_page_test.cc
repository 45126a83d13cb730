// Issue 16, the status page (docs/admin.md "Status page"): the page compiled into the binary
// is loaded in headless Chromium, and the tests read the DOM it builds from the admin API's
// JSON. The fixture tests serve the embedded page and fixed JSON from a server of their own
// (under a path prefix: the page's URLs are relative); the last test loads the real
// gateway's admin listener and is expected to fail until that listener exists.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "admin/status_page.h"
#include "channels.h"
#include "chromium.h"

namespace ringway::integration {
namespace {

// ---- a tiny HTTP server: one request per connection, a thread per connection ----

struct Answer {
  int status = 200;
  std::string type = "application/json";
  std::string body;
};
using Handler = std::function<Answer(const std::string& path)>;

class FixtureServer {
 public:
  explicit FixtureServer(Handler handler) : handler_(std::move(handler)) {}
  ~FixtureServer() { Stop(); }

  ::testing::AssertionResult Start();
  int port() const { return port_; }

 private:
  void AcceptLoop();
  void Serve(int fd);
  void Stop();

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = -1;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;
};

::testing::AssertionResult FixtureServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ::testing::AssertionFailure() << "fixture server: " << std::strerror(errno);
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return ::testing::AssertionSuccess();
}

void FixtureServer::AcceptLoop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      return;  // shut down by Stop()
    }
    std::lock_guard lock(mu_);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

const char* Reason(int status) {
  return status == 200 ? "OK" : status == 404 ? "Not Found" : "Error";
}

void FixtureServer::Serve(int fd) {
  timeval tv{.tv_sec = 5, .tv_usec = 0};  // an idle preconnected socket ends here
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      ::close(fd);
      return;
    }
    head.append(buf, static_cast<size_t>(n));
  }
  size_t sp = head.find(' ');
  std::string path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
  Answer a = handler_(path);
  std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + Reason(a.status) +
                    "\r\nContent-Type: " + a.type +
                    "\r\nContent-Length: " + std::to_string(a.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + a.body;
  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    sent += static_cast<size_t>(n);
  }
  ::close(fd);
}

void FixtureServer::Stop() {
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  }
  if (acceptor_.joinable()) {
    acceptor_.join();
  }
  for (std::thread& t : connections_) {
    t.join();
  }
  connections_.clear();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

// ---- fixtures: the admin API's answers (docs/admin.md) ----

constexpr std::string_view kPrefix = "/gw/admin/";  // the page works behind a prefix
// Names that would run script if the page put them into the DOM as markup.
const std::string kEvilChannel =
    "<script>document.body.setAttribute('data-pwned','1')</script>evil";
const std::string kEvilReason =
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">";

std::string MemberJson(std::string_view address, bool enabled, bool checked, bool healthy,
                       std::string_view reason) {
  return "{\"address\":" + JsonQuote(address) +
         ",\"group\":\"\",\"weight\":10,\"standby\":false,\"enabled\":" +
         (enabled ? "true" : "false") + ",\"checked\":" + (checked ? "true" : "false") +
         ",\"healthy\":" + (healthy ? "true" : "false") + ",\"reason\":" + JsonQuote(reason) +
         ",\"consecutive_successes\":0,\"consecutive_failures\":5,\"checks\":17,"
         "\"since_unix_ms\":1764700000123}";
}

std::string ChannelsJson() {
  return R"({"generation":7,"channels":[{"name":"orders","algorithm":"wrr","health_check":true,)"
         R"("members":[)" +
         MemberJson("127.0.0.1:9001", true, true, false, "refused") + "," +
         MemberJson("127.0.0.1:9002", true, true, true, "ok") + "," +
         MemberJson("127.0.0.1:9003", false, false, false, "disabled") +
         "]},{\"name\":" + JsonQuote(kEvilChannel) +
         R"(,"algorithm":"wlc","health_check":true,"members":[)" +
         MemberJson("10.0.0.1:80", true, true, false, kEvilReason) + "]}]}";
}

constexpr std::string_view kBreakersJson = R"json({"breakers":[
  {"policy":"orders-breaker","api":"get_order","environment":"RELEASE","rule":"default",
   "mode":"counter","state":"open","unhealthy":3,"calls":0,"threshold":3,
   "unhealthy_percentage":0,"min_calls":0,"time_window_s":10,"open_breaker_time_s":30,
   "open_until_unix_ms":1764700030123,"opened_total":1,"downgrade":"mock",
   "last_opened":{"unix_ms":1764700000123,"unhealthy":3,"calls":0,
                  "reason":"3 unhealthy outcomes in 10 s (threshold 3)"}},
  {"policy":"orders-breaker","api":"list_orders","environment":"RELEASE","rule":"default",
   "mode":"percentage","state":"closed","unhealthy":1,"calls":9,"threshold":0,
   "unhealthy_percentage":50,"min_calls":4,"time_window_s":10,"open_breaker_time_s":30,
   "open_until_unix_ms":null,"opened_total":0,"downgrade":"reject","last_opened":null}]})json";

// Poll n (0, 1, ...) of /v1/apis: get_order gains 200 requests, 20 4xx and 50 5xx per poll
// (10 % and 25 % of each interval; 1 % and 3 % since start at the first poll).
std::string ApisJson(int n) {
  auto row = [](std::string_view api, int requests, int e4, int e5) {
    return "{\"api\":" + JsonQuote(api) + R"(,"environment":"RELEASE","requests":)" +
           std::to_string(requests) + ",\"errors_4xx\":" + std::to_string(e4) +
           ",\"errors_5xx\":" + std::to_string(e5) + "}";
  };
  return "{\"apis\":[" + row("get_order", 1000 + 200 * n, 10 + 20 * n, 30 + 50 * n) + "," +
         row("", 5, 5, 0) + "]}";
}

constexpr std::string_view kShardsJson = R"({"shards":[
  {"id":0,"client_connections":12,"backend_connections":4,"requests":10234,"loop_turns":88123},
  {"id":1,"client_connections":3,"backend_connections":1,"requests":766,"loop_turns":9000}]})";

// The page and the four endpoints under kPrefix; `failing` answers 500 instead.
class Fixtures {
 public:
  explicit Fixtures(std::string failing = "") : failing_(std::move(failing)) {}
  Answer operator()(const std::string& path);

 private:
  std::string failing_;
  std::atomic<int> apis_polls_{0};
};

Answer Fixtures::operator()(const std::string& path) {
  std::string_view p = path;
  if (p == kPrefix) {
    return {200, "text/html; charset=utf-8", std::string(admin::status_page())};
  }
  if (!p.starts_with(kPrefix)) {
    return {404, "application/json", R"({"error":"not found"})"};
  }
  p.remove_prefix(kPrefix.size());
  if (p == failing_) {
    return {500, "application/json", R"({"error":"injected"})"};
  }
  if (p == "v1/channels") {
    return {200, "application/json", ChannelsJson()};
  }
  if (p == "v1/breakers") {
    return {200, "application/json", std::string(kBreakersJson)};
  }
  if (p == "v1/apis") {
    return {200, "application/json", ApisJson(apis_polls_++)};
  }
  if (p == "v1/shards") {
    return {200, "application/json", std::string(kShardsJson)};
  }
  return {404, "application/json", R"({"error":"not found"})"};
}

// The start tag of the error banner.
std::string BannerTag(const std::string& dom) {
  size_t at = dom.find("id=\"error\"");
  return at == std::string::npos ? "" : dom.substr(at, dom.find('>', at) - at);
}

::testing::AssertionResult RowHasClass(const std::string& dom, const std::string& hook,
                                       std::string_view cls) {
  std::string row = Row(dom, hook);
  if (row.empty()) {
    return ::testing::AssertionFailure() << "no <tr " << hook << ">";
  }
  if (!HasClass(row, cls)) {
    return ::testing::AssertionFailure()
           << "<tr " << hook << "> lacks class " << cls << ": " << row.substr(0, 300);
  }
  return ::testing::AssertionSuccess();
}

// The row of `api` in the APIs table (breaker rows have data-api too).
std::string ApiRow(const std::string& dom, std::string_view api) {
  return Row(dom, "class=\"api\" " + Attr("data-api", api));
}

bool ApisHadTwoPolls(const std::string& dom) {
  return CellAttr(ApiRow(dom, "get_order"), "err5xx", "data-basis") == "interval";
}

TEST(StatusPage, EmbeddedPageIsTheWholeHtmlFile) {
  std::string_view page = admin::status_page();
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>")) << page.substr(0, 80);
  EXPECT_TRUE(page.ends_with("</html>\n"));
  EXPECT_EQ(page.find('\0'), std::string_view::npos);
  EXPECT_NE(page.find("v1/channels"), std::string_view::npos);
}

TEST(StatusPage, FixturesShowHealthBreakersRatesAndEscapeNames) {
  Fixtures fixtures;
  FixtureServer server([&](const std::string& path) { return fixtures(path); });
  ASSERT_TRUE(server.Start());
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + std::string(kPrefix);
  std::string dom;
  ASSERT_TRUE(WaitDom(url, ApisHadTwoPolls, 60000, &dom));

  EXPECT_NE(dom.find("id=\"generation\">7<"), std::string::npos);
  EXPECT_NE(BannerTag(dom).find("hidden"), std::string::npos) << "banner shown: " << BannerTag(dom);
  EXPECT_EQ(dom.find("id=\"updated\">never<"), std::string::npos);
  // Members: coloured by state, with the reason.
  std::string down = Attr("data-member", "127.0.0.1:9001");
  EXPECT_TRUE(RowHasClass(dom, down, "down"));
  EXPECT_EQ(CellText(Row(dom, down), "reason"), "refused");
  EXPECT_EQ(CellText(Row(dom, down), "state"), "DOWN");
  EXPECT_TRUE(RowHasClass(dom, Attr("data-member", "127.0.0.1:9002"), "up"));
  EXPECT_TRUE(RowHasClass(dom, Attr("data-member", "127.0.0.1:9003"), "disabled"));
  EXPECT_NE(CellText(Row(dom, down), "since").value_or("").find("2025-12-02 18:26:40 UTC"),
            std::string::npos);
  // Breakers: the open row stands out, with its window counts and last opening.
  std::string open = Attr("data-api", "get_order") + " " + Attr("data-environment", "RELEASE");
  EXPECT_TRUE(RowHasClass(dom, Attr("data-policy", "orders-breaker") + " " + open, "open"));
  std::string open_row = Row(dom, "class=\"breaker open\"");
  EXPECT_EQ(CellText(open_row, "state"), "OPEN");
  EXPECT_EQ(CellText(open_row, "open-until"), "2025-12-02 18:27:10 UTC");
  EXPECT_NE(CellText(open_row, "counts").value_or("").find("3 unhealthy"), std::string::npos);
  EXPECT_NE(CellText(open_row, "last-reason").value_or("").find("3 unhealthy outcomes in 10 s"),
            std::string::npos);
  EXPECT_TRUE(RowHasClass(dom, Attr("data-api", "list_orders"), "closed"));
  // APIs: rate and error shares over the last interval (200 requests per ~2 s poll).
  std::string api = ApiRow(dom, "get_order");
  EXPECT_EQ(CellText(api, "err4xx"), "10.0%");
  EXPECT_EQ(CellText(api, "err5xx"), "25.0%");
  double rate = std::atof(CellAttr(api, "rate", "data-value").value_or("0").c_str());
  EXPECT_GT(rate, 50.0) << api;
  EXPECT_LE(rate, 100.5) << api;
  EXPECT_EQ(CellText(ApiRow(dom, ""), "name"), "(no API matched)");
  // Shards: one row each and a total.
  EXPECT_EQ(CellText(Row(dom, Attr("data-shard", "1")), "requests"), "766");
  EXPECT_EQ(CellText(Row(dom, "class=\"total\""), "requests"), "11000");
  // Names are text: the markup in them shows escaped and never runs.
  EXPECT_TRUE(RowHasClass(dom, Attr("data-channel", kEvilChannel), "down"));
  EXPECT_EQ(CellText(Row(dom, Attr("data-channel", kEvilChannel)), "reason"), kEvilReason);
  EXPECT_NE(dom.find("&lt;script&gt;document.body"), std::string::npos);
  EXPECT_EQ(dom.find("data-pwned=\"1\""), std::string::npos) << "injected markup ran";
}

TEST(StatusPage, FirstPollShowsErrorSharesSinceStart) {
  Fixtures fixtures;
  FixtureServer server([&](const std::string& path) { return fixtures(path); });
  ASSERT_TRUE(server.Start());
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + std::string(kPrefix);
  DomDump d = DumpDom(url, 500);  // one poll only
  ASSERT_TRUE(d.ok) << d.error;
  std::string api = ApiRow(d.dom, "get_order");
  EXPECT_EQ(CellAttr(api, "err5xx", "data-basis"), "since-start") << api;
  EXPECT_EQ(CellText(api, "err4xx"), "1.0%");
  EXPECT_EQ(CellText(api, "err5xx"), "3.0%");
  EXPECT_EQ(CellText(api, "rate"), "-");
}

TEST(StatusPage, FailedFetchShowsTheErrorBannerAndKeepsTheRest) {
  Fixtures fixtures("v1/shards");
  FixtureServer server([&](const std::string& path) { return fixtures(path); });
  ASSERT_TRUE(server.Start());
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + std::string(kPrefix);
  std::string dom;
  auto banner_shown = [](const std::string& d) {
    return d.find("v1/shards: HTTP 500") != std::string::npos;
  };
  ASSERT_TRUE(WaitDom(url, banner_shown, 60000, &dom));
  EXPECT_EQ(BannerTag(dom).find("hidden"), std::string::npos) << BannerTag(dom);
  EXPECT_TRUE(RowHasClass(dom, Attr("data-member", "127.0.0.1:9001"), "down"));
  EXPECT_EQ(dom.find("id=\"updated\">never<"), std::string::npos);
}

// ---- the real gateway ----

bool ShowsDownAndOpen(const std::string& dom, const std::string& dead_member) {
  return HasClass(Row(dom, Attr("data-member", dead_member)), "down") &&
         HasClass(Row(dom, Attr("data-policy", "cb")), "open");
}

TEST(StatusPage, RealGatewayShowsDownMemberAndOpenBreaker) {
  Backend live;
  ASSERT_TRUE(live.Start("live"));
  int dead_port = UnusedPort();
  std::string dead_member = "127.0.0.1:" + std::to_string(dead_port);
  ChannelSpec pool{"pool", "wrr", {MemberOf(live)}, "", TcpHealthCheck()};
  pool.members.push_back(MemberSpec{.host = "127.0.0.1", .port = dead_port});
  std::string refusing = "127.0.0.1:" + std::to_string(UnusedPort());
  ConfigSpec spec;
  spec.apis = {ChannelApi("pool", "/pool", "pool"),
               ProxyApi("dead", "GET", "/dead", refusing, "/dead", "", R"("retry_count":0)")};
  spec.extra = R"("admin": {"address": "127.0.0.1:0"},)"
               "\n  " +
               ChannelsMember({pool}) + ",\n  " + BreakerPolicy("dead");
  Gateway gw;
  ASSERT_TRUE(gw.Start(BuildConfig(spec)));
  int admin = gw.port("admin");
  ASSERT_GT(admin, 0) << "no \"listening name=admin address=...\" line; log:\n" << gw.LogTail();

  Client c(gw.port());
  EXPECT_TRUE(IsGatewayError(c.Get("/dead"), 502));  // refused: unhealthy, opens (threshold 1)
  ASSERT_TRUE(gw.WaitLog("breaker open", 3000)) << gw.LogTail();
  EXPECT_TRUE(IsGatewayError(c.Get("/dead"), 503));  // open, no downgrade

  std::string url = "http://127.0.0.1:" + std::to_string(admin) + "/";
  std::string dom;
  // The dead member goes down after 2 failed checks 5 s apart.
  ASSERT_TRUE(WaitDom(
      url, [&](const std::string& d) { return ShowsDownAndOpen(d, dead_member); }, 30000, &dom));
  std::string down = Row(dom, Attr("data-member", dead_member));
  EXPECT_EQ(CellText(down, "reason"), "refused") << down;
  EXPECT_TRUE(RowHasClass(dom, Attr("data-member", live.address()), "up"));
  EXPECT_EQ(CellText(Row(dom, Attr("data-member", live.address())), "reason"), "ok");
  std::string breaker = Row(dom, Attr("data-policy", "cb") + " " + Attr("data-api", "dead"));
  EXPECT_EQ(CellText(breaker, "state"), "OPEN") << breaker;
  EXPECT_NE(CellText(breaker, "open-until"), "-");
  EXPECT_EQ(dom.find("id=\"generation\">?<"), std::string::npos);
  EXPECT_NE(BannerTag(dom).find("hidden"), std::string::npos) << BannerTag(dom);
}

}  // namespace
}  // namespace ringway::integration
