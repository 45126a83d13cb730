// Backend connections of a shard: per-shard keep-alive pools keyed by backend address,
// connect, request upload, response relay (parsed, direct into the client's buffer, or
// from the receive buffer itself: lead.cc). Where an exchange goes and when it is retried
// is the Forwarder's. A TLS transport to backends plugs in under connect/send/recv here.
//
// Contract: an upstream connection is either idle in its pool (a receive armed to notice
// the backend closing it), busy for exactly one client exchange, or closing.
//
// Thread affinity: shard-local.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "core/user_data.h"
#include "proxy/retry_policy.h"
#include "proxy/shard_core.h"

namespace ringway::proxy {

class Upstreams : public ShardPart {
 public:
  using ShardPart::ShardPart;
  ~Upstreams();
  Upstreams(const Upstreams&) = delete;
  Upstreams& operator=(const Upstreams&) = delete;

  // Takes a pooled connection to c.dest, or starts connecting a new one.
  bool upstream_acquire(ClientConn& c);
  bool upstream_connect(ClientConn& c, const BackendKey& key);
  void upstream_send(ClientConn& c, UpstreamConn& u);
  void upstream_recv(UpstreamConn& u);
  // Called before each upstream completion is handled: the client whose buffer the op used
  // gets it back. Returns that client's slot (kNoSlot: none).
  uint32_t return_lent(UpstreamConn& u, core::Op op);
  void on_upstream_connect(UpstreamConn& u, int res);
  void on_upstream_sent(UpstreamConn& u, int res);
  void on_upstream_recv(UpstreamConn& u, int res, uint32_t flags);
  // Hands over held receive bytes or the receive's end (after the batch; shard.cc).
  void upstream_rx_ready(UpstreamConn& u);
  // Parses buffered backend bytes as far as the client's output room allows.
  void upstream_input(ClientConn& c, UpstreamConn& u, bool after_head = false);
  // Ends the client's use of its upstream: back to the pool, or closed.
  void upstream_release(ClientConn& c, bool reusable);
  void upstream_close(UpstreamConn& u);
  void upstream_maybe_free(UpstreamConn& u);
  UpstreamConn* owned_upstream(ClientConn& c);
  // Closes every idle pooled connection (drain).
  void close_idle();
  // BodySink of response parsers; ctx is the ShardCore.
  static void on_resp_body(void* ctx, const char* data, size_t len);

  // ---- tunnels (tunnel.cc): an upgraded exchange relays bytes both ways unparsed ----
  // The backend's 101 is in c.out: the exchange becomes a tunnel over u.
  void tunnel_start(ClientConn& c, UpstreamConn& u);
  // Completions on a tunnel (received bytes are in c.in / u.in already; `n`: bytes sent).
  void tunnel_client_recv(ClientConn& c, int res);
  void tunnel_client_sent(ClientConn& c, uint32_t n);
  void tunnel_backend_recv(ClientConn& c, UpstreamConn& u, int res);
  void tunnel_backend_sent(ClientConn& c, UpstreamConn& u, int res);
  // TimerKind::kTunnelIdle fired.
  void tunnel_idle(ClientConn& c);

  // TLS backends (upstream_tls.cc), as the client side's: tls_handshake starts the
  // handshake once TCP is connected; upstream_tls_received returns the plaintext bytes now
  // in u.in (or 0 / an error), or kTlsHandled.
  static constexpr int kTlsHandled = INT32_MIN;
  void upstream_tls_handshake(ClientConn& c, UpstreamConn& u);
  int upstream_tls_received(UpstreamConn& u, int res, uint32_t flags);
  bool upstream_tls_kick(UpstreamConn& u);
  void upstream_tls_send(ClientConn* c, UpstreamConn& u);
  int upstream_tls_sent(UpstreamConn& u, int res);
  void upstream_tls_keep_session(UpstreamConn& u);

 private:
  uint64_t recv_ud(const UpstreamConn& u) const;
  bool upstream_rx_cqe(UpstreamConn& u, int res, uint32_t flags);
  void upstream_received(ClientConn& c, UpstreamConn& u, int res);
  uint32_t direct_room(ClientConn& c);
  bool direct_from_held(ClientConn& c, UpstreamConn& u);
  bool upstream_direct_recv(ClientConn& c, UpstreamConn& u, bool speculative);
  void on_direct_recv(UpstreamConn& u, int res);
  bool go_direct(ClientConn& c, const UpstreamConn& u);
  void direct_continue(ClientConn& c, UpstreamConn& u, bool speculative);
  bool upstream_lead(ClientConn& c, UpstreamConn& u, uint16_t bid, int res);
  bool lead_head(ClientConn& c, char* head_end, uint32_t room);
  void lead_body(ClientConn& c, UpstreamConn& u, uint32_t piece, bool more_likely);
  void upstream_head_done(ClientConn& c, UpstreamConn& u);
  bool client_response_head(ClientConn& c, Writer& w);
  void upstream_eof(ClientConn& c, UpstreamConn& u);
  void response_complete(ClientConn& c, bool reusable);
  void pool_remove(UpstreamConn& u);
  void upstream_connected(ClientConn& c, UpstreamConn& u);
  void upstream_tls_step(UpstreamConn& u);
  void upstream_tls_failed(UpstreamConn& u);
  void tunnel_up(ClientConn& c, UpstreamConn& u);
  void tunnel_down(ClientConn& c, UpstreamConn& u);
  void tunnel_maybe_end(ClientConn& c);
  ClientConn* owner_of(UpstreamConn& u);
  ClientConn* exchange_of(UpstreamConn& u);

  // Pool entries; unordered_map keeps element addresses stable, so connections point at
  // their entry.
  std::unordered_map<BackendKey, IdlePool, BackendKeyHash> idle_;
  // TLS sessions to resume, by backend identity (each a reference of ours).
  std::unordered_map<BackendKey, WOLFSSL_SESSION*, BackendKeyHash> sessions_;
};

}  // namespace ringway::proxy
