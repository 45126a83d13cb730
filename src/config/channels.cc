// Load-balance channels: member groups, members and the optional health check.
#include <arpa/inet.h>

#include <string>

#include "config/loader.h"
#include "config/values.h"

namespace ringway::config::internal {

namespace {

constexpr Choice<BalanceStrategy> kStrategies[] = {
    {"wrr", BalanceStrategy::kWrr},
    {"wlc", BalanceStrategy::kWlc},
    {"sh", BalanceStrategy::kSh},
    {"uri_hash", BalanceStrategy::kUriHash},
};

constexpr Choice<CheckProtocol> kCheckProtocols[] = {
    {"tcp", CheckProtocol::kTcp},
    {"http", CheckProtocol::kHttp},
    {"https", CheckProtocol::kHttps},
};

constexpr Choice<std::string_view> kCheckMethods[] = {{"GET", "GET"}, {"HEAD", "HEAD"}};

std::string check_host(std::string_view s) {
  unsigned char v6[16];
  bool ok = is_host_name(s) || inet_pton(AF_INET6, std::string(s).c_str(), v6) == 1;
  return ok ? "" : "must be an IP address or a host name (got " + quote(s) + ")";
}

// A request target for checks: starts with '/', printable ASCII without spaces.
std::string check_check_path(std::string_view s) {
  if (s.empty() || s.front() != '/') {
    return "must start with \"/\" (got " + quote(s) + ")";
  }
  for (char c : s) {
    if (c <= ' ' || c == 0x7f) {
      return "must not contain " + quote_char(c);
    }
  }
  return "";
}

void read_member(const Value& v, const Names& groups, Member& m) {
  Obj o(v, {"host", "port", "weight", "group", "is_backup", "enabled"});
  o.read_checked("host", m.host, check_host, Need::kRequired);
  o.read("port", m.port, 0, 65535);
  o.read("weight", m.weight, 0, 10000);
  groups.read_ref(o, "group", m.group, Need::kOptional);
  o.read("is_backup", m.is_backup);
  o.read("enabled", m.enabled);
}

// Fields that only the http/https protocols use are rejected for tcp checks, so a
// configuration never carries settings that silently do nothing.
HealthCheck read_health_check(const Value& v) {
  Obj o(v, {"protocol", "client_ssl", "path", "method", "port", "healthy_threshold",
            "unhealthy_threshold", "timeout_s", "interval_s", "http_codes"});
  HealthCheck h;
  bool protocol_ok = o.read("protocol", h.protocol, kCheckProtocols) || !o.has("protocol");
  if (protocol_ok && h.protocol == CheckProtocol::kTcp) {
    o.forbid({"path", "method", "http_codes"}, "only allowed with protocol http or https");
  }
  if (protocol_ok && h.protocol != CheckProtocol::kHttps) {
    o.forbid({"client_ssl"}, "only allowed with protocol https");
  }
  if (h.protocol == CheckProtocol::kHttps) {
    h.client_ssl = read_tls_files(o, "client_ssl");
  }
  o.read_checked("path", h.path, check_check_path);
  o.read("method", h.method, kCheckMethods);
  o.read("port", h.port, 0, 65535);
  o.read("healthy_threshold", h.healthy_threshold, 2, 10);
  o.read("unhealthy_threshold", h.unhealthy_threshold, 2, 10);
  bool timeout_ok = o.read("timeout_s", h.timeout_s, 2, 30) || !o.has("timeout_s");
  bool interval_ok = o.read("interval_s", h.interval_s, 5, 300) || !o.has("interval_s");
  if (timeout_ok && interval_ok && h.interval_s <= h.timeout_s) {
    o.ctx().error(o.path("interval_s"), "must be greater than timeout_s (got " +
                                            std::to_string(h.interval_s) + ", timeout_s " +
                                            std::to_string(h.timeout_s) + ")");
  }
  o.read_checked("http_codes", h.http_codes,
                 [&h](std::string_view s) { return check_http_codes(s, &h.codes); });
  return h;
}

void read_channel(const Obj& o, Channel& c) {
  o.read("port", c.port, 1, 65535, Need::kRequired);
  o.read("balance_strategy", c.balance_strategy, kStrategies);
  Names groups("member group");
  read_named_list(o, "member_groups", c.member_groups, groups, {"name", "weight", "description"},
                  [](const Obj& go, MemberGroup& g) {
                    go.read("weight", g.weight, 0, 100);
                    go.read("description", g.description);
                  });
  Names members("member");
  bool members_ok = read_list(
      o, "members", c.members,
      [&](const Value& mv, Member& m) {
        read_member(mv, groups, m);
        if (!m.host.empty()) {
          members.add(mv, host_port(m.host, m.port != 0 ? m.port : c.port));
        }
      },
      Need::kRequired);
  if (members_ok && o.has("members") && c.members.empty()) {
    o.ctx().error(o.path("members"), "must have at least one member");
  }
  if (std::optional<Value> check = o.field("health_check")) {
    c.health_check = read_health_check(*check);
  }
}

}  // namespace

void read_channels(const Obj& top, Registry& reg, Config& cfg) {
  read_named_list(top, "channels", cfg.channels, reg.channels,
                  {"name", "port", "balance_strategy", "member_groups", "members", "health_check"},
                  read_channel);
}

}  // namespace ringway::config::internal

namespace ringway::config {

std::string_view strategy_name(BalanceStrategy s) {
  for (const internal::Choice<BalanceStrategy>& c : internal::kStrategies) {
    if (c.second == s) {
      return c.first;
    }
  }
  return "";
}

}  // namespace ringway::config
