// Forwarder (forwarder.h): the circuit breaker on the request path (guard.h,
// docs/circuit-breakers.md). At the request head: the bound policy's rule for this request
// and its breaker's state (open: a downgrade answers, see downgrade_*.cc); at the final
// attempt's end: its outcome, once. Nothing here allocates or locks: a check is a relaxed
// load or two, a record writes this shard's cells (breaker.h).
#include <algorithm>
#include <array>
#include <cinttypes>

#include "proxy/shard.h"
#include "ringway/log.h"

namespace ringway::proxy {
namespace {

// First value of `key` in a raw query string ("a=1&b=2"), as sent (not percent-decoded).
std::string_view query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  return {};
}

void log_opened(const Guard& g, const GuardRule& r, const breaker::Opened& o) {
  const breaker::Trigger& t = r.breaker->trigger();
  if (t.mode == breaker::Mode::kCounter) {
    RW_INFO("breaker open policy=%s api=%s environment=%s rule=%s unhealthy=%" PRIu64
            " open_s=%u reason=\"%" PRIu64
            " unhealthy outcomes in the last %u s reached the "
            "threshold %u\"",
            g.policy.c_str(), g.api.c_str(), g.environment.c_str(), r.name.c_str(),
            o.counts.unhealthy, t.open_s, o.counts.unhealthy, t.time_window_s,
            t.unhealthy_threshold);
    return;
  }
  RW_INFO("breaker open policy=%s api=%s environment=%s rule=%s unhealthy=%" PRIu64
          " calls=%" PRIu64 " open_s=%u reason=\"%" PRIu64 " of %" PRIu64
          " calls unhealthy in a %u s window (at least %u calls, %u %%)\"",
          g.policy.c_str(), g.api.c_str(), g.environment.c_str(), r.name.c_str(),
          o.counts.unhealthy, o.counts.calls, t.open_s, o.counts.unhealthy, o.counts.calls,
          t.time_window_s, t.min_calls, t.unhealthy_percentage);
}

// Fills the values of the parameters some rule of `g` reads.
void fill_values(const ClientConn& c, const route::MatchResult& m, const Guard& g,
                 std::string_view* values) {
  const http::RequestHead& h = c.req_parser->head();
  for (size_t i = 0; i < g.params.size() && i < breaker::Match::kMaxParams; ++i) {
    if ((g.used_params >> i & 1) == 0) {
      continue;
    }
    const breaker::Param& p = g.params[i];
    switch (p.source) {
      case breaker::ParamSource::kPath:
        values[i] = h.path;
        break;
      case breaker::ParamSource::kMethod:
        values[i] = h.method_name;
        break;
      case breaker::ParamSource::kHeader:
        values[i] = h.get(p.key);
        break;
      case breaker::ParamSource::kQuery:
        values[i] = query_value(h.query, p.key);
        break;
      case breaker::ParamSource::kSystem:
        values[i] = p.system == breaker::SystemValue::kSourceIp ? std::string_view(c.peer_ip)
                    : p.system == breaker::SystemValue::kStage
                        ? std::string_view(c.x.snap->c().routes->environments()[m.environment])
                    : p.system == breaker::SystemValue::kApiName ? std::string_view(m.api->name)
                                                                 : c.x.rid();
        break;
    }
  }
}

}  // namespace

bool Forwarder::guard_start(ClientConn& c, const route::MatchResult& m) {
  const Guard* g = c.x.snap->c().guards.find(m.api->index, m.environment);
  if (g == nullptr) {
    return false;
  }
  std::array<std::string_view, breaker::Match::kMaxParams> values{};
  if (g->used_params != 0) {
    client_.client_fill_peer(c);
    fill_values(c, m, *g, values.data());
  }
  const GuardRule& r = g->pick(values.data());
  const uint64_t now = k_.now_ms_;
  breaker::Opened opened;
  if (r.breaker->is_open(k_.id_, now, &opened)) {
    if (opened.opened) {
      log_opened(*g, r, opened);  // a percentage window ended over the threshold
    }
    k_.count_downgrade(r);
    downgrade(c, m, r.downgrade);
    return true;
  }
  if (r.breaker->take_closed(now)) {
    RW_INFO("breaker closed policy=%s api=%s environment=%s rule=%s reason=\"open for %u s\"",
            g->policy.c_str(), g->api.c_str(), g->environment.c_str(), r.name.c_str(), r.open_s);
  }
  c.x.guard = g;
  c.x.guard_rule = &r;
  c.x.guard_token = r.breaker->token();
  c.x.guard_start_ms = now;
  return false;
}

void Forwarder::guard_record(ClientConn& c, uint16_t status, bool timed_out) {
  const GuardRule* r = c.x.guard_rule;
  if (r == nullptr) {
    return;
  }
  c.x.guard_rule = nullptr;
  const uint64_t now = k_.now_ms_;
  bool unhealthy = timed_out;
  if (r->condition) {
    uint64_t ms = now > c.x.guard_start_ms ? now - c.x.guard_start_ms : 0;
    breaker::Outcome o{status, static_cast<uint32_t>(std::min<uint64_t>(ms, UINT32_MAX))};
    unhealthy = r->condition->holds(o);
  }
  breaker::Opened opened = r->breaker->record(k_.id_, now, unhealthy, c.x.guard_token);
  if (opened.opened) {
    log_opened(*c.x.guard, *r, opened);
  }
}

void Forwarder::downgrade(ClientConn& c, const route::MatchResult& m, const CompiledDowngrade& d) {
  RW_DEBUG("shard %u: downgrade %s request_id=%.*s", k_.id_, d.label.c_str(),
           static_cast<int>(c.x.request_id_len), c.x.request_id);
  c.x.downgrade = &d;
  c.x.trace.breaker = &d.label;
  c.x.trace.downgrade = downgrade_type(d.kind).data();  // a string literal: NUL-terminated
  switch (d.kind) {
    case DowngradeKind::kReject:
      downgrade_reject(c, d);
      return;
    case DowngradeKind::kMock:
      downgrade_mock(c, d);
      return;
    case DowngradeKind::kHttp:
      downgrade_http(c, m, d);
      return;
    case DowngradeKind::kPassthrough:
      downgrade_passthrough(c, m, d);
      return;
    case DowngradeKind::kFunctionSync:
    case DowngradeKind::kFunctionAsync:
      downgrade_function(c, m, d);
      return;
  }
}

void Forwarder::downgrade_reject(ClientConn& c, const CompiledDowngrade& d) {
  if (client_.client_defer_local(c, nullptr)) {
    return;  // a signed body is verified first
  }
  client_.client_answer_locally(c);
  client_.client_error(c, 503, "RW.5031", "circuit breaker open", false, d.reject_headers);
}

void Forwarder::fire_done(ClientConn& c) {
  up_.upstream_release(c, false);
  c.resp_done = true;
  if (!c.x.req_done) {
    // The function is done with a request still uploading: the rest has nowhere to go, so
    // the connection ends once the 202 is out (as when a backend answers early).
    c.keep_alive = false;
    c.close_after_send = true;
    if (c.unsent() == 0 && !c.send_armed) {
      client_.client_close(c);
    }
    return;
  }
  if (c.unsent() == 0 && !c.send_armed) {
    client_.client_exchange_done(c);
  }
}

std::string_view Forwarder::attempt_extra(const ClientConn& c) const {
  return c.x.downgrade != nullptr ? std::string_view(c.x.downgrade->request_headers)
                                  : std::string_view{};
}

}  // namespace ringway::proxy
