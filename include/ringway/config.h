// Configuration model (CONFIG.md, schema 1) and its loader.
//
// The loader turns one JSON document into a validated `Config`: every field of the
// schema is parsed and checked, every error carries the JSON path of the offender
// (`apis[3].backend.retry_count: must be between -1 and 10 (got 11)`). Features that
// are parsed but not built yet are rejected with "<path>: not supported yet".
//
// Thread affinity: control thread only (start-up and reload). Exceptions may be used
// internally; the public entry points report errors as values.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::config {

// One validation error: the JSON path ("apis[3].backend.retry_count") and a message.
struct Error {
  std::string path;
  std::string message;
  std::string str() const { return path.empty() ? message : path + ": " + message; }
};

// A secret value: literal, `env:NAME` or `file:/path`, resolved at load. `source` keeps
// the spelling for messages; `value` is never printed.
struct Secret {
  std::string source;
  std::string value;
};

struct CascadeSettings {
  bool enabled = false;
  std::vector<Secret> auth_keys;  // [sign-with, also-accepted]; empty when disabled
  std::vector<std::string> allowed_instances;
};

struct Instance {
  std::string id;
  CascadeSettings cascade;
};

struct TlsFiles {  // client_ssl / listener TLS files
  std::string certificate;
  std::string private_key;
  std::string ca;
};

struct SniEntry {
  std::string server_name;
  std::string certificate;
  std::string private_key;
};

struct ListenerTls {
  std::string certificate;
  std::string private_key;
  std::vector<SniEntry> sni;
  std::string client_ca;
};

// A parsed socket address "host:port" / "[v6]:port". Port 0 asks the OS for one.
struct Address {
  std::string text;  // as written
  std::string host;  // without brackets
  uint16_t port = 0;
  bool v6 = false;
};

struct Listener {
  std::string name;
  Address address;
  std::optional<ListenerTls> tls;
};

struct Limits {
  uint32_t max_header_bytes = 32768;
  uint32_t max_headers = 100;
  uint64_t max_body_bytes = 12582912;
  uint32_t client_header_timeout_ms = 10000;
  uint32_t client_idle_timeout_ms = 60000;
  uint32_t max_connections = 100000;
  // An upgraded (WebSocket) connection with no byte in either direction for this long is
  // closed on both sides.
  uint32_t upgrade_idle_timeout_ms = 300000;
};

struct Environment {
  std::string name;
  std::map<std::string, std::string> variables;
};

struct App {
  std::string name;
  std::string app_key;
  Secret app_secret;
};

struct MemberGroup {
  std::string name;
  uint32_t weight = 1;
  std::string description;
};

struct Member {
  std::string host;
  uint16_t port = 0;  // 0 = channel port
  uint32_t weight = 1;
  std::string group;  // empty = implicit group
  bool is_backup = false;
  bool enabled = true;
};

enum class CheckProtocol { kTcp, kHttp, kHttps };

struct HealthCheck {
  CheckProtocol protocol = CheckProtocol::kTcp;
  std::optional<TlsFiles> client_ssl;
  std::string path = "/";
  std::string method = "GET";
  uint16_t port = 0;
  uint32_t healthy_threshold = 2;
  uint32_t unhealthy_threshold = 5;
  uint32_t timeout_s = 5;
  uint32_t interval_s = 10;
  std::string http_codes = "200";
  std::vector<std::pair<uint16_t, uint16_t>> codes{{200, 200}};  // http_codes parsed: inclusive
};

enum class BalanceStrategy { kWrr, kWlc, kSh, kUriHash };
// The configuration's spelling of a strategy ("wrr", "wlc", "sh", "uri_hash").
std::string_view strategy_name(BalanceStrategy s);

struct Channel {
  std::string name;
  uint16_t port = 0;
  BalanceStrategy balance_strategy = BalanceStrategy::kWrr;
  std::vector<MemberGroup> member_groups;
  std::vector<Member> members;
  std::optional<HealthCheck> health_check;
};

enum class Method : uint8_t { kGet, kPost, kPut, kDelete, kPatch, kHead, kOptions, kAny };

enum class MatchMode { kExact, kPrefix };
enum class AuthType { kNone, kApp };
enum class BackendType { kHttp, kMock };

struct MockBackend {
  uint16_t status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // in document order
  std::string body;
};

struct HttpBackend {
  std::string req_protocol = "http";  // http | https
  std::optional<Method> req_method;   // unset: the request's method
  std::string channel;                // exactly one of channel / url
  Address url;                        // set when channel is empty
  std::string req_uri;                // template: {param}, #var#
  std::string host_header;            // empty: member address
  uint32_t timeout_ms = 5000;
  int32_t retry_count = -1;
  bool cascade = false;
  std::optional<TlsFiles> client_ssl;
};

struct Backend {
  BackendType type = BackendType::kHttp;
  HttpBackend http;
  MockBackend mock;
};

struct Api {
  std::string name;
  std::string group;
  Method req_method = Method::kAny;
  std::string req_uri;
  MatchMode match_mode = MatchMode::kExact;
  std::string domain;  // empty: any host
  AuthType auth_type = AuthType::kNone;
  std::vector<std::string> environments;  // default ["RELEASE"]
  Backend backend;
};

// A circuit-breaker policy's content (CONFIG.md "policies"; the seed's script format),
// validated. Numbers are the seed's units (seconds; timeouts in ms).
enum class BreakerType : uint8_t { kTimeout, kCondition };
enum class BreakerMode : uint8_t { kCounter, kPercentage };

struct BreakerCondition {
  BreakerType type = BreakerType::kTimeout;
  BreakerMode mode = BreakerMode::kCounter;
  uint32_t unhealthy_threshold = 1;  // counter mode
  uint32_t time_window_s = 1;
  uint32_t open_s = 1;                  // open_breaker_time
  uint32_t unhealthy_percentage = 100;  // percentage mode
  uint32_t min_calls = 1;               // percentage mode: min_call_threshold
  std::string unhealthy_condition;      // condition type: the expression as JSON text
};

enum class DowngradeType : uint8_t { kMock, kHttp, kPassthrough, kFunction };

struct Downgrade {
  DowngradeType type = DowngradeType::kMock;
  // mock_info
  uint16_t mock_status = 200;
  std::string mock_body;
  std::vector<std::pair<std::string, std::string>> mock_headers;
  // http_info / http_vpc_info: a channel, or an address (port defaults to the scheme's)
  std::string http_channel;
  Address http_address;
  std::optional<Method> http_method;  // unset: the request's
  std::string http_path = "/";
  // passthrough_infos: header lines added to the request for the API's own backend
  std::vector<std::pair<std::string, std::string>> passthrough_headers;
  // func_info: function_urn is an http URL "http://host:port/path"
  Address function_address;
  std::string function_path = "/";
  bool function_async = false;
  uint32_t timeout_ms = 5000;  // http and function
};

struct DowngradeParameter {
  std::string name;
  std::string type;  // path | method | header | query | system
  std::string value;
};

struct DowngradeRule {
  std::string name;
  std::vector<std::string> parameters;
  std::string match_regex;                    // the expression as JSON text
  std::optional<Downgrade> backend;           // unset: the policy's downgrade_default
  std::optional<BreakerCondition> condition;  // unset: the policy's breaker_condition
};

struct BreakerPolicy {
  BreakerCondition condition;
  bool share = false;                  // scope "share": all bound APIs count together
  std::optional<Downgrade> downgrade;  // downgrade_default; unset (null): 503
  std::vector<DowngradeParameter> parameters;
  std::vector<DowngradeRule> rules;
};

struct Policy {
  std::string name;
  std::string type;          // circuit_breaker
  std::string content_json;  // minified: a reload keeps the state of an unchanged policy
  BreakerPolicy breaker;
};

struct Binding {
  std::string policy;
  std::string api;
  std::string environment;
};

// config_source.etcd (CONFIG.md): where the shared objects come from when not the file.
struct EtcdSource {
  std::vector<Address> endpoints;  // host:port, tried in turn
  std::string prefix;              // "/ringway/<cluster>/": starts and ends with "/"
  uint32_t timeout_ms = 5000;      // connect and read of one request
  std::optional<TlsFiles> tls;
};

// Where the shards write one JSON line per answered request (docs/admin.md, "Access log").
struct AccessLog {
  std::string path;  // resolved against the configuration's directory
};

struct Config {
  int version = 1;
  Instance instance;
  uint32_t shards = 0;  // 0 = CPUs of the affinity mask ringway was started with
  std::vector<Listener> listeners;
  std::optional<Address> admin;
  std::optional<AccessLog> access_log;  // absent: no access log
  std::optional<EtcdSource> etcd;       // config_source.etcd; absent: all from the file
  Limits limits;
  std::vector<Environment> environments;  // always contains RELEASE
  std::vector<App> apps;
  std::vector<Channel> channels;
  std::vector<Api> apis;
  std::vector<Policy> policies;
  std::vector<Binding> bindings;
  // The JSON text this configuration was parsed from, verbatim: secrets in it are unresolved
  // spellings or literals, so it is never logged; the admin API shows redacted_json(source).
  std::string source;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<Error> errors;
  bool ok() const { return errors.empty() && config.has_value(); }
};

// Parses and validates a document. Never throws. `base_dir` resolves relative
// `file:` secrets and TLS paths.
LoadResult load_config(std::string_view json, std::string_view base_dir = ".");

// Reads FILE and calls load_config; a read failure is an error with an empty path.
LoadResult load_config_file(const std::string& path);

// `json` re-emitted as compact JSON with the value of every secret (CONFIG.md "Secrets":
// `auth_key`, each element of its list form, `app_secret`, and any `*passphrase*` or
// `*password*` field) replaced by the string "***", whatever its spelling (literal, `env:`,
// `file:`). Names of user maps (environment `variables`, mock `headers`) are data, not
// fields: they are never taken for secrets. Numbers are copied as written; strings are
// re-escaped. "" when `json` does not parse. Never throws.
std::string redacted_json(std::string_view json);

// Method helpers shared by the loader, the router and the proxy.
std::optional<Method> parse_method(std::string_view s);
std::string_view method_name(Method m);

// Parses "host:port" or "[v6]:port"; nullopt if malformed (port 0..65535 allowed).
std::optional<Address> parse_address(std::string_view s);

// Resolves `host` (name or IP literal) and `port` for a stream socket; the first answer
// wins. On failure returns false with `*error` = `cannot resolve "host": <reason>`.
// Blocking (getaddrinfo): control thread only.
bool resolve_address(const std::string& host, uint16_t port, sockaddr_storage* addr, socklen_t* len,
                     std::string* error);

// "host" or "host:port" (port left out when it equals default_port), IPv6 in brackets:
// the authority a backend expects in Host.
std::string authority(const std::string& host, uint16_t port, uint16_t default_port);

}  // namespace ringway::config
