#include "control/publisher.h"

#include <utility>

#include "ringway/config_source.h"
#include "ringway/log.h"

namespace ringway::control {
namespace {

// The directory relative paths of a configuration file resolve against.
std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

bool same_source(const config::Config& a, const config::Config& b) {
  if (a.etcd.has_value() != b.etcd.has_value()) {
    return false;
  }
  if (!a.etcd) {
    return true;
  }
  if (a.etcd->prefix != b.etcd->prefix || a.etcd->endpoints.size() != b.etcd->endpoints.size() ||
      a.etcd->timeout_ms != b.etcd->timeout_ms) {
    return false;
  }
  for (size_t i = 0; i < a.etcd->endpoints.size(); ++i) {
    if (a.etcd->endpoints[i].text != b.etcd->endpoints[i].text) {
      return false;
    }
  }
  return true;
}

bool same_listeners(const config::Config& a, const config::Config& b) {
  if (a.listeners.size() != b.listeners.size() || a.shards != b.shards ||
      a.admin.has_value() != b.admin.has_value() || (a.admin && a.admin->text != b.admin->text)) {
    return false;
  }
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    if (a.listeners[i].name != b.listeners[i].name ||
        a.listeners[i].address.text != b.listeners[i].address.text) {
      return false;
    }
  }
  return true;
}

}  // namespace

void log_config_errors(const std::vector<config::Error>& errors) {
  for (const auto& e : errors) {
    RW_ERROR("config error: %s", e.str().c_str());
  }
}

Publisher::Publisher(const ServeOptions& opt, RcuDomain<proxy::Snapshot>& rcu,
                     proxy::ShardContext& ctx, uint32_t shards, health::Checker& checker,
                     metrics::Store* store)
    : opt_(opt),
      rcu_(rcu),
      ctx_(ctx),
      shards_(shards),
      checker_(checker),
      store_(store),
      access_log_(ctx) {}

void Publisher::publish() {
  rcu_.publish(make_snapshot(compiled_, checker_.up()));
  ctx_.wake_all();
}

void Publisher::install(std::shared_ptr<const proxy::Compiled> next) {
  compiled_ = std::move(next);
  if (compiled_->config.etcd && local_source_.empty()) {
    local_source_ = compiled_->config.source;  // the node's file, before anything from etcd
  }
  if (compiled_->cascade.enabled && ctx_.nonces_owner == nullptr) {
    // Before the snapshot that needs it is published (its release orders the store).
    ctx_.nonces_owner = std::make_unique<cascade::NonceCache>();
    ctx_.nonces.store(ctx_.nonces_owner.get(), std::memory_order_release);
  }
  checker_.set_targets(compiled_->health.targets);
  access_log_.configure(compiled_->config.access_log);
  publish();
}

std::shared_ptr<const proxy::Compiled> Publisher::build(const config::Config& local_cfg,
                                                        std::vector<config::Error>* errors,
                                                        bool* same) {
  const std::string& prefix = local_cfg.etcd->prefix;
  config::Assembled a = config::assemble(local_cfg.source, prefix, shared_, errors);
  *same = errors->empty() && a.json == compiled_->config.source;
  if (!errors->empty() || *same) {
    return nullptr;
  }
  config::LoadResult r = config::load_assembled(a.json, dir_of(opt_.config_path));
  if (!r.ok()) {
    *errors = std::move(r.errors);
    config::map_error_paths(a, prefix, errors);
    return nullptr;
  }
  return compile(std::move(*r.config), shards_, errors, compiled_.get(), store_);
}

void Publisher::install_shared(const std::map<std::string, std::string>& objects,
                               int64_t revision) {
  shared_ = objects;
  shared_revision_ = revision;
  config::LoadResult local = config::load_config(local_source_, dir_of(opt_.config_path));
  std::vector<config::Error> errors = local.errors;
  bool same = false;
  std::shared_ptr<const proxy::Compiled> next;
  if (local.ok()) {
    next = build(*local.config, &errors, &same);
  }
  if (same) {
    source_.revision = revision;
    return;
  }
  if (!next || !errors.empty()) {
    std::string text;
    for (const config::Error& e : errors) {
      RW_ERROR("config error: %s (etcd revision %lld)", e.str().c_str(),
               static_cast<long long>(revision));
      text += e.str() + "\n";
    }
    ++source_.refused;
    source_.last_error = std::move(text);
    source_.last_error_revision = revision;
    RW_ERROR("etcd: revision %lld refused (%zu errors): still serving revision %lld",
             static_cast<long long>(revision), errors.size(),
             static_cast<long long>(source_.revision));
    return;
  }
  install(std::move(next));
  source_.revision = revision;
  RW_INFO("etcd: revision %lld installed generation=%llu", static_cast<long long>(revision),
          static_cast<unsigned long long>(rcu_.generation()));
}

void Publisher::reload() {
  config::LoadResult r = config::load_config_file(opt_.config_path);
  std::vector<config::Error> errors = r.errors;
  std::shared_ptr<const proxy::Compiled> next;
  bool same = false;
  if (r.ok()) {
    if (!same_listeners(compiled_->config, *r.config)) {
      errors.push_back({"listeners", "listener, admin and shard changes need a restart"});
    } else if (!same_source(compiled_->config, *r.config)) {
      errors.push_back({"config_source", "config_source changes need a restart"});
    } else if (r.config->etcd) {
      std::string local = r.config->source;
      next = build(*r.config, &errors, &same);
      if (next || same) {
        local_source_ = std::move(local);
      }
    } else {
      next = compile(std::move(*r.config), shards_, &errors, compiled_.get(), store_);
    }
  }
  if (same) {
    ++reloads_.ok;
    RW_INFO("reload ok: no change");
    return;
  }
  if (!next || !errors.empty()) {
    log_config_errors(errors);
    ++reloads_.failed;
    RW_ERROR("reload failed errors=%zu", errors.size());
    return;
  }
  install(std::move(next));
  ++reloads_.ok;
  RW_INFO("reload ok generation=%llu", static_cast<unsigned long long>(rcu_.generation()));
}

}  // namespace ringway::control
