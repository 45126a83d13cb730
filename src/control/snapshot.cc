#include "control/snapshot.h"

#include "control/guards.h"
#include "control/metric_rows.h"
#include "control/tls_contexts.h"

#include <algorithm>

namespace ringway::control {

using proxy::ChannelMember;
using proxy::Compiled;
using proxy::CompiledChannel;
using proxy::ShardLocal;
using proxy::Snapshot;

namespace {

std::string member_path(size_t c, size_t m) {
  return "channels[" + std::to_string(c) + "].members[" + std::to_string(m) + "].host";
}

bool compile_channels(const config::Config& cfg, uint32_t shards, Compiled* out,
                      std::vector<config::Error>* errors) {
  bool ok = true;
  for (size_t c = 0; c < cfg.channels.size(); ++c) {
    const config::Channel& ch = cfg.channels[c];
    CompiledChannel cc{ch.name, lb::Balancer::build(ch, shards), {}};
    for (size_t m = 0; m < ch.members.size(); ++m) {
      const config::Member& mem = ch.members[m];
      uint16_t port = mem.port != 0 ? mem.port : ch.port;
      ChannelMember cm;
      cm.authority = config::authority(mem.host, port, 80);
      cm.host = mem.host;
      cm.host_hash = name_hash(mem.host);
      std::string why;
      if (mem.enabled && !config::resolve_address(mem.host, port, &cm.addr, &cm.addr_len, &why)) {
        errors->push_back({member_path(c, m), why});
        ok = false;
      }
      cc.members.push_back(std::move(cm));
    }
    out->channels.push_back(std::move(cc));
  }
  return ok;
}

}  // namespace

std::shared_ptr<const Compiled> compile(config::Config cfg, uint32_t shards,
                                        std::vector<config::Error>* errors,
                                        const Compiled* previous, metrics::Store* store) {
  auto c = std::make_shared<Compiled>();
  size_t before = errors->size();
  c->routes = route::RouteTable::build(cfg, errors);
  if (!c->routes || errors->size() != before) {
    return nullptr;
  }
  if (!compile_channels(cfg, shards, c.get(), errors)) {
    return nullptr;
  }
  if (!compile_guards(cfg, *c->routes, std::max<uint32_t>(shards, 1),
                      previous != nullptr ? &previous->guards : nullptr, &c->guards, errors)) {
    return nullptr;
  }
  if (!compile_tls(cfg, std::max<uint32_t>(shards, 1), c.get(), errors)) {
    return nullptr;
  }
  c->health = health::targets_for(cfg);
  if (!c->health.errors.empty()) {
    errors->insert(errors->end(), c->health.errors.begin(), c->health.errors.end());
    return nullptr;
  }
  const config::Limits& l = cfg.limits;
  c->parser_limits.max_header_bytes = l.max_header_bytes;
  c->parser_limits.max_headers = std::min(l.max_headers, http::kMaxHeadersCap);
  c->parser_limits.max_body_bytes = l.max_body_bytes;
  c->head_buf_size = std::max<uint32_t>(l.max_header_bytes, 4096) + 2 * proxy::kRecvBufSize;
  c->shard_count = std::max<uint32_t>(shards, 1);
  c->shard_local = std::make_unique<ShardLocal[]>(c->shard_count);
  for (uint32_t s = 0; s < c->shard_count; ++s) {
    for (const CompiledChannel& ch : c->channels) {
      c->shard_local[s].lb.push_back(ch.balancer.make_shard_state());
    }
  }
  for (const config::App& app : cfg.apps) {
    c->apps.push_back({app.app_key, app.app_secret.value});
  }
  std::sort(
      c->apps.begin(), c->apps.end(),
      [](const proxy::AppCredential& a, const proxy::AppCredential& b) { return a.key < b.key; });
  c->config = std::move(cfg);
  const config::CascadeSettings& cs = c->config.instance.cascade;  // views into c->config
  c->cascade.enabled = cs.enabled;
  c->cascade.instance = c->config.instance.id;
  for (size_t i = 0; i < cs.auth_keys.size() && i < c->cascade.keys.size(); ++i) {
    c->cascade.keys[c->cascade.key_count++] = cs.auth_keys[i].value;
  }
  c->cascade.allowed.assign(cs.allowed_instances.begin(), cs.allowed_instances.end());
  if (store != nullptr) {
    assign_metric_rows(*store, c.get());
  }
  return c;
}

std::unique_ptr<Snapshot> make_snapshot(std::shared_ptr<const Compiled> compiled,
                                        const std::vector<uint8_t>& target_up) {
  auto s = std::make_unique<Snapshot>();
  const health::TargetSet& hs = compiled->health;
  s->up.resize(compiled->channels.size());
  for (size_t c = 0; c < compiled->channels.size(); ++c) {
    const std::vector<uint32_t>& map = hs.members[c];
    s->up[c].resize(map.size(), 1);
    for (size_t m = 0; m < map.size(); ++m) {
      uint32_t t = map[m];
      if (t == health::kUnresolved) {
        s->up[c][m] = 0;
      } else if (t != health::kNotChecked && t < target_up.size()) {
        s->up[c][m] = target_up[t];
      }
    }
  }
  s->compiled = std::move(compiled);
  return s;
}

}  // namespace ringway::control
