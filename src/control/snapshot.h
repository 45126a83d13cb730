// What shards read: the compiled configuration plus the members' health, as one immutable
// snapshot behind one pointer (RcuDomain), so a shard never pairs a configuration with
// health computed for another one.
//
// `Compiled` is built once per configuration load (control thread) and shared by every
// snapshot published for it; a health change publishes a new Snapshot that points at the
// same Compiled with new `up` arrays.
//
// The types are the shards' vocabulary and stay in ringway::proxy (shard code reads them
// everywhere); building them is the control plane's job: compile() and make_snapshot()
// are in ringway::control.
//
// Thread affinity: the types are immutable once published (any thread reads them, the
// ShardLocal of shard i excepted, which only shard i writes); compile() and make_snapshot()
// run on the control thread.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/shard_cells.h"  // kCacheLine
#include "proxy/guard.h"
#include "ringway/config.h"
#include "ringway/health.h"
#include "ringway/http.h"
#include "ringway/lb.h"
#include "ringway/metrics.h"
#include "ringway/route.h"
#include "ringway/tls.h"

namespace ringway::proxy {

// Size of a shard's provided receive buffers. A head buffer holds a complete head plus two
// more receives, so a head at the limit can always be completed (Compiled::head_buf_size).
inline constexpr uint32_t kRecvBufSize = 16384;

struct ChannelMember {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string authority;   // default Host: "host" or "host:port"
  std::string host;        // as configured: the name an https backend verifies by default
  uint64_t host_hash = 0;  // of `host`, for TLS pool keys (tls_identity)
};

struct CompiledChannel {
  std::string name;
  lb::Balancer balancer;
  std::vector<ChannelMember> members;  // config order
};

// What one shard changes while it serves a compiled configuration: allocated with the
// Compiled, indexed by shard, written only by its shard, freed with the Compiled (after
// every shard left every snapshot that points at it), so no shard can ever meet state
// made for another configuration.
struct alignas(core::kCacheLine) ShardLocal {
  std::vector<lb::ShardState> lb;  // by channel index
};

// An app of `auth_type: app` APIs: its key and resolved secret (never logged).
struct AppCredential {
  std::string key;
  std::string secret;
};

// The instance's cascade settings as the request path reads them: views into Compiled::config.
struct CascadeConfig {
  bool enabled = false;
  std::string_view instance;
  std::array<std::string_view, 2> keys{};  // sign with keys[0]; accept either
  size_t key_count = 0;
  std::vector<std::string_view> allowed;  // allowed_instances
};

// The rows of the node's metrics::Store this configuration counts into (kNoRow: not
// counted), made by control::compile from the configuration's names.
struct MetricRows {
  uint32_t environments = 0;
  uint32_t release = 0;  // RELEASE's environment index: where requests of no environment count
  // [api * environments + environment]; api == apis().size(): requests that matched no API.
  std::vector<uint32_t> requests;
  std::vector<uint32_t> retries;               // [api]
  std::vector<std::vector<uint32_t>> backend;  // [api][member of its channel], or [api][0] (url)
  uint32_t request_row(uint32_t api, uint32_t env) const {
    const size_t i = size_t{api} * environments + env;
    return i < requests.size() ? requests[i] : metrics::kNoRow;
  }
};

struct Compiled {
  config::Config config;
  std::unique_ptr<route::RouteTable> routes;
  std::vector<CompiledChannel> channels;
  Guards guards;                    // circuit breakers of the bound policies
  std::vector<AppCredential> apps;  // sorted by key
  CascadeConfig cascade;
  health::TargetSet health;  // check targets and member -> target map
  MetricRows metric_rows;
  http::ParserLimits parser_limits;
  uint32_t head_buf_size = 0;  // a buffer that can hold a whole head plus two receives
  uint32_t shard_count = 0;
  std::unique_ptr<ShardLocal[]> shard_local;  // [shard_count]
  // By listener index: the TLS contexts of a TLS listener, null for a plain one. Rebuilt by
  // every reload (new certificate files take effect for new handshakes).
  std::vector<std::shared_ptr<const tls::ServerContext>> listener_tls;

  // The app with `key`, or null (binary search: no allocation).
  const AppCredential* find_app(std::string_view key) const {
    auto it =
        std::lower_bound(apps.begin(), apps.end(), key,
                         [](const AppCredential& a, std::string_view k) { return a.key < k; });
    return it != apps.end() && it->key == key ? &*it : nullptr;
  }
  // Shard `shard` only: its own state for this configuration.
  ShardLocal& local(uint32_t shard) const { return shard_local[shard]; }
};

struct Snapshot {
  uint64_t generation = 0;  // set by RcuDomain::publish
  std::shared_ptr<const Compiled> compiled;
  std::vector<std::vector<uint8_t>> up;  // [channel][member]: 1 = healthy
  const Compiled& c() const { return *compiled; }
  lb::Health health(uint32_t channel) const {
    return {up[channel].data(), static_cast<uint32_t>(up[channel].size())};
  }
};

}  // namespace ringway::proxy

namespace ringway::control {

// Control thread. Compiles `cfg` for `shards` shards; nullptr with errors (JSON paths)
// on failure (unresolvable hosts, route build errors). The circuit breakers of policies that
// `previous` (the configuration being replaced) has unchanged are carried over.
// With `store`, the configuration's metric rows are made in it (else nothing is counted).
std::shared_ptr<const proxy::Compiled> compile(config::Config cfg, uint32_t shards,
                                               std::vector<config::Error>* errors,
                                               const proxy::Compiled* previous = nullptr,
                                               metrics::Store* store = nullptr);

// Control thread. A snapshot of `compiled` with the checker's per-target states
// (`target_up` in compiled->health.targets order; empty: every member healthy).
std::unique_ptr<proxy::Snapshot> make_snapshot(std::shared_ptr<const proxy::Compiled> compiled,
                                               const std::vector<uint8_t>& target_up);

}  // namespace ringway::control
