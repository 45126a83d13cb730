// The admin API (docs/admin.md): /healthz, /metrics, /v1/{channels,breakers,apis,shards,
// config} and the status page, served over plain HTTP/1.1 by the control thread's own
// io_uring loop — never by a shard, so API traffic cannot starve it and a slow admin
// client cannot slow the data plane.
//
// Thread affinity: control thread only. Everything an answer reads is either owned by the
// control thread (checker, reload counts, the current snapshot, which only this thread
// publishes and reclaims) or a per-shard cell summed with relaxed loads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/snapshot.h"
#include "proxy/shard_core.h"
#include "ringway/clock.h"
#include "ringway/health.h"
#include "ringway/metrics.h"
#include "ringway/rcu.h"

namespace ringway::core {
class Ring;
}

namespace ringway::admin {

struct ReloadStats {
  uint64_t ok = 0;
  uint64_t failed = 0;
};

// Where the shared objects come from (docs/admin.md, /v1/config_source): the file, or etcd
// with the revision served and the last refused document. Written by the control thread.
struct ConfigSourceStatus {
  bool etcd = false;
  std::string prefix;
  std::string endpoint;       // the etcd endpoint in use, or the last one tried
  bool connected = false;     // a watch is established
  int64_t revision = 0;       // etcd revision of the configuration served (0: none yet)
  int64_t seen_revision = 0;  // the newest revision read or watched
  std::string last_error;     // the last refused document's errors, one per line
  int64_t last_error_revision = 0;
  uint64_t refused = 0;  // assembled documents that did not validate
  uint64_t connection_failures = 0;
  std::string connection_error;  // the last failure to reach or read etcd
};

// What answers read. Every pointer outlives the Server.
struct Sources {
  const Clock* clock = nullptr;
  const RcuDomain<proxy::Snapshot>* rcu = nullptr;
  const health::Checker* checker = nullptr;
  const proxy::ShardContext* ctx = nullptr;
  const metrics::Store* store = nullptr;
  const ReloadStats* reloads = nullptr;
  const ConfigSourceStatus* source = nullptr;  // null: the file
};

struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// The answer to `method` `target` (path and query). Pure apart from what `src` reads.
Answer answer(std::string_view method, std::string_view target, const Sources& src);

// Prometheus text format 0.0.4 of everything docs/admin.md lists.
std::string metrics_text(const Sources& src);

// The admin listener's connections on a ring the caller owns and drives (the control
// loop): it queues operations tagged `tag | x` (x < 2^56) and the owner passes each such
// completion to on_completion(). The destructor closes every socket; destroy it after the
// ring (pending operations write into its buffers).
class Server {
 public:
  static constexpr uint32_t kMaxConnections = 64;
  static constexpr uint32_t kMaxHead = 8192;
  static constexpr uint64_t kIdleMs = 60000;
  static constexpr uint64_t kAcceptRetryMs = 100;  // after a failed accept (EMFILE, ENOMEM)

  // `listen_fd` is owned from now on.
  Server(core::Ring& ring, uint64_t tag, int listen_fd, Sources src);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void on_completion(uint64_t user_data, int res);
  // The earliest idle deadline or accept retry (clock ms), or UINT64_MAX.
  uint64_t next_deadline() const;
  // Closes connections idle past their deadline; accepts again after a failed accept.
  void expire(uint64_t now_ms);

 private:
  struct Conn;
  enum class OpKind : uint8_t { kAccept, kRecv, kSend, kCancel };
  uint64_t encode(OpKind kind, uint32_t slot, uint32_t gen) const;
  void arm_accept();
  void on_accept(int res);
  void arm_recv(Conn& c);
  void on_recv(Conn& c, int res);
  void serve_buffered(Conn& c);
  void arm_send(Conn& c);
  void on_sent(Conn& c, int res);
  void close_conn(Conn& c);
  void maybe_free(Conn& c);

  core::Ring& ring_;
  uint64_t tag_;
  int listen_fd_;
  Sources src_;
  uint64_t accept_retry_at_ = UINT64_MAX;  // clock ms: re-arm the accept (after a failure)
  std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace ringway::admin
