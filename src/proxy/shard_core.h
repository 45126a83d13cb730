// What the parts of one shard share: its ring, buffers, timers, connection slabs, parser
// free lists and snapshot holds (ShardCore), and the base of the parts that act on them
// (ShardPart): the client side (client_side.h), the forwarder that decides where an
// exchange goes (forwarder.h) and the upstream connections (upstreams.h). The event loop
// that dispatches completions to them is Shard (shard.h).
//
// Thread affinity: shard-local (built on the shard's thread with its Shard), except
// ShardContext, which the control thread writes.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "control/snapshot.h"
#include "core/buf_pool.h"
#include "core/ring.h"
#include "core/shard_cells.h"
#include "core/slab.h"
#include "core/timer_wheel.h"
#include "core/user_data.h"
#include "proxy/access_log.h"
#include "proxy/app_auth.h"
#include "proxy/conn.h"
#include "ringway/cascade.h"
#include "ringway/http.h"
#include "ringway/metrics.h"
#include "ringway/rcu.h"
#include "ringway/tls.h"
#include "transport/transport.h"

namespace ringway::proxy {

// Backend receives use their own provided buffers, large enough that the first receive of
// a response usually takes all the backend has sent (a 64 KiB body and its head in one go:
// the backend's window opens at once, as with NGINX's readv over its proxy buffers), with
// headroom in front where the client's response head is written, so head and body leave
// from that buffer (ClientConn::lead). At most half of them are held that way; the others
// keep the receives going.
inline constexpr uint32_t kUpRecvBufs = 256;
inline constexpr uint32_t kUpRecvBufSize = 65536;
inline constexpr uint32_t kUpHeadroom = 512;
inline constexpr uint32_t kMaxLeads = kUpRecvBufs / 2;
// A Content-Length body larger than this is relayed through one buffer of kRelayBufSize,
// received straight into it behind the bytes being sent: one receive and one send per
// burst of the backend, and no copy.
inline constexpr int64_t kDirectMinBody = 16384;
inline constexpr uint32_t kRelayBufSize = 128 * 1024;
inline constexpr uint32_t kDirectMinRoom = 16384;  // smaller free room waits for the send

// What each shard publishes about itself in ShardContext::stats, once per loop turn.
enum ShardStat : uint32_t {
  kStatBackendConns,    // backend connections open (busy, connecting or pooled)
  kStatRequests,        // requests answered since start
  kStatTlsOk,           // client TLS handshakes completed
  kStatTlsFailed,       // client TLS handshakes failed
  kStatUpgrades,        // 101s relayed (tunnels opened) since start
  kStatTunnels,         // tunnels open now
  kStatTunnelsClosed,   // tunnels closed since start
  kStatTunnelUs,        // their lifetimes summed, microseconds
  kStatTunnelBytesIn,   // tunnel bytes from clients to backends
  kStatTunnelBytesOut,  // tunnel bytes from backends to clients
  // Gauges of what a fault could leak (docs/admin.md, /v1/shards): each returns to zero
  // once the shard's clients are gone and its pooled connections closed.
  kStatPooledBackendConns,  // idle keep-alive backend connections in the pools
  kStatInFlight,            // exchanges begun (a request byte came) and not ended
  kStatBuffersInUse,        // BufPool buffers handed out (BufPool::in_use)
  kStatHeldRecvBuffers,     // provided receive buffers held: HeldBufs of both rings, leads
  kStatCount,
};

// Written by the control thread, read by shards.
struct ShardContext {
  RcuDomain<Snapshot>* rcu = nullptr;
  std::atomic<bool> draining{false};    // stop accepting, close idle, finish in-flight
  std::atomic<bool> force_stop{false};  // drain timeout passed: close everything
  uint32_t shard_count = 1;
  // limits.max_connections at start: sizes each shard's client slab. The limit in force is
  // the current snapshot's (a reload applies it; the slab grows when it is raised).
  uint32_t max_connections = 0;
  core::ShardCells<uint64_t> conn_counts;  // per shard: its open client connections
  // Per shard: its event loop's turns so far, stored (relaxed, no RMW) once per turn at the
  // loop top. Read by the control thread's watchdog (control/watchdog.h) and /v1/shards.
  core::ShardCells<uint64_t> loop_turns;
  core::ShardCells<uint64_t> stats;  // per shard: ShardStat cells (admin API, metrics)
  // The node's per-request counters (made by the control thread before the shards start,
  // kept to the end); null: nothing is counted (tests that build a shard alone).
  metrics::Store* metrics = nullptr;
  std::vector<int> wake_fds;  // eventfd per shard: wakes it for drain/reload
  // The node's cascade replay cache (ringway/cascade.h): made by the control thread when a
  // configuration first enables cascading, then kept to the end (a reload keeps the nonces
  // seen). Shards load it with acquire; null: no cascaded request can pass.
  std::atomic<cascade::NonceCache*> nonces{nullptr};
  std::unique_ptr<cascade::NonceCache> nonces_owner;
  // ---- access log (proxy/access_log.h) ----
  // The file the shards write to, published by the control thread (control/access_log_files.h)
  // as one word: AccessLogFile::pack(generation, fd); fd -1: no access log. A shard adopts it
  // at its next flush and then stores the generation it writes with in access_log_gen (cell
  // 0; UINT64_MAX once the shard has ended); the control thread closes a replaced fd once
  // every shard's generation passed it.
  std::atomic<uint64_t> access_log_file{0};
  core::ShardCells<uint64_t> access_log_gen;
  // Lines a shard could not write (no room while a write was in flight, or a failed write).
  // Summed as ringway_access_log_dropped_total.
  core::ShardCells<uint64_t> access_log_dropped;
  void wake_all() const;
  // Node-wide open client connections. Shards store without RMW, so concurrent accepts
  // on several shards can overshoot the limit by at most shards-1 connections.
  uint64_t connections() const { return conn_counts.sum(0); }
};

struct BackendKeyHash {
  size_t operator()(const BackendKey& k) const;
};

class ClientSide;
class Forwarder;
class Upstreams;

// The state every part of a shard uses. Plain data plus the few helpers that touch only
// it; the parts keep their own state (client counts, idle pools) themselves.
struct ShardCore {
  ShardCore(uint32_t id, ShardContext* ctx, uint64_t now_ms);
  ~ShardCore();
  ShardCore(const ShardCore&) = delete;
  ShardCore& operator=(const ShardCore&) = delete;

  // TLS streams (plain ones use a multishot receive, MultishotRx):
  // Queues one receive on `fd` into a provided buffer of `ring`, for at most what `buf`
  // can take (after compacting it, when allowed) and never less than kRecvBufSize. Returns
  // the length asked for; 0 under back-pressure: the owner re-arms once its bytes were
  // consumed. `poll_first`: no data is expected yet (IORING_RECVSEND_POLL_FIRST).
  uint32_t arm_recv(const transport::Stream& st, int fd, bool fixed, core::IoBuf& buf,
                    core::BufRing& ring, bool may_compact, bool poll_first, uint64_t user_data);
  // Moves a receive's bytes from its provided buffer of `ring` into `into` (null: dropped)
  // and gives the buffer back. arm_recv guaranteed the room.
  void take_received(core::BufRing& ring, core::IoBuf* into, int res, uint32_t flags);
  // Appends bytes to `into`, which gets a pooled buffer of at least `cap` (and a head
  // buffer) if it has none.
  void append_received(core::IoBuf& into, const char* data, uint32_t len, uint32_t cap);
  // ---- multishot receives of plain connections (MultishotRx, conn.h) ----
  void arm_multishot(const transport::Stream& st, int fd, bool fixed, core::BufRing& ring,
                     uint64_t user_data);
  // A plain connection (ClientConn, UpstreamConn) asks for its next bytes: what its receive
  // left (held bytes, an end) is handed over after this batch (`ready`); otherwise its
  // multishot receive is armed, unless it is.
  template <class Conn>
  void want_bytes(Conn& c, core::BufRing& ring, std::vector<uint32_t>& ready, uint64_t ud) {
    if (c.rx.pending()) {
      if (!c.rx.queued) {
        c.rx.queued = true;
        ready.push_back(c.slot);
      }
    } else if (!c.recv_armed) {
      arm_multishot(c.io, c.fd, c.fixed, ring, ud);
      c.recv_armed = true;
      ++c.inflight;
    }
  }
  // Books a completion of a plain connection's multishot receive: after its last one the
  // receive is no longer armed. True when that last one ends a stop (stop_multishot).
  template <class Conn>
  static bool multishot_done(Conn& c, uint32_t flags) {
    if ((flags & IORING_CQE_F_MORE) != 0) {
      return false;
    }
    c.recv_armed = false;
    return std::exchange(c.rx.stopping, false);
  }
  // Cancels the armed multishot receive `user_data`, once: `rx` holds bytes.
  void stop_multishot(MultishotRx& rx, uint64_t user_data);
  // A completion's bytes (res > 0, its buffer in `flags`) go into `into` when nothing is
  // held and they fit (after compacting `into`, when allowed); otherwise `rx` holds them.
  // True when they went into `into`.
  bool take_or_hold(MultishotRx& rx, core::BufRing& ring, core::IoBuf& into, int res,
                    uint32_t flags, bool may_compact);
  // Moves held bytes into `into`, as far as it has room. Returns how many.
  uint32_t take_held(MultishotRx& rx, core::BufRing& ring, core::IoBuf& into, bool may_compact);
  io_uring_sqe* cancel_fd(int fd);
  io_uring_sqe* cancel_ud(uint64_t user_data);
  // `fixed`: the fd's fixed-file slot is cleared first (Ring::unfix). `busy`: ops may still
  // be pending on fd; they are cancelled first, since a pending op keeps the socket open:
  // the one whose user_data is `only` when that is the only one (an O(1) lookup), else all
  // ops on fd (a walk over every pending poll of the ring).
  void close_fd(int fd, core::Op close_op = core::Op::kIgnore, bool fixed = false, bool busy = true,
                uint64_t only = 0);
  http::RequestParser* take_req_parser();
  // With the limits of `c`'s configuration (the snapshot its exchange holds).
  http::ResponseParser* take_resp_parser(const ClientConn& c);
  void give_parsers(ClientConn& c);
  // Once a second: frees the client objects and parsers no connection needed for a second.
  void trim_idle();
  // A held-body verification state (app_auth.h), pooled; give_auth_hold returns c's, if any.
  AuthHold* take_auth_hold();
  void give_auth_hold(ClientConn& c);
  // A TLS engine for a connection's transport (pooled: a shard keeps what it once needed);
  // give_tls resets it (its WOLFSSL freed) and makes `io` plain again.
  tls::Stream* take_tls();
  void give_tls(transport::Stream& io);
  // Counting (counters.cc; ringway/metrics.h). count_request: one answered request, with
  // the status sent and the time from its first byte to its last byte out.
  void count_request(const Exchange& x, uint16_t status, uint64_t duration_us);
  void count_attempt(const Exchange& x, metrics::Outcome outcome);  // one backend attempt
  void count_retry(const Exchange& x);
  void count_downgrade(const GuardRule& rule);  // a request answered by rule's downgrade
  // The current snapshot, held for an exchange until release_snapshot.
  const Snapshot* hold_snapshot();
  void release_snapshot(const Snapshot* s);

  uint32_t id_;
  ShardContext* ctx_;
  uint64_t now_ms_;     // the loop's clock reading for this turn
  int64_t unix_s_ = 0;  // the wall clock (s) read with now_ms_
  // Cascade nonces (cascade.cc): xoshiro128-style state seeded from getrandom at start; the
  // nonces must be unique, not secret (the signature keeps them from being forged).
  uint64_t nonce_state_[2] = {};
  uint64_t nonce_counter_ = 0;
  void nonce_bytes(uint8_t out[16]);
  // Declared before ring_: its buffers outlive a write the ring may still hold at the end.
  AccessLog alog_;
  core::Ring ring_;
  core::BufRing bufs_;       // client receives
  core::BufRing up_bufs_;    // backend receives (kUpRecvBufs of kUpRecvBufSize + kUpHeadroom)
  uint32_t leads_held_ = 0;  // up_bufs_ buffers held by clients as ClientConn::lead
  // sendmsg arguments of a lead send, by lead buffer id (live until its completion).
  struct LeadMsg {
    msghdr hdr;
    iovec iov[2];
  };
  std::vector<LeadMsg> lead_msgs_;
  core::TimerWheel timers_;
  core::BufPool pool_;
  core::Slab<ClientConn> clients_;
  core::Slab<UpstreamConn> upstreams_;
  http::BodySink req_sink;   // where request body bytes go (ClientSide)
  http::BodySink resp_sink;  // where response body bytes go (Upstreams)
  std::vector<std::unique_ptr<http::RequestParser>> req_parsers_;
  std::vector<std::unique_ptr<http::ResponseParser>> resp_parsers_;
  size_t req_parsers_low_ = 0;  // low-water marks of the two lists since the last trim_idle
  size_t resp_parsers_low_ = 0;
  std::vector<std::unique_ptr<AuthHold>> auth_holds_;   // free ones
  std::vector<std::unique_ptr<tls::Stream>> tls_free_;  // free TLS engines
  // TLS handshakes of this shard's client connections (metrics read them later; shard-local).
  uint64_t tls_handshakes_ok_ = 0;
  uint64_t tls_handshakes_failed_ = 0;
  uint64_t requests_ = 0;  // answered (ShardStat kStatRequests)
  uint64_t pooled_ = 0;    // idle pooled backend connections (kStatPooledBackendConns)
  // Exchanges between ClientSide::exchange_begin and exchange_end (kStatInFlight).
  uint64_t in_flight_ = 0;
  // Tunnels (tunnel.cc), as their ShardStat cells.
  uint64_t upgrades_ = 0;
  uint64_t tunnels_ = 0;
  uint64_t tunnels_closed_ = 0;
  uint64_t tunnel_us_ = 0;
  uint64_t tunnel_bytes_in_ = 0;
  uint64_t tunnel_bytes_out_ = 0;
  uint64_t held_body_bytes_ = 0;           // of every AuthHold in use (kMaxHeldBodyBytes)
  std::vector<uint32_t> starved_clients_;  // recv hit -ENOBUFS: re-arm after the batch
  std::vector<uint32_t> starved_upstreams_;
  // Connections whose held receive bytes (MultishotRx) are wanted: handed over after the
  // batch, outside the handler that asked (no recursion into the parsers).
  std::vector<uint32_t> ready_clients_;
  std::vector<uint32_t> ready_upstreams_;
  std::vector<std::pair<const Snapshot*, uint32_t>> held_;  // snapshots in use, refcounts
  const Snapshot* current_ = nullptr;
  ClientConn* body_target_ = nullptr;  // the connection whose parser is being fed
  bool draining_ = false;
  bool fd_freed_ = false;      // a close was queued in this turn of the loop
  std::vector<char> scratch_;  // backend path and attempt headers; a client head for a lead
};

// Base of a shard's parts: the shared core and the other parts, each part calling the
// others through these references (bound once, when the Shard is built).
struct ShardPart {
  ShardPart(ShardCore& k, ClientSide& client, Forwarder& fwd, Upstreams& up)
      : k_(k), client_(client), fwd_(fwd), up_(up) {}
  ShardCore& k_;
  ClientSide& client_;
  Forwarder& fwd_;
  Upstreams& up_;
};

}  // namespace ringway::proxy
