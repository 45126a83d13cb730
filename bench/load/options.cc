#include "options.h"

#include <arpa/inet.h>
#include <getopt.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ringway::load {
namespace {

constexpr const char* kUsage =
    "usage: ringway-load [options] http://127.0.0.1:PORT/path\n"
    "  -c, --connections N   connections (default 64)\n"
    "  -t, --threads N       threads, one io_uring each (default 1)\n"
    "  -d, --duration T      measured time, e.g. 10s, 500ms, 2m (default 10s)\n"
    "  -n, --requests N      stop after N requests (with -d: whichever comes first;\n"
    "                        without -d the run is capped at 10 minutes)\n"
    "  -w, --warmup T        unrecorded run before the measurement (default 0)\n"
    "  -R, --rate R          open loop: R requests/s in total, latency from the intended\n"
    "                        send time (coordinated omission corrected)\n"
    "  -p, --pipeline D      requests in flight per connection (default 1)\n"
    "      --close           a new connection per request (Connection: close)\n"
    "      --timeout T       per request and per connect (default 5s)\n"
    "      --hold T          one request per connection, then hold all connections idle\n"
    "                        for T (prints 'holding N connections' on stderr)\n"
    "  -m, --method M        request method (default GET)\n"
    "  -H, --header 'K: V'   extra request header (repeatable)\n"
    "      --body S          request body (Content-Length is added)\n"
    "      --body-file F     request body from a file\n"
    "      --json            print the result as JSON\n"
    "Only 127.0.0.1, ::1 and localhost targets are accepted.\n";

// "10", "10s", "1.5s", "500ms", "2m" -> nanoseconds.
bool ParseDuration(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || !std::isfinite(v) || v < 0) {
    return false;
  }
  double scale = 1e9;
  if (strcmp(end, "ms") == 0) {
    scale = 1e6;
  } else if (strcmp(end, "us") == 0) {
    scale = 1e3;
  } else if (strcmp(end, "m") == 0) {
    scale = 60e9;
  } else if (*end != '\0' && strcmp(end, "s") != 0) {
    return false;
  }
  v *= scale;
  if (v > static_cast<double>(kMaxDuration)) {
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

bool ParseCount(const char* s, uint64_t min, uint64_t max, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

bool ReadFile(const char* path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

enum LongOnly { kClose = 256, kTimeout, kHold, kBody, kBodyFile, kJson };

const option kLongOptions[] = {
    {"connections", required_argument, nullptr, 'c'},
    {"threads", required_argument, nullptr, 't'},
    {"duration", required_argument, nullptr, 'd'},
    {"requests", required_argument, nullptr, 'n'},
    {"warmup", required_argument, nullptr, 'w'},
    {"rate", required_argument, nullptr, 'R'},
    {"pipeline", required_argument, nullptr, 'p'},
    {"method", required_argument, nullptr, 'm'},
    {"header", required_argument, nullptr, 'H'},
    {"close", no_argument, nullptr, kClose},
    {"timeout", required_argument, nullptr, kTimeout},
    {"hold", required_argument, nullptr, kHold},
    {"body", required_argument, nullptr, kBody},
    {"body-file", required_argument, nullptr, kBodyFile},
    {"json", no_argument, nullptr, kJson},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
};

// Applies one option; false with *error set when its value is invalid.
bool ApplyOption(int c, const char* arg, Options* o, std::string* error) {
  uint64_t n = 0;
  bool ok = true;
  switch (c) {
    case 'c':
      ok = ParseCount(arg, 1, 100000, &n);
      o->connections = static_cast<uint32_t>(n);
      break;
    case 't':
      ok = ParseCount(arg, 1, 64, &n);
      o->threads = static_cast<uint32_t>(n);
      break;
    case 'p':
      ok = ParseCount(arg, 1, 64, &n);
      o->pipeline = static_cast<uint32_t>(n);
      break;
    case 'n':
      ok = ParseCount(arg, 1, UINT64_C(1) << 40, &o->requests);
      break;
    case 'd':
      ok = ParseDuration(arg, &o->duration_ns) && o->duration_ns > 0;
      break;
    case 'w':
      ok = ParseDuration(arg, &o->warmup_ns);
      break;
    case kTimeout:
      ok = ParseDuration(arg, &o->timeout_ns) && o->timeout_ns >= 1'000'000;
      break;
    case kHold:
      ok = ParseDuration(arg, &o->hold_ns) && o->hold_ns > 0;
      break;
    case 'R': {
      char* end = nullptr;
      o->rate = strtod(arg, &end);
      ok = end != arg && *end == '\0' && o->rate > 0 && o->rate <= 1e8;
      break;
    }
    case 'm':
      o->method = arg;
      ok = !o->method.empty() && o->method.find_first_of(" \r\n") == std::string::npos;
      break;
    case 'H':
      o->headers.emplace_back(arg);
      ok = o->headers.back().find(':') != std::string::npos &&
           o->headers.back().find_first_of("\r\n") == std::string::npos;
      break;
    case kBody:
      o->body = arg;
      break;
    case kBodyFile:
      ok = ReadFile(arg, &o->body);
      break;
    case kClose:
      o->close = true;
      break;
    case kJson:
      o->json = true;
      break;
    default:
      *error = kUsage;
      return false;
  }
  if (!ok) {
    *error = std::string("invalid value '") + arg + "' for option";
  }
  return ok;
}

}  // namespace

bool ParseTarget(const std::string& url, Target* out, std::string* error) {
  out->url = url;
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) {
    *error = "target must start with http:// (got '" + url + "')";
    return false;
  }
  const size_t host_start = kScheme.size();
  const size_t slash = url.find('/', host_start);
  std::string authority = url.substr(host_start, slash - host_start);
  out->path = slash == std::string::npos ? "/" : url.substr(slash);
  out->host = authority;
  std::string host = authority;
  std::string port = "80";
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  uint64_t port_num = 0;
  if (!ParseCount(port.c_str(), 1, 65535, &port_num)) {
    *error = "invalid port in '" + url + "'";
    return false;
  }
  if (host == "127.0.0.1" || host == "localhost") {
    auto* a = reinterpret_cast<sockaddr_in*>(&out->addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port_num));
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out->addr_len = sizeof(sockaddr_in);
  } else if (host == "::1") {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out->addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port_num));
    a->sin6_addr = in6addr_loopback;
    out->addr_len = sizeof(sockaddr_in6);
  } else {
    *error = "refusing target host '" + host +
             "': ringway-load only sends to 127.0.0.1, ::1 or localhost";
    return false;
  }
  return true;
}

bool ParseOptions(int argc, char** argv, Options* out, std::string* error, bool* help) {
  *help = false;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "c:t:d:n:w:R:p:m:H:h", kLongOptions, nullptr)) != -1) {
    if (c == 'h') {
      *help = true;
      *error = kUsage;
      return false;
    }
    if (!ApplyOption(c, optarg, out, error)) {
      return false;
    }
  }
  if (optind != argc - 1) {
    *error = std::string("expected exactly one target URL\n") + kUsage;
    return false;
  }
  if (out->close || out->hold_ns != 0) {
    out->pipeline = 1;
  }
  if (out->hold_ns != 0) {
    if (out->close || out->rate > 0) {
      *error = "--hold cannot be combined with --close or --rate";
      return false;
    }
    out->requests = out->connections;
  }
  if (out->duration_ns == 0) {
    out->duration_ns = (out->requests != 0 ? 600 : 10) * kNsPerSec;
  }
  out->threads = std::min(out->threads, out->connections);
  if (out->requests != 0) {  // every thread gets a non-empty share
    out->threads = static_cast<uint32_t>(std::min<uint64_t>(out->threads, out->requests));
  }
  return ParseTarget(argv[optind], &out->target, error);
}

std::string RenderRequest(const Options& opt) {
  std::string r = opt.method + " " + opt.target.path + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const std::string& h : opt.headers) {
    has_host = has_host || strncasecmp(h.c_str(), "host:", 5) == 0;
  }
  if (!has_host) {
    r += "Host: " + opt.target.host + "\r\n";
  }
  for (const std::string& h : opt.headers) {
    r += h + "\r\n";
  }
  if (opt.close) {
    r += "Connection: close\r\n";
  }
  if (!opt.body.empty() || opt.method == "POST" || opt.method == "PUT") {
    r += "Content-Length: " + std::to_string(opt.body.size()) + "\r\n";
  }
  r += "\r\n";
  r += opt.body;
  return r;
}

}  // namespace ringway::load
