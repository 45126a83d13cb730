// Compiles a validated config::Config into the routing table (table_impl.h).
//
// Thread affinity: control thread only; allocates freely and resolves backend hosts
// (blocking). The loader has already validated the document; the checks here are the
// ones the table itself depends on (pattern shape, template references, slot conflicts),
// reported with their JSON paths like the loader's.
#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "route/table_impl.h"

namespace ringway::route {
namespace {

// An API's request pattern split into segments. A `{name+}` segment is not a trie edge:
// it becomes a terminal of the node before it; so does the trailing empty segment of a
// prefix pattern ending in '/' (kPrefixSlash).
struct ParsedPattern {
  std::vector<SegKind> kinds;
  std::vector<std::string> literals;  // by segment; empty for parameters
  std::vector<std::string> param_names;
  TerminalKind terminal = kExact;
};

struct BuildNode {
  std::map<std::string, uint32_t> literals;
  int32_t param = kNone;
  std::array<int32_t, kTerminalKinds> terminal{kNone, kNone, kNone, kNone, kNone};
};

class Builder {
 public:
  Builder(const config::Config& cfg, RouteTable::Impl* t, std::vector<config::Error>* errors)
      : cfg_(cfg), t_(*t), errors_(*errors) {}

  bool run() {
    add_environments();
    domain_roots_.resize(envs_.size());
    t_.envs.resize(envs_.size());
    t_.apis.reserve(cfg_.apis.size());
    for (size_t i = 0; i < cfg_.apis.size(); ++i) {
      add_api(i);
    }
    if (!errors_.empty()) {
      return false;
    }
    flatten();
    return true;
  }

 private:
  void add_environments() {
    for (const config::Environment& env : cfg_.environments) {
      envs_.push_back(&env);
    }
    auto is_release = [](const config::Environment* e) { return e->name == "RELEASE"; };
    auto it = std::find_if(envs_.begin(), envs_.end(), is_release);
    if (it == envs_.end()) {  // the loader adds it; a hand-built config may not
      implicit_release_.name = "RELEASE";
      envs_.push_back(&implicit_release_);
      it = envs_.end() - 1;
    }
    t_.release = static_cast<uint32_t>(it - envs_.begin());
    for (const config::Environment* env : envs_) {
      t_.environments.push_back(env->name);
    }
  }

  int32_t find_env(std::string_view name) const {
    for (size_t i = 0; i < envs_.size(); ++i) {
      if (envs_[i]->name == name) {
        return static_cast<int32_t>(i);
      }
    }
    return kNone;
  }

  void add_api(size_t index) {
    const config::Api& api = cfg_.apis[index];
    CompiledApi& out = t_.apis.emplace_back();
    out.name = api.name;
    out.index = static_cast<uint32_t>(index);
    out.method = api.req_method;
    out.app_auth = api.auth_type == config::AuthType::kApp;
    out.templates.resize(envs_.size());
    out.published.assign(envs_.size(), false);
    ParsedPattern pattern;
    const bool pattern_ok = parse_pattern(api, index, &pattern);
    out.param_names = pattern.param_names;
    t_.patterns.push_back(pattern.kinds);
    compile_backend(api, index, resolver_, &out.backend, &errors_);
    for (size_t c = 0; c < cfg_.channels.size(); ++c) {
      if (!out.backend.channel.empty() && cfg_.channels[c].name == out.backend.channel) {
        out.backend.channel_index = static_cast<int32_t>(c);
      }
    }
    const std::vector<std::string> release_only = {"RELEASE"};
    const std::vector<std::string>& names =
        api.environments.empty() ? release_only : api.environments;
    for (size_t j = 0; j < names.size(); ++j) {
      const int32_t env = find_env(names[j]);
      if (env == kNone) {
        errors_.push_back({api_path(index, "environments[" + std::to_string(j) + "]"),
                           "unknown environment \"" + names[j] + "\""});
        continue;
      }
      const auto e = static_cast<size_t>(env);
      out.published[e] = true;
      compile_template(api, index, out.param_names, *envs_[e], &out.templates[e], &errors_);
      if (pattern_ok) {
        insert(e, api, index, pattern);
      }
    }
  }

  bool parse_pattern(const config::Api& api, size_t index, ParsedPattern* p) {
    const std::string_view uri = api.req_uri;
    if (uri.empty() || uri.front() != '/') {
      return fail(index, "req_uri", "must start with \"/\"");
    }
    for (size_t start = 1;;) {
      const size_t end = std::min(uri.find('/', start), uri.size());
      if (!p->kinds.empty() && p->kinds.back() == SegKind::kGreedy) {
        return fail(index, "req_uri", "\"{name+}\" must be the last segment");
      }
      if (!add_segment(uri.substr(start, end - start), index, p)) {
        return false;
      }
      if (end == uri.size()) {
        break;
      }
      start = end + 1;
    }
    const bool prefix = api.match_mode == config::MatchMode::kPrefix;
    if (p->kinds.back() == SegKind::kGreedy) {
      p->terminal = prefix ? kGreedyPrefix : kGreedyExact;
    } else if (prefix && p->kinds.back() == SegKind::kLiteral && p->literals.back().empty()) {
      p->kinds.pop_back();
      p->literals.pop_back();
      p->terminal = kPrefixSlash;
    } else {
      p->terminal = prefix ? kPrefix : kExact;
    }
    return true;
  }

  bool add_segment(std::string_view seg, size_t index, ParsedPattern* p) {
    if (seg.size() < 2 || seg.front() != '{' || seg.back() != '}') {
      p->kinds.push_back(SegKind::kLiteral);
      p->literals.emplace_back(seg);
      return true;
    }
    std::string_view name = seg.substr(1, seg.size() - 2);
    const bool greedy = !name.empty() && name.back() == '+';
    if (greedy) {
      name.remove_suffix(1);
    }
    if (name.empty()) {
      return fail(index, "req_uri", "empty parameter name");
    }
    const auto& names = p->param_names;
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return fail(index, "req_uri", "duplicate parameter \"{" + std::string(name) + "}\"");
    }
    if (names.size() == kMaxParams) {
      return fail(index, "req_uri", "more than " + std::to_string(kMaxParams) + " parameters");
    }
    p->kinds.push_back(greedy ? SegKind::kGreedy : SegKind::kParam);
    p->literals.emplace_back();
    p->param_names.emplace_back(name);
    return true;
  }

  bool fail(size_t index, std::string_view field, std::string message) {
    errors_.push_back({api_path(index, field), std::move(message)});
    return false;
  }

  uint32_t new_node() {
    nodes_.emplace_back();
    return static_cast<uint32_t>(nodes_.size() - 1);
  }

  uint32_t root_for(size_t env, const std::string& domain) {
    if (domain.empty()) {
      if (t_.envs[env].any_host == kNone) {
        t_.envs[env].any_host = static_cast<int32_t>(new_node());
      }
      return static_cast<uint32_t>(t_.envs[env].any_host);
    }
    char buf[kMaxDomain];
    const std::string key(normalize_host(domain, buf));
    auto [it, fresh] = domain_roots_[env].try_emplace(key, 0);
    if (fresh) {
      it->second = new_node();
    }
    return it->second;
  }

  uint32_t child(uint32_t node, SegKind kind, const std::string& literal) {
    if (kind == SegKind::kParam) {
      if (nodes_[node].param == kNone) {
        const uint32_t c = new_node();
        nodes_[node].param = static_cast<int32_t>(c);
      }
      return static_cast<uint32_t>(nodes_[node].param);
    }
    auto it = nodes_[node].literals.find(literal);
    if (it != nodes_[node].literals.end()) {
      return it->second;
    }
    const uint32_t c = new_node();
    nodes_[node].literals.emplace(literal, c);
    return c;
  }

  void insert(size_t env, const config::Api& api, size_t index, const ParsedPattern& p) {
    uint32_t node = root_for(env, api.domain);
    for (size_t s = 0; s < p.kinds.size() && p.kinds[s] != SegKind::kGreedy; ++s) {
      node = child(node, p.kinds[s], p.literals[s]);
    }
    int32_t& term = nodes_[node].terminal[p.terminal];
    if (term == kNone) {
      term = static_cast<int32_t>(t_.terminals.size());
      t_.terminals.push_back({});
      t_.terminals.back().api.fill(kNone);
    }
    int32_t& slot =
        t_.terminals[static_cast<size_t>(term)].api[static_cast<size_t>(api.req_method)];
    if (slot != kNone) {
      const std::string other = "apis[" + std::to_string(slot) + "]";
      fail(index, "req_uri",
           "same method, domain and pattern as " + other + " in environment \"" + envs_[env]->name +
               "\"");
      return;
    }
    slot = static_cast<int32_t>(index);
  }

  // Moves the build trie into the flat arrays shards read.
  void flatten() {
    t_.nodes.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = t_.nodes[i];
      n.param = nodes_[i].param;
      n.terminal = nodes_[i].terminal;
      n.edge_begin = static_cast<uint32_t>(t_.edges.size());
      n.edge_count = static_cast<uint32_t>(nodes_[i].literals.size());
      for (const auto& [text, c] : nodes_[i].literals) {
        t_.edges.push_back({segment_hash(text), static_cast<uint32_t>(text.size()),
                            static_cast<uint32_t>(t_.pool.size()), c});
        t_.pool += text;
      }
      const std::string& pool = t_.pool;
      std::sort(t_.edges.begin() + n.edge_begin, t_.edges.end(),
                [&pool](const Edge& a, const Edge& b) {
                  if (a.hash != b.hash) {
                    return a.hash < b.hash;
                  }
                  return std::string_view(pool.data() + a.off, a.len) <
                         std::string_view(pool.data() + b.off, b.len);
                });
    }
    for (size_t e = 0; e < envs_.size(); ++e) {
      for (const auto& [domain, root] : domain_roots_[e]) {
        t_.envs[e].domains.push_back({domain, root});
      }
    }
  }

  const config::Config& cfg_;
  RouteTable::Impl& t_;
  std::vector<config::Error>& errors_;
  std::vector<const config::Environment*> envs_;
  config::Environment implicit_release_;
  std::vector<BuildNode> nodes_;
  std::vector<std::map<std::string, uint32_t>> domain_roots_;  // by environment
  Resolver resolver_;
};

}  // namespace

std::unique_ptr<RouteTable> RouteTable::build(const config::Config& cfg,
                                              std::vector<config::Error>* errors) {
  auto impl = std::make_unique<Impl>();
  std::vector<config::Error> found;
  if (!Builder(cfg, impl.get(), &found).run()) {
    if (errors != nullptr) {
      errors->insert(errors->end(), found.begin(), found.end());
    }
    return nullptr;
  }
  return std::unique_ptr<RouteTable>(new RouteTable(std::move(impl)));
}

}  // namespace ringway::route
