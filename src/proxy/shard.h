// A shard: one thread, one io_uring, its own listeners, client and backend connections,
// pools and timers. Nothing here is shared with other shards except the read-only
// snapshot (RCU) and the control flags in ShardContext.
//
// Thread affinity: everything is shard-local except the constructor (control thread,
// before the shard thread starts).
#pragma once

#include <sys/uio.h>
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "control/snapshot.h"
#include "core/buf_pool.h"
#include "core/ring.h"
#include "core/slab.h"
#include "core/timer_wheel.h"
#include "core/user_data.h"
#include "proxy/accept_backoff.h"
#include "proxy/conn.h"
#include "proxy/retry_policy.h"
#include "ringway/clock.h"
#include "ringway/rcu.h"

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

// A per-shard cell: written only by its shard, summed by readers (no shared RMW).
struct alignas(kCacheLine) ShardCell {
  std::atomic<uint64_t> value{0};
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
  std::vector<ShardCell> conn_counts;  // open client connections per shard
  std::vector<int> wake_fds;           // eventfd per shard: wakes it for drain/reload
  void wake_all() const;
  // Node-wide open client connections. Shards store without RMW, so concurrent accepts
  // on several shards can overshoot the limit by at most shards-1 connections.
  uint64_t connections() const {
    uint64_t n = 0;
    for (const auto& c : conn_counts) {
      n += c.value.load(std::memory_order_relaxed);
    }
    return n;
  }
};

struct BackendKeyHash {
  size_t operator()(const BackendKey& k) const;
};

class Shard {
 public:
  Shard(uint32_t id, ShardContext* ctx, std::vector<int> listen_fds);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Thread body: serves until drained. noexcept: data-plane errors are values.
  void run() noexcept;
  uint32_t id() const { return id_; }

 private:
  friend struct ClientOps;
  friend struct UpstreamOps;

  // ---- loop (shard.cc) ----
  void quiescent_point();
  unsigned reap();
  void dispatch(uint64_t user_data, int res, uint32_t flags);
  void arm_accept(uint32_t listener);
  void on_accept(uint32_t listener, int res, uint32_t flags);
  void pause_accept(uint32_t listener, int err);
  void resume_paused_accepts();
  void on_timer(core::TimerNode* node);
  void start_drain();
  bool drained() const;
  void rearm_starved();
  void arm_wake();

  // ---- snapshot holds (shard.cc) ----
  const Snapshot* hold_snapshot();
  void release_snapshot(const Snapshot* s);

  // ---- client side (client.cc) ----
  void client_open(int fd, uint32_t listener);
  void client_recv(ClientConn& c, bool poll_first = false);
  void client_send(ClientConn& c);
  void prep_lead_send(io_uring_sqe* s, ClientConn& c, int flags);
  void consume_sent(ClientConn& c, uint32_t n);
  void release_lead(ClientConn& c);
  bool send_ends_connection(const ClientConn& c) const;
  bool settle_linked_close(ClientConn& c, int res);
  void on_client_recv(ClientConn& c, int res, uint32_t flags);
  void on_client_sent(ClientConn& c, int res);
  void client_input(ClientConn& c);
  bool client_head_step(ClientConn& c);
  bool client_body_step(ClientConn& c);
  void client_head_done(ClientConn& c);
  void client_local_reply(ClientConn& c, const route::CompiledApi* api);
  void client_error(ClientConn& c, uint16_t status, std::string_view code, std::string_view message,
                    bool close);
  void client_exchange_done(ClientConn& c);
  void client_close(ClientConn& c);
  void client_maybe_free(ClientConn& c);
  void client_set_timer(ClientConn& c, TimerKind kind, uint64_t ms);
  void client_fill_peer(ClientConn& c);
  void make_request_id(ClientConn& c, const http::RequestHead& h);
  void on_client_timer(ClientConn& c, TimerKind kind);

  // ---- destination and retries (destination.cc) ----
  void forward_start(ClientConn& c, const route::MatchResult& m);
  bool choose_member(ClientConn& c);
  void send_to_destination(ClientConn& c, bool fresh_connection = false);
  bool retry(ClientConn& c, bool stale, Failure f);
  void rewrite_host(ClientConn& c, std::string_view host);
  void lb_release(ClientConn& c);
  void upstream_failed(ClientConn& c, UpstreamConn* u, Failure f, uint16_t status,
                       std::string_view code, std::string_view msg);

  // ---- backend side (upstream.cc) ----
  bool upstream_acquire(ClientConn& c);
  bool upstream_connect(ClientConn& c, const BackendKey& key);
  void upstream_send(ClientConn& c, UpstreamConn& u);
  void upstream_recv(UpstreamConn& u);
  bool upstream_direct_recv(ClientConn& c, UpstreamConn& u, bool speculative);
  void on_direct_recv(UpstreamConn& u, int res);
  bool go_direct(ClientConn& c, const UpstreamConn& u);
  uint32_t return_lent(UpstreamConn& u, core::Op op);
  void direct_continue(ClientConn& c, UpstreamConn& u, bool speculative);
  void on_upstream_connect(UpstreamConn& u, int res);
  void on_upstream_sent(UpstreamConn& u, int res);
  void on_upstream_recv(UpstreamConn& u, int res, uint32_t flags);
  bool upstream_lead(ClientConn& c, UpstreamConn& u, uint16_t bid, int res);
  bool lead_head(ClientConn& c, char* head_end, uint32_t room);
  void lead_body(ClientConn& c, UpstreamConn& u, uint32_t piece, bool more_likely);
  void upstream_input(ClientConn& c, UpstreamConn& u, bool after_head = false);
  void upstream_head_done(ClientConn& c, UpstreamConn& u);
  bool client_response_head(ClientConn& c, Writer& w);
  void upstream_eof(ClientConn& c, UpstreamConn& u);
  void response_complete(ClientConn& c, bool reusable);
  void upstream_release(ClientConn& c, bool reusable);
  void upstream_close(UpstreamConn& u);
  void upstream_maybe_free(UpstreamConn& u);
  void pool_remove(UpstreamConn& u);
  UpstreamConn* owned_upstream(ClientConn& c);
  ClientConn* owner_of(UpstreamConn& u);
  ClientConn* exchange_of(UpstreamConn& u);
  void flush_upstream_body_room(ClientConn& c);

  // ---- helpers ----
  uint32_t arm_recv(int fd, bool fixed, core::IoBuf& buf, core::BufRing& ring, bool may_compact,
                    bool poll_first, uint64_t user_data);
  void take_received(core::BufRing& ring, core::IoBuf* into, int res, uint32_t flags);
  void append_received(core::IoBuf& into, const char* data, uint32_t len, uint32_t cap);
  io_uring_sqe* cancel_fd(int fd);
  // `fixed`: the fd's fixed-file slot is cleared first (Ring::unfix). `busy`: ops may still
  // be pending on fd; they are cancelled first, since a pending op keeps the socket open.
  void close_fd(int fd, core::Op close_op = core::Op::kIgnore, bool fixed = false,
                bool busy = true);
  http::RequestParser* take_req_parser();
  // With the limits of `c`'s configuration (the snapshot its exchange holds).
  http::ResponseParser* take_resp_parser(const ClientConn& c);
  void give_parsers(ClientConn& c);
  static void on_req_body(void* ctx, const char* data, size_t len);
  static void on_resp_body(void* ctx, const char* data, size_t len);

  uint32_t id_;
  ShardContext* ctx_;
  std::vector<int> listen_fds_;
  // Per listener: its multishot accept is pending; or its accepting is paused (`retry`
  // armed, owner = listener index) after a failure a pause can outlast (accept_backoff.h).
  struct AcceptState {
    bool armed = false;
    core::TimerNode retry;
    AcceptBackoff backoff;
  };
  std::vector<AcceptState> accepts_;  // sized once: timers point into it
  bool fd_freed_ = false;             // a close was queued in this turn of the loop
  uint32_t listeners_open_;
  SteadyClock clock_;
  uint64_t now_ms_ = 0;
  unsigned batch_ = 1;     // completions the loop waits for (see kMaxBatch)
  unsigned accepted_ = 0;  // connections accepted in this turn of the loop
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
  uint32_t client_count_ = 0;
  // Pool entries; unordered_map keeps element addresses stable, so connections point at
  // their entry.
  std::unordered_map<BackendKey, IdlePool, BackendKeyHash> idle_;
  std::vector<std::unique_ptr<http::RequestParser>> req_parsers_;
  std::vector<std::unique_ptr<http::ResponseParser>> resp_parsers_;
  std::vector<uint32_t> starved_clients_;  // recv hit -ENOBUFS: re-arm after the batch
  std::vector<uint32_t> starved_upstreams_;
  std::vector<std::pair<const Snapshot*, uint32_t>> held_;  // snapshots in use, refcounts
  const Snapshot* current_ = nullptr;
  ClientConn* body_target_ = nullptr;  // the connection whose parser is being fed
  bool draining_ = false;
  uint64_t wake_value_ = 0;  // eventfd read target
  uint64_t rid_seed_ = 0;
  uint64_t rid_counter_ = 0;
  std::vector<char> scratch_;  // backend path rendering; a client head for a lead
};

}  // namespace ringway::proxy
