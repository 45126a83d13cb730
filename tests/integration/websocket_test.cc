// WebSocket / HTTP Upgrade pass-through (CONFIG.md `limits.upgrade_idle_timeout_ms`,
// docs/admin.md metrics and access log), end to end: real ringway processes between WebSocket
// peers it did not write — Debian's node-ws (the npm `ws` module) as client and origin, driven by
// tests/integration/ws_peer.js — plus a raw client here for exact bytes, and stub_backend for
// the requests that must not be upgraded.
//
// The contract under test:
// - An HTTP/1.1 request with `Connection: upgrade` + `Upgrade: <proto>` and no body, on an http
//   backend, is routed, authenticated and breaker-checked like any request; Upgrade,
//   Connection and Sec-WebSocket-* reach the backend; a backend 101 is relayed (Connection:
//   upgrade, the backend's Upgrade) and from then on bytes pass unchanged both ways. Any other
//   answer (400, 426, ...) is relayed as a normal response and the client connection stays
//   usable (keep-alive).
// - `Upgrade: h2c` is dropped (the backend never sees it) and the request answered normally;
//   an Upgrade on HTTP/1.0 is ignored likewise; an Upgrade request with a body is answered
//   normally. A 101 to a request that did not ask for an upgrade: 502 RW.5251.
// - Never retried once sent. A bound breaker records the handshake's status.
// - `limits.upgrade_idle_timeout_ms`: a tunnel idle that long in both directions is closed on
//   both sides. When either side closes (or the client vanishes), the other side gets what
//   was still held and both connections close; the backend connection is never pooled.
// - `max_connections` counts tunnels; on SIGTERM open tunnels work until --drain-timeout-ms.
// - TLS listener (wss to ringway, ws to the backend) and TLS backend (https url).
// - Metrics: ringway_upgrades_total, ringway_upgraded_connections,
//   ringway_upgrade_bytes_total{direction="in"|"out"}, ringway_upgrade_duration_seconds_sum /
//   _count, ringway_requests_total{code="101"}. Access log: one line per upgraded exchange when
//   the tunnel ends, status 101, bytes including the tunnel, total_ms the whole session,
//   "upgrade":"websocket" (null on ordinary requests).
//
// Environment (tests/integration/meson.build): NODE_BIN, WS_PEER_JS, NODE_PATH, OPENSSL_BIN.
// Each test says in a comment which breakage it catches.
//
// Against main at cc93455 (the WebSocket commit 24df138 and its follow-ups) every test passes but
// WebSocketTlsTest.TlsBackend and WebSocketTlsTest.EveryTunnelToATlsOriginOpens: ringway's backend
// TLS 1.3 session resumption fails every third handshake with Node's TLS server (see
// EveryTunnelToATlsOriginOpens).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "channels.h"
#include "harness.h"
#include "prom_text.h"
#include "tls_certs.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClientTimeoutMs = 30000;  // one ws_peer.js scenario
constexpr int kEventMs = 5000;           // a peer's event line after the fact
constexpr int kIdleTimeoutMs = 300;      // limits.upgrade_idle_timeout_ms of the idle tests
constexpr int kDrainTimeoutMs = 1500;

// RFC 6455 section 1.3's example key and its accept value.
constexpr std::string_view kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// The app of API "wsauth" (auth_type app).
constexpr std::string_view kAppKey = "ws-app-key";
constexpr std::string_view kAppSecret = "ws-app-secret-0123456789";

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// node and ws_peer.js usable, and the `ws` module loadable: checked once per binary.
::testing::AssertionResult NodeReady() {
  static const std::string failure = [] {
    const std::string node = Env("NODE_BIN");
    const std::string peer = Env("WS_PEER_JS");
    if (node.empty() || peer.empty()) {
      return std::string(
          "NODE_BIN / WS_PEER_JS not set: run through meson test, with Debian's nodejs and "
          "node-ws installed (tools/setup --test)");
    }
    if (::access(node.c_str(), X_OK) != 0 || ::access(peer.c_str(), R_OK) != 0) {
      return "cannot run " + node + " " + peer;
    }
    CommandResult r = RunCommand({node, "-e", "require('ws')"}, 20000);
    if (r.exit_code != 0) {
      return "node cannot load the ws module (install Debian's node-ws; NODE_PATH=" +
             Env("NODE_PATH") + "): " + r.err;
    }
    return std::string();
  }();
  if (!failure.empty()) {
    return ::testing::AssertionFailure() << failure;
  }
  return ::testing::AssertionSuccess();
}

// ---- ws_peer.js as an origin ----

class WsServer {
 public:
  ::testing::AssertionResult Start(const std::vector<std::string>& args = {}) {
    if (::testing::AssertionResult ok = NodeReady(); !ok) {
      return ok;
    }
    std::vector<std::string> argv = {Env("NODE_BIN"), Env("WS_PEER_JS"), "server"};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Process>();
    std::string error;
    if (!proc_->Spawn(argv, &error)) {
      return ::testing::AssertionFailure() << "cannot start ws_peer.js server: " << error;
    }
    if (!proc_->WaitFor(Process::kStdout, "listening ", 10000)) {
      return ::testing::AssertionFailure()
             << "ws_peer.js server did not listen: " << Output() << proc_->Output(Process::kStderr);
    }
    std::string out = Output();
    port_ = std::atoi(out.c_str() + out.find("listening ") + 10);
    return ::testing::AssertionSuccess();
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Output() const { return proc_ ? proc_->Output(Process::kStdout) : ""; }
  bool WaitFor(std::string_view needle, int timeout_ms = kEventMs) const {
    return proc_ && proc_->WaitFor(Process::kStdout, needle, timeout_ms);
  }
  size_t Count(std::string_view needle) const {
    return proc_ ? proc_->Count(Process::kStdout, needle) : 0;
  }
  bool Contains(std::string_view needle) const { return Count(needle) > 0; }
  bool running() { return proc_ && proc_->running(); }

  // The id of the first upgrade request whose path is `path` ("upgrade id=N path=P "), waited
  // for; -1 if none came.
  int UpgradeId(const std::string& path, int timeout_ms = kEventMs) const {
    const std::string tail = " path=" + path + " ";
    int id = -1;
    PollUntil(
        [&] {
          std::istringstream lines(Output());
          std::string line;
          while (std::getline(lines, line)) {
            if (line.rfind("upgrade id=", 0) == 0 && line.find(tail) != std::string::npos) {
              id = std::atoi(line.c_str() + 11);
              return true;
            }
          }
          return false;
        },
        timeout_ms);
    return id;
  }
  // The headers the origin saw on upgrade `id` (a JSON object, lowercase names); "" if none.
  std::string UpgradeHeaders(int id) const {
    const std::string prefix = "upgrade id=" + std::to_string(id) + " ";
    std::istringstream lines(Output());
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind(prefix, 0) == 0) {
        size_t at = line.find(" headers=");
        return at == std::string::npos ? "" : line.substr(at + 9);
      }
    }
    return "";
  }

 private:
  std::unique_ptr<Process> proc_;
  int port_ = -1;
};

// ---- ws_peer.js as a client ----

std::vector<std::string> ClientArgv(const std::string& url, const std::string& scenario,
                                    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Env("NODE_BIN"), Env("WS_PEER_JS"), "client", url, scenario};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// Runs one scenario to completion; success when it exits 0 with an "ok" line.
::testing::AssertionResult RunClient(const std::string& url, const std::string& scenario,
                                     std::vector<std::string> args = {},
                                     int timeout_ms = kClientTimeoutMs,
                                     std::string* out = nullptr) {
  if (::testing::AssertionResult ok = NodeReady(); !ok) {
    return ok;
  }
  args.insert(args.end(), {"--timeout", std::to_string(timeout_ms)});
  CommandResult r = RunCommand(ClientArgv(url, scenario, args), timeout_ms + 10000);
  if (out) {
    *out = r.out;
  }
  if (r.exit_code != 0 ||
      r.out.find("ok " + scenario.substr(0, scenario.find(' '))) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "ws_peer.js client " << url << " " << scenario << ": exit " << r.exit_code
           << "\nstdout: " << r.out << "\nstderr: " << r.err;
  }
  return ::testing::AssertionSuccess() << r.out;
}

// A scenario running in the background (pulse, idle, many --hold); stdin piped.
::testing::AssertionResult SpawnClient(Process* proc, const std::string& url,
                                       const std::string& scenario,
                                       std::vector<std::string> args = {},
                                       int timeout_ms = kClientTimeoutMs) {
  if (::testing::AssertionResult ok = NodeReady(); !ok) {
    return ok;
  }
  args.insert(args.end(), {"--timeout", std::to_string(timeout_ms)});
  std::string error;
  if (!proc->Spawn(ClientArgv(url, scenario, args), &error, /*pipe_stdin=*/true)) {
    return ::testing::AssertionFailure() << "cannot start ws_peer.js client: " << error;
  }
  return ::testing::AssertionSuccess();
}

// The integer after `key` ("code=") on the line starting with `line_prefix`; -1 if none.
int64_t FieldOf(const std::string& out, const std::string& line_prefix, const std::string& key) {
  size_t at = out.find(line_prefix);
  if (at == std::string::npos) {
    return -1;
  }
  size_t eol = out.find('\n', at);
  std::string line = out.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
  size_t k = line.find(" " + key);
  return k == std::string::npos ? -1 : std::atoll(line.c_str() + k + 1 + key.size());
}

// ---- a raw WebSocket client (exact bytes) ----

class RawWs {
 public:
  explicit RawWs(int port, int timeout_ms = 5000) : port_(port), timeout_ms_(timeout_ms) {}
  ~RawWs() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  // Sends an upgrade request for `target` (with `extra` headers) and reads the response head.
  // `early`: bytes sent in the same write right behind the request (before any 101).
  ::testing::AssertionResult Handshake(const std::string& target, const HeaderList& extra = {},
                                       std::string_view early = {},
                                       const std::string& connection = "Upgrade",
                                       const std::string& upgrade = "websocket") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SetSocketTimeouts(fd_, timeout_ms_);
    if (rcvbuf_ > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof(rcvbuf_));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return ::testing::AssertionFailure() << "connect: " << std::strerror(errno);
    }
    reader_ = std::make_unique<SocketReader>(fd_);
    HeaderList headers = {{"Connection", connection},
                          {"Upgrade", upgrade},
                          {"Sec-WebSocket-Version", "13"},
                          {"Sec-WebSocket-Key", std::string(kWsKey)}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    request_ = BuildRequest("GET", target, headers);
    sent_ += early.size();
    if (!SendAll(fd_, request_ + std::string(early))) {
      return ::testing::AssertionFailure() << "send failed";
    }
    std::string head;
    if (ReadStatus s = reader_->ReadHead(1 << 16, &head); s != ReadStatus::kOk) {
      return ::testing::AssertionFailure() << "no response head: " << ToString(s);
    }
    response_head_bytes_ = head.size() + 4;
    ParsedHead parsed;
    if (!ParseHead(head, &parsed)) {
      return ::testing::AssertionFailure() << "malformed head: " << head;
    }
    status_line_ = parsed.start_line;
    headers_ = parsed.headers;
    return ::testing::AssertionSuccess();
  }

  // SO_RCVBUF for the next Handshake(): a client that stops reading stalls the gateway early.
  void SetRecvBuffer(int bytes) { rcvbuf_ = bytes; }

  int status() const {
    size_t sp = status_line_.find(' ');
    return sp == std::string::npos ? 0 : std::atoi(status_line_.c_str() + sp + 1);
  }
  std::string Header(std::string_view name) const {
    const std::string* v = FindHeader(headers_, name);
    return v ? *v : "";
  }
  std::string Describe() const {
    std::string out = status_line_ + "\n";
    for (const auto& [n, v] : headers_) {
      out += n + ": " + v + "\n";
    }
    return out;
  }
  size_t request_bytes() const { return request_.size(); }
  size_t response_head_bytes() const { return response_head_bytes_; }
  uint64_t frame_bytes_sent() const { return sent_; }
  uint64_t frame_bytes_received() const { return received_; }

  // One FIN frame, masked (as a client must).
  bool SendFrame(uint8_t opcode, std::string_view payload) {
    std::string f = Frame(opcode, payload);
    sent_ += f.size();
    return SendAll(fd_, f);
  }
  static std::string Frame(uint8_t opcode, std::string_view payload) {
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    const size_t n = payload.size();
    if (n < 126) {
      f += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(n >> 8);
      f += static_cast<char>(n & 0xff);
    } else {
      f += static_cast<char>(0x80 | 127);
      for (int i = 7; i >= 0; --i) {
        f += static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff);
      }
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(mask, 4);
    for (size_t i = 0; i < n; ++i) {
      f += static_cast<char>(payload[i] ^ mask[i % 4]);
    }
    return f;
  }

  // The next frame from the server (unmasked); false on EOF, error or timeout.
  bool ReadFrame(uint8_t* opcode, std::string* payload) {
    std::string hdr;
    if (!Read(2, &hdr)) {
      return false;
    }
    *opcode = static_cast<uint8_t>(hdr[0]) & 0x0f;
    bool masked = (static_cast<uint8_t>(hdr[1]) & 0x80) != 0;
    uint64_t len = static_cast<uint8_t>(hdr[1]) & 0x7f;
    if (len >= 126) {
      std::string ext;
      if (!Read(len == 126 ? 2 : 8, &ext)) {
        return false;
      }
      len = 0;
      for (char c : ext) {
        len = (len << 8) | static_cast<uint8_t>(c);
      }
    }
    std::string mask;
    if (masked && !Read(4, &mask)) {
      return false;
    }
    payload->clear();
    if (!Read(len, payload)) {
      return false;
    }
    for (size_t i = 0; masked && i < payload->size(); ++i) {
      (*payload)[i] = static_cast<char>((*payload)[i] ^ mask[i % 4]);
    }
    return true;
  }

  // True if the connection ends (EOF or reset) within timeout_ms with no further byte.
  bool WaitEof(int timeout_ms, std::string* extra = nullptr) {
    SetSocketTimeouts(fd_, timeout_ms);
    std::string data;
    ReadStatus s = reader_->ReadToEof([&](std::string_view d) { data.append(d); });
    SetSocketTimeouts(fd_, timeout_ms_);
    if (extra) {
      *extra = data;
    }
    return data.empty() && (s == ReadStatus::kOk ||
                            (s == ReadStatus::kError && reader_->last_errno() == ECONNRESET));
  }

  // Exactly `n` raw bytes (a tunnel that is not WebSocket).
  bool ReadRaw(uint64_t n, std::string* out) { return Read(n, out); }
  bool SendRaw(std::string_view data) {
    sent_ += data.size();
    return SendAll(fd_, data);
  }
  // Ends the sending side (FIN).
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  bool Read(uint64_t n, std::string* out) {
    size_t before = out->size();
    bool ok = reader_->ReadFixed(n, [&](std::string_view d) { out->append(d); }) == ReadStatus::kOk;
    received_ += out->size() - before;
    return ok && out->size() - before == n;
  }

  int port_;
  int timeout_ms_;
  int fd_ = -1;
  std::unique_ptr<SocketReader> reader_;
  std::string request_;
  std::string status_line_;
  HeaderList headers_;
  size_t response_head_bytes_ = 0;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
  int rcvbuf_ = 0;
};

// Closing handshake from the raw client: close 1000, the server's close 1000, then EOF.
::testing::AssertionResult RawCloseHandshake(RawWs& ws) {
  if (!ws.SendFrame(0x8, std::string("\x03\xe8", 2))) {
    return ::testing::AssertionFailure() << "cannot send the close frame";
  }
  uint8_t op = 0;
  std::string payload;
  if (!ws.ReadFrame(&op, &payload) || op != 0x8 || payload != std::string("\x03\xe8", 2)) {
    return ::testing::AssertionFailure() << "no close 1000 back (opcode " << int(op) << ")";
  }
  if (!ws.WaitEof(5000)) {
    return ::testing::AssertionFailure() << "connection not closed after the close handshake";
  }
  return ::testing::AssertionSuccess();
}

// The next frame is `want` (opcode `want_op`; 0: any), then the closing handshake completes.
::testing::AssertionResult RawFrameThenClose(RawWs& ws, std::string_view want,
                                             uint8_t want_op = 0) {
  uint8_t op = 0;
  std::string payload;
  if (!ws.ReadFrame(&op, &payload)) {
    return ::testing::AssertionFailure() << "no frame (want \"" << want << "\")";
  }
  if ((want_op != 0 && op != want_op) || payload != want) {
    return ::testing::AssertionFailure()
           << "frame opcode " << int(op) << " \"" << payload << "\", want \"" << want << "\"";
  }
  return RawCloseHandshake(ws);
}

// ---- the gateway in front of the peers ----

struct WsStackOptions {
  std::string limits;                    // members of "limits"
  std::string extra;                     // more top-level members (no trailing comma)
  std::string access_log;                // a path, or empty
  std::vector<std::string> apis;         // more APIs
  std::string ws_api_extra;              // api members of the "ws" API
  std::string ws_backend_extra;          // backend members of the "ws" API
  bool ws_https = false;                 // the "ws" API's backend speaks TLS (req_protocol https)
  std::vector<std::string> server_args;  // ws_peer.js server flags
  std::vector<std::string> stub_args;    // stub_backend flags
  std::map<std::string, std::string> listener_tls;
  GatewayOptions gateway{.shards = 1};
};

// A ws_peer.js origin behind API "ws" (ANY /ws, prefix, to the origin's /ws), a stub_backend
// behind "stub" (ANY /stub prefix), the ping mock and an admin listener.
class WsStack {
 public:
  ::testing::AssertionResult Start(const WsStackOptions& o) {
    ::testing::AssertionResult r = ws_.Start(o.server_args);
    if (r) {
      r = stub_.Start(BackendOptions{.extra_args = o.stub_args});
    }
    if (r) {
      ConfigSpec spec;
      spec.listeners = {"main"};
      for (const auto& [name, tls] : o.listener_tls) {
        spec.listeners.push_back(name);
      }
      spec.listener_tls = o.listener_tls;
      spec.limits = o.limits;
      std::string ws_api = ProxyApi(
          "ws", "ANY", "/ws", ws_.address(), "/ws",
          R"("match_mode":"prefix")" + (o.ws_api_extra.empty() ? "" : "," + o.ws_api_extra),
          R"("retry_count":0)" +
              (o.ws_backend_extra.empty() ? std::string() : "," + o.ws_backend_extra));
      if (o.ws_https) {
        ws_api.replace(ws_api.find(R"("req_protocol":"http")"), 21, R"("req_protocol":"https")");
      }
      // "guarded": a second route to the origin (a breaker may be bound to it).
      spec.apis = {PingApi(), StubApi(stub_), ws_api,
                   ProxyApi("guarded", "ANY", "/guarded", ws_.address(), "/guarded",
                            R"("match_mode":"prefix")", R"("retry_count":0)"),
                   ProxyApi("wsauth", "ANY", "/wsauth", ws_.address(), "/wsauth",
                            R"("match_mode":"prefix","auth_type":"app")", R"("retry_count":0)")};
      spec.apis.insert(spec.apis.end(), o.apis.begin(), o.apis.end());
      spec.extra = R"("admin": {"address": "127.0.0.1:0"}, "apps": [{"name": "web", )"
                   R"("app_key": ")" +
                   std::string(kAppKey) + R"(", "app_secret": ")" + std::string(kAppSecret) +
                   R"("}])";
      if (!o.access_log.empty()) {
        spec.extra += R"(, "access_log": {"path": )" + JsonQuote(o.access_log) + "}";
      }
      if (!o.extra.empty()) {
        spec.extra += ", " + o.extra;
      }
      r = gateway_.Start(BuildConfig(spec), o.gateway);
    }
    start_error_ = r ? "" : r.message();
    return r;
  }
  ::testing::AssertionResult Healthy() { return StackHealth(start_error_, gateway_); }
  Gateway& gateway() { return gateway_; }
  WsServer& ws() { return ws_; }
  Backend& stub() { return stub_; }
  int port() const { return gateway_.port(); }
  std::string Url(const std::string& path, const std::string& listener = "main",
                  const std::string& scheme = "ws") const {
    return scheme + "://127.0.0.1:" + std::to_string(gateway_.port(listener)) + path;
  }

 private:
  WsServer ws_;
  Backend stub_;
  Gateway gateway_;
  std::string start_error_ = "not started";
};

// The value of one series (labels as a subset, summed) in a fresh scrape; nullopt if the scrape
// failed.
std::optional<double> Metric(const Gateway& gw, std::string_view name, const Labels& labels = {}) {
  PromText m;
  if (!ScrapeMetrics(gw, &m)) {
    return std::nullopt;
  }
  return m.Sum(name, labels);
}

bool MetricIs(const Gateway& gw, std::string_view name, double want, const Labels& labels = {}) {
  std::optional<double> v = Metric(gw, name, labels);
  return v && *v == want;
}

// GET /v1/shards on the admin listener, summed over the shards.
struct ShardCounts {
  int64_t client = 0;   // client_connections
  int64_t backend = 0;  // backend_connections
  int64_t tunnels = 0;  // tunnels
};
std::optional<ShardCounts> ShardConnections(const Gateway& gw) {
  std::optional<Response> r = HttpGet(gw.port("admin"), "/v1/shards");
  if (!r || r->status != 200) {
    return std::nullopt;
  }
  ShardCounts sum;
  for (int i = 0;; ++i) {
    std::optional<int64_t> c =
        JsonInt(r->body, "/shards/" + std::to_string(i) + "/client_connections");
    std::optional<int64_t> b =
        JsonInt(r->body, "/shards/" + std::to_string(i) + "/backend_connections");
    std::optional<int64_t> t = JsonInt(r->body, "/shards/" + std::to_string(i) + "/tunnels");
    if (!c || !b) {
      break;
    }
    sum.client += *c;
    sum.backend += *b;
    sum.tunnels += t.value_or(-1000000);  // absent: the check fails
  }
  return sum;
}

// An upgrade request's headers for the harness client.
HeaderList UpgradeHeaders(const std::string& proto = "websocket") {
  return {{"Connection", "Upgrade"},
          {"Upgrade", proto},
          {"Sec-WebSocket-Version", "13"},
          {"Sec-WebSocket-Key", std::string(kWsKey)}};
}

// ---- the peers on their own ----

// ws_peer.js client against ws_peer.js server with no gateway between them: every scenario the
// gateway tests use works on its own, so a failure through the gateway is the gateway's.
TEST(WebSocketSelfCheck, PeersWorkDirectly) {
  WsServer server;
  ASSERT_TRUE(server.Start());
  const std::string base = "ws://" + server.address();
  EXPECT_TRUE(RunClient(base + "/x", "echo", {"--protocol", "chat"}));
  EXPECT_TRUE(RunClient(base + "/x", "ping"));
  EXPECT_TRUE(RunClient(base + "/x", "close-client"));
  EXPECT_TRUE(RunClient(base + "/x/close-after-first", "close-server"));
  EXPECT_TRUE(RunClient(base + "/x", "many", {"200"}));
  EXPECT_TRUE(RunClient(base + "/x", "vanish"));
  EXPECT_FALSE(RunClient(base + "/refuse/426", "echo"));
  CommandResult raw = RunCommand({Env("NODE_BIN"), "-e",
                                  "require('http').get('http://" + server.address() +
                                      "/raw101', r => {}).on('information', i => "
                                      "console.log('got ' + i.statusCode)).on('upgrade', "
                                      "r => { console.log('got ' + r.statusCode); process.exit(0) "
                                      "})"},
                                 10000);
  EXPECT_NE(raw.out.find("got 101"), std::string::npos) << raw.out << raw.err;
  EXPECT_TRUE(server.WaitFor("refused id=")) << server.Output();
}

// ---- one gateway (1 shard) shared by most tests ----

// A breaker on "guarded" that opens after two 426 answers (counter mode) and then answers with a
// mock "mocked".
std::string GuardedBreaker() {
  const std::string content =
      R"({"breaker_condition":{"breaker_type":"condition","breaker_mode":"counter",)"
      R"("unhealthy_threshold":2,"time_window":60,"open_breaker_time":60,)"
      R"("unhealthy_percentage":51,"min_call_threshold":1,)"
      R"("unhealthy_condition":["$context.statusCode","in","426"]},"scope":"basic",)"
      R"("downgrade_default":{"type":"mock","passthrough_infos":null,"func_info":null,)"
      R"("mock_info":{"status_code":200,"result_content":"mocked","headers":[]},)"
      R"("http_info":null,"http_vpc_info":null}})";
  return R"("policies":[{"name":"guard","type":"circuit_breaker","content":)" + content +
         R"(}], "bindings":[{"policy":"guard","api":"guarded","environment":"RELEASE"}])";
}

class WebSocketTest : public SharedStackFixture<WebSocketTest, WsStack> {
 public:
  static ::testing::AssertionResult StartStack(WsStack& s) {
    WsStackOptions o;
    o.extra = GuardedBreaker();
    return s.Start(o);
  }

 protected:
  static WsServer& ws() { return stack().ws(); }
  static Backend& stub() { return stack().stub(); }
  static std::string Url(const std::string& path) { return stack().Url(path); }
};

// Text and binary messages of 1, 125, 126 (16-bit length), 65535, 65536 (64-bit length) and
// 1 MiB echo with their type and content, with a subprotocol offered and selected. Catches:
// Upgrade/Connection/Sec-WebSocket-* not forwarded (the origin refuses or selects no
// subprotocol), the 101 not relayed or its Sec-WebSocket-Accept / Sec-WebSocket-Protocol lost,
// tunnel bytes dropped, reordered or cut at buffer boundaries (a large message straddles many
// reads), a tunnel that stops after the first read.
TEST_F(WebSocketTest, EchoesEverySizeBothTypes) {
  EXPECT_TRUE(RunClient(Url("/ws/echo"), "echo", {"--protocol", "chat"}));
  const int id = ws().UpgradeId("/ws/echo");
  ASSERT_GE(id, 0) << ws().Output();
  const std::string h = ws().UpgradeHeaders(id);
  EXPECT_EQ(JsonString(h, "/upgrade"), "websocket") << h;
  EXPECT_TRUE(HasToken(JsonString(h, "/connection").value_or(""), "upgrade")) << h;
  EXPECT_EQ(JsonString(h, "/sec-websocket-version"), "13") << h;
  EXPECT_EQ(JsonString(h, "/sec-websocket-protocol"), "chat") << h;
  EXPECT_TRUE(JsonString(h, "/sec-websocket-key").has_value()) << h;
  EXPECT_TRUE(ws().WaitFor("open id=" + std::to_string(id) + " protocol=chat")) << ws().Output();
  EXPECT_TRUE(ws().WaitFor("close id=" + std::to_string(id) + " code=1000")) << ws().Output();
}

// The raw view of the same: the 101 as relayed (Connection: upgrade, the origin's Upgrade, the
// accept value of the key sent), the key as the origin got it, one frame each way. Catches: a
// 101 rewritten or missing hop-by-hop headers, a key altered on the way.
TEST_F(WebSocketTest, RelaysThe101AndTheFrames) {
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/ws/raw-101"));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  EXPECT_TRUE(HasToken(raw.Header("connection"), "upgrade")) << raw.Describe();
  EXPECT_TRUE(IEquals(raw.Header("upgrade"), "websocket")) << raw.Describe();
  EXPECT_EQ(raw.Header("sec-websocket-accept"), kWsAccept) << raw.Describe();
  EXPECT_EQ(raw.Header("content-length"), "") << raw.Describe();
  EXPECT_EQ(raw.Header("transfer-encoding"), "") << raw.Describe();
  const int id = ws().UpgradeId("/ws/raw-101");
  ASSERT_GE(id, 0) << ws().Output();
  EXPECT_EQ(JsonString(ws().UpgradeHeaders(id), "/sec-websocket-key"), std::string(kWsKey));
  ASSERT_TRUE(raw.SendFrame(0x2, "\x01\x02\x03 binary \r\n\r\n HTTP/1.1"));
  EXPECT_TRUE(RawFrameThenClose(raw, "\x01\x02\x03 binary \r\n\r\n HTTP/1.1", 0x2));
}

// permessage-deflate offered by the client and accepted by the origin: Sec-WebSocket-Extensions
// crosses both ways and compressed frames (RSV1 set) pass untouched. Catches: the extension
// header dropped from the request or the 101 (the client then sees no extension), frames with
// RSV bits altered.
TEST_F(WebSocketTest, PermessageDeflateNegotiatedThrough) {
  EXPECT_TRUE(RunClient(Url("/ws/deflate"), "echo", {"--deflate"}));
  const int id = ws().UpgradeId("/ws/deflate");
  ASSERT_GE(id, 0) << ws().Output();
  EXPECT_NE(JsonString(ws().UpgradeHeaders(id), "/sec-websocket-extensions")
                .value_or("")
                .find("permessage-deflate"),
            std::string::npos)
      << ws().UpgradeHeaders(id);
}

// Browsers send "Connection: keep-alive, Upgrade" and some "Upgrade: WebSocket": a token list
// and any case are an upgrade. Catches: a Connection check by string equality or case.
TEST_F(WebSocketTest, ConnectionTokenListAndCaseAreAnUpgrade) {
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/ws/token-list", {}, {}, "keep-alive, Upgrade", "WebSocket"));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  ASSERT_TRUE(raw.SendFrame(0x1, "tokens"));
  EXPECT_TRUE(RawFrameThenClose(raw, "tokens"));
}

// An upgrade on a client connection that already served two ordinary requests (keep-alive):
// the 101 comes back on it and it becomes a tunnel. Catches: upgrades honoured only as a
// connection's first request, parser state from earlier requests leaking into the tunnel.
TEST_F(WebSocketTest, UpgradeOnAKeptAliveConnection) {
  Client c(port());
  ASSERT_TRUE(EchoedTarget(c.Get("/stub/before-1"), "/stub/before-1"));
  ASSERT_TRUE(HasStatus(c.Get("/ping"), 200));
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/ws/kept-alive", UpgradeHeaders())));
  auto r = c.Read();
  ASSERT_TRUE(HasStatus(r, 101));
  EXPECT_EQ(r->Header("sec-websocket-accept"), kWsAccept);
  ASSERT_TRUE(c.Send(RawWs::Frame(0x8, std::string("\x03\xe8", 2))));
  EXPECT_EQ(c.ReadUntilEof(5000), std::string("\x88\x02\x03\xe8", 4))
      << "the origin's close frame, then the end of the connection";
}

// A mock API answers an upgrade request itself, normally (no backend can switch). Catches: a
// mock answer that leaves the connection waiting for a tunnel.
TEST_F(WebSocketTest, MockApiAnswersAnUpgradeNormally) {
  Client c(port());
  auto r = c.Get("/ping", UpgradeHeaders());
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->body, kPingBody);
  EXPECT_TRUE(HasStatus(c.Get("/ping"), 200));
}

// Authenticated like any request (auth_type app): unsigned, 401 RW.4011 and the origin never
// sees it; signed by `ringway sign`, it upgrades and echoes. Catches: upgrades that bypass
// authentication, or signed ones refused.
TEST_F(WebSocketTest, AuthenticatedLikeAnyRequest) {
  auto r = HttpGet(port(), "/wsauth/unsigned", UpgradeHeaders());
  ASSERT_TRUE(IsGatewayError(r, 401));
  EXPECT_EQ(JsonString(r->body, "/error_code"), "RW.4011") << r->body;
  EXPECT_EQ(ws().UpgradeId("/wsauth/unsigned", 200), -1) << "the origin saw an unsigned upgrade";

  const std::string host = "127.0.0.1:" + std::to_string(port());
  CommandResult sign =
      RunRingway({"sign", "--app-key", std::string(kAppKey), "--app-secret",
                  std::string(kAppSecret), "-X", "GET", "http://" + host + "/wsauth/signed"});
  ASSERT_EQ(sign.exit_code, 0) << sign.err << sign.out;
  HeaderList signed_headers = {{"Host", host}};
  std::istringstream lines(sign.out);
  for (std::string line; std::getline(lines, line);) {
    size_t colon = line.find(": ");
    if (colon != std::string::npos && !IEquals(line.substr(0, colon), "host")) {
      signed_headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
  }
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/wsauth/signed", signed_headers));
  ASSERT_EQ(raw.status(), 101) << raw.Describe() << "\nsigned with:\n" << sign.out;
  ASSERT_TRUE(raw.SendFrame(0x1, "signed"));
  EXPECT_TRUE(RawFrameThenClose(raw, "signed"));
}

// A ping is answered by the origin's pong with the same payload. Catches: control frames
// swallowed or answered by the gateway itself with another payload.
TEST_F(WebSocketTest, PingPong) { EXPECT_TRUE(RunClient(Url("/ws/ping"), "ping")); }

// The origin's first message travels in the same write as its 101 (ws_peer.js corks the socket):
// the client gets the 101 and then that message. Catches: bytes read together with the 101's
// head dropped (or parsed as a response body) instead of tunnelled.
TEST_F(WebSocketTest, MessageInTheSameWriteAsThe101IsRelayed) {
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/ws/greet"));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  EXPECT_TRUE(RawFrameThenClose(raw, "greeting", 0x1)) << "the origin's greeting";
}

// A frame sent right behind the upgrade request, in the same write, before the 101 came back:
// once the 101 is relayed those bytes are tunnel bytes and reach the origin (its echo comes
// back). Catches: client bytes read before the switch taken for a next (pipelined) request, or
// dropped.
TEST_F(WebSocketTest, FrameSentBeforeThe101IsTunnelled) {
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/ws/early", {}, RawWs::Frame(0x1, "early bird")));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  EXPECT_TRUE(RawFrameThenClose(raw, "early bird", 0x1)) << "the echo of the early frame";
}

// What one side sent just before it closed reaches the other side in full before the tunnel
// closes: the origin sends 1 MiB then closes with 4001 (the client gets the message and 4001);
// the origin sends 1 MiB then ends its TCP connection without a close frame (the client gets
// the message, then 1006); the client sends 1 MiB then ends its TCP connection (the origin gets
// the message with its sha1, then 1006). Catches: a close that drops the bytes still buffered
// in the gateway (either direction), a close that is never propagated.
TEST_F(WebSocketTest, BytesBeforeACloseArriveInFull) {
  std::string out;
  EXPECT_TRUE(RunClient(Url("/ws/flood-close"), "receive", {}, kClientTimeoutMs, &out));
  EXPECT_NE(out.find("ok receive bytes=1048576 code=4001 reason=flood-done"), std::string::npos)
      << out;
  EXPECT_TRUE(RunClient(Url("/ws/flood-end"), "receive", {}, kClientTimeoutMs, &out));
  EXPECT_NE(out.find("ok receive bytes=1048576 code=1006"), std::string::npos) << out;
  EXPECT_TRUE(RunClient(Url("/ws/send-end"), "send-end", {}, kClientTimeoutMs, &out));
  const int64_t sha_at = static_cast<int64_t>(out.find("sha1="));
  ASSERT_GE(sha_at, 0) << out;
  const std::string sha = out.substr(static_cast<size_t>(sha_at) + 5, 40);
  const int id = ws().UpgradeId("/ws/send-end");
  ASSERT_GE(id, 0) << ws().Output();
  const std::string sid = std::to_string(id);
  EXPECT_TRUE(ws().WaitFor("message id=" + sid + " type=binary bytes=1048576 sha1=" + sha))
      << ws().Output();
  EXPECT_TRUE(ws().WaitFor("conn-closed id=" + sid)) << ws().Output();
}

// The client closes (1000 "client-bye"): the origin sees that close frame, the close completes
// with 1000, and the origin's TCP connection ends. Catches: the close frame not passed on, the
// backend connection left open (or pooled) after the tunnel.
TEST_F(WebSocketTest, CloseFromClient) {
  EXPECT_TRUE(RunClient(Url("/ws/close-client"), "close-client"));
  const int id = ws().UpgradeId("/ws/close-client");
  ASSERT_GE(id, 0) << ws().Output();
  const std::string sid = std::to_string(id);
  EXPECT_TRUE(ws().WaitFor("close id=" + sid + " code=1000 reason=client-bye")) << ws().Output();
  EXPECT_TRUE(ws().WaitFor("conn-closed id=" + sid)) << ws().Output();
}

// The origin closes (4000 "server-bye") right after its echo: the client gets the echo and that
// close code and reason. Catches: bytes written by the backend just before its close lost, a
// close of the gateway's own (1006 or 1001) instead of the origin's.
TEST_F(WebSocketTest, CloseFromServer) {
  EXPECT_TRUE(RunClient(Url("/ws/close-after-first"), "close-server"));
  const int id = ws().UpgradeId("/ws/close-after-first");
  ASSERT_GE(id, 0) << ws().Output();
  EXPECT_TRUE(ws().WaitFor("conn-closed id=" + std::to_string(id))) << ws().Output();
}

// 1,000 tunnels open at once on one shard, each echoing one message, held open together:
// ringway_upgraded_connections reads 1000, then 0 after they closed, and the shard's backend
// connections return to what they were. Catches: per-shard tunnel limits or fixed tables too
// small, tunnels that starve each other, a gauge that leaks.
TEST_F(WebSocketTest, ThousandConcurrentTunnelsOnOneShard) {
  constexpr int kN = 1000;
  Process client;
  ASSERT_TRUE(SpawnClient(&client, Url("/ws/many"), "many", {std::to_string(kN), "--hold"}, 60000));
  ASSERT_TRUE(client.WaitFor(Process::kStdout, "holding n=1000", 60000))
      << client.Output(Process::kStdout) << client.Output(Process::kStderr) << gateway().LogTail();
  EXPECT_EQ(Metric(gateway(), "ringway_upgraded_connections"), kN);
  auto conns = ShardConnections(gateway());
  ASSERT_TRUE(conns);
  EXPECT_GE(conns->client, kN);
  EXPECT_GE(conns->backend, kN);
  EXPECT_EQ(conns->tunnels, kN);
  client.CloseStdin();
  ASSERT_EQ(client.WaitExit(60000), 0) << client.Output(Process::kStdout);
  EXPECT_NE(client.Output(Process::kStdout).find("ok many n=1000"), std::string::npos);
  EXPECT_TRUE(
      PollUntil([&] { return MetricIs(gateway(), "ringway_upgraded_connections", 0); }, 10000))
      << Metric(gateway(), "ringway_upgraded_connections").value_or(-1);
  EXPECT_TRUE(PollUntil(
      [&] {
        auto c = ShardConnections(gateway());
        return c && c->backend < 10 && c->tunnels == 0;
      },
      10000))
      << "backend connections still open after every tunnel closed";
}

// The origin refuses the upgrade (400, then 426): the answer reaches the client as a normal
// response with its body, and the same client connection then serves an ordinary request.
// Catches: a refused handshake that kills the client connection, or leaves it in tunnel mode
// (the next request would go to the origin's closed socket), a 426 turned into a gateway error.
TEST_F(WebSocketTest, RefusedHandshakeIsRelayedAndConnectionKeptAlive) {
  for (int status : {400, 426}) {
    SCOPED_TRACE(status);
    Client c(port());
    const std::string target = "/ws/refuse/" + std::to_string(status);
    auto r = c.Get(target, UpgradeHeaders());
    ASSERT_TRUE(HasStatus(r, status));
    EXPECT_EQ(r->body, "refused with " + std::to_string(status) + "\n");
    EXPECT_TRUE(ws().WaitFor("refused id=")) << ws().Output();
    EXPECT_TRUE(EchoedTarget(c.Get("/stub/after-refusal"), "/stub/after-refusal"))
        << "the client connection must stay usable after a refused upgrade";
    EXPECT_TRUE(HasStatus(c.Get("/ping"), 200));
  }
  EXPECT_FALSE(RunClient(Url("/ws/refuse/426"), "echo"));
}

// A backend that ignores the upgrade and answers 200 (the stub): relayed as it is, the stub saw
// Upgrade and Connection: upgrade, and a request pipelined behind the upgrade request on the
// same write is answered next; the upgrade went on a new backend connection, not the pooled one.
// Catches: Upgrade not forwarded to an http backend, a connection left waiting for a 101,
// pipelined bytes taken for tunnel bytes when there is no tunnel, an upgrade sent on a pooled
// connection.
TEST_F(WebSocketTest, BackendIgnoringTheUpgradeAnswersNormally) {
  Client c(port());
  auto warm = c.Get("/stub/warm-the-pool");  // its backend connection goes back to the pool
  ASSERT_TRUE(EchoedTarget(warm, "/stub/warm-the-pool"));
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/stub/ignores", UpgradeHeaders()) +
                     BuildRequest("GET", "/stub/pipelined")));
  auto r = c.ReadFinal();
  ASSERT_TRUE(EchoedTarget(r, "/stub/ignores"));
  EXPECT_EQ(EchoHeader(*r, "upgrade"), "websocket") << r->body;
  EXPECT_TRUE(HasToken(EchoHeader(*r, "connection"), "upgrade")) << r->body;
  EXPECT_EQ(EchoHeader(*r, "sec-websocket-key"), kWsKey) << r->body;
  // docs/upgrades.md: an upgrade goes on a new backend connection (the stub numbers its
  // connections in order), never on the pooled one.
  EXPECT_GT(JsonInt(r->body, "/conn").value_or(0), JsonInt(warm->body, "/conn").value_or(0))
      << warm->body << "\n"
      << r->body;
  EXPECT_TRUE(EchoedTarget(c.ReadFinal(), "/stub/pipelined"));
}

// A refused upgrade with an ordinary request pipelined behind it in the same write: 400, then
// the pipelined request's answer. Catches: bytes behind a refused upgrade request dropped or
// sent to the backend as tunnel bytes.
TEST_F(WebSocketTest, RequestPipelinedBehindARefusedUpgradeIsServed) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/ws/refuse/400", UpgradeHeaders()) +
                     BuildRequest("GET", "/stub/behind-refusal")));
  ASSERT_TRUE(HasStatus(c.ReadFinal(), 400));
  EXPECT_TRUE(EchoedTarget(c.ReadFinal(), "/stub/behind-refusal"));
}

// "Content-Length: 0" is no body: the upgrade goes through. "Transfer-Encoding: chunked" is a
// body: answered normally with the body delivered. Catches: a framing header alone taken as a
// body, a chunked body tunnelled.
TEST_F(WebSocketTest, EmptyContentLengthUpgradesChunkedBodyDoesNot) {
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/ws/cl0", {{"Content-Length", "0"}}));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  EXPECT_TRUE(RawCloseHandshake(raw));
  Client c(port());
  HeaderList h = UpgradeHeaders();
  h.emplace_back("Transfer-Encoding", "chunked");
  auto r = c.Request("POST", "/stub/chunked-body", h, "5\r\nhello\r\n0\r\n\r\n");
  ASSERT_TRUE(EchoedTarget(r, "/stub/chunked-body"));
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 5) << r->body;
  EXPECT_EQ(EchoHeader(*r, "upgrade"), "<absent>") << r->body;
  EXPECT_TRUE(EchoedTarget(c.Get("/stub/after-chunked"), "/stub/after-chunked"));
}

// The origin first serves ordinary requests (the gateway may pool that connection), then a
// tunnel, then ordinary requests again: all answered. Catches: an upgrade sent on a pooled
// connection mishandled, a tunnelled backend connection returned to the pool (the next request
// would land in a dead or upgraded connection).
TEST_F(WebSocketTest, OrdinaryRequestsBeforeAndAfterATunnelToTheSameOrigin) {
  Client c(port());
  for (int i = 0; i < 2; ++i) {
    auto r = c.Get("/ws/plain-before");
    ASSERT_TRUE(HasStatus(r, 200));
    EXPECT_EQ(JsonString(r->body, "/path"), "/ws/plain-before") << r->body;
  }
  EXPECT_TRUE(RunClient(Url("/ws/between"), "close-client"));
  for (int i = 0; i < 3; ++i) {
    auto r = c.Get("/ws/plain-after");
    ASSERT_TRUE(HasStatus(r, 200)) << "request " << i << " after the tunnel";
    EXPECT_EQ(JsonString(r->body, "/path"), "/ws/plain-after") << r->body;
    EXPECT_TRUE(HasStatus(HttpGet(port(), "/ws/plain-after"), 200));
  }
}

// A 101 without Upgrade and Connection: upgrade, to a request that asked for an upgrade:
// 502 RW.5251, nothing switched. Catches: a switch on any 101.
TEST_F(WebSocketTest, BareSwitchIs502) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/ws/bare101", UpgradeHeaders())));
  auto r = c.Read();
  ASSERT_TRUE(IsGatewayError(r, 502));
  EXPECT_EQ(JsonString(r->body, "/error_code"), "RW.5251") << r->body;
}

// "Upgrade: h2c, websocket": h2c is dropped from the list, the rest passes and the upgrade
// happens. Catches: the whole Upgrade dropped when it names h2c, or h2c forwarded.
TEST_F(WebSocketTest, H2cIsDroppedFromAnUpgradeList) {
  RawWs raw(port());
  ASSERT_TRUE(raw.Handshake("/ws/h2c-list", {}, {}, "Upgrade", "h2c, websocket"));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  const int id = ws().UpgradeId("/ws/h2c-list");
  ASSERT_GE(id, 0) << ws().Output();
  EXPECT_EQ(JsonString(ws().UpgradeHeaders(id), "/upgrade"), "websocket")
      << ws().UpgradeHeaders(id);
  EXPECT_TRUE(RawCloseHandshake(raw));
}

// `Upgrade: h2c` is not passed on: the stub answers 200 and saw no Upgrade (nor an upgrade
// token in Connection, nor HTTP2-Settings), and the connection serves the next request.
// Catches: h2c forwarded (a backend could switch to HTTP/2 behind a gateway that cannot speak
// it), or refused instead of answered.
TEST_F(WebSocketTest, H2cUpgradeIsDropped) {
  Client c(port());
  auto r = c.Get("/stub/h2c", {{"Connection", "Upgrade, HTTP2-Settings"},
                               {"Upgrade", "h2c"},
                               {"HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"}});
  ASSERT_TRUE(EchoedTarget(r, "/stub/h2c"));
  EXPECT_EQ(EchoHeader(*r, "upgrade"), "<absent>") << r->body;
  EXPECT_EQ(EchoHeader(*r, "http2-settings"), "<absent>") << r->body;
  EXPECT_EQ(ToLower(EchoHeader(*r, "connection")).find("upgrade"), std::string::npos) << r->body;
  EXPECT_FALSE(r->HasHeader("upgrade"));
  EXPECT_TRUE(EchoedTarget(c.Get("/stub/after-h2c"), "/stub/after-h2c"));
}

// An Upgrade on HTTP/1.0 is ignored: answered normally (the origin's plain HTTP handler would
// switch if it saw the upgrade, the stub answers 200 without it). Catches: the version not
// checked before tunnelling.
TEST_F(WebSocketTest, UpgradeOnHttp10IsIgnored) {
  Client c(port());
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(
      c.Send("GET /stub/http10 HTTP/1.0\r\nHost: localhost\r\nConnection: Upgrade\r\n"
             "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
             std::string(kWsKey) + "\r\n\r\n"));
  auto r = c.ReadFinal();
  ASSERT_TRUE(EchoedTarget(r, "/stub/http10"));
  EXPECT_EQ(EchoHeader(*r, "upgrade"), "<absent>") << r->body;
  // Through to the ws origin too: no tunnel, whatever it answers is not a 101.
  Client w(port());
  ASSERT_TRUE(w.Connect());
  ASSERT_TRUE(
      w.Send("GET /ws/http10 HTTP/1.0\r\nHost: localhost\r\nConnection: Upgrade\r\n"
             "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
             std::string(kWsKey) + "\r\n\r\n"));
  auto wr = w.Read();
  ASSERT_TRUE(wr) << ToString(w.last_status());
  EXPECT_NE(wr->status, 101);
  EXPECT_EQ(ws().UpgradeId("/ws/http10", 200), -1) << "the origin saw an upgrade request";
}

// An Upgrade request with a body is answered normally (the stub gets the body, 200), and the
// connection serves the next request. Catches: a body taken for tunnel bytes, a request with a
// body tunnelled.
TEST_F(WebSocketTest, UpgradeWithBodyIsAnsweredNormally) {
  Client c(port());
  HeaderList h = UpgradeHeaders();
  auto r = c.Request("POST", "/stub/with-body", h, "hello");
  ASSERT_TRUE(EchoedTarget(r, "/stub/with-body"));
  EXPECT_EQ(EchoField(*r, "method"), "POST");
  EXPECT_EQ(JsonInt(r->body, "/body_length"), 5) << r->body;
  EXPECT_EQ(EchoHeader(*r, "upgrade"), "<absent>") << r->body;  // docs/upgrades.md: dropped
  EXPECT_TRUE(EchoedTarget(c.Get("/stub/after-body"), "/stub/after-body"));
}

// A backend that answers 101 to a request that asked for no upgrade: 502 RW.5251, not relayed.
// Catches: a 101 relayed (or tunnelled) without the client having asked.
TEST_F(WebSocketTest, UnsolicitedSwitchIs502) {
  auto r = HttpGet(port(), "/ws/raw101");
  ASSERT_TRUE(IsGatewayError(r, 502));
  EXPECT_EQ(JsonString(r->body, "/error_code"), "RW.5251") << r->body;
  EXPECT_TRUE(ws().WaitFor("request method=GET path=/ws/raw101")) << ws().Output();
}

// A bound breaker counts the handshake's status: two 426s on "guarded" open it (condition
// statusCode in 426), and the third upgrade request is answered by the downgrade mock without
// reaching the origin. Catches: handshakes not recorded in the breaker, or recorded as 101/OK.
TEST_F(WebSocketTest, BreakerRecordsHandshakeStatus) {
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(HasStatus(HttpGet(port(), "/guarded/refuse/426", UpgradeHeaders()), 426));
  }
  // The origin's log lines may trail its answers: wait for both.
  ASSERT_TRUE(PollUntil([&] { return ws().Count("path=/guarded/") == 2; }, kEventMs))
      << ws().Output();
  auto r = HttpGet(port(), "/guarded/refuse/426", UpgradeHeaders());
  ASSERT_TRUE(HasStatus(r, 200)) << "breaker not open after two 426 handshakes";
  EXPECT_EQ(r->body, "mocked");
  // A later upgrade on another API reaches the origin: once it is logged, a third /guarded
  // request would have been logged too.
  Client sentinel(port());
  ASSERT_TRUE(sentinel.Connect());
  ASSERT_TRUE(sentinel.Send(BuildRequest("GET", "/ws/after-breaker", UpgradeHeaders())));
  ASSERT_TRUE(HasStatus(sentinel.Read(), 101));  // Read, not ReadFinal: a 101 is final here
  ASSERT_GE(ws().UpgradeId("/ws/after-breaker"), 0) << ws().Output();
  EXPECT_EQ(ws().Count("path=/guarded/"), 2u) << ws().Output();
}

// The client resets its TCP connection without a close frame: the origin's connection is closed
// (it logs close 1006 and conn-closed), and the gauge of open tunnels returns to 0. Catches: a
// tunnel whose backend half outlives the client (leaked backend connection).
TEST_F(WebSocketTest, VanishingClientFreesTheBackend) {
  EXPECT_TRUE(RunClient(Url("/ws/vanish"), "vanish"));
  const int id = ws().UpgradeId("/ws/vanish");
  ASSERT_GE(id, 0) << ws().Output();
  const std::string sid = std::to_string(id);
  EXPECT_TRUE(ws().WaitFor("close id=" + sid + " code=1006")) << ws().Output();
  EXPECT_TRUE(ws().WaitFor("conn-closed id=" + sid)) << ws().Output();
  EXPECT_TRUE(
      PollUntil([&] { return MetricIs(gateway(), "ringway_upgraded_connections", 0); }, kEventMs));
}

// A client that stops reading while the origin streams 128 MiB (each 64 KiB message sent once
// the previous one was taken by the kernel): the origin stalls long before the end (the gateway
// stops reading it) and the gateway's memory stays bounded; once the client reads, all 128 MiB
// and the origin's close arrive. Catches: a tunnel that reads without back-pressure (unbounded
// buffering in the gateway), or one that loses bytes once the client resumes.
TEST_F(WebSocketTest, BackPressureWhenTheClientStopsReading) {
  const long rss_before = gateway().RssKib();
  RawWs raw(port(), 10000);
  raw.SetRecvBuffer(16 * 1024);
  ASSERT_TRUE(raw.Handshake("/ws/firehose"));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  const int id = ws().UpgradeId("/ws/firehose");
  ASSERT_GE(id, 0);
  const std::string sid = std::to_string(id);
  ASSERT_TRUE(ws().WaitFor("firehose id=" + sid + " mib=1\n")) << ws().Output();
  // Kernel buffers on the way hold some MiB; 96 MiB would mean the gateway kept reading.
  EXPECT_FALSE(ws().WaitFor("firehose id=" + sid + " mib=96\n", 3000))
      << "the origin sent 96 MiB to a client that read nothing";
  const long rss_stalled = gateway().RssKib();
  EXPECT_LT(rss_stalled - rss_before, 64 * 1024)
      << "RSS grew from " << rss_before << " to " << rss_stalled << " KiB";
  // (On this machine the origin stalls at 6-8 MiB: the kernel's socket buffers.)
  uint64_t payload_bytes = 0;
  for (;;) {
    uint8_t op = 0;
    std::string payload;
    ASSERT_TRUE(raw.ReadFrame(&op, &payload)) << "after " << payload_bytes << " bytes";
    if (op == 0x8) {
      EXPECT_EQ(payload.substr(0, 2), std::string("\x0f\xa2", 2));  // 4002
      break;
    }
    ASSERT_EQ(op, 0x2);
    ASSERT_EQ(payload, std::string(64 * 1024, 'Z'));
    payload_bytes += payload.size();
  }
  EXPECT_EQ(payload_bytes, 128u << 20);
  ASSERT_TRUE(raw.SendFrame(0x8, std::string("\x0f\xa2", 2)));
  EXPECT_TRUE(raw.WaitEof(5000));
}

// ---- gateways of their own ----

// The vanish case on a gateway with no other backend traffic: /v1/shards and
// ringway_connections{side="backend"} drop back to 0. Catches: the backend connection kept
// (pooled or leaked) after the tunnel ended.
TEST(WebSocketOwnGatewayTest, BackendConnectionsDropToZeroAfterVanish) {
  WsStack s;
  ASSERT_TRUE(s.Start({}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(RunClient(s.Url("/ws/gone-" + std::to_string(i)), "vanish"));
  }
  EXPECT_TRUE(RunClient(s.Url("/ws/done"), "close-client"));
  EXPECT_TRUE(PollUntil(
      [&] {
        auto c = ShardConnections(s.gateway());
        return c && c->backend == 0 && c->tunnels == 0;
      },
      kEventMs))
      << "backend_connections in /v1/shards stay above 0";
  EXPECT_TRUE(PollUntil(
      [&] {
        return MetricIs(s.gateway(), "ringway_connections", 0, {{"side", "backend"}});
      },
      kEventMs));
  EXPECT_TRUE(s.ws().WaitFor("conn-closed id=4")) << s.ws().Output();
}

// upgrade_idle_timeout_ms 300: a silent tunnel is closed on both sides (the client sees the TCP
// close, code 1006, after about 300 ms; the origin logs its connection closed), while a tunnel
// with a message every 100 ms lives on past several timeouts. Catches: no idle timeout on
// tunnels (the client idle test times out), the client idle timeout applied instead, a timer
// that is not reset by traffic, a timeout that closes only one side.
TEST(WebSocketIdleTest, IdleTunnelClosedOnBothSides) {
  WsStack s;
  ASSERT_TRUE(
      s.Start({.limits = R"("upgrade_idle_timeout_ms": )" + std::to_string(kIdleTimeoutMs)}));
  Process busy;
  ASSERT_TRUE(SpawnClient(&busy, s.Url("/ws/busy"), "pulse", {"--interval", "100"}, 20000));
  std::string out;
  auto start = Clock::now();
  EXPECT_TRUE(RunClient(s.Url("/ws/idle"), "idle", {}, 10000, &out));
  const int64_t ms = FieldOf(out, "ok idle", "ms=");
  EXPECT_EQ(FieldOf(out, "ok idle", "code="), 1006) << out;
  EXPECT_GE(ms, kIdleTimeoutMs - 50) << out;
  EXPECT_LT(ms, kIdleTimeoutMs + 3000) << out;
  EXPECT_LT(MsSince(start), 8000);
  const int id = s.ws().UpgradeId("/ws/idle");
  ASSERT_GE(id, 0) << s.ws().Output();
  EXPECT_TRUE(s.ws().WaitFor("conn-closed id=" + std::to_string(id))) << s.ws().Output();
  // Still open after 12 pulses (1.2 s, four idle timeouts): traffic resets the timer.
  EXPECT_TRUE(busy.WaitFor(Process::kStdout, "echo n=12 ", 10000)) << busy.Output(Process::kStdout);
  EXPECT_FALSE(busy.Contains(Process::kStdout, "ok pulse")) << busy.Output(Process::kStdout);
  EXPECT_TRUE(busy.running()) << busy.Output(Process::kStdout);
}

// With upgrade_idle_timeout_ms 300, traffic in one direction only keeps a tunnel open: the
// origin sending a tick every 100 ms to a silent client, and a client sending every 100 ms to
// an origin that never answers, both outlive four timeouts. Catches: an idle timer reset only by
// client bytes, or only by backend bytes.
TEST(WebSocketIdleTest, OneWayTrafficKeepsTheTunnel) {
  WsStack s;
  ASSERT_TRUE(
      s.Start({.limits = R"("upgrade_idle_timeout_ms": )" + std::to_string(kIdleTimeoutMs)}));
  Process listener;
  Process talker;
  ASSERT_TRUE(SpawnClient(&listener, s.Url("/ws/tick"), "idle", {}, 20000));
  ASSERT_TRUE(SpawnClient(&talker, s.Url("/ws/mute"), "send-only", {"--interval", "100"}, 20000));
  const int tick_id = s.ws().UpgradeId("/ws/tick");
  ASSERT_GE(tick_id, 0) << s.ws().Output();
  EXPECT_TRUE(s.ws().WaitFor("tick id=" + std::to_string(tick_id) + " n=12\n", 10000))
      << s.ws().Output();
  EXPECT_TRUE(talker.WaitFor(Process::kStdout, "sent n=12\n", 10000))
      << talker.Output(Process::kStdout);
  const int mute_id = s.ws().UpgradeId("/ws/mute");
  EXPECT_FALSE(s.ws().Contains("conn-closed id=" + std::to_string(tick_id) + "\n"))
      << "origin-to-client traffic alone did not keep the tunnel";
  EXPECT_FALSE(s.ws().Contains("conn-closed id=" + std::to_string(mute_id) + "\n"))
      << "client-to-origin traffic alone did not keep the tunnel";
  EXPECT_TRUE(listener.running()) << listener.Output(Process::kStdout);
  EXPECT_TRUE(talker.running()) << talker.Output(Process::kStdout);
}

// client_idle_timeout_ms and the backend's timeout_ms (300 ms each) do not apply to a tunnel;
// upgrade_idle_timeout_ms (2 s) does. Catches: a tunnel closed by the HTTP timeouts.
TEST(WebSocketIdleTest, HttpTimeoutsDoNotApplyToTunnels) {
  WsStack s;
  ASSERT_TRUE(
      s.Start({.limits = R"("client_idle_timeout_ms": 300, "upgrade_idle_timeout_ms": 2000)",
               .ws_backend_extra = R"("timeout_ms": 300)"}));
  std::string out;
  EXPECT_TRUE(RunClient(s.Url("/ws/long-idle"), "idle", {}, 10000, &out));
  const int64_t ms = FieldOf(out, "ok idle", "ms=");
  EXPECT_GE(ms, 1950) << out;
  EXPECT_LT(ms, 5000) << out;
}

// A reload (SIGHUP) that moves the API leaves an open tunnel as it is: it keeps echoing; new
// upgrades follow the new config. Catches: tunnels cut by a reload, or the old config freed
// under a live tunnel.
TEST(WebSocketReloadTest, ReloadLeavesOpenTunnels) {
  WsStack s;
  ASSERT_TRUE(s.Start({}));
  Process pulse;
  ASSERT_TRUE(SpawnClient(&pulse, s.Url("/ws/reloaded"), "pulse", {"--interval", "50"}, 20000));
  ASSERT_TRUE(pulse.WaitFor(Process::kStdout, "echo n=2 ", 10000))
      << pulse.Output(Process::kStdout);
  std::ifstream f(s.gateway().config_path());
  std::stringstream ss;
  ss << f.rdbuf();
  std::string cfg = ss.str();
  const std::string from = R"("req_uri":"/ws","match_mode")";
  ASSERT_NE(cfg.find(from), std::string::npos) << cfg;
  cfg.replace(cfg.find(from), from.size(), R"("req_uri":"/moved","match_mode")");
  s.gateway().WriteConfig(cfg);
  s.gateway().Signal(SIGHUP);
  ASSERT_TRUE(s.gateway().WaitLog("reload ok", 5000)) << s.gateway().LogTail();
  const size_t before = pulse.Count(Process::kStdout, "echo n=");
  EXPECT_TRUE(
      PollUntil([&] { return pulse.Count(Process::kStdout, "echo n=") >= before + 10; }, 5000))
      << pulse.Output(Process::kStdout);
  EXPECT_TRUE(pulse.running()) << pulse.Output(Process::kStdout);
  EXPECT_TRUE(IsGatewayError(HttpGet(s.port(), "/ws/after-reload", UpgradeHeaders()), 404));
  EXPECT_TRUE(RunClient(s.Url("/moved/x"), "close-client"));
  EXPECT_GE(s.ws().UpgradeId("/ws/x"), 0) << s.ws().Output();
}

// A channel with balance_strategy wlc over two origins: with one tunnel held, ordinary requests
// go to the other member; four tunnels opened one after the other and held are spread 2 + 2.
// Catches: a member's WLC count that drops
// at the upgrade (all tunnels would pile on the first member).
TEST(WebSocketChannelTest, WlcCountsTunnels) {
  WsServer a;
  WsServer b;
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(b.Start());
  Gateway gw;
  ConfigSpec spec;
  spec.apis = {ChannelApi("pair", "/ws", "pair", R"("retry_count":0)")};
  spec.extra = ChannelsMember({{.name = "pair",
                                .strategy = "wlc",
                                .members = {{.host = "127.0.0.1", .port = a.port()},
                                            {.host = "127.0.0.1", .port = b.port()}}}});
  ASSERT_TRUE(gw.Start(BuildConfig(spec), {.shards = 1}));
  const std::string url = "ws://127.0.0.1:" + std::to_string(gw.port()) + "/ws/wlc";
  std::vector<std::unique_ptr<Process>> held;
  // One tunnel held: four ordinary requests one after the other all go to the other member
  // (ties would alternate between the two).
  held.push_back(std::make_unique<Process>());
  ASSERT_TRUE(SpawnClient(held.back().get(), url, "many", {"1", "--hold"}));
  ASSERT_TRUE(held.back()->WaitFor(Process::kStdout, "holding n=1", 10000))
      << held.back()->Output(Process::kStdout);
  WsServer& busy = a.Count("open id=") == 1 ? a : b;
  WsServer& free = a.Count("open id=") == 1 ? b : a;
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(HasStatus(HttpGet(gw.port(), "/ws/plain-wlc"), 200));
  }
  EXPECT_TRUE(PollUntil([&] { return free.Count("path=/ws/plain-wlc ") == 4; }, kEventMs))
      << "with the tunnel's member:\n"
      << busy.Output() << "the other:\n"
      << free.Output();
  EXPECT_EQ(busy.Count("path=/ws/plain-wlc "), 0u);
  // Three more tunnels, one after the other: 2 + 2 in all.
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Process>());
    ASSERT_TRUE(SpawnClient(held.back().get(), url, "many", {"1", "--hold"}));
    ASSERT_TRUE(held.back()->WaitFor(Process::kStdout, "holding n=1", 10000))
        << held.back()->Output(Process::kStdout);
  }
  EXPECT_EQ(a.Count("open id="), 2u) << "a:\n" << a.Output() << "b:\n" << b.Output();
  EXPECT_EQ(b.Count("open id="), 2u) << "a:\n" << a.Output() << "b:\n" << b.Output();
}

// max_connections 2 counts tunnels: with two tunnels open a third connection is closed
// unanswered (or with 503); after they close a request is served again. Catches: a tunnel that
// gives its connection slot back at the upgrade.
TEST(WebSocketLimitsTest, MaxConnectionsCountsTunnels) {
  WsStack s;
  ASSERT_TRUE(s.Start({.limits = R"("max_connections": 2)"}));
  Process held;
  ASSERT_TRUE(SpawnClient(&held, s.Url("/ws/held"), "many", {"2", "--hold"}));
  ASSERT_TRUE(held.WaitFor(Process::kStdout, "holding n=2", 10000))
      << held.Output(Process::kStdout);
  Client over(s.port(), 2000);
  if (over.Connect()) {
    over.Send(BuildRequest("GET", "/ping"));
    std::string got;
    EXPECT_TRUE(over.WaitClosed(2000, &got));
    EXPECT_TRUE(got.empty() || got.rfind("HTTP/1.1 503", 0) == 0) << got;
  }
  held.CloseStdin();
  ASSERT_EQ(held.WaitExit(10000), 0) << held.Output(Process::kStdout);
  EXPECT_TRUE(PollUntil(
      [&] {
        Client c(s.port(), 500);
        return static_cast<bool>(HasStatus(c.Get("/ping"), 200));
      },
      5000));
}

// SIGTERM with a tunnel open: the tunnel keeps echoing during the drain, is closed at
// --drain-timeout-ms (1.5 s), and the process exits. Catches: tunnels cut at once by the drain,
// or a drain that waits for tunnels forever.
TEST(WebSocketDrainTest, TunnelSurvivesUntilDrainTimeout) {
  WsStack s;
  WsStackOptions o;
  o.gateway.extra_args = {"--drain-timeout-ms", std::to_string(kDrainTimeoutMs)};
  ASSERT_TRUE(s.Start(o));
  Process pulse;
  ASSERT_TRUE(SpawnClient(&pulse, s.Url("/ws/drain"), "pulse", {"--interval", "50"}, 20000));
  ASSERT_TRUE(pulse.WaitFor(Process::kStdout, "echo n=2 ", 10000))
      << pulse.Output(Process::kStdout);
  auto sigterm_at = Clock::now();
  s.gateway().Signal(SIGTERM);
  ASSERT_TRUE(s.gateway().WaitLog("draining", 3000)) << s.gateway().LogTail();
  const size_t before = pulse.Count(Process::kStdout, "echo n=");
  // Echoes go on during the drain (at 50 ms, about 30 fit in 1.5 s).
  EXPECT_TRUE(PollUntil([&] { return pulse.Count(Process::kStdout, "echo n=") >= before + 10; },
                        kDrainTimeoutMs))
      << pulse.Output(Process::kStdout);
  EXPECT_EQ(pulse.WaitExit(kDrainTimeoutMs + 5000), 0) << pulse.Output(Process::kStdout);
  const int64_t closed_after = MsSince(sigterm_at);
  EXPECT_NE(pulse.Output(Process::kStdout).find("ok pulse"), std::string::npos)
      << pulse.Output(Process::kStdout);
  EXPECT_GE(closed_after, kDrainTimeoutMs - 200);
  EXPECT_LT(closed_after, kDrainTimeoutMs + 3000);
  EXPECT_TRUE(s.gateway().WaitExit(5000).has_value()) << s.gateway().LogTail();
  const int id = s.ws().UpgradeId("/ws/drain");
  EXPECT_TRUE(s.ws().WaitFor("conn-closed id=" + std::to_string(id))) << s.ws().Output();
}

// A drain whose last tunnel closes early ends then, not at the drain timeout (10 s here).
// Catches: a drain that waits the whole timeout once a tunnel was open, or never notices the
// tunnel's end.
TEST(WebSocketDrainTest, DrainEndsWhenTheLastTunnelCloses) {
  WsStack s;
  WsStackOptions o;
  o.gateway.extra_args = {"--drain-timeout-ms", "10000"};
  ASSERT_TRUE(s.Start(o));
  Process held;
  ASSERT_TRUE(SpawnClient(&held, s.Url("/ws/held"), "many", {"1", "--hold"}));
  ASSERT_TRUE(held.WaitFor(Process::kStdout, "holding n=1", 10000))
      << held.Output(Process::kStdout);
  s.gateway().Signal(SIGTERM);
  ASSERT_TRUE(s.gateway().WaitLog("draining", 3000)) << s.gateway().LogTail();
  EXPECT_TRUE(s.gateway().running()) << "exited with a tunnel open";
  auto closed_at = Clock::now();
  held.CloseStdin();  // the client closes its tunnel (1000, echoed by the origin)
  EXPECT_EQ(held.WaitExit(5000), 0) << held.Output(Process::kStdout);
  EXPECT_EQ(s.gateway().WaitExit(5000), 0) << s.gateway().LogTail();
  EXPECT_LT(MsSince(closed_at), 4000);
}

// wss: the client speaks TLS to a TLS listener, the gateway plain ws to the origin; every
// message size, ping, the origin's close, a message in the 101's write, 1 MiB before a close
// either way pass. Catches: tunnel bytes written to the raw socket instead of through
// TLS (or the reverse), TLS records buffered past the upgrade lost.
TEST(WebSocketTlsTest, WssThroughTlsListener) {
  const TestPki* pki = nullptr;
  ASSERT_TRUE(SharedPki(&pki));
  WsStack s;
  ASSERT_TRUE(
      s.Start({.listener_tls = {{"tls", "{\"certificate\":" + JsonQuote(pki->a.cert) +
                                            ",\"private_key\":" + JsonQuote(pki->a.key) + "}"}}}));
  ASSERT_GT(s.gateway().port("tls"), 0) << s.gateway().LogTail();
  EXPECT_TRUE(RunClient(s.Url("/ws/wss", "tls", "wss"), "echo", {"--ca", pki->ca}));
  EXPECT_TRUE(RunClient(s.Url("/ws/wss-ping", "tls", "wss"), "ping", {"--ca", pki->ca}));
  EXPECT_TRUE(
      RunClient(s.Url("/ws/close-after-first", "tls", "wss"), "close-server", {"--ca", pki->ca}));
  EXPECT_TRUE(RunClient(s.Url("/ws/greet", "tls", "wss"), "greet", {"--ca", pki->ca}));
  EXPECT_TRUE(RunClient(s.Url("/ws/flood-close", "tls", "wss"), "receive", {"--ca", pki->ca}));
  EXPECT_TRUE(RunClient(s.Url("/ws/send-end", "tls", "wss"), "send-end", {"--ca", pki->ca}));
  EXPECT_TRUE(s.ws().WaitFor("type=binary bytes=1048576 sha1=")) << s.ws().Output();
}

// A TLS origin (node https + ws with the test certificate, req_protocol https, client_ssl.ca):
// the tunnel runs over the gateway's TLS client connection (echo, the origin's close, a message
// in the 101's TLS record, 1 MiB before the origin's FIN, a vanishing client). Catches: the tunnel
// relaying the backend's ciphertext or bypassing the backend TLS session.
TEST(WebSocketTlsTest, TlsBackend) {
  const TestPki* pki = nullptr;
  ASSERT_TRUE(SharedPki(&pki));
  WsStack s;
  ASSERT_TRUE(s.Start({.ws_backend_extra = R"("client_ssl":{"ca":)" + JsonQuote(pki->ca) + "}",
                       .ws_https = true,
                       .server_args = {"--tls", pki->a.cert, pki->a.key}}));
  EXPECT_TRUE(RunClient(s.Url("/ws/tls-backend"), "echo"));
  EXPECT_TRUE(RunClient(s.Url("/ws/close-after-first"), "close-server"));
  EXPECT_TRUE(RunClient(s.Url("/ws/greet"), "greet"));
  EXPECT_TRUE(RunClient(s.Url("/ws/flood-end"), "receive"));
  EXPECT_TRUE(RunClient(s.Url("/ws/vanish"), "vanish"));
  const int id = s.ws().UpgradeId("/ws/vanish");
  EXPECT_TRUE(s.ws().WaitFor("conn-closed id=" + std::to_string(id))) << s.ws().Output();
}

// Every tunnel needs a new backend connection (none is pooled), so a TLS origin sees one TLS
// handshake per tunnel, most of them resuming a session: six tunnels in a row must all open.
// Catches: backend TLS session resumption that fails on some handshakes.
//
// Found a bug outside the tunnel code: with Node's TLS server (OpenSSL 3) as the origin the
// handshakes went full, resumed, FAILED (a TLS 1.3 PSK binder that does not verify: the
// origin's illegal_parameter alert, 502 RW.5260), ...: the session saved from a resumed
// connection. Fixed in upstream_tls_keep_session (a resumed connection keeps its session).
TEST(WebSocketTlsTest, EveryTunnelToATlsOriginOpens) {
  const TestPki* pki = nullptr;
  ASSERT_TRUE(SharedPki(&pki));
  WsStack s;
  ASSERT_TRUE(s.Start({.ws_backend_extra = R"("client_ssl":{"ca":)" + JsonQuote(pki->ca) + "}",
                       .ws_https = true,
                       .server_args = {"--tls", pki->a.cert, pki->a.key}}));
  std::string failed;
  for (int i = 1; i <= 6; ++i) {
    if (!RunClient(s.Url("/ws/resume-" + std::to_string(i)), "close-client")) {
      failed += " " + std::to_string(i);
    }
  }
  EXPECT_EQ(failed, "") << "tunnels that did not open (of 1-6):" << failed << "\n"
                        << s.gateway().LogTail(1500);
}

// Never retried: a backend that resets every connection after reading the request gets an
// ordinary GET twice (the default retry) but an upgrade request once. Catches: an upgrade
// request replayed on another connection after it was sent.
TEST(WebSocketRetryTest, UpgradeIsNeverRetried) {
  WsStack s;
  ASSERT_TRUE(s.Start({.stub_args = {"--reset-all"}}));
  // "stub" has the default retry_count (-1: once for GET).
  auto plain = HttpGet(s.port(), "/stub/plain");
  ASSERT_TRUE(IsGatewayError(plain, 502));
  ASSERT_TRUE(PollUntil([&] { return s.stub().RequestCount("GET /stub/plain") == 2; }, kEventMs))
      << "the control request was not retried: the test would prove nothing";
  auto up = HttpGet(s.port(), "/stub/upgrade", UpgradeHeaders());
  ASSERT_TRUE(up);
  EXPECT_GE(up->status, 500) << up->status;
  ASSERT_TRUE(s.stub().WaitRequest("GET /stub/upgrade", kEventMs));
  // A retry would come before the 502; the stub's log may trail its connections, so a later
  // request's lines mark where the upgrade's would have been.
  ASSERT_TRUE(IsGatewayError(HttpGet(s.port(), "/stub/sentinel"), 502));
  ASSERT_TRUE(
      PollUntil([&] { return s.stub().RequestCount("GET /stub/sentinel") == 2; }, kEventMs));
  EXPECT_EQ(s.stub().RequestCount("GET /stub/upgrade"), 1u);
}

// One tunnel with known bytes (raw client: 100-byte text frame each way, then the closing
// handshake), on a fresh gateway: the metrics and the access log line are exact. Catches:
// tunnel bytes not counted or counted in the wrong direction, handshake bytes counted as tunnel
// bytes, the gauge not decremented, the duration not observed, the access line written at the
// 101 (total_ms then misses the session, bytes miss the tunnel) or missing "upgrade".
TEST(WebSocketObservabilityTest, MetricsAndAccessLogOfATunnel) {
  TempDir dir;
  const std::string log = dir.path() + "/access.log";
  WsStack s;
  ASSERT_TRUE(s.Start({.access_log = log}));
  const Gateway& gw = s.gateway();
  ASSERT_TRUE(HasStatus(HttpGet(s.port(), "/stub/plain", {{"X-Request-Id", "ws-plain-1"}}), 200));

  RawWs raw(s.port());
  auto start = Clock::now();
  ASSERT_TRUE(raw.Handshake("/ws/observed", {{"X-Request-Id", "ws-tunnel-1"}}));
  ASSERT_EQ(raw.status(), 101) << raw.Describe();
  EXPECT_EQ(raw.Header("x-request-id"), "ws-tunnel-1") << raw.Describe();
  const std::string text(100, 't');
  ASSERT_TRUE(raw.SendFrame(0x1, text));  // 2 + 4 + 100 = 106 bytes in
  uint8_t op = 0;
  std::string payload;
  ASSERT_TRUE(raw.ReadFrame(&op, &payload));  // 2 + 100 = 102 bytes out
  EXPECT_EQ(op, 0x1);
  EXPECT_EQ(payload, text);
  // While the tunnel is open.
  EXPECT_TRUE(PollUntil([&] { return MetricIs(gw, "ringway_upgraded_connections", 1); }, kEventMs));
  // Keep the session busy for 300 ms (pings, each answered by the origin's pong), so total_ms
  // and the duration can be told from the handshake's time.
  uint64_t rounds = 0;
  const auto tunnel_at = Clock::now();  // after the 101: the tunnel's lifetime is at least this
  while (MsSince(tunnel_at) < 300) {
    ASSERT_TRUE(raw.SendFrame(0x9, "ping"));    // 2 + 4 + 4 = 10 bytes in
    ASSERT_TRUE(raw.ReadFrame(&op, &payload));  // 2 + 4 = 6 bytes out
    ASSERT_EQ(op, 0xA);
    ASSERT_EQ(payload, "ping");
    ++rounds;
  }
  ASSERT_TRUE(RawCloseHandshake(raw));  // 8 bytes in, 4 out
  const int64_t session_ms = MsSince(start);
  const uint64_t in = raw.frame_bytes_sent();
  const uint64_t out = raw.frame_bytes_received();
  ASSERT_EQ(in, 114u + 10 * rounds);
  ASSERT_EQ(out, 106u + 6 * rounds);

  EXPECT_TRUE(PollUntil([&] { return MetricIs(gw, "ringway_upgraded_connections", 0); }, kEventMs));
  PromText m;
  ASSERT_TRUE(PollUntil(
      [&] { return ScrapeMetrics(gw, &m) && m.Sum("ringway_upgrade_duration_seconds_count") == 1; },
      kEventMs))
      << "ringway_upgrade_duration_seconds_count never reached 1";
  EXPECT_EQ(m.Sum("ringway_upgrades_total"), 1);
  EXPECT_EQ(m.Sum("ringway_upgrade_bytes_total", {{"direction", "in"}}), in);
  EXPECT_EQ(m.Sum("ringway_upgrade_bytes_total", {{"direction", "out"}}), out);
  const double sum = m.Sum("ringway_upgrade_duration_seconds_sum");
  EXPECT_GE(sum, 0.295);  // 300 ms of pings at least, clocks of ms granularity
  EXPECT_LE(sum, session_ms / 1000.0 + 0.5);
  EXPECT_EQ(m.Sum("ringway_requests_total", {{"api", "ws"}, {"code", "101"}}), 1);
  EXPECT_EQ(m.types["ringway_upgrades_total"], "counter");
  EXPECT_EQ(m.types["ringway_upgraded_connections"], "gauge");
  EXPECT_EQ(m.types["ringway_upgrade_bytes_total"], "counter");

  std::optional<std::string> line;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::ifstream f(log);
        std::string l;
        while (std::getline(f, l)) {
          if (JsonString(l, "/request_id") == "ws-tunnel-1") {
            line = l;
            return true;
          }
        }
        return false;
      },
      kEventMs))
      << "no access log line for the tunnel";
  const std::string& l = *line;
  EXPECT_EQ(JsonInt(l, "/status"), 101) << l;
  EXPECT_EQ(JsonString(l, "/upgrade"), "websocket") << l;
  EXPECT_EQ(JsonString(l, "/api"), "ws") << l;
  EXPECT_EQ(JsonString(l, "/path"), "/ws/observed") << l;
  EXPECT_EQ(JsonInt(l, "/attempts"), 1) << l;
  EXPECT_EQ(JsonInt(l, "/bytes_in"), static_cast<int64_t>(raw.request_bytes() + in)) << l;
  EXPECT_EQ(JsonInt(l, "/bytes_out"), static_cast<int64_t>(raw.response_head_bytes() + out)) << l;
  std::smatch t;
  ASSERT_TRUE(std::regex_search(l, t, std::regex("\"total_ms\":([0-9.]+)"))) << l;
  EXPECT_GE(std::stod(t[1]), 300.0) << l;
  EXPECT_LE(std::stod(t[1]), session_ms + 500.0) << l;
  // An ordinary request's line has "upgrade":null.
  std::ifstream f(log);
  bool plain_seen = false;
  for (std::string p; std::getline(f, p);) {
    if (JsonString(p, "/request_id") == "ws-plain-1") {
      plain_seen = true;
      EXPECT_NE(p.find("\"upgrade\":null"), std::string::npos) << p;
    }
  }
  EXPECT_TRUE(plain_seen);

  // Any protocol: the origin's any101 path switches to the request's Upgrade and echoes raw
  // bytes; the access log names the first token, lower case, cut at 15 bytes.
  RawWs other(s.port());
  ASSERT_TRUE(other.Handshake("/ws/any101", {{"X-Request-Id", "ws-any-proto"}}, {}, "Upgrade",
                              "FooBar-Protocol-Name-Long/1.0"));
  ASSERT_EQ(other.status(), 101) << other.Describe();
  EXPECT_EQ(other.Header("upgrade"), "FooBar-Protocol-Name-Long/1.0") << other.Describe();
  ASSERT_TRUE(other.SendRaw("not a websocket frame\r\n\r\n"));
  std::string echoed;
  ASSERT_TRUE(other.ReadRaw(25, &echoed));
  EXPECT_EQ(echoed, "not a websocket frame\r\n\r\n");
  other.ShutdownWrite();  // the origin ends in turn; the tunnel closes
  EXPECT_TRUE(other.WaitEof(5000));
  std::optional<std::string> any_line;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::ifstream lf(log);
        for (std::string x; std::getline(lf, x);) {
          if (JsonString(x, "/request_id") == "ws-any-proto") {
            any_line = x;
            return true;
          }
        }
        return false;
      },
      kEventMs));
  EXPECT_EQ(JsonString(*any_line, "/upgrade"), "foobar-protocol") << *any_line;
  EXPECT_EQ(JsonInt(*any_line, "/status"), 101) << *any_line;
  EXPECT_TRUE(PollUntil([&] { return MetricIs(gw, "ringway_upgrades_total", 2); }, kEventMs));
}

}  // namespace
}  // namespace ringway::integration
