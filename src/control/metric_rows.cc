#include "control/metric_rows.h"

#include <algorithm>
#include <string>
#include <vector>

namespace ringway::control {

namespace {

// The backend rows of one API: by member of its channel, or one for a url backend (its
// authority); none for a mock.
std::vector<uint32_t> backend_rows(metrics::Store& store, const proxy::Compiled& c,
                                   const route::CompiledApi& api) {
  std::vector<uint32_t> rows;
  const route::CompiledBackend& b = api.backend;
  if (b.type != config::BackendType::kHttp) {
    return rows;
  }
  if (b.channel_index >= 0) {
    for (const proxy::ChannelMember& m : c.channels[static_cast<size_t>(b.channel_index)].members) {
      rows.push_back(store.backend.row({api.name, m.authority}));
    }
  } else {
    rows.push_back(store.backend.row({api.name, b.authority}));
  }
  return rows;
}

}  // namespace

void assign_metric_rows(metrics::Store& store, proxy::Compiled* c) {
  const std::vector<std::string>& envs = c->routes->environments();
  const std::vector<route::CompiledApi>& apis = c->routes->apis();
  proxy::MetricRows& r = c->metric_rows;
  r.environments = static_cast<uint32_t>(envs.size());
  r.release = static_cast<uint32_t>(std::find(envs.begin(), envs.end(), "RELEASE") - envs.begin());
  r.requests.assign((apis.size() + 1) * envs.size(), metrics::kNoRow);
  for (size_t a = 0; a <= apis.size(); ++a) {
    for (size_t e = 0; e < envs.size(); ++e) {
      // An API counts in the environments it is published in; any environment can see a 404.
      if (a == apis.size() || apis[a].published[e]) {
        r.requests[a * envs.size() + e] =
            store.requests.row({a < apis.size() ? apis[a].name : "", envs[e]});
      }
    }
  }
  for (const route::CompiledApi& api : apis) {
    r.retries.push_back(store.retries.row({api.name}));
    r.backend.push_back(backend_rows(store, *c, api));
  }
  for (proxy::Guard& g : c->guards.guards) {
    for (proxy::GuardRule& rule : g.rules) {
      rule.metrics_row =
          store.downgrades.row({g.policy, g.api, g.environment,
                                std::string(proxy::downgrade_type(rule.downgrade.kind))});
    }
  }
}

}  // namespace ringway::control
