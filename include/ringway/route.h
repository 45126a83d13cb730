// Compiled API routing table: (environment, host, method, path) -> API, and backend
// path rendering from pre-split templates.
//
// Built once per configuration snapshot on the control thread (`RouteTable::build`),
// then only read by shards. `match` and `render_path` never allocate, never throw.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringway/buffer.h"
#include "ringway/config.h"

namespace ringway::tls {
class ClientContext;
}

namespace ringway::route {

inline constexpr uint32_t kMaxParams = 16;

// A backend path template split once: literals, {param} references, and (prefix APIs)
// the unmatched rest of the path appended. `#var#` is already substituted per environment.
struct PathTemplate {
  enum class Kind : uint8_t { kLiteral, kParam };
  struct Piece {
    Kind kind = Kind::kLiteral;
    uint16_t param = 0;   // index into MatchResult::params when kParam
    std::string literal;  // when kLiteral
  };
  std::vector<Piece> pieces;
  bool append_rest = false;  // prefix match: the path after the matched prefix follows
  // Backend req_uri was empty: the request path is sent as received (pieces unused).
  bool use_request_path = false;
};

struct CompiledBackend {
  config::BackendType type = config::BackendType::kHttp;
  // http
  std::string method;          // empty: the request's method
  sockaddr_storage addr{};     // resolved at build
  socklen_t addr_len = 0;      // 0: channel backend (members belong to the channel module)
  std::string channel;         // channel backend: the channel's name
  int32_t channel_index = -1;  // ... and its index in config.channels; -1: url or mock
  std::string authority;       // "host" or "host:port" (port omitted when default)
  std::string host_header;     // Host to send: configured, else `authority`
  uint32_t timeout_ms = 5000;
  int32_t retry_count = -1;
  // Non-empty: the backend path, whatever the route's template (a circuit breaker's http or
  // function downgrade); the request's query string is appended.
  std::string fixed_path;
  bool cascade = false;  // the backend is an API of a cascaded ringway: sign each attempt
  // req_protocol https, set by the control plane's compile (control/tls_contexts.cc): the
  // client context (a WOLFSSL_CTX per shard), its id in pool keys, and the name sent as SNI
  // and verified — host_header's host when configured, else the URL's host; empty for a
  // channel backend without host_header (each member's host then).
  std::shared_ptr<const tls::ClientContext> tls;
  uint64_t tls_ctx_id = 0;
  std::string tls_name;
  uint64_t tls_name_hash = 0;
  // mock: the complete head without its final CRLF ("HTTP/1.1 200 OK\r\n...
  // content-length: N\r\n"), so the proxy adds X-Request-Id/Connection; and the body.
  std::string mock_head;
  std::string mock_body;
  uint16_t mock_status = 200;
};

struct CompiledApi {
  std::string name;
  uint32_t index = 0;  // position in config.apis
  config::Method method = config::Method::kAny;
  bool app_auth = false;  // auth_type "app": requests carry an SDK-HMAC-SHA256 signature
  std::vector<std::string> param_names;  // in path order
  // One template per environment index of RouteTable::environments(); an API not
  // published in an environment has an empty optional-like marker (published=false).
  std::vector<PathTemplate> templates;
  std::vector<bool> published;
  CompiledBackend backend;
};

// Request method as the router sees it: the config set, or "other" (only ANY matches).
enum class MethodKey : uint8_t { kGet, kPost, kPut, kDelete, kPatch, kHead, kOptions, kOther };
MethodKey method_key(std::string_view method_name);

struct MatchResult {
  enum class Status : uint8_t { kOk, kNoApi, kNoEnvironment };
  Status status = Status::kNoApi;
  const CompiledApi* api = nullptr;
  uint32_t environment = 0;                           // index into environments()
  std::array<std::string_view, kMaxParams> params{};  // views into the request path
  uint32_t param_count = 0;
  // Prefix APIs: the path after the bytes the pattern matched ("" when it matched all,
  // "/x" for "/pre" on "/pre/x", "x" for "/pre/" on "/pre/x").
  std::string_view rest;
  std::string_view path;  // the request path that was matched
};

// "HTTP/1.1 <status> <reason>\r\n".
std::string status_line(uint16_t status);

class RouteTable {
 public:
  // Compiles a validated config. Resolves backend host names (blocking: control thread
  // only). On failure returns nullptr and appends errors with their JSON paths.
  static std::unique_ptr<RouteTable> build(const config::Config& cfg,
                                           std::vector<config::Error>* errors);
  ~RouteTable();

  // `host` may carry ":port" (ignored for domain matching, case-insensitive);
  // `stage` empty = RELEASE. `path` has no query string.
  MatchResult match(MethodKey method, std::string_view host, std::string_view path,
                    std::string_view stage) const noexcept;

  // Renders the backend path of a match (+ "?" + query when query is non-empty) into
  // `out`. Returns false if it does not fit.
  bool render_path(const MatchResult& m, std::string_view query, Writer& out) const noexcept;

  const std::vector<std::string>& environments() const;
  const std::vector<CompiledApi>& apis() const;
  // The control plane's compile completes the backends (TLS contexts) before the table is
  // published; never used after.
  std::vector<CompiledApi>& apis_to_complete();

  struct Impl;

 private:
  explicit RouteTable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringway::route
