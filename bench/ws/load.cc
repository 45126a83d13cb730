// ringway-ws-load: a WebSocket (RFC 6455) load generator for 127.0.0.1 targets
// (bench/ws-compare, bench/README.md). One thread, level-triggered epoll.
//
// Opens N connections, upgrades each (checks the 101 and Sec-WebSocket-Accept), then on
// every connection keeps D masked binary messages of S bytes in flight (closed loop: each
// echo received sends the next one) and measures echoes per second and the round-trip
// latency of each message (send to last byte of its echo). The measurement starts once
// every connection is upgraded (or failed), after the warm-up, and lasts the duration.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "../load/histogram.h"
#include "ws.h"

namespace ringway::ws {
namespace {

constexpr uint64_t kNs = 1'000'000'000;
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxHead = 8192;
constexpr uint64_t kMaxMessage = 1 << 20;

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// CPU time (user + system) of this process so far, in ns.
uint64_t CpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto ns = [](const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * kNs + static_cast<uint64_t>(tv.tv_usec) * 1000;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNs + static_cast<uint64_t>(ts.tv_nsec);
}

struct Options {
  std::string url;
  std::string host;  // Host header
  std::string path = "/";
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  uint32_t connections = 64;
  uint32_t pipeline = 1;
  uint64_t size = 64;
  uint64_t duration_ns = 10 * kNs;
  uint64_t warmup_ns = 0;
  uint64_t timeout_ns = 5 * kNs;
  bool json = false;
};

enum Err {
  kErrConnect,
  kErrHandshake,
  kErrClosed,
  kErrTimeout,
  kErrProtocol,
  kErrMismatch,
  kErrKinds
};
constexpr const char* kErrNames[kErrKinds] = {"connect", "handshake", "closed",
                                              "timeout", "protocol",  "mismatch"};

enum class St { kConnecting, kHandshake, kOpen, kDead };

struct Conn {
  int fd = -1;
  St st = St::kConnecting;
  uint32_t events = 0;
  uint64_t started = 0;  // connect time (handshake timeout)
  std::string accept;    // expected Sec-WebSocket-Accept
  Buffer in;
  Buffer out;
  std::vector<uint64_t> sent;  // send times of the messages in flight (a ring)
  uint32_t sent_head = 0;
  uint32_t inflight = 0;
  uint64_t msg_got = 0;  // bytes of the echo being received (fragments)
  bool in_msg = false;
};

struct Stats {
  uint64_t sent = 0;
  uint64_t messages = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t errors[kErrKinds] = {};
  load::Histogram latency;
};

class Runner {
 public:
  explicit Runner(const Options& opt) : opt_(opt), conns_(opt.connections) {
    pattern_.resize(opt.size);
    for (size_t i = 0; i < pattern_.size(); ++i) {
      pattern_[i] = static_cast<uint8_t>(i * 31 + 7);
    }
    scratch_.resize(opt.size);
    rng_ = NowNs() | 1;
  }

  int run();
  void report() const;

 private:
  uint32_t rand32() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return static_cast<uint32_t>(rng_ >> 16);
  }
  void fail(Conn& c, Err e, const std::string& why);
  void set_events(Conn& c, uint32_t ev);
  void start(Conn& c);
  void on_connected(Conn& c);
  bool flush(Conn& c);
  void send_message(Conn& c);
  void on_readable(Conn& c);
  size_t handshake(Conn& c);
  size_t frames(Conn& c);
  void complete(Conn& c);
  void scan();

  const Options& opt_;
  std::vector<Conn> conns_;
  std::vector<uint8_t> pattern_;
  std::vector<uint8_t> scratch_;
  uint64_t rng_ = 0;
  int ep_ = -1;
  uint64_t now_ = 0;
  bool recording_ = false;
  bool stopping_ = false;
  uint64_t measure_start_ = 0;
  uint64_t measure_end_ = 0;
  uint64_t cpu_start_ = 0;  // CpuNs() when the measurement started
  uint64_t cpu_used_ = 0;   // ... and what it used until it ended
  uint32_t pending_ = 0;    // connections not yet upgraded or failed
  uint32_t opened_ = 0;     // connections upgraded
  Stats st_;
  std::string first_error_;
};

void Runner::fail(Conn& c, Err e, const std::string& why) {
  if (c.st == St::kDead) {
    return;
  }
  if (c.st == St::kConnecting || c.st == St::kHandshake) {
    --pending_;
  }
  ++st_.errors[e];
  if (first_error_.empty()) {
    first_error_ = why;
  }
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
  }
  c.st = St::kDead;
  c.inflight = 0;
}

void Runner::set_events(Conn& c, uint32_t ev) {
  if (ev == c.events || c.fd < 0) {
    return;
  }
  epoll_event e{};
  e.events = ev;
  e.data.u64 = static_cast<uint64_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &e);
  c.events = ev;
}

void Runner::start(Conn& c) {
  c.started = now_;
  c.fd = socket(opt_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    fail(c, kErrConnect, std::string("socket: ") + strerror(errno));
    return;
  }
  const int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  epoll_event e{};
  e.events = EPOLLOUT;
  e.data.u64 = static_cast<uint64_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &e);
  c.events = EPOLLOUT;
  if (connect(c.fd, reinterpret_cast<const sockaddr*>(&opt_.addr), opt_.addr_len) != 0 &&
      errno != EINPROGRESS) {
    fail(c, kErrConnect, std::string("connect: ") + strerror(errno));
  }
}

void Runner::on_connected(Conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail(c, kErrConnect, std::string("connect: ") + strerror(err));
    return;
  }
  uint8_t key[16];
  for (size_t i = 0; i < sizeof key; i += 4) {
    const uint32_t r = rand32();
    memcpy(key + i, &r, 4);
  }
  const std::string k = Base64(key, sizeof key);
  c.accept = AcceptFor(k);
  std::string req = "GET " + opt_.path + " HTTP/1.1\r\nHost: " + opt_.host +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k +
                    "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  c.out.append(req.data(), req.size());
  c.st = St::kHandshake;
  if (flush(c)) {
    set_events(c, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
  }
}

bool Runner::flush(Conn& c) {
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.consume(static_cast<size_t>(n));
      if (recording_) {
        st_.bytes_written += static_cast<uint64_t>(n);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    }
    fail(c, kErrClosed, std::string("send: ") + strerror(errno));
    return false;
  }
  return true;
}

// Queues one masked binary message of opt_.size bytes.
void Runner::send_message(Conn& c) {
  uint8_t mask[4];
  const uint32_t r = rand32();
  memcpy(mask, &r, 4);
  uint8_t h[kMaxHeader];
  const size_t hl = WriteHeader(h, kOpBinary, opt_.size, mask);
  c.out.append(h, hl);
  uint8_t* p = c.out.tail(opt_.size);
  memcpy(p, pattern_.data(), opt_.size);
  ApplyMask(p, opt_.size, mask);
  c.out.commit(opt_.size);
  const auto depth = static_cast<uint32_t>(c.sent.size());
  c.sent[(c.sent_head + c.inflight) % depth] = now_;
  ++c.inflight;
  if (recording_) {
    ++st_.sent;
  }
}

// An echo arrived whole.
void Runner::complete(Conn& c) {
  if (c.inflight == 0) {
    fail(c, kErrProtocol, "an echo for no message in flight");
    return;
  }
  const uint64_t t = c.sent[c.sent_head];
  c.sent_head = (c.sent_head + 1) % static_cast<uint32_t>(c.sent.size());
  --c.inflight;
  if (recording_) {
    ++st_.messages;
    st_.latency.record(now_ - t);
  }
  if (!stopping_) {
    send_message(c);
  }
}

size_t Runner::handshake(Conn& c) {
  const std::string_view data(reinterpret_cast<const char*>(c.in.data()), c.in.size());
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxHead) {
      fail(c, kErrHandshake, "handshake: response head over 8 KiB");
    }
    return 0;
  }
  const std::string_view head = data.substr(0, end + 2);
  const std::string_view line = head.substr(0, head.find("\r\n"));
  if (line.substr(0, 13) != "HTTP/1.1 101 ") {
    fail(c, kErrHandshake, "handshake: " + std::string(line.substr(0, 120)));
    return 0;
  }
  if (HeaderValue(head, "sec-websocket-accept") != c.accept) {
    fail(c, kErrHandshake,
         "handshake: wrong Sec-WebSocket-Accept '" +
             std::string(HeaderValue(head, "sec-websocket-accept")) + "'");
    return 0;
  }
  if (!HasToken(HeaderValue(head, "upgrade"), "websocket") ||
      !HasToken(HeaderValue(head, "connection"), "upgrade")) {
    fail(c, kErrHandshake, "handshake: 101 without Upgrade: websocket / Connection: upgrade");
    return 0;
  }
  c.st = St::kOpen;
  --pending_;
  ++opened_;
  c.sent.assign(opt_.pipeline, 0);
  if (!stopping_) {
    for (uint32_t i = 0; i < opt_.pipeline; ++i) {
      send_message(c);
    }
  }
  return end + 4;
}

// Echo frames in c.in; returns the bytes consumed.
size_t Runner::frames(Conn& c) {
  uint8_t* p = c.in.data();
  const size_t n = c.in.size();
  size_t off = 0;
  while (off < n && c.st == St::kOpen) {
    FrameHeader h;
    const int r = ParseHeader(p + off, n - off, &h);
    if (r == 0) {
      break;
    }
    if (r < 0 || h.masked || h.rsv != 0) {
      fail(c, kErrProtocol, "protocol: bad frame header from the server");
      return 0;
    }
    if (h.length > kMaxMessage + kMaxHeader) {
      fail(c, kErrProtocol, "protocol: frame of " + std::to_string(h.length) + " bytes");
      return 0;
    }
    const size_t total = h.header_len + static_cast<size_t>(h.length);
    if (n - off < total) {
      c.in.tail(total - (n - off));  // room for the rest
      break;
    }
    const uint8_t* payload = p + off + h.header_len;
    const auto len = static_cast<size_t>(h.length);
    off += total;
    switch (h.opcode) {
      case kOpPing: {
        uint8_t mask[4];
        const uint32_t m = rand32();
        memcpy(mask, &m, 4);
        uint8_t hb[kMaxHeader];
        const size_t hl = WriteHeader(hb, kOpPong, len, mask);
        c.out.append(hb, hl);
        uint8_t* q = c.out.tail(len);
        memcpy(q, payload, len);
        ApplyMask(q, len, mask);
        c.out.commit(len);
        break;
      }
      case kOpPong:
        break;
      case kOpClose:
        fail(c, kErrClosed, "closed: close frame from the server");
        return 0;
      case kOpBinary:
      case kOpContinuation:
        if ((h.opcode == kOpBinary) == c.in_msg) {
          fail(c, kErrProtocol, "protocol: unexpected continuation / interleaved message");
          return 0;
        }
        c.in_msg = true;
        if (c.msg_got + len > opt_.size || memcmp(payload, pattern_.data() + c.msg_got, len) != 0) {
          fail(c, kErrMismatch, "mismatch: the echo differs from the message sent");
          return 0;
        }
        c.msg_got += len;
        if (h.fin) {
          if (c.msg_got != opt_.size) {
            fail(c, kErrMismatch, "mismatch: echo of " + std::to_string(c.msg_got) + " bytes");
            return 0;
          }
          c.in_msg = false;
          c.msg_got = 0;
          complete(c);
        }
        break;
      default:
        fail(c, kErrProtocol, "protocol: opcode " + std::to_string(h.opcode));
        return 0;
    }
  }
  return off;
}

void Runner::on_readable(Conn& c) {
  for (;;) {
    uint8_t* dst = c.in.tail(kReadChunk);
    const size_t want = c.in.tail_room();
    const ssize_t n = recv(c.fd, dst, want, 0);
    if (n == 0) {
      fail(c, c.st == St::kOpen ? kErrClosed : kErrHandshake,
           c.st == St::kOpen ? "closed: the server closed the connection"
                             : "handshake: closed before the 101");
      return;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        fail(c, c.st == St::kOpen ? kErrClosed : kErrHandshake,
             std::string("recv: ") + strerror(errno));
      }
      return;
    }
    c.in.commit(static_cast<size_t>(n));
    now_ = NowNs();  // a loop over large frames can take a while
    if (recording_) {
      st_.bytes_read += static_cast<uint64_t>(n);
    }
    if (c.st == St::kHandshake) {
      const size_t used = handshake(c);
      if (c.st != St::kOpen) {
        return;
      }
      c.in.consume(used);
    }
    if (c.st == St::kOpen && !c.in.empty()) {
      const size_t used = frames(c);
      if (c.st != St::kOpen) {
        return;
      }
      c.in.consume(used);
    }
    if (!flush(c)) {
      return;
    }
    set_events(c, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
    if (static_cast<size_t>(n) < want) {
      return;
    }
  }
}

// Timeouts: a connection not upgraded, or an echo not back, within the timeout.
void Runner::scan() {
  for (Conn& c : conns_) {
    if ((c.st == St::kConnecting || c.st == St::kHandshake) && now_ - c.started > opt_.timeout_ns) {
      fail(c, c.st == St::kConnecting ? kErrConnect : kErrHandshake,
           c.st == St::kConnecting ? "connect: timed out" : "handshake: no 101 in time");
    } else if (c.st == St::kOpen && c.inflight > 0 && !stopping_ &&
               now_ - c.sent[c.sent_head] > opt_.timeout_ns) {
      fail(c, kErrTimeout, "timeout: no echo in time");
    }
  }
}

int Runner::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  now_ = NowNs();
  pending_ = opt_.connections;
  for (Conn& c : conns_) {
    start(c);
  }
  const uint64_t deadline_setup = now_ + opt_.timeout_ns + kNs;
  uint64_t next_scan = now_ + 100'000'000;
  std::vector<epoll_event> events(512);
  for (;;) {
    now_ = NowNs();
    if (!recording_ && measure_start_ == 0 && (pending_ == 0 || now_ >= deadline_setup)) {
      measure_start_ = now_ + opt_.warmup_ns;  // everyone is upgraded (or failed)
      measure_end_ = measure_start_ + opt_.duration_ns;
    }
    if (!recording_ && measure_start_ != 0 && now_ >= measure_start_) {
      uint64_t errors[kErrKinds];  // set-up failures count too
      memcpy(errors, st_.errors, sizeof errors);
      st_ = Stats{};
      memcpy(st_.errors, errors, sizeof errors);
      recording_ = true;
      cpu_start_ = CpuNs();
      measure_start_ = now_;
      measure_end_ = now_ + opt_.duration_ns;
    }
    if (recording_ && now_ >= measure_end_) {
      stopping_ = true;
      break;
    }
    if (g_stop != 0) {
      stopping_ = true;
      if (recording_) {
        measure_end_ = now_;
      }
      break;
    }
    if (measure_start_ != 0 && opened_ == 0 && pending_ == 0) {
      break;  // nothing to measure
    }
    if (now_ >= next_scan) {
      scan();
      next_scan = now_ + 100'000'000;
    }
    uint64_t until = next_scan;
    if (measure_start_ != 0) {
      until = std::min(until, recording_ ? measure_end_ : measure_start_);
    }
    const int ms = until > now_ ? static_cast<int>((until - now_ + 999'999) / 1'000'000) : 0;
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), ms);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      perror("ringway-ws-load: epoll_wait");
      return 1;
    }
    now_ = NowNs();
    for (int i = 0; i < n; ++i) {
      Conn& c = conns_[static_cast<size_t>(events[i].data.u64)];
      if (c.st == St::kDead) {
        continue;
      }
      const uint32_t ev = events[i].events;
      if (c.st == St::kConnecting) {
        if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
          on_connected(c);
        }
        continue;
      }
      if ((ev & EPOLLOUT) != 0) {
        if (!flush(c)) {
          continue;
        }
        set_events(c, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
      }
      if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        on_readable(c);
      }
    }
  }
  if (recording_) {
    cpu_used_ = CpuNs() - cpu_start_;
  }
  for (Conn& c : conns_) {
    if (c.fd >= 0) {
      close(c.fd);
    }
  }
  return opened_ > 0 && st_.messages > 0 ? 0 : 1;
}

std::string JsonString(std::string_view s) {
  std::string o = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += ch;
    } else if (u < 0x20) {
      char b[8];
      snprintf(b, sizeof b, "\\u%04x", u);
      o += b;
    } else {
      o += ch;
    }
  }
  return o + "\"";
}

void Runner::report() const {
  const double secs = recording_ ? static_cast<double>(measure_end_ - measure_start_) / 1e9 : 0.0;
  const double mps = secs > 0 ? static_cast<double>(st_.messages) / secs : 0.0;
  const auto us = [this](double q) { return static_cast<double>(st_.latency.quantile(q)) / 1e3; };
  uint64_t total = 0;
  for (uint64_t e : st_.errors) {
    total += e;
  }
  // CPUs this load generator used while measuring (near 1: it may be the bottleneck).
  const double load_cpu = secs > 0 ? static_cast<double>(cpu_used_) / 1e9 / secs : 0.0;
  uint32_t open = 0;
  for (const Conn& c : conns_) {
    open += c.st == St::kOpen ? 1 : 0;
  }
  if (opt_.json) {
    printf(
        "{\"target\":%s,\"connections\":%u,\"open_connections\":%u,\"size\":%llu,"
        "\"pipeline\":%u,\"duration_s\":%.3f,\"sent\":%llu,\"messages\":%llu,\"mps\":%.1f,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
        "\"mean_us\":%.1f,\"load_cpu\":%.3f,\"bytes_read\":%llu,\"bytes_written\":%llu,\"errors\":"
        "{",
        JsonString(opt_.url).c_str(), opt_.connections, open,
        static_cast<unsigned long long>(opt_.size), opt_.pipeline, secs,
        static_cast<unsigned long long>(st_.sent), static_cast<unsigned long long>(st_.messages),
        mps, us(0.5), us(0.9), us(0.99), us(0.999), static_cast<double>(st_.latency.max()) / 1e3,
        st_.latency.mean() / 1e3, load_cpu, static_cast<unsigned long long>(st_.bytes_read),
        static_cast<unsigned long long>(st_.bytes_written));
    for (int i = 0; i < kErrKinds; ++i) {
      printf("%s\"%s\":%llu", i > 0 ? "," : "", kErrNames[i],
             static_cast<unsigned long long>(st_.errors[i]));
    }
    printf("},\"errors_total\":%llu,\"first_error\":%s}\n", static_cast<unsigned long long>(total),
           JsonString(first_error_).c_str());
    return;
  }
  printf(
      "%s: %u connections (%u open at the end), %llu-byte binary messages, %u in flight "
      "each, %.2f s\n",
      opt_.url.c_str(), opt_.connections, open, static_cast<unsigned long long>(opt_.size),
      opt_.pipeline, secs);
  printf("  messages   %llu echoed of %llu sent, %.1f msg/s\n",
         static_cast<unsigned long long>(st_.messages), static_cast<unsigned long long>(st_.sent),
         mps);
  printf("  latency us p50 %.1f  p90 %.1f  p99 %.1f  p999 %.1f  max %.1f  mean %.1f\n", us(0.5),
         us(0.9), us(0.99), us(0.999), static_cast<double>(st_.latency.max()) / 1e3,
         st_.latency.mean() / 1e3);
  printf("  load CPU   %.3f CPUs used by this process while measuring\n", load_cpu);
  printf("  bytes      read %llu  written %llu\n", static_cast<unsigned long long>(st_.bytes_read),
         static_cast<unsigned long long>(st_.bytes_written));
  printf("  errors     %llu:", static_cast<unsigned long long>(total));
  for (int i = 0; i < kErrKinds; ++i) {
    printf(" %s %llu", kErrNames[i], static_cast<unsigned long long>(st_.errors[i]));
  }
  printf("\n");
  if (!first_error_.empty()) {
    printf("  first error: %s\n", first_error_.c_str());
  }
}

constexpr const char* kUsage =
    "usage: ringway-ws-load [options] ws://127.0.0.1:PORT/path\n"
    "  -c N          connections (default 64)\n"
    "  -d T          measured time: 10, 10s, 500ms, 2m (default 10 s)\n"
    "  -s B          message size in bytes, 0 to 1048576 (default 64)\n"
    "  -p D          messages in flight per connection (default 1)\n"
    "  -w T          warm-up after every connection is upgraded, not recorded (default 0)\n"
    "  --timeout T   per connect, upgrade and echo (default 5 s)\n"
    "  --json        one JSON object instead of the table\n"
    "Only 127.0.0.1, ::1 and localhost targets are accepted.\n";

// "10", "10s", "500ms", "2m" -> ns; 0 on error.
uint64_t ParseDuration(std::string_view s) {
  char* end = nullptr;
  const std::string str(s);
  const double v = strtod(str.c_str(), &end);
  const std::string_view unit(end);
  double mul = 1e9;
  if (unit == "ms") {
    mul = 1e6;
  } else if (unit == "m") {
    mul = 60e9;
  } else if (!unit.empty() && unit != "s") {
    return 0;
  }
  if (!(v > 0) || v > 3600 * (1e9 / mul)) {
    return 0;
  }
  return static_cast<uint64_t>(v * mul);
}

bool ParseUint(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty()) {
    return false;
  }
  uint64_t v = 0;
  for (const char ch : s) {
    if (ch < '0' || ch > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(ch - '0');
    if (v > max) {
      return false;
    }
  }
  *out = v;
  return true;
}

// ws://host[:port][/path]: host 127.0.0.1, localhost or [::1]. 2: refused, 1: malformed.
int ParseTarget(const std::string& url, Options* o, std::string* err) {
  if (url.rfind("ws://", 0) != 0) {
    *err = "the target must be ws://127.0.0.1:PORT/path";
    return 1;
  }
  std::string_view rest = std::string_view(url).substr(5);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  o->path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  o->host = std::string(authority);
  std::string_view host;
  std::string_view port = "80";
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *err = "bad target host in '" + url + "'";
      return 1;
    }
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        *err = "bad target '" + url + "'";
        return 1;
      }
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
    }
  }
  uint64_t p = 0;
  if (!ParseUint(port, 65535, &p) || p == 0) {
    *err = "bad port in '" + url + "'";
    return 1;
  }
  if (host == "127.0.0.1" || host == "localhost") {
    auto* a = reinterpret_cast<sockaddr_in*>(&o->addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(p));
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    o->addr_len = sizeof(sockaddr_in);
  } else if (host == "::1") {
    auto* a = reinterpret_cast<sockaddr_in6*>(&o->addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(p));
    a->sin6_addr = in6addr_loopback;
    o->addr_len = sizeof(sockaddr_in6);
  } else {
    *err = "refusing target host '" + std::string(host) +
           "': ringway-ws-load only sends to 127.0.0.1, ::1 or localhost";
    return 2;
  }
  return 0;
}

int Main(int argc, char** argv) {
  Options o;
  std::string target;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    uint64_t v = 0;
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "-c" && has_value) {
      if (!ParseUint(argv[++i], 100000, &v) || v == 0) {
        fprintf(stderr, "ringway-ws-load: -c takes 1 to 100000\n");
        return 2;
      }
      o.connections = static_cast<uint32_t>(v);
    } else if (a == "-p" && has_value) {
      if (!ParseUint(argv[++i], 1024, &v) || v == 0) {
        fprintf(stderr, "ringway-ws-load: -p takes 1 to 1024\n");
        return 2;
      }
      o.pipeline = static_cast<uint32_t>(v);
    } else if (a == "-s" && has_value) {
      if (!ParseUint(argv[++i], kMaxMessage, &o.size)) {
        fprintf(stderr, "ringway-ws-load: -s takes 0 to %llu bytes\n",
                static_cast<unsigned long long>(kMaxMessage));
        return 2;
      }
    } else if ((a == "-d" || a == "-w" || a == "--timeout") && has_value) {
      const uint64_t ns = ParseDuration(argv[++i]);
      if (ns == 0) {
        fprintf(stderr, "ringway-ws-load: bad time '%s' for %s\n", argv[i], argv[i - 1]);
        return 2;
      }
      (a == "-d" ? o.duration_ns : a == "-w" ? o.warmup_ns : o.timeout_ns) = ns;
    } else if (!a.empty() && a[0] != '-' && target.empty()) {
      target = std::string(a);
    } else {
      fprintf(stderr, "ringway-ws-load: bad argument '%s'\n%s", argv[i], kUsage);
      return 2;
    }
  }
  if (target.empty()) {
    fprintf(stderr, "%s", kUsage);
    return 2;
  }
  o.url = target;
  std::string err;
  if (const int r = ParseTarget(target, &o, &err); r != 0) {
    fprintf(stderr, "ringway-ws-load: %s\n", err.c_str());
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < o.connections + 16) {
    fprintf(stderr, "ringway-ws-load: open file limit %llu is too low for %u connections\n",
            static_cast<unsigned long long>(rl.rlim_cur), o.connections);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Runner r(o);
  const int rc = r.run();
  r.report();
  return rc;
}

}  // namespace
}  // namespace ringway::ws

int main(int argc, char** argv) { return ringway::ws::Main(argc, argv); }
