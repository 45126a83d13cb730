// JSON access (simdjson), config generation and response assertions of the harness.
#include <simdjson.h>

#include <cstdio>

#include "harness.h"

namespace ringway::integration {
namespace {

std::optional<simdjson::dom::element> JsonAt(simdjson::dom::parser& parser, std::string_view json,
                                             std::string_view pointer) {
  simdjson::dom::element doc;
  if (parser.parse(simdjson::padded_string(json)).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::dom::element value;
  if (doc.at_pointer(pointer).get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return value;
}

std::string Members(std::string_view extra) {
  return extra.empty() ? "" : "," + std::string(extra);
}

std::string Describe(const Response& r) {
  std::string out = r.version + " " + std::to_string(r.status) + " " + r.reason + "\n";
  for (const auto& [name, value] : r.headers) {
    out += name + ": " + value + "\n";
  }
  return out + "\n" + r.body.substr(0, 600);
}

}  // namespace

std::optional<std::string> JsonString(std::string_view json, std::string_view pointer) {
  simdjson::dom::parser parser;
  std::optional<simdjson::dom::element> v = JsonAt(parser, json, pointer);
  std::string_view s;
  if (!v || v->get_string().get(s) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<int64_t> JsonInt(std::string_view json, std::string_view pointer) {
  simdjson::dom::parser parser;
  std::optional<simdjson::dom::element> v = JsonAt(parser, json, pointer);
  int64_t n = 0;
  if (!v || v->get_int64().get(n) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return n;
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string EchoHeader(const Response& r, std::string_view lower_name) {
  return JsonString(r.body, "/headers/" + std::string(lower_name)).value_or("<absent>");
}

std::string EchoField(const Response& r, std::string_view field) {
  return JsonString(r.body, "/" + std::string(field)).value_or("<absent>");
}

::testing::AssertionResult HasStatus(const std::optional<Response>& r, int status) {
  if (!r) {
    return ::testing::AssertionFailure() << "no response (want " << status << ")";
  }
  if (r->status != status) {
    return ::testing::AssertionFailure()
           << "status " << r->status << ", want " << status << "; response:\n"
           << Describe(*r);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult EchoedTarget(const std::optional<Response>& r, std::string_view target) {
  ::testing::AssertionResult ok = HasStatus(r, 200);
  if (ok && EchoField(*r, "target") != target) {
    return ::testing::AssertionFailure()
           << "backend saw " << EchoField(*r, "target") << ", want " << target;
  }
  return ok;
}

::testing::AssertionResult HasPatternBody(const std::optional<Response>& r, size_t n) {
  ::testing::AssertionResult ok = HasStatus(r, 200);
  if (ok && (r->body.size() != n || !MatchesPattern(0, r->body))) {
    return ::testing::AssertionFailure()
           << "body of " << r->body.size() << " bytes, want " << n << " pattern bytes"
           << (r->body.size() == n ? " (content differs)" : "");
  }
  return ok;
}

::testing::AssertionResult IsGatewayError(const std::optional<Response>& r, int status) {
  ::testing::AssertionResult ok = HasStatus(r, status);
  if (!ok) {
    return ok;
  }
  std::string code = JsonString(r->body, "/error_code").value_or("");
  std::string msg = JsonString(r->body, "/error_msg").value_or("");
  std::string rid = JsonString(r->body, "/request_id").value_or("");
  if (code.rfind("RW.", 0) != 0 || msg.empty() || rid.empty() || rid != r->Header("x-request-id") ||
      r->Header("content-type").find("application/json") == std::string::npos) {
    return ::testing::AssertionFailure()
           << "not a gateway JSON error (error_code RW.*, error_msg, request_id = "
              "X-Request-Id, Content-Type application/json):\n"
           << Describe(*r);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsGatewayError(const std::optional<Response>& r, int status,
                                          std::string_view code) {
  ::testing::AssertionResult ok = IsGatewayError(r, status);
  if (!ok) {
    return ok;
  }
  std::string got = JsonString(r->body, "/error_code").value_or("");
  if (got != code) {
    return ::testing::AssertionFailure()
           << "error_code " << got << ", want " << code << "; body: " << r->body;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult RejectedAndClosed(int port, std::string_view raw, int status) {
  Client c(port);
  if (::testing::AssertionResult connected = c.Connect(); !connected) {
    return connected;
  }
  if (!c.Send(raw)) {
    return ::testing::AssertionFailure() << "send failed";
  }
  std::optional<Response> r = c.Read();
  ::testing::AssertionResult ok = IsGatewayError(r, status);
  if (!ok) {
    return ok << "\n(read status: " << ToString(c.last_status()) << ")";
  }
  if (!c.WaitClosed(2000)) {
    return ::testing::AssertionFailure() << "connection still open 2 s after the " << status;
  }
  return ::testing::AssertionSuccess();
}

std::string HttpApi(std::string_view name, std::string_view method, std::string_view uri,
                    std::string_view destination, std::string_view backend_uri,
                    std::string_view api_extra, std::string_view backend_extra) {
  return "{\"name\":" + JsonQuote(name) + ",\"req_method\":" + JsonQuote(method) +
         ",\"req_uri\":" + JsonQuote(uri) + Members(api_extra) +
         ",\"backend\":{\"type\":\"http\",\"req_protocol\":\"http\"," + std::string(destination) +
         ",\"req_uri\":" + JsonQuote(backend_uri) + Members(backend_extra) + "}}";
}

std::string ProxyApi(std::string_view name, std::string_view method, std::string_view uri,
                     std::string_view url, std::string_view backend_uri, std::string_view api_extra,
                     std::string_view backend_extra) {
  return HttpApi(name, method, uri, "\"url\":" + JsonQuote(url), backend_uri, api_extra,
                 backend_extra);
}

std::string MockApi(std::string_view name, std::string_view method, std::string_view uri,
                    std::string_view body, std::string_view api_extra, int status) {
  return "{\"name\":" + JsonQuote(name) + ",\"req_method\":" + JsonQuote(method) +
         ",\"req_uri\":" + JsonQuote(uri) + Members(api_extra) +
         ",\"backend\":{\"type\":\"mock\",\"mock\":{\"status\":" + std::to_string(status) +
         ",\"headers\":{\"content-type\":\"text/plain\"},\"body\":" + JsonQuote(body) + "}}}";
}

std::string PingApi() {
  return R"({"name":"ping","req_method":"ANY","req_uri":"/ping","environments":["RELEASE"],)"
         R"("backend":{"type":"mock","mock":{"status":200,)"
         R"("headers":{"content-type":"application/json"},"body":)" +
         JsonQuote(kPingBody) + "}}}";
}

std::string StubApi(const Backend& backend, std::string_view backend_extra) {
  return ProxyApi("stub", "ANY", "/stub", backend.address(), "/stub", R"("match_mode":"prefix")",
                  backend_extra);
}

std::string BuildConfig(const ConfigSpec& spec) {
  std::string listeners;
  for (const auto& name : spec.listeners) {
    auto tls = spec.listener_tls.find(name);
    listeners += (listeners.empty() ? "" : ",") + std::string("{\"name\":") + JsonQuote(name) +
                 ",\"address\":\"127.0.0.1:0\"" +
                 (tls == spec.listener_tls.end() ? "" : ",\"tls\":" + tls->second) + "}";
  }
  std::string apis;
  for (const auto& api : spec.apis) {
    apis += (apis.empty() ? "" : ",\n    ") + api;
  }
  std::string out = "{\n  \"version\": 1,\n  \"instance\": " +
                    (spec.instance.empty() ? std::string(R"({"id": "it-gw"})") : spec.instance) +
                    ",\n";
  out += "  \"listeners\": [" + listeners + "],\n";
  if (!spec.limits.empty()) {
    out += "  \"limits\": {" + spec.limits + "},\n";
  }
  if (!spec.environments.empty()) {
    out += "  \"environments\": " + spec.environments + ",\n";
  }
  if (!spec.extra.empty()) {
    out += "  " + spec.extra + ",\n";
  }
  return out + "  \"apis\": [\n    " + apis + "\n  ]\n}\n";
}

}  // namespace ringway::integration
