// Where an exchange goes and when it goes again: the backend it forwards to (the route's;
// a circuit breaker's downgrade may pass another), a `url` address or a member of a
// load-balance channel (picked by the channel's balancer over the snapshot's health), the
// backend request head (rendered per attempt), WLC accounting, and the retry rules of
// `retry_count` (seed semantics, retry_policy.h). The breaker's decision and its outcome
// counting belong here.
//
// Thread affinity: shard-local.
#pragma once

#include <string_view>

#include "proxy/retry_policy.h"
#include "proxy/shard_core.h"

namespace ringway::proxy {

class Forwarder : public ShardPart {
 public:
  using ShardPart::ShardPart;

  // Forwards the exchange to `backend` (the route's, or one a policy chose instead).
  void forward_start(ClientConn& c, const route::MatchResult& m,
                     const route::CompiledBackend& backend);
  // Sends the request forward_start prepared (at once, or once a held signed body was
  // verified: app_auth.cc).
  void send_held(ClientConn& c);
  // The backend failed this attempt: retry if the rules allow, else answer `status` when
  // nothing was sent to the client yet, else close the client connection.
  void upstream_failed(ClientConn& c, UpstreamConn* u, Failure f, uint16_t status,
                       std::string_view code, std::string_view msg);
  // The exchange no longer counts against its member's WLC cell.
  void lb_release(ClientConn& c);

  // ---- circuit breakers (guard.cc; one file per downgrade kind) ----
  // Applies the circuit-breaker policy bound to the exchange's API and environment, if any:
  // picks its rule; when that rule's breaker is open, its downgrade takes the exchange
  // (true); else the exchange goes on to the route's backend and its outcome will count
  // (false).
  bool guard_start(ClientConn& c, const route::MatchResult& m);
  // The outcome of the final attempt, recorded once: the backend's status and how long
  // its head took, or the gateway's failure answer (`timed_out`: the backend timed out).
  void guard_record(ClientConn& c, uint16_t status, bool timed_out);
  // Async function downgrade: the function answered or failed; the client has its 202,
  // so the exchange just ends.
  void fire_done(ClientConn& c);

 private:
  bool choose_member(ClientConn& c);
  // The TLS part of c.x.dest for an attempt at member `m` of the channel (null: the URL):
  // the context, the name to verify and the pool-key identity; none for plain http.
  void set_tls_dest(ClientConn& c, const ChannelMember* m);
  void send_to_destination(ClientConn& c, bool fresh_connection = false);
  bool retry(ClientConn& c, bool stale, Failure f);
  bool write_request_head(ClientConn& c, std::string_view path, std::string_view method);
  std::string_view attempt_host(const ClientConn& c) const;
  bool render_attempt(ClientConn& c);
  // Header lines of the attempt besides Host (a passthrough downgrade's).
  std::string_view attempt_extra(const ClientConn& c) const;
  void write_attempt(ClientConn& c, Writer& w);
  // The cascade channel's headers for this attempt (cascade.cc).
  void write_cascade(ClientConn& c, std::string_view host, Writer& w);
  void downgrade(ClientConn& c, const route::MatchResult& m, const CompiledDowngrade& d);
  void downgrade_reject(ClientConn& c, const CompiledDowngrade& d);
  void downgrade_mock(ClientConn& c, const CompiledDowngrade& d);
  void downgrade_http(ClientConn& c, const route::MatchResult& m, const CompiledDowngrade& d);
  void downgrade_passthrough(ClientConn& c, const route::MatchResult& m,
                             const CompiledDowngrade& d);
  void downgrade_function(ClientConn& c, const route::MatchResult& m, const CompiledDowngrade& d);
  void queue_accepted(ClientConn& c);
};

}  // namespace ringway::proxy
