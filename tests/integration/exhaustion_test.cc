// Issue 19 (B): resource exhaustion by idle and slow clients. 10,000 keep-alive connections
// that made one request and then say nothing, and 1,000 slowloris connections that send a
// request line and then one header byte every 500 ms (never finishing the head), against a
// gateway with 2 s header and idle timeouts: every one of them is closed by those timeouts
// (each client socket reads EOF; /v1/shards counts no client connection), a normal request
// is served while they are open, and ringway's RSS comes back down.
//
// Memory. The attack adds ~22-50 MiB (peak). What stays afterwards, measured: before issue 19,
// ~18 MiB every time: each ClientConn (~1 KiB) and request parser of the burst was kept for
// reuse forever (core::Slab, ShardCore's parser lists). Now those are freed once unused for a
// trim interval (ShardCore::trim_idle); what remains (3-18 MiB, varying run to run) is in
// mimalloc's arena (freed memory it keeps, returned lazily) and in the receive buffer rings
// (buffers posted to the kernel keep their pages until used; BufRing::trim shrinks the depth),
// i.e. allocator and ring caching, not objects held. So the test asserts a bound for each
// round (kRetainedMaxKib) and, to tell a leak from caching, runs the attack three times: a
// per-connection leak of even 1 KiB would add 22 MiB over the last two rounds.
// (max_connections and running out of descriptors are limits_test.cc and accept_test.cc.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace ringway::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kIdle = 10000;
constexpr int kSlow = 1000;
constexpr int kTimeoutMs = 2000;     // client_header_timeout_ms and client_idle_timeout_ms
constexpr int kDripMs = 500;         // a slowloris byte every 500 ms: never a 2 s silence
constexpr int kMaxConnecting = 512;  // connects in flight (the listen backlog is 4096)
constexpr int kRoundDeadlineMs = 25000;
constexpr int kRounds = 3;
// RSS after a round (settled) at most this far above the start: ~2 KiB per connection of the
// burst. Buffers held per idle connection (4-16 KiB each) would be 44-176 MiB.
constexpr long kRetainedMaxKib = 24 * 1024;
// The last round's settled RSS at most this far above the first's (run-to-run noise of the
// allocator's caching was up to ~10 MiB; a 1 KiB-per-connection leak is 22 MiB).
constexpr long kRoundGrowthMaxKib = 12 * 1024;
// Each side of a loopback connection is in its own process (this test, ringway), so each
// process needs one descriptor per connection plus a margin; ringway inherits this limit.
constexpr rlim_t kNeededFds = kIdle + kSlow + 1000;

enum class Kind { kIdle, kSlow };
enum class Phase { kConnecting, kAwaitResponse, kQuiet, kClosed };

struct Conn {
  int fd = -1;
  Kind kind = Kind::kIdle;
  Phase phase = Phase::kConnecting;
  std::string in;
  SteadyClock::time_point quiet_since;  // idle: response read; slow: request line sent
  SteadyClock::time_point next_drip;
  int unexpected = 0;  // idle connections: bytes after the response (none expected)
};

struct RoundResult {
  int answered = 0;  // idle connections that got their 200
  int closed = 0;    // connections that read EOF (or a reset)
  int refused = 0;   // connects or writes that failed before the gateway closed them
  int unexpected = 0;
  long rss_peak = -1;
  int open_peak = 0;  // gateway client connections seen while the attack was open
  bool normal_ok = false;
  double max_close_ms[2] = {0, 0};  // idle, slow: quiet -> EOF
  double all_closed_s = 0;          // start -> last EOF
  std::string error;
};

int ClientConnections(int admin_port) {
  return static_cast<int>(ShardTotal(admin_port, {"client_connections"}));
}

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One attack: kIdle + kSlow connections, driven by one epoll loop until all are closed.
RoundResult Attack(Gateway& gw, int port, int admin_port) {
  RoundResult res;
  std::vector<Conn> conns(kIdle + kSlow);
  for (int i = 0; i < kIdle + kSlow; ++i) {
    conns[static_cast<size_t>(i)].kind = i % 11 == 10 ? Kind::kSlow : Kind::kIdle;
  }
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::milliseconds(kRoundDeadlineMs);
  size_t next_open = 0;
  int connecting = 0;
  int open_or_done = 0;  // past connecting
  int closed = 0;
  auto last_sample = start;
  const std::string ping = "GET /ping HTTP/1.1\r\nHost: exhaust\r\n\r\n";
  auto finish = [&](Conn& c, bool eof) {
    if (c.phase == Phase::kConnecting) {
      --connecting;
    }
    if (eof) {
      double ms = Ms(SteadyClock::now() - c.quiet_since);
      double& m = res.max_close_ms[c.kind == Kind::kSlow];
      m = std::max(m, ms);
      res.closed++;
    } else {
      res.refused++;
    }
    res.unexpected += c.unexpected;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
    c.phase = Phase::kClosed;
    ++closed;
  };
  std::vector<epoll_event> events(1024);
  while (closed < static_cast<int>(conns.size())) {
    auto now = SteadyClock::now();
    if (now >= deadline) {
      res.error = "not all connections closed within " + std::to_string(kRoundDeadlineMs) +
                  " ms: " + std::to_string(closed) + " of " + std::to_string(conns.size());
      break;
    }
    // Open more while few connects are in flight.
    while (next_open < conns.size() && connecting < kMaxConnecting) {
      Conn& c = conns[next_open];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        res.error = std::string("socket: ") + std::strerror(errno);
        break;
      }
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      int rc = ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = next_open;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      ++connecting;
      ++next_open;
      if (rc != 0 && errno != EINPROGRESS) {
        finish(c, false);
      }
    }
    if (!res.error.empty()) {
      break;
    }
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 20);
    now = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[static_cast<size_t>(i)].data.u64];
      if (c.phase == Phase::kClosed) {
        continue;
      }
      const uint32_t e = events[static_cast<size_t>(i)].events;
      if (c.phase == Phase::kConnecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (e & EPOLLOUT) == 0) {
          finish(c, false);
          continue;
        }
        --connecting;
        ++open_or_done;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = events[static_cast<size_t>(i)].data.u64;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        bool sent = c.kind == Kind::kIdle
                        ? SendAll(c.fd, ping)
                        : SendAll(c.fd, "GET /ping HTTP/1.1\r\nHost: exhaust\r\nX-Slow: ");
        if (!sent) {
          finish(c, false);
          continue;
        }
        c.phase = c.kind == Kind::kIdle ? Phase::kAwaitResponse : Phase::kQuiet;
        c.quiet_since = now;
        c.next_drip = now + std::chrono::milliseconds(kDripMs);
        continue;
      }
      char buf[4096];
      ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r > 0) {
        if (c.phase == Phase::kAwaitResponse) {
          c.in.append(buf, static_cast<size_t>(r));
          if (c.in.starts_with("HTTP/1.1 200") && c.in.ends_with(kPingBody)) {
            c.phase = Phase::kQuiet;
            c.quiet_since = now;
            res.answered++;
            c.in.clear();
            c.in.shrink_to_fit();
          }
        } else if (c.kind == Kind::kIdle) {
          c.unexpected += static_cast<int>(r);
        }  // a slowloris may be told 408 before the close
        continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        continue;
      }
      // EOF or reset: the gateway closed it.
      if (c.phase == Phase::kAwaitResponse) {
        res.error = "an idle connection was closed before its response";
      }
      finish(c, true);
    }
    // Slowloris drips.
    for (Conn& c : conns) {
      if (c.kind == Kind::kSlow && c.phase == Phase::kQuiet && now >= c.next_drip) {
        c.next_drip = now + std::chrono::milliseconds(kDripMs);
        if (::send(c.fd, "a", 1, MSG_NOSIGNAL) != 1) {
          // The gateway closed it: the EOF is read next (or the reset now).
          if (errno != EAGAIN) {
            finish(c, true);
          }
        }
      }
    }
    // Every connection is open (or done): a normal request must still be served.
    if (!res.normal_ok && next_open == conns.size() && connecting == 0) {
      res.open_peak = ClientConnections(admin_port);
      std::optional<Response> r = HttpGet(port, "/ping");
      res.normal_ok = r && r->status == 200 && r->body == kPingBody;
      if (!res.normal_ok) {
        res.error = "a normal request failed during the attack: " +
                    (r ? std::to_string(r->status) + " " + r->body : std::string("no response"));
      }
    }
    if (now - last_sample > std::chrono::milliseconds(200)) {
      last_sample = now;
      res.rss_peak = std::max(res.rss_peak, gw.RssKib());
    }
  }
  res.all_closed_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (Conn& c : conns) {
    if (c.fd >= 0) {
      ::close(c.fd);
    }
  }
  ::close(ep);
  (void)open_or_done;
  return res;
}

class ExhaustionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As many descriptors as allowed (root may raise the hard limit too).
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    rlimit want{std::max(lim.rlim_max, kNeededFds), std::max(lim.rlim_max, kNeededFds)};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      lim.rlim_cur = lim.rlim_max;
      setrlimit(RLIMIT_NOFILE, &lim);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < kNeededFds) {
      GTEST_SKIP() << "RLIMIT_NOFILE is " << lim.rlim_cur << " (hard " << lim.rlim_max
                   << "): this test needs " << kNeededFds << " descriptors per process";
    }
    ConfigSpec spec;
    spec.limits = R"("client_header_timeout_ms": )" + std::to_string(kTimeoutMs) +
                  R"(, "client_idle_timeout_ms": )" + std::to_string(kTimeoutMs) +
                  R"(, "max_connections": 20000)";
    spec.extra = R"("admin": {"address": "127.0.0.1:0"})";
    spec.apis = {PingApi()};
    GatewayOptions opts;
    opts.log_level = "info";
    ASSERT_TRUE(gw_.Start(BuildConfig(spec), opts));
    admin_ = gw_.port("admin");
    ASSERT_GT(admin_, 0) << gw_.LogTail();
  }

  Gateway gw_;
  int admin_ = -1;
};

// RSS after the connections are gone, once it stops falling (buffer pages are trimmed once
// a second; mimalloc purges freed pages shortly after): the lowest of the samples of a few
// seconds.
long SettledRss(Gateway& gw) {
  long low = gw.RssKib();
  (void)PollUntil(
      [&] {
        low = std::min(low, gw.RssKib());
        return false;
      },
      4000);
  return low;
}

TEST_F(ExhaustionTest, IdleAndSlowlorisConnectionsAreClosedByTimeoutsAndMemoryComesBack) {
  const int port = gw_.port();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(HasStatus(HttpGet(port, "/ping"), 200));
  }
  const long rss_start = SettledRss(gw_);
  long rss_after[kRounds] = {};
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round + 1));
    RoundResult r = Attack(gw_, port, admin_);
    int open = -1;
    EXPECT_TRUE(PollUntil([&] { return (open = ClientConnections(admin_)) == 0; }, 5000))
        << open << " client connections still open";
    rss_after[round] = SettledRss(gw_);
    std::printf(
        "exhaustion round %d: %d idle answered, %d closed by the gateway, %d refused, peak %d "
        "client connections; closed after quiet: idle max %.0f ms, slowloris max %.0f ms "
        "(timeouts %d ms); all closed %.1f s after the first connect; RSS KiB start %ld peak "
        "%ld end %ld\n",
        round + 1, r.answered, r.closed, r.refused, r.open_peak, r.max_close_ms[0],
        r.max_close_ms[1], kTimeoutMs, r.all_closed_s, rss_start, r.rss_peak, rss_after[round]);
    std::fflush(stdout);
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_TRUE(r.normal_ok);
    EXPECT_EQ(r.answered, kIdle);
    EXPECT_EQ(r.closed, kIdle + kSlow);
    EXPECT_EQ(r.refused, 0);
    EXPECT_EQ(r.unexpected, 0) << "bytes sent on idle connections after their response";
    EXPECT_GE(r.open_peak, (kIdle + kSlow) / 2) << "the attack was not open all at once";
    // Closed by the timeouts, not much after (the timer wheel's tick, a loaded machine). The
    // time is from when this loop saw the response, which may lag the gateway's send.
    EXPECT_GE(r.max_close_ms[0], kTimeoutMs - 500);
    EXPECT_LE(r.max_close_ms[0], kTimeoutMs + 3000);
    EXPECT_LE(r.max_close_ms[1], kTimeoutMs + 3000);
    EXPECT_LE(rss_after[round], rss_start + kRetainedMaxKib);
    ASSERT_TRUE(gw_.running()) << gw_.LogTail();
  }
  EXPECT_LE(rss_after[kRounds - 1], rss_after[0] + kRoundGrowthMaxKib)
      << "memory grows round after round: a leak";
}

}  // namespace
}  // namespace ringway::integration
