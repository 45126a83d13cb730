// The admin API's answers (docs/admin.md): which path gives what, and the JSON of
// /v1/channels, /v1/breakers, /v1/apis and /v1/shards. Control thread.
#include <string>
#include <string_view>

#include "admin/json_out.h"
#include "admin/status_page.h"
#include "ringway/admin.h"
#include "ringway/clock.h"
#include "ringway/config.h"

namespace ringway::admin {
namespace {

// A steady-clock reading (ms) as wall-clock Unix ms.
uint64_t to_unix_ms(const Sources& src, uint64_t steady_ms) {
  const uint64_t now = src.clock->now_ms();
  const auto wall = static_cast<uint64_t>(unix_ms());
  return steady_ms >= now ? wall + (steady_ms - now) : wall - (now - steady_ms);
}

void member_health(const Sources& src, const proxy::Snapshot& snap, size_t ch, size_t m,
                   JsonOut& j) {
  const proxy::Compiled& c = snap.c();
  const config::Member& cm = c.config.channels[ch].members[m];
  const uint32_t t = c.health.members[ch][m];
  const bool checked = t < c.health.targets.size() && t < src.checker->up().size();
  j.field("checked", checked).field("healthy", snap.up[ch][m] != 0);
  if (checked) {
    const health::MemberState& st = src.checker->state(t);
    j.field("reason", src.checker->last_ok(t) ? std::string("ok") : src.checker->last_failure(t));
    j.field("consecutive_successes", st.successes());
    j.field("consecutive_failures", st.failures());
    j.field("checks", src.checker->checks(t));
    j.field("since_unix_ms", to_unix_ms(src, src.checker->since(t)));
    return;
  }
  j.field("reason", !cm.enabled                ? "disabled"
                    : t == health::kUnresolved ? "unresolved"
                                               : "not checked");
  j.field("consecutive_successes", 0).field("consecutive_failures", 0).field("checks", 0);
  j.key("since_unix_ms").null();
}

std::string channels_json(const Sources& src) {
  const proxy::Snapshot& snap = *src.rcu->current();
  const proxy::Compiled& c = snap.c();
  JsonOut j;
  j.begin_object().field("generation", snap.generation).key("channels").begin_array();
  for (size_t ch = 0; ch < c.channels.size(); ++ch) {
    const config::Channel& cfg = c.config.channels[ch];
    j.begin_object().field("name", cfg.name);
    j.field("algorithm", config::strategy_name(cfg.balance_strategy));
    j.field("health_check", cfg.health_check.has_value());
    j.key("members").begin_array();
    for (size_t m = 0; m < cfg.members.size(); ++m) {
      const config::Member& cm = cfg.members[m];
      j.begin_object().field("address", c.channels[ch].members[m].authority);
      j.field("group", cm.group).field("weight", cm.weight);
      j.field("standby", cm.is_backup).field("enabled", cm.enabled);
      member_health(src, snap, ch, m, j);
      j.end_object();
    }
    j.end_array().end_object();
  }
  j.end_array().end_object();
  return j.take();
}

void breaker_json(const Sources& src, const proxy::Guard& g, const proxy::GuardRule& r,
                  JsonOut& j) {
  const breaker::Breaker& b = *r.breaker;
  const breaker::Trigger& t = b.trigger();
  const uint64_t now = src.clock->now_ms();
  const bool open = now < b.open_until();
  const breaker::Counts counts = b.counts(now);
  j.begin_object().field("policy", g.policy).field("api", g.api);
  j.field("environment", g.environment).field("rule", r.name);
  j.field("mode", t.mode == breaker::Mode::kCounter ? "counter" : "percentage");
  j.field("state", open ? "open" : "closed");
  j.field("unhealthy", counts.unhealthy).field("calls", counts.calls);
  const bool counter = t.mode == breaker::Mode::kCounter;
  j.field("threshold", counter ? t.unhealthy_threshold : 0u);
  j.field("unhealthy_percentage", counter ? 0u : t.unhealthy_percentage);
  j.field("min_calls", counter ? 0u : t.min_calls);
  j.field("time_window_s", t.time_window_s).field("open_breaker_time_s", t.open_s);
  j.key("open_until_unix_ms");
  open ? j.value(to_unix_ms(src, b.open_until())) : j.null();
  j.field("opened_total", b.openings());
  j.field("downgrade", proxy::downgrade_type(r.downgrade.kind));
  j.key("last_opened");
  if (b.openings() == 0) {
    j.null();
  } else {
    const breaker::Counts lc = b.last_opened_counts();
    std::string why = counter
                          ? std::to_string(lc.unhealthy) + " unhealthy outcomes in " +
                                std::to_string(t.time_window_s) + " s (threshold " +
                                std::to_string(t.unhealthy_threshold) + ")"
                          : std::to_string(lc.unhealthy) + " of " + std::to_string(lc.calls) +
                                " outcomes unhealthy in a " + std::to_string(t.time_window_s) +
                                " s window (threshold " + std::to_string(t.unhealthy_percentage) +
                                "%, at least " + std::to_string(t.min_calls) + " calls)";
    j.begin_object().field("unix_ms", to_unix_ms(src, b.last_opened_ms()));
    j.field("unhealthy", lc.unhealthy).field("calls", lc.calls).field("reason", why);
    j.end_object();
  }
  j.end_object();
}

std::string breakers_json(const Sources& src) {
  const proxy::Compiled& c = src.rcu->current()->c();
  JsonOut j;
  j.begin_object().key("breakers").begin_array();
  for (const proxy::Guard& g : c.guards.guards) {
    for (const proxy::GuardRule& r : g.rules) {
      breaker_json(src, g, r, j);
    }
  }
  j.end_array().end_object();
  return j.take();
}

std::string apis_json(const Sources& src) {
  const metrics::CounterTable& t = src.store->requests;
  JsonOut j;
  j.begin_object().key("apis").begin_array();
  for (uint32_t row = 0; row < t.rows(); ++row) {
    uint64_t total = 0, e4 = 0, e5 = 0;
    for (uint32_t s = 0; s < metrics::kStatusSlots; ++s) {
      const uint64_t n = t.sum(row, metrics::kReqStatus + s);
      const std::string code = metrics::slot_code(s);
      total += n;
      e4 += code[0] == '4' ? n : 0;
      e5 += code[0] == '5' ? n : 0;
    }
    j.begin_object().field("api", t.labels(row)[0]).field("environment", t.labels(row)[1]);
    j.field("requests", total).field("errors_4xx", e4).field("errors_5xx", e5).end_object();
  }
  j.end_array().end_object();
  return j.take();
}

std::string shards_json(const Sources& src) {
  const proxy::ShardContext& ctx = *src.ctx;
  JsonOut j;
  j.begin_object().key("shards").begin_array();
  for (uint32_t s = 0; s < ctx.shard_count; ++s) {
    j.begin_object().field("id", s);
    j.field("client_connections", ctx.conn_counts.at(s, 0).load(std::memory_order_relaxed));
    j.field("backend_connections",
            ctx.stats.at(s, proxy::kStatBackendConns).load(std::memory_order_relaxed));
    j.field("requests", ctx.stats.at(s, proxy::kStatRequests).load(std::memory_order_relaxed));
    j.field("tunnels", ctx.stats.at(s, proxy::kStatTunnels).load(std::memory_order_relaxed));
    j.field("loop_turns", ctx.loop_turns.at(s, 0).load(std::memory_order_relaxed));
    // What a fault could leak: each is back to 0 on a shard whose connections have closed.
    auto stat = [&](proxy::ShardStat k) {
      return ctx.stats.at(s, k).load(std::memory_order_relaxed);
    };
    j.field("pooled_backend_connections", stat(proxy::kStatPooledBackendConns));
    j.field("in_flight", stat(proxy::kStatInFlight));
    j.field("buffers_in_use", stat(proxy::kStatBuffersInUse));
    j.field("held_recv_buffers", stat(proxy::kStatHeldRecvBuffers));
    j.end_object();
  }
  j.end_array().end_object();
  return j.take();
}

// /v1/config_source: the file, or etcd with the revision served and the last refused document.
std::string config_source_json(const Sources& src) {
  JsonOut j;
  j.begin_object();
  const ConfigSourceStatus* s = src.source;
  if (s == nullptr || !s->etcd) {
    j.field("type", "file").end_object();
    return j.take();
  }
  j.field("type", "etcd").field("prefix", s->prefix).field("endpoint", s->endpoint);
  j.field("connected", s->connected).field("revision", s->revision);
  j.field("seen_revision", s->seen_revision).field("refused", s->refused);
  j.field("connection_failures", s->connection_failures);
  j.field("connection_error", s->connection_error);
  j.key("last_error");
  if (s->last_error.empty()) {
    j.null();
  } else {
    j.begin_object().field("revision", s->last_error_revision);
    j.field("errors", s->last_error).end_object();
  }
  j.end_object();
  return j.take();
}

Answer json(std::string body) {
  Answer a;
  a.body = std::move(body);
  return a;
}

}  // namespace

Answer answer(std::string_view method, std::string_view target, const Sources& src) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    Answer a = json("{\"error\":\"method not allowed\"}");
    a.status = 405;
    return a;
  }
  if (path == "/healthz") {
    const bool draining = src.ctx->draining.load(std::memory_order_acquire);
    // etcd mode: not ready until a document from etcd is served, so that a balancer that
    // checks /healthz sends nothing to a node that would answer every API with 404.
    const bool waiting = src.source != nullptr && src.source->etcd && src.source->revision == 0;
    if (draining || waiting) {
      return {503, "text/plain; charset=utf-8", draining ? "draining\n" : "waiting for etcd\n"};
    }
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(src)};
  }
  if (path == "/v1/channels") {
    return json(channels_json(src));
  }
  if (path == "/v1/breakers") {
    return json(breakers_json(src));
  }
  if (path == "/v1/apis") {
    return json(apis_json(src));
  }
  if (path == "/v1/shards") {
    return json(shards_json(src));
  }
  if (path == "/v1/config_source") {
    return json(config_source_json(src));
  }
  if (path == "/v1/config") {
    return json(config::redacted_json(src.rcu->current()->c().config.source));
  }
  if (path == "/" || path == "/index.html") {
    return {200, "text/html; charset=utf-8", std::string(status_page())};
  }
  JsonOut j;
  j.begin_object().field("error", "not found").field("path", path).end_object();
  Answer a = json(j.take());
  a.status = 404;
  return a;
}

}  // namespace ringway::admin
