// APIs and their backends (http or mock). Checks that need other APIs or whole sections
// (duplicates, template references, retry limits) are in validate_apis.cc.
#include <algorithm>
#include <string>

#include "config/loader.h"
#include "config/values.h"

namespace ringway::config::internal {

namespace {

constexpr Choice<MatchMode> kMatchModes[] = {
    {"exact", MatchMode::kExact},
    {"prefix", MatchMode::kPrefix},
};

constexpr Choice<AuthType> kAuthTypes[] = {{"none", AuthType::kNone}, {"app", AuthType::kApp}};

constexpr Choice<BackendType> kBackendTypes[] = {
    {"http", BackendType::kHttp},
    {"mock", BackendType::kMock},
};

constexpr Choice<std::string_view> kSchemes[] = {{"http", "http"}, {"https", "https"}};

// A backend sends a concrete method: every method but ANY.
constexpr Choice<Method> kBackendMethods[] = {
    {"GET", Method::kGet},         {"POST", Method::kPost},   {"PUT", Method::kPut},
    {"DELETE", Method::kDelete},   {"PATCH", Method::kPatch}, {"HEAD", Method::kHead},
    {"OPTIONS", Method::kOptions},
};

// Mock headers the gateway writes itself.
constexpr std::string_view kReservedHeaders[] = {"content-length", "transfer-encoding",
                                                 "connection"};

std::string check_api_uri(std::string_view s) {
  PathPattern pattern;
  return check_req_uri(s, &pattern);
}

std::string check_backend_uri(std::string_view s) {
  TemplateRefs refs;
  return check_template(s, &refs);
}

std::string check_domain(std::string_view s) {
  return is_host_name(s) ? "" : "must be a host name like api.example.com (got " + quote(s) + ")";
}

std::string check_host_header(std::string_view s) {
  return is_host_name(s) || parse_address(s)
             ? ""
             : "must be a host name with an optional port (got " + quote(s) + ")";
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void read_mock_header(std::string_view name, const Value& v, MockBackend& mock) {
  std::optional<std::string> value = v.string();
  std::string error = check_header_field(name, value.value_or(""));
  if (!error.empty()) {
    v.error(error);
  } else if (value) {
    mock.headers.emplace_back(name, *value);
  }
}

void read_mock(const Obj& backend, MockBackend& mock) {
  std::optional<Value> v = backend.field("mock");
  if (!v) {
    return;
  }
  Obj o(*v, {"status", "headers", "body"});
  o.read("status", mock.status, 200, 599);
  o.read("body", mock.body);
  if (std::optional<Value> headers = o.field("headers")) {
    for_each_member(*headers, [&mock](std::string_view name, const Value& value) {
      read_mock_header(name, value, mock);
    });
  }
}

// Exactly one of `channel` (a channel name) and `url` (host:port).
void read_destination(const Obj& o, const Registry& reg, HttpBackend& h) {
  bool has_channel = o.has("channel");
  bool has_url = o.has("url");
  if (has_channel == has_url) {
    o.error(std::string("must have exactly one of channel or url (got ") +
            (has_channel ? "both" : "neither") + ")");
  }
  if (has_channel) {
    reg.channels.read_ref(o, "channel", h.channel);
  }
  o.read_checked("url", h.url.text, [&h](std::string_view s) -> std::string {
    std::optional<Address> a = parse_address(s);
    if (!a || a->port == 0) {
      return "must be host:port with a port 1-65535, like localhost:9000 (got " + quote(s) + ")";
    }
    h.url = *a;
    return "";
  });
}

void read_http_backend(const Obj& o, const Registry& reg, HttpBackend& h) {
  bool protocol_ok = o.read("req_protocol", h.req_protocol, kSchemes) || !o.has("req_protocol");
  if (protocol_ok && h.req_protocol != "https") {
    o.forbid({"client_ssl"}, "only allowed with req_protocol https");
  }
  Method method = Method::kAny;
  if (o.read("req_method", method, kBackendMethods)) {
    h.req_method = method;
  }
  read_destination(o, reg, h);
  o.read_checked("req_uri", h.req_uri, check_backend_uri, Need::kRequired);
  o.read_checked("host_header", h.host_header, check_host_header);
  o.read("timeout_ms", h.timeout_ms, 1, 600000);
  o.read("retry_count", h.retry_count, -1, 10);
  o.read("cascade", h.cascade);
  if (h.req_protocol == "https") {
    h.client_ssl = read_tls_files(o, "client_ssl");
  }
}

void read_backend(const Value& v, const Registry& reg, Backend& b) {
  Obj o(v, {"type", "req_protocol", "req_method", "channel", "url", "req_uri", "host_header",
            "timeout_ms", "retry_count", "cascade", "client_ssl", "mock"});
  if (o.has("type") && !o.read("type", b.type, kBackendTypes)) {
    return;  // which fields belong is unknown: report only the type
  }
  if (b.type == BackendType::kMock) {
    o.forbid({"req_protocol", "req_method", "channel", "url", "req_uri", "host_header",
              "timeout_ms", "retry_count", "cascade", "client_ssl"},
             "only allowed for http backends");
    read_mock(o, b.mock);
    return;
  }
  o.forbid({"mock"}, "only allowed for mock backends");
  read_http_backend(o, reg, b.http);
}

// `environments` defaults to RELEASE; listed names must exist and not repeat.
void read_api_environments(const Obj& o, const Registry& reg, Api& api) {
  if (!o.has("environments")) {
    api.environments = {"RELEASE"};
    return;
  }
  Names listed("environment");
  read_list(o, "environments", api.environments, [&](const Value& v, std::string& env) {
    std::optional<std::string> name = v.string();
    if (name && reg.environments.resolve(v, *name)) {
      listed.add(v, *name);
    }
    env = name.value_or("");
  });
}

void read_api(const Obj& o, const Registry& reg, Api& api) {
  o.read("group", api.group);
  o.read("req_method", api.req_method, kMethodChoices);
  o.read_checked("req_uri", api.req_uri, check_api_uri, Need::kRequired);
  o.read("match_mode", api.match_mode, kMatchModes);
  o.read_checked("domain", api.domain, check_domain);
  o.read("auth_type", api.auth_type, kAuthTypes);
  read_api_environments(o, reg, api);
  if (std::optional<Value> backend = o.field("backend", Need::kRequired)) {
    read_backend(*backend, reg, api.backend);
  }
}

}  // namespace

std::string check_header_field(std::string_view name, std::string_view value) {
  std::string key = ascii_lower(name);
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
    return "must be a valid header name";
  }
  if (std::find(std::begin(kReservedHeaders), std::end(kReservedHeaders), key) !=
      std::end(kReservedHeaders)) {
    return "is set by the gateway";
  }
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return "must not contain CR, LF or NUL";
  }
  return "";
}

void read_apis(const Obj& top, Registry& reg, Config& cfg) {
  read_named_list(top, "apis", cfg.apis, reg.apis,
                  {"name", "group", "req_method", "req_uri", "match_mode", "domain", "auth_type",
                   "environments", "backend"},
                  [&reg](const Obj& o, Api& api) { read_api(o, reg, api); });
}

}  // namespace ringway::config::internal
