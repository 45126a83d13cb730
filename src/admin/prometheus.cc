// GET /metrics: the Prometheus text exposition format 0.0.4 of the node's counters
// (docs/admin.md "Metrics"). Control thread; per-shard cells are summed with relaxed loads.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ringway/admin.h"

namespace ringway::admin {
namespace {

class Text {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // One sample; `labels` alternate name, value.
  void sample(std::string_view name, const std::vector<std::string_view>& labels, double v) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i + 1 < labels.size(); i += 2) {
        out_ += i == 0 ? "" : ",";
        out_ += labels[i];
        out_ += "=\"";
        escape(labels[i + 1]);
        out_ += '"';
      }
      out_ += '}';
    }
    char buf[32];
    // The shortest text that reads back as `v` (0.23, not 0.23000000000000001).
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_ += ' ';
    out_.append(buf, r.ptr);
    out_ += '\n';
  }
  void sample(std::string_view name, const std::vector<std::string_view>& labels, uint64_t v) {
    sample(name, labels, static_cast<double>(v));
  }
  std::string take() { return std::move(out_); }

 private:
  void escape(std::string_view v) {
    for (char c : v) {
      if (c == '\\' || c == '"') {
        out_ += '\\';
        out_ += c;
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
  }
  std::string out_;
};

std::string bound_text(double b) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", b);
  return buf;
}

void requests(const metrics::CounterTable& t, Text& out) {
  out.family("ringway_requests_total", "counter",
             "Requests answered, by API, environment and the status sent.");
  for (uint32_t row = 0; row < t.rows(); ++row) {
    const auto& l = t.labels(row);
    for (uint32_t s = 0; s < metrics::kStatusSlots; ++s) {
      const uint64_t n = t.sum(row, metrics::kReqStatus + s);
      if (n != 0) {
        const std::string code = metrics::slot_code(s);
        out.sample("ringway_requests_total", {"api", l[0], "environment", l[1], "code", code}, n);
      }
    }
  }
  out.family("ringway_request_duration_seconds", "histogram",
             "Time from a request's first byte in to its answer's last byte out.");
  for (uint32_t row = 0; row < t.rows(); ++row) {
    const auto& l = t.labels(row);
    uint64_t cumulative = 0;
    for (uint32_t b = 0; b < metrics::kBuckets; ++b) {
      cumulative += t.sum(row, metrics::kReqBucket + b);
      const std::string le =
          b < metrics::kBucketBounds.size() ? bound_text(metrics::kBucketBounds[b]) : "+Inf";
      out.sample("ringway_request_duration_seconds_bucket",
                 {"api", l[0], "environment", l[1], "le", le}, cumulative);
    }
    out.sample("ringway_request_duration_seconds_sum", {"api", l[0], "environment", l[1]},
               static_cast<double>(t.sum(row, metrics::kReqSumUs)) / 1e6);
    out.sample("ringway_request_duration_seconds_count", {"api", l[0], "environment", l[1]},
               t.sum(row, metrics::kReqCount));
  }
}

void backends(const metrics::Store& st, Text& out) {
  out.family("ringway_backend_requests_total", "counter",
             "Attempts at an API's backend members, by outcome.");
  for (uint32_t row = 0; row < st.backend.rows(); ++row) {
    const auto& l = st.backend.labels(row);
    for (uint32_t o = 0; o < metrics::kOutcomes; ++o) {
      out.sample("ringway_backend_requests_total",
                 {"api", l[0], "member", l[1], "outcome", metrics::outcome_name(o)},
                 st.backend.sum(row, o));
    }
  }
  out.family("ringway_backend_retries_total", "counter", "Retries of requests, by API.");
  for (uint32_t row = 0; row < st.retries.rows(); ++row) {
    out.sample("ringway_backend_retries_total", {"api", st.retries.labels(row)[0]},
               st.retries.sum(row, 0));
  }
  out.family("ringway_downgraded_requests_total", "counter",
             "Requests answered by an open breaker's downgrade.");
  for (uint32_t row = 0; row < st.downgrades.rows(); ++row) {
    const auto& l = st.downgrades.labels(row);
    out.sample("ringway_downgraded_requests_total",
               {"policy", l[0], "api", l[1], "environment", l[2], "type", l[3]},
               st.downgrades.sum(row, 0));
  }
}

void members(const proxy::Snapshot& snap, Text& out) {
  const proxy::Compiled& c = snap.c();
  out.family("ringway_member_up", "gauge", "1 when a channel member is healthy, else 0.");
  for (size_t ch = 0; ch < c.channels.size(); ++ch) {
    for (size_t m = 0; m < c.channels[ch].members.size(); ++m) {
      out.sample("ringway_member_up",
                 {"channel", c.channels[ch].name, "member", c.channels[ch].members[m].authority},
                 uint64_t{snap.up[ch][m]});
    }
  }
}

void breakers(const proxy::Compiled& c, uint64_t now, Text& out) {
  out.family("ringway_breaker_open", "gauge", "1 while a circuit breaker is open, else 0.");
  for (const proxy::Guard& g : c.guards.guards) {
    for (const proxy::GuardRule& r : g.rules) {
      out.sample("ringway_breaker_open",
                 {"policy", g.policy, "api", g.api, "environment", g.environment, "rule", r.name},
                 uint64_t{now < r.breaker->open_until()});
    }
  }
  out.family("ringway_breaker_transitions_total", "counter",
             "Circuit breaker state changes, by the state entered.");
  for (const proxy::Guard& g : c.guards.guards) {
    for (const proxy::GuardRule& r : g.rules) {
      const uint64_t opened = r.breaker->openings();
      const uint64_t closed = opened - (now < r.breaker->open_until() ? 1 : 0);
      for (auto [to, n] :
           {std::pair<std::string_view, uint64_t>{"open", opened}, {"closed", closed}}) {
        out.sample("ringway_breaker_transitions_total",
                   {"policy", g.policy, "api", g.api, "environment", g.environment, "rule", r.name,
                    "to", to},
                   n);
      }
    }
  }
}

void node(const Sources& src, Text& out) {
  const proxy::ShardContext& ctx = *src.ctx;
  out.family("ringway_connections", "gauge", "Connections open now.");
  out.sample("ringway_connections", {"side", "client"}, ctx.connections());
  out.sample("ringway_connections", {"side", "backend"}, ctx.stats.sum(proxy::kStatBackendConns));
  out.family("ringway_tls_handshakes_total", "counter", "Client TLS handshakes, by result.");
  out.sample("ringway_tls_handshakes_total", {"result", "ok"}, ctx.stats.sum(proxy::kStatTlsOk));
  out.sample("ringway_tls_handshakes_total", {"result", "failed"},
             ctx.stats.sum(proxy::kStatTlsFailed));
  out.family("ringway_upgrades_total", "counter",
             "Upgrade requests the backend switched (101 relayed): tunnels opened.");
  out.sample("ringway_upgrades_total", {}, ctx.stats.sum(proxy::kStatUpgrades));
  out.family("ringway_upgraded_connections", "gauge", "Tunnels (upgraded connections) open now.");
  out.sample("ringway_upgraded_connections", {}, ctx.stats.sum(proxy::kStatTunnels));
  out.family("ringway_upgrade_bytes_total", "counter",
             "Tunnel bytes: in, from clients to backends; out, from backends to clients.");
  out.sample("ringway_upgrade_bytes_total", {"direction", "in"},
             ctx.stats.sum(proxy::kStatTunnelBytesIn));
  out.sample("ringway_upgrade_bytes_total", {"direction", "out"},
             ctx.stats.sum(proxy::kStatTunnelBytesOut));
  out.family("ringway_upgrade_duration_seconds", "summary", "Lifetimes of closed tunnels.");
  out.sample("ringway_upgrade_duration_seconds_sum", {},
             static_cast<double>(ctx.stats.sum(proxy::kStatTunnelUs)) / 1e6);
  out.sample("ringway_upgrade_duration_seconds_count", {},
             ctx.stats.sum(proxy::kStatTunnelsClosed));
  out.family("ringway_access_log_dropped_total", "counter",
             "Access log lines dropped: no buffer room, or a failed write.");
  out.sample("ringway_access_log_dropped_total", {}, ctx.access_log_dropped.sum(0));
  out.family("ringway_config_generation", "gauge",
             "Generation of the running snapshot (configuration or health change).");
  out.sample("ringway_config_generation", {}, src.rcu->generation());
  out.family("ringway_reloads_total", "counter", "Configuration reloads, by result.");
  out.sample("ringway_reloads_total", {"result", "ok"}, src.reloads->ok);
  out.sample("ringway_reloads_total", {"result", "failed"}, src.reloads->failed);
  if (src.source != nullptr && src.source->etcd) {
    const ConfigSourceStatus& s = *src.source;
    out.family("ringway_config_source_revision", "gauge",
               "etcd revision of the configuration served (0: none yet).");
    out.sample("ringway_config_source_revision", {}, static_cast<uint64_t>(s.revision));
    out.family("ringway_config_source_connected", "gauge", "1 while the etcd watch is up.");
    out.sample("ringway_config_source_connected", {}, uint64_t{s.connected ? 1u : 0u});
    out.family("ringway_config_source_refused_total", "counter",
               "Documents assembled from etcd that did not validate (the running one stayed).");
    out.sample("ringway_config_source_refused_total", {}, s.refused);
    out.family("ringway_config_source_failures_total", "counter",
               "Failed attempts to reach, read or watch etcd.");
    out.sample("ringway_config_source_failures_total", {}, s.connection_failures);
  }
}

// /proc/self/stat fields after the command name: state is field 3.
std::vector<std::string> stat_fields() {
  std::ifstream f("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields;
  const size_t close = all.rfind(')');
  if (close == std::string::npos) {
    return fields;
  }
  std::istringstream in(all.substr(close + 2));
  std::string s;
  while (in >> s) {
    fields.push_back(s);
  }
  return fields;
}

uint64_t boot_time_s() {
  std::ifstream f("/proc/stat");
  std::string key;
  uint64_t v = 0;
  while (f >> key) {
    if (key == "btime" && f >> v) {
      return v;
    }
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

uint64_t open_fds() {
  uint64_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      n += e->d_name[0] != '.';
    }
    closedir(d);
    n -= n > 0 ? 1 : 0;  // the directory's own fd
  }
  return n;
}

void process(Text& out) {
  const std::vector<std::string> f = stat_fields();  // f[0] is field 3 (state)
  if (f.size() < 22) {
    return;
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double cpu = (std::stod(f[11]) + std::stod(f[12])) / tick;  // utime, stime
  const double start = static_cast<double>(boot_time_s()) + std::stod(f[19]) / tick;
  const double rss = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  out.family("process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.");
  out.sample("process_cpu_seconds_total", {}, cpu);
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out.sample("process_resident_memory_bytes", {}, rss);
  out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  out.sample("process_virtual_memory_bytes", {}, std::stod(f[20]));
  out.family("process_open_fds", "gauge", "Number of open file descriptors.");
  out.sample("process_open_fds", {}, open_fds());
  out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  out.sample("process_max_fds", {}, static_cast<uint64_t>(lim.rlim_cur));
  out.family("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.");
  out.sample("process_start_time_seconds", {}, start);
}

}  // namespace

std::string metrics_text(const Sources& src) {
  Text out;
  const proxy::Snapshot& snap = *src.rcu->current();
  requests(src.store->requests, out);
  backends(*src.store, out);
  members(snap, out);
  breakers(snap.c(), src.clock->now_ms(), out);
  node(src, out);
  process(out);
  return out.take();
}

}  // namespace ringway::admin
