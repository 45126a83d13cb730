// ClientSide (client_side.h): the client connection state machine.
#include <arpa/inet.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/user_data.h"
#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {

using core::Op;

namespace {

constexpr uint32_t kFramingSlack = 64;        // room kept for chunk framing around body bytes
constexpr int64_t kDiscardMaxBody = 1 << 20;  // larger unwanted bodies close the connection

// Kept from the client: 1..kMaxRequestId visible ASCII bytes (0x21..0x7e) except '"' and
// backslash, so it goes into JSON and log lines as it is.
bool valid_request_id(std::string_view v) {
  if (v.empty() || v.size() > Exchange::kMaxRequestId) {
    return false;
  }
  for (char ch : v) {
    if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
      return false;
    }
  }
  return true;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void put_hex16(uint64_t v, Writer& w) {
  static constexpr char kHex[] = "0123456789abcdef";
  char d[16];
  for (int i = 15; i >= 0; --i, v >>= 4) {
    d[i] = kHex[v & 15];
  }
  w.put(std::string_view(d, sizeof(d)));
}

}  // namespace

ClientSide::ClientSide(ShardCore& k, ClientSide& client, Forwarder& fwd, Upstreams& up)
    : ShardPart(k, client, fwd, up) {
  if (getrandom(&rid_seed_, sizeof(rid_seed_), 0) != sizeof(rid_seed_)) {
    rid_seed_ = k_.now_ms_ * 0x9e3779b97f4a7c15ull + k_.id_;
  }
}

void ClientSide::client_open(int fd, uint32_t listener) {
  uint32_t slot = k_.clients_.alloc();
  uint32_t limit = k_.current_->c().config.limits.max_connections;
  if (slot == kNoSlot && k_.clients_.capacity() < limit) {
    // A reload raised max_connections above what the slab was sized for: grow it (rare,
    // amortised: doubling, capped at the limit).
    k_.clients_.grow(std::min<uint64_t>(limit, 2ull * k_.clients_.capacity()));
    slot = k_.clients_.alloc();
  }
  if (slot == kNoSlot) {
    k_.close_fd(fd, Op::kIgnore, false, false);
    return;
  }
  ClientConn& c = k_.clients_[slot];
  c.fd = fd;
  c.fixed = k_.ring_.fix(fd);
  c.slot = slot;
  c.listener = listener;
  c.state = ClientState::kIdle;
  c.inflight = 0;
  c.lent = 0;
  c.recv_armed = c.send_armed = false;
  c.rx = MultishotRx{};
  c.peer_known = false;
  c.out_pinned = false;
  c.direct_left = 0;
  // No response yet: a recycled slot's last one (a TLS alert's close) must not end this.
  c.resp_done = false;
  c.close_after_send = false;
  c.keep_alive = true;
  c.timer.owner = slot;
  c.x.clear_guard();
  const auto& tls_of = k_.current_->c().listener_tls;
  if (listener < tls_of.size() && tls_of[listener] != nullptr) {
    tls_open(c, *tls_of[listener]);
  }
  ++client_count_;
  k_.ctx_->conn_counts.set(k_.id_, 0, client_count_);
  // The first request's head must arrive within the header timeout.
  client_set_timer(c, TimerKind::kClientHeader,
                   k_.current_->c().config.limits.client_header_timeout_ms);
  client_recv(c);
}

void ClientSide::client_set_timer(ClientConn& c, TimerKind kind, uint64_t ms) {
  c.timer.kind = static_cast<uint8_t>(kind);
  k_.timers_.arm(&c.timer, k_.now_ms_ + ms);
}

namespace {
// Whether the connection reads now: between requests, in a head, in a request body, in a
// tunnel. Not while a response is awaited or sent after the whole request was read: a
// pipelined request waits (in c.in or held) until that response is out.
bool wants_bytes(const ClientConn& c) {
  switch (c.state) {
    case ClientState::kIdle:
    case ClientState::kHead:
    case ClientState::kTunnel:
      return true;
    case ClientState::kForward:
    case ClientState::kLocal:
      return !c.x.req_done;
    default:
      return false;
  }
}

// c.in may be compacted: never while a head is parsed (its header views point into c.in)
// nor while the connection does not read (the views of the head being answered).
bool may_compact_in(const ClientConn& c) { return c.state != ClientState::kHead && wants_bytes(c); }
}  // namespace

uint64_t ClientSide::recv_ud(const ClientConn& c) const {
  return core::encode(Op::kClientRecv, c.slot, k_.clients_.gen(c.slot));
}

// Asks for the client's next bytes. Plain: held bytes (or an end) are handed over after
// this batch; else the multishot receive is armed unless it is. TLS: one receive into a
// provided buffer, if there is room to take it; `poll_first`: idle between requests, the
// next one is not there yet (no failed receive first).
void ClientSide::client_recv(ClientConn& c, bool poll_first) {
  if (c.state == ClientState::kClosing) {
    return;
  }
  if (c.io.plain()) {
    k_.want_bytes(c, k_.bufs_, k_.ready_clients_, recv_ud(c));
    return;
  }
  if (c.recv_armed || tls_kick(c)) {
    return;
  }
  // Never compact while a head is being parsed: its header views point into c.in. A head
  // is at most max_header_bytes and the buffer has two receives more, so it needs no room.
  if (k_.arm_recv(c.io, c.fd, c.fixed, c.in, k_.bufs_, c.state != ClientState::kHead, poll_first,
                  recv_ud(c))) {
    c.recv_armed = true;
    ++c.inflight;
  }
}

void ClientSide::on_client_recv(ClientConn& c, int res, uint32_t flags) {
  if (c.io.plain()) {
    if (!client_rx_cqe(c, res, flags)) {
      return;
    }
  } else {
    c.recv_armed = false;
    res = tls_received(c, res, flags);
    if (res == kTlsHandled) {
      return;
    }
  }
  if (c.state == ClientState::kClosing) {
    return;
  }
  if (res == -ENOBUFS) {
    k_.starved_clients_.push_back(c.slot);
    return;
  }
  client_received(c, res);
}

// A completion of the multishot receive. Its bytes go into c.in when they fit; they are
// passed on now when the connection reads, else they wait there (pipelined). Bytes that do
// not fit are held and the receive cancelled. An end (EOF, error) waits behind held bytes
// and while the connection does not read. True when on_client_recv goes on with `res`.
bool ClientSide::client_rx_cqe(ClientConn& c, int res, uint32_t flags) {
  bool last = (flags & IORING_CQE_F_MORE) == 0;
  bool stopped = ShardCore::multishot_done(c, flags);
  if (c.state == ClientState::kClosing) {
    k_.take_received(k_.bufs_, nullptr, res, flags);
    return false;
  }
  bool go_on = false;
  if (res > 0) {
    if (k_.take_or_hold(c.rx, k_.bufs_, c.in, res, flags, may_compact_in(c))) {
      go_on = wants_bytes(c);
    } else if (!last) {
      k_.stop_multishot(c.rx, recv_ud(c));
    }
  } else if (res == -ENOBUFS) {
    return true;  // re-armed after the batch, once buffers came back
  } else if (!(stopped && res == -ECANCELED)) {
    if (c.rx.held.empty() && wants_bytes(c)) {
      return true;
    }
    c.rx.end = res;
  }
  if (stopped) {
    client_recv(c);  // held bytes are handed over when wanted; else the receive re-armed
  }
  return go_on;
}

// Hands over what the multishot receive left (ShardCore::ready_clients_), when the
// connection reads.
void ClientSide::client_rx_ready(ClientConn& c) {
  c.rx.queued = false;
  if (c.state == ClientState::kClosing || !wants_bytes(c)) {
    return;  // its next client_recv queues it again
  }
  if (!c.rx.held.empty()) {
    uint32_t n = k_.take_held(c.rx, k_.bufs_, c.in, may_compact_in(c));
    if (n > 0) {
      client_received(c, static_cast<int>(n));
    }
    return;  // n == 0: no room; client_input asks again once it consumed
  }
  if (c.rx.end != MultishotRx::kOpen) {
    int end = std::exchange(c.rx.end, MultishotRx::kOpen);
    client_received(c, end);
    return;
  }
  client_recv(c);
}

// `res` bytes came into c.in (or the receive ended: 0 or -errno) while the connection reads.
void ClientSide::client_received(ClientConn& c, int res) {
  if (c.state == ClientState::kTunnel) {
    up_.tunnel_client_recv(c, res);
    return;
  }
  if (res <= 0) {
    // EOF or error. A half-closed client that still waits for a response is treated as
    // gone (as NGINX does without proxy_ignore_client_abort).
    client_close(c);
    return;
  }
  if (c.state == ClientState::kIdle) {
    c.state = ClientState::kHead;
    exchange_begin(c);
    client_set_timer(c, TimerKind::kClientHeader,
                     k_.current_->c().config.limits.client_header_timeout_ms);
  } else if (c.state == ClientState::kForward && !c.x.req_done) {
    client_set_timer(c, TimerKind::kClientBody,
                     k_.current_->c().config.limits.client_idle_timeout_ms);
  }
  client_input(c);
}

// Drives parsing as far as the buffered bytes and the output room allow.
void ClientSide::client_input(ClientConn& c) {
  bool progress = true;
  while (progress && c.state != ClientState::kClosing) {
    switch (c.state) {
      case ClientState::kHead:
        progress = client_head_step(c);
        break;
      case ClientState::kForward:
      case ClientState::kLocal:
        progress = client_body_step(c);
        break;
      default:
        progress = false;
    }
  }
  if (c.state == ClientState::kHead ||
      ((c.state == ClientState::kForward || c.state == ClientState::kLocal) && !c.x.req_done)) {
    client_recv(c);
  }
}

bool ClientSide::client_head_step(ClientConn& c) {
  if (c.req_parser == nullptr) {
    c.req_parser = k_.take_req_parser();
    c.req_parser->reset();
  }
  if (c.in.empty()) {
    return false;
  }
  k_.body_target_ = &c;
  http::FeedResult r = c.req_parser->feed(c.in.data + c.in.head, c.in.size());
  c.in.head += static_cast<uint32_t>(r.consumed);
  c.x.trace.bytes_in += r.consumed;
  if (r.event == http::Event::kNeedMore) {
    return false;
  }
  if (r.event == http::Event::kError) {
    const http::ParseError& e = c.req_parser->error();
    c.x.request_id_len = 0;
    make_request_id(c, http::RequestHead{});
    c.x.snap = nullptr;
    client_error(c, e.status, e.code, e.message, true);
    return false;
  }
  client_head_done(c);
  return true;
}

void ClientSide::make_request_id(ClientConn& c, const http::RequestHead& h) {
  std::string_view given = h.headers != nullptr ? h.get("x-request-id") : std::string_view{};
  if (valid_request_id(given)) {
    std::memcpy(c.x.request_id, given.data(), given.size());
    c.x.request_id_len = static_cast<uint8_t>(given.size());
    return;
  }
  // 128 bits from a splitmix64 stream seeded by getrandom: unique, not secret.
  Writer w(c.x.request_id, sizeof(c.x.request_id));
  put_hex16(splitmix64(rid_seed_ + 2 * ++rid_counter_), w);
  put_hex16(splitmix64(rid_seed_ + 2 * rid_counter_ + 1), w);
  c.x.request_id_len = static_cast<uint8_t>(w.size());
}

// The head is complete and still in place in c.in (views valid until c.in is compacted).
void ClientSide::client_head_done(ClientConn& c) {
  const http::RequestHead& h = c.req_parser->head();
  c.x.snap = k_.hold_snapshot();
  make_request_id(c, h);
  c.x.trace.head_done = true;
  trace_request(c, h);
  c.x.http10 = h.http_minor == 0;
  c.keep_alive = h.keep_alive && !k_.draining_;
  c.x.head_request = h.method_name == "HEAD";
  c.x.req_done = false;
  c.x.req_sent = false;
  c.x.discard_body = false;
  c.resp_started = c.resp_done = false;
  c.close_after_send = false;
  c.x.retried = false;
  c.x.upgrade = false;
  c.x.lb_acquired = false;
  c.chunked_to_client = false;
  c.direct_left = 0;
  c.x.api = nullptr;
  c.x.clear_guard();
  if (!client_cascade_check(c)) {
    return;  // the cascade channel's headers did not check out (refused)
  }
  route::MatchResult m = c.x.snap->c().routes->match(route::method_key(h.method_name), h.host,
                                                     h.path, h.get("x-stage"));
  {
    const Compiled& cc = c.x.snap->c();
    const size_t api = m.api != nullptr ? m.api->index : cc.routes->apis().size();
    const bool no_env = m.status == route::MatchResult::Status::kNoEnvironment;
    c.x.metric_row = cc.metric_rows.request_row(static_cast<uint32_t>(api),
                                                no_env ? cc.metric_rows.release : m.environment);
  }
  if (m.status == route::MatchResult::Status::kOk) {
    c.x.api = m.api;
    c.x.trace.environment = m.environment;
    if (m.api->app_auth && c.x.cascade_hop == 0 && !client_app_auth(c)) {
      return;  // refused (401)
    }
    if (fwd_.guard_start(c, m)) {
      return;  // an open circuit breaker's downgrade answers
    }
    if (m.api->backend.type == config::BackendType::kHttp) {
      c.state = ClientState::kForward;
      fwd_.forward_start(c, m, m.api->backend);
      return;
    }
    if (client_defer_local(c, &m.api->backend)) {
      return;  // a mock API answers once the signed body is verified
    }
  }
  client_answer_locally(c);
  if (m.status == route::MatchResult::Status::kNoEnvironment) {
    client_error(c, 404, "RW.4041", "unknown environment in X-Stage", false);
  } else if (m.status != route::MatchResult::Status::kOk) {
    client_error(c, 404, "RW.4040", "no API matches the request", false);
  } else {
    client_local_reply(c, m.api->backend);
  }
}

// Answered here. An unwanted body is swallowed when small; a large, chunked or
// 100-continue one closes the connection after the answer instead.
void ClientSide::client_answer_locally(ClientConn& c) {
  const http::RequestHead& h = c.req_parser->head();
  c.state = ClientState::kLocal;
  c.x.discard_body = true;
  if (h.has_body() && (h.expect_continue || h.chunked || h.content_length > kDiscardMaxBody)) {
    c.keep_alive = false;
    c.close_after_send = true;
  }
  client_set_timer(c, TimerKind::kClientBody,
                   k_.current_->c().config.limits.client_idle_timeout_ms);
}

void ClientSide::client_local_reply(ClientConn& c, const route::CompiledBackend& b) {
  k_.pool_.get(c.out, k_.current_->c().head_buf_size);
  Writer w(c.out.data + c.out.tail, c.out.room());
  w.put(b.mock_head);
  w.put("x-request-id: ");
  w.put(c.x.rid());
  w.put(c.keep_alive ? "\r\n\r\n" : "\r\nconnection: close\r\n\r\n");
  size_t head_len = w.size();
  bool body = !c.x.head_request && !b.mock_body.empty();
  if (!w.ok() || (body && b.mock_body.size() > w.room())) {
    client_error(c, 500, "RW.5000", "mock response too large", true);
    return;
  }
  c.out.tail += static_cast<uint32_t>(head_len);
  c.x.trace.status = b.mock_status;
  if (body) {
    std::memcpy(c.out.data + c.out.tail, b.mock_body.data(), b.mock_body.size());
    c.out.tail += static_cast<uint32_t>(b.mock_body.size());
  }
  c.resp_started = true;
  c.resp_done = true;
  client_send(c);
}

void ClientSide::client_error(ClientConn& c, uint16_t status, std::string_view code,
                              std::string_view message, bool close, std::string_view extra) {
  if (close) {
    c.keep_alive = false;
    c.close_after_send = true;
  }
  if (c.state != ClientState::kLocal) {
    c.state = ClientState::kLocal;
  }
  k_.pool_.get(c.out, k_.current_->c().head_buf_size);
  Writer w(c.out.data + c.out.tail, c.out.room());
  if (extra.empty() && c.x.downgrade != nullptr) {
    // A downgrade backend failed, or there is none: still the breaker's answer.
    extra = status == 503 ? c.x.downgrade->reject_headers : c.x.downgrade->response_header;
  } else if (extra.empty() && status == 503) {
    extra = "retry-after: 1\r\n";
  }
  http::write_error(status, code, message, c.x.rid(), c.keep_alive, extra, w);
  if (w.ok()) {
    c.out.tail += static_cast<uint32_t>(w.size());
    c.x.trace.status = status;
  }
  c.resp_started = true;
  c.resp_done = true;
  if (close) {
    c.x.req_done = true;  // nothing more is read from this connection
  }
  RW_DEBUG("shard %u: %u %.*s %.*s request_id=%.*s", k_.id_, status, static_cast<int>(code.size()),
           code.data(), static_cast<int>(message.size()), message.data(),
           static_cast<int>(c.x.request_id_len), c.x.request_id);
  client_send(c);
}

// Feeds body bytes of the current request (or the end of a body-less one).
bool ClientSide::client_body_step(ClientConn& c) {
  if (c.x.req_done || c.req_parser == nullptr) {
    return false;
  }
  uint32_t limit = c.in.size();
  if (c.state == ClientState::kForward) {
    k_.pool_.get(c.x.up_out, k_.current_->c().head_buf_size);
    if (c.x.up_out.room() <= kFramingSlack && c.x.auth != nullptr && !client_hold_room(c)) {
      return false;  // answered: no room to hold the signed body
    }
    if (c.x.up_out.room() <= kFramingSlack) {
      return false;  // wait for the backend to take what is queued
    }
    limit = std::min(limit, c.x.up_out.room() - kFramingSlack);
  }
  k_.body_target_ = &c;
  http::FeedResult r = c.req_parser->feed(c.in.data + c.in.head, limit);
  c.in.head += static_cast<uint32_t>(r.consumed);
  c.x.trace.bytes_in += r.consumed;
  if (c.in.empty()) {
    c.in.head = c.in.tail = 0;
  }
  if (r.event == http::Event::kError) {
    const http::ParseError& e = c.req_parser->error();
    if (c.state == ClientState::kForward && !c.resp_started) {
      up_.upstream_release(c, false);
      client_error(c, e.status, e.code, e.message, true);
    } else {
      client_close(c);
    }
    return false;
  }
  if (r.event == http::Event::kMessageComplete) {
    c.x.req_done = true;
    if (c.state == ClientState::kForward) {
      if (c.x.rechunk_request) {
        append_last_chunk(c.x.up_out);
      }
      if (c.x.auth != nullptr) {
        client_auth_body_done(c);  // verified: sent now; else refused
        return false;
      }
      UpstreamConn* u = up_.owned_upstream(c);
      if (u != nullptr && u->state == UpstreamState::kBusy) {
        up_.upstream_send(c, *u);
      }
    } else if (c.resp_done && !c.send_armed && c.unsent() == 0) {
      client_exchange_done(c);
    }
    return false;
  }
  if (c.state == ClientState::kForward && r.consumed > 0) {
    UpstreamConn* u = up_.owned_upstream(c);
    if (u != nullptr && u->state == UpstreamState::kBusy) {
      up_.upstream_send(c, *u);
    }
  }
  return r.consumed > 0 && !c.in.empty();
}

void ClientSide::on_req_body(void* ctx, const char* data, size_t len) {
  auto* self = static_cast<ShardCore*>(ctx);
  ClientConn& c = *self->body_target_;
  if (c.state != ClientState::kForward || len == 0) {
    return;  // kLocal: the body is discarded
  }
  if (c.x.auth != nullptr) {
    c.x.auth->body.update(data, len);  // a signed body is hashed as the client sent it
  }
  // client_body_step bounds each feed by the room, so this always fits.
  append_body(c.x.up_out, c.x.rechunk_request, std::string_view(data, len));
}

// True when the bytes in `out` are the connection's last: the response is complete and
// on_client_sent would close the connection once they are out.
bool ClientSide::send_ends_connection(const ClientConn& c) const {
  if (!c.resp_done || c.out_pinned) {
    return false;
  }
  if (c.close_after_send) {
    return true;
  }
  if (c.keep_alive) {
    return false;
  }
  if (c.state == ClientState::kForward) {
    return c.x.req_done;
  }
  return c.state == ClientState::kLocal && (c.x.req_done || c.req_parser == nullptr);
}

// The last send of a connection carries MSG_WAITALL and a linked cancel+close, submitted at
// once, so the FIN follows the response and TIME_WAIT stays on the gateway, not on the
// client's ports (bench/README.md, "Why the code is so"). A send that fails or stops short
// breaks the link and the connection is closed the ordinary way.
void ClientSide::client_send(ClientConn& c) {
  if (!c.io.plain() && !c.send_armed && c.state != ClientState::kClosing) {
    tls_send(c);
    return;
  }
  uint32_t len = c.unsent();
  if (c.send_armed || c.state == ClientState::kClosing || len == 0) {
    return;
  }
  bool last = send_ends_connection(c);
  if (last) {
    k_.ring_.reserve(4);  // send, cancel, unfix, close
  }
  io_uring_sqe* s = k_.ring_.sqe();
  int flags = MSG_NOSIGNAL | (last ? MSG_WAITALL : 0);
  if (c.lead != nullptr) {
    prep_lead_send(s, c, flags);
  } else {
    transport::prep_send(s, c.io, c.fd, c.fixed, c.out.data + c.out.head, c.out.size(), flags);
  }
  io_uring_sqe_set_data64(s, core::encode(Op::kClientSend, c.slot, k_.clients_.gen(c.slot)));
  c.send_armed = true;
  ++c.inflight;
  if (last) {
    s->flags |= IOSQE_IO_LINK;
    k_.close_fd(c.fd, Op::kIgnore, c.fixed, c.recv_armed, recv_ud(c));  // the only other op
    c.linked_close = len;
    k_.ring_.submit_now();
  }
}

// A linked close behind a send: complete send, the kernel closed the fd; otherwise the link
// broke and the fd is still ours. True when the fd is gone.
bool ClientSide::settle_linked_close(ClientConn& c, int res) {
  bool closed = res >= 0 && static_cast<uint32_t>(res) == c.linked_close;
  c.linked_close = 0;
  if (closed) {
    c.fd = -1;
  } else if (c.state == ClientState::kClosing) {
    k_.close_fd(c.fd, Op::kIgnore, c.fixed);  // client_close left it to this completion
    c.fd = -1;
  }
  return closed;
}

void ClientSide::on_client_sent(ClientConn& c, int res) {
  c.send_armed = false;
  if (c.linked_close != 0 && settle_linked_close(c, res)) {
    client_close(c);  // the whole response is out and the connection closed behind it
    return;
  }
  if (c.state == ClientState::kClosing) {
    return;
  }
  if (res == -EAGAIN || res == -EINTR) {
    client_send(c);
    return;
  }
  if (res < 0) {
    client_close(c);
    return;
  }
  if (!c.io.plain() && (res = tls_sent(c, res)) == kTlsHandled) {
    return;
  }
  consume_sent(c, static_cast<uint32_t>(res));
  if (c.state == ClientState::kTunnel) {
    up_.tunnel_client_sent(c, static_cast<uint32_t>(res));
    return;
  }
  if (c.unsent() > 0) {
    client_send(c);  // short send
    return;
  }
  if (!c.out_pinned) {
    c.out.head = c.out.tail = 0;
  }
  if (c.close_after_send && c.resp_done) {
    client_close(c);
    return;
  }
  if (c.state == ClientState::kForward) {
    if (c.timer.kind == static_cast<uint8_t>(TimerKind::kBackend) && c.resp_started) {
      client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);  // download progress
    }
    UpstreamConn* u = up_.owned_upstream(c);
    if (u != nullptr) {
      up_.upstream_input(c, *u);  // room again: continue with buffered backend bytes
    }
    if (c.resp_done && c.unsent() == 0 && !c.send_armed) {
      client_exchange_done(c);
    }
    return;
  }
  if (c.state == ClientState::kLocal && c.resp_done) {
    if (c.x.req_done || c.req_parser == nullptr) {
      client_exchange_done(c);
    } else {
      client_input(c);  // keep discarding the request body
    }
  }
}

// The response is out and the request fully read: next request or close.
void ClientSide::client_exchange_done(ClientConn& c) {
  if (c.state == ClientState::kForward && !c.x.req_done) {
    return;  // response finished early; the client's upload is still arriving
  }
  exchange_end(c);
  k_.give_auth_hold(c);
  if (c.x.snap != nullptr) {
    fwd_.lb_release(c);
    k_.release_snapshot(c.x.snap);
    c.x.snap = nullptr;
  }
  if (c.lent > 0) {
    c.keep_alive = false;  // a backend send still reads up_out (rare): no reuse, close
  } else {
    k_.pool_.put(c.x.up_out);
  }
  c.x.up_out_sent = 0;
  if (!c.keep_alive || c.close_after_send) {
    client_close(c);
    return;
  }
  c.state = ClientState::kIdle;
  c.x.api = nullptr;
  c.x.clear_guard();
  c.req_parser->reset();
  if (c.in.empty()) {
    k_.give_parsers(c);
    k_.pool_.put(c.in);
    k_.pool_.put(c.out);
    client_set_timer(c, TimerKind::kClientIdle,
                     k_.current_->c().config.limits.client_idle_timeout_ms);
    client_recv(c, true);
    return;
  }
  // Pipelined bytes are waiting: they start the next request now.
  k_.give_parsers(c);
  c.in.compact();
  c.state = ClientState::kHead;
  exchange_begin(c);
  client_set_timer(c, TimerKind::kClientHeader,
                   k_.current_->c().config.limits.client_header_timeout_ms);
  client_input(c);
}

void ClientSide::on_client_timer(ClientConn& c, TimerKind kind) {
  switch (kind) {
    case TimerKind::kClientIdle:
      client_close(c);
      return;
    case TimerKind::kClientHeader:
      if (c.state == ClientState::kHead && c.in.size() > 0) {
        make_request_id(c, http::RequestHead{});
        client_error(c, 408, "RW.4080", "request head not received in time", true);
      } else {
        client_close(c);
      }
      return;
    case TimerKind::kClientBody:
      if (!c.resp_started) {
        up_.upstream_release(c, false);
        client_error(c, 408, "RW.4081", "request body not received in time", true);
      } else {
        client_close(c);
      }
      return;
    case TimerKind::kTunnelIdle:
      up_.tunnel_idle(c);
      return;
    case TimerKind::kBackend:
      fwd_.upstream_failed(c, nullptr, Failure::kTimeout, 504, "RW.5040",
                           "backend did not respond in time");
      return;
    default:
      return;
  }
}

void ClientSide::client_close(ClientConn& c) {
  if (c.state == ClientState::kClosing) {
    return;
  }
  if (c.x.upstream != kNoSlot) {
    up_.upstream_release(c, false);
  }
  exchange_end(c);
  c.state = ClientState::kClosing;
  k_.timers_.disarm(&c.timer);
  if (c.x.snap != nullptr) {
    fwd_.lb_release(c);
    k_.release_snapshot(c.x.snap);
    c.x.snap = nullptr;
  }
  k_.give_auth_hold(c);
  k_.give_parsers(c);
  if (c.linked_close != 0) {
    // The send that ends the connection is still out (a stalled client): cancelling it
    // breaks the link, and settle_linked_close closes the fd when its CQE arrives.
    k_.cancel_fd(c.fd);
  } else if (c.fd >= 0) {
    bool only_recv = c.inflight == 1 && c.recv_armed;
    k_.close_fd(c.fd, Op::kIgnore, c.fixed, c.inflight > 0, only_recv ? recv_ud(c) : 0);
    c.fd = -1;
  }
  --client_count_;
  k_.ctx_->conn_counts.set(k_.id_, 0, client_count_);
  client_maybe_free(c);  // nothing in flight: free now (no completion would do it later)
}

// A closing connection's buffers and slot go once no SQE uses them: its own (inflight)
// and backend ones reading or writing its buffers (lent).
void ClientSide::client_maybe_free(ClientConn& c) {
  if (c.state == ClientState::kClosing && c.inflight == 0 && c.lent == 0 && c.slot != kNoSlot) {
    release_lead(c);
    k_.bufs_.drop(c.rx.held);
    c.rx = MultishotRx{};
    k_.give_tls(c.io);
    k_.pool_.put(c.in);
    k_.pool_.put(c.out);
    k_.pool_.put(c.x.up_out);
    k_.pool_.put(c.x.trace.request);
    uint32_t slot = c.slot;
    c.slot = kNoSlot;
    k_.clients_.release(slot);
  }
}

// The client's address for X-Forwarded-For, looked up once per connection (multishot
// accept reports no address).
void ClientSide::client_fill_peer(ClientConn& c) {
  if (c.peer_known) {
    return;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  c.peer_ip[0] = '\0';
  if (getpeername(c.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    c.peer_key = lb::source_key(reinterpret_cast<const sockaddr*>(&ss));
    if (ss.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, c.peer_ip, sizeof(c.peer_ip));
      c.peer_port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, c.peer_ip, sizeof(c.peer_ip));
      c.peer_port = ntohs(a->sin6_port);
    }
  }
  c.peer_known = true;
}

}  // namespace ringway::proxy
