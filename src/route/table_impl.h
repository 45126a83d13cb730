// Private layout of the compiled routing table (ringway/route.h) and the helpers the
// route module's files share.
//
// Built by build.cc on the control thread; afterwards immutable and read by every shard
// without locks. Everything a shard touches is in flat vectors indexed by uint32.
//
// Trie shape: one trie per (environment, domain) and one per environment for APIs
// without a domain; all share `nodes`, `edges`, `terminals` and `pool`. A node is one
// path segment deep; its children are literal edges (sorted by (hash, length, bytes),
// binary-searched), at most one `{name}` child, and terminals: APIs that end at the node,
// one slot per config::Method (kAny last) for each TerminalKind.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ringway/config.h"
#include "ringway/route.h"

namespace ringway::route {

// How an API's request pattern ends at a node. The order is the preference at one node.
enum TerminalKind : uint8_t {
  kExact,         // match_mode exact: the path ends here
  kGreedyExact,   // `.../{name+}`, exact: one or more further bytes of path
  kGreedyPrefix,  // `.../{name+}`, prefix: the same (the rest is always empty)
  kPrefixSlash,   // prefix pattern ending in '/': the path continues with '/' here
  kPrefix,        // prefix pattern: the path ends here or continues with '/'
  kTerminalKinds,
};

inline constexpr uint32_t kMethodSlots = 8;  // config::Method values; kAny is the last
inline constexpr int32_t kNone = -1;

struct Terminal {
  std::array<int32_t, kMethodSlots> api;  // index into apis by config::Method, or kNone
};

struct Edge {
  uint32_t hash = 0;
  uint32_t len = 0;
  uint32_t off = 0;  // segment text in Impl::pool
  uint32_t child = 0;
};

struct Node {
  uint32_t edge_begin = 0;
  uint32_t edge_count = 0;
  int32_t param = kNone;  // child reached by any non-empty segment
  std::array<int32_t, kTerminalKinds> terminal{kNone, kNone, kNone, kNone, kNone};
};

// An API's request pattern as segment kinds, to bind parameters after a match.
enum class SegKind : uint8_t { kLiteral, kParam, kGreedy };

struct DomainRoot {
  std::string domain;  // lower case, no trailing dot
  uint32_t root = 0;
};

struct EnvRoutes {
  int32_t any_host = kNone;         // trie of the APIs without a domain
  std::vector<DomainRoot> domains;  // sorted by domain
};

struct RouteTable::Impl {
  std::vector<std::string> environments;
  uint32_t release = 0;  // index of RELEASE
  std::vector<CompiledApi> apis;
  std::vector<std::vector<SegKind>> patterns;  // by api index
  std::vector<EnvRoutes> envs;                 // by environment index
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  std::vector<Terminal> terminals;
  std::string pool;
};

// FNV-1a; the literal-edge order depends on it, so build and match must agree.
inline constexpr uint32_t kHashSeed = 2166136261u;
inline uint32_t hash_step(uint32_t h, char c) noexcept {
  return (h ^ static_cast<uint8_t>(c)) * 16777619u;
}
inline uint32_t segment_hash(std::string_view s) noexcept {
  uint32_t h = kHashSeed;
  for (char c : s) {
    h = hash_step(h, c);
  }
  return h;
}

// The Host value as a domain key: without ":port", lower case, without a trailing dot.
// Writes into `buf` (at least kMaxDomain bytes); returns empty if it does not fit.
inline constexpr size_t kMaxDomain = 256;
std::string_view normalize_host(std::string_view host, char* buf) noexcept;

// "apis[3].backend.url"
std::string api_path(size_t index, std::string_view field);

// Resolves backend hosts for one build, once per distinct host (many APIs share one).
// Blocking: control thread only.
class Resolver {
 public:
  // `host` is a name or an IP literal without brackets. Stores the first AF_INET or
  // AF_INET6 result with `port`; on failure returns false and sets `why`.
  bool resolve(const std::string& host, uint16_t port, sockaddr_storage* addr, socklen_t* len,
               std::string* why);

 private:
  struct Entry {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string error;
  };
  std::map<std::string, Entry> cache_;
};

// Fills `out` from api.backend (resolving a url's host, blocking). Appends errors.
void compile_backend(const config::Api& api, size_t index, Resolver& resolver, CompiledBackend* out,
                     std::vector<config::Error>* errors);

// Splits backend.req_uri for one environment. Appends errors (path
// `apis[index].backend.req_uri`) and returns false on an unknown {param} or #variable#.
bool compile_template(const config::Api& api, size_t index,
                      const std::vector<std::string>& param_names, const config::Environment& env,
                      PathTemplate* out, std::vector<config::Error>* errors);

// Writes the backend path of `m` through `t`; see RouteTable::render_path.
bool render_template(const PathTemplate& t, const MatchResult& m, std::string_view query,
                     Writer& out) noexcept;

}  // namespace ringway::route
