// Forwarder (forwarder.h). Where an exchange goes and when it goes again: a `url` backend or a
// member of a load-balance channel (picked by the channel's balancer over the snapshot's health),
// WLC accounting, and the retry rules of `retry_count` (seed semantics).
//
// Retry contract: never after response bytes reached the client; only while the whole
// request is still in up_out (replayable); a pooled connection found stale before any
// response byte earns one free retry on a fresh connection; otherwise the retry_count
// budget applies, and a request that may have reached a backend is replayed only for
// methods other than POST and PATCH. A retry goes to another member when one is available.
#include <cstring>

#include "control/tls_contexts.h"
#include "proxy/shard.h"
#include "ringway/clock.h"
#include "ringway/log.h"

namespace ringway::proxy {

void Forwarder::forward_start(ClientConn& c, const route::MatchResult& m,
                              const route::CompiledBackend& b) {
  const http::RequestHead& h = c.req_parser->head();
  c.x.backend = &b;
  c.x.timeout_ms = b.timeout_ms;
  client_.client_fill_peer(c);
  std::string_view method = b.method.empty() ? h.method_name : std::string_view(b.method);
  // An upgrade goes on a connection of its own (it never returns to the pool) and is never
  // replayed once it may have been seen: only a failed connect is retried.
  c.x.upgrade = !h.upgrade.empty();
  c.x.post_like = post_like(method) || c.x.upgrade;
  c.x.retries_left = retry_budget(b.retry_count, method);
  c.x.channel = b.channel_index;
  c.x.tried = lb::Tried{};
  c.x.member = lb::kNone;
  if (c.x.channel >= 0) {
    const CompiledChannel& ch = c.x.snap->c().channels[static_cast<uint32_t>(c.x.channel)];
    config::BalanceStrategy st = ch.balancer.strategy();
    c.x.lb_key = st == config::BalanceStrategy::kSh        ? c.peer_key
                 : st == config::BalanceStrategy::kUriHash ? lb::path_key(h.path)
                                                           : 0;
    if (!choose_member(c)) {
      client_.client_error(c, 503, "RW.5030", "no healthy member in the load-balance channel",
                           h.has_body());
      return;
    }
  } else {
    std::memcpy(&c.x.dest.addr, &b.addr, b.addr_len);
    c.x.dest.len = b.addr_len;
    set_tls_dest(c, nullptr);
  }
  Writer path(k_.scratch_.data(), k_.scratch_.size());
  if (!b.fixed_path.empty()) {
    path.put(b.fixed_path);
    if (!h.query.empty()) {
      path.put("?");
      path.put(h.query);
    }
  }
  if (b.fixed_path.empty() ? !c.x.snap->c().routes->render_path(m, h.query, path) : !path.ok()) {
    client_.client_error(c, 500, "RW.5000", "backend path too long", true);
    return;
  }
  if (!write_request_head(c, path.view(), method)) {
    client_.client_error(c, 431, "RW.4312", "request head too large for the backend", true);
    return;
  }
  if (h.expect_continue && h.has_body()) {
    k_.pool_.get(c.out, c.x.snap->c().head_buf_size);
    Writer cw(c.out.data + c.out.tail, c.out.room());
    cw.put("HTTP/1.1 100 Continue\r\n\r\n");
    c.out.tail += static_cast<uint32_t>(cw.size());
    client_.client_send(c);
  }
  if (c.x.auth != nullptr) {
    // A signed body is held (app_auth.h): nothing goes out before it is verified.
    client_.client_set_timer(c, TimerKind::kClientBody,
                             c.x.snap->c().config.limits.client_idle_timeout_ms);
    return;
  }
  send_held(c);
}

void Forwarder::send_held(ClientConn& c) {
  if (c.x.fire_and_forget) {
    queue_accepted(c);
  }
  client_.client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);
  send_to_destination(c);
}

// Writes the backend request head into up_out: the client's part, this attempt's headers
// (attempt_off/attempt_len) and the gateway's. False when it does not fit.
bool Forwarder::write_request_head(ClientConn& c, std::string_view path, std::string_view method) {
  const http::RequestHead& h = c.req_parser->head();
  c.x.rechunk_request = h.chunked;
  http::UpstreamRequest req;
  req.method = method;
  req.path_and_query = path;
  req.client_ip = c.peer_ip;
  req.proto = c.io.plain() ? "http" : "https";  // how the client reached the gateway
  req.forwarded_host = h.host;
  req.request_id = c.x.rid();
  req.content_length = h.chunked ? -1 : h.content_length;
  req.chunked = h.chunked;
  req.upgrade = h.upgrade;
  k_.pool_.get(c.x.up_out, c.x.snap->c().head_buf_size);
  c.x.line_off = c.x.up_out.tail;
  c.x.method_len = static_cast<uint16_t>(std::min<size_t>(method.size(), UINT16_MAX));
  c.x.target_len = static_cast<uint32_t>(path.size());
  Writer w(c.x.up_out.data + c.x.up_out.tail, c.x.up_out.room());
  const uint32_t first_xff = http::write_upstream_head_start(h, req, w);
  c.x.attempt_off = c.x.up_out.tail + static_cast<uint32_t>(w.size());
  write_attempt(c, w);
  c.x.attempt_len = c.x.up_out.tail + static_cast<uint32_t>(w.size()) - c.x.attempt_off;
  http::write_upstream_head_end(h, req, first_xff, w);
  if (!w.ok()) {
    return false;
  }
  c.x.up_out.tail += static_cast<uint32_t>(w.size());
  c.x.up_out_sent = 0;
  c.x.replayable = true;
  return true;
}

// This attempt's header lines: Host, a passthrough downgrade's headers, and for a cascade
// backend the channel's signature of this very attempt (cascade.cc).
void Forwarder::write_attempt(ClientConn& c, Writer& w) {
  const std::string_view host = attempt_host(c);
  http::write_upstream_attempt(host, attempt_extra(c), w);
  if (c.x.backend->cascade) {
    write_cascade(c, host, w);
  }
}

// Host for the current attempt: the configured one (or the url's authority), else the
// chosen member's address.
std::string_view Forwarder::attempt_host(const ClientConn& c) const {
  if (!c.x.backend->host_header.empty() || c.x.channel < 0) {
    return c.x.backend->host_header;
  }
  return c.x.snap->c().channels[static_cast<uint32_t>(c.x.channel)].members[c.x.member].authority;
}

// Renders the attempt's headers for the current member in place of the previous attempt's
// (the request is replayable: its head is whole at the front of up_out). False when the
// new head does not fit.
bool Forwarder::render_attempt(ClientConn& c) {
  Writer w(k_.scratch_.data(), k_.scratch_.size());
  write_attempt(c, w);
  int64_t delta = static_cast<int64_t>(w.size()) - c.x.attempt_len;
  if (!w.ok() || delta > static_cast<int64_t>(c.x.up_out.room())) {
    return false;
  }
  char* at = c.x.up_out.data + c.x.attempt_off;
  std::memmove(at + w.size(), at + c.x.attempt_len,
               c.x.up_out.tail - c.x.attempt_off - c.x.attempt_len);
  std::memcpy(at, k_.scratch_.data(), w.size());
  c.x.up_out.tail = static_cast<uint32_t>(c.x.up_out.tail + delta);
  c.x.attempt_len = static_cast<uint32_t>(w.size());
  return true;
}

// Picks a member of the exchange's channel, avoiding those already tried, and counts it
// for WLC. False when no member is available.
bool Forwarder::choose_member(ClientConn& c) {
  auto ch_index = static_cast<uint32_t>(c.x.channel);
  const CompiledChannel& ch = c.x.snap->c().channels[ch_index];
  uint32_t m = ch.balancer.pick(c.x.snap->c().local(k_.id_).lb[ch_index],
                                c.x.snap->health(ch_index), c.x.lb_key, c.x.tried);
  if (m == lb::kNone) {
    return false;
  }
  lb_release(c);
  c.x.member = m;
  c.x.tried.add(m);
  ch.balancer.acquire(k_.id_, m);
  c.x.lb_acquired = true;
  c.x.dest.len = ch.members[m].addr_len;
  std::memcpy(&c.x.dest.addr, &ch.members[m].addr, c.x.dest.len);
  set_tls_dest(c, &ch.members[m]);
  return true;
}

void Forwarder::set_tls_dest(ClientConn& c, const ChannelMember* m) {
  const route::CompiledBackend& b = *c.x.backend;
  if (b.tls == nullptr) {
    c.x.dest.tls = 0;
    c.x.tls_ctx = nullptr;
    c.x.tls_name = nullptr;
    return;
  }
  bool member_name = m != nullptr && b.tls_name.empty();
  c.x.tls_ctx = b.tls->ctx(k_.id_);
  c.x.tls_name = member_name ? &m->host : &b.tls_name;
  c.x.dest.tls = control::tls_identity(b.tls_ctx_id, member_name ? m->host_hash : b.tls_name_hash);
}

// `fresh_connection`: a new connection to c.x.dest, not one from the pool.
void Forwarder::send_to_destination(ClientConn& c, bool fresh_connection) {
  ExchangeTrace& t = c.x.trace;
  ++t.attempts;
  t.backend = true;
  t.channel = c.x.channel;
  t.member = c.x.member;
  if (t.backend_start_us == 0) {
    t.backend_start_us = monotonic_us();
  }
  fresh_connection = fresh_connection || c.x.upgrade;
  if (!(fresh_connection ? up_.upstream_connect(c, c.x.dest) : up_.upstream_acquire(c))) {
    upstream_failed(c, nullptr, Failure::kConnect, 502, "RW.5020",
                    "cannot open a backend connection");
  }
}

// Starts another attempt if retry_policy.h allows one. `stale`: the failed connection came
// from the pool and no response byte arrived.
bool Forwarder::retry(ClientConn& c, bool stale, Failure f) {
  if (c.state != ClientState::kForward) {
    return false;
  }
  RetryState rs;
  rs.response_started = c.resp_started;
  rs.replayable = c.x.replayable;
  rs.stale_pooled = stale;
  rs.fresh_used = c.x.retried;
  rs.retries_left = c.x.retries_left;
  rs.post_like = c.x.post_like;
  RetryKind kind = decide_retry(rs, f);
  if (kind == RetryKind::kNone) {
    return false;
  }
  k_.count_retry(c.x);
  bool fresh_connection = kind == RetryKind::kFreshConnection;
  if (fresh_connection) {
    c.x.retried = true;
    // A cascade signature is good for one attempt (its nonce): sign this one anew.
    if (c.x.backend->cascade && !render_attempt(c)) {
      return false;
    }
  } else {
    --c.x.retries_left;
    // Another member when one is available (its own head); else the same one again. A
    // cascade signature is good for one attempt (its nonce): each is signed anew.
    const bool other = c.x.channel >= 0 && choose_member(c);
    if ((other || c.x.backend->cascade) && !render_attempt(c)) {
      return false;
    }
  }
  RW_DEBUG("shard %u: retrying request_id=%.*s", k_.id_, static_cast<int>(c.x.request_id_len),
           c.x.request_id);
  c.x.up_out_sent = 0;
  client_.client_set_timer(c, TimerKind::kBackend, c.x.timeout_ms);
  send_to_destination(c, fresh_connection);
  return true;
}

void Forwarder::lb_release(ClientConn& c) {
  if (c.x.lb_acquired) {
    c.x.snap->c().channels[static_cast<uint32_t>(c.x.channel)].balancer.release(k_.id_, c.x.member);
    c.x.lb_acquired = false;
  }
}

// The backend failed this attempt: retry if the rules allow, else answer `status` when
// nothing was sent to the client yet, else close the client connection.
void Forwarder::upstream_failed(ClientConn& c, UpstreamConn* u, Failure f, uint16_t status,
                                std::string_view code, std::string_view msg) {
  bool stale = u != nullptr && u->reused && !u->got_bytes;
  k_.count_attempt(c.x, attempt_outcome(f));
  up_.upstream_release(c, false);
  if (c.x.fire_and_forget && c.resp_started) {
    RW_DEBUG("shard %u: async function call failed: %.*s request_id=%.*s", k_.id_,
             static_cast<int>(msg.size()), msg.data(), static_cast<int>(c.x.request_id_len),
             c.x.request_id);
    fire_done(c);
    return;
  }
  if (retry(c, stale, f)) {
    return;
  }
  guard_record(c, status, f == Failure::kTimeout);
  if (c.resp_started) {
    client_.client_close(c);
    return;
  }
  client_.client_error(c, status, code, msg, !c.x.req_done);  // closes if the upload was cut short
}

}  // namespace ringway::proxy
