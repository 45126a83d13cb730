// Issue 14, App authentication (CONFIG.md "apps", `auth_type`): requests signed by the seed
// product's own Node SDK (npm @huaweicloud/huaweicloud-sdk-core, pinned by tools/sdk-signer,
// driven by sdk_signer/sign.js) pass an `auth_type: "app"` API — GET with repeated and
// percent-encoded query parameters and an encoded path segment, POST with a JSON body,
// UNSIGNED-PAYLOAD with a large body — and every tampered variant is refused with 401, a JSON
// body and its own error code, without reaching the backend: RW.4011 no Authorization, RW.4012
// malformed, RW.4013 unknown app key, RW.4014 bad signature, RW.4015 X-Sdk-Date more than 15
// minutes off. `ringway sign` prints the headers a curl user adds. The app secret never
// appears in the gateway's log.
//
// Environment (tests/integration/meson.build): NODE_BIN, SDK_SIGNER_JS, SDK_SIGNER_MODULES
// (tools/sdk-signer installs the package; tools/setup --test runs it), CURL_BIN.
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

#include "harness.h"

namespace ringway::integration {
namespace {

constexpr std::string_view kAppKey = "k-123";
constexpr std::string_view kAppSecret = "s3cret-s3cret";
constexpr int kRequestTimeoutMs = 10000;
constexpr int kToolTimeoutMs = 30000;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// X-Sdk-Date ("YYYYMMDDTHHMMSSZ", UTC) for now + offset.
std::string SdkDate(std::chrono::seconds offset) {
  std::time_t t = std::time(nullptr) + static_cast<std::time_t>(offset.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// ---- the SDK signer (sdk_signer/sign.js) ----

struct SignJob {
  std::string method = "GET";
  std::string path;        // the path as sent, e.g. "/app/x/a%20b" (no query)
  std::string query_json;  // the SDK's queryParams as a JSON object (decoded values), or empty
  HeaderList headers;      // extra headers to sign (and send)
  std::string data_json;   // the request body as a JSON value (sent as JSON.stringify), or empty
  std::string ak = std::string(kAppKey);
  std::string sk = std::string(kAppSecret);
  std::string date;  // X-Sdk-Date; empty: the signer's clock
  bool unsigned_payload = false;
};

struct Signed {
  HeaderList headers;  // every header to send, as the SDK made them (Authorization included)
  std::string body;    // the exact body bytes to send
};

std::string JobJson(int port, const SignJob& job) {
  std::string headers;
  for (const auto& [name, value] : job.headers) {
    headers += (headers.empty() ? "" : ",") + JsonQuote(name) + ":" + JsonQuote(value);
  }
  std::string out = "{\"method\":" + JsonQuote(job.method) +
                    ",\"url\":" + JsonQuote("http://127.0.0.1:" + std::to_string(port) + job.path) +
                    ",\"headers\":{" + headers + "},\"ak\":" + JsonQuote(job.ak) +
                    ",\"sk\":" + JsonQuote(job.sk) +
                    ",\"unsigned\":" + (job.unsigned_payload ? "true" : "false");
  if (!job.query_json.empty()) {
    out += ",\"query\":" + job.query_json;
  }
  if (!job.data_json.empty()) {
    out += ",\"data\":" + job.data_json;
  }
  if (!job.date.empty()) {
    out += ",\"date\":" + JsonQuote(job.date);
  }
  return out + "}";
}

// Whether the seed SDK's npm package is installed (tools/sdk-signer). The registry may be out
// of reach (an egress proxy whose CA a fresh machine lacks): then the tests that sign with the
// SDK are skipped, loudly, and the ones signing with `ringway sign` (whose signer unit_auth
// checks against vectors the SDK made) still run.
bool SdkSignerInstalled() {
  const std::string modules = Env("SDK_SIGNER_MODULES");
  return !modules.empty() &&
         access((modules + "/@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner.js").c_str(),
                R_OK) == 0;
}

#define REQUIRE_SDK_SIGNER()                                                               \
  if (!SdkSignerInstalled()) {                                                             \
    GTEST_SKIP() << "the seed SDK's npm package is not installed (tools/sdk-signer could " \
                    "not reach the npm registry): this interop test needs it";             \
  }

// Signs `job` for the gateway at 127.0.0.1:port with the npm package's AKSKSigner.
::testing::AssertionResult Sign(int port, const SignJob& job, Signed* out) {
  std::string node = Env("NODE_BIN");
  std::string script = Env("SDK_SIGNER_JS");
  if (node.empty() || script.empty()) {
    return ::testing::AssertionFailure()
           << "NODE_BIN / SDK_SIGNER_JS not set: run through meson test, with nodejs installed "
              "(tools/setup --test) before meson setup";
  }
  TempDir dir;
  std::string job_file = dir.WriteFile("job.json", JobJson(port, job));
  CommandResult r = RunCommand({node, script, job_file}, kToolTimeoutMs);
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure() << "sign.js failed (exit " << r.exit_code
                                         << "; SDK_SIGNER_MODULES=" << Env("SDK_SIGNER_MODULES")
                                         << ", installed by tools/sdk-signer): " << r.err;
  }
  simdjson::dom::parser parser;
  simdjson::padded_string text(r.out);
  simdjson::dom::element doc;
  simdjson::dom::object headers;
  std::string_view body;
  if (parser.parse(text).get(doc) != simdjson::SUCCESS ||
      doc["headers"].get_object().get(headers) != simdjson::SUCCESS ||
      doc["body"].get_string().get(body) != simdjson::SUCCESS) {
    return ::testing::AssertionFailure()
           << "sign.js printed no {headers, body}: " << r.out.substr(0, 500);
  }
  out->headers.clear();
  for (auto field : headers) {
    std::string_view value;
    if (field.value.get_string().get(value) != simdjson::SUCCESS) {
      return ::testing::AssertionFailure() << "header " << field.key << " is not a string";
    }
    out->headers.emplace_back(std::string(field.key), std::string(value));
  }
  out->body = std::string(body);
  if (FindHeader(out->headers, "authorization") == nullptr) {
    return ::testing::AssertionFailure() << "sign.js made no Authorization: " << r.out;
  }
  return ::testing::AssertionSuccess();
}

HeaderList With(HeaderList headers, std::string_view name, std::string_view value) {
  for (auto& [n, v] : headers) {
    if (IEquals(n, name)) {
      v = std::string(value);
      return headers;
    }
  }
  headers.emplace_back(std::string(name), std::string(value));
  return headers;
}

HeaderList Without(const HeaderList& headers, std::string_view name) {
  HeaderList out;
  for (const auto& h : headers) {
    if (!IEquals(h.first, name)) {
      out.push_back(h);
    }
  }
  return out;
}

// The parts of "Name: value" lines (as `ringway sign` prints them).
HeaderList ParseHeaderLines(std::string_view text) {
  HeaderList out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? "" : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    out.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return out;
}

struct CurlResult {
  ::testing::AssertionResult ran = ::testing::AssertionFailure();
  int status = 0;
  std::string body;
};

// Runs curl with `args` and returns the status and body of its response.
CurlResult Curl(const std::vector<std::string>& args) {
  CurlResult out;
  std::string curl = Env("CURL_BIN");
  if (curl.empty()) {
    out.ran = ::testing::AssertionFailure() << "CURL_BIN not set (curl not found by meson)";
    return out;
  }
  std::vector<std::string> argv = {curl, "-sS", "--max-time", "10", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, kToolTimeoutMs);
  size_t nl = r.out.rfind('\n');
  if (r.exit_code != 0 || nl == std::string::npos) {
    out.ran = ::testing::AssertionFailure()
              << "curl failed (exit " << r.exit_code << "): " << r.err << r.out;
    return out;
  }
  out.status = std::atoi(r.out.c_str() + nl + 1);
  out.body = r.out.substr(0, nl);
  out.ran = ::testing::AssertionSuccess();
  return out;
}

class AppAuthTest : public SharedStackTest<AppAuthTest> {
 public:
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.extra = R"("apps": [{"name": "web", "app_key": )" + JsonQuote(kAppKey) +
                 R"(, "app_secret": )" + JsonQuote(kAppSecret) + "}]";
    spec.apis = {
        ProxyApi("app_api", "ANY", "/app", b.address(), "/app",
                 R"("match_mode":"prefix","auth_type":"app")", R"("retry_count":0)"),
        ProxyApi("open_api", "ANY", "/open", b.address(), "/open",
                 R"("match_mode":"prefix","auth_type":"none")", R"("retry_count":0)"),
        MockApi("app_mock", "ANY", "/appmock", "mocked",
                R"("match_mode":"prefix","auth_type":"app")"),
    };
    return BuildConfig(spec);
  }

 protected:
  static std::optional<Response> Send(std::string_view method, std::string_view target,
                                      const HeaderList& headers, std::string_view body = "") {
    Client c(port(), kRequestTimeoutMs);
    return c.Request(method, target, headers, body);
  }

  // Signs `job` and sends it as signed (to job.path + query_suffix).
  static std::optional<Response> SignAndSend(const SignJob& job, std::string_view query = "") {
    Signed s;
    EXPECT_TRUE(Sign(port(), job, &s));
    std::string target = job.path + (query.empty() ? "" : "?" + std::string(query));
    return Send(job.method, target, s.headers, s.body);
  }

  // A 401 gateway JSON error with `code`.
  static ::testing::AssertionResult Refused(const std::optional<Response>& r,
                                            std::string_view code) {
    return IsGatewayError(r, 401, code);
  }

  // No request under /app/<marker>/ reached the backend: a later request (/open/<marker>/)
  // is waited for first, so one still on its way would have been logged.
  static ::testing::AssertionResult NotReached(std::string_view marker) {
    std::string probe = "/open/" + std::string(marker) + "/probe";
    std::optional<Response> r = Send("GET", probe, {});
    if (!EchoedTarget(r, probe) || !backend().WaitRequest(probe, 5000)) {
      return ::testing::AssertionFailure() << "probe " << probe << " did not reach the backend";
    }
    std::string needle = " /app/" + std::string(marker) + "/";
    if (size_t n = backend().RequestCount(needle); n != 0) {
      return ::testing::AssertionFailure()
             << n << " request(s) under" << needle << " reached the backend";
    }
    return ::testing::AssertionSuccess();
  }

  static SignJob Get(std::string path) {
    SignJob job;
    job.path = std::move(path);
    return job;
  }

  static SignJob PostJson(std::string path, std::string data_json) {
    SignJob job;
    job.method = "POST";
    job.path = std::move(path);
    job.headers = {{"Content-Type", "application/json"}};
    job.data_json = std::move(data_json);
    return job;
  }
};

// ---- accepted ----

TEST_F(AppAuthTest, SignedGetWithRepeatedAndEncodedQueryAndEncodedPath) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/get-q/a%20b/x");
  job.query_json = R"({"a":["1","0"],"b":"x y","c":"中"})";
  const std::string query = "a=1&a=0&b=x%20y&c=%E4%B8%AD";
  std::optional<Response> r = SignAndSend(job, query);
  ASSERT_TRUE(EchoedTarget(r, "/app/get-q/a%20b/x?" + query));
  EXPECT_EQ(EchoField(*r, "method"), "GET");
  EXPECT_TRUE(Counted(backend(), " /app/get-q/", 1));
}

TEST_F(AppAuthTest, SignedGetWithoutQuery) {
  REQUIRE_SDK_SIGNER();
  std::optional<Response> r = SignAndSend(Get("/app/get-plain/item"));
  ASSERT_TRUE(EchoedTarget(r, "/app/get-plain/item"));
}

TEST_F(AppAuthTest, SignedPostWithJsonBody) {
  REQUIRE_SDK_SIGNER();
  SignJob job = PostJson("/app/post-json/orders",
                         R"({"order":{"id":42,"items":["a","b"],"note":"héllo \"x\""},"n":1.5})");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  ASSERT_FALSE(s.body.empty());
  std::optional<Response> r = Send("POST", job.path, s.headers, s.body);
  ASSERT_TRUE(EchoedTarget(r, "/app/post-json/orders"));
  EXPECT_EQ(EchoField(*r, "method"), "POST");
  EXPECT_EQ(JsonInt(r->body, "/body_length"), static_cast<int64_t>(s.body.size()));
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(s.body));
}

TEST_F(AppAuthTest, LargeSignedBodyIsHeldVerifiedAndForwardedWhole) {
  REQUIRE_SDK_SIGNER();
  // 1 MiB: far more than one receive buffer, so the held body's buffer grows while it comes.
  std::string blob(1024 * 1024, 'y');
  for (size_t i = 0; i < blob.size(); i += 89) {
    blob[i] = static_cast<char>('a' + (i / 89) % 26);
  }
  SignJob job = PostJson("/app/held/upload", "{\"blob\":\"" + blob + "\"}");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  std::optional<Response> r = Send("POST", job.path, s.headers, s.body);
  ASSERT_TRUE(EchoedTarget(r, "/app/held/upload"));
  EXPECT_EQ(JsonInt(r->body, "/body_length"), static_cast<int64_t>(s.body.size()));
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(s.body));
  // The same request with one byte of the body changed near its end: refused, not sent.
  SignJob job2 = PostJson("/app/held2/upload", "{\"blob\":\"" + blob + "\"}");
  ASSERT_TRUE(Sign(port(), job2, &s));
  s.body[s.body.size() - 10] ^= 1;
  EXPECT_TRUE(Refused(Send("POST", job2.path, s.headers, s.body), "RW.4014"));
  EXPECT_TRUE(NotReached("held2"));
}

TEST_F(AppAuthTest, MockAppApiAnswersOnlyAfterTheBodyIsVerified) {
  REQUIRE_SDK_SIGNER();
  SignJob job = PostJson("/appmock/a", R"({"x":1})");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  std::optional<Response> r = Send("POST", job.path, s.headers, s.body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "mocked");
  std::string tampered = s.body;
  tampered[tampered.size() - 2] = '2';
  EXPECT_TRUE(Refused(Send("POST", job.path, s.headers, tampered), "RW.4014"));
  EXPECT_TRUE(Refused(Send("GET", "/appmock/a", {}), "RW.4011"));
}

TEST_F(AppAuthTest, UnsignedPayloadWithLargeBody) {
  REQUIRE_SDK_SIGNER();
  constexpr size_t kBlob = 2 * 1024 * 1024;
  std::string blob(kBlob, 'x');
  for (size_t i = 0; i < blob.size(); i += 97) {
    blob[i] = static_cast<char>('a' + (i / 97) % 26);
  }
  SignJob job = PostJson("/app/unsigned/upload", "{\"blob\":\"" + blob + "\"}");
  job.unsigned_payload = true;
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  ASSERT_GT(s.body.size(), kBlob);
  ASSERT_NE(FindHeader(s.headers, "x-sdk-content-sha256"), nullptr);
  std::optional<Response> r = Send("POST", job.path, s.headers, s.body);
  ASSERT_TRUE(EchoedTarget(r, "/app/unsigned/upload"));
  EXPECT_EQ(JsonInt(r->body, "/body_length"), static_cast<int64_t>(s.body.size()));
  EXPECT_EQ(EchoField(*r, "body_fnv"), Fnv1aHex(s.body));
}

TEST_F(AppAuthTest, DateWithinFifteenMinutesIsAccepted) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/date-ok/past");
  job.date = SdkDate(std::chrono::minutes(-14));
  ASSERT_TRUE(EchoedTarget(SignAndSend(job), "/app/date-ok/past"));
  job = Get("/app/date-ok/future");
  job.date = SdkDate(std::chrono::minutes(14));
  ASSERT_TRUE(EchoedTarget(SignAndSend(job), "/app/date-ok/future"));
}

TEST_F(AppAuthTest, NoneApiNeedsNoSignature) {
  std::optional<Response> r = Send("GET", "/open/free/x?a=1", {});
  ASSERT_TRUE(EchoedTarget(r, "/open/free/x?a=1"));
  r = Send("POST", "/open/free/y", {{"Content-Type", "application/json"}}, R"({"a":1})");
  ASSERT_TRUE(EchoedTarget(r, "/open/free/y"));
}

// ---- tampered: RW.4014, the backend not reached ----

TEST_F(AppAuthTest, ChangedMethodIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-method/x");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  EXPECT_TRUE(Refused(Send("DELETE", job.path, s.headers), "RW.4014"));
  EXPECT_TRUE(NotReached("t-method"));
}

TEST_F(AppAuthTest, ChangedPathIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-path/x");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  EXPECT_TRUE(Refused(Send("GET", "/app/t-path/y", s.headers), "RW.4014"));
  EXPECT_TRUE(Refused(Send("GET", "/app/t-path/x/y", s.headers), "RW.4014"));
  // Not "/app/t-path/x/": the canonical URI always ends in "/", so the SDK signs /x and /x/
  // alike (the seed product accepts either).
  EXPECT_TRUE(NotReached("t-path"));
}

TEST_F(AppAuthTest, ChangedQueryValueIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-query/x");
  job.query_json = R"({"a":["1","0"],"b":"x y"})";
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  EXPECT_TRUE(Refused(Send("GET", "/app/t-query/x?a=1&a=2&b=x%20y", s.headers), "RW.4014"));
  EXPECT_TRUE(Refused(Send("GET", "/app/t-query/x?a=1&a=0&b=x%20z", s.headers), "RW.4014"));
  EXPECT_TRUE(Refused(Send("GET", "/app/t-query/x?a=1&b=x%20y", s.headers), "RW.4014"));
  EXPECT_TRUE(NotReached("t-query"));
}

TEST_F(AppAuthTest, AddedQueryParameterIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-query-add/x");
  job.query_json = R"({"a":"1"})";
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  EXPECT_TRUE(Refused(Send("GET", "/app/t-query-add/x?a=1&d=1", s.headers), "RW.4014"));
  EXPECT_TRUE(NotReached("t-query-add"));
}

TEST_F(AppAuthTest, ChangedSignedHeaderIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-header/x");
  job.headers = {{"X-Client-Tag", "blue"}};
  job.date = SdkDate(std::chrono::minutes(-2));  // the changed date below differs, both fresh
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  ASSERT_NE(FindHeader(s.headers, "authorization")->find("x-client-tag"), std::string::npos);
  EXPECT_TRUE(Refused(Send("GET", job.path, With(s.headers, "X-Client-Tag", "red")), "RW.4014"));
  EXPECT_TRUE(Refused(
      Send("GET", job.path, With(s.headers, "X-Sdk-Date", SdkDate(std::chrono::minutes(-1)))),
      "RW.4014"));
  EXPECT_TRUE(NotReached("t-header"));
}

TEST_F(AppAuthTest, ChangedBodyIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = PostJson("/app/t-body/x", R"({"amount":100})");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  ASSERT_EQ(s.body, R"({"amount":100})");
  EXPECT_TRUE(Refused(Send("POST", job.path, s.headers, R"({"amount":900})"), "RW.4014"));
  EXPECT_TRUE(Refused(Send("POST", job.path, s.headers, R"({"amount":1000})"), "RW.4014"));
  EXPECT_TRUE(NotReached("t-body"));
}

TEST_F(AppAuthTest, WrongSecretIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-secret/x");
  job.sk = "not-the-secret";
  EXPECT_TRUE(Refused(SignAndSend(job), "RW.4014"));
  EXPECT_TRUE(NotReached("t-secret"));
}

// ---- other refusals ----

TEST_F(AppAuthTest, UnknownAppKeyIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-key/x");
  job.ak = "k-999";
  EXPECT_TRUE(Refused(SignAndSend(job), "RW.4013"));
  EXPECT_TRUE(NotReached("t-key"));
}

TEST_F(AppAuthTest, MissingAuthorizationIsRefused) {
  REQUIRE_SDK_SIGNER();
  EXPECT_TRUE(Refused(Send("GET", "/app/t-none/x", {}), "RW.4011"));
  SignJob job = Get("/app/t-none/y");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  EXPECT_TRUE(Refused(Send("GET", job.path, Without(s.headers, "Authorization")), "RW.4011"));
  EXPECT_TRUE(NotReached("t-none"));
}

TEST_F(AppAuthTest, MalformedAuthorizationIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-malformed/x");
  Signed s;
  ASSERT_TRUE(Sign(port(), job, &s));
  std::string auth = *FindHeader(s.headers, "authorization");
  std::string sig = auth.substr(auth.find("Signature=") + 10);
  for (const std::string& bad : {
           std::string("SDK-HMAC-SHA256 garbage"),
           "SDK-HMAC-SHA256 Access=" + std::string(kAppKey) + ", Signature=" + sig,
           "SDK-HMAC-SHA256 Access=" + std::string(kAppKey) + ", SignedHeaders=host;x-sdk-date",
       }) {
    EXPECT_TRUE(Refused(Send("GET", job.path, With(s.headers, "Authorization", bad)), "RW.4012"))
        << "Authorization: " << bad;
  }
  EXPECT_TRUE(NotReached("t-malformed"));
}

TEST_F(AppAuthTest, StaleDateIsRefused) {
  REQUIRE_SDK_SIGNER();
  SignJob job = Get("/app/t-stale/old");
  job.date = SdkDate(std::chrono::minutes(-16));
  EXPECT_TRUE(Refused(SignAndSend(job), "RW.4015"));
  job = Get("/app/t-stale/future");
  job.date = SdkDate(std::chrono::minutes(16));
  EXPECT_TRUE(Refused(SignAndSend(job), "RW.4015"));
  EXPECT_TRUE(NotReached("t-stale"));
}

// ---- ringway sign + curl ----

// `ringway sign` for `method`, `headers` and `body` on `url`: its "Name: value" lines.
::testing::AssertionResult RingwaySign(std::string_view secret, std::string_view method,
                                       const std::vector<std::string>& headers,
                                       std::string_view body, const std::string& url,
                                       HeaderList* out) {
  std::vector<std::string> args = {"sign", "--app-key", std::string(kAppKey)};
  args.insert(args.end(), {"--app-secret", std::string(secret), "-X", std::string(method)});
  for (const auto& h : headers) {
    args.insert(args.end(), {"-H", h});
  }
  if (!body.empty()) {
    args.insert(args.end(), {"-d", std::string(body)});
  }
  args.push_back(url);
  CommandResult r = RunRingway(args);
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure()
           << "ringway sign exited " << r.exit_code << ": " << r.err << r.out;
  }
  *out = ParseHeaderLines(r.out);
  if (FindHeader(*out, "authorization") == nullptr || FindHeader(*out, "x-sdk-date") == nullptr) {
    return ::testing::AssertionFailure()
           << "ringway sign printed no Authorization and X-Sdk-Date lines:\n"
           << r.out;
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> CurlArgs(std::string_view method, const std::vector<std::string>& headers,
                                  const HeaderList& signed_headers, std::string_view body,
                                  const std::string& url) {
  std::vector<std::string> args = {"-X", std::string(method)};
  for (const auto& h : headers) {
    args.insert(args.end(), {"-H", h});
  }
  for (const auto& [name, value] : signed_headers) {
    args.insert(args.end(), {"-H", name + ": " + value});
  }
  if (!body.empty()) {
    args.insert(args.end(), {"-d", std::string(body)});
  }
  args.push_back(url);
  return args;
}

TEST_F(AppAuthTest, RingwaySignThenCurlPost) {
  const std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/app/cli-post/orders";
  const std::vector<std::string> headers = {"Content-Type: application/json"};
  const std::string body = R"({"id":7,"name":"widget"})";
  HeaderList add;
  ASSERT_TRUE(RingwaySign(kAppSecret, "POST", headers, body, url, &add));
  CurlResult c = Curl(CurlArgs("POST", headers, add, body, url));
  ASSERT_TRUE(c.ran);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(JsonString(c.body, "/target"), "/app/cli-post/orders");
  EXPECT_EQ(JsonInt(c.body, "/body_length"), static_cast<int64_t>(body.size()));
  EXPECT_EQ(JsonString(c.body, "/body_fnv"), Fnv1aHex(body));
}

// A GET of `url` signed by `ringway sign` and sent by curl: the backend sees `target`.
void SignedGetReaches(const std::string& url, const std::string& target) {
  HeaderList add;
  ASSERT_TRUE(RingwaySign(kAppSecret, "GET", {}, "", url, &add));
  CurlResult c = Curl(CurlArgs("GET", {}, add, "", url));
  ASSERT_TRUE(c.ran);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(JsonString(c.body, "/target"), target);
}

TEST_F(AppAuthTest, RingwaySignThenCurlGetWithQuery) {
  const std::string target = "/app/cli-get/a%20b?a=1&a=0&b=x%20y&c=%E4%B8%AD";
  SignedGetReaches("http://127.0.0.1:" + std::to_string(port()) + target, target);
}

TEST_F(AppAuthTest, RingwaySignThenCurlLargeBodyIsHeldVerifiedAndForwarded) {
  // 100 KB: more than a request head buffer, so the held body's buffer grows while it comes.
  const std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/app/cli-held/up";
  const std::vector<std::string> headers = {"Content-Type: application/json"};
  std::string body = "{\"blob\":\"" + std::string(100 * 1000, 'z') + "\"}";
  HeaderList add;
  ASSERT_TRUE(RingwaySign(kAppSecret, "POST", headers, body, url, &add));
  CurlResult c = Curl(CurlArgs("POST", headers, add, body, url));
  ASSERT_TRUE(c.ran);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(JsonInt(c.body, "/body_length"), static_cast<int64_t>(body.size()));
  EXPECT_EQ(JsonString(c.body, "/body_fnv"), Fnv1aHex(body));
  // The same signature with one byte of the body changed: refused, nothing sent.
  const std::string url2 = "http://127.0.0.1:" + std::to_string(port()) + "/app/cli-held2/up";
  ASSERT_TRUE(RingwaySign(kAppSecret, "POST", headers, body, url2, &add));
  body[body.size() - 5] = 'y';
  c = Curl(CurlArgs("POST", headers, add, body, url2));
  ASSERT_TRUE(c.ran);
  EXPECT_EQ(c.status, 401) << c.body;
  EXPECT_EQ(JsonString(c.body, "/error_code"), "RW.4014");
  EXPECT_TRUE(NotReached("cli-held2"));
}

TEST_F(AppAuthTest, RingwaySignThenCurlMockAppApiAnswersAfterVerification) {
  const std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/appmock/cli";
  const std::string body = R"({"x":1})";
  HeaderList add;
  ASSERT_TRUE(RingwaySign(kAppSecret, "POST", {}, body, url, &add));
  CurlResult c = Curl(CurlArgs("POST", {}, add, body, url));
  ASSERT_TRUE(c.ran);
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.body, "mocked");
  c = Curl(CurlArgs("POST", {}, add, R"({"x":2})", url));
  ASSERT_TRUE(c.ran);
  EXPECT_EQ(c.status, 401) << c.body;
  EXPECT_EQ(JsonString(c.body, "/error_code"), "RW.4014");
}

// 64 query parameters sign and pass; 65, which the gateway refuses as malformed (RW.4012),
// are refused by `ringway sign` itself, with the limit, instead of printing a useless signature.
TEST_F(AppAuthTest, RingwaySignRefusesMoreQueryParametersThanTheGatewayAccepts) {
  for (int count : {64, 65}) {
    SCOPED_TRACE(count);
    std::string target = "/app/cli-many/q?";
    for (int i = 0; i < count; ++i) {
      target += (i > 0 ? "&p" : "p") + std::to_string(i) + "=" + std::to_string(i);
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port()) + target + "#frag";
    if (count == 65) {
      CommandResult r = RunRingway({"sign", "--app-key", std::string(kAppKey), "--app-secret",
                                    std::string(kAppSecret), url});
      EXPECT_EQ(r.exit_code, 2) << r.out;
      EXPECT_EQ(r.out, "");
      EXPECT_NE(r.err.find("65 query parameters"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("at most 64 (RW.4012)"), std::string::npos) << r.err;
      continue;
    }
    SignedGetReaches(url, target);
  }
}

TEST_F(AppAuthTest, RingwaySignWithWrongSecretIsRefused) {
  const std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/app/cli-wrong/x";
  HeaderList add;
  ASSERT_TRUE(RingwaySign("wrong-secret", "GET", {}, "", url, &add));
  CurlResult c = Curl(CurlArgs("GET", {}, add, "", url));
  ASSERT_TRUE(c.ran);
  EXPECT_EQ(c.status, 401) << c.body;
  EXPECT_EQ(JsonString(c.body, "/error_code"), "RW.4014") << c.body;
  EXPECT_TRUE(NotReached("cli-wrong"));
}

// ---- secrets ----

TEST_F(AppAuthTest, LogNeverContainsTheSecret) {
  REQUIRE_SDK_SIGNER();
  // A success and failures of several kinds first (at log level debug), so that whatever
  // they log is in the log checked.
  SignJob ok = Get("/app/log/ok");
  ASSERT_TRUE(EchoedTarget(SignAndSend(ok), "/app/log/ok"));
  SignJob bad = Get("/app/log/bad");
  bad.sk = "other";
  EXPECT_TRUE(Refused(SignAndSend(bad), "RW.4014"));
  SignJob stale = Get("/app/log/stale");
  stale.date = SdkDate(std::chrono::minutes(-20));
  EXPECT_TRUE(Refused(SignAndSend(stale), "RW.4015"));
  EXPECT_TRUE(Refused(Send("GET", "/app/log/none", {}), "RW.4011"));
  ASSERT_TRUE(gateway().LogContains("ready shards=")) << "no log captured";
  EXPECT_FALSE(gateway().LogContains(kAppSecret)) << gateway().LogTail();
}

}  // namespace
}  // namespace ringway::integration
