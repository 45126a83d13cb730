// Connection records of a shard: client connections (with the Exchange in progress) and
// backend (upstream) connections. Plain data; the state machines are ClientSide,
// Forwarder and Upstreams.
//
// Thread affinity: shard-local.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/buf_pool.h"
#include "core/ring.h"
#include "core/timer_wheel.h"
#include "ringway/buffer.h"
#include "ringway/http.h"
#include "ringway/lb.h"
#include "ringway/route.h"
#include "transport/transport.h"

struct WOLFSSL_CTX;

namespace ringway::proxy {

struct Snapshot;
struct Guard;
struct AuthHold;
struct GuardRule;
struct CompiledDowngrade;

inline constexpr uint32_t kNoSlot = UINT32_MAX;

// A plain connection's receive: one multishot receive, armed once and delivering into
// provided buffers until it ends (EOF, error, -ENOBUFS) or is cancelled, so a request costs
// no receive SQE and no poll arming. Bytes go into the connection's input buffer when it reads
// now and they fit; otherwise they are held, in order, and the receive is cancelled (stopping)
// so the kernel's socket buffer and TCP window push back on the peer, as a receive that is
// not re-armed would. Held bytes and an end are handed over (ShardCore::ready_*) when the
// connection asks for bytes again; the receive is re-armed once nothing is held.
struct MultishotRx {
  static constexpr int32_t kOpen = 1;
  core::HeldBufs held;
  int32_t end = kOpen;    // the receive's end (0: EOF, -errno) not handed over yet
  bool stopping = false;  // its cancel is on the way; the last completion hands over
  bool queued = false;    // on the shard's ready list
  bool pending() const { return !held.empty() || end != kOpen; }
};

// What the client connection is doing.
enum class ClientState : uint8_t {
  kIdle,     // between requests (keep-alive), nothing buffered
  kHead,     // reading a request head
  kForward,  // request routed to a backend: body upload and/or response relay
  kLocal,    // answering locally (mock or error); maybe discarding the request body
  kTunnel,   // upgraded (101 relayed): bytes flow both ways unparsed (tunnel.cc)
  kClosing,  // fd being cancelled/closed; slot freed when no op is in flight
};

enum class TimerKind : uint8_t {
  kNone,
  kClientIdle,     // keep-alive idle: close silently
  kClientHeader,   // head not complete in time: 408
  kClientBody,     // no upload progress: 408 / close
  kBackend,        // connect or response (head or body) not in time: 504 / close
  kUpstreamIdle,   // pooled backend connection idle too long: close
  kAcceptBackoff,  // a listener's accepting paused (no fd or memory) ends: accept again
  kTunnelIdle,     // no byte either way for upgrade_idle_timeout_ms: close both sides
};

// Appends body bytes to `buf`, re-framed as one chunk when `chunked`. Callers bound the
// bytes they feed by the room (minus framing slack), so it always fits.
inline void append_body(core::IoBuf& buf, bool chunked, std::string_view data) {
  Writer w(buf.data + buf.tail, buf.room());
  if (chunked) {
    http::write_chunk_header(data.size(), w);
  }
  w.put(data);
  if (chunked) {
    w.put(http::kChunkEnd);
  }
  buf.tail += static_cast<uint32_t>(w.size());
}

// Ends a re-chunked body.
inline void append_last_chunk(core::IoBuf& buf) {
  Writer w(buf.data + buf.tail, buf.room());
  w.put(http::kLastChunk);
  buf.tail += static_cast<uint32_t>(w.size());
}

// Identity of a backend connection, the key of the upstream pool: the address, and for
// TLS its identity (tls_identity(): the client context and the name verified), so plain and
// TLS connections, or TLS connections of another identity, never mix.
struct BackendKey {
  sockaddr_storage addr{};
  socklen_t len = 0;
  uint64_t tls = 0;  // 0: plain TCP
  bool operator==(const BackendKey& o) const {
    return len == o.len && tls == o.tls && std::memcmp(&addr, &o.addr, len) == 0;
  }
};

// What one exchange did, for its access log line and its metrics: filled along the request
// path, read once by ClientSide::exchange_end (the single place an exchange ends). Times are
// ringway::monotonic_us() readings, 0 when the step did not happen.
struct ExchangeTrace {
  bool active = false;            // begun (first head byte) and exchange_end not called yet
  bool head_done = false;         // the request head was complete (routed or refused)
  uint64_t start_us = 0;          // first byte of the request head arrived
  uint64_t backend_start_us = 0;  // first attempt handed to a backend connection
  uint64_t backend_end_us = 0;    // the backend's response head arrived
  uint16_t status = 0;            // status sent to the client; 0: no response was started
  uint64_t bytes_in = 0;          // request bytes (head and body as sent) the parser consumed
  uint64_t bytes_out = 0;         // response bytes handed to the kernel (plaintext for TLS)
  uint32_t attempts = 0;          // backend attempts (a retry adds one)
  // Upgraded: when the 101 was relayed (the request is counted then, with the handshake's
  // duration; exchange_end adds the tunnel's lifetime) and the protocol (lower case, cut at
  // its size; NUL-terminated). 0 / empty: not upgraded.
  uint64_t upgrade_us = 0;
  char upgrade[16] = {};
  uint32_t upgrade_head_left = 0;  // bytes of the 101's head not sent yet (not tunnel bytes)
  // The backend of the last attempt: a channel member (channel >= 0, member) or the url
  // backend; its address is Exchange::dest. `backend` false: no backend was contacted.
  bool backend = false;
  int32_t channel = -1;
  uint32_t member = UINT32_MAX;
  uint32_t environment = UINT32_MAX;  // index in the routes' environments(); none: MAX
  // The open breaker's rule ("policy/rule") whose downgrade answered, and that downgrade's
  // kind ("reject", "mock", "http", "passthrough", "function"); null: none. Owned by the
  // snapshot the exchange held (valid until the exchange releases it, i.e. in exchange_end).
  const std::string* breaker = nullptr;
  const char* downgrade = nullptr;
  // `"method":"...","path":"..."` of the line, escaped and cut at the head (the head's bytes
  // do not outlive it): a pooled buffer, taken only while an access log is in use.
  core::IoBuf request;

  // A new exchange at `now_us`; the request buffer is kept (emptied) for reuse.
  void begin(uint64_t now_us) {
    core::IoBuf keep = request;
    *this = ExchangeTrace{};
    request = keep;
    request.head = request.tail = 0;
    active = true;
    start_us = now_us;
  }
};

// The exchange in progress on a client connection (valid in kForward / kLocal): the
// request half — its snapshot and route, the backend it goes to and the attempts there,
// the bytes for the backend and the retry budget. Set up at each request head
// (client_head_done, Forwarder::forward_start); the response half (framing and progress
// of what the client is sent) stays on ClientConn.
struct Exchange {
  const Snapshot* snap = nullptr;  // held for the whole exchange
  const route::CompiledApi* api = nullptr;
  // The metrics::Store requests row of the API and environment it matched (kNoRow: not
  // routed yet; counters.cc then uses the "no API" row).
  uint32_t metric_row = UINT32_MAX;
  // X-Request-Id (1..kMaxRequestId visible ASCII bytes, no quote or backslash): the client's,
  // or made (32 lower-case hex digits).
  static constexpr uint32_t kMaxRequestId = 128;
  char request_id[kMaxRequestId] = {};
  uint8_t request_id_len = 0;
  ExchangeTrace trace;
  bool http10 = false;
  bool head_request = false;
  bool req_done = false;         // whole request parsed (body included)
  bool req_sent = false;         // ... and written to the backend
  bool discard_body = false;     // kLocal: swallow the request body
  bool rechunk_request = false;  // request body re-framed chunked to the backend
  bool retried = false;
  bool upgrade = false;         // the request asks to switch protocols (RequestHead::upgrade)
  uint32_t upstream = kNoSlot;  // busy upstream slot
  uint32_t upstream_gen = 0;
  core::IoBuf up_out;  // request bytes for the backend
  uint32_t up_out_sent = 0;
  bool replayable = false;  // up_out holds the whole request from its first byte
  uint32_t timeout_ms = 0;  // backend timeout of the route
  // ---- where it goes: a url backend, or a member of a channel ----
  BackendKey dest;  // address of the current attempt
  // TLS to the backend (dest.tls != 0): the shard's context and the name sent as SNI and
  // verified, owned by the snapshot the exchange holds.
  WOLFSSL_CTX* tls_ctx = nullptr;
  const std::string* tls_name = nullptr;
  int32_t channel = -1;         // channel index in the snapshot, -1: url backend
  uint32_t member = lb::kNone;  // member of the current attempt
  bool lb_acquired = false;     // counted in the member's WLC cell
  uint64_t lb_key = 0;          // sh / uri_hash key
  lb::Tried tried;              // members of earlier attempts
  int32_t retries_left = 0;     // retry_count budget (seed semantics)
  bool post_like = false;       // POST/PATCH: not replayed once it may have been seen
  // The backend this exchange forwards to (the route's; a downgrade may choose another).
  const route::CompiledBackend* backend = nullptr;
  // The attempt's own header lines in up_out (Host, later a signature), rendered again
  // for each attempt at another member while the request is replayable.
  uint32_t attempt_off = 0;
  uint32_t attempt_len = 0;
  // The request line in up_out (method, then the target from method_len + 1), which a
  // cascade signature covers on every attempt.
  uint32_t line_off = 0;  // where the request line starts in up_out
  uint16_t method_len = 0;
  uint32_t target_len = 0;
  // ---- cascade channel (cascade.cc) ----
  // The request came from a cascading instance whose signature checked out: authenticated
  // for its API, and `cascade_hop` hops into the chain (0: not cascaded).
  uint32_t cascade_hop = 0;
  // ---- circuit breaker (guard.h) ----
  // The policy binding of the exchange's API, and the rule whose breaker records its
  // outcome (null: none, or recorded already).
  const Guard* guard = nullptr;
  const GuardRule* guard_rule = nullptr;
  uint64_t guard_token = 0;                      // Breaker::token() when the exchange started
  uint64_t guard_start_ms = 0;                   // when it was forwarded (backendResponseTime)
  const CompiledDowngrade* downgrade = nullptr;  // answering for an open breaker
  bool fire_and_forget = false;                  // async function downgrade: the client has its 202

  // App authentication: the verification waiting for a held signed body (app_auth.h); null
  // when none is pending.
  AuthHold* auth = nullptr;
  // While `auth` is pending: the local answer that waits for the verification (a mock API
  // or a mock downgrade: its backend; a 503 downgrade: reject), instead of a backend send.
  const route::CompiledBackend* deferred_mock = nullptr;
  bool deferred_reject = false;

  // No breaker and no downgrade: at each request head, at its end and on a new connection,
  // so an error answered between exchanges never sees the last one's (maybe freed) policy.
  void clear_guard() {
    deferred_mock = nullptr;
    deferred_reject = false;
    guard = nullptr;
    guard_rule = nullptr;
    downgrade = nullptr;
    fire_and_forget = false;
  }

  std::string_view rid() const { return {request_id, request_id_len}; }
};

struct ClientConn {
  int fd = -1;
  transport::Stream io;  // what the bytes on fd are (plain TCP)
  bool fixed = false;    // fd is installed in the ring's fixed-file slot of the same number
  uint32_t slot = kNoSlot;
  uint32_t listener = 0;
  ClientState state = ClientState::kIdle;
  uint8_t inflight = 0;  // SQEs submitted whose CQE has not arrived
  // Backend SQEs in flight that use this connection's buffers (a send of up_out, a
  // receive into out): the buffers, and the slot, stay until they completed.
  uint8_t lent = 0;
  bool recv_armed = false;  // plain: the multishot receive is armed (until its last CQE)
  bool send_armed = false;
  bool peer_known = false;
  MultishotRx rx;
  bool out_pinned = false;  // a backend receive writes into `out` past its tail
  // Length of the send in flight that ends the connection: a cancel and a close are linked
  // behind it in the kernel, so the FIN follows the response at once (TIME_WAIT stays on
  // this side, as with HAProxy). 0: none. Until that send's CQE the fd is not ours to close.
  uint32_t linked_close = 0;
  // TLS (client_tls.cc): the receive in flight is a no-op that makes the Stream read what it
  // holds; plaintext bytes of `out` whose ciphertext is being sent.
  bool tls_kick = false;
  uint32_t tls_plain = 0;
  core::TimerNode timer;
  core::IoBuf in;   // bytes from the client; head bytes stay put until the head is used
  core::IoBuf out;  // bytes to the client, sent after the lead bytes
  uint32_t out_sent = 0;
  // Response bytes sent straight from the backend receive buffer `lead_bid` of the shard's
  // upstream buffer ring (no copy), before `out`'s bytes; the buffer goes back to the ring
  // once they are sent or the connection is freed. Null: none.
  char* lead = nullptr;
  uint32_t lead_len = 0;
  uint16_t lead_bid = 0;
  http::RequestParser* req_parser = nullptr;
  http::ResponseParser* resp_parser = nullptr;
  char peer_ip[INET6_ADDRSTRLEN] = {};
  uint16_t peer_port = 0;
  uint64_t peer_key = 0;  // lb::source_key of the client address (sh)

  // ---- the response half of the exchange in progress (the request half is `x`) ----
  bool keep_alive = true;          // keep the client connection after this response
  bool chunked_to_client = false;  // response body re-framed chunked to the client
  // Content-Length body bytes still to come, received straight into `out` (no parser,
  // no copy); 0: bytes go through the backend's buffer and the response parser.
  int64_t direct_left = 0;
  bool resp_started = false;  // response bytes were queued for the client
  bool resp_done = false;
  bool close_after_send = false;  // close once `out` is flushed
  // kTunnel: the side whose bytes ended (EOF or error); the tunnel closes once what it sent
  // before has been passed on.
  enum class TunnelEnd : uint8_t { kNone, kClient, kBackend } tunnel_end = TunnelEnd::kNone;
  uint64_t tunnel_active_ms = 0;  // kTunnel: the loop time a byte last moved either way
  Exchange x;

  // Response bytes not yet handed to the kernel.
  uint32_t unsent() const { return lead_len + out.size(); }
};

enum class UpstreamState : uint8_t { kConnecting, kBusy, kIdle, kClosing };

struct UpstreamConn;

// The idle keep-alive connections to one backend address (a shard's pool entry).
struct IdlePool {
  UpstreamConn* head = nullptr;
  uint32_t count = 0;
};

struct UpstreamConn {
  int fd = -1;
  transport::Stream io;  // what the bytes on fd are (plain TCP)
  bool fixed = false;    // as ClientConn::fixed
  uint32_t slot = kNoSlot;
  UpstreamState state = UpstreamState::kConnecting;
  uint8_t inflight = 0;
  bool recv_armed = false;  // plain, not direct: the multishot receive is armed
  bool send_armed = false;
  MultishotRx rx;
  bool reused = false;             // taken from the pool for the current exchange
  bool got_bytes = false;          // response bytes arrived for the current exchange
  bool eof = false;                // the backend closed (bytes before the close may wait)
  bool direct = false;             // the receive in flight writes into its client's `out`
  bool more_likely = false;        // the last receive filled its buffer: more may be queued
  uint32_t recv_len = 0;           // bytes the receive in flight asked for
  bool tls_kick = false;           // as ClientConn::tls_kick
  uint32_t tls_plain = 0;          // as ClientConn::tls_plain (bytes of the exchange's up_out)
  uint32_t send_lender = kNoSlot;  // client whose up_out the send in flight reads
  uint32_t recv_lender = kNoSlot;  // client whose out the direct receive writes
  core::TimerNode timer;           // pool idle timeout
  core::IoBuf in;                  // bytes from the backend
  BackendKey key;
  uint32_t owner = kNoSlot;  // client slot while busy
  uint32_t owner_gen = 0;
  IdlePool* pool = nullptr;           // set while idle in a pool
  UpstreamConn* pool_prev = nullptr;  // idle list links
  UpstreamConn* pool_next = nullptr;
};

}  // namespace ringway::proxy
