// TLS end to end (CONFIG.md `listeners[].tls`, backend `req_protocol: https` and `client_ssl`,
// health checks `protocol: https`): real ringway processes, and independent TLS peers —
// curl and `openssl s_client` as clients, `openssl s_server -www` as a TLS origin, raw
// sockets for hostile input — with certificates made at test time (tls_certs.h).
//
// The contract under test:
// - Listener `tls`: `certificate` (a chain allowed) and `private_key`; `sni` entries
//   (exact or `*.` wildcard names) choose another certificate; no SNI or no match: the default.
//   `client_ca`: a client certificate is required and verified. TLS 1.2 and 1.3 only; ALPN
//   selects http/1.1 only; sessions resume (TLS 1.2 and 1.3); the handshake is bounded by
//   limits.client_header_timeout_ms; hostile bytes close their connection, the shard serves on.
// - Backend `req_protocol: https`: the server certificate is verified against client_ssl.ca
//   (else the system store) for the name `host_header` (else the member's / URL's host), which
//   is also the SNI; `client_ssl.certificate/private_key` are presented when the server asks.
//   Any verification or handshake failure: 502 RW.5260 "backend TLS handshake failed", and a
//   log line naming the reason. Plain and TLS connections to one address never share a pool.
// - Health checks `protocol: https` (with `client_ssl`): up on a 2xx over verified TLS, down
//   when verification fails.
// - SIGHUP: new certificate and key files serve new handshakes; live connections carry on.
// - `ringway check`: a missing, unparsable or mismatched file is an error naming its JSON path.
//
// Written before the feature: until it lands the loader refuses every TLS field ("not supported
// yet"), so the tests that start a TLS gateway fail at Gateway::Start and the config tests fail
// on their expectations. The TlsSelfCheck tests pass today: they show that the certificates, the
// peers and the transfer checks work on their own.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "channels.h"
#include "harness.h"
#include "tls_certs.h"
#include "tls_peers.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRequestTimeoutMs = 10000;
constexpr int kReloadTimeoutMs = 5000;
constexpr int kPublishMs = 3000;      // a reloaded config or health state reaching the shards
constexpr int kLogMs = 2000;          // a log line written just after the response
constexpr int kTransitionMs = 16000;  // 2 health checks 5 s apart, plus the 2 s timeout and slack
constexpr size_t kBigBody = 5 * 1024 * 1024;

// How s_server's page shows the client certificate the tests present.
constexpr std::string_view kClientSubject = "Subject: CN=ringway-client";

// curl offers TLS 1.0/1.1 only at OpenSSL security level 0 (SHA-1 signatures): without this a
// refusal would be the client's, not the gateway's (TlsSelfCheck shows curl then succeeds).
const std::vector<std::string> kLegacyCiphers = {"--ciphers", "DEFAULT@SECLEVEL=0"};

// s_server flags: a client certificate of the client CA is required (without
// -verify_return_error s_server only reports a bad one).
std::vector<std::string> RequireClientCert(const TestPki& pki) {
  return {"-Verify", "1", "-CAfile", pki.client_ca, "-verify_return_error"};
}

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool ContainsNoCase(std::string_view text, std::string_view needle) {
  return ToLower(text).find(ToLower(needle)) != std::string::npos;
}

// ---- configuration ----

// A listener's "tls" object.
std::string ListenerTls(const KeyPair& cert,
                        const std::vector<std::pair<std::string, KeyPair>>& sni = {},
                        const std::string& client_ca = "") {
  std::string out =
      "{\"certificate\":" + JsonQuote(cert.cert) + ",\"private_key\":" + JsonQuote(cert.key);
  if (!sni.empty()) {
    std::string list;
    for (const auto& [name, pair] : sni) {
      list += (list.empty() ? "" : ",") + std::string("{\"server_name\":") + JsonQuote(name) +
              ",\"certificate\":" + JsonQuote(pair.cert) +
              ",\"private_key\":" + JsonQuote(pair.key) + "}";
    }
    out += ",\"sni\":[" + list + "]";
  }
  if (!client_ca.empty()) {
    out += ",\"client_ca\":" + JsonQuote(client_ca);
  }
  return out + "}";
}

// A client_ssl object: `ca` (empty: none), and the client certificate when `cert` is given.
std::string ClientSsl(const std::string& ca, const KeyPair* cert = nullptr) {
  std::string out;
  if (!ca.empty()) {
    out += "\"ca\":" + JsonQuote(ca);
  }
  if (cert != nullptr) {
    out += std::string(out.empty() ? "" : ",") + "\"certificate\":" + JsonQuote(cert->cert) +
           ",\"private_key\":" + JsonQuote(cert->key);
  }
  return "{" + out + "}";
}

// An http API made by the harness, switched to req_protocol https.
std::string WithHttps(std::string api) {
  const std::string plain = R"("req_protocol":"http")";
  size_t at = api.find(plain);
  if (at != std::string::npos) {
    api.replace(at, plain.size(), R"("req_protocol":"https")");
  }
  return api;
}

struct BackendSpec {
  std::string client_ssl;   // a client_ssl object, or empty (none)
  std::string host_header;  // or empty
  std::string extra;        // more backend members
};

// ANY /name (prefix) proxied to `url` (host:port) over https as /name..., without retries.
std::string HttpsApi(const std::string& name, const std::string& url, const BackendSpec& b,
                     const std::string& backend_uri = "") {
  std::string extra = R"("retry_count":0)";
  if (!b.client_ssl.empty()) {
    extra += ",\"client_ssl\":" + b.client_ssl;
  }
  if (!b.host_header.empty()) {
    extra += ",\"host_header\":" + JsonQuote(b.host_header);
  }
  if (!b.extra.empty()) {
    extra += "," + b.extra;
  }
  return WithHttps(ProxyApi(name, "ANY", "/" + name, url,
                            backend_uri.empty() ? "/" + name : backend_uri,
                            R"("match_mode":"prefix")", extra));
}

// The same over plain http.
std::string PlainApi(const std::string& name, const std::string& url,
                     const std::string& backend_uri) {
  return ProxyApi(name, "ANY", "/" + name, url, backend_uri, R"("match_mode":"prefix")",
                  R"("retry_count":0)");
}

// An https health check (every 5 s, 2 s timeout, thresholds 2) with `client_ssl`.
std::string HttpsHealthCheck(const std::string& client_ssl) {
  return R"({"protocol":"https","client_ssl":)" + client_ssl +
         R"(,"path":"/hc-probe","method":"GET","http_codes":"200","port":0,)"
         R"("healthy_threshold":2,"unhealthy_threshold":2,"timeout_s":2,"interval_s":5})";
}

struct GatewaySpec {
  std::string tls;  // the "tls" listener's object; empty: only the plain "main" listener
  std::vector<std::string> apis;
  std::string limits;
  std::string extra;
  int shards = 2;
  std::string instance;  // the "instance" object; empty: the harness's
};

// A gateway with listeners "main" (plain) and "tls", the ping API and `spec.apis`.
::testing::AssertionResult StartGateway(Gateway& gw, const GatewaySpec& spec) {
  ConfigSpec config;
  config.listeners = {"main"};
  if (!spec.tls.empty()) {
    config.listeners.push_back("tls");
    config.listener_tls = {{"tls", spec.tls}};
  }
  config.apis = {PingApi()};
  config.apis.insert(config.apis.end(), spec.apis.begin(), spec.apis.end());
  config.limits = spec.limits;
  config.extra = spec.extra;
  config.instance = spec.instance;
  GatewayOptions opts;
  opts.shards = spec.shards;
  ::testing::AssertionResult ok = gw.Start(BuildConfig(config), opts);
  if (ok && !spec.tls.empty() && gw.port("tls") <= 0) {
    return ::testing::AssertionFailure() << "no \"listening name=tls address=...\" line:\n"
                                         << gw.LogTail();
  }
  return ok;
}

// ---- assertions ----

// A fresh request through the gateway's plain listener (10 s read timeout).
std::optional<Response> Get(const Gateway& gw, const std::string& target) {
  Client c(gw.port("main"), kRequestTimeoutMs);
  return c.Get(target);
}

// A 200 from `openssl s_server -www`.
::testing::AssertionResult ServerPage(const std::optional<Response>& r) {
  ::testing::AssertionResult ok = HasStatus(r, 200);
  if (ok && r->body.find(kServerPageMarker) == std::string::npos) {
    return ::testing::AssertionFailure() << "not the s_server page: " << r->body.substr(0, 400);
  }
  return ok;
}

// Some of `reasons` (any case) in what the gateway logged after `mark` bytes, within kLogMs.
::testing::AssertionResult LoggedReason(const Gateway& gw, size_t mark,
                                        const std::vector<std::string_view>& reasons) {
  auto found = [&] {
    std::string log = gw.Log();
    std::string tail = mark < log.size() ? log.substr(mark) : "";
    for (std::string_view reason : reasons) {
      if (ContainsNoCase(tail, reason)) {
        return true;
      }
    }
    return false;
  };
  if (PollUntil(found, kLogMs)) {
    return ::testing::AssertionSuccess();
  }
  std::string want;
  for (std::string_view reason : reasons) {
    want += (want.empty() ? "\"" : " or \"") + std::string(reason) + "\"";
  }
  std::string log = gw.Log();
  return ::testing::AssertionFailure()
         << "no log line with " << want << " (any case) after the request; log since:\n"
         << (mark < log.size() ? log.substr(mark) : "");
}

// The reasons of a failed backend handshake, loosely: the words of common TLS libraries. (No
// API name or target of these tests holds one: a logged request line would match.)
const std::vector<std::string_view> kExpiredReasons = {"expired", "date error", "not after",
                                                       "notafter", "validity"};
const std::vector<std::string_view> kUnknownCaReasons = {"unknown ca", "unknown_ca", "signer",
                                                         "issuer",     "untrusted",  "not trusted"};
const std::vector<std::string_view> kNameReasons = {"mismatch", "domain", "hostname", "host name",
                                                    "does not match"};
const std::vector<std::string_view> kAlertReasons = {"alert", "certificate required",
                                                     "handshake failure"};

// `target` through the gateway's plain listener is a 502 RW.5260 "backend TLS handshake
// failed", and the log names one of `reasons`.
::testing::AssertionResult BackendHandshakeFails(const Gateway& gw, const std::string& target,
                                                 const std::vector<std::string_view>& reasons) {
  size_t mark = gw.Log().size();
  std::optional<Response> r = Get(gw, target);
  ::testing::AssertionResult ok = IsGatewayError(r, 502);
  if (!ok) {
    return ok << "\n(" << target << ")";
  }
  std::string code = JsonString(r->body, "/error_code").value_or("");
  std::string msg = JsonString(r->body, "/error_msg").value_or("");
  if (code != "RW.5260" || !ContainsNoCase(msg, "TLS handshake failed")) {
    return ::testing::AssertionFailure()
           << target << ": want RW.5260 \"backend TLS handshake failed\"; body: " << r->body;
  }
  return LoggedReason(gw, mark, reasons) << "\n(" << target << ")";
}

// curl's body holds the ping API's answer.
::testing::AssertionResult Pong(const CurlResult& r) {
  ::testing::AssertionResult ok = CurlOk(r);
  if (ok && r.body != kPingBody) {
    return ::testing::AssertionFailure() << "not the ping answer; " << r.Describe();
  }
  return ok;
}

// ---- big transfers ----

// `n` random bytes in a file (not the stub's pattern: a reordering would show).
std::string RandomFile(const TempDir& dir, const std::string& name, size_t n, std::string* data) {
  std::mt19937_64 rng(20240917);
  data->resize(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) {
      (*data)[i + j] = static_cast<char>(v >> (8 * j));
    }
  }
  return dir.WriteFile(name, *data);
}

// POSTs the file to `url_args` (a stub /sink behind): the stub counted every byte and their
// FNV-1a matches.
::testing::AssertionResult UploadIntact(const std::vector<std::string>& url_args,
                                        const std::string& file, const std::string& data) {
  CurlResult r = Curl(Cat({"--data-binary", "@" + file, "-H",
                           "Content-Type: application/octet-stream", "-H", "Expect:"},
                          url_args),
                      120000);
  ::testing::AssertionResult ok = CurlOk(r);
  if (!ok) {
    return ok << "\n(upload)";
  }
  std::optional<int64_t> bytes = JsonInt(r.body, "/bytes");
  std::string fnv = JsonString(r.body, "/fnv").value_or("");
  if (bytes != static_cast<int64_t>(data.size()) || fnv != Fnv1aHex(data)) {
    return ::testing::AssertionFailure()
           << "the backend got " << bytes.value_or(-1) << " bytes with FNV-1a " << fnv << ", want "
           << data.size() << " with " << Fnv1aHex(data);
  }
  return ::testing::AssertionSuccess();
}

// GETs `url_args` (a stub /bytes/N behind) into a file: its SHA-256 is that of the pattern.
::testing::AssertionResult DownloadIntact(const std::vector<std::string>& url_args,
                                          const TempDir& dir, size_t n) {
  std::string want_file = dir.WriteFile("want.bin", PatternBytes(0, n));
  std::string got_file = dir.path() + "/got.bin";
  CurlResult r = Curl(Cat({"-o", got_file}, url_args), 120000);
  ::testing::AssertionResult ok = CurlOk(r);
  if (!ok) {
    return ok << "\n(download)";
  }
  std::string want;
  std::string got;
  if (ok = Sha256File(want_file, &want); !ok) {
    return ok;
  }
  if (ok = Sha256File(got_file, &got); !ok) {
    return ok;
  }
  if (got != want) {
    return ::testing::AssertionFailure()
           << "downloaded SHA-256 " << got << " (" << ReadFile(got_file).size() << " bytes), want "
           << want << " (" << n << " bytes)";
  }
  return ::testing::AssertionSuccess();
}

// ---- fixture ----

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(SharedPki(&pki_));
    ASSERT_TRUE(OpensslBin(&openssl_));
    std::string curl;
    ASSERT_TRUE(CurlBin(&curl));
  }
  const TestPki& pki() const { return *pki_; }

  // A verified https request to the gateway's "tls" listener for `name` (resolved to
  // 127.0.0.1), plus `args`.
  CurlResult CurlTls(const Gateway& gw, const std::string& name, const std::string& path,
                     const std::vector<std::string>& args = {}) const {
    return Curl(Cat(args, HttpsTo(pki().ca, name, gw.port("tls"), path)));
  }
  // s_client to the "tls" listener with SNI `name` ("": none), trusting the test CA, sending a
  // GET /ping that closes the connection.
  SClientResult SClientTls(const Gateway& gw, const std::string& name,
                           const std::vector<std::string>& args = {}) const {
    std::vector<std::string> all = {"-CAfile", pki().ca};
    if (name.empty()) {
      all.push_back("-noservername");
    } else {
      all.insert(all.end(), {"-servername", name});
    }
    all.insert(all.end(), args.begin(), args.end());
    return SClient(gw.port("tls"), all, CloseRequest("/ping", name.empty() ? "a.test" : name));
  }

  const TestPki* pki_ = nullptr;
  std::string openssl_;
};

// ======== self-checks of the test machinery (pass without TLS in the gateway) ========

using TlsSelfCheck = TlsTest;

TEST_F(TlsSelfCheck, CertificatesAreWhatTheTestsExpect) {
  auto openssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), openssl_);
    return RunCommand(args, 10000);
  };
  for (const KeyPair* server : {&pki().a, &pki().a_rotated, &pki().b, &pki().wild, &pki().wrong}) {
    CommandResult r = openssl({"verify", "-CAfile", pki().ca, server->cert});
    EXPECT_EQ(r.exit_code, 0) << server->cert << ": " << r.out << r.err;
  }
  CommandResult r = openssl({"verify", "-CAfile", pki().ca, pki().expired.cert});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(ContainsNoCase(r.out + r.err, "expired")) << r.out << r.err;
  // The chain file: the leaf verifies with the root alone once its intermediate is taken
  // from the same file; without it, not.
  r = openssl({"verify", "-CAfile", pki().ca, "-untrusted", pki().chain.cert, pki().chain.cert});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = openssl({"verify", "-CAfile", pki().ca, pki().chain.cert});
  EXPECT_NE(r.exit_code, 0) << "the chain leaf verified without its intermediate";
  r = openssl({"verify", "-CAfile", pki().client_ca, pki().client.cert});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = openssl({"verify", "-CAfile", pki().client_ca, pki().rogue_client.cert});
  EXPECT_NE(r.exit_code, 0) << "the rogue client verified";
  r = openssl({"verify", "-CAfile", pki().other_ca, pki().a.cert});
  EXPECT_NE(r.exit_code, 0) << "the unrelated CA verified a.test";

  r = openssl({"x509", "-in", pki().a.cert, "-noout", "-text"});
  for (const char* want : {"DNS:a.test", "DNS:localhost", "IP Address:127.0.0.1", "P-256"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " missing:\n" << r.out;
  }
  r = openssl({"x509", "-in", pki().b.cert, "-noout", "-text"});
  EXPECT_NE(r.out.find("rsaEncryption"), std::string::npos) << "b.test is an RSA certificate";
  r = openssl({"x509", "-in", pki().expired.cert, "-noout", "-enddate"});
  EXPECT_NE(r.out.find("2020"), std::string::npos) << r.out;

  // Keys: each pair matches; the unmatched key and the rotated one are others.
  auto cert_pub = [&](const std::string& cert) {
    return openssl({"x509", "-in", cert, "-noout", "-pubkey"}).out;
  };
  auto key_pub = [&](const std::string& key) {
    return openssl({"pkey", "-in", key, "-pubout"}).out;
  };
  for (const KeyPair* p : {&pki().a, &pki().a_rotated, &pki().b, &pki().wild, &pki().wrong,
                           &pki().expired, &pki().chain, &pki().client, &pki().rogue_client}) {
    std::string pub = cert_pub(p->cert);
    EXPECT_FALSE(pub.empty()) << p->cert;
    EXPECT_EQ(pub, key_pub(p->key)) << p->cert << " and " << p->key << " do not match";
  }
  EXPECT_FALSE(key_pub(pki().unmatched_key).empty());
  EXPECT_NE(key_pub(pki().unmatched_key), cert_pub(pki().a.cert));
  EXPECT_NE(cert_pub(pki().a_rotated.cert), cert_pub(pki().a.cert));
  EXPECT_NE(openssl({"x509", "-in", pki().not_pem, "-noout"}).exit_code, 0);
  EXPECT_EQ(FirstPemBlock(pki().chain.cert).find("-----BEGIN CERTIFICATE-----"), 0u);
}

TEST_F(TlsSelfCheck, CurlAndSClientAgainstOpensslServer) {
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().a}));
  int port = server.port();
  CurlResult r = Curl(HttpsTo(pki().ca, "a.test", port, "/x"));
  EXPECT_TRUE(CurlOk(r));
  EXPECT_NE(r.body.find(kServerPageMarker), std::string::npos) << r.Describe();
  EXPECT_NE(r.body.find("no client certificate available"), std::string::npos);
  // The IP address SAN.
  EXPECT_TRUE(
      CurlOk(Curl({"--cacert", pki().ca, "https://127.0.0.1:" + std::to_string(port) + "/"})));
  // Names and CAs that must not verify.
  r = Curl(HttpsTo(pki().ca, "wrong.test", port, "/"));
  EXPECT_TRUE(CurlGotNoResponse(r));
  EXPECT_EQ(r.exit_code, 60) << r.Describe();
  r = Curl(HttpsTo(pki().other_ca, "a.test", port, "/"));
  EXPECT_TRUE(CurlGotNoResponse(r));
  EXPECT_EQ(r.exit_code, 60) << r.Describe();

  SClientResult s =
      SClient(port, {"-servername", "a.test", "-CAfile", pki().ca}, CloseRequest("/", "a.test"));
  EXPECT_EQ(s.Subject(), "CN = a.test") << s.Describe();
  EXPECT_EQ(s.LeafPem(), FirstPemBlock(pki().a.cert)) << s.Describe();
  EXPECT_NE(s.out.find("Verify return code: 0 (ok)"), std::string::npos) << s.Describe();
  EXPECT_NE(s.out.find(kServerPageMarker), std::string::npos) << s.Describe();

  TlsServer expired;
  ASSERT_TRUE(expired.Start({.cert = pki().expired}));
  r = Curl(HttpsTo(pki().ca, "a.test", expired.port(), "/"));
  EXPECT_TRUE(CurlGotNoResponse(r));
  EXPECT_TRUE(ContainsNoCase(r.err, "expired")) << r.Describe();

  TlsServer chain;  // s_server sends the rest of the file only with -cert_chain
  ASSERT_TRUE(chain.Start({.cert = pki().chain, .extra = {"-cert_chain", pki().chain.cert}}));
  EXPECT_TRUE(CurlOk(Curl(HttpsTo(pki().ca, "chain.test", chain.port(), "/"))));
}

TEST_F(TlsSelfCheck, SniAndClientCertificatesAgainstOpensslServer) {
  TlsServer sni;
  ASSERT_TRUE(sni.Start(
      {.cert = pki().wrong,
       .extra = {"-servername", "b.test", "-cert2", pki().b.cert, "-key2", pki().b.key}}));
  SClientResult s = SClient(sni.port(), {"-servername", "b.test", "-CAfile", pki().ca},
                            CloseRequest("/", "b.test"));
  EXPECT_EQ(s.LeafPem(), FirstPemBlock(pki().b.cert)) << s.Describe();
  s = SClient(sni.port(), {"-servername", "other.test", "-CAfile", pki().ca},
              CloseRequest("/", "other.test"));
  EXPECT_EQ(s.LeafPem(), FirstPemBlock(pki().wrong.cert)) << s.Describe();
  EXPECT_TRUE(CurlOk(Curl(HttpsTo(pki().ca, "b.test", sni.port(), "/"))));

  TlsServer mtls;
  ASSERT_TRUE(mtls.Start({.cert = pki().a, .extra = RequireClientCert(pki())}));
  CurlResult r = Curl(Cat({"--cert", pki().client.cert, "--key", pki().client.key},
                          HttpsTo(pki().ca, "a.test", mtls.port(), "/")));
  EXPECT_TRUE(CurlOk(r));
  EXPECT_NE(r.body.find(kClientSubject), std::string::npos) << r.Describe();
  EXPECT_TRUE(CurlGotNoResponse(Curl(HttpsTo(pki().ca, "a.test", mtls.port(), "/"))));
  EXPECT_TRUE(CurlGotNoResponse(
      Curl(Cat({"--cert", pki().rogue_client.cert, "--key", pki().rogue_client.key},
               HttpsTo(pki().ca, "a.test", mtls.port(), "/")))));
}

TEST_F(TlsSelfCheck, ResumptionVersionAndAlpnOraclesAgainstOpensslServer) {
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().a, .extra = {"-alpn", "http/1.1"}}));
  TempDir dir;
  for (const std::string version : {"1_2", "1_3"}) {
    std::string want = "TLSv" + std::string(version == "1_2" ? "1.2" : "1.3");
    std::string sess = dir.path() + "/sess-" + version;
    std::vector<std::string> args = {"-servername", "a.test", "-CAfile", pki().ca,
                                     "-tls" + version};
    SClientResult first =
        SClient(server.port(), Cat(args, {"-sess_out", sess}), CloseRequest("/", "a.test"));
    EXPECT_EQ(first.Session(), "New, " + want) << first.Describe();
    SClientResult second =
        SClient(server.port(), Cat(args, {"-sess_in", sess}), CloseRequest("/", "a.test"));
    EXPECT_EQ(second.Session(), "Reused, " + want) << second.Describe();
  }
  SClientResult alpn = SClient(server.port(), {"-servername", "a.test", "-alpn", "h2,http/1.1"},
                               CloseRequest("/", "a.test"));
  EXPECT_EQ(alpn.Alpn(), "http/1.1") << alpn.Describe();

  // curl speaks TLS 1.1 to a server that allows it (so a refusal by the gateway is its own).
  TlsServer legacy;
  ASSERT_TRUE(
      legacy.Start({.cert = pki().a, .extra = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}}));
  CurlResult r = Curl(Cat(Cat({"--tlsv1.1", "--tls-max", "1.1"}, kLegacyCiphers),
                          HttpsTo(pki().ca, "a.test", legacy.port(), "/")));
  EXPECT_TRUE(CurlOk(r));
  SClientResult s = SClient(legacy.port(), {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"},
                            CloseRequest("/", "a.test"));
  EXPECT_EQ(s.Session(), "New, TLSv1.1") << s.Describe();
}

// The held connection of the reload test, against s_server's line-reversing mode, and
// s_server on a port probed beforehand (the health check test's).
TEST_F(TlsSelfCheck, HeldSClientConnectionAndProbedPort) {
  int probed = UnusedPort();
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().a, .port = probed, .mode = "-rev"}));
  EXPECT_EQ(server.port(), probed);
  Process held;
  ASSERT_TRUE(StartSClient(held, server.port(), {"-servername", "a.test", "-CAfile", pki().ca}));
  ASSERT_TRUE(held.WriteStdin("first line\n"));
  EXPECT_TRUE(held.WaitFor(Process::kStdout, "enil tsrif", kRequestTimeoutMs))
      << held.Output(Process::kStdout) << held.Output(Process::kStderr);
  ASSERT_TRUE(held.WriteStdin("second line\n"));
  EXPECT_TRUE(held.WaitFor(Process::kStdout, "enil dnoces", kRequestTimeoutMs))
      << held.Output(Process::kStdout) << held.Output(Process::kStderr);
  EXPECT_NE(held.Output(Process::kStdout).find(FirstPemBlock(pki().a.cert)), std::string::npos);
  held.CloseStdin();
  EXPECT_TRUE(held.WaitExit(5000).has_value());
  std::string out = server.Output();
  size_t connections = 0;
  for (size_t at = out.find("CONNECTION ESTABLISHED"); at != std::string::npos;
       at = out.find("CONNECTION ESTABLISHED", at + 1)) {
    ++connections;
  }
  EXPECT_EQ(connections, 1u) << out;
}

TEST_F(TlsSelfCheck, ClientHelloIsCaptured) {
  std::string hello;
  ASSERT_TRUE(CaptureClientHello("a.test", &hello));
  EXPECT_GT(hello.size(), 100u);
  EXPECT_NE(hello.find("a.test"), std::string::npos) << "no SNI in the ClientHello";
}

// The transfer checks of the TLS tests, through a plain listener.
TEST_F(TlsSelfCheck, FiveMegabytesThroughAPlainListener) {
  Stack stack;
  ASSERT_TRUE(stack.Start([](const Backend& b) {
    ConfigSpec spec;
    spec.apis = {StubApi(b)};
    return BuildConfig(spec);
  }));
  TempDir dir;
  std::string data;
  std::string file = RandomFile(dir, "up.bin", kBigBody, &data);
  std::string base = "http://127.0.0.1:" + std::to_string(stack.port());
  EXPECT_TRUE(UploadIntact({base + "/stub/sink"}, file, data));
  EXPECT_TRUE(DownloadIntact({base + "/stub/bytes/" + std::to_string(kBigBody)}, dir, kBigBody));
  // The check sees a difference.
  EXPECT_FALSE(
      DownloadIntact({base + "/stub/bytes/" + std::to_string(kBigBody - 1)}, dir, kBigBody));
}

// ======== the TLS listener ========

using TlsListenerTest = TlsTest;

TEST_F(TlsListenerTest, DefaultCertificateAndSniSelection) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw, {.tls = ListenerTls(pki().a, {{"b.test", pki().b}, {"*.wild.test", pki().wild}})}));
  struct Case {
    std::string sni;  // "": no SNI
    const KeyPair* want;
  };
  for (const Case& c :
       {Case{"a.test", &pki().a}, Case{"b.test", &pki().b}, Case{"x.wild.test", &pki().wild},
        Case{"other.test", &pki().a}, Case{"", &pki().a}}) {
    SClientResult s = SClientTls(gw, c.sni);
    EXPECT_EQ(s.LeafPem(), FirstPemBlock(c.want->cert))
        << "SNI \"" << c.sni << "\": served " << s.Subject() << "\n"
        << s.Describe();
    EXPECT_NE(s.out.find(kPingBody), std::string::npos) << "SNI \"" << c.sni << "\"\n"
                                                        << s.Describe();
  }
  for (const std::string name : {"a.test", "b.test", "x.wild.test"}) {
    EXPECT_TRUE(Pong(CurlTls(gw, name, "/ping"))) << name;
  }
  // No SNI (an IP address): the default certificate, valid for 127.0.0.1.
  EXPECT_TRUE(Pong(Curl(
      {"--cacert", pki().ca, "https://127.0.0.1:" + std::to_string(gw.port("tls")) + "/ping"})));
  // An unknown name gets the default certificate, which curl rightly refuses for that name.
  CurlResult r = CurlTls(gw, "other.test", "/ping");
  EXPECT_EQ(r.exit_code, 60) << r.Describe();
  // The plain listener beside it is unchanged.
  EXPECT_TRUE(HasStatus(Get(gw, "/ping"), 200));
}

TEST_F(TlsListenerTest, CertificateChainIsSent) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(pki().chain)}));
  // curl knows only the root: the intermediate must come from the gateway.
  EXPECT_TRUE(Pong(CurlTls(gw, "chain.test", "/ping")));
  SClientResult s = SClientTls(gw, "chain.test", {"-showcerts"});
  size_t certs = 0;
  for (size_t at = s.out.find("-----BEGIN CERTIFICATE-----"); at != std::string::npos;
       at = s.out.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++certs;
  }
  EXPECT_EQ(certs, 2u) << "leaf and intermediate\n" << s.Describe();
}

// A sample of the admin listener's /metrics ("name{labels}" exactly as exposed); -1: absent.
double MetricValue(Gateway& gw, const std::string& series) {
  auto r = HttpGet(gw.port("admin"), "/metrics");
  if (!r || r->status != 200) {
    return -1;
  }
  const size_t at = r->body.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::stod(r->body.substr(at + series.size() + 2));
}

TEST_F(TlsListenerTest, OnlyTls12AndTls13AreAccepted) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw, {.tls = ListenerTls(pki().a), .extra = R"("admin": {"address": "127.0.0.1:0"})"}));
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping", {"--tlsv1.2", "--tls-max", "1.2"})));
  EXPECT_EQ(SClientTls(gw, "a.test", {"-tls1_2"}).Session(), "New, TLSv1.2");
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping", {"--tlsv1.3", "--tls-max", "1.3"})));
  EXPECT_EQ(SClientTls(gw, "a.test", {"-tls1_3"}).Session(), "New, TLSv1.3");

  CurlResult r =
      CurlTls(gw, "a.test", "/ping", Cat({"--tlsv1.1", "--tls-max", "1.1"}, kLegacyCiphers));
  EXPECT_TRUE(CurlGotNoResponse(r)) << "TLS 1.1";
  r = CurlTls(gw, "a.test", "/ping", Cat({"--tlsv1.0", "--tls-max", "1.0"}, kLegacyCiphers));
  EXPECT_TRUE(CurlGotNoResponse(r)) << "TLS 1.0";
  SClientResult s = SClientTls(gw, "a.test", {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
  EXPECT_EQ(s.Session(), "") << "a TLS 1.1 handshake completed\n" << s.Describe();
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping")));
  // ringway_tls_handshakes_total: 5 completed, the 3 legacy attempts failed. The shards
  // publish their counts once per loop turn: poll.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (MetricValue(gw, R"(ringway_tls_handshakes_total{result="ok"})") != 5 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  EXPECT_EQ(MetricValue(gw, R"(ringway_tls_handshakes_total{result="ok"})"), 5);
  EXPECT_EQ(MetricValue(gw, R"(ringway_tls_handshakes_total{result="failed"})"), 3);
}

TEST_F(TlsListenerTest, AlpnSelectsHttp11Only) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(pki().a)}));
  CurlResult r = CurlTls(gw, "a.test", "/ping", {"--http2"});
  EXPECT_TRUE(Pong(r));
  EXPECT_EQ(r.http_version, "1.1") << r.Describe();
  SClientResult s = SClientTls(gw, "a.test", {"-alpn", "h2,http/1.1"});
  EXPECT_EQ(s.Alpn(), "http/1.1") << s.Describe();
  s = SClientTls(gw, "a.test", {"-alpn", "h2"});
  EXPECT_NE(s.Alpn(), "h2") << s.Describe();
}

class TlsResumptionTest : public TlsTest {
 protected:
  // A full handshake, then `rounds` resumed ones, each with the newest session s_client saved
  // (a resumed TLS 1.2 session may come without a new ticket: the previous one is used again).
  void ExpectResumes(const Gateway& gw, const std::string& version, int rounds) {
    TempDir dir;
    std::string want = version == "-tls1_2" ? "TLSv1.2" : "TLSv1.3";
    std::string sess = dir.path() + "/sess-0";
    SClientResult s = SClientTls(gw, "a.test", {version, "-sess_out", sess});
    ASSERT_EQ(s.Session(), "New, " + want) << s.Describe();
    ASSERT_NE(s.out.find(kPingBody), std::string::npos) << s.Describe();
    ASSERT_TRUE(std::filesystem::exists(sess))
        << want << ": the gateway issued no session (ticket or ID) to resume\n"
        << s.Describe();
    for (int i = 1; i <= rounds; ++i) {
      std::string next = dir.path() + "/sess-" + std::to_string(i);
      s = SClientTls(gw, "a.test", {version, "-sess_in", sess, "-sess_out", next});
      EXPECT_EQ(s.Session(), "Reused, " + want) << "resumption " << i << "\n" << s.Describe();
      EXPECT_NE(s.out.find(kPingBody), std::string::npos) << s.Describe();
      if (std::filesystem::exists(next)) {
        sess = next;
      }
    }
  }
};

TEST_F(TlsResumptionTest, SessionsResumeWithTls12AndTls13) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(pki().a), .shards = 1}));
  ExpectResumes(gw, "-tls1_2", 1);
  ExpectResumes(gw, "-tls1_3", 1);
}

// Connections land on either shard (the kernel spreads them): a session made on one resumes
// on the other.
TEST_F(TlsResumptionTest, SessionsResumeOnEveryShard) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(pki().a), .shards = 2}));
  ExpectResumes(gw, "-tls1_2", 6);
  ExpectResumes(gw, "-tls1_3", 6);
}

TEST_F(TlsListenerTest, ClientCertificateRequiredWithClientCa) {
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(pki().a, {}, pki().client_ca)}));
  std::vector<std::string> good = {"--cert", pki().client.cert, "--key", pki().client.key};
  std::vector<std::string> rogue = {"--cert", pki().rogue_client.cert, "--key",
                                    pki().rogue_client.key};
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping", good)));
  EXPECT_TRUE(CurlGotNoResponse(CurlTls(gw, "a.test", "/ping"))) << "no client certificate";
  EXPECT_TRUE(CurlGotNoResponse(CurlTls(gw, "a.test", "/ping", rogue))) << "another CA's";
  EXPECT_TRUE(CurlGotNoResponse(CurlTls(gw, "a.test", "/ping", Cat({"--tls-max", "1.2"}, rogue))))
      << "another CA's, TLS 1.2";
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping", Cat({"--tls-max", "1.2"}, good))));
  EXPECT_TRUE(gw.running());
}

// Plaintext, random bytes, half a ClientHello, a whole one and then silence: each connection is
// closed once client_header_timeout_ms has passed at the latest, and the only shard serves
// others meanwhile and after.
TEST_F(TlsListenerTest, HostileBytesAreClosedAndTheShardKeepsServing) {
  constexpr int kHeaderTimeoutMs = 1000;
  constexpr int kSlackMs = 2500;
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw, {.tls = ListenerTls(pki().a),
           .limits = "\"client_header_timeout_ms\": " + std::to_string(kHeaderTimeoutMs),
           .shards = 1}));
  std::string hello;
  ASSERT_TRUE(CaptureClientHello("a.test", &hello));
  std::string random(4096, '\0');
  std::mt19937 rng(7);
  for (char& c : random) {
    c = static_cast<char>(rng());
  }
  struct Hostile {
    std::string name;
    std::string bytes;
    bool server_hello;  // a whole ClientHello: the server answers before it waits
  };
  const std::vector<Hostile> cases = {
      {"plaintext HTTP request", "GET /ping HTTP/1.1\r\nHost: a.test\r\n\r\n", false},
      {"random bytes", random, false},
      {"half a ClientHello", hello.substr(0, hello.size() / 2), false},
      {"half a ClientHello (2)", hello.substr(0, hello.size() / 2), false},
      {"ClientHello, then silence", hello, true},
      {"ClientHello, then silence (2)", hello, true},
  };
  Clock::time_point start = Clock::now();
  std::vector<std::unique_ptr<Client>> conns;
  for (const Hostile& h : cases) {
    conns.push_back(std::make_unique<Client>(gw.port("tls"), kRequestTimeoutMs));
    ASSERT_TRUE(conns.back()->Connect()) << h.name;
    ASSERT_TRUE(conns.back()->Send(h.bytes)) << h.name;
  }
  // Meanwhile: the shard serves a real client.
  CurlResult during = CurlTls(gw, "a.test", "/ping");
  int64_t during_ms = MsSince(start);
  EXPECT_TRUE(Pong(during)) << "while the hostile connections are open";
  EXPECT_LT(during_ms, kHeaderTimeoutMs) << "curl took too long to show it was served meanwhile";

  for (size_t i = 0; i < cases.size(); ++i) {
    int left = static_cast<int>(kHeaderTimeoutMs + kSlackMs - MsSince(start));
    std::string got;
    EXPECT_TRUE(conns[i]->WaitClosed(left > 1 ? left : 1, &got))
        << cases[i].name << ": still open " << MsSince(start) << " ms after it was sent";
    if (cases[i].server_hello) {
      EXPECT_TRUE(!got.empty() && got[0] == 0x16)
          << cases[i].name << ": no handshake record came back (" << got.size() << " bytes)";
    } else {
      EXPECT_NE(got.rfind("HTTP/1.1 2", 0), 0u) << cases[i].name << ": answered " << got;
      EXPECT_NE(got.rfind("HTTP/1.0 2", 0), 0u) << cases[i].name << ": answered " << got;
    }
  }
  EXPECT_TRUE(gw.running());
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping"))) << "after the hostile connections";
  EXPECT_TRUE(HasStatus(Get(gw, "/ping"), 200));
}

TEST_F(TlsListenerTest, FiveMegabytesUpAndDownIntact) {
  Backend stub;
  ASSERT_TRUE(stub.Start("origin"));
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(pki().a), .apis = {StubApi(stub)}}));
  TempDir dir;
  std::string data;
  std::string file = RandomFile(dir, "up.bin", kBigBody, &data);
  int port = gw.port("tls");
  EXPECT_TRUE(UploadIntact(HttpsTo(pki().ca, "a.test", port, "/stub/sink"), file, data));
  EXPECT_TRUE(DownloadIntact(
      HttpsTo(pki().ca, "a.test", port, "/stub/bytes/" + std::to_string(kBigBody)), dir, kBigBody));
  EXPECT_TRUE(
      DownloadIntact(HttpsTo(pki().ca, "a.test", port, "/stub/chunked/" + std::to_string(kBigBody)),
                     dir, kBigBody));
}

TEST_F(TlsListenerTest, ReloadServesNewCertificateAndKeepsLiveConnection) {
  TempDir files;
  KeyPair live{files.WriteFile("live.crt", ReadFile(pki().a.cert)),
               files.WriteFile("live.key", ReadFile(pki().a.key))};
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.tls = ListenerTls(live)}));
  SClientResult before = SClientTls(gw, "a.test");
  ASSERT_EQ(before.LeafPem(), FirstPemBlock(pki().a.cert)) << before.Describe();

  // A keep-alive connection opened before the reload.
  Process held;
  ASSERT_TRUE(StartSClient(held, gw.port("tls"), {"-servername", "a.test", "-CAfile", pki().ca}));
  const std::string keep_alive = "GET /ping HTTP/1.1\r\nHost: a.test\r\n\r\n";
  auto pongs = [&] { return held.Count(Process::kStdout, kPingBody); };
  ASSERT_TRUE(held.WriteStdin(keep_alive));
  ASSERT_TRUE(PollUntil([&] { return pongs() == 1; }, kRequestTimeoutMs))
      << held.Output(Process::kStdout) << held.Output(Process::kStderr);

  // New files at the same paths, then SIGHUP.
  files.WriteFile("live.key", ReadFile(pki().a_rotated.key));
  files.WriteFile("live.crt", ReadFile(pki().a_rotated.cert));
  gw.Signal(SIGHUP);
  ASSERT_TRUE(gw.WaitLog("reload ok generation=", kReloadTimeoutMs)) << gw.LogTail();
  SClientResult after;
  EXPECT_TRUE(PollUntil(
      [&] {
        after = SClientTls(gw, "a.test");
        return after.LeafPem() == FirstPemBlock(pki().a_rotated.cert);
      },
      kPublishMs))
      << "new handshakes still get " << after.Subject() << "\n"
      << after.Describe();
  EXPECT_TRUE(Pong(CurlTls(gw, "a.test", "/ping")));

  // The connection from before the reload still answers.
  ASSERT_TRUE(held.WriteStdin(keep_alive)) << "the held connection is gone";
  EXPECT_TRUE(PollUntil([&] { return pongs() == 2; }, kRequestTimeoutMs))
      << "no answer on the connection opened before the reload:\n"
      << held.Output(Process::kStdout) << held.Output(Process::kStderr);
  std::string held_out = held.Output(Process::kStdout);
  EXPECT_NE(held_out.find(FirstPemBlock(pki().a.cert)), std::string::npos)
      << "the held connection's handshake was not with the first certificate";
  held.CloseStdin();
  EXPECT_TRUE(held.WaitExit(5000).has_value());
}

// ======== ringway check ========

class TlsConfigCheckTest : public TlsTest {
 protected:
  // `ringway check -c FILE`; stdout and stderr together in `output`.
  CommandResult Check(const std::string& config) {
    CommandResult r = RunRingway({"check", "-c", dir_.WriteFile("check.json", config)});
    output = r.out + r.err;
    return r;
  }
  // One listener, "tls" (listeners[0]), with `tls`, and `apis` after the ping API.
  static std::string ListenerConfig(const std::string& tls, std::vector<std::string> apis = {},
                                    const std::string& extra = "") {
    ConfigSpec spec;
    spec.listeners = {"tls"};
    spec.listener_tls = {{"tls", tls}};
    spec.apis = {PingApi()};
    spec.apis.insert(spec.apis.end(), apis.begin(), apis.end());
    spec.extra = extra;
    return BuildConfig(spec);
  }
  // A plain listener and apis[0] https to 127.0.0.1:9 with `client_ssl`.
  static std::string BackendConfig(const std::string& client_ssl) {
    ConfigSpec spec;
    spec.apis = {HttpsApi("tls", "127.0.0.1:9", {.client_ssl = client_ssl})};
    return BuildConfig(spec);
  }
  // `check` refused the config with an error naming `path`, and without "not supported".
  ::testing::AssertionResult RefusedAt(const CommandResult& r, const std::string& path) {
    if (r.exit_code != 1 || output.find(path) == std::string::npos ||
        output.find("not supported") != std::string::npos) {
      return ::testing::AssertionFailure()
             << "want exit 1 and an error at " << path << "; exit " << r.exit_code << ":\n"
             << output;
    }
    if (output.find("PRIVATE KEY") != std::string::npos) {
      return ::testing::AssertionFailure() << "key material printed:\n" << output;
    }
    return ::testing::AssertionSuccess();
  }

  TempDir dir_;
  std::string output;
};

TEST_F(TlsConfigCheckTest, ValidTlsConfigsPass) {
  std::string tls =
      ListenerTls(pki().a, {{"b.test", pki().b}, {"*.wild.test", pki().wild}}, pki().client_ca);
  ChannelSpec hc{"hc", "wrr", {{"127.0.0.1", 9}}, "", HttpsHealthCheck(ClientSsl(pki().ca))};
  std::vector<std::string> apis = {
      HttpsApi("mtls", "127.0.0.1:9", {.client_ssl = ClientSsl(pki().ca, &pki().client)}),
      HttpsApi("ca-only", "127.0.0.1:9", {.client_ssl = ClientSsl(pki().ca)}),
      HttpsApi("system-store", "127.0.0.1:9", {}),
      WithHttps(ChannelApi("hc", "/hc", "hc", R"("client_ssl":)" + ClientSsl(pki().ca))),
  };
  CommandResult r = Check(ListenerConfig(tls, apis, ChannelsMember({hc})));
  EXPECT_EQ(r.exit_code, 0) << output;
  EXPECT_EQ(output.find("error:"), std::string::npos) << output;
  EXPECT_EQ(output.find("PRIVATE KEY"), std::string::npos) << output;
  EXPECT_EQ(Check(ListenerConfig(ListenerTls(pki().chain))).exit_code, 0) << output;
}

TEST_F(TlsConfigCheckTest, MissingFilesNameTheirPath) {
  KeyPair missing_cert{dir_.path() + "/no-such.crt", pki().a.key};
  EXPECT_TRUE(
      RefusedAt(Check(ListenerConfig(ListenerTls(missing_cert))), "listeners[0].tls.certificate"));
  KeyPair missing_key{pki().a.cert, dir_.path() + "/no-such.key"};
  EXPECT_TRUE(
      RefusedAt(Check(ListenerConfig(ListenerTls(missing_key))), "listeners[0].tls.private_key"));
  EXPECT_TRUE(RefusedAt(Check(ListenerConfig(ListenerTls(pki().a, {{"b.test", missing_cert}}))),
                        "listeners[0].tls.sni[0].certificate"));
  EXPECT_TRUE(
      RefusedAt(Check(ListenerConfig(ListenerTls(pki().a, {}, dir_.path() + "/no-such-ca.crt"))),
                "listeners[0].tls.client_ca"));
}

TEST_F(TlsConfigCheckTest, KeyThatDoesNotMatchItsCertificateNamesItsPath) {
  KeyPair mismatched{pki().a.cert, pki().unmatched_key};
  EXPECT_TRUE(
      RefusedAt(Check(ListenerConfig(ListenerTls(mismatched))), "listeners[0].tls.private_key"));
  EXPECT_TRUE(RefusedAt(Check(ListenerConfig(ListenerTls(pki().a, {{"b.test", mismatched}}))),
                        "listeners[0].tls.sni[0].private_key"));
  // Another certificate's key.
  KeyPair crossed{pki().a.cert, pki().b.key};
  EXPECT_TRUE(
      RefusedAt(Check(ListenerConfig(ListenerTls(crossed))), "listeners[0].tls.private_key"));
}

TEST_F(TlsConfigCheckTest, UnparsablePemNamesItsPath) {
  EXPECT_TRUE(RefusedAt(Check(ListenerConfig(ListenerTls({pki().not_pem, pki().a.key}))),
                        "listeners[0].tls.certificate"));
  EXPECT_TRUE(RefusedAt(Check(ListenerConfig(ListenerTls({pki().a.cert, pki().not_pem}))),
                        "listeners[0].tls.private_key"));
  EXPECT_TRUE(RefusedAt(Check(ListenerConfig(ListenerTls(pki().a, {}, pki().not_pem))),
                        "listeners[0].tls.client_ca"));
  std::string text_file = dir_.WriteFile("text.pem", "just some text\n");
  EXPECT_TRUE(RefusedAt(Check(ListenerConfig(ListenerTls({text_file, pki().a.key}))),
                        "listeners[0].tls.certificate"));
}

TEST_F(TlsConfigCheckTest, BackendClientSslFilesNameTheirPath) {
  EXPECT_TRUE(RefusedAt(Check(BackendConfig(ClientSsl(dir_.path() + "/no-such-ca.crt"))),
                        "apis[0].backend.client_ssl.ca"));
  EXPECT_TRUE(
      RefusedAt(Check(BackendConfig(ClientSsl(pki().not_pem))), "apis[0].backend.client_ssl.ca"));
  KeyPair mismatched{pki().client.cert, pki().unmatched_key};
  EXPECT_TRUE(RefusedAt(Check(BackendConfig(ClientSsl(pki().ca, &mismatched))),
                        "apis[0].backend.client_ssl.private_key"));
}

// ======== https backends ========

using TlsBackendTest = TlsTest;

TEST_F(TlsBackendTest, VerifiedBackendAnswers) {
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().a}));
  std::string ca = ClientSsl(pki().ca);
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw,
      {.apis = {HttpsApi("by-ip", server.address(), {.client_ssl = ca}),
                HttpsApi("by-name", server.address(), {.client_ssl = ca, .host_header = "a.test"}),
                HttpsApi("by-localhost", server.address(),
                         {.client_ssl = ca, .host_header = "localhost"})}}));
  for (const std::string target : {"/by-ip/x", "/by-name/x", "/by-localhost/x"}) {
    std::optional<Response> r = Get(gw, target);
    EXPECT_TRUE(ServerPage(r)) << target;
    if (r) {
      EXPECT_NE(r->body.find("no client certificate available"), std::string::npos) << target;
    }
  }
}

// s_server serves b.test's certificate only for SNI b.test, else wrong.test's: an answer proves
// that host_header was sent as SNI and verified.
TEST_F(TlsBackendTest, HostHeaderIsTheSniAndTheVerifiedName) {
  TlsServer server;
  ASSERT_TRUE(server.Start(
      {.cert = pki().wrong,
       .extra = {"-servername", "b.test", "-cert2", pki().b.cert, "-key2", pki().b.key}}));
  std::string ca = ClientSsl(pki().ca);
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw,
      {.apis = {HttpsApi("sni-b", server.address(), {.client_ssl = ca, .host_header = "b.test"}),
                HttpsApi("sni-a", server.address(), {.client_ssl = ca, .host_header = "a.test"}),
                HttpsApi("no-host", server.address(), {.client_ssl = ca})}}));
  EXPECT_TRUE(ServerPage(Get(gw, "/sni-b/x")));
  // wrong.test's certificate for a.test, and for 127.0.0.1.
  EXPECT_TRUE(BackendHandshakeFails(gw, "/sni-a/x", kNameReasons));
  EXPECT_TRUE(BackendHandshakeFails(gw, "/no-host/x", kNameReasons));
  EXPECT_TRUE(ServerPage(Get(gw, "/sni-b/again")));
}

TEST_F(TlsBackendTest, ExpiredCertificateIs502) {
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().expired}));
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw, {.apis = {HttpsApi("old-cert", server.address(), {.client_ssl = ClientSsl(pki().ca)})}}));
  EXPECT_TRUE(BackendHandshakeFails(gw, "/old-cert/x", kExpiredReasons));
}

TEST_F(TlsBackendTest, UnknownCaIs502) {
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().a}));
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw,
      {.apis = {HttpsApi("other-ca", server.address(), {.client_ssl = ClientSsl(pki().other_ca)}),
                // No client_ssl: the system store, which does not hold the test CA.
                HttpsApi("system-store", server.address(), {})}}));
  EXPECT_TRUE(BackendHandshakeFails(gw, "/other-ca/x", kUnknownCaReasons));
  EXPECT_TRUE(BackendHandshakeFails(gw, "/system-store/x", kUnknownCaReasons));
}

TEST_F(TlsBackendTest, ClientCertificatePresentedWhenConfigured) {
  // Both require a client certificate of the client CA; one only speaks TLS 1.2 (where the
  // refusal is part of the handshake).
  std::vector<std::string> require = RequireClientCert(pki());
  TlsServer tls13;
  ASSERT_TRUE(tls13.Start({.cert = pki().a, .extra = require}));
  TlsServer tls12;
  ASSERT_TRUE(tls12.Start({.cert = pki().a, .extra = Cat(require, {"-no_tls1_3"})}));
  std::string with_cert = ClientSsl(pki().ca, &pki().client);
  std::string rogue = ClientSsl(pki().ca, &pki().rogue_client);
  std::string without = ClientSsl(pki().ca);
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.apis = {
                                    HttpsApi("mtls13", tls13.address(), {.client_ssl = with_cert}),
                                    HttpsApi("mtls12", tls12.address(), {.client_ssl = with_cert}),
                                    HttpsApi("nocert13", tls13.address(), {.client_ssl = without}),
                                    HttpsApi("nocert12", tls12.address(), {.client_ssl = without}),
                                    HttpsApi("rogue12", tls12.address(), {.client_ssl = rogue}),
                                }}));
  for (const std::string target : {"/mtls13/x", "/mtls12/x"}) {
    std::optional<Response> r = Get(gw, target);
    EXPECT_TRUE(ServerPage(r)) << target;
    if (r) {
      EXPECT_NE(r->body.find(kClientSubject), std::string::npos)
          << target << ": the server saw no client certificate:\n"
          << r->body.substr(0, 2000);
    }
  }
  EXPECT_TRUE(BackendHandshakeFails(gw, "/nocert12/x", kAlertReasons));
  EXPECT_TRUE(BackendHandshakeFails(gw, "/rogue12/x", kAlertReasons));
  // TLS 1.3: the server refuses after the client's Finished; still a gateway 502.
  EXPECT_TRUE(IsGatewayError(Get(gw, "/nocert13/x"), 502));
  EXPECT_TRUE(ServerPage(Get(gw, "/mtls13/again")));
}

// Gateway B listens plain ("main") and TLS ("tls"); gateway A reaches each with each protocol.
// Were a pooled connection of one protocol reused for the other, a mismatched request would
// get through.
TEST_F(TlsBackendTest, PlainAndTlsPoolsNeverMix) {
  Backend stub;
  ASSERT_TRUE(stub.Start("origin"));
  Gateway b;
  ASSERT_TRUE(StartGateway(b, {.tls = ListenerTls(pki().a),
                               .apis = {StubApi(stub)},
                               .limits = R"("client_header_timeout_ms": 1000)"}));
  std::string b_plain = "127.0.0.1:" + std::to_string(b.port("main"));
  std::string b_tls = "127.0.0.1:" + std::to_string(b.port("tls"));
  std::string ca = ClientSsl(pki().ca);
  Gateway a;
  ASSERT_TRUE(StartGateway(a, {.apis = {
                                   HttpsApi("tt", b_tls, {.client_ssl = ca}, "/stub/tt"),
                                   PlainApi("tp", b_tls, "/stub/tp"),
                                   PlainApi("pp", b_plain, "/stub/pp"),
                                   HttpsApi("pt", b_plain, {.client_ssl = ca}, "/stub/pt"),
                               }}));
  Client c(a.port("main"), kRequestTimeoutMs);
  auto send = [&](const std::string& target) {
    std::optional<Response> r = c.Get(target);
    if (!r || r->Header("connection") == "close") {
      c.Close();
    }
    return r;
  };
  for (int i = 0; i < 3; ++i) {
    std::string n = "/" + std::to_string(i);
    // Each order: a pooled connection of the other protocol is there to be misused.
    for (const std::string api : {"tt", "tp", "pp", "pt", "tt", "pt", "pp", "tp"}) {
      std::optional<Response> r = send("/" + api + n);
      if (api == "tt" || api == "pp") {
        EXPECT_TRUE(EchoedTarget(r, "/stub/" + api + n)) << api << n;
      } else if (api == "pt") {
        EXPECT_TRUE(IsGatewayError(r, 502)) << "https to a plain listener: " << api << n;
        if (r) {
          EXPECT_EQ(JsonString(r->body, "/error_code").value_or(""), "RW.5260") << r->body;
        }
      } else {
        EXPECT_TRUE(IsGatewayError(r, 502)) << "plain http to a TLS listener: " << api << n;
      }
    }
  }
  EXPECT_EQ(stub.RequestCount(" /stub/tp/"), 0u);
  EXPECT_EQ(stub.RequestCount(" /stub/pt/"), 0u);
  EXPECT_TRUE(Counted(stub, " /stub/tt/", 6));
  EXPECT_TRUE(Counted(stub, " /stub/pp/", 6));
}

// curl -> A (plain) -> https -> B (TLS, client_ca; A presents its client certificate) -> stub.
TEST_F(TlsBackendTest, FiveMegabytesThroughMutualTlsBetweenTwoGateways) {
  Backend stub;
  ASSERT_TRUE(stub.Start("origin"));
  Gateway b;
  ASSERT_TRUE(
      StartGateway(b, {.tls = ListenerTls(pki().a, {}, pki().client_ca), .apis = {StubApi(stub)}}));
  std::string b_tls = "127.0.0.1:" + std::to_string(b.port("tls"));
  Gateway a;
  ASSERT_TRUE(StartGateway(
      a, {.apis = {
              HttpsApi("chain", b_tls, {.client_ssl = ClientSsl(pki().ca, &pki().client)}, "/stub"),
              HttpsApi("nocert", b_tls, {.client_ssl = ClientSsl(pki().ca)}, "/stub")}}));
  ASSERT_TRUE(EchoedTarget(Get(a, "/chain/echo/x"), "/stub/echo/x"));
  EXPECT_TRUE(IsGatewayError(Get(a, "/nocert/echo/x"), 502)) << "B let A in without a certificate";
  EXPECT_TRUE(Counted(stub, " /stub/echo/x", 1));

  TempDir dir;
  std::string data;
  std::string file = RandomFile(dir, "up.bin", kBigBody, &data);
  std::string base = "http://127.0.0.1:" + std::to_string(a.port("main"));
  EXPECT_TRUE(UploadIntact({base + "/chain/sink"}, file, data));
  EXPECT_TRUE(DownloadIntact({base + "/chain/bytes/" + std::to_string(kBigBody)}, dir, kBigBody));
  EXPECT_TRUE(a.running());
  EXPECT_TRUE(b.running());
}

// The session of a backend connection is offered on the next one: s_server closes after each
// answer (HTTP/1.0) and says on its page whether the handshake was "New" or "Reused".
TEST_F(TlsBackendTest, ReconnectsResumeTheBackendSession) {
  TlsServer server;
  ASSERT_TRUE(server.Start({.cert = pki().a}));
  Gateway gw;
  ASSERT_TRUE(StartGateway(
      gw, {.apis = {HttpsApi("s", server.address(),
                             {.client_ssl = ClientSsl(pki().ca), .host_header = "a.test"})},
           .shards = 1}));
  std::optional<Response> first = Get(gw, "/s/1");
  ASSERT_TRUE(ServerPage(first));
  EXPECT_NE(first->body.find("New, TLS"), std::string::npos) << first->body;
  for (int i = 2; i <= 3; ++i) {
    std::optional<Response> again = Get(gw, "/s/" + std::to_string(i));
    ASSERT_TRUE(ServerPage(again));
    EXPECT_NE(again->body.find("Reused, TLS"), std::string::npos) << again->body;
  }
}

// A cascade backend over https (docs/cascade.md, docs/tls.md): A signs each attempt and
// sends it inside TLS to B's TLS listener; B checks the signature, so its App-auth API passes
// without an App signature; the cascade headers never reach the stub.
TEST_F(TlsBackendTest, CascadeOverHttps) {
  Backend stub;
  ASSERT_TRUE(stub.Start("origin"));
  const std::string key = R"("auth_key":"cascade-key-0123456789abcdef")";
  Gateway b;
  ASSERT_TRUE(StartGateway(b, {.tls = ListenerTls(pki().a),
                               .apis = {ProxyApi("app", "ANY", "/app", stub.address(), "/stub",
                                                 R"("match_mode":"prefix","auth_type":"app")")},
                               .extra = R"("apps":[{"name":"x","app_key":"k","app_secret":"s"}])",
                               .instance = R"({"id":"gw-b","cascade":{"enabled":true,)" + key +
                                           R"(,"allowed_instances":["gw-a"]}})"}));
  std::string b_tls = "127.0.0.1:" + std::to_string(b.port("tls"));
  Gateway a;
  ASSERT_TRUE(
      StartGateway(a, {.apis = {HttpsApi("front", b_tls,
                                         {.client_ssl = ClientSsl(pki().ca),
                                          .host_header = "a.test",
                                          .extra = R"("cascade":true)"},
                                         "/app")},
                       .instance = R"({"id":"gw-a","cascade":{"enabled":true,)" + key + "}}"}));
  std::optional<Response> r = Get(a, "/front/echo/x");
  ASSERT_TRUE(EchoedTarget(r, "/stub/echo/x"));
  EXPECT_EQ(r->body.find("x-ringway-cascade"), std::string::npos) << "cascade headers forwarded";
  EXPECT_NE(r->body.find(R"("x-forwarded-proto":"https")"), std::string::npos) << r->body;
  // The same API of B without the cascade signature: App authentication applies.
  std::optional<Response> direct = Get(b, "/app/echo/x");
  EXPECT_TRUE(IsGatewayError(direct, 401));
  EXPECT_TRUE(Counted(stub, " /stub/echo/x", 1));
}

// ======== https health checks ========

// Two s_servers on probed ports, started only once the gateway has marked every member down
// (nothing listening): members checked with the right CA (and, for the server that requires
// one, a client certificate) come up; those checked with an unrelated CA or without the
// client certificate stay down.
using TlsHealthCheckTest = TlsTest;

TEST_F(TlsHealthCheckTest, HttpsChecksFollowVerification) {
  int plain_port = UnusedPort();
  int mtls_port = UnusedPort();
  while (mtls_port == plain_port) {
    mtls_port = UnusedPort();
  }
  auto channel = [](const std::string& name, int port, const std::string& client_ssl) {
    return ChannelSpec{name, "wrr", {{"127.0.0.1", port}}, "", HttpsHealthCheck(client_ssl)};
  };
  std::vector<ChannelSpec> channels = {
      channel("good", plain_port, ClientSsl(pki().ca)),
      channel("bad", plain_port, ClientSsl(pki().other_ca)),
      channel("mtls", mtls_port, ClientSsl(pki().ca, &pki().client)),
      channel("nocert", mtls_port, ClientSsl(pki().ca)),
  };
  // Traffic always presents the client certificate and trusts the test CA.
  std::string traffic_ssl = R"("retry_count":0,"client_ssl":)" + ClientSsl(pki().ca, &pki().client);
  std::vector<std::string> apis;
  for (const ChannelSpec& c : channels) {
    apis.push_back(WithHttps(ChannelApi(c.name, "/" + c.name, c.name, traffic_ssl)));
  }
  Gateway gw;
  ASSERT_TRUE(StartGateway(gw, {.apis = apis, .extra = ChannelsMember(channels)}));
  auto line = [](const std::string& channel, int port, const std::string& what) {
    return "health: channel " + channel + " member 127.0.0.1:" + std::to_string(port) + " " + what;
  };
  for (const ChannelSpec& c : channels) {
    ASSERT_TRUE(gw.WaitLog(line(c.name, c.members[0].port, "down"), kTransitionMs))
        << c.name << " not marked down while nothing listens:\n"
        << gw.LogTail();
  }

  size_t mark = gw.Log().size();
  TlsServer plain;
  ASSERT_TRUE(plain.Start({.cert = pki().a, .port = plain_port}));
  TlsServer mtls;
  ASSERT_TRUE(mtls.Start({.cert = pki().a, .extra = RequireClientCert(pki()), .port = mtls_port}));
  EXPECT_TRUE(gw.WaitLog(line("good", plain_port, "up"), kTransitionMs)) << gw.LogTail();
  EXPECT_TRUE(gw.WaitLog(line("mtls", mtls_port, "up"), kTransitionMs)) << gw.LogTail();

  // The others failed their checks since, and not for want of a listener.
  for (const auto& [name, port] : {std::pair<std::string, int>{"bad", plain_port},
                                   std::pair<std::string, int>{"nocert", mtls_port}}) {
    EXPECT_FALSE(gw.LogContains(line(name, port, "up"))) << gw.LogTail();
    std::string since = gw.Log().substr(mark);
    std::istringstream lines(since);
    std::string l;
    int tls_failures = 0;
    while (std::getline(lines, l)) {
      if (l.find(line(name, port, "check failed")) != std::string::npos &&
          l.find("refused") == std::string::npos) {
        ++tls_failures;
      }
    }
    EXPECT_GE(tls_failures, 1) << name << ": no failed check once the server listened:\n" << since;
  }

  std::optional<Response> r;
  EXPECT_TRUE(PollUntil(
      [&] {
        r = Get(gw, "/good/x");
        return r && r->status == 200;
      },
      kPublishMs));
  EXPECT_TRUE(ServerPage(r));
  EXPECT_TRUE(PollUntil(
      [&] {
        r = Get(gw, "/mtls/x");
        return r && r->status == 200;
      },
      kPublishMs));
  EXPECT_TRUE(ServerPage(r));
  EXPECT_TRUE(IsGatewayError(Get(gw, "/bad/x"), 503));
  EXPECT_TRUE(IsGatewayError(Get(gw, "/nocert/x"), 503));
}

}  // namespace
}  // namespace ringway::integration
