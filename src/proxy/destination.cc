// Where an exchange goes and when it goes again: a `url` backend or a member of a
// load-balance channel (picked by the channel's balancer over the snapshot's health),
// WLC accounting, and the retry rules of `retry_count` (seed semantics).
//
// Retry contract: never after response bytes reached the client; only while the whole
// request is still in up_out (replayable); a pooled connection found stale before any
// response byte earns one free retry on a fresh connection; otherwise the retry_count
// budget applies, and a request that may have reached a backend is replayed only for
// methods other than POST and PATCH. A retry goes to another member when one is available.
#include <cstring>

#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {

void Shard::forward_start(ClientConn& c, const route::MatchResult& m) {
  const http::RequestHead& h = c.req_parser->head();
  const route::CompiledBackend& b = m.api->backend;
  c.timeout_ms = b.timeout_ms;
  client_fill_peer(c);
  std::string_view method = b.method.empty() ? h.method_name : std::string_view(b.method);
  c.post_like = post_like(method);
  c.retries_left = retry_budget(b.retry_count, method);
  c.channel = c.snap->c().api_channel[m.api->index];
  c.tried = lb::Tried{};
  c.member = lb::kNone;
  c.default_host = false;
  std::string_view host = b.host_header;
  if (c.channel >= 0) {
    const CompiledChannel& ch = c.snap->c().channels[static_cast<uint32_t>(c.channel)];
    config::BalanceStrategy st = ch.balancer.strategy();
    c.lb_key = st == config::BalanceStrategy::kSh        ? c.peer_key
               : st == config::BalanceStrategy::kUriHash ? lb::path_key(h.path)
                                                         : 0;
    if (!choose_member(c)) {
      client_error(c, 503, "RW.5030", "no healthy member in the load-balance channel",
                   h.has_body());
      return;
    }
    c.default_host = b.host_header.empty();
    host = c.default_host ? std::string_view(ch.members[c.member].authority) : host;
  } else {
    std::memcpy(&c.dest.addr, &b.addr, b.addr_len);
    c.dest.len = b.addr_len;
  }
  Writer path(scratch_.data(), scratch_.size());
  if (!c.snap->c().routes->render_path(m, h.query, path)) {
    client_error(c, 500, "RW.5000", "backend path too long", true);
    return;
  }
  c.rechunk_request = h.chunked;
  http::UpstreamRequest req;
  req.method = method;
  req.path_and_query = path.view();
  req.host = host;
  req.client_ip = c.peer_ip;
  req.proto = "http";
  req.forwarded_host = h.host;
  req.request_id = c.rid();
  req.content_length = h.chunked ? -1 : h.content_length;
  req.chunked = h.chunked;
  pool_.get(c.up_out, c.snap->c().head_buf_size);
  Writer w(c.up_out.data + c.up_out.tail, c.up_out.room());
  http::write_upstream_head(h, req, w);
  if (!w.ok()) {
    client_error(c, 431, "RW.4312", "request head too large for the backend", true);
    return;
  }
  c.up_out.tail += static_cast<uint32_t>(w.size());
  c.up_out_sent = 0;
  c.replayable = true;
  c.host_off = 0;  // found by rewrite_host, on the rare retry that changes member
  c.host_len = static_cast<uint32_t>(host.size());
  if (h.expect_continue && h.has_body()) {
    pool_.get(c.out, c.snap->c().head_buf_size);
    Writer cw(c.out.data + c.out.tail, c.out.room());
    cw.put("HTTP/1.1 100 Continue\r\n\r\n");
    c.out.tail += static_cast<uint32_t>(cw.size());
    client_send(c);
  }
  client_set_timer(c, TimerKind::kBackend, c.timeout_ms);
  send_to_destination(c);
}

// Picks a member of the exchange's channel, avoiding those already tried, and counts it
// for WLC. False when no member is available.
bool Shard::choose_member(ClientConn& c) {
  auto ch_index = static_cast<uint32_t>(c.channel);
  const CompiledChannel& ch = c.snap->c().channels[ch_index];
  uint32_t m = ch.balancer.pick(c.snap->c().local(id_).lb[ch_index], c.snap->health(ch_index),
                                c.lb_key, c.tried);
  if (m == lb::kNone) {
    return false;
  }
  lb_release(c);
  c.member = m;
  c.tried.add(m);
  ch.balancer.acquire(id_, m);
  c.lb_acquired = true;
  c.dest.len = ch.members[m].addr_len;
  std::memcpy(&c.dest.addr, &ch.members[m].addr, c.dest.len);
  return true;
}

// `fresh_connection`: a new connection to c.dest, not one from the pool.
void Shard::send_to_destination(ClientConn& c, bool fresh_connection) {
  if (!(fresh_connection ? upstream_connect(c, c.dest) : upstream_acquire(c))) {
    upstream_failed(c, nullptr, Failure::kConnect, 502, "RW.5020",
                    "cannot open a backend connection");
  }
}

// Starts another attempt if retry_policy.h allows one. `stale`: the failed connection came
// from the pool and no response byte arrived.
bool Shard::retry(ClientConn& c, bool stale, Failure f) {
  if (c.state != ClientState::kForward) {
    return false;
  }
  RetryState rs;
  rs.response_started = c.resp_started;
  rs.replayable = c.replayable;
  rs.stale_pooled = stale;
  rs.fresh_used = c.retried;
  rs.retries_left = c.retries_left;
  rs.post_like = c.post_like;
  RetryKind kind = decide_retry(rs, f);
  if (kind == RetryKind::kNone) {
    return false;
  }
  bool fresh_connection = kind == RetryKind::kFreshConnection;
  if (fresh_connection) {
    c.retried = true;
  } else {
    --c.retries_left;
    uint32_t previous = c.member;
    // Another member when one is available; else the same one again.
    if (c.channel >= 0 && choose_member(c) && c.default_host && c.member != previous) {
      rewrite_host(
          c, c.snap->c().channels[static_cast<uint32_t>(c.channel)].members[c.member].authority);
    }
  }
  RW_DEBUG("shard %u: retrying %.*s", id_, static_cast<int>(c.request_id_len), c.request_id);
  c.up_out_sent = 0;
  client_set_timer(c, TimerKind::kBackend, c.timeout_ms);
  send_to_destination(c, fresh_connection);
  return true;
}

// Replaces the Host value in the buffered request (retry to another member).
void Shard::rewrite_host(ClientConn& c, std::string_view host) {
  if (c.host_off == 0) {
    // The gateway writes exactly one "Host: " line (the client's is replaced), in the head,
    // which is still whole at the front of up_out while the request is replayable.
    std::string_view head(c.up_out.data, c.up_out.tail);
    size_t at = head.find("\r\nHost: ");
    if (at == std::string_view::npos) {
      return;
    }
    c.host_off = static_cast<uint32_t>(at + 8);
  }
  int64_t delta = static_cast<int64_t>(host.size()) - c.host_len;
  if (delta > static_cast<int64_t>(c.up_out.room())) {
    return;  // no room: the first member's address stays (the request still goes out)
  }
  char* at = c.up_out.data + c.host_off;
  std::memmove(at + host.size(), at + c.host_len, c.up_out.tail - c.host_off - c.host_len);
  std::memcpy(at, host.data(), host.size());
  c.up_out.tail = static_cast<uint32_t>(c.up_out.tail + delta);
  c.host_len = static_cast<uint32_t>(host.size());
}

void Shard::lb_release(ClientConn& c) {
  if (c.lb_acquired) {
    c.snap->c().channels[static_cast<uint32_t>(c.channel)].balancer.release(id_, c.member);
    c.lb_acquired = false;
  }
}

// The backend failed this attempt: retry if the rules allow, else answer `status` when
// nothing was sent to the client yet, else close the client connection.
void Shard::upstream_failed(ClientConn& c, UpstreamConn* u, Failure f, uint16_t status,
                            std::string_view code, std::string_view msg) {
  bool stale = u != nullptr && u->reused && !u->got_bytes;
  upstream_release(c, false);
  if (retry(c, stale, f)) {
    return;
  }
  if (c.resp_started) {
    client_close(c);
    return;
  }
  client_error(c, status, code, msg, !c.req_done);  // closes if the upload was cut short
}

}  // namespace ringway::proxy
