// Checks that relate an API to other APIs or to other sections. They run after every
// section is read, and skip values already reported wrong, so one mistake gives one
// error (a bad req_uri is not also reported as a duplicate or as a bad template).
#include <map>
#include <string>
#include <tuple>

#include "config/loader.h"
#include "config/values.h"

namespace ringway::config::internal {

namespace {

bool methods_overlap(Method a, Method b) {
  return a == b || a == Method::kAny || b == Method::kAny;
}

// The first environment both APIs are published in, or nullptr.
const std::string* shared_environment(const Api& a, const Api& b) {
  for (const std::string& env : a.environments) {
    if (std::find(b.environments.begin(), b.environments.end(), env) != b.environments.end()) {
      return &env;
    }
  }
  return nullptr;
}

bool fields_ok(const Context& ctx, const std::string& path,
               std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    if (ctx.has_error_at(member_path(path, key))) {
      return false;
    }
  }
  return true;
}

// CONFIG.md "Duplicates": equal domain, match_mode and path pattern (parameter names
// ignored), overlapping methods (ANY overlaps all), in a shared environment. Reported
// once, on the later API, naming the first it conflicts with.
void check_duplicate_routes(Context& ctx, const Config& cfg) {
  using Key = std::tuple<std::string, MatchMode, std::string>;
  std::map<Key, std::vector<size_t>> routes;
  for (size_t i = 0; i < cfg.apis.size(); ++i) {
    const Api& api = cfg.apis[i];
    std::string path = index_path("apis", i);
    PathPattern pattern;
    if (!fields_ok(ctx, path, {"req_method", "req_uri", "match_mode", "domain", "environments"}) ||
        !check_req_uri(api.req_uri, &pattern).empty()) {
      continue;
    }
    std::vector<size_t>& same = routes[Key(ascii_lower(api.domain), api.match_mode, pattern.shape)];
    for (size_t j : same) {
      const Api& other = cfg.apis[j];
      const std::string* env = shared_environment(api, other);
      if (env != nullptr && methods_overlap(api.req_method, other.req_method)) {
        ctx.error(path, "conflicts with " + index_path("apis", j) + " " + quote(other.name) +
                            " in environment " + quote(*env) +
                            " (same domain, match_mode, path pattern and method)");
        break;
      }
    }
    same.push_back(i);
  }
}

const Environment* find_environment(const Config& cfg, std::string_view name) {
  for (const Environment& e : cfg.environments) {
    if (e.name == name) {
      return &e;
    }
  }
  return nullptr;
}

// The backend template may use the API's path parameters and the variables of every
// environment the API is published in.
void check_template_refs(Context& ctx, const Config& cfg, const Api& api, const std::string& path) {
  const HttpBackend& http = api.backend.http;
  std::string at = path + ".backend.req_uri";
  TemplateRefs refs;
  if (api.backend.type != BackendType::kHttp || ctx.has_error_at(at) ||
      !check_template(http.req_uri, &refs).empty()) {
    return;
  }
  PathPattern pattern;
  if (fields_ok(ctx, path, {"req_uri"}) && check_req_uri(api.req_uri, &pattern).empty()) {
    for (const std::string& p : refs.params) {
      if (std::find(pattern.params.begin(), pattern.params.end(), p) == pattern.params.end()) {
        ctx.error(at, "unknown parameter {" + p + "} (not in the API's req_uri)");
      }
    }
  }
  for (const std::string& env_name : api.environments) {
    const Environment* env = find_environment(cfg, env_name);
    for (const std::string& var : refs.variables) {
      if (env != nullptr && env->variables.count(var) == 0) {
        ctx.error(at, "variable #" + var + "# is not defined in environment " + quote(env_name));
      }
    }
  }
}

// With a channel, retries need another enabled member to go to (standbys count).
void check_retry_count(Context& ctx, const Config& cfg, const Api& api, const std::string& path) {
  const HttpBackend& http = api.backend.http;
  std::string at = path + ".backend.retry_count";
  if (api.backend.type != BackendType::kHttp || http.channel.empty() || http.retry_count < 0 ||
      ctx.has_error_at(at)) {
    return;
  }
  for (size_t i = 0; i < cfg.channels.size(); ++i) {
    const Channel& channel = cfg.channels[i];
    if (channel.name != http.channel) {
      continue;
    }
    if (ctx.has_error_at(index_path("channels", i) + ".members")) {
      return;
    }
    auto enabled = std::count_if(channel.members.begin(), channel.members.end(),
                                 [](const Member& m) { return m.enabled; });
    if (http.retry_count >= enabled) {
      ctx.error(at, "must be lower than " + std::to_string(enabled) +
                        ", the number of enabled members of channel " + quote(channel.name) +
                        " (got " + std::to_string(http.retry_count) + ")");
    }
    return;
  }
}

// A cascade backend signs with the instance's cascade key: the instance must have one.
void check_cascade(Context& ctx, const Config& cfg, const Api& api, const std::string& path) {
  if (api.backend.type == BackendType::kHttp && api.backend.http.cascade &&
      (!cfg.instance.cascade.enabled || cfg.instance.cascade.auth_keys.empty())) {
    ctx.error(path + ".backend.cascade",
              "needs instance.cascade.enabled with an auth_key (it signs with that key)");
  }
}
}  // namespace

void check_apis(Context& ctx, const Config& cfg) {
  check_duplicate_routes(ctx, cfg);
  for (size_t i = 0; i < cfg.apis.size(); ++i) {
    std::string path = index_path("apis", i);
    check_template_refs(ctx, cfg, cfg.apis[i], path);
    check_retry_count(ctx, cfg, cfg.apis[i], path);
    check_cascade(ctx, cfg, cfg.apis[i], path);
  }
}

}  // namespace ringway::config::internal
