// ringway-floor: the "kernel floor" of an HTTP proxy on this machine.
//
//   ringway-floor --listen 127.0.0.1:0 --backend 127.0.0.1:PORT [--spare N] [--max-conns N]
//
// A single-threaded io_uring TCP relay that does the least any user-space proxy must do:
// accept a client, pair it with one backend connection (taken from a pool opened ahead of
// need), and copy bytes both ways with multishot receives into provided buffers and sends
// straight from those buffers. Its CPU per request is therefore (almost) only what the
// kernel's TCP path and io_uring cost; bench/compare divides ringway's CPU per request by
// it.
//
// What it leaves out, on purpose: HTTP parsing (no message boundaries at all), routing,
// header rewriting, connection reuse across clients (each client gets its own backend
// connection, closed with it), TLS, timeouts of idle connections, logging, metrics. A
// real proxy cannot skip those; the gap between it and the floor is their price.
//
// Only loopback addresses are accepted (127.0.0.0/8, ::1, localhost): it is a benchmark
// tool. Prints "listening PORT" on stdout once listening; SIGINT/SIGTERM end it (exit 0)
// after one line of counters on stderr.
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "relay.h"

namespace ringway::floor {
namespace {

constexpr const char* kUsage =
    "usage: ringway-floor --listen ADDR:PORT --backend ADDR:PORT [--spare N] [--max-conns N]\n"
    "  --listen ADDR:PORT   where to accept clients (port 0: chosen by the OS)\n"
    "  --backend ADDR:PORT  where every client's bytes go\n"
    "  --spare N            backend connections opened ahead of need (default 64)\n"
    "  --max-conns N        client connections at once; more are accepted and closed\n"
    "                       (default 20000)\n"
    "ADDR: 127.0.0.0/8, [::1] or localhost only. Prints 'listening PORT' once listening.\n";

constexpr uint32_t kMaxConns = 1'000'000;
constexpr uint32_t kMaxSpare = 10'000;
constexpr rlim_t kSpareFds = 64;  // listener, ring, stdio and slack

// SIGINT and SIGTERM are blocked and read from a signalfd through the ring: a stop request
// is then a completion like any other, with no race against the loop's wait.
int SignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signalfd(-1, &mask, SFD_CLOEXEC);
}

struct Options {
  sockaddr_storage listen{};
  socklen_t listen_len = 0;
  sockaddr_storage backend{};
  socklen_t backend_len = 0;
  uint32_t spare = 64;
  uint32_t max_conns = 20000;
};

enum class AddrResult { kOk, kMalformed, kNotLoopback };

bool ParseUint(const char* s, uint64_t min, uint64_t max, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

// "127.0.0.1:80", "[::1]:80", "localhost:80" -> a loopback socket address.
AddrResult ParseAddr(const std::string& spec, sockaddr_storage* out, socklen_t* len) {
  std::string host;
  std::string port;
  if (!spec.empty() && spec[0] == '[') {
    const size_t close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      return AddrResult::kMalformed;
    }
    host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else {
    const size_t colon = spec.rfind(':');
    if (colon == std::string::npos) {
      return AddrResult::kMalformed;
    }
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  uint64_t port_num = 0;
  if (!ParseUint(port.c_str(), 0, 65535, &port_num)) {
    return AddrResult::kMalformed;
  }
  *out = sockaddr_storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) {
      return AddrResult::kNotLoopback;
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port_num));
    *len = sizeof(sockaddr_in);
    return AddrResult::kOk;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1 &&
      IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port_num));
    *len = sizeof(sockaddr_in6);
    return AddrResult::kOk;
  }
  return AddrResult::kNotLoopback;  // another address, or a name other than localhost
}

// -1 when `arg` is a loopback address (stored in *out), else exit status 2 (reason printed).
int ParseAddrOption(const char* arg, sockaddr_storage* out, socklen_t* len) {
  switch (ParseAddr(arg, out, len)) {
    case AddrResult::kOk:
      return -1;
    case AddrResult::kMalformed:
      fprintf(stderr, "ringway-floor: bad address '%s'\n%s", arg, kUsage);
      return 2;
    case AddrResult::kNotLoopback:
      fprintf(stderr, "ringway-floor: refusing address '%s': only 127.0.0.0/8, ::1 and localhost\n",
              arg);
      return 2;
  }
  return 2;
}

int Usage(const char* why) {
  fprintf(stderr, "ringway-floor: %s\n%s", why, kUsage);
  return 2;
}

// Returns -1 when the options are good, else the exit status (usage already printed).
int ParseOptions(int argc, char** argv, Options* opt) {
  static const option kLong[] = {
      {"listen", required_argument, nullptr, 'l'}, {"backend", required_argument, nullptr, 'b'},
      {"spare", required_argument, nullptr, 's'},  {"max-conns", required_argument, nullptr, 'm'},
      {"help", no_argument, nullptr, 'h'},         {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c;
  uint64_t n = 0;
  while ((c = getopt_long(argc, argv, "h", kLong, nullptr)) != -1) {
    int rc = -1;
    if (c == 'l') {
      rc = ParseAddrOption(optarg, &opt->listen, &opt->listen_len);
    } else if (c == 'b') {
      rc = ParseAddrOption(optarg, &opt->backend, &opt->backend_len);
    } else if (c == 's' && ParseUint(optarg, 1, kMaxSpare, &n)) {
      opt->spare = static_cast<uint32_t>(n);
    } else if (c == 'm' && ParseUint(optarg, 1, kMaxConns, &n)) {
      opt->max_conns = static_cast<uint32_t>(n);
    } else if (c == 'h') {
      fputs(kUsage, stdout);
      return 0;
    } else {
      return Usage("bad option or value");
    }
    if (rc >= 0) {
      return rc;
    }
  }
  if (optind != argc) {
    return Usage("unexpected argument");
  }
  if (opt->listen_len == 0 || opt->backend_len == 0) {
    return Usage("--listen and --backend are required");
  }
  return -1;
}

// Every pair holds two descriptors: raise the soft limit to the hard one and, if that is
// still too low for --max-conns, serve fewer clients (said on stderr) rather than fail
// accepts later.
void FitFdLimit(Options* opt) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t need = 2 * (static_cast<rlim_t>(opt->max_conns) + opt->spare) + kSpareFds;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) {
    return;
  }
  const rlim_t room = rl.rlim_cur > kSpareFds ? (rl.rlim_cur - kSpareFds) / 2 : 0;
  const auto fit = static_cast<uint32_t>(room > opt->spare ? room - opt->spare : 1);
  fprintf(stderr, "ringway-floor: open file limit %llu: --max-conns lowered from %u to %u\n",
          static_cast<unsigned long long>(rl.rlim_cur), opt->max_conns, fit);
  opt->max_conns = fit;
}

// A blocking listening socket (accepted sockets inherit blocking mode: io_uring then
// never sees -EAGAIN on them). Returns the fd, or -1 with the reason printed.
int Listen(const Options& opt) {
  const int fd = socket(opt.listen.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, reinterpret_cast<const sockaddr*>(&opt.listen), opt.listen_len) != 0 ||
      listen(fd, 4096) != 0) {
    fprintf(stderr, "ringway-floor: listen: %s\n", strerror(errno));
    if (fd >= 0) {
      close(fd);
    }
    return -1;
  }
  return fd;
}

int Port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

int Run(Options opt) {
  const int sfd = SignalFd();
  if (sfd < 0) {
    fprintf(stderr, "ringway-floor: signalfd: %s\n", strerror(errno));
    return 1;
  }
  FitFdLimit(&opt);
  const int lfd = Listen(opt);
  if (lfd < 0) {
    return 1;
  }
  RelayConfig config{.listen_fd = lfd,
                     .signal_fd = sfd,
                     .backend = opt.backend,
                     .backend_len = opt.backend_len,
                     .spare = opt.spare,
                     .max_conns = opt.max_conns};
  try {
    Relay relay(config);
    printf("listening %d\n", Port(lfd));
    fflush(stdout);
    relay.run();
    const RelayCounters& c = relay.counters();
    fprintf(
        stderr,
        "ringway-floor: clients %llu refused %llu from_clients %llu from_backend %llu pauses %llu "
        "out_of_buffers %llu connect_failures %llu\n",
        U(c.clients), U(c.refused), U(c.bytes[0]), U(c.bytes[1]), U(c.pauses), U(c.out_of_bufs),
        U(c.connect_fail));
  } catch (const std::exception& e) {
    fprintf(stderr, "ringway-floor: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ringway::floor

int main(int argc, char** argv) {
  using namespace ringway::floor;
  Options opt;
  const int rc = ParseOptions(argc, argv, &opt);
  if (rc >= 0) {
    return rc;
  }
  return Run(opt);
}
