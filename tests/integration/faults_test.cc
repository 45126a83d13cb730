// Issue 19: fault injection with real sockets. Backends that refuse, reset, send garbage,
// stall, race a keep-alive close, answer `100 Continue` twice or send oversized heads;
// clients that abort mid-upload and mid-download; TLS peers that stop mid-handshake. For
// each: what the client gets, what the backend saw, and that nothing leaks: every test ends
// by polling /v1/shards until no client connection, exchange, pooled buffer or held receive
// buffer is left and every backend connection left is an idle pooled one (Quiet()).
//
// Faults the stub_backend cannot make come from a RawBackend: a listening socket on
// 127.0.0.1:0 whose connections are served by threads of this process writing exactly the
// bytes wanted (RST is SO_LINGER 0). Timeouts are small (kBackendTimeoutMs, the limits
// below) so stalls end fast; every wait is a poll with a deadline.
//
// What each fault gives (docs/faults.md has the same table for users):
//
// fault                                 | client gets                        | backend saw
// --------------------------------------|------------------------------------|--------------------
// refused (nothing listening)           | 502 RW.5020                        | nothing
// RST after the request, before a byte  | 502 RW.5021 (a GET retried once)   | 2 requests, 2 conns
// RST mid-body (Content-Length)         | head, part of the body, closed     | 1 request
// garbage instead of a status line      | 502 RW.5200 (never retried)        | 1 request, closed
// stalls inside the head                | 504 RW.5040 at timeout_ms          | 1 request, then EOF
// stalls mid-body                       | head, part, closed at timeout_ms   | 1 request, then EOF
// closes a pooled conn as a request came| 200 (again on a fresh connection)  | 3 requests, 2 conns
// `100 Continue` twice, then 200        | one 100 (the gateway's), then 200  | 1 request and body
// head over max_header_bytes            | 502 RW.5231                        | 1 request, closed
// client aborts mid-upload (FIN, RST)   | -                                  | part of body, EOF
// client stalls mid-upload              | 408 RW.4081 (idle timeout), closed | part of body, EOF
// client aborts mid-download (RST)      | -                                  | 1 request, closed
// TLS client stops mid-handshake        | closed at client_header_timeout_ms | -
// https backend silent after ClientHello| 504 RW.5040 at timeout_ms          | ClientHello, EOF
//
// Every row ends with /v1/shards back to idle (Quiet): no client connection, exchange,
// buffer or held receive buffer, and only pooled backend connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "tls_certs.h"
#include "tls_peers.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBackendTimeoutMs = 400;  // apis' timeout_ms
constexpr int kHeaderTimeoutMs = 500;   // limits.client_header_timeout_ms
constexpr int kIdleTimeoutMs = 800;     // limits.client_idle_timeout_ms (body progress)
constexpr int kMaxHeaderBytes = 8192;   // limits.max_header_bytes
constexpr int kQuietMs = 5000;          // how long leftovers may take to go
constexpr int kRawWaitMs = 10000;       // bound of every RawBackend wait

long ElapsedMs(Clock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// ---- a backend made of raw sockets ----

class RawBackend;

// One accepted connection of a RawBackend, served by its own thread.
class RawConn {
 public:
  RawConn(RawBackend& b, int fd) : b_(b), fd_(fd) {}
  // Reads a request head and, with `body`, its Content-Length body; true when whole. Counts
  // the request once its head is in.
  bool ReadRequest(bool body = true);
  // Reads the Content-Length body of the last head.
  bool ReadBody();
  bool Write(std::string_view bytes);
  // Reads (and drops) until the peer closes; false when the backend stops first.
  bool WaitPeerClose();
  // The close that follows sends RST (SO_LINGER 0) instead of FIN.
  void SetReset();
  // Waits until the test calls RawBackend::Go(); false at the deadline.
  bool WaitGo();
  uint64_t requests() const { return requests_; }

 private:
  bool Fill();  // more bytes into in_; false on EOF, error, stop or deadline

  RawBackend& b_;
  int fd_;
  std::string in_;
  uint64_t body_left_ = 0;
  uint64_t requests_ = 0;
};

// A listening socket on 127.0.0.1:0; each connection runs `serve` on a thread. Counts what
// it saw: connections, request heads, bytes, and connections the gateway closed (EOF).
class RawBackend {
 public:
  using Serve = std::function<void(RawConn&)>;
  explicit RawBackend(Serve serve) : serve_(std::move(serve)) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::listen(lfd_, 64) == 0 &&
        ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~RawBackend() {
    stop_ = true;
    ::shutdown(lfd_, SHUT_RDWR);
    acceptor_.join();
    ::close(lfd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : conns_) {
      t.join();
    }
  }
  RawBackend(const RawBackend&) = delete;
  RawBackend& operator=(const RawBackend&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint64_t connections() const { return connections_; }
  uint64_t requests() const { return requests_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t peer_closes() const { return peer_closes_; }
  uint64_t open() const { return connections_ - finished_; }
  std::string first_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_bytes_;
  }
  void Go() { go_ = true; }
  void Rearm() { go_ = false; }

 private:
  friend class RawConn;

  void AcceptLoop() {
    while (!stop_) {
      int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) {
          continue;
        }
        return;  // shut down
      }
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      conns_.emplace_back([this, fd] {
        RawConn c(*this, fd);
        serve_(c);
        ::close(fd);
        ++finished_;
      });
    }
  }

  Serve serve_;
  int lfd_ = -1;
  int port_ = -1;
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::list<std::thread> conns_;
  std::string first_bytes_;  // the first bytes any connection sent (up to 64)
  std::atomic<bool> stop_{false};
  std::atomic<bool> go_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> finished_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> peer_closes_{0};
};

bool RawConn::Fill() {
  const auto end = Clock::now() + std::chrono::milliseconds(kRawWaitMs);
  while (!b_.stop_ && Clock::now() < end) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 50);  // wakes to see stop_
    if (r == 0 || (r < 0 && errno == EINTR)) {
      continue;
    }
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (n == 0 || errno == ECONNRESET) {
        ++b_.peer_closes_;
      }
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(b_.mu_);
      if (b_.first_bytes_.empty()) {
        b_.first_bytes_.assign(buf, std::min<size_t>(64, static_cast<size_t>(n)));
      }
    }
    b_.bytes_ += static_cast<uint64_t>(n);
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
  return false;
}

bool RawConn::ReadRequest(bool body) {
  size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill()) {
      return false;
    }
  }
  std::string head = in_.substr(0, end + 4);
  in_.erase(0, end + 4);
  ++requests_;
  ++b_.requests_;
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  size_t cl = lower.find("\r\ncontent-length:");
  body_left_ = cl == std::string::npos ? 0 : std::stoull(lower.substr(cl + 17));
  return !body || ReadBody();
}

bool RawConn::ReadBody() {
  while (in_.size() < body_left_) {
    if (!Fill()) {
      return false;
    }
  }
  in_.erase(0, body_left_);
  body_left_ = 0;
  return true;
}

bool RawConn::Write(std::string_view bytes) { return SendAll(fd_, bytes); }

bool RawConn::WaitPeerClose() {
  while (Fill()) {
    in_.clear();
  }
  return !b_.stop_;
}

void RawConn::SetReset() {
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

bool RawConn::WaitGo() {
  const auto end = Clock::now() + std::chrono::milliseconds(kRawWaitMs);
  while (!b_.go_ && !b_.stop_ && Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll interval
  }
  return b_.go_;
}

// ---- the faults ----

std::string OkResponse(std::string_view body = "ok") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

constexpr size_t kBigBody = 200000;  // a Content-Length body the faults cut short
constexpr size_t kSentPart = 50000;  // what of it is sent before the fault

// The head of a kBigBody response and kSentPart bytes of it.
std::string BigHeadAndPart() {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBigBody) + "\r\n\r\n" +
         std::string(kSentPart, 'b');
}

void ResetBeforeHead(RawConn& c) {
  if (c.ReadRequest()) {
    c.SetReset();
  }
}
void ResetMidBody(RawConn& c) {
  if (c.ReadRequest() && c.Write(BigHeadAndPart())) {
    c.WaitGo();  // the client has the head and some body
    c.SetReset();
  }
}
void Garbage(RawConn& c) {
  if (c.ReadRequest()) {
    c.Write("hello, this is not HTTP\r\n\r\n");
  }
}
void StallInHead(RawConn& c) {
  if (c.ReadRequest() && c.Write("HTTP/1.1 200 OK\r\nContent-Le")) {
    c.WaitPeerClose();
  }
}
void StallMidBody(RawConn& c) {
  if (c.ReadRequest() && c.Write(BigHeadAndPart())) {
    c.WaitPeerClose();
  }
}
// Answers the first request of a connection keep-alive; reads the second and closes
// without a byte back (FIN; RST for a POST), as a backend whose idle timeout fired just as
// the gateway reused the connection.
void CloseOnReuse(RawConn& c) {
  if (!c.ReadRequest() || !c.Write(OkResponse("first"))) {
    return;
  }
  if (c.ReadRequest()) {
    c.SetReset();
  }
}
void TwoContinues(RawConn& c) {
  if (c.ReadRequest(false) &&
      c.Write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n") && c.ReadBody()) {
    c.Write(OkResponse("after-continues"));
    c.WaitPeerClose();
  }
}
void OversizedHead(RawConn& c) {
  if (c.ReadRequest()) {
    c.Write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(kMaxHeaderBytes * 2, 'h') +
            "\r\nContent-Length: 2\r\n\r\nok");
    c.WaitPeerClose();
  }
}
// Reads whatever comes (a TLS ClientHello) and never answers.
void Silent(RawConn& c) { c.WaitPeerClose(); }

// ---- the admin gauges ----

// /v1/shards summed over the shards.
struct Gauges {
  bool ok = false;
  int64_t clients = 0, backends = 0, pooled = 0, in_flight = 0, buffers = 0, held = 0;
  std::string json;
  // Nothing left in use but idle pooled backend connections.
  bool quiet() const {
    return ok && clients == 0 && in_flight == 0 && buffers == 0 && held == 0 && backends == pooled;
  }
};

Gauges ReadGauges(int admin) {
  Gauges g;
  auto r = HttpGet(admin, "/v1/shards");
  if (!r || r->status != 200) {
    return g;
  }
  g.json = r->body;
  g.ok = true;
  for (int s = 0; JsonInt(g.json, "/shards/" + std::to_string(s) + "/id"); ++s) {
    auto f = [&](const char* name) {
      auto v = JsonInt(g.json, "/shards/" + std::to_string(s) + "/" + name);
      g.ok = g.ok && v.has_value();
      return v.value_or(0);
    };
    g.clients += f("client_connections");
    g.backends += f("backend_connections");
    g.pooled += f("pooled_backend_connections");
    g.in_flight += f("in_flight");
    g.buffers += f("buffers_in_use");
    g.held += f("held_recv_buffers");
  }
  return g;
}

// Polls /v1/shards until nothing is left in use (Gauges::quiet), at most kQuietMs.
::testing::AssertionResult Quiet(int admin) {
  Gauges g;
  if (PollUntil(
          [&] {
            g = ReadGauges(admin);
            return g.quiet();
          },
          kQuietMs)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "still in use after " << kQuietMs << " ms: " << g.json;
}

// ---- clients that abort ----

int ConnectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads until at least `n` bytes came; returns them (fewer on EOF, error or timeout).
std::string RecvAtLeast(int fd, size_t n) {
  std::string got;
  char buf[65536];
  while (got.size() < n) {
    ssize_t k = ::recv(fd, buf, sizeof(buf), 0);
    if (k <= 0) {
      break;
    }
    got.append(buf, static_cast<size_t>(k));
  }
  return got;
}

// Closes `fd` with RST (SO_LINGER 0): an abort, not an orderly end.
void Abort(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(fd);
}

// ---- the stack ----

// "req_protocol":"http" of an API made by the harness switched to https (with client_ssl).
std::string WithHttps(std::string api, const std::string& ca) {
  const std::string plain = R"("req_protocol":"http")";
  size_t at = api.find(plain);
  if (at != std::string::npos) {
    api.replace(at, plain.size(),
                R"("req_protocol":"https","client_ssl":{"ca":)" + JsonQuote(ca) + "}");
  }
  return api;
}

// One gateway (two shards, a plain and a TLS listener, the admin listener), a stub and one
// RawBackend per fault, shared by every test.
class FaultsTest : public ::testing::Test {
 protected:
  struct Raw {
    const char* name;
    RawBackend::Serve serve;
    const char* backend_extra;
  };
  static void SetUpTestSuite() {
    const TestPki* pki = nullptr;
    ASSERT_TRUE(SharedPki(&pki));
    pki_ = pki;
    stub_ = std::make_unique<Backend>();
    ASSERT_TRUE(stub_->Start("stub"));
    const std::string timeout = R"("timeout_ms":)" + std::to_string(kBackendTimeoutMs);
    const std::vector<Raw> raws = {
        {"rst-before-head", ResetBeforeHead, ""},  // default retries: a GET goes twice
        {"rst-mid-body", ResetMidBody, R"("retry_count":0)"},
        {"garbage", Garbage, R"("retry_count":0)"},
        {"stall-head", StallInHead, R"("retry_count":0)"},
        {"stall-body", StallMidBody, R"("retry_count":0)"},
        {"close-on-reuse", CloseOnReuse, ""},
        {"two-continues", TwoContinues, R"("retry_count":0)"},
        {"oversized-head", OversizedHead, R"("retry_count":0)"},
        {"tls-silent", Silent, R"("retry_count":0)"},
    };
    ConfigSpec spec;
    spec.listeners = {"main", "tls"};
    spec.listener_tls = {{"tls", "{\"certificate\":" + JsonQuote(pki->a.cert) +
                                     ",\"private_key\":" + JsonQuote(pki->a.key) + "}"}};
    spec.limits = "\"client_header_timeout_ms\": " + std::to_string(kHeaderTimeoutMs) +
                  ", \"client_idle_timeout_ms\": " + std::to_string(kIdleTimeoutMs) +
                  ", \"max_header_bytes\": " + std::to_string(kMaxHeaderBytes);
    spec.extra = R"("admin": {"address": "127.0.0.1:0"})";
    spec.apis = {PingApi(), StubApi(*stub_, timeout),
                 ProxyApi("refused", "GET", "/refused", "127.0.0.1:" + std::to_string(UnusedPort()),
                          "/x", "", R"("retry_count":0)")};
    for (const Raw& r : raws) {
      raw_[r.name] = std::make_unique<RawBackend>(r.serve);
      std::string extra = timeout + (r.backend_extra[0] != '\0' ? "," : "") + r.backend_extra;
      std::string api = ProxyApi(r.name, "ANY", std::string("/") + r.name, raw_[r.name]->address(),
                                 "/x", "", extra);
      spec.apis.push_back(std::string(r.name) == "tls-silent" ? WithHttps(api, pki->ca) : api);
    }
    gw_ = std::make_unique<Gateway>();
    ASSERT_TRUE(gw_->Start(BuildConfig(spec)));
  }
  static void TearDownTestSuite() {
    gw_.reset();
    raw_.clear();
    stub_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(gw_ && gw_->running()) << (gw_ ? gw_->LogTail() : "no gateway");
    ASSERT_GT(admin(), 0) << gw_->LogTail();
    ASSERT_TRUE(Quiet(admin())) << "before the test";
  }
  void TearDown() override { EXPECT_TRUE(gw_->running()) << gw_->LogTail(); }

  static int port() { return gw_->port("main"); }
  static int tls_port() { return gw_->port("tls"); }
  static int admin() { return gw_->port("admin"); }
  static RawBackend& raw(const std::string& name) { return *raw_.at(name); }
  static Backend& stub() { return *stub_; }
  static const TestPki& pki() { return *pki_; }

  // A gateway JSON error with `status` and the documented error code `code`.
  static ::testing::AssertionResult IsError(const std::optional<Response>& r, int status,
                                            std::string_view code) {
    return IsGatewayError(r, status, code);
  }

  static inline std::unique_ptr<Backend> stub_;
  static inline std::map<std::string, std::unique_ptr<RawBackend>> raw_;
  static inline std::unique_ptr<Gateway> gw_;
  static inline const TestPki* pki_ = nullptr;
};

// ---- backend faults ----

TEST_F(FaultsTest, RefusedIs502AndNothingLeaks) {
  EXPECT_TRUE(IsError(HttpGet(port(), "/refused"), 502, "RW.5020"));
  EXPECT_TRUE(Quiet(admin()));
}

TEST_F(FaultsTest, ResetBeforeTheHeadIs502AfterOneRetry) {
  RawBackend& b = raw("rst-before-head");
  EXPECT_TRUE(IsError(HttpGet(port(), "/rst-before-head"), 502, "RW.5021"));
  EXPECT_EQ(b.requests(), 2u) << "a GET is retried once (retry_count -1)";
  EXPECT_EQ(b.connections(), 2u);
  EXPECT_TRUE(Quiet(admin()));
  EXPECT_TRUE(PollUntil([&] { return b.open() == 0; }, kQuietMs));
}

TEST_F(FaultsTest, ResetMidBodyClosesTheClientAfterWhatCame) {
  RawBackend& b = raw("rst-mid-body");
  b.Rearm();
  int fd = ConnectTo(port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, BuildRequest("GET", "/rst-mid-body")));
  std::string got = RecvAtLeast(fd, 1000);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got.substr(0, 200);
  b.Go();
  // The rest of what came, then the close: never the whole body, never a second response.
  std::string rest = RecvAtLeast(fd, kBigBody + 1000);
  ::close(fd);
  got += rest;
  size_t head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_LT(got.size() - head_end - 4, kBigBody);
  EXPECT_LE(got.size() - head_end - 4, kSentPart);
  EXPECT_EQ(got.find("HTTP/1.1", 1), std::string::npos);
  EXPECT_EQ(b.requests(), 1u);
  EXPECT_TRUE(Quiet(admin()));
  EXPECT_TRUE(PollUntil([&] { return b.open() == 0; }, kQuietMs));
}

TEST_F(FaultsTest, GarbageIs502AndTheBackendConnectionClosed) {
  RawBackend& b = raw("garbage");
  EXPECT_TRUE(IsError(HttpGet(port(), "/garbage"), 502, "RW.5200"));
  EXPECT_EQ(b.requests(), 1u) << "a bad response is never retried";
  EXPECT_TRUE(Quiet(admin()));
  EXPECT_TRUE(PollUntil([&] { return b.open() == 0; }, kQuietMs));
}

TEST_F(FaultsTest, StallInTheHeadIs504AtTheTimeout) {
  RawBackend& b = raw("stall-head");
  auto start = Clock::now();
  EXPECT_TRUE(IsError(HttpGet(port(), "/stall-head"), 504, "RW.5040"));
  EXPECT_GE(ElapsedMs(start), kBackendTimeoutMs - 50);
  EXPECT_LT(ElapsedMs(start), kBackendTimeoutMs + 2000);
  EXPECT_EQ(b.requests(), 1u);
  // The gateway closed the backend connection: the backend read EOF.
  EXPECT_TRUE(PollUntil([&] { return b.peer_closes() == 1 && b.open() == 0; }, kQuietMs));
  EXPECT_TRUE(Quiet(admin()));
}

TEST_F(FaultsTest, StallMidBodyClosesTheClientAtTheTimeout) {
  RawBackend& b = raw("stall-body");
  Client c(port());
  ASSERT_TRUE(c.Connect());
  auto start = Clock::now();
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/stall-body")));
  std::string got;
  EXPECT_TRUE(c.WaitClosed(kBackendTimeoutMs + 3000, &got));
  EXPECT_GE(ElapsedMs(start), kBackendTimeoutMs - 50);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << got.substr(0, 200);
  size_t head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_EQ(got.size() - head_end - 4, kSentPart) << "what the backend sent, and no more";
  EXPECT_EQ(b.requests(), 1u);
  EXPECT_TRUE(PollUntil([&] { return b.peer_closes() == 1 && b.open() == 0; }, kQuietMs));
  EXPECT_TRUE(Quiet(admin()));
}

// The backend closes a kept-alive connection just as the gateway reuses it (it read the
// request and answers nothing): no response byte came, so the request goes again on a
// fresh connection, a GET with FIN and a POST with RST alike.
TEST_F(FaultsTest, KeepAliveClosedAsTheRequestIsSentIsRetried) {
  RawBackend& b = raw("close-on-reuse");
  const int64_t pooled = ReadGauges(admin()).pooled;
  Client c(port());
  auto first = c.Get("/close-on-reuse");
  ASSERT_TRUE(HasStatus(first, 200));
  EXPECT_EQ(first->body, "first");
  // The backend connection is pooled when its response is complete, before the client has
  // it; the gauge shows it at the shard's next loop turn.
  ASSERT_TRUE(PollUntil([&] { return ReadGauges(admin()).pooled > pooled; }, kQuietMs))
      << "the backend connection was not pooled";
  auto second = c.Get("/close-on-reuse");
  ASSERT_TRUE(HasStatus(second, 200));
  EXPECT_EQ(second->body, "first") << "answered by a fresh connection";
  EXPECT_EQ(b.connections(), 2u);
  EXPECT_EQ(b.requests(), 3u);
  auto post = c.Request("POST", "/close-on-reuse", {}, "payload");
  ASSERT_TRUE(HasStatus(post, 200));
  EXPECT_EQ(b.connections(), 3u);
  EXPECT_EQ(b.requests(), 5u);
  c.Close();
  EXPECT_TRUE(Quiet(admin()));
}

// The gateway answers `Expect: 100-continue` itself; the backend's interim responses
// (two here) are not relayed: the client sees one 100, then the final response.
TEST_F(FaultsTest, TwoContinuesFromTheBackendGiveOneToTheClient) {
  RawBackend& b = raw("two-continues");
  Client c(port());
  ASSERT_TRUE(c.Connect());
  const std::string body(5000, 'u');
  ASSERT_TRUE(
      c.Send("POST /two-continues HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_TRUE(HasStatus(interim, 100));
  ASSERT_TRUE(c.Send(body));
  auto r = c.Read();
  ASSERT_TRUE(HasStatus(r, 200)) << "a second 100 reached the client";
  EXPECT_EQ(r->body, "after-continues");
  EXPECT_EQ(b.requests(), 1u);
  EXPECT_EQ(b.bytes() > body.size(), true);
  c.Close();
  EXPECT_TRUE(Quiet(admin()));
}

TEST_F(FaultsTest, OversizedResponseHeadIs502) {
  RawBackend& b = raw("oversized-head");
  EXPECT_TRUE(IsError(HttpGet(port(), "/oversized-head"), 502, "RW.5231"));
  EXPECT_EQ(b.requests(), 1u);
  EXPECT_TRUE(PollUntil([&] { return b.open() == 0; }, kQuietMs));
  EXPECT_TRUE(Quiet(admin()));
}

// ---- clients that abort ----

TEST_F(FaultsTest, ClientAbortMidUploadClosesTheBackendConnection) {
  const size_t n_before = stub().RequestCount("POST /stub/sink");
  const int64_t pooled = ReadGauges(admin()).pooled;
  for (bool rst : {false, true}) {
    int fd = ConnectTo(port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(
        SendAll(fd, "POST /stub/sink HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n" +
                        std::string(300000, 'p')));
    // The stub logs the request once its head came: the upload reached the backend.
    ASSERT_TRUE(PollUntil(
        [&] { return stub().RequestCount("POST /stub/sink") >= n_before + (rst ? 2 : 1); },
        kQuietMs));
    rst ? Abort(fd) : (void)::close(fd);
    EXPECT_TRUE(Quiet(admin())) << (rst ? "RST" : "FIN");
    EXPECT_LE(ReadGauges(admin()).pooled, pooled) << "a half-uploaded connection was pooled";
  }
}

// A client that stops sending in the middle of its body (and stays connected): no upload
// progress for client_idle_timeout_ms ends the exchange with 408 RW.4081 and a close.
TEST_F(FaultsTest, ClientStallingMidUploadIs408) {
  const size_t n_before = stub().RequestCount("POST /stub/sink");
  const int64_t pooled = ReadGauges(admin()).pooled;
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send("POST /stub/sink HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n" +
                     std::string(300000, 'p')));
  ASSERT_TRUE(
      PollUntil([&] { return stub().RequestCount("POST /stub/sink") == n_before + 1; }, kQuietMs));
  auto start = Clock::now();
  auto r = c.Read();
  EXPECT_TRUE(IsError(r, 408, "RW.4081"));
  EXPECT_GE(ElapsedMs(start), kIdleTimeoutMs - 300);
  EXPECT_TRUE(c.WaitClosed(3000));
  EXPECT_TRUE(Quiet(admin()));
  EXPECT_LE(ReadGauges(admin()).pooled, pooled) << "a half-uploaded connection was pooled";
}

TEST_F(FaultsTest, ClientAbortMidDownloadClosesTheBackendConnection) {
  const int64_t pooled = ReadGauges(admin()).pooled;
  for (const char* what : {"bytes", "chunked"}) {
    int fd = ConnectTo(port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, BuildRequest("GET", std::string("/stub/") + what + "/50000000")));
    std::string got = RecvAtLeast(fd, 1 << 20);
    EXPECT_EQ(got.rfind("HTTP/1.1 200 ", 0), 0u) << what;
    EXPECT_GE(got.size(), 1u << 20) << what;
    Abort(fd);
    EXPECT_TRUE(Quiet(admin())) << what;
    EXPECT_LE(ReadGauges(admin()).pooled, pooled) << what << ": a half-read connection was pooled";
  }
}

// ---- TLS peers that stop mid-handshake ----

// Half a ClientHello, a whole one and then silence, a whole one and then RST: each closed
// by client_header_timeout_ms at the latest, its slot freed.
TEST_F(FaultsTest, TlsClientsStoppingMidHandshakeAreClosed) {
  std::string hello;
  ASSERT_TRUE(CaptureClientHello("a.test", &hello));
  struct Case {
    const char* name;
    std::string bytes;
    bool abort;
  };
  const std::vector<Case> cases = {{"half a ClientHello", hello.substr(0, hello.size() / 2), false},
                                   {"ClientHello, then silence", hello, false},
                                   {"ClientHello, then RST", hello, true}};
  for (const Case& k : cases) {
    auto start = Clock::now();
    if (k.abort) {
      int fd = ConnectTo(tls_port());
      ASSERT_GE(fd, 0) << k.name;
      ASSERT_TRUE(SendAll(fd, k.bytes)) << k.name;
      ASSERT_TRUE(PollUntil([&] { return ReadGauges(admin()).clients == 1; }, kQuietMs));
      Abort(fd);
    } else {
      Client c(tls_port());
      ASSERT_TRUE(c.Connect()) << k.name;
      ASSERT_TRUE(c.Send(k.bytes)) << k.name;
      std::string got;
      EXPECT_TRUE(c.WaitClosed(kHeaderTimeoutMs + 3000, &got)) << k.name;
      EXPECT_GE(ElapsedMs(start), kHeaderTimeoutMs - 50) << k.name;
      EXPECT_NE(got.rfind("HTTP/", 0), 0u) << k.name << ": answered in plaintext";
    }
    EXPECT_TRUE(Quiet(admin())) << k.name;
  }
  // The listener serves a whole handshake afterwards.
  SClientResult s = SClient(tls_port(), {"-servername", "a.test", "-CAfile", pki().ca},
                            CloseRequest("/ping", "a.test"));
  EXPECT_NE(s.out.find(std::string(kPingBody)), std::string::npos) << s.Describe();
  EXPECT_TRUE(Quiet(admin()));
}

// An https backend that accepts TCP and never answers the ClientHello: the backend
// timeout bounds the handshake.
TEST_F(FaultsTest, TlsBackendSilentInTheHandshakeIs504) {
  RawBackend& b = raw("tls-silent");
  auto start = Clock::now();
  EXPECT_TRUE(IsError(HttpGet(port(), "/tls-silent"), 504, "RW.5040"));
  EXPECT_GE(ElapsedMs(start), kBackendTimeoutMs - 50);
  EXPECT_EQ(b.connections(), 1u);
  EXPECT_EQ(b.first_bytes().substr(0, 1), std::string(1, '\x16')) << "no TLS record came";
  EXPECT_TRUE(PollUntil([&] { return b.peer_closes() == 1 && b.open() == 0; }, kQuietMs));
  EXPECT_TRUE(Quiet(admin()));
}

}  // namespace
}  // namespace ringway::integration
