#include "control/publisher.h"

#include <utility>

#include "ringway/log.h"

namespace ringway::control {
namespace {

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
  if (compiled_->cascade.enabled && ctx_.nonces_owner == nullptr) {
    // Before the snapshot that needs it is published (its release orders the store).
    ctx_.nonces_owner = std::make_unique<cascade::NonceCache>();
    ctx_.nonces.store(ctx_.nonces_owner.get(), std::memory_order_release);
  }
  checker_.set_targets(compiled_->health.targets);
  access_log_.configure(compiled_->config.access_log);
  publish();
}

void Publisher::reload() {
  config::LoadResult r = config::load_config_file(opt_.config_path);
  std::vector<config::Error> errors = r.errors;
  std::shared_ptr<const proxy::Compiled> next;
  if (r.ok()) {
    if (!same_listeners(compiled_->config, *r.config)) {
      errors.push_back({"listeners", "listener, admin and shard changes need a restart"});
    } else {
      next = compile(std::move(*r.config), shards_, &errors, compiled_.get(), store_);
    }
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
