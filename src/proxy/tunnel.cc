// Upgraded exchanges (WebSocket and any Upgrade protocol but h2c): once the backend's 101 is
// relayed, the client connection and its backend connection form a tunnel that passes bytes
// both ways unparsed.
//
// Contract. Up: client bytes land in c.in (plaintext on TLS), are copied into c.x.up_out behind
// what is being sent and sent by upstream_send. Down: backend bytes land in u.in, are copied
// into c.out behind what is being sent and sent by client_send. A receive delivers only while
// its buffer has room (a TLS receive is armed only then, arm_recv; a plain one holds what does
// not fit and stops, MultishotRx), so a side that stops reading stops the other one's reads:
// the same back-pressure as bodies. A buffer is never compacted under a send. Bytes either way
// keep the tunnel alive for limits.upgrade_idle_timeout_ms (checked when the timer fires, so a
// message costs no timer update). When one side ends (EOF), what it sent before is passed on
// and then both connections close, as NGINX does; an error on either side closes both at once.
// The backend connection is never pooled, and the exchange (its snapshot, its WLC count, its
// access log line) lasts until the tunnel closes.
//
// Thread affinity: shard-local.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "http/text.h"
#include "proxy/shard.h"
#include "ringway/clock.h"
#include "ringway/log.h"

namespace ringway::proxy {

namespace {

// Moves what `from` (a receive's bytes: no operation points into it) holds into `to` behind
// its bytes, as far as `to` has room; an emptied `from` goes back to the pool, so an idle
// tunnel holds no buffer.
void move_bytes(core::BufPool& pool, core::IoBuf& from, core::IoBuf& to) {
  uint32_t n = std::min(from.size(), to.room());
  std::memcpy(to.data + to.tail, from.data + from.head, n);
  to.tail += n;
  from.head += n;
  if (from.empty()) {
    pool.put(from);
  }
}

// The protocol of an Upgrade value for the trace: its first token, lower case, cut to fit.
void copy_protocol(std::string_view upgrade, char (&out)[16]) {
  size_t n = 0;
  http::internal::AnyToken(upgrade, [&](std::string_view t) {
    n = std::min(t.size(), sizeof(out) - 1);
    for (size_t i = 0; i < n; ++i) {
      out[i] = http::internal::ToLowerAscii(t[i]);
    }
    return true;
  });
  out[n] = '\0';
}

}  // namespace

void Upstreams::tunnel_start(ClientConn& c, UpstreamConn& u) {
  ExchangeTrace& t = c.x.trace;
  t.upgrade_us = monotonic_us();
  t.upgrade_head_left = c.unsent();  // the 101's head, not tunnel bytes
  copy_protocol(c.resp_parser->head().get("upgrade"), t.upgrade);
  // The handshake is the request: counted now, with its own duration (exchange_end adds the
  // tunnel's lifetime to the tunnel counters, not to the request histogram).
  k_.count_request(c.x, 101, t.upgrade_us - t.start_us);
  ++k_.upgrades_;
  ++k_.tunnels_;
  c.state = ClientState::kTunnel;
  c.keep_alive = false;
  c.tunnel_end = ClientConn::TunnelEnd::kNone;
  c.tunnel_active_ms = k_.now_ms_;
  k_.give_parsers(c);
  client_.client_set_timer(c, TimerKind::kTunnelIdle,
                           c.x.snap->c().config.limits.upgrade_idle_timeout_ms);
  RW_DEBUG("shard %u: upgraded to %s request_id=%.*s", k_.id_, t.upgrade,
           static_cast<int>(c.x.request_id_len), c.x.request_id);
  client_.client_send(c);  // the 101
  // Bytes that came with the 101, or from the client before it.
  tunnel_down(c, u);
  tunnel_up(c, u);
}

// Client bytes toward the backend; then the client's next receive, when there is room.
void Upstreams::tunnel_up(ClientConn& c, UpstreamConn& u) {
  core::IoBuf& o = c.x.up_out;
  if (!u.send_armed && c.x.up_out_sent == o.tail) {
    k_.pool_.put(o);  // all sent: nothing to keep
    c.x.up_out_sent = 0;
  }
  if (!c.in.empty()) {
    k_.pool_.get(o, c.x.snap->c().head_buf_size);
    move_bytes(k_.pool_, c.in, o);
    upstream_send(c, u);
  }
  if (c.tunnel_end == ClientConn::TunnelEnd::kNone) {
    client_.client_recv(c);
  }
}

// Backend bytes toward the client; then the backend's next receive, when there is room.
void Upstreams::tunnel_down(ClientConn& c, UpstreamConn& u) {
  core::IoBuf& o = c.out;
  if (!c.send_armed && o.empty()) {
    k_.pool_.put(o);  // all sent: nothing to keep
  } else if (!c.send_armed && o.room() < u.in.size()) {
    o.compact();
  }
  if (!u.in.empty()) {
    k_.pool_.get(o, c.x.snap->c().head_buf_size);
    move_bytes(k_.pool_, u.in, o);
    client_.client_send(c);
  }
  if (c.tunnel_end == ClientConn::TunnelEnd::kNone) {
    upstream_recv(u);
  }
}

// Once the side that ended has had everything it sent passed on, the tunnel closes.
void Upstreams::tunnel_maybe_end(ClientConn& c) {
  using End = ClientConn::TunnelEnd;
  if (c.state != ClientState::kTunnel || c.tunnel_end == End::kNone) {
    return;
  }
  UpstreamConn* u = owned_upstream(c);
  bool flushed = u == nullptr;
  if (u != nullptr && c.tunnel_end == End::kBackend) {
    flushed = u->in.empty() && c.unsent() == 0 && !c.send_armed;
  } else if (u != nullptr) {
    flushed = c.in.empty() && c.x.up_out_sent == c.x.up_out.tail && !u->send_armed;
  }
  if (flushed) {
    client_.client_close(c);
  }
}

// A client receive completed (its bytes, if any, are in c.in).
void Upstreams::tunnel_client_recv(ClientConn& c, int res) {
  UpstreamConn* u = owned_upstream(c);
  if (res < 0 || u == nullptr) {
    client_.client_close(c);  // reset or error: nothing more can be passed on
    return;
  }
  if (res == 0) {
    c.tunnel_end = ClientConn::TunnelEnd::kClient;
  } else {
    c.x.trace.bytes_in += static_cast<uint32_t>(res);
    k_.tunnel_bytes_in_ += static_cast<uint32_t>(res);
    c.tunnel_active_ms = k_.now_ms_;
  }
  tunnel_up(c, *u);
  tunnel_maybe_end(c);
}

// `n` bytes reached the client (consume_sent took them off c.out).
void Upstreams::tunnel_client_sent(ClientConn& c, uint32_t n) {
  ExchangeTrace& t = c.x.trace;
  uint32_t head = std::min(n, t.upgrade_head_left);
  t.upgrade_head_left -= head;
  k_.tunnel_bytes_out_ += n - head;
  c.tunnel_active_ms = k_.now_ms_;
  UpstreamConn* u = owned_upstream(c);
  if (u != nullptr) {
    tunnel_down(c, *u);
  }
  client_.client_send(c);  // a short send's rest, or bytes moved earlier
  tunnel_maybe_end(c);
}

// A backend receive completed (its bytes, if any, are in u.in).
void Upstreams::tunnel_backend_recv(ClientConn& c, UpstreamConn& u, int res) {
  if (res == -ENOBUFS) {
    k_.starved_upstreams_.push_back(u.slot);
    return;
  }
  if (res < 0) {
    client_.client_close(c);
    return;
  }
  if (res == 0) {
    u.eof = true;
    c.tunnel_end = ClientConn::TunnelEnd::kBackend;
  } else {
    c.tunnel_active_ms = k_.now_ms_;
  }
  tunnel_down(c, u);
  tunnel_maybe_end(c);
}

// A send to the backend completed: `res` plaintext bytes of up_out (or an error).
void Upstreams::tunnel_backend_sent(ClientConn& c, UpstreamConn& u, int res) {
  if (res == -EAGAIN || res == -EINTR) {
    upstream_send(c, u);
    return;
  }
  if (res < 0) {
    client_.client_close(c);
    return;
  }
  c.x.up_out_sent += static_cast<uint32_t>(res);
  c.tunnel_active_ms = k_.now_ms_;
  upstream_send(c, u);  // a short send's rest, or bytes moved meanwhile
  tunnel_up(c, u);
  tunnel_maybe_end(c);
}

// The idle timer fired: closes the tunnel when nothing moved for the whole timeout, else
// waits for the rest of it.
void Upstreams::tunnel_idle(ClientConn& c) {
  const uint64_t timeout = c.x.snap->c().config.limits.upgrade_idle_timeout_ms;
  const uint64_t due = c.tunnel_active_ms + timeout;
  if (due > k_.now_ms_) {
    client_.client_set_timer(c, TimerKind::kTunnelIdle, due - k_.now_ms_);
    return;
  }
  RW_DEBUG("shard %u: tunnel idle for %llu ms, closed request_id=%.*s", k_.id_,
           static_cast<unsigned long long>(timeout), static_cast<int>(c.x.request_id_len),
           c.x.request_id);
  client_.client_close(c);
}

}  // namespace ringway::proxy
