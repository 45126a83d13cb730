// The loader's entry points and the document's small sections: instance, listeners,
// admin, limits, environments, apps, policies, bindings. Channels and APIs have their own
// files; cross checks between APIs live in validate_apis.cc.
#include "config/loader.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <map>
#include <tuple>

#include "config/values.h"
#include "ringway/tls.h"

namespace ringway::config {

namespace internal {

namespace dom = simdjson::dom;

namespace {

constexpr std::string_view kRelease = "RELEASE";
constexpr size_t kMinCascadeKeyBytes = 16;
constexpr size_t kMaxAllowedInstances = 5;
constexpr int64_t kMaxU32 = std::numeric_limits<uint32_t>::max();

std::string check_not_empty(std::string_view s) { return s.empty() ? "must not be empty" : ""; }

// A non-empty file path, resolved against the configuration's directory.
bool read_file_path(const Obj& o, std::string_view key, std::string& out,
                    Need need = Need::kOptional) {
  if (!o.read_checked(key, out, check_not_empty, need)) {
    return false;
  }
  out = resolve_path(o.ctx().base_dir, out);
  return true;
}

// A secret string (literal, env:NAME, file:PATH) of at least `min_bytes` once resolved.
void read_secret(const Value& v, Secret& out, size_t min_bytes = 1) {
  std::optional<std::string> s = v.string();
  if (!s) {
    return;
  }
  std::string message = resolve_secret(*s, v.ctx->base_dir, &out);
  if (message.empty() && out.value.size() < min_bytes) {
    message = "must be at least " + std::to_string(min_bytes) + " bytes (got " +
              std::to_string(out.value.size()) + ")";
  }
  if (!message.empty()) {
    v.error(std::move(message));
  }
}

// `auth_key`: one key, or [new, old] during a rotation. Kept only when enabled.
void read_cascade(const Value& v, CascadeSettings& c) {
  Obj o(v, {"enabled", "auth_key", "allowed_instances"});
  o.read("enabled", c.enabled);
  if (std::optional<Value> key =
          o.field("auth_key", c.enabled ? Need::kRequired : Need::kOptional)) {
    dom::array pair;
    if (key->el.is_string()) {
      read_secret(*key, c.auth_keys.emplace_back(), kMinCascadeKeyBytes);
    } else if (key->el.get_array().get(pair) == simdjson::SUCCESS && pair.size() == 2) {
      read_list(o, "auth_key", c.auth_keys,
                [](const Value& k, Secret& s) { read_secret(k, s, kMinCascadeKeyBytes); });
    } else {
      key->error("must be a string or a list of two strings [new, old]");
    }
  }
  Names ids("instance id");
  read_list(o, "allowed_instances", c.allowed_instances, [&ids](const Value& id, std::string& out) {
    if (std::optional<std::string> s = read_name(id)) {
      out = *s;
      ids.add(id, out);
    }
  });
  if (c.allowed_instances.size() > kMaxAllowedInstances) {
    o.ctx().error(o.path("allowed_instances"),
                  "must have at most " + std::to_string(kMaxAllowedInstances) + " entries (got " +
                      std::to_string(c.allowed_instances.size()) + ")");
  }
  if (!c.enabled) {
    c.auth_keys.clear();
  }
}

void read_instance(const Obj& top, Instance& instance) {
  std::optional<Value> v = top.field("instance", Need::kRequired);
  if (!v) {
    return;
  }
  Obj o(*v, {"id", "cascade"});
  if (std::optional<Value> id = o.field("id", Need::kRequired)) {
    instance.id = read_name(*id).value_or("");
  }
  if (std::optional<Value> cascade = o.field("cascade")) {
    read_cascade(*cascade, instance.cascade);
  }
}

// A listening address: an IP literal and a port. Addresses with a fixed port must not
// repeat across listeners and admin.
void read_listen_address(const Obj& o, Address& out, Names& taken) {
  o.read_checked(
      "address", out.text,
      [&out](std::string_view s) -> std::string {
        std::optional<Address> a = parse_address(s);
        if (!a || !is_ip_literal(*a)) {
          return "must be an IP address and port like 0.0.0.0:8080 or [::1]:8080 (got " + quote(s) +
                 ")";
        }
        out = *a;
        return "";
      },
      Need::kRequired);
  if (out.port != 0) {
    taken.add(*o.field("address"), host_port(out.host, out.port));
  }
}

// A certificate and its private key, both required.
void read_key_pair(const Obj& o, std::string& certificate, std::string& private_key) {
  read_file_path(o, "certificate", certificate, Need::kRequired);
  read_file_path(o, "private_key", private_key, Need::kRequired);
}

std::string check_server_name(std::string_view s) {
  std::string_view host = s.substr(0, 2) == "*." ? s.substr(2) : s;
  return is_host_name(host) ? ""
                            : "must be a host name like api.example.com (got " + quote(s) + ")";
}

ListenerTls read_listener_tls(const Value& v) {
  Obj o(v, {"certificate", "private_key", "sni", "client_ca"});
  ListenerTls tls;
  read_key_pair(o, tls.certificate, tls.private_key);
  read_file_path(o, "client_ca", tls.client_ca);
  read_list(o, "sni", tls.sni, [](const Value& sv, SniEntry& sni) {
    Obj entry(sv, {"server_name", "certificate", "private_key"});
    entry.read_checked("server_name", sni.server_name, check_server_name, Need::kRequired);
    read_key_pair(entry, sni.certificate, sni.private_key);
  });
  return tls;
}

void read_listeners(const Obj& top, Config& cfg) {
  Names names("listener");
  Names addresses("address");
  read_named_list(top, "listeners", cfg.listeners, names, {"name", "address", "tls"},
                  [&addresses](const Obj& o, Listener& l) {
                    read_listen_address(o, l.address, addresses);
                    if (std::optional<Value> tls = o.field("tls")) {
                      l.tls = read_listener_tls(*tls);
                    }
                  });
  if (std::optional<Value> admin = top.field("admin")) {
    Obj o(*admin, {"address"});
    read_listen_address(o, cfg.admin.emplace(), addresses);
  }
}

void read_limits(const Obj& top, Limits& l) {
  std::optional<Value> v = top.field("limits");
  if (!v) {
    return;
  }
  Obj o(*v, {"max_header_bytes", "max_headers", "max_body_bytes", "client_header_timeout_ms",
             "client_idle_timeout_ms", "max_connections", "upgrade_idle_timeout_ms"});
  o.read("max_header_bytes", l.max_header_bytes, 1, kMaxU32);
  o.read("max_headers", l.max_headers, 1, kMaxU32);
  o.read("max_body_bytes", l.max_body_bytes, 0, std::numeric_limits<int64_t>::max());
  o.read("client_header_timeout_ms", l.client_header_timeout_ms, 1, kMaxU32);
  o.read("client_idle_timeout_ms", l.client_idle_timeout_ms, 1, kMaxU32);
  o.read("max_connections", l.max_connections, 1, kMaxU32);
  o.read("upgrade_idle_timeout_ms", l.upgrade_idle_timeout_ms, 1, kMaxU32);
}

void read_access_log(const Obj& top, Config& cfg) {
  std::optional<Value> v = top.field("access_log");
  if (!v) {
    return;
  }
  Obj o(*v, {"path"});
  read_file_path(o, "path", cfg.access_log.emplace().path, Need::kRequired);
}

// Environments; RELEASE is added (without variables) when not listed.
void read_environments(const Obj& top, Registry& reg, Config& cfg) {
  read_named_list(top, "environments", cfg.environments, reg.environments, {"name", "variables"},
                  [](const Obj& o, Environment& e) {
                    if (std::optional<Value> vars = o.field("variables")) {
                      for_each_member(*vars, [&e](std::string_view name, const Value& value) {
                        if (!is_variable_name(name)) {
                          value.error(std::string(kVariableRule) + " (got " + quote(name) + ")");
                        }
                        e.variables[std::string(name)] = value.string().value_or("");
                      });
                    }
                  });
  if (!reg.environments.contains(kRelease)) {
    cfg.environments.push_back({std::string(kRelease), {}});
    reg.environments.add_implicit(std::string(kRelease));
  }
}

void read_apps(const Obj& top, Config& cfg) {
  Names names("app");
  Names keys("app_key");
  read_named_list(top, "apps", cfg.apps, names, {"name", "app_key", "app_secret"},
                  [&keys](const Obj& o, App& app) {
                    if (o.read_checked("app_key", app.app_key, check_not_empty, Need::kRequired)) {
                      keys.add(*o.field("app_key"), app.app_key);
                    }
                    if (std::optional<Value> secret = o.field("app_secret", Need::kRequired)) {
                      read_secret(*secret, app.app_secret);
                    }
                  });
}

const Api* find_api(const Config& cfg, std::string_view name) {
  for (const Api& a : cfg.apis) {
    if (a.name == name) {
      return &a;
    }
  }
  return nullptr;
}

const Policy* find_policy(const Config& cfg, std::string_view name) {
  for (const Policy& p : cfg.policies) {
    if (p.name == name) {
      return &p;
    }
  }
  return nullptr;
}

// A binding's environment must publish its API, and an (api, environment) pair takes at
// most one policy of each type.
void check_binding(const Obj& o, const Config& cfg, const Binding& b,
                   std::map<std::tuple<std::string, std::string, std::string>, std::string>& seen) {
  const Api* api = find_api(cfg, b.api);
  const Policy* policy = find_policy(cfg, b.policy);
  if (api == nullptr || policy == nullptr ||
      o.ctx().has_error_at(index_path("apis", static_cast<size_t>(api - cfg.apis.data())) +
                           ".environments")) {
    return;
  }
  const std::vector<std::string>& envs = api->environments;
  if (std::find(envs.begin(), envs.end(), b.environment) == envs.end()) {
    o.ctx().error(
        o.path("environment"),
        "api " + quote(b.api) + " is not published in environment " + quote(b.environment));
    return;
  }
  auto [it, inserted] = seen.emplace(std::tuple(b.api, b.environment, policy->type), o.path());
  if (!inserted) {
    o.error("api " + quote(b.api) + " already has a " + policy->type + " policy in environment " +
            quote(b.environment) + " (" + it->second + ")");
  }
}

void read_bindings(const Obj& top, const Registry& reg, Config& cfg) {
  std::map<std::tuple<std::string, std::string, std::string>, std::string> seen;
  read_list(top, "bindings", cfg.bindings, [&](const Value& v, Binding& b) {
    Obj o(v, {"policy", "api", "environment"});
    bool ok = reg.policies.read_ref(o, "policy", b.policy);
    ok = reg.apis.read_ref(o, "api", b.api) && ok;
    ok = reg.environments.read_ref(o, "environment", b.environment) && ok;
    if (ok) {
      check_binding(o, cfg, b, seen);
    }
  });
}

Config read_document(Context& ctx, dom::element root, bool assembled) {
  Config cfg;
  Obj top(Value{&ctx, "", root},
          {"version", "instance", "shards", "listeners", "admin", "access_log", "limits",
           "environments", "apps", "channels", "apis", "policies", "bindings", "config_source"});
  if (std::optional<Value> v = top.field("version", Need::kRequired)) {
    std::optional<int64_t> n = v->integer(std::numeric_limits<int64_t>::min(), kMaxU32);
    if (n && *n != 1) {
      v->error("must be 1 (got " + std::to_string(*n) + ")");
    }
  }
  read_instance(top, cfg.instance);
  top.read("shards", cfg.shards, 0, 1024);
  read_listeners(top, cfg);
  read_access_log(top, cfg);
  read_config_source(top, cfg);
  if (!assembled) {
    reject_local_shared(top, cfg);
  }
  read_limits(top, cfg.limits);
  Registry reg;
  read_environments(top, reg, cfg);
  read_apps(top, cfg);
  read_channels(top, reg, cfg);
  read_policies(top, reg, cfg);
  read_apis(top, reg, cfg);
  read_bindings(top, reg, cfg);
  check_apis(ctx, cfg);
  return cfg;
}

}  // namespace

void reject_unbuilt_features(const Config& cfg, const BuiltFeatures& built,
                             std::vector<Error>* errors) {
  auto reject = [errors](bool used, std::string path) {
    if (used) {
      errors->push_back({std::move(path), "not supported yet"});
    }
  };
  reject(!built.cascade && cfg.instance.cascade.enabled, "instance.cascade.enabled");
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    reject(!built.listener_tls && cfg.listeners[i].tls, index_path("listeners", i) + ".tls");
  }
  reject(!built.admin && cfg.admin.has_value(), "admin");
  reject(!built.etcd_tls && cfg.etcd && cfg.etcd->tls, "config_source.etcd.tls");
  reject(!built.channels && !cfg.channels.empty(), "channels");
  for (size_t i = 0; i < cfg.channels.size(); ++i) {
    const auto& hc = cfg.channels[i].health_check;
    // https checks come with TLS (wolfSSL glue).
    reject(!built.https_backends && hc && hc->protocol == CheckProtocol::kHttps,
           index_path("channels", i) + ".health_check.protocol");
  }
  for (size_t i = 0; i < cfg.apis.size(); ++i) {
    const Api& api = cfg.apis[i];
    std::string path = index_path("apis", i);
    reject(!built.app_auth && api.auth_type == AuthType::kApp, path + ".auth_type");
    reject(!built.https_backends && api.backend.http.req_protocol == "https",
           path + ".backend.req_protocol");
    reject(!built.https_backends && api.backend.http.client_ssl, path + ".backend.client_ssl");
    reject(!built.cascade && api.backend.http.cascade, path + ".backend.cascade");
  }
  reject(!built.policies && !cfg.policies.empty(), "policies");
  reject(!built.policies && !cfg.bindings.empty(), "bindings");
}

void check_tls_files(const Config& cfg, std::vector<Error>* errors) {
  auto report = [errors](const std::string& path, const std::optional<tls::FileError>& e) {
    if (e) {
      errors->push_back({e->field.empty() ? path : path + "." + e->field, e->message});
    }
  };
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    if (cfg.listeners[i].tls) {
      report(index_path("listeners", i) + ".tls", tls::check_listener(*cfg.listeners[i].tls));
    }
  }
  for (size_t i = 0; i < cfg.channels.size(); ++i) {
    const auto& hc = cfg.channels[i].health_check;
    if (hc && hc->client_ssl) {
      report(index_path("channels", i) + ".health_check.client_ssl",
             tls::check_client(*hc->client_ssl));
    }
  }
  if (cfg.etcd && cfg.etcd->tls) {
    report("config_source.etcd.tls", tls::check_client(*cfg.etcd->tls));
  }
  for (size_t i = 0; i < cfg.apis.size(); ++i) {
    if (cfg.apis[i].backend.http.client_ssl) {
      report(index_path("apis", i) + ".backend.client_ssl",
             tls::check_client(*cfg.apis[i].backend.http.client_ssl));
    }
  }
}

std::optional<TlsFiles> read_tls_files(const Obj& parent, std::string_view key) {
  std::optional<Value> v = parent.field(key);
  if (!v) {
    return std::nullopt;
  }
  // Every member optional (CONFIG.md): `ca` alone trusts a private CA; a client certificate
  // comes with its key.
  Obj o(*v, {"certificate", "private_key", "ca"});
  TlsFiles files;
  if (o.has("certificate") || o.has("private_key")) {
    read_key_pair(o, files.certificate, files.private_key);
  }
  read_file_path(o, "ca", files.ca);
  return files;
}

LoadResult load_config_with(std::string_view json, const LoadOptions& options) {
  LoadResult result;
  try {
    Context ctx{std::string(options.base_dir), {}};
    dom::parser parser;
    simdjson::padded_string padded(json);
    dom::element root;
    if (simdjson::error_code err = parser.parse(padded).get(root)) {
      result.errors.push_back({"", std::string("invalid JSON: ") + simdjson::error_message(err)});
      return result;
    }
    Config cfg = read_document(ctx, root, options.assembled);
    reject_unbuilt_features(cfg, options.built, &ctx.errors);
    if (ctx.errors.empty() && options.check_files) {
      check_tls_files(cfg, &ctx.errors);  // only a well-formed document: it reads files
    }
    result.errors = std::move(ctx.errors);
    if (result.errors.empty()) {
      cfg.source = std::string(json);
      result.config = std::move(cfg);
    }
  } catch (const std::exception& e) {
    result.errors.push_back({"", std::string("internal error: ") + e.what()});
  } catch (...) {
    result.errors.push_back({"", "internal error"});
  }
  return result;
}

}  // namespace internal

LoadResult load_config(std::string_view json, std::string_view base_dir) {
  return internal::load_config_with(json, {base_dir, internal::kBuiltFeatures});
}

LoadResult load_config_file(const std::string& path) {
  LoadResult result;
  try {
    std::string text;
    if (std::string message = internal::read_file(path, &text, internal::kMaxConfigFileBytes);
        !message.empty()) {
      result.errors.push_back({"", std::move(message)});
      return result;
    }
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    return load_config(text, dir);
  } catch (...) {  // only allocation can fail here
    result.errors.push_back({"", "internal error"});
  }
  return result;
}

}  // namespace ringway::config
