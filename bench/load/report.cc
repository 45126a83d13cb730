#include "report.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace ringway::load {
namespace {

void Appendf(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  out->append(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
}

std::string Duration(uint64_t ns) {
  char buf[32];
  if (ns < 1000) {
    snprintf(buf, sizeof(buf), "%" PRIu64 "ns", ns);
  } else if (ns < 1000000) {
    snprintf(buf, sizeof(buf), "%.1fus", static_cast<double>(ns) / 1e3);
  } else if (ns < kNsPerSec) {
    snprintf(buf, sizeof(buf), "%.2fms", static_cast<double>(ns) / 1e6);
  } else {
    snprintf(buf, sizeof(buf), "%.2fs", static_cast<double>(ns) / 1e9);
  }
  return buf;
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      Appendf(&out, "\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

constexpr struct {
  const char* name;
  double q;
} kQuantiles[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};

const char* Mode(const Options& o) { return o.rate > 0 ? "open" : "closed"; }

}  // namespace

double Report::rps() const {
  return elapsed_ns == 0 ? 0 : static_cast<double>(stats.responses) * 1e9 / elapsed_ns;
}

std::string Report::Table() const {
  const Options& o = *opt;
  const Histogram& h = stats.latency;
  const double secs = static_cast<double>(elapsed_ns) / 1e9;
  std::string t;
  Appendf(&t, "ringway-load %s\n  %u thread(s), %u connection(s), pipeline %u, %s loop%s, %s\n",
          o.target.url.c_str(), o.threads, o.connections, o.pipeline, Mode(o),
          o.close ? ", new connection per request" : ", keep-alive", Duration(elapsed_ns).c_str());
  if (o.rate > 0) {
    Appendf(&t, "  rate         %.1f req/s scheduled (latency from the intended send time)\n",
            o.rate);
  }
  Appendf(&t,
          "  requests     %" PRIu64 " sent, %" PRIu64 " answered, %" PRIu64 " lost, %" PRIu64
          " unsent\n",
          stats.requests, stats.responses, stats.lost, stats.unsent);
  Appendf(&t, "  req/s        %.1f\n", rps());
  Appendf(&t, "  latency      min %s  mean %s", Duration(h.min()).c_str(),
          Duration(static_cast<uint64_t>(h.mean())).c_str());
  for (const auto& q : kQuantiles) {
    Appendf(&t, "  %s %s", q.name, Duration(h.quantile(q.q)).c_str());
  }
  Appendf(&t, "  max %s\n", Duration(h.max()).c_str());
  Appendf(&t,
          "  status       1xx %" PRIu64 "  2xx %" PRIu64 "  3xx %" PRIu64 "  4xx %" PRIu64
          "  5xx %" PRIu64 "  other %" PRIu64 "\n",
          stats.status_class[1], stats.status_class[2], stats.status_class[3],
          stats.status_class[4], stats.status_class[5], stats.status_class[0]);
  t += "  errors      ";
  for (int i = 0; i < kErrKinds; ++i) {
    Appendf(&t, " %s %" PRIu64, kErrorNames[i], stats.errors[i]);
  }
  Appendf(&t, "\n  bytes        read %" PRIu64 " (%.1f MB/s), written %" PRIu64 "\n",
          stats.bytes_read, secs > 0 ? static_cast<double>(stats.bytes_read) / 1e6 / secs : 0,
          stats.bytes_written);
  Appendf(&t, "  connections  %" PRIu64 " opened, %u open at the end\n", stats.connects,
          open_connections);
  return t;
}

std::string Report::Json() const {
  const Options& o = *opt;
  const Histogram& h = stats.latency;
  std::string j = "{\"target\":" + JsonQuote(o.target.url);
  Appendf(&j,
          ",\"threads\":%u,\"connections\":%u,\"pipeline\":%u,\"mode\":\"%s\",\"rate\":%.3f,"
          "\"close\":%s,\"duration_s\":%.6f",
          o.threads, o.connections, o.pipeline, Mode(o), o.rate, o.close ? "true" : "false",
          static_cast<double>(elapsed_ns) / 1e9);
  Appendf(&j,
          ",\"requests\":%" PRIu64 ",\"responses\":%" PRIu64 ",\"lost\":%" PRIu64
          ",\"unsent\":%" PRIu64 ",\"rps\":%.3f,\"connects\":%" PRIu64
          ",\"open_connections\":%u,\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64,
          stats.requests, stats.responses, stats.lost, stats.unsent, rps(), stats.connects,
          open_connections, stats.bytes_read, stats.bytes_written);
  Appendf(&j, ",\"latency_us\":{\"min\":%.3f,\"mean\":%.3f", h.min() / 1e3, h.mean() / 1e3);
  for (const auto& q : kQuantiles) {
    Appendf(&j, ",\"%s\":%.3f", q.name, h.quantile(q.q) / 1e3);
  }
  Appendf(&j, ",\"max\":%.3f}", h.max() / 1e3);
  Appendf(&j,
          ",\"status\":{\"1xx\":%" PRIu64 ",\"2xx\":%" PRIu64 ",\"3xx\":%" PRIu64
          ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64 ",\"other\":%" PRIu64 "}",
          stats.status_class[1], stats.status_class[2], stats.status_class[3],
          stats.status_class[4], stats.status_class[5], stats.status_class[0]);
  j += ",\"errors\":{";
  for (int i = 0; i < kErrKinds; ++i) {
    Appendf(&j, "\"%s\":%" PRIu64 ",", kErrorNames[i], stats.errors[i]);
  }
  Appendf(&j, "\"total\":%" PRIu64 "}}\n", stats.error_total());
  return j;
}

}  // namespace ringway::load
