// TLS contexts of a compiled configuration (tls_contexts.h).
#include "control/tls_contexts.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <tuple>

namespace ringway::control {

namespace {

// Context ids are unique for the process, so a reload's new context never meets a pooled
// connection of an old one under the same key.
std::atomic<uint64_t> g_next_ctx_id{1};

// The host of a Host header value: "[v6]:port" -> "v6", "name:port" -> "name".
std::string host_of(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t end = authority.find(']');
    return std::string(authority.substr(1, end == std::string_view::npos ? end : end - 1));
  }
  size_t colon = authority.find(':');
  return std::string(colon == std::string_view::npos ? authority : authority.substr(0, colon));
}

std::string path_of(const std::string& base, const tls::FileError& e) {
  return e.field.empty() ? base : base + "." + e.field;
}

bool compile_listeners(const config::Config& cfg, uint32_t shards, proxy::Compiled* out,
                       std::vector<config::Error>* errors) {
  out->listener_tls.resize(cfg.listeners.size());
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    if (!cfg.listeners[i].tls) {
      continue;
    }
    try {
      out->listener_tls[i] = std::make_shared<tls::ServerContext>(*cfg.listeners[i].tls, shards);
    } catch (const tls::FileError& e) {
      errors->push_back({path_of("listeners[" + std::to_string(i) + "].tls", e), e.message});
      return false;
    }
  }
  return true;
}

struct SharedClient {
  std::shared_ptr<const tls::ClientContext> ctx;
  uint64_t id = 0;
};

bool compile_backends(const config::Config& cfg, uint32_t shards, proxy::Compiled* out,
                      std::vector<config::Error>* errors) {
  using Files = std::tuple<std::string, std::string, std::string>;  // ca, certificate, key
  std::map<Files, SharedClient> contexts;
  for (route::CompiledApi& api : out->routes->apis_to_complete()) {
    const config::HttpBackend& h = cfg.apis[api.index].backend.http;
    if (cfg.apis[api.index].backend.type != config::BackendType::kHttp ||
        h.req_protocol != "https") {
      continue;
    }
    Files key = h.client_ssl
                    ? Files{h.client_ssl->ca, h.client_ssl->certificate, h.client_ssl->private_key}
                    : Files{};
    SharedClient& shared = contexts[key];
    if (shared.ctx == nullptr) {
      try {
        shared.ctx = std::make_shared<tls::ClientContext>(h.client_ssl, shards);
      } catch (const tls::FileError& e) {
        errors->push_back(
            {path_of("apis[" + std::to_string(api.index) + "].backend.client_ssl", e), e.message});
        return false;
      }
      shared.id = g_next_ctx_id.fetch_add(1, std::memory_order_relaxed);
    }
    route::CompiledBackend& b = api.backend;
    b.tls = shared.ctx;
    b.tls_ctx_id = shared.id;
    b.tls_name = !h.host_header.empty() ? host_of(h.host_header)
                 : h.channel.empty()    ? h.url.host
                                        : std::string();
    b.tls_name_hash = name_hash(b.tls_name);
  }
  return true;
}

}  // namespace

uint64_t name_hash(std::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : name) {
    h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  }
  return h;
}

bool compile_tls(const config::Config& cfg, uint32_t shards, proxy::Compiled* out,
                 std::vector<config::Error>* errors) {
  return compile_listeners(cfg, shards, out, errors) && compile_backends(cfg, shards, out, errors);
}

}  // namespace ringway::control
