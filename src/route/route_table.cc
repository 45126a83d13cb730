// Request-time side of the routing table: environment, host and path lookup.
//
// Thread affinity: any shard, concurrently, on an immutable table. Nothing here
// allocates, locks or throws.
//
// Matching rules (the contract the tests pin):
// - Segments are the pieces between '/' after the leading one, compared byte-wise as
//   received (no decoding). "/" is one empty segment, "/a/" is "a" then an empty one:
//   a trailing slash is a literal empty segment, so exact "/a" does not match "/a/"
//   (NGINX-like). A prefix pattern ending in '/' ("/a/") matches "/a/" and "/a/x", not
//   "/a"; a prefix pattern without one ("/a") matches "/a", "/a/" and "/a/x", not "/ab".
// - Per segment: literal child, then the `{name}` child, then `{name+}` terminals,
//   backtracking on failure. A full match (exact mode, or `{name+}`) anywhere beats any
//   prefix match; among prefix matches the longest matched prefix wins, a tie going to
//   the one found first (literal before parameter).
// - A terminal takes the method's own API, else the ANY API; an unknown method only ANY.
//   Method participates in the search: a node whose APIs have other methods is skipped.
// - Host: APIs whose domain equals the Host (port stripped, case-insensitive) are tried
//   first; only when none of them matches are the domain-less APIs tried.
#include <algorithm>
#include <cstring>

#include "route/table_impl.h"

namespace ringway::route {
namespace {

constexpr std::array<std::string_view, 7> kMethodNames = {"GET",   "POST", "PUT",    "DELETE",
                                                          "PATCH", "HEAD", "OPTIONS"};

struct Found {
  int32_t api = kNone;
  size_t rest = 0;  // offset in the path where MatchResult::rest starts
};

// One depth-first search through one trie. Each node is visited at most once (a node
// sits at a fixed depth), so the work is bounded by the nodes the path can reach.
class Matcher {
 public:
  Matcher(const RouteTable::Impl& t, MethodKey method, std::string_view path)
      : t_(t), method_(static_cast<uint32_t>(method)), path_(path) {}

  Found run(uint32_t root) noexcept {
    Found full = visit(root, 0);
    return full.api != kNone ? full : prefix_;
  }

 private:
  int32_t pick(int32_t terminal) const noexcept {
    if (terminal == kNone) {
      return kNone;
    }
    const Terminal& term = t_.terminals[static_cast<size_t>(terminal)];
    if (method_ < kMethodSlots - 1 && term.api[method_] != kNone) {
      return term.api[method_];
    }
    return term.api[kMethodSlots - 1];
  }

  void offer_prefix(int32_t terminal, size_t rest) noexcept {
    int32_t api = pick(terminal);
    if (api != kNone && (prefix_.api == kNone || rest > prefix_.rest)) {
      prefix_ = {api, rest};
    }
  }

  int32_t find_literal(const Node& n, std::string_view seg, uint32_t hash) const noexcept {
    const Edge* first = t_.edges.data() + n.edge_begin;
    const Edge* last = first + n.edge_count;
    const Edge* e =
        std::lower_bound(first, last, hash, [](const Edge& x, uint32_t h) { return x.hash < h; });
    for (; e != last && e->hash == hash; ++e) {
      if (e->len == seg.size() && std::memcmp(t_.pool.data() + e->off, seg.data(), e->len) == 0) {
        return static_cast<int32_t>(e->child);
      }
    }
    return kNone;
  }

  // `pos` is the end of the segments consumed so far: path_.size() or a '/'.
  Found visit(uint32_t index, size_t pos) noexcept {
    const Node& n = t_.nodes[index];
    if (pos == path_.size()) {
      if (int32_t api = pick(n.terminal[kExact]); api != kNone) {
        return {api, pos};
      }
      offer_prefix(n.terminal[kPrefix], pos);
      return {};
    }
    const size_t start = pos + 1;
    size_t end = start;
    uint32_t hash = kHashSeed;
    for (; end < path_.size() && path_[end] != '/'; ++end) {
      hash = hash_step(hash, path_[end]);
    }
    const std::string_view seg = path_.substr(start, end - start);
    if (int32_t child = find_literal(n, seg, hash); child != kNone) {
      if (Found f = visit(static_cast<uint32_t>(child), end); f.api != kNone) {
        return f;
      }
    }
    if (n.param != kNone && !seg.empty()) {
      if (Found f = visit(static_cast<uint32_t>(n.param), end); f.api != kNone) {
        return f;
      }
    }
    if (start < path_.size()) {
      for (TerminalKind kind : {kGreedyExact, kGreedyPrefix}) {
        if (int32_t api = pick(n.terminal[kind]); api != kNone) {
          return {api, path_.size()};
        }
      }
    }
    offer_prefix(n.terminal[kPrefixSlash], start);
    offer_prefix(n.terminal[kPrefix], pos);
    return {};
  }

  const RouteTable::Impl& t_;
  const uint32_t method_;
  const std::string_view path_;
  Found prefix_;
};

int32_t find_environment(const RouteTable::Impl& t, std::string_view stage) noexcept {
  if (stage.empty()) {
    return static_cast<int32_t>(t.release);
  }
  for (size_t i = 0; i < t.environments.size(); ++i) {
    if (t.environments[i] == stage) {
      return static_cast<int32_t>(i);
    }
  }
  return kNone;
}

int32_t find_domain(const EnvRoutes& routes, std::string_view host) noexcept {
  if (routes.domains.empty()) {
    return kNone;
  }
  char buf[kMaxDomain];
  const std::string_view key = normalize_host(host, buf);
  if (key.empty()) {
    return kNone;
  }
  auto it = std::lower_bound(
      routes.domains.begin(), routes.domains.end(), key,
      [](const DomainRoot& d, std::string_view k) { return std::string_view(d.domain) < k; });
  if (it == routes.domains.end() || it->domain != key) {
    return kNone;
  }
  return static_cast<int32_t>(it->root);
}

// Fills params from the matched API's pattern (the path is known to fit it).
void bind_params(const std::vector<SegKind>& pattern, MatchResult* r) noexcept {
  const std::string_view path = r->path;
  size_t pos = 0;
  for (SegKind kind : pattern) {
    const size_t start = pos + 1;
    if (kind == SegKind::kGreedy) {
      r->params[r->param_count++] = path.substr(start);
      return;
    }
    size_t end = start;
    while (end < path.size() && path[end] != '/') {  // segments are short: no memchr call
      ++end;
    }
    if (kind == SegKind::kParam) {
      r->params[r->param_count++] = path.substr(start, end - start);
    }
    pos = end;
  }
}

}  // namespace

std::string_view normalize_host(std::string_view host, char* buf) noexcept {
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);  // npos + 1 == 0 keeps nothing
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (!host.empty() && host.back() == '.') {
    host.remove_suffix(1);
  }
  if (host.size() >= kMaxDomain) {
    return {};
  }
  for (size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buf, host.size()};
}

MethodKey method_key(std::string_view method_name) {
  for (size_t i = 0; i < kMethodNames.size(); ++i) {
    if (kMethodNames[i] == method_name) {
      return static_cast<MethodKey>(i);
    }
  }
  return MethodKey::kOther;
}

RouteTable::RouteTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RouteTable::~RouteTable() = default;

MatchResult RouteTable::match(MethodKey method, std::string_view host, std::string_view path,
                              std::string_view stage) const noexcept {
  const Impl& t = *impl_;
  MatchResult r;
  r.path = path;
  const int32_t env = find_environment(t, stage);
  if (env == kNone) {
    r.status = MatchResult::Status::kNoEnvironment;
    return r;
  }
  r.environment = static_cast<uint32_t>(env);
  if (path.empty() || path.front() != '/') {
    return r;
  }
  const EnvRoutes& routes = t.envs[r.environment];
  Found found;
  for (int32_t root : {find_domain(routes, host), routes.any_host}) {
    if (root != kNone && found.api == kNone) {
      found = Matcher(t, method, path).run(static_cast<uint32_t>(root));
    }
  }
  if (found.api == kNone) {
    return r;
  }
  r.status = MatchResult::Status::kOk;
  r.api = &t.apis[static_cast<size_t>(found.api)];
  r.rest = path.substr(found.rest);
  bind_params(t.patterns[static_cast<size_t>(found.api)], &r);
  return r;
}

bool RouteTable::render_path(const MatchResult& m, std::string_view query,
                             Writer& out) const noexcept {
  if (m.status != MatchResult::Status::kOk || m.api == nullptr ||
      m.environment >= m.api->templates.size() || !m.api->published[m.environment]) {
    return false;
  }
  return render_template(m.api->templates[m.environment], m, query, out);
}

const std::vector<std::string>& RouteTable::environments() const { return impl_->environments; }

const std::vector<CompiledApi>& RouteTable::apis() const { return impl_->apis; }

std::vector<CompiledApi>& RouteTable::apis_to_complete() { return impl_->apis; }

}  // namespace ringway::route
