// Checks of single configuration values, independent of JSON: names, host names, path
// patterns, backend path templates, status code lists, secrets. Each `check_*` returns
// the error message ("" when the value is fine) so callers attach their own JSON path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringway/config.h"

namespace ringway::config::internal {

inline constexpr std::string_view kNameRule = "must be 1-64 characters of [A-Za-z0-9_-]";
inline constexpr std::string_view kVariableRule =
    "must be 3-32 characters of [A-Za-z0-9_-] starting with a letter";
inline constexpr size_t kMaxUriLength = 512;
inline constexpr size_t kMaxPathParams = 16;  // route::kMaxParams

inline constexpr std::pair<std::string_view, Method> kMethodChoices[] = {
    {"GET", Method::kGet},         {"POST", Method::kPost},   {"PUT", Method::kPut},
    {"DELETE", Method::kDelete},   {"PATCH", Method::kPatch}, {"HEAD", Method::kHead},
    {"OPTIONS", Method::kOptions}, {"ANY", Method::kAny},
};

// `s` as a JSON string literal for messages, cut to 64 characters.
std::string quote(std::string_view s);
// A character for messages: "?" or "byte 0x0a".
std::string quote_char(char c);

std::string ascii_lower(std::string_view s);

bool is_name(std::string_view s);           // 1-64 chars of [A-Za-z0-9_-]
bool is_variable_name(std::string_view s);  // 3-32 chars of [A-Za-z0-9_-], letter first
bool is_host_name(std::string_view s);      // DNS name or IPv4 literal (no port)
bool is_ip_literal(const Address& a);       // IPv4 or IPv6 literal host

// "host:port", with the host in brackets when it is an IPv6 literal.
std::string host_port(std::string_view host, uint16_t port);

// "200,201,208-209" -> inclusive ranges of codes 100-599.
std::string check_http_codes(std::string_view s, std::vector<std::pair<uint16_t, uint16_t>>* out);

// An API req_uri: starts with '/', at most 512 chars, `{name}` whole segments and
// `{name+}` only as the last one.
struct PathPattern {
  std::vector<std::string> params;  // names in path order ("rest" for {rest+})
  std::string shape;                // the path with parameter names dropped: "/a/{}/{+}"
};
std::string check_req_uri(std::string_view uri, PathPattern* out);

// A backend req_uri template: a path with `{param}` and `#variable#` references.
struct TemplateRefs {
  std::set<std::string> params;
  std::set<std::string> variables;
};
std::string check_template(std::string_view t, TemplateRefs* out);

// `p` when absolute, else `p` under `base_dir`.
std::string resolve_path(std::string_view base_dir, std::string_view p);

// Reads a whole file; returns "" or a message naming the file and the reason.
// A `file:` secret is at most this long (a key, a password): a path to a device or a large
// file by mistake (file:/dev/zero) is an error, not an endless read.
inline constexpr size_t kMaxSecretBytes = 65536;
// A configuration file is at most this long.
inline constexpr size_t kMaxConfigFileBytes = 64u << 20;
// The whole of `path` into *out; "" or the error. More than `max_bytes`: an error (stops
// reading there).
std::string read_file(const std::string& path, std::string* out, size_t max_bytes);

// Resolves a secret spelled as a literal, "env:NAME" or "file:PATH" (relative to
// `base_dir`; one trailing newline dropped). `out->source` never holds a literal value.
std::string resolve_secret(std::string_view spelling, std::string_view base_dir, Secret* out);

}  // namespace ringway::config::internal
