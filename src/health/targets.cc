// Configuration → check targets, and the identity key that lets a reload keep health.
// Thread affinity: control thread (getaddrinfo blocks).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <memory>
#include <optional>
#include <string>

#include "ringway/health.h"
#include "ringway/tls.h"

namespace ringway::health {

namespace {

std::string address_text(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return config::authority(host, ntohs(a->sin6_port), 0);
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
  inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
  return config::authority(host, ntohs(a->sin_port), 0);
}

// The target of one enabled member; nullopt with *error when its host does not resolve.
std::optional<Target> member_target(const config::Channel& ch, const config::Member& m,
                                    const config::HealthCheck& hc, std::string* error) {
  uint16_t member_port = m.port != 0 ? m.port : ch.port;
  uint16_t check_port = hc.port != 0 ? hc.port : member_port;
  Target t;
  if (!config::resolve_address(m.host, check_port, &t.addr, &t.addr_len, error)) {
    return std::nullopt;
  }
  t.protocol = hc.protocol == config::CheckProtocol::kTcp     ? Protocol::kTcp
               : hc.protocol == config::CheckProtocol::kHttps ? Protocol::kHttps
                                                              : Protocol::kHttp;
  if (t.protocol == Protocol::kHttps) {
    t.tls_name = m.host;
    if (hc.client_ssl) {
      t.tls_files =
          hc.client_ssl->ca + "," + hc.client_ssl->certificate + "," + hc.client_ssl->private_key;
    }
    try {
      t.tls = std::make_shared<tls::ClientContext>(hc.client_ssl, 1);
    } catch (const tls::FileError& e) {
      *error =
          "health_check.client_ssl" + (e.field.empty() ? "" : "." + e.field) + ": " + e.message;
      return std::nullopt;
    }
  }
  t.method = hc.method == "HEAD" ? HttpMethod::kHead : HttpMethod::kGet;
  t.path = hc.path;
  t.host = config::authority(m.host, check_port, 80);
  t.timeout_ms = hc.timeout_s * 1000;
  t.interval_ms = hc.interval_s * 1000;
  t.healthy_threshold = hc.healthy_threshold;
  t.unhealthy_threshold = hc.unhealthy_threshold;
  t.codes = hc.codes;
  t.label = "channel " + ch.name + " member " + config::authority(m.host, member_port, 0);
  t.key = identity_key(ch.name, t);
  return t;
}

std::string member_path(size_t c, size_t m) {
  return "channels[" + std::to_string(c) + "].members[" + std::to_string(m) + "]";
}

}  // namespace

std::string identity_key(std::string_view channel, const Target& t) {
  std::string k(channel);
  k += '|';
  k += address_text(t.addr);
  k += t.protocol == Protocol::kTcp     ? "|tcp"
       : t.protocol == Protocol::kHttps ? "|https " + t.tls_files
                                        : "|http";
  if (t.protocol != Protocol::kTcp) {
    k += t.method == HttpMethod::kHead ? " HEAD " : " GET ";
    k += t.path + " host=" + t.host + " codes=";
    for (const auto& [lo, hi] : t.codes) {
      k += std::to_string(lo) + "-" + std::to_string(hi) + ",";
    }
  }
  k += "|t=" + std::to_string(t.timeout_ms) + " i=" + std::to_string(t.interval_ms) +
       " h=" + std::to_string(t.healthy_threshold) + " u=" + std::to_string(t.unhealthy_threshold);
  return k;
}

TargetSet targets_for(const config::Config& cfg) {
  TargetSet set;
  for (size_t c = 0; c < cfg.channels.size(); ++c) {
    const config::Channel& ch = cfg.channels[c];
    std::vector<uint32_t>& row = set.members.emplace_back(ch.members.size(), kNotChecked);
    if (!ch.health_check) {
      continue;
    }
    for (size_t m = 0; m < ch.members.size(); ++m) {
      if (!ch.members[m].enabled) {
        continue;
      }
      std::string error;
      std::optional<Target> t = member_target(ch, ch.members[m], *ch.health_check, &error);
      if (!t) {
        row[m] = kUnresolved;
        set.errors.push_back({member_path(c, m) + ".host", error});
        continue;
      }
      row[m] = static_cast<uint32_t>(set.targets.size());
      set.targets.push_back(std::move(*t));
    }
  }
  return set;
}

}  // namespace ringway::health
