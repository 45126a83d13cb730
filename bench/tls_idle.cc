// tls_idle: holds N idle TLS connections to one loopback target, for bench/compare's idle
// TLS RSS comparison (bench/README.md).
//
// Each connection, on blocking sockets (-t threads, 16 by default, each setting up its share
// one after the other): TCP connect, a full TLS 1.3 handshake (wolfSSL), one keep-alive GET
// and its whole answer. The connection then stays
// open and idle. Its client-side TLS state is freed once the answer is in, the socket kept
// open without a close_notify: only the server's side is measured, and 10,000 client
// sessions would cost this process hundreds of MiB. When every connection is set up it
// prints `holding N connections (F failed)` on stderr, then waits until stdin reaches end of
// file or --hold-s seconds pass, and exits (closing them all).
//
// usage: tls_idle [-c N] [-t N] [--path P] [--hold-s S] [--timeout-ms T] [--ca FILE] HOST:PORT
//   HOST is 127.0.0.1, localhost or [::1]; exit 0 when at least one connection was held.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <wolfssl/options.h>  // before any other wolfSSL header
#include <wolfssl/ssl.h>

namespace {

struct Options {
  unsigned long conns = 10000;
  unsigned long threads = 16;
  std::string path = "/13b";
  unsigned long hold_s = 300;
  unsigned long timeout_ms = 5000;
  std::string ca;  // empty: no certificate verification
  std::string host;
  std::string port;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "tls_idle: %s\nusage: tls_idle [-c N] [-t N] [--path P] [--hold-s S] "
               "[--timeout-ms T] [--ca FILE] HOST:PORT\n",
               why);
  std::exit(2);
}

unsigned long Number(const char* s, const char* what) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0') {
    Usage((std::string("bad ") + what + " '" + s + "'").c_str());
  }
  return v;
}

Options Parse(int argc, char** argv) {
  Options o;
  std::string target;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "-c" && has_value) {
      o.conns = Number(argv[++i], "-c");
    } else if (a == "-t" && has_value) {
      o.threads = Number(argv[++i], "-t");
    } else if (a == "--path" && has_value) {
      o.path = argv[++i];
    } else if (a == "--hold-s" && has_value) {
      o.hold_s = Number(argv[++i], "--hold-s");
    } else if (a == "--timeout-ms" && has_value) {
      o.timeout_ms = Number(argv[++i], "--timeout-ms");
    } else if (a == "--ca" && has_value) {
      o.ca = argv[++i];
    } else if (!a.empty() && a[0] != '-' && target.empty()) {
      target = a;
    } else {
      Usage(("unexpected argument '" + std::string(a) + "'").c_str());
    }
  }
  const size_t colon = target.rfind(':');
  if (target.empty() || colon == std::string::npos || colon + 1 == target.size()) {
    Usage("need HOST:PORT");
  }
  o.host = target.substr(0, colon);
  o.port = target.substr(colon + 1);
  if (o.host == "localhost") {
    o.host = "127.0.0.1";
  } else if (o.host == "[::1]") {
    o.host = "::1";
  }
  if (o.host != "127.0.0.1" && o.host != "::1") {
    std::fprintf(stderr, "tls_idle: refusing target host '%s' (loopback only)\n", o.host.c_str());
    std::exit(2);
  }
  if (o.conns == 0 || o.threads == 0 || o.path.empty() || o.path[0] != '/') {
    Usage("-c and -t must be positive and --path must start with /");
  }
  o.threads = std::min(o.threads, o.conns);
  return o;
}

// Every connection needs a descriptor: raise the soft limit to the hard one.
void RaiseFdLimit(unsigned long conns) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < conns + 16) {
    std::fprintf(stderr, "tls_idle: open file limit %lu is too low for %lu connections\n",
                 static_cast<unsigned long>(rl.rlim_cur), conns);
    std::exit(1);
  }
}

int Connect(const Options& o, const sockaddr_storage& addr, socklen_t len) {
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(o.timeout_ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>(o.timeout_ms % 1000 * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads one whole HTTP/1.1 response (Content-Length or chunked body); true for a 2xx one
// that leaves the connection open.
bool ReadResponse(WOLFSSL* ssl, std::string* why) {
  std::string in;
  char buf[16384];
  size_t head_end = std::string::npos;
  size_t need = 0;  // total bytes of the response, once the head is known
  bool chunked = false;
  for (;;) {
    if (head_end != std::string::npos) {
      if (!chunked && in.size() >= need) {
        break;
      }
      if (chunked && in.size() >= head_end + 5 && in.compare(in.size() - 5, 5, "0\r\n\r\n") == 0) {
        break;
      }
    }
    const int n = wolfSSL_read(ssl, buf, sizeof(buf));
    if (n <= 0) {
      *why = "read: wolfSSL error " + std::to_string(wolfSSL_get_error(ssl, n));
      return false;
    }
    in.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos) {
      const size_t e = in.find("\r\n\r\n");
      if (e == std::string::npos) {
        if (in.size() > 65536) {
          *why = "response head over 64 KiB";
          return false;
        }
        continue;
      }
      head_end = e + 4;
      std::string head = in.substr(0, head_end);
      for (char& ch : head) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      if (head.compare(0, 10, "http/1.1 2") != 0) {
        *why = "status line '" + in.substr(0, in.find("\r\n")) + "'";
        return false;
      }
      if (head.find("\r\nconnection: close") != std::string::npos) {
        *why = "the server closes the connection after the response";
        return false;
      }
      chunked = head.find("\r\ntransfer-encoding: chunked") != std::string::npos;
      const size_t cl = head.find("\r\ncontent-length:");
      if (!chunked && cl == std::string::npos) {
        *why = "response without Content-Length or chunked body";
        return false;
      }
      if (!chunked) {
        need = head_end + std::strtoul(head.c_str() + cl + 17, nullptr, 10);
      }
    }
  }
  return true;
}

// One connection set up and left idle: its descriptor, or -1 (`why` says what failed).
int OpenOne(const Options& o, WOLFSSL_CTX* ctx, const sockaddr_storage& addr, socklen_t len,
            const std::string& request, std::string* why) {
  const int fd = Connect(o, addr, len);
  if (fd < 0) {
    *why = std::string("connect: ") + std::strerror(errno);
    return -1;
  }
  WOLFSSL* ssl = wolfSSL_new(ctx);
  bool ok = ssl != nullptr && wolfSSL_set_fd(ssl, fd) == WOLFSSL_SUCCESS;
  if (ok && wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
    char err[WOLFSSL_MAX_ERROR_SZ];
    *why = std::string("handshake: ") +
           wolfSSL_ERR_error_string(static_cast<unsigned long>(wolfSSL_get_error(ssl, 0)), err);
    ok = false;
  }
  if (ok && wolfSSL_write(ssl, request.data(), static_cast<int>(request.size())) !=
                static_cast<int>(request.size())) {
    *why = "write: wolfSSL error " + std::to_string(wolfSSL_get_error(ssl, 0));
    ok = false;
  }
  ok = ok && ReadResponse(ssl, why);
  wolfSSL_free(ssl);  // no close_notify: the socket stays open and idle
  if (!ok) {
    close(fd);
    return -1;
  }
  return fd;
}

// Until stdin ends (or fails) or `hold_s` pass.
void Hold(unsigned long hold_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(hold_s);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return;
    }
    pollfd p{0, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) {
      return;
    }
    if (r > 0) {
      char buf[256];
      if (read(0, buf, sizeof(buf)) <= 0) {
        return;  // end of file (or an error): the caller is done measuring
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  RaiseFdLimit(o.conns);

  sockaddr_storage addr{};
  socklen_t len = 0;
  const unsigned long port = Number(o.port.c_str(), "port");
  if (o.host == "::1") {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    a6->sin6_addr = in6addr_loopback;
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sockaddr_in);
  }

  wolfSSL_Init();
  WOLFSSL_CTX* ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
  if (ctx == nullptr) {
    std::fprintf(stderr, "tls_idle: wolfSSL_CTX_new failed\n");
    return 1;
  }
  // bench/compare pins the servers to TLS_AES_128_GCM_SHA256 and X25519: offer those first
  // (a key share for X25519, P-256 as a fallback after a HelloRetryRequest).
  wolfSSL_CTX_set_cipher_list(
      ctx, "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256");
  int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1};
  wolfSSL_CTX_set_groups(ctx, groups, 2);
  if (o.ca.empty()) {
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
  } else if (wolfSSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != WOLFSSL_SUCCESS) {
    std::fprintf(stderr, "tls_idle: cannot load CA file %s\n", o.ca.c_str());
    return 1;
  }

  const std::string request = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + o.port +
                              "\r\nUser-Agent: tls_idle\r\n\r\n";
  // Each thread sets up its share; it gives up after 100 failures in a row.
  struct Share {
    unsigned long want = 0;
    std::vector<int> fds;
    unsigned long failed = 0;
    std::string first_error;
  };
  std::vector<Share> shares(o.threads);
  for (unsigned long i = 0; i < o.threads; ++i) {
    shares[i].want = o.conns / o.threads + (i < o.conns % o.threads ? 1 : 0);
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (Share& sh : shares) {
    workers.emplace_back([&o, ctx, &addr, len, &request, &sh] {
      sh.fds.reserve(sh.want);
      unsigned long failed_in_a_row = 0;
      for (unsigned long i = 0; i < sh.want && failed_in_a_row < 100; ++i) {
        std::string why;
        const int fd = OpenOne(o, ctx, addr, len, request, &why);
        if (fd >= 0) {
          sh.fds.push_back(fd);
          failed_in_a_row = 0;
          continue;
        }
        ++sh.failed;
        ++failed_in_a_row;
        if (sh.first_error.empty()) {
          sh.first_error = why;
        }
      }
    });
  }
  for (std::thread& w : workers) {
    w.join();
  }
  std::vector<int> fds;
  unsigned long failed = 0;
  std::string first_error;
  for (Share& sh : shares) {
    fds.insert(fds.end(), sh.fds.begin(), sh.fds.end());
    failed += sh.failed;
    if (first_error.empty()) {
      first_error = sh.first_error;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!first_error.empty()) {
    std::fprintf(stderr, "tls_idle: first failure: %s\n", first_error.c_str());
  }
  std::fprintf(stderr, "holding %zu connections (%lu failed; set up in %.1f s)\n", fds.size(),
               failed, secs);
  if (fds.empty()) {
    return 1;
  }
  Hold(o.hold_s);
  for (int fd : fds) {
    close(fd);
  }
  wolfSSL_CTX_free(ctx);
  wolfSSL_Cleanup();
  return 0;
}
