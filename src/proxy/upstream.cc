// Upstreams (upstreams.h): keep-alive pools, connect, request upload, response relay.
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/user_data.h"
#include "proxy/shard.h"
#include "ringway/clock.h"
#include "ringway/log.h"

namespace ringway::proxy {

using core::Op;

namespace {
constexpr uint32_t kFramingSlack = 64;
constexpr uint64_t kPoolIdleMs = 60000;  // a pooled backend connection lives this long idle
// Idle connections kept per backend address and shard: above the concurrency a shard sends
// to one backend, or each release beyond it closes and the next request reconnects.
constexpr uint32_t kPoolMaxPerKey = 4096;
}  // namespace

UpstreamConn* Upstreams::owned_upstream(ClientConn& c) {
  if (c.x.upstream == kNoSlot || k_.upstreams_.gen(c.x.upstream) != c.x.upstream_gen) {
    return nullptr;
  }
  return k_.upstreams_.get(c.x.upstream);
}

ClientConn* Upstreams::owner_of(UpstreamConn& u) {
  if (u.owner == kNoSlot || k_.clients_.gen(u.owner) != u.owner_gen) {
    return nullptr;
  }
  ClientConn* c = k_.clients_.get(u.owner);
  return (c != nullptr && (c->state == ClientState::kForward || c->state == ClientState::kTunnel))
             ? c
             : nullptr;
}

// Takes a pooled connection to the backend, or starts connecting a new one.
bool Upstreams::upstream_acquire(ClientConn& c) {
  const BackendKey& key = c.x.dest;
  auto it = idle_.find(key);
  if (it != idle_.end() && it->second.head != nullptr) {
    UpstreamConn& u = *it->second.head;
    pool_remove(u);
    k_.timers_.disarm(&u.timer);
    u.state = UpstreamState::kBusy;
    u.reused = true;
    u.got_bytes = false;
    u.owner = c.slot;
    u.owner_gen = k_.clients_.gen(c.slot);
    c.x.upstream = u.slot;
    c.x.upstream_gen = k_.upstreams_.gen(u.slot);
    upstream_send(c, u);  // its receive is still armed from the pool
    return true;
  }
  return upstream_connect(c, key);
}

bool Upstreams::upstream_connect(ClientConn& c, const BackendKey& key) {
  // socket() and setsockopt() are synchronous: once per backend connection, which the
  // pool keeps for many requests.
  int fd = socket(key.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    RW_WARN("shard %u: socket: %s", k_.id_, strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  uint32_t slot = k_.upstreams_.alloc();
  if (slot == kNoSlot) {
    ::close(fd);
    return false;
  }
  UpstreamConn& u = k_.upstreams_[slot];
  u.fd = fd;
  u.fixed = k_.ring_.fix(fd);
  u.slot = slot;
  u.state = UpstreamState::kConnecting;
  u.pool = nullptr;
  u.inflight = 0;
  u.recv_armed = u.send_armed = false;
  u.rx = MultishotRx{};
  u.reused = false;
  u.got_bytes = false;
  u.direct = false;
  u.eof = false;
  u.more_likely = false;
  u.send_lender = u.recv_lender = kNoSlot;
  u.tls_kick = false;
  u.tls_plain = 0;
  if (key.tls != 0) {
    u.io.kind = transport::Kind::kTls;
    u.io.tls = k_.take_tls();
  }
  u.key = key;
  u.owner = c.slot;
  u.owner_gen = k_.clients_.gen(c.slot);
  u.timer.owner = slot;
  u.timer.kind = static_cast<uint8_t>(TimerKind::kUpstreamIdle);
  c.x.upstream = slot;
  c.x.upstream_gen = k_.upstreams_.gen(slot);
  io_uring_sqe* s = k_.ring_.sqe();
  transport::prep_connect(s, u.io, fd, u.fixed, reinterpret_cast<const sockaddr*>(&u.key.addr),
                          u.key.len);
  io_uring_sqe_set_data64(s, core::encode(Op::kUpConnect, slot, k_.upstreams_.gen(slot)));
  ++u.inflight;
  return true;
}

// The client of an upstream completion; null, with the upstream closed, when the
// upstream is closing or its client went away.
ClientConn* Upstreams::exchange_of(UpstreamConn& u) {
  if (u.state == UpstreamState::kClosing) {
    return nullptr;
  }
  ClientConn* c = owner_of(u);
  if (c == nullptr) {
    upstream_close(u);
  }
  return c;
}

void Upstreams::on_upstream_connect(UpstreamConn& u, int res) {
  ClientConn* c = exchange_of(u);
  if (c == nullptr) {
    return;
  }
  if (res < 0) {
    char msg[96];
    snprintf(msg, sizeof(msg), "backend connection failed: %s", strerror(-res));
    RW_DEBUG("shard %u: %s request_id=%.*s", k_.id_, msg, static_cast<int>(c->x.request_id_len),
             c->x.request_id);
    fwd_.upstream_failed(*c, &u, Failure::kConnect, 502, "RW.5020", msg);
    return;
  }
  if (!u.io.plain()) {
    upstream_tls_handshake(*c, u);  // upstream_connected once it is done
    return;
  }
  upstream_connected(*c, u);
}

// The connection is ready for its exchange: the response is awaited, the request sent.
void Upstreams::upstream_connected(ClientConn& c, UpstreamConn& u) {
  u.state = UpstreamState::kBusy;
  upstream_recv(u);
  upstream_send(c, u);
}

void Upstreams::upstream_send(ClientConn& c, UpstreamConn& u) {
  if (u.send_armed || u.state != UpstreamState::kBusy || c.x.up_out.tail <= c.x.up_out_sent) {
    return;
  }
  if (!u.io.plain()) {
    upstream_tls_send(&c, u);
    return;
  }
  io_uring_sqe* s = k_.ring_.sqe();
  transport::prep_send(s, u.io, u.fd, u.fixed, c.x.up_out.data + c.x.up_out_sent,
                       c.x.up_out.tail - c.x.up_out_sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, core::encode(Op::kUpSend, u.slot, k_.upstreams_.gen(u.slot)));
  u.send_armed = true;
  ++u.inflight;
  u.send_lender = c.slot;  // the send reads c.x.up_out
  ++c.lent;
}

// Called before each upstream completion is handled: the client whose buffer the op used
// gets it back. Returns that client's slot (kNoSlot: none), for shard.cc to free it if it
// was waiting only for this.
uint32_t Upstreams::return_lent(UpstreamConn& u, Op op) {
  uint32_t* lender = op == Op::kUpSend   ? &u.send_lender
                     : op == Op::kUpRecv ? &u.recv_lender
                                         : nullptr;
  if (lender == nullptr || *lender == kNoSlot) {
    return kNoSlot;
  }
  uint32_t slot = *lender;
  ClientConn& c = k_.clients_[slot];
  --c.lent;
  if (op == Op::kUpRecv) {
    c.out_pinned = false;
  }
  *lender = kNoSlot;
  return slot;
}

void Upstreams::on_upstream_sent(UpstreamConn& u, int res) {
  u.send_armed = false;
  if (!u.io.plain() && res >= 0 && u.state != UpstreamState::kClosing &&
      (res = upstream_tls_sent(u, res)) == kTlsHandled) {
    return;
  }
  ClientConn* c = exchange_of(u);
  if (c == nullptr) {
    return;
  }
  if (c->state == ClientState::kTunnel) {
    tunnel_backend_sent(*c, u, res);
    return;
  }
  if (res == -EAGAIN || res == -EINTR) {
    upstream_send(*c, u);
    return;
  }
  if (res < 0) {
    fwd_.upstream_failed(*c, &u, Failure::kLost, 502, "RW.5021",
                         "backend connection lost while sending");
    return;
  }
  c->x.up_out_sent += static_cast<uint32_t>(res);
  if (c->x.up_out_sent < c->x.up_out.tail) {
    upstream_send(*c, u);  // short send
    return;
  }
  if (c->x.req_done) {
    // Whole request written; keep it (replayable) until the first response byte.
    if (!c->x.req_sent) {
      c->x.req_sent = true;
      if (!c->resp_started) {
        client_.client_set_timer(*c, TimerKind::kBackend, c->x.timeout_ms);
      }
    }
    return;
  }
  // More body to come: the buffer is reused, so the request is no longer replayable.
  c->x.replayable = false;
  c->x.up_out.head = c->x.up_out.tail = 0;
  c->x.up_out_sent = 0;
  client_.client_set_timer(*c, TimerKind::kClientBody,
                           k_.current_->c().config.limits.client_idle_timeout_ms);
  client_.client_input(*c);
}

uint64_t Upstreams::recv_ud(const UpstreamConn& u) const {
  return core::encode(Op::kUpRecv, u.slot, k_.upstreams_.gen(u.slot));
}

// Asks for the backend's next bytes: a direct relay continues; plain, held bytes (or an end)
// are handed over after this batch, else the multishot receive is armed unless it is; TLS,
// one receive, if there is room.
void Upstreams::upstream_recv(UpstreamConn& u) {
  if (u.recv_armed || u.state == UpstreamState::kClosing) {
    return;
  }
  if (u.state == UpstreamState::kBusy) {
    ClientConn* c = owner_of(u);
    if (c != nullptr && c->direct_left > 0) {
      direct_continue(*c, u, false);
      return;
    }
  }
  if (u.io.plain()) {
    k_.want_bytes(u, k_.up_bufs_, k_.ready_upstreams_, recv_ud(u));
    u.recv_len = k_.up_bufs_.buf_size();
    return;
  }
  if (upstream_tls_kick(u)) {
    return;
  }
  // Idle in the pool, or waiting for the first response byte: nothing is there yet, so
  // the kernel arms its poll at once instead of trying a receive first.
  bool poll_first = u.state == UpstreamState::kIdle || !u.got_bytes;
  // Back-pressure (no room): upstream_input re-arms once the client took what we hold.
  u.recv_len = k_.arm_recv(u.io, u.fd, u.fixed, u.in, k_.up_bufs_, true, poll_first, recv_ud(u));
  if (u.recv_len > 0) {
    u.recv_armed = true;
    ++u.inflight;
  }
}

// Continues a direct relay: unless `speculative` (more is probably queued: take it first,
// send once), passes on what `out` holds; then arms the next receive, or, when `out` has
// no room for one, sends to make room (the send's completion re-arms).
void Upstreams::direct_continue(ClientConn& c, UpstreamConn& u, bool speculative) {
  if (!speculative) {
    client_.client_send(c);
  }
  if (!upstream_direct_recv(c, u, speculative)) {
    client_.client_send(c);
  }
}

// Receives Content-Length body bytes straight into the client's output buffer, behind the
// bytes queued there (a send in flight reads only those). `speculative`: MSG_DONTWAIT;
// -EAGAIN then means "send what you have". False when `out` has too little room.
bool Upstreams::upstream_direct_recv(ClientConn& c, UpstreamConn& u, bool speculative) {
  if (!u.direct && u.rx.pending()) {
    return direct_from_held(c, u);
  }
  if (u.recv_armed) {
    if (!u.direct && c.direct_left > kDirectMinBody) {
      // The multishot receive: a large rest goes straight into `out`, and a direct receive
      // needs the socket to itself. The stop's last completion continues the relay
      // (upstream_rx_cqe); bytes before it are held. A small rest is copied from the
      // multishot's buffers as it comes (no cancel, no re-arm).
      k_.stop_multishot(u.rx, recv_ud(u));
    }
    return true;
  }
  uint32_t want = direct_room(c);
  if (want < std::min<int64_t>(kDirectMinRoom, c.direct_left)) {
    return false;
  }
  io_uring_sqe* s = k_.ring_.sqe();
  transport::prep_recv_into(s, u.io, u.fd, u.fixed, c.out.data + c.out.tail, want,
                            speculative ? MSG_DONTWAIT : 0);
  io_uring_sqe_set_data64(s, core::encode(Op::kUpRecv, u.slot, k_.upstreams_.gen(u.slot)));
  u.recv_armed = true;
  u.direct = true;
  u.recv_len = want;
  ++u.inflight;
  u.recv_lender = c.slot;
  ++c.lent;
  c.out_pinned = true;
  return true;
}

// Room in `out` for direct body bytes, at most the body's rest: `out` is emptied or
// compacted first when no send reads it.
uint32_t Upstreams::direct_room(ClientConn& c) {
  if (!c.send_armed) {
    if (c.out.empty()) {
      c.out.head = c.out.tail = 0;
    } else if (c.out.room() < kDirectMinRoom) {
      c.out.compact();
    }
  }
  return static_cast<uint32_t>(std::min<int64_t>(c.out.room(), c.direct_left));
}

// Body bytes the multishot receive delivered before it stopped, copied into `out` as a
// direct receive would have put them there. True when the relay is over (complete, or
// failed: only the receive's end was left); false: send what `out` has, the send's
// completion continues.
bool Upstreams::direct_from_held(ClientConn& c, UpstreamConn& u) {
  if (u.rx.held.empty()) {
    fwd_.upstream_failed(c, &u, Failure::kLost, 502, "RW.5021",
                         "backend closed the connection in the middle of the body");
    return true;
  }
  uint32_t n = k_.up_bufs_.take(u.rx.held, c.out.data + c.out.tail, direct_room(c));
  if (n == 0) {
    return false;
  }
  c.out.tail += n;
  c.direct_left -= n;
  client_.client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);  // read inactivity
  if (c.direct_left == 0) {
    // Bytes past the body (held, or an end): the backend spoke out of turn, no reuse.
    response_complete(c, c.resp_parser->head().keep_alive && c.x.req_sent && !u.rx.pending());
    return true;
  }
  return false;
}

void Upstreams::on_direct_recv(UpstreamConn& u, int res) {
  ClientConn* c = exchange_of(u);
  if (c == nullptr) {
    return;
  }
  if (res == -EAGAIN || res == -EINTR) {
    direct_continue(*c, u, false);  // nothing more queued: send, wait for the backend
    return;
  }
  if (res <= 0) {
    fwd_.upstream_failed(*c, &u, Failure::kLost, 502, "RW.5021",
                         "backend closed the connection in the middle of the body");
    return;
  }
  c->out.tail += static_cast<uint32_t>(res);
  c->direct_left -= res;
  client_.client_set_timer(*c, TimerKind::kBackend, c->x.timeout_ms);  // read inactivity
  if (c->direct_left == 0) {
    response_complete(*c, c->resp_parser->head().keep_alive && c->x.req_sent);
    return;
  }
  // A full receive probably left more queued; a short one drained the socket.
  direct_continue(*c, u, static_cast<uint32_t>(res) == u.recv_len);
}

void Upstreams::on_upstream_recv(UpstreamConn& u, int res, uint32_t flags) {
  if (u.direct) {
    u.recv_armed = false;
    u.direct = false;
    on_direct_recv(u, res);
    return;
  }
  if (u.io.plain()) {
    if (!upstream_rx_cqe(u, res, flags)) {
      return;
    }
  } else {
    u.recv_armed = false;
    res = upstream_tls_received(u, res, flags);
    if (res == kTlsHandled) {
      return;
    }
    u.more_likely = res == static_cast<int>(u.recv_len);
  }
  if (u.state == UpstreamState::kClosing) {
    return;
  }
  if (res == -ENOBUFS && u.state != UpstreamState::kIdle) {
    k_.starved_upstreams_.push_back(u.slot);
    return;
  }
  ClientConn* c = u.state == UpstreamState::kBusy ? owner_of(u) : nullptr;
  if (c == nullptr) {
    upstream_close(u);  // idle in the pool and the backend closed or spoke: drop it
    return;
  }
  upstream_received(*c, u, res);
}

// A completion of the multishot receive (as ClientSide::client_rx_cqe). The bytes become
// the response's lead, go into u.in, or are held: behind held bytes, during a direct relay
// (the relay copies them from there), or when u.in has no room; holding cancels the
// receive. An end waits behind held bytes and during a direct relay. True when
// on_upstream_recv goes on with `res` (bytes now in u.in, or the receive's end).
bool Upstreams::upstream_rx_cqe(UpstreamConn& u, int res, uint32_t flags) {
  bool last = (flags & IORING_CQE_F_MORE) == 0;
  bool stopped = ShardCore::multishot_done(u, flags);
  ClientConn* c = u.state == UpstreamState::kBusy ? owner_of(u) : nullptr;
  if (c == nullptr || res == -ENOBUFS) {
    k_.take_received(k_.up_bufs_, nullptr, res, flags);
    return true;  // closing, idle or orphaned (closed by on_upstream_recv), or starved
  }
  bool direct = c->direct_left > 0;
  bool go_on = false;
  if (res > 0) {
    auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    u.more_likely = res == static_cast<int>(u.recv_len);
    if (direct) {
      // The relay copies them from there (direct_from_held): now, unless it waits for the
      // stop; when they do not all fit, the receive stops.
      k_.up_bufs_.hold(u.rx.held, bid, static_cast<uint32_t>(res));
      if (!last && !u.rx.stopping) {
        direct_continue(*c, u, false);
      }
      if (!last && u.state == UpstreamState::kBusy && !u.rx.held.empty()) {
        k_.stop_multishot(u.rx, recv_ud(u));
      }
    } else if (u.rx.held.empty() && c->state != ClientState::kTunnel &&
               upstream_lead(*c, u, bid, res)) {
      return false;  // the lead path took the buffer and went on
    } else {
      go_on = k_.take_or_hold(u.rx, k_.up_bufs_, u.in, res, flags, true);
      if (!go_on && !last) {
        k_.stop_multishot(u.rx, recv_ud(u));
      }
    }
  } else if (!(stopped && res == -ECANCELED)) {
    if (u.rx.held.empty() && !direct) {
      return true;
    }
    u.rx.end = res;
  }
  if (stopped || (last && direct)) {
    upstream_recv(u);  // hands over what is held, continues the direct relay, or re-arms
  }
  return go_on;
}

// Hands over what the multishot receive left (ShardCore::ready_upstreams_).
void Upstreams::upstream_rx_ready(UpstreamConn& u) {
  u.rx.queued = false;
  ClientConn* c = u.state == UpstreamState::kBusy ? owner_of(u) : nullptr;
  if (c == nullptr) {
    return;
  }
  if (c->direct_left > 0) {
    direct_continue(*c, u, false);
    return;
  }
  if (!u.rx.held.empty()) {
    uint32_t n = k_.take_held(u.rx, k_.up_bufs_, u.in, true);
    if (n > 0) {
      upstream_received(*c, u, static_cast<int>(n));
    }
    return;  // n == 0: no room; upstream_input asks again once the client took bytes
  }
  if (u.rx.end != MultishotRx::kOpen) {
    int end = std::exchange(u.rx.end, MultishotRx::kOpen);
    upstream_received(*c, u, end);
    return;
  }
  upstream_recv(u);
}

// `res` bytes came into u.in for c's exchange (or the receive ended: 0 or -errno).
void Upstreams::upstream_received(ClientConn& c, UpstreamConn& u, int res) {
  if (c.state == ClientState::kTunnel) {
    tunnel_backend_recv(c, u, res);
    return;
  }
  if (res == 0) {
    // The close ends the response only after the bytes before it: while some wait for
    // room in the client's buffer, upstream_input ends it once they are parsed.
    u.eof = true;
    if (u.in.empty()) {
      upstream_eof(c, u);
    }
    return;
  }
  if (res < 0) {
    fwd_.upstream_failed(c, &u, Failure::kLost, 502, "RW.5021",
                         "backend closed the connection before responding");
    return;
  }
  u.got_bytes = true;
  if (c.resp_started) {
    client_.client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);  // read inactivity
  }
  upstream_input(c, u);
}

// The backend closed and every byte before the close was parsed: that completes a
// close-delimited body; anything else is a failed exchange.
void Upstreams::upstream_eof(ClientConn& c, UpstreamConn& u) {
  if (u.got_bytes && c.resp_parser != nullptr) {
    http::FeedResult r = c.resp_parser->finish();
    if (r.event == http::Event::kMessageComplete) {
      response_complete(c, false);
      return;
    }
  }
  fwd_.upstream_failed(c, &u, Failure::kLost, 502, "RW.5021",
                       "backend closed the connection before responding");
}

// The whole response was received: the backend connection goes back to the pool when
// `reusable`, and the exchange ends once the client has every byte.
void Upstreams::response_complete(ClientConn& c, bool reusable) {
  c.resp_done = true;
  if (c.chunked_to_client) {
    append_last_chunk(c.out);
  }
  upstream_release(c, reusable);
  client_.client_send(c);
  if (c.unsent() == 0 && !c.send_armed) {
    client_.client_exchange_done(c);
  }
}

// Parses buffered backend bytes as far as the client's output room allows.
// `after_head`: the head was parsed already (upstream_lead).
void Upstreams::upstream_input(ClientConn& c, UpstreamConn& u, bool after_head) {
  // After the head, one more feed runs even with no bytes: a body-less response (HEAD,
  // 204, 304, Content-Length: 0) completes on it.
  bool complete = false;
  while ((!u.in.empty() || after_head) && !c.resp_done && c.state == ClientState::kForward) {
    after_head = false;
    if (c.resp_parser == nullptr) {
      c.resp_parser = k_.take_resp_parser(c);
      c.resp_parser->reset(c.x.head_request, c.x.upgrade);
    }
    k_.pool_.get(c.out, c.x.snap->c().head_buf_size);
    if (c.out.room() <= kFramingSlack) {
      if (!c.send_armed) {
        c.out.compact();  // never under a send in flight: it points into c.out
      }
      if (c.out.room() <= kFramingSlack) {
        break;  // wait for the client to take what is queued
      }
    }
    uint32_t limit = u.in.size();
    if (c.resp_started) {
      limit = std::min(limit, c.out.room() - kFramingSlack);
    }
    k_.body_target_ = &c;
    http::FeedResult r = c.resp_parser->feed(u.in.data + u.in.head, limit);
    u.in.head += static_cast<uint32_t>(r.consumed);
    if (r.event == http::Event::kError) {
      const http::ParseError& e = c.resp_parser->error();
      fwd_.upstream_failed(c, &u, Failure::kBadResponse, 502, e.code.empty() ? "RW.5022" : e.code,
                           e.message);
      return;
    }
    if (r.event == http::Event::kHeadComplete) {
      if (c.x.fire_and_forget) {
        fwd_.fire_done(c);  // an async function answered: its answer is not wanted
        return;
      }
      upstream_head_done(c, u);
      if (c.resp_started && c.resp_parser->head().status == 101) {
        tunnel_start(c, u);  // the rest of u.in is the new protocol's
        return;
      }
      after_head = true;
    } else if (r.event == http::Event::kMessageComplete) {
      complete = true;
      break;
    } else if (r.consumed == 0) {
      break;
    }
  }
  if (u.in.allocated() && u.in.empty()) {
    k_.pool_.put(u.in);
  }
  if (complete) {
    // Bytes past the response (a backend that spoke out of turn): the connection is not reused.
    response_complete(c,
                      c.resp_parser->head().keep_alive && c.x.req_sent && u.in.empty() && !u.eof);
    return;
  }
  if (go_direct(c, u)) {
    // The rest of the body goes straight into c.out; more is probably queued when the
    // receive that brought the head filled its buffer.
    direct_continue(c, u, u.more_likely);
    return;
  }
  client_.client_send(c);
  UpstreamConn* still = owned_upstream(c);
  if (still != nullptr && !c.resp_done) {
    if (!still->eof) {
      upstream_recv(*still);
    } else if (still->in.empty()) {
      upstream_eof(c, *still);
      return;
    }
  }
  if (c.resp_done && c.unsent() == 0 && !c.send_armed) {
    client_.client_exchange_done(c);
  }
}

// Whether the rest of the response body can bypass the parser: a Content-Length body
// relayed as is (not re-chunked), in the big relay buffer, with nothing left in u.in, on
// plain streams (transport::zero_copy: the backend's receive writes the client's buffer).
// Sets c.direct_left.
bool Upstreams::go_direct(ClientConn& c, const UpstreamConn& u) {
  if (c.direct_left > 0) {
    return true;
  }
  if (!transport::zero_copy(c.io, u.io) || !c.resp_started || c.resp_done ||
      c.state != ClientState::kForward || !u.in.empty() || c.chunked_to_client ||
      c.out.cap < kRelayBufSize) {
    return false;
  }
  const http::ResponseHead& rh = c.resp_parser->head();
  if (rh.no_body || rh.content_length <= 0) {
    return false;
  }
  int64_t left = rh.content_length - static_cast<int64_t>(c.resp_parser->body_bytes());
  c.direct_left = left > 0 ? left : 0;
  return c.direct_left > 0;
}

void Upstreams::upstream_head_done(ClientConn& c, UpstreamConn& u) {
  const http::ResponseHead& rh = c.resp_parser->head();
  k_.count_attempt(c.x, metrics::Outcome::kOk);
  // A large Content-Length body gets the big relay buffer (see go_direct).
  if (!rh.no_body && rh.content_length > kDirectMinBody && c.out.empty() && !c.send_armed &&
      !c.out_pinned && c.out.cap < kRelayBufSize) {
    k_.pool_.put(c.out);
    k_.pool_.get(c.out, kRelayBufSize);
  }
  Writer w(c.out.data + c.out.tail, c.out.room());
  if (!client_response_head(c, w)) {
    fwd_.upstream_failed(c, &u, Failure::kBadResponse, 502, "RW.5023",
                         "backend response head too large");
    return;
  }
  c.out.tail += static_cast<uint32_t>(w.size());
  client_.client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);
}

// Starts the client's response from the parsed backend head: framing, keep-alive, and its
// head written into `w`. False when `w` had no room for it (resp_started stays false).
bool Upstreams::client_response_head(ClientConn& c, Writer& w) {
  const http::ResponseHead& rh = c.resp_parser->head();
  fwd_.guard_record(c, rh.status, false);
  c.resp_started = true;
  c.x.trace.status = rh.status;
  c.x.trace.backend_end_us = monotonic_us();
  c.x.replayable = false;
  http::ClientResponse resp;
  resp.request_id = c.x.rid();
  if (c.x.downgrade != nullptr) {
    resp.extra_headers = c.x.downgrade->response_header;
  }
  resp.no_body = rh.no_body;
  resp.http10 = c.x.http10;
  if (rh.status == 101) {
    resp.upgrade = rh.get("upgrade");  // the response parser took it only for an upgrade
  }
  if (!c.x.req_done) {
    c.keep_alive = false;  // the backend answered before the upload ended
  }
  if (!rh.no_body && rh.content_length < 0) {
    if (c.x.http10) {
      c.keep_alive = false;  // HTTP/1.0 client: the body ends when we close
    } else {
      resp.chunked = true;
      c.chunked_to_client = true;
    }
  }
  resp.content_length = rh.content_length;
  resp.keep_alive = c.keep_alive;
  http::write_client_head(rh, resp, w);
  if (!w.ok()) {
    c.resp_started = false;
    return false;
  }
  return true;
}

void Upstreams::on_resp_body(void* ctx, const char* data, size_t len) {
  auto* self = static_cast<ShardCore*>(ctx);
  ClientConn& c = *self->body_target_;
  if (len == 0) {
    return;
  }
  append_body(c.out, c.chunked_to_client, std::string_view(data, len));
}

// Ends the client's use of its upstream: back to the pool, or closed.
void Upstreams::upstream_release(ClientConn& c, bool reusable) {
  UpstreamConn* u = owned_upstream(c);
  c.x.upstream = kNoSlot;
  if (u == nullptr) {
    return;
  }
  u->owner = kNoSlot;
  IdlePool& pool = idle_[u->key];
  if (!reusable || k_.draining_ || u->state != UpstreamState::kBusy || u->rx.pending() ||
      pool.count >= kPoolMaxPerKey) {
    upstream_close(*u);
    upstream_maybe_free(*u);
    return;
  }
  if (!u->io.plain()) {
    upstream_tls_keep_session(*u);
  }
  k_.pool_.put(u->in);
  u->state = UpstreamState::kIdle;
  u->reused = false;
  u->pool = &pool;
  u->pool_prev = nullptr;
  u->pool_next = pool.head;
  if (pool.head != nullptr) {
    pool.head->pool_prev = u;
  }
  pool.head = u;
  ++pool.count;
  ++k_.pooled_;
  k_.timers_.arm(&u->timer, k_.now_ms_ + kPoolIdleMs);
  upstream_recv(*u);  // notices the backend closing it while idle
}

void Upstreams::close_idle() {
  for (auto& [key, pool] : idle_) {
    while (pool.head != nullptr) {
      UpstreamConn* u = pool.head;
      upstream_close(*u);  // unlinks from the pool
      upstream_maybe_free(*u);
    }
  }
}

void Upstreams::pool_remove(UpstreamConn& u) {
  if (u.pool == nullptr) {
    return;
  }
  if (u.pool_prev != nullptr) {
    u.pool_prev->pool_next = u.pool_next;
  } else {
    u.pool->head = u.pool_next;
  }
  if (u.pool_next != nullptr) {
    u.pool_next->pool_prev = u.pool_prev;
  }
  --u.pool->count;
  --k_.pooled_;
  u.pool = nullptr;
  u.pool_prev = u.pool_next = nullptr;
}

void Upstreams::upstream_close(UpstreamConn& u) {
  if (u.state == UpstreamState::kClosing) {
    return;
  }
  if (u.state == UpstreamState::kIdle) {
    pool_remove(u);
  }
  if (!u.io.plain() && u.io.tls->handshake_done()) {
    upstream_tls_keep_session(u);  // a backend that closes after each response resumes too
  }
  u.state = UpstreamState::kClosing;
  u.owner = kNoSlot;
  k_.timers_.disarm(&u.timer);
  k_.pool_.put(u.in);
  bool only_recv = u.inflight == 1 && u.recv_armed;
  k_.close_fd(u.fd, Op::kIgnore, u.fixed, u.inflight > 0, only_recv ? recv_ud(u) : 0);
  u.fd = -1;
}

void Upstreams::upstream_maybe_free(UpstreamConn& u) {
  if (u.state == UpstreamState::kClosing && u.inflight == 0 && u.slot != kNoSlot) {
    k_.up_bufs_.drop(u.rx.held);
    u.rx = MultishotRx{};
    k_.give_tls(u.io);
    uint32_t slot = u.slot;
    u.slot = kNoSlot;
    k_.upstreams_.release(slot);
  }
}

}  // namespace ringway::proxy
