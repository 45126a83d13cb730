// The client side of a shard: client connections' receive, parse, route, local answers
// (mocks and gateway errors), send (lead buffers first), keep-alive, pipelining, timeouts
// and close. A routed request is handed to the Forwarder; the response comes back from
// Upstreams through client_send / client_exchange_done. Authentication of a request
// belongs here, between client_head_done's routing and forwarding.
//
// Contract of a client connection: at most one exchange at a time; a pipelined request is
// parsed only when the previous response has been completely sent, so responses leave in
// request order. Every path ends with the connection armed (recv or send pending, or a
// timer) or closing.
//
// Thread affinity: shard-local.
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/shard_core.h"

namespace ringway::proxy {

class ClientSide : public ShardPart {
 public:
  ClientSide(ShardCore& k, ClientSide& client, Forwarder& fwd, Upstreams& up);

  // Open client connections of this shard.
  uint32_t count() const { return client_count_; }

  void client_open(int fd, uint32_t listener);
  void client_recv(ClientConn& c, bool poll_first = false);
  void client_send(ClientConn& c);
  void on_client_recv(ClientConn& c, int res, uint32_t flags);
  // Hands over held receive bytes or the receive's end (after the batch; shard.cc).
  void client_rx_ready(ClientConn& c);
  void on_client_sent(ClientConn& c, int res);
  void client_input(ClientConn& c);
  // Queues a gateway-made JSON error. `close`: the connection cannot continue (bad framing).
  // `extra`: raw header lines for the answer (default: Retry-After on a 503).
  void client_error(ClientConn& c, uint16_t status, std::string_view code, std::string_view message,
                    bool close, std::string_view extra = {});
  // The exchange is answered here (kLocal): an unwanted request body is swallowed when small,
  // else the connection closes after the answer.
  void client_answer_locally(ClientConn& c);
  // Answers with a mock backend's pre-rendered response.
  void client_local_reply(ClientConn& c, const route::CompiledBackend& backend);
  // ---- App authentication (app_auth.cc) ----
  // At the request head of an `auth_type: app` API: true when the exchange may go on
  // (verified, or its signed body is to be held: c.x.auth set); false when it was answered.
  bool client_app_auth(ClientConn& c);
  // A request carrying the cascade channel's headers (cascade.cc): true when it may go on
  // (none, or verified: c.x.cascade_hop set); false when it was refused (answered).
  bool client_cascade_check(ClientConn& c);
  // A local answer (`mock`: a mock response; null: the 503 of `downgrade`) while a signed
  // body is held: it is deferred until the body is verified (true), or due now (false).
  bool client_defer_local(ClientConn& c, const route::CompiledBackend* mock);
  void client_exchange_done(ClientConn& c);
  // ---- an exchange's life: the access log line, later its metrics ----
  // The first byte of a request head is buffered on `c` (a keep-alive or pipelined request
  // included): its trace (c.x.trace) starts.
  void exchange_begin(ClientConn& c);
  // THE place an exchange ends. Called exactly once for each begun exchange, on the shard's
  // thread: by client_exchange_done once the whole response was handed to the kernel and the
  // request read (answered), or by client_close when the connection ends before that (the
  // trace then tells how far it went: status 0 when no response was started). Called before
  // the exchange releases its snapshot, so c.x.api, the trace's labels and the environment
  // index are valid here. Writes the access log line when a response was started or the head
  // was complete (a head cut short by the client is not a request); per-exchange metrics go
  // here too. Idempotent (c.x.trace.active).
  void exchange_end(ClientConn& c);
  void client_close(ClientConn& c);
  void client_maybe_free(ClientConn& c);
  void client_set_timer(ClientConn& c, TimerKind kind, uint64_t ms);
  void client_fill_peer(ClientConn& c);
  void on_client_timer(ClientConn& c, TimerKind kind);
  // `n` bytes were sent: the lead's first, then out's (lead.cc).
  void consume_sent(ClientConn& c, uint32_t n);
  void release_lead(ClientConn& c);
  // BodySink of request parsers; ctx is the ShardCore.
  static void on_req_body(void* ctx, const char* data, size_t len);

  // TLS connections (client_tls.cc). tls_open: on accept, for a TLS listener.
  // tls_received: a receive completed; returns what on_client_recv goes on with (the
  // plaintext bytes now in c.in, 0 or an error to close), or kTlsHandled when nothing is left
  // to do (a handshake step; nothing decrypted yet; closing). tls_send: client_send for TLS.
  // tls_sent: the plaintext bytes a send completion accounts for, or kTlsHandled.
  static constexpr int kTlsHandled = INT32_MIN;
  void tls_open(ClientConn& c, const tls::ServerContext& ctx);
  int tls_received(ClientConn& c, int res, uint32_t flags);
  bool tls_kick(ClientConn& c);
  void tls_send(ClientConn& c);
  int tls_sent(ClientConn& c, int res);

 private:
  void prep_lead_send(io_uring_sqe* s, ClientConn& c, int flags);
  bool send_ends_connection(const ClientConn& c) const;
  bool settle_linked_close(ClientConn& c, int res);
  uint64_t recv_ud(const ClientConn& c) const;
  bool client_rx_cqe(ClientConn& c, int res, uint32_t flags);
  void client_received(ClientConn& c, int res);
  bool client_head_step(ClientConn& c);
  bool client_body_step(ClientConn& c);
  void client_head_done(ClientConn& c);
  void make_request_id(ClientConn& c, const http::RequestHead& h);
  // `"method":"...","path":"..."` of the access log line, kept from the head (trace.request).
  void trace_request(ClientConn& c, const http::RequestHead& h);
  void write_access_log(ClientConn& c, uint64_t now_us);
  // The held body is whole: verify it, then send the request or give the deferred answer;
  // or answer 401.
  void client_auth_body_done(ClientConn& c);
  // Room for more held body bytes in up_out; false when none can be had (answered).
  bool client_hold_room(ClientConn& c);
  int tls_drive(ClientConn& c);
  int tls_start(ClientConn& c);
  void tls_fail(ClientConn& c, bool handshake);

  uint32_t client_count_ = 0;
  uint64_t rid_seed_ = 0;
  uint64_t rid_counter_ = 0;
};

}  // namespace ringway::proxy
