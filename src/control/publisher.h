// What the shards see: the running compiled configuration paired with the health checker's
// member states, published as one immutable snapshot (RcuDomain). Installs the initial
// configuration, reloads the file on SIGHUP, republishes when health changes. Freeing old
// snapshots (RcuDomain::reclaim) is the control loop's job.
//
// Thread affinity: control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/access_log_files.h"
#include "control/snapshot.h"
#include "proxy/shard.h"
#include "ringway/admin.h"
#include "ringway/config.h"
#include "ringway/health.h"
#include "ringway/rcu.h"
#include "ringway/server.h"

namespace ringway::control {

// Logs each error as `config error: <path>: <message>`.
void log_config_errors(const std::vector<config::Error>& errors);

class Publisher {
 public:
  // Every reference must outlive the publisher. `shards` is the running shard count.
  // `store`: where compiled configurations count (may be null: nothing is counted).
  Publisher(const ServeOptions& opt, RcuDomain<proxy::Snapshot>& rcu, proxy::ShardContext& ctx,
            uint32_t shards, health::Checker& checker, metrics::Store* store = nullptr);

  // Makes `next` the running configuration and publishes it; the checker keeps the health
  // of members whose address and check settings did not change.
  void install(std::shared_ptr<const proxy::Compiled> next);

  // Reloads opt.config_path: a valid file is installed (`reload ok generation=<g>`); an
  // invalid one, or one changing listeners or shards, is logged (`config error: ...`,
  // `reload failed errors=<n>`) and the running configuration stays.
  void reload();

  // etcd mode (config_source.etcd): the shared objects as of etcd `revision`. They are
  // assembled with the node's file into one document, validated and compiled as a reload
  // does; a valid one is installed (`etcd: revision <r> installed`), an invalid one is
  // logged with every error's path (`config error: <prefix><key>.<field>: ...`) and the
  // revision, shown by the admin API, and the running configuration stays.
  void install_shared(const std::map<std::string, std::string>& objects, int64_t revision);

  // Publishes the running configuration with the checker's current health, and wakes the
  // shards so they pass their quiescent point (and pick it up) at once.
  void publish();

  // Reloads that installed a configuration, and reloads refused (the admin API's count).
  const admin::ReloadStats& reloads() const { return reloads_; }
  // The running configuration.
  const config::Config& running() const { return compiled_->config; }
  // The configuration source as the admin API shows it (EtcdWatch writes its side).
  admin::ConfigSourceStatus& source_status() { return source_; }
  // The access log file: configured by install (so by reload too), reopened on SIGUSR1.
  AccessLogFiles& access_log() { return access_log_; }

 private:
  const ServeOptions& opt_;
  RcuDomain<proxy::Snapshot>& rcu_;
  proxy::ShardContext& ctx_;
  uint32_t shards_;
  health::Checker& checker_;
  metrics::Store* store_;
  std::shared_ptr<const proxy::Compiled> compiled_;
  admin::ReloadStats reloads_;
  AccessLogFiles access_log_;
  admin::ConfigSourceStatus source_;
  // etcd mode: the node's file as last loaded, and the shared objects last given.
  std::string local_source_;
  std::map<std::string, std::string> shared_;
  int64_t shared_revision_ = 0;

  // The configuration `local` (a node's file text) makes with shared_, compiled against the
  // running one; null with `errors` when it does not validate. `*same`: it is the running one.
  std::shared_ptr<const proxy::Compiled> build(const config::Config& local_cfg,
                                               std::vector<config::Error>* errors, bool* same);
};

}  // namespace ringway::control
