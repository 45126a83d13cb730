// config_source (CONFIG.md): the etcd settings of a node whose shared objects live in etcd.
#include <limits>

#include "config/loader.h"
#include "config/values.h"
#include "ringway/config_source.h"

namespace ringway::config::internal {
namespace {

constexpr size_t kMaxEndpoints = 16;
constexpr size_t kMaxPrefixBytes = 256;

std::string check_prefix(std::string_view p) {
  if (p.size() < 2 || p.size() > kMaxPrefixBytes || p.front() != '/' || p.back() != '/') {
    return "must start and end with \"/\" and be 2-256 bytes, like \"/ringway/prod/\" (got " +
           quote(p) + ")";
  }
  for (char c : p) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return "must not contain spaces or control characters (got " + quote(p) + ")";
    }
  }
  return "";
}

void read_endpoint(const Value& v, Address& out) {
  std::optional<std::string> s = v.string();
  if (!s) {
    return;
  }
  std::optional<Address> a = parse_address(*s);
  if (!a || a->port == 0 || (!is_ip_literal(*a) && !is_host_name(a->host))) {
    v.error("must be host:port with a port 1-65535, like 127.0.0.1:2379 (got " + quote(*s) + ")");
    return;
  }
  out = *a;
}

}  // namespace

void read_config_source(const Obj& top, Config& cfg) {
  std::optional<Value> v = top.field("config_source");
  if (!v) {
    return;
  }
  Obj source(*v, {"etcd"});
  std::optional<Value> ev = source.field("etcd", Need::kRequired);
  if (!ev) {
    return;
  }
  Obj o(*ev, {"endpoints", "prefix", "timeout_ms", "tls"});
  EtcdSource& etcd = cfg.etcd.emplace();
  read_list(o, "endpoints", etcd.endpoints, read_endpoint, Need::kRequired);
  if (o.has("endpoints") && (etcd.endpoints.empty() || etcd.endpoints.size() > kMaxEndpoints)) {
    o.ctx().error(o.path("endpoints"),
                  "must have 1-16 entries (got " + std::to_string(etcd.endpoints.size()) + ")");
  }
  o.read_checked("prefix", etcd.prefix, check_prefix, Need::kRequired);
  o.read("timeout_ms", etcd.timeout_ms, 100, 600000);
  etcd.tls = read_tls_files(o, "tls");
}

void reject_local_shared(const Obj& top, const Config& cfg) {
  if (!cfg.etcd) {
    return;
  }
  for (std::string_view section : kSharedSections) {
    if (top.has(section)) {
      top.ctx().error(std::string(section),
                      "comes from etcd when config_source.etcd is set: keep it in etcd (ringway "
                      "config push), not in this file");
    }
  }
}

}  // namespace ringway::config::internal
