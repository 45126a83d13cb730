// Issue 14, the cascade channel (CONFIG.md `instance.cascade`, `backend.cascade`;
// seeds/api-cascading.txt): two real ringway processes, A ("gw-a", the cascading instance) and
// B ("gw-b", the cascaded one), and stub backends. An API of A whose http backend has
// `"cascade": true` signs every attempt with five headers:
//   X-Ringway-Cascade-Instance  A's instance id
//   X-Ringway-Cascade-Time      unix seconds
//   X-Ringway-Cascade-Nonce     32 hex digits
//   X-Ringway-Cascade-Hop       1, or the verified incoming hop + 1
//   X-Ringway-Cascade-Signature hex HMAC-SHA256(first auth_key, "RINGWAY-CASCADE-V1\n" instance
//                               "\n" time "\n" nonce "\n" hop "\n" method "\n" target "\n" host)
// B accepts it only if its cascade is on (else 403 RW.4031), the instance is allowed (403
// RW.4032), the fields are well formed (401 RW.4016), the time is within ±300 s (401 RW.4017),
// the signature matches one of its keys (401 RW.4018), the nonce is new (401 RW.4019) and the
// hop is at most 3 (508 RW.5081); then the API counts as authenticated whatever its auth_type
// and every X-Ringway-Cascade-* header is removed before B's backend. A client's cascade header
// at an instance whose cascade is off: 403 RW.4031. Keys and signatures never reach a log.
//
// The tests sign requests themselves with `openssl dgst -hmac` (OPENSSL_BIN, set by
// tests/integration/meson.build): an oracle for the signature's definition that shares no code
// with the gateway.
//
// Written before the feature: until it lands the loader refuses these configs ("not supported
// yet"), so every test fails at Gateway::Start or at `ringway check`.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "channels.h"
#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

// Keys are at least 16 bytes (CONFIG.md).
constexpr std::string_view kKey1 = "cascade-key-1-0123456789abcdef";
constexpr std::string_view kKey2 = "cascade-key-2-fedcba9876543210";
constexpr std::string_view kWrongKey = "cascade-key-x-not-the-shared-one";
constexpr const char* kKeyEnv = "RINGWAY_IT_CASCADE_KEY";
constexpr int kRequestTimeoutMs = 10000;
constexpr int kToolTimeoutMs = 10000;
constexpr int kReloadTimeoutMs = 5000;

constexpr std::string_view kInstanceHeader = "X-Ringway-Cascade-Instance";
constexpr std::string_view kTimeHeader = "X-Ringway-Cascade-Time";
constexpr std::string_view kNonceHeader = "X-Ringway-Cascade-Nonce";
constexpr std::string_view kHopHeader = "X-Ringway-Cascade-Hop";
constexpr std::string_view kSignatureHeader = "X-Ringway-Cascade-Signature";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

bool IsHex(std::string_view s, size_t n) {
  if (s.size() != n) {
    return false;
  }
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) {
      return false;
    }
  }
  return true;
}

std::string RandomNonce() {
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    out += kHex[rng() % 16];
  }
  return out;
}

// ---- configuration ----

// The "instance" object: `id` with cascade enabled, `key_json` its auth_key (a JSON string or a
// list of two), `allowed` its allowed_instances.
std::string CascadeOn(std::string_view id, std::string_view key_json,
                      const std::vector<std::string>& allowed = {}) {
  std::string list;
  for (const auto& a : allowed) {
    list += (list.empty() ? "" : ",") + JsonQuote(a);
  }
  return "{\"id\":" + JsonQuote(id) +
         ",\"cascade\":{\"enabled\":true,\"auth_key\":" + std::string(key_json) +
         ",\"allowed_instances\":[" + list + "]}}";
}

std::string CascadeOff(std::string_view id) {
  return "{\"id\":" + JsonQuote(id) + ",\"cascade\":{\"enabled\":false}}";
}

std::string NoCascade(std::string_view id) { return "{\"id\":" + JsonQuote(id) + "}"; }

std::string Key(std::string_view key) { return JsonQuote(key); }

std::string Keys(std::string_view new_key, std::string_view old_key) {
  return "[" + JsonQuote(new_key) + "," + JsonQuote(old_key) + "]";
}

// ANY `uri` (prefix) whose backend, at `url`, is an API of a cascaded ringway: signed.
std::string CascadeApi(std::string_view name, std::string_view uri, std::string_view url,
                       std::string_view backend_uri,
                       std::string_view backend_extra = R"("retry_count":0)") {
  return ProxyApi(name, "ANY", uri, url, backend_uri, R"("match_mode":"prefix")",
                  std::string(backend_extra) + R"(,"cascade":true)");
}

// ANY `uri` (prefix) proxied to the backend's `backend_uri`, not signed.
std::string OriginApi(std::string_view name, std::string_view uri, const Backend& b,
                      std::string_view backend_uri, std::string_view api_extra = "") {
  std::string extra = R"("match_mode":"prefix")";
  if (!api_extra.empty()) {
    extra += "," + std::string(api_extra);
  }
  return ProxyApi(name, "ANY", uri, b.address(), backend_uri, extra, R"("retry_count":0)");
}

std::string Config(std::string instance, std::vector<std::string> apis, std::string extra = "") {
  ConfigSpec spec;
  spec.instance = std::move(instance);
  spec.apis = std::move(apis);
  spec.extra = std::move(extra);
  return BuildConfig(spec);
}

std::string Local(const Gateway& g) { return "127.0.0.1:" + std::to_string(g.port()); }

// ---- assertions ----

// A gateway JSON error (error_code, error_msg, request_id) with `status` and `code`.
::testing::AssertionResult IsError(const std::optional<Response>& r, int status,
                                   std::string_view code) {
  ::testing::AssertionResult ok = IsGatewayError(r, status);
  if (!ok) {
    return ok << "\n(want " << status << " " << code << ")";
  }
  std::string got = JsonString(r->body, "/error_code").value_or("");
  if (got != code) {
    return ::testing::AssertionFailure()
           << "error_code " << got << ", want " << code << "; body: " << r->body;
  }
  return ::testing::AssertionSuccess();
}

// A 200 echo of `target` by the stub, which saw no X-Ringway-Cascade-* header.
::testing::AssertionResult CleanEcho(const std::optional<Response>& r, std::string_view target) {
  ::testing::AssertionResult ok = EchoedTarget(r, target);
  if (!ok) {
    return ok;
  }
  if (r->body.find("x-ringway-cascade") != std::string::npos) {
    return ::testing::AssertionFailure()
           << "the backend saw cascade headers (they must be removed): " << r->body;
  }
  return ::testing::AssertionSuccess();
}

// A request sent after the ones before it (`probe`, directly through the gateway at gw_port
// to the stub) has reached the stub: one of them still on its way would have been logged.
::testing::AssertionResult Drained(const Backend& stub, int gw_port, const std::string& probe) {
  Client c(gw_port, kRequestTimeoutMs);
  std::optional<Response> r = c.Get(probe);
  if (!EchoedTarget(r, probe) || !stub.WaitRequest(probe, 5000)) {
    return ::testing::AssertionFailure() << "probe " << probe << " did not reach the backend";
  }
  return ::testing::AssertionSuccess();
}

// No request with `needle` in its request line reached `stub` (after Drained()).
::testing::AssertionResult NotReached(const Backend& stub, int gw_port, std::string_view needle,
                                      const std::string& probe) {
  if (::testing::AssertionResult ok = Drained(stub, gw_port, probe); !ok) {
    return ok;
  }
  if (size_t n = stub.RequestCount(needle); n != 0) {
    return ::testing::AssertionFailure()
           << n << " request(s) with \"" << needle << "\" reached the backend";
  }
  return ::testing::AssertionSuccess();
}

// Neither log holds any of `secrets`.
::testing::AssertionResult LogsClean(const std::vector<const Gateway*>& gateways,
                                     const std::vector<std::string>& secrets) {
  for (const Gateway* g : gateways) {
    if (!g->LogContains("ready shards=")) {
      return ::testing::AssertionFailure() << "no log captured";
    }
    for (const auto& s : secrets) {
      if (s.empty()) {
        return ::testing::AssertionFailure() << "an empty secret to look for (a test bug)";
      }
      if (g->LogContains(s)) {
        return ::testing::AssertionFailure() << "a gateway log holds the secret \"" << s << "\":\n"
                                             << g->LogTail();
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- the signature ----

// Hex HMAC-SHA256(key, message) from `openssl dgst`.
::testing::AssertionResult OpensslHmac(std::string_view key, const std::string& message,
                                       std::string* hex) {
  std::string openssl = Env("OPENSSL_BIN");
  if (openssl.empty()) {
    return ::testing::AssertionFailure()
           << "OPENSSL_BIN not set: run through meson test, with openssl installed before "
              "meson setup";
  }
  TempDir dir;
  std::string file = dir.WriteFile("message", message);
  CommandResult r = RunCommand(
      {openssl, "dgst", "-sha256", "-hmac", std::string(key), "-hex", file}, kToolTimeoutMs);
  size_t eq = r.out.rfind("= ");
  if (r.exit_code != 0 || eq == std::string::npos) {
    return ::testing::AssertionFailure()
           << "openssl dgst failed (exit " << r.exit_code << "): " << r.err << r.out;
  }
  *hex = r.out.substr(eq + 2);
  while (!hex->empty() && (hex->back() == '\n' || hex->back() == '\r' || hex->back() == ' ')) {
    hex->pop_back();
  }
  if (!IsHex(*hex, 64)) {
    return ::testing::AssertionFailure() << "openssl printed no HMAC: " << r.out;
  }
  return ::testing::AssertionSuccess();
}

// What a cascaded request carries: the signed fields and the request they cover.
struct CascadeCall {
  std::string instance = "gw-a";
  std::string time;   // empty: now
  std::string nonce;  // empty: a fresh random one
  std::string hop = "1";
  std::string method = "GET";
  std::string target;
  std::string host = "cascaded.test";
  std::string signature;  // empty: Sign() computes it

  std::string StringToSign() const {
    return "RINGWAY-CASCADE-V1\n" + instance + "\n" + time + "\n" + nonce + "\n" + hop + "\n" +
           method + "\n" + target + "\n" + host;
  }
  // Host and the five cascade headers.
  HeaderList Headers() const {
    return {{"Host", host},
            {std::string(kInstanceHeader), instance},
            {std::string(kTimeHeader), time},
            {std::string(kNonceHeader), nonce},
            {std::string(kHopHeader), hop},
            {std::string(kSignatureHeader), signature}};
  }
};

// Fills the time and nonce of `call` when empty, then signs it with `key`.
::testing::AssertionResult Sign(std::string_view key, CascadeCall* call) {
  if (call->time.empty()) {
    call->time = std::to_string(Now());
  }
  if (call->nonce.empty()) {
    call->nonce = RandomNonce();
  }
  return OpensslHmac(key, call->StringToSign(), &call->signature);
}

// The cascaded request that the stub echoed in `r` (a 200 from a cascade backend pointed at
// the stub): its method, target, Host and cascade headers.
::testing::AssertionResult Captured(const std::optional<Response>& r, CascadeCall* out) {
  ::testing::AssertionResult ok = HasStatus(r, 200);
  if (!ok) {
    return ok;
  }
  auto field = [&](std::string_view name, std::string* value) {
    *value = EchoHeader(*r, name);
    return *value != "<absent>";
  };
  out->method = EchoField(*r, "method");
  out->target = EchoField(*r, "target");
  if (!field("host", &out->host) || !field("x-ringway-cascade-instance", &out->instance) ||
      !field("x-ringway-cascade-time", &out->time) ||
      !field("x-ringway-cascade-nonce", &out->nonce) ||
      !field("x-ringway-cascade-hop", &out->hop) ||
      !field("x-ringway-cascade-signature", &out->signature)) {
    return ::testing::AssertionFailure()
           << "the cascade backend did not get the five cascade headers: " << r->body;
  }
  return ::testing::AssertionSuccess();
}

// The fields of `call` are well formed, and its signature is the HMAC of them with `key`.
::testing::AssertionResult SignedAsDocumented(const CascadeCall& call, std::string_view key) {
  if (!IsHex(call.nonce, 32)) {
    return ::testing::AssertionFailure() << "nonce \"" << call.nonce << "\" is not 32 hex digits";
  }
  if (!IsHex(call.signature, 64)) {
    return ::testing::AssertionFailure()
           << "signature \"" << call.signature << "\" is not 64 hex digits";
  }
  int64_t t = std::atoll(call.time.c_str());
  if (call.time != std::to_string(t) || t < Now() - 60 || t > Now() + 60) {
    return ::testing::AssertionFailure()
           << "time \"" << call.time << "\" is not the current unix time (" << Now() << ")";
  }
  std::string want;
  if (::testing::AssertionResult ok = OpensslHmac(key, call.StringToSign(), &want); !ok) {
    return ok;
  }
  if (ToLower(call.signature) != want) {
    return ::testing::AssertionFailure()
           << "signature " << call.signature << ", want HMAC-SHA256 " << want << " of:\n"
           << call.StringToSign();
  }
  return ::testing::AssertionSuccess();
}

// ---- fixture ----

class CascadeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(stub_.Start("origin")); }

  // B, the cascaded instance: /casc (prefix) proxied to the stub's /casc, /ping, and `apis`.
  std::string BConfig(std::string instance, std::vector<std::string> apis = {},
                      std::string extra = "") {
    apis.insert(apis.begin(), {OriginApi("casc", "/casc", stub_, "/casc"), PingApi()});
    return Config(std::move(instance), std::move(apis), std::move(extra));
  }
  // A, the cascading instance: /casc (prefix) cascaded to B's /casc, /ping, and `apis`.
  std::string AConfig(std::string instance, std::vector<std::string> apis = {},
                      std::string_view backend_extra = R"("retry_count":0)") {
    apis.insert(apis.begin(),
                {CascadeApi("casc", "/casc", Local(b_), "/casc", backend_extra), PingApi()});
    return Config(std::move(instance), std::move(apis));
  }

  // Rewrites the config of `g` and reloads it (SIGHUP); `*generation` counts its configs.
  static ::testing::AssertionResult Reload(Gateway& g, const std::string& config, int* generation) {
    g.WriteConfig(config);
    g.Signal(SIGHUP);
    std::string ok = "reload ok generation=" + std::to_string(++*generation);
    if (!g.WaitLog(ok, kReloadTimeoutMs)) {
      return ::testing::AssertionFailure() << "no \"" << ok << "\":\n" << g.LogTail();
    }
    return ::testing::AssertionSuccess();
  }

  static std::optional<Response> Send(int port, std::string_view method, std::string_view target,
                                      const HeaderList& headers = {}, std::string_view body = "") {
    Client c(port, kRequestTimeoutMs);
    return c.Request(method, target, headers, body);
  }

  // Sends `call` (signed) to B.
  std::optional<Response> SendToB(const CascadeCall& call) {
    return Send(b_.port(), call.method, call.target, call.Headers());
  }

  // Signs `call` with `key` and sends it to B.
  std::optional<Response> SignAndSendToB(std::string_view key, CascadeCall call) {
    EXPECT_TRUE(Sign(key, &call));
    return SendToB(call);
  }

  Backend stub_;
  Gateway b_;
  Gateway a_;
  int a_generation_ = 1;
  int b_generation_ = 1;
};

// ---- the call passes ----

TEST_F(CascadeTest, CallPassesAndTheBackendSeesNoCascadeHeader) {
  // B's key from the environment (`env:NAME`), A's literal: the same key.
  ASSERT_EQ(::setenv(kKeyEnv, std::string(kKey1).c_str(), 1), 0);
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key("env:" + std::string(kKeyEnv)), {"gw-a"}))));
  ASSERT_TRUE(a_.Start(AConfig(CascadeOn("gw-a", Key(kKey1)))));

  std::optional<Response> r =
      Send(a_.port(), "GET", "/casc/pass/x?q=1&r=%20", {{"X-Client-Tag", "t1"}});
  ASSERT_TRUE(CleanEcho(r, "/casc/pass/x?q=1&r=%20"));
  EXPECT_EQ(EchoHeader(*r, "x-client-tag"), "t1");
  EXPECT_EQ(EchoField(*r, "method"), "GET");
  EXPECT_TRUE(Counted(stub_, " /casc/pass/x", 1));  // through B: A's backend is B

  const std::string body = R"({"order":{"id":42}})";
  r = Send(a_.port(), "POST", "/casc/pass/post", {{"Content-Type", "application/json"}}, body);
  ASSERT_TRUE(CleanEcho(r, "/casc/pass/post"));
  EXPECT_EQ(EchoField(*r, "method"), "POST");
  EXPECT_EQ(JsonInt(r->body, "/body_length"), static_cast<int64_t>(body.size()));
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(body));

  // Several on one client connection (A's connection to B is reused): each signed anew.
  Client c(a_.port(), kRequestTimeoutMs);
  for (int i = 0; i < 5; ++i) {
    std::string target = "/casc/pass/keep/" + std::to_string(i);
    ASSERT_TRUE(CleanEcho(c.Get(target), target)) << "request " << i;
  }
  EXPECT_TRUE(Counted(stub_, " /casc/pass/keep/", 5));

  // B with cascade on still serves plain clients of an auth_type none API.
  ASSERT_TRUE(CleanEcho(Send(b_.port(), "GET", "/casc/pass/direct"), "/casc/pass/direct"));

  EXPECT_TRUE(LogsClean({&a_, &b_}, {std::string(kKey1)}));
  ::unsetenv(kKeyEnv);
}

TEST_F(CascadeTest, SignatureIsTheDocumentedHmacWithTheFirstKey) {
  // A's cascade backends point straight at the stub, which shows what A sends. A holds a key
  // pair [new, old]: it signs with the first.
  std::vector<std::string> apis = {
      CascadeApi("cap", "/cap", stub_.address(), "/cap"),
      CascadeApi("caphost", "/caphost", stub_.address(), "/caphost",
                 R"("retry_count":0,"host_header":"cascaded.example")"),
  };
  ASSERT_TRUE(a_.Start(Config(CascadeOn("gw-a", Keys(kKey2, kKey1)), apis)));

  CascadeCall get;
  ASSERT_TRUE(Captured(Send(a_.port(), "GET", "/cap/sig/x?a=1&b=%20"), &get));
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.target, "/cap/sig/x?a=1&b=%20");
  EXPECT_EQ(get.host, stub_.address());
  EXPECT_EQ(get.instance, "gw-a");
  EXPECT_EQ(get.hop, "1");
  EXPECT_TRUE(SignedAsDocumented(get, kKey2));

  CascadeCall post;
  ASSERT_TRUE(Captured(Send(a_.port(), "POST", "/cap/sig/post", {}, "payload"), &post));
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.hop, "1");
  EXPECT_TRUE(SignedAsDocumented(post, kKey2));
  EXPECT_NE(post.nonce, get.nonce) << "a nonce was reused";

  CascadeCall host;
  ASSERT_TRUE(Captured(Send(a_.port(), "GET", "/caphost/h"), &host));
  EXPECT_EQ(host.host, "cascaded.example");
  EXPECT_TRUE(SignedAsDocumented(host, kKey2));

  // A client's own cascade headers at A (cascade on, nobody allowed) are verified like any
  // others: refused, never relayed as A's.
  std::optional<Response> r =
      Send(a_.port(), "GET", "/cap/sig/forged",
           {{std::string(kHopHeader), "2"}, {std::string(kInstanceHeader), "gw-forged"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status == 403 ? IsError(r, 403, "RW.4032") : IsError(r, 401, "RW.4016"));
  EXPECT_EQ(stub_.RequestCount(" /cap/sig/forged"), 0u);
  EXPECT_TRUE(LogsClean({&a_}, {std::string(kKey1), std::string(kKey2), get.signature}));
}

TEST_F(CascadeTest, HopIsTheVerifiedIncomingHopPlusOne) {
  // B's /fwd is itself a cascade backend (to the stub): a request that came through A leaves
  // B with hop 2, one sent to B directly with hop 1; both signed by B.
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}),
                               {CascadeApi("fwd", "/fwd", stub_.address(), "/fwd")})));
  ASSERT_TRUE(a_.Start(
      AConfig(CascadeOn("gw-a", Key(kKey1)), {CascadeApi("fwd", "/fwd", Local(b_), "/fwd")})));
  CascadeCall via_a;
  ASSERT_TRUE(Captured(Send(a_.port(), "GET", "/fwd/two"), &via_a));
  EXPECT_EQ(via_a.target, "/fwd/two");
  EXPECT_EQ(via_a.instance, "gw-b");
  EXPECT_EQ(via_a.hop, "2");
  EXPECT_TRUE(SignedAsDocumented(via_a, kKey1));

  CascadeCall direct;
  ASSERT_TRUE(Captured(Send(b_.port(), "GET", "/fwd/one"), &direct));
  EXPECT_EQ(direct.instance, "gw-b");
  EXPECT_EQ(direct.hop, "1");
  EXPECT_TRUE(SignedAsDocumented(direct, kKey1));
}

TEST_F(CascadeTest, EveryAttemptIsSignedAnew) {
  // A's cascade backend is a channel of two members: one resets every request, the other is
  // B. A GET reset by the first is retried on B with B's Host in the signature (and a new
  // nonce): a retry that kept the first attempt's headers would be refused by B.
  Backend reset;
  ASSERT_TRUE(reset.Start(Stub("reset", "127.0.0.1", {"--reset-all"})));
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}))));
  MemberSpec b_member;
  b_member.host = "127.0.0.1";
  b_member.port = b_.port();
  ConfigSpec spec;
  spec.instance = CascadeOn("gw-a", Key(kKey1));
  spec.extra = ChannelsMember({{"to_b", "wrr", {MemberOf(reset), b_member}}});
  spec.apis = {ChannelApi("casc", "/casc", "to_b", R"("retry_count":1,"cascade":true)")};
  ASSERT_TRUE(a_.Start(BuildConfig(spec)));
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    std::string target = "/casc/retry/" + std::to_string(i);
    ASSERT_TRUE(CleanEcho(Send(a_.port(), "GET", target), target)) << "request " << i;
  }
  EXPECT_GE(reset.RequestCount(" /casc/retry/"), 1u) << "no request met the resetting member";
  EXPECT_TRUE(Counted(stub_, " /casc/retry/", kRequests));
}

// ---- refusals ----

TEST_F(CascadeTest, WrongKeyIs401) {
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}))));
  ASSERT_TRUE(a_.Start(AConfig(CascadeOn("gw-a", Key(kWrongKey)))));
  // B's 401, relayed by A.
  EXPECT_TRUE(IsError(Send(a_.port(), "GET", "/casc/wrongkey/x"), 401, "RW.4018"));
  EXPECT_TRUE(IsError(Send(a_.port(), "POST", "/casc/wrongkey/y", {}, "body"), 401, "RW.4018"));
  EXPECT_TRUE(NotReached(stub_, b_.port(), " /casc/wrongkey/", "/casc/wrongkey-probe"));
  EXPECT_TRUE(LogsClean({&a_, &b_}, {std::string(kKey1), std::string(kWrongKey)}));
}

TEST_F(CascadeTest, InstanceNotAllowedIs403) {
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-x", "gw-y"}))));
  ASSERT_TRUE(a_.Start(AConfig(CascadeOn("gw-a", Key(kKey1)))));
  EXPECT_TRUE(IsError(Send(a_.port(), "GET", "/casc/notallowed/x"), 403, "RW.4032"));
  // The same, signed by the test.
  CascadeCall call;
  call.target = "/casc/notallowed/y";
  EXPECT_TRUE(IsError(SignAndSendToB(kKey1, call), 403, "RW.4032"));
  EXPECT_TRUE(NotReached(stub_, b_.port(), " /casc/notallowed/", "/casc/notallowed-probe"));
}

TEST_F(CascadeTest, CascadeOffOnTheCascadedSideIs403) {
  ASSERT_TRUE(b_.Start(BConfig(CascadeOff("gw-b"))));
  ASSERT_TRUE(a_.Start(AConfig(CascadeOn("gw-a", Key(kKey1)))));
  EXPECT_TRUE(IsError(Send(a_.port(), "GET", "/casc/off/x"), 403, "RW.4031"));
  // A plain client with one cascade header.
  EXPECT_TRUE(IsError(Send(b_.port(), "GET", "/casc/off/y", {{std::string(kInstanceHeader), "x"}}),
                      403, "RW.4031"));
  EXPECT_TRUE(NotReached(stub_, b_.port(), " /casc/off/", "/casc/off-probe"));
  EXPECT_TRUE(LogsClean({&a_, &b_}, {std::string(kKey1)}));
}

TEST_F(CascadeTest, CascadeHeaderFromAClientIs403WhereCascadeIsOff) {
  // An instance without any cascade section: each cascade header, in any case, is refused.
  ASSERT_TRUE(b_.Start(BConfig(NoCascade("gw-b"))));
  for (std::string_view name :
       {kInstanceHeader, kTimeHeader, kNonceHeader, kHopHeader, kSignatureHeader}) {
    EXPECT_TRUE(IsError(Send(b_.port(), "GET", "/casc/probe/x", {{std::string(name), "x"}}), 403,
                        "RW.4031"))
        << name;
    EXPECT_TRUE(
        IsError(Send(b_.port(), "GET", "/casc/probe/x", {{ToLower(name), "1"}}), 403, "RW.4031"))
        << ToLower(name);
  }
  // A complete, validly signed set too: without cascade nothing is verified or accepted.
  CascadeCall call;
  call.target = "/casc/probe/signed";
  EXPECT_TRUE(IsError(SignAndSendToB(kKey1, call), 403, "RW.4031"));
  EXPECT_TRUE(NotReached(stub_, b_.port(), " /casc/probe/", "/casc/probe-ok"));
}

TEST_F(CascadeTest, ReplayedRequestIs401) {
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}))));
  // A's /cap is cascaded to the stub's /casc: the stub shows the exact request A signed for a
  // backend at the stub's address.
  ASSERT_TRUE(a_.Start(AConfig(CascadeOn("gw-a", Key(kKey1)),
                               {CascadeApi("cap", "/cap", stub_.address(), "/casc")})));
  CascadeCall call;
  ASSERT_TRUE(Captured(Send(a_.port(), "GET", "/cap/replay/x"), &call));
  ASSERT_EQ(call.target, "/casc/replay/x");
  // The same method, target, Host and headers to B: the first passes, every later one is a
  // replay, on whichever connection (and shard) it comes.
  ASSERT_TRUE(CleanEcho(SendToB(call), "/casc/replay/x"));
  for (int i = 0; i < 6; ++i) {  // each on a new connection
    EXPECT_TRUE(IsError(SendToB(call), 401, "RW.4019")) << "replay " << i;
  }
  EXPECT_TRUE(Drained(stub_, b_.port(), "/casc/replay-probe"));
  EXPECT_TRUE(Counted(stub_, " /casc/replay/x", 2));  // A's capture and B's first
  EXPECT_TRUE(LogsClean({&a_, &b_}, {std::string(kKey1), call.signature}));
}

TEST_F(CascadeTest, TimestampOutsideThreeHundredSecondsIs401) {
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}))));
  struct Case {
    int64_t offset;
    int status;
    std::string_view code;
  };
  for (const Case& c : {Case{-400, 401, "RW.4017"}, Case{400, 401, "RW.4017"},
                        Case{-3600, 401, "RW.4017"}, Case{-200, 200, ""}, Case{200, 200, ""}}) {
    CascadeCall call;
    call.time = std::to_string(Now() + c.offset);
    call.target = "/casc/skew/" + std::to_string(c.offset);
    std::optional<Response> r = SignAndSendToB(kKey1, call);
    if (c.status == 200) {
      EXPECT_TRUE(CleanEcho(r, call.target)) << "offset " << c.offset << " s";
    } else {
      EXPECT_TRUE(IsError(r, c.status, c.code)) << "offset " << c.offset << " s";
    }
  }
  // A changed time under an unchanged signature: the signature no longer matches.
  CascadeCall call;
  call.target = "/casc/skew/changed";
  ASSERT_TRUE(Sign(kKey1, &call));
  call.time = std::to_string(std::atoll(call.time.c_str()) - 1);
  EXPECT_TRUE(IsError(SendToB(call), 401, "RW.4018"));
  EXPECT_TRUE(Drained(stub_, b_.port(), "/casc/skew-probe"));
  for (std::string_view refused : {"-400", "400", "-3600", "changed"}) {
    EXPECT_EQ(stub_.RequestCount(" /casc/skew/" + std::string(refused)), 0u) << refused;
  }
}

TEST_F(CascadeTest, ForgedOrMalformedFieldsAreRefused) {
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}))));
  // The test's own signature passes (so the refusals below are for what was changed).
  CascadeCall ok;
  ok.target = "/casc/forge/ok?x=1";
  ASSERT_TRUE(Sign(kKey1, &ok));
  ASSERT_TRUE(CleanEcho(SendToB(ok), "/casc/forge/ok?x=1"));
  CascadeCall hop3;
  hop3.target = "/casc/forge/hop3";
  hop3.hop = "3";
  ASSERT_TRUE(CleanEcho(SignAndSendToB(kKey1, hop3), "/casc/forge/hop3")) << "hop 3";

  auto signed_call = [&](std::string target) {
    CascadeCall call;
    call.target = std::move(target);
    EXPECT_TRUE(Sign(kKey1, &call));
    return call;
  };
  // Signed over something else than what is sent: 4018.
  CascadeCall call = signed_call("/casc/forge/a");
  EXPECT_TRUE(IsError(Send(b_.port(), "GET", "/casc/forge/b", call.Headers()), 401, "RW.4018"))
      << "other target";
  call = signed_call("/casc/forge/q?x=1");
  EXPECT_TRUE(IsError(Send(b_.port(), "GET", "/casc/forge/q?x=2", call.Headers()), 401, "RW.4018"))
      << "other query";
  call = signed_call("/casc/forge/m");
  EXPECT_TRUE(IsError(Send(b_.port(), "DELETE", call.target, call.Headers()), 401, "RW.4018"))
      << "other method";
  call = signed_call("/casc/forge/h");
  call.host = "elsewhere.test";
  EXPECT_TRUE(IsError(SendToB(call), 401, "RW.4018")) << "other host";
  call = signed_call("/casc/forge/hop");
  call.hop = "2";
  EXPECT_TRUE(IsError(SendToB(call), 401, "RW.4018")) << "other hop";
  call = signed_call("/casc/forge/n");
  call.nonce = RandomNonce();
  EXPECT_TRUE(IsError(SendToB(call), 401, "RW.4018")) << "other nonce";
  CascadeCall wrong;
  wrong.target = "/casc/forge/key";
  EXPECT_TRUE(IsError(SignAndSendToB(kWrongKey, wrong), 401, "RW.4018")) << "other key";

  // Malformed (correctly signed over the malformed values), or incomplete: 4016.
  CascadeCall bad;
  bad.target = "/casc/forge/nonce";
  bad.nonce = "not-a-hex-nonce";
  EXPECT_TRUE(IsError(SignAndSendToB(kKey1, bad), 401, "RW.4016")) << "nonce";
  bad = CascadeCall{};
  bad.target = "/casc/forge/time";
  bad.time = "soon";
  EXPECT_TRUE(IsError(SignAndSendToB(kKey1, bad), 401, "RW.4016")) << "time";
  bad = CascadeCall{};
  bad.target = "/casc/forge/hopx";
  bad.hop = "x";
  EXPECT_TRUE(IsError(SignAndSendToB(kKey1, bad), 401, "RW.4016")) << "hop";
  call = signed_call("/casc/forge/nosig");
  HeaderList no_signature = call.Headers();
  no_signature.pop_back();
  EXPECT_TRUE(IsError(Send(b_.port(), "GET", call.target, no_signature), 401, "RW.4016"))
      << "no signature";
  call = signed_call("/casc/forge/shortsig");
  call.signature.resize(32);
  EXPECT_TRUE(IsError(SendToB(call), 401, "RW.4016")) << "short signature";

  // Well signed, but one hop too many: 508.
  CascadeCall deep;
  deep.target = "/casc/forge/deep";
  deep.hop = "4";
  EXPECT_TRUE(IsError(SignAndSendToB(kKey1, deep), 508, "RW.5081"));

  EXPECT_TRUE(Drained(stub_, b_.port(), "/casc/forge-probe"));
  EXPECT_TRUE(Counted(stub_, " /casc/forge/", 2)) << "only the two good ones pass";
  EXPECT_TRUE(LogsClean({&b_}, {std::string(kKey1), std::string(kWrongKey), ok.signature}));
}

// ---- an app API on the cascaded side ----

TEST_F(CascadeTest, AppApiIsReachableThroughTheCascadeOnly) {
  const std::string apps =
      R"("apps": [{"name": "web", "app_key": "k-123", "app_secret": "s3cret-s3cret"}])";
  ASSERT_TRUE(
      b_.Start(BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}),
                       {OriginApi("app", "/app", stub_, "/app", R"("auth_type":"app")")}, apps)));
  ASSERT_TRUE(a_.Start(
      AConfig(CascadeOn("gw-a", Key(kKey1)), {CascadeApi("app", "/app", Local(b_), "/app")})));
  // Through A, without app credentials: the cascade authenticates.
  ASSERT_TRUE(CleanEcho(Send(a_.port(), "GET", "/app/through/x?y=1"), "/app/through/x?y=1"));
  const std::string body = R"({"a":1})";
  std::optional<Response> r =
      Send(a_.port(), "POST", "/app/through/post", {{"Content-Type", "application/json"}}, body);
  ASSERT_TRUE(CleanEcho(r, "/app/through/post"));
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(body));
  // Directly, without credentials: the app API's own 401.
  EXPECT_TRUE(IsError(Send(b_.port(), "GET", "/app/direct/x"), 401, "RW.4011"));
  // Directly with cascade headers the test signs: as good as A's.
  CascadeCall call;
  call.target = "/app/direct/signed";
  EXPECT_TRUE(CleanEcho(SignAndSendToB(kKey1, call), "/app/direct/signed"));
  // ...but not with a wrong key.
  CascadeCall wrong;
  wrong.target = "/app/direct/wrong";
  EXPECT_TRUE(IsError(SignAndSendToB(kWrongKey, wrong), 401, "RW.4018"));
  EXPECT_TRUE(NotReached(stub_, b_.port(), " /app/direct/x", "/casc/app-probe"));
  EXPECT_EQ(stub_.RequestCount(" /app/direct/wrong"), 0u);
}

// ---- a loop ----

TEST_F(CascadeTest, CascadeLoopEndsWith508) {
  // A's /loop cascades to B, B's /loop to A: hop 1 (A→B), 2 (B→A), 3 (A→B), 4 (B→A): refused.
  // B starts with /loop aimed at nothing, then is reloaded to aim at A.
  auto b_config = [&](const std::string& loop_url) {
    return BConfig(CascadeOn("gw-b", Key(kKey1), {"gw-a"}),
                   {CascadeApi("loop", "/loop", loop_url, "/loop")});
  };
  ASSERT_TRUE(b_.Start(b_config("127.0.0.1:" + std::to_string(UnusedPort()))));
  ASSERT_TRUE(a_.Start(AConfig(CascadeOn("gw-a", Key(kKey1), {"gw-b"}),
                               {CascadeApi("loop", "/loop", Local(b_), "/loop")})));
  ASSERT_TRUE(Reload(b_, b_config(Local(a_)), &b_generation_));

  for (Gateway* first : {&a_, &b_}) {
    Clock::time_point t0 = Clock::now();
    std::optional<Response> r = Send(first->port(), "GET", "/loop/x");
    int64_t ms = MsSince(t0);
    EXPECT_TRUE(IsError(r, 508, "RW.5081")) << "entering at " << (first == &a_ ? "A" : "B");
    // Far below any backend timeout (5 s by default): the loop is cut, not timed out.
    EXPECT_LT(ms, 3000) << "entering at " << (first == &a_ ? "A" : "B");
  }
  EXPECT_TRUE(a_.running());
  EXPECT_TRUE(b_.running());
  EXPECT_EQ(stub_.RequestCount(" /loop"), 0u);
  // Both still serve.
  ASSERT_TRUE(CleanEcho(Send(a_.port(), "GET", "/casc/after-loop"), "/casc/after-loop"));
}

// ---- key rotation ----

TEST_F(CascadeTest, KeyRotationWithoutAFailedRequest) {
  // B accepts [k2, k1]; A signs with k1, then (reloaded) with k2; then B drops k1. A client
  // calls through A all along: no request fails. A's /cap (cascaded to the stub) shows which
  // key A signs with.
  ASSERT_TRUE(b_.Start(BConfig(CascadeOn("gw-b", Keys(kKey2, kKey1), {"gw-a"}))));
  // A's /casc retries as configured by default (a retry is signed anew).
  const std::string_view retry_default = R"("retry_count":-1)";
  auto a_config = [&](const std::string& key_json) {
    return AConfig(CascadeOn("gw-a", key_json),
                   {CascadeApi("cap", "/cap", stub_.address(), "/cap")}, retry_default);
  };
  ASSERT_TRUE(a_.Start(a_config(Key(kKey1))));
  auto signs_with = [&](std::string_view key) {
    CascadeCall call;
    ::testing::AssertionResult ok = Captured(Send(a_.port(), "GET", "/cap/which"), &call);
    return ok ? SignedAsDocumented(call, key) : ok;
  };
  ASSERT_TRUE(signs_with(kKey1));
  ASSERT_TRUE(CleanEcho(Send(a_.port(), "GET", "/casc/rot/start"), "/casc/rot/start"));

  std::atomic<bool> stop{false};
  std::atomic<int> passed{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::thread caller([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string target = "/casc/rot/bg/" + std::to_string(i);
      std::optional<Response> r = Send(a_.port(), "GET", target);
      if (::testing::AssertionResult ok = CleanEcho(r, target); ok) {
        passed.fetch_add(1);
      } else if (failed.fetch_add(1) == 0) {
        first_failure = ok.message();
      }
    }
  });
  auto calls_pass = [&](std::string_view stage) {
    int before = passed.load() + failed.load();
    PollUntil([&] { return passed.load() + failed.load() >= before + 3; }, 10000);
    std::string target = "/casc/rot/" + std::string(stage);
    return CleanEcho(Send(a_.port(), "GET", target), target);
  };

  EXPECT_TRUE(calls_pass("k1"));
  EXPECT_TRUE(Reload(a_, a_config(Keys(kKey2, kKey1)), &a_generation_));
  EXPECT_TRUE(calls_pass("a-rotated"));
  EXPECT_TRUE(signs_with(kKey2));
  EXPECT_TRUE(Reload(b_, BConfig(CascadeOn("gw-b", Key(kKey2), {"gw-a"})), &b_generation_));
  EXPECT_TRUE(calls_pass("b-rotated"));
  stop.store(true);
  caller.join();
  EXPECT_EQ(failed.load(), 0) << "first failure: " << first_failure;
  EXPECT_GT(passed.load(), 0);

  // B really dropped k1: A back on k1 alone is refused.
  ASSERT_TRUE(Reload(a_, a_config(Key(kKey1)), &a_generation_));
  EXPECT_TRUE(IsError(Send(a_.port(), "GET", "/casc/rot/old"), 401, "RW.4018"));
  EXPECT_TRUE(LogsClean({&a_, &b_}, {std::string(kKey1), std::string(kKey2)}));
}

// ---- configuration ----

class CascadeConfigTest : public ::testing::Test {
 protected:
  // `ringway check -c FILE` on `config`; stdout and stderr together in `output`.
  CommandResult Check(const std::string& config) {
    CommandResult r = RunRingway({"check", "-c", dir_.WriteFile("check.json", config)});
    output = r.out + r.err;
    return r;
  }
  static std::string WithCascadeApi(std::string instance) {
    return Config(std::move(instance),
                  {CascadeApi("casc", "/casc", "127.0.0.1:9", "/casc"), PingApi()});
  }
  static std::string CascadeWith(std::string_view members) {
    return R"({"id":"gw-a","cascade":{)" + std::string(members) + "}}";
  }

  TempDir dir_;
  std::string output;
};

TEST_F(CascadeConfigTest, CascadeBackendNeedsTheInstanceCascade) {
  for (const std::string& instance : {NoCascade("gw-a"), CascadeOff("gw-a"),
                                      CascadeWith(R"("enabled":false,"auth_key":)" + Key(kKey1))}) {
    CommandResult r = Check(WithCascadeApi(instance));
    EXPECT_EQ(r.exit_code, 1) << instance << "\n" << output;
    EXPECT_EQ(output.find("not supported yet"), std::string::npos) << output;
    EXPECT_NE(output.find("apis[0].backend.cascade"), std::string::npos) << instance << "\n"
                                                                         << output;
  }
}

TEST_F(CascadeConfigTest, AtMostFiveAllowedInstances) {
  std::vector<std::string> five = {"gw-1", "gw-2", "gw-3", "gw-4", "gw-5"};
  CommandResult r = Check(WithCascadeApi(CascadeOn("gw-a", Key(kKey1), five)));
  EXPECT_EQ(r.exit_code, 0) << output;
  std::vector<std::string> six = five;
  six.push_back("gw-6");
  r = Check(WithCascadeApi(CascadeOn("gw-a", Key(kKey1), six)));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("instance.cascade.allowed_instances"), std::string::npos) << output;
  EXPECT_EQ(output.find("not supported yet"), std::string::npos) << output;
}

TEST_F(CascadeConfigTest, KeyIsRequiredAndAtLeastSixteenBytes) {
  CommandResult r = Check(WithCascadeApi(CascadeOn("gw-a", Key("fifteen-bytes!!"))));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("instance.cascade.auth_key"), std::string::npos) << output;
  EXPECT_EQ(output.find("fifteen-bytes!!"), std::string::npos) << "key printed:\n" << output;
  r = Check(WithCascadeApi(CascadeWith(R"("enabled":true,"allowed_instances":[])")));
  EXPECT_EQ(r.exit_code, 1) << output;
  EXPECT_NE(output.find("instance.cascade.auth_key"), std::string::npos) << output;
  r = Check(WithCascadeApi(CascadeOn("gw-a", Key("sixteen-bytes!!!"))));
  EXPECT_EQ(r.exit_code, 0) << output;
}

TEST_F(CascadeConfigTest, ValidCascadeConfigsPassAndKeysAreNotPrinted) {
  ASSERT_EQ(::setenv(kKeyEnv, std::string(kKey2).c_str(), 1), 0);
  for (const std::string& key_json :
       {Key(kKey1), Keys(kKey2, kKey1), Key("env:" + std::string(kKeyEnv)),
        "[" + Key("env:" + std::string(kKeyEnv)) + "," + Key(kKey1) + "]"}) {
    CommandResult r = Check(WithCascadeApi(CascadeOn("gw-a", key_json, {"gw-b"})));
    EXPECT_EQ(r.exit_code, 0) << key_json << "\n" << output;
    EXPECT_EQ(output.find(kKey1), std::string::npos) << "key printed:\n" << output;
    EXPECT_EQ(output.find(kKey2), std::string::npos) << "key printed:\n" << output;
  }
  // A cascaded-only instance (no cascade backend) with cascade on is valid too.
  CommandResult r = Check(Config(CascadeOn("gw-b", Key(kKey1), {"gw-a"}), {PingApi()}));
  EXPECT_EQ(r.exit_code, 0) << output;
  ::unsetenv(kKeyEnv);
}

}  // namespace
}  // namespace ringway::integration
