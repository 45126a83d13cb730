// ClientSide (client_side.h): the start and the end of an exchange — its trace, and the one
// hook where an exchange ends (its metrics and its access log line).
#include <algorithm>

#include "proxy/shard.h"
#include "ringway/clock.h"
#include "ringway/http.h"

namespace ringway::proxy {

void ClientSide::exchange_begin(ClientConn& c) {
  if (!c.x.trace.active) {  // one count per exchange, whatever begins it again before its end
    ++k_.in_flight_;
  }
  c.x.trace.begin(monotonic_us());
  c.x.metric_row = metrics::kNoRow;  // set when the head is routed
  if (k_.alog_.enabled()) {
    client_fill_peer(c);  // once per connection; the fd may be gone when the exchange ends
  }
}

void ClientSide::trace_request(ClientConn& c, const http::RequestHead& h) {
  if (!k_.alog_.enabled()) {
    return;
  }
  core::IoBuf& b = c.x.trace.request;
  k_.pool_.get(b, AccessLog::kMaxPath + 128);
  Writer w(b.data, b.cap);
  w.put("\"method\":\"");
  http::put_json_escaped(h.method_name, 32, w);
  w.put("\",\"path\":\"");
  size_t before = w.size();
  if (http::put_json_escaped(h.path, AccessLog::kMaxPath, w) && !h.query.empty()) {
    size_t used = w.size() - before;
    if (used < AccessLog::kMaxPath) {
      w.put('?');
      http::put_json_escaped(h.query, AccessLog::kMaxPath - used - 1, w);
    }
  }
  w.put('"');
  b.head = 0;
  b.tail = w.ok() ? static_cast<uint32_t>(w.size()) : 0;
}

void ClientSide::exchange_end(ClientConn& c) {
  ExchangeTrace& t = c.x.trace;
  if (!t.active) {
    return;
  }
  t.active = false;
  --k_.in_flight_;
  const uint64_t now_us = monotonic_us();
  if (t.upgrade_us != 0) {
    // A tunnel closes: its request was counted at the 101 (tunnel_start).
    --k_.tunnels_;
    ++k_.tunnels_closed_;
    k_.tunnel_us_ += now_us - t.upgrade_us;
  } else if (t.status != 0) {  // a request the client left before any answer: not counted
    k_.count_request(c.x, t.status, now_us - t.start_us);
  }
  if ((t.status != 0 || t.head_done) && k_.alog_.enabled()) {
    write_access_log(c, now_us);
  }
  k_.pool_.put(t.request);
}

void ClientSide::write_access_log(ClientConn& c, uint64_t now_us) {
  const ExchangeTrace& t = c.x.trace;
  char client[INET6_ADDRSTRLEN + 8];
  Writer cw(client, sizeof(client));
  if (c.peer_known && c.peer_ip[0] != '\0') {
    const bool v6 =
        std::find(c.peer_ip, c.peer_ip + sizeof(c.peer_ip), ':') != c.peer_ip + sizeof(c.peer_ip);
    cw.put(v6 ? "[" : "");
    cw.put(std::string_view(c.peer_ip));
    cw.put(v6 ? "]:" : ":");
    cw.put_uint(c.peer_port);
  }
  std::string_view api = c.x.api != nullptr ? std::string_view(c.x.api->name) : std::string_view{};
  std::string_view env;
  if (c.x.snap != nullptr && t.environment != UINT32_MAX) {
    const auto& envs = c.x.snap->c().routes->environments();
    if (t.environment < envs.size()) {
      env = envs[t.environment];
    }
  }
  k_.alog_.log(k_.ring_, c, cw.ok() ? cw.view() : std::string_view{}, api, env, unix_ms(), now_us);
}

}  // namespace ringway::proxy
