// Unit tests for src/health: the threshold state machine (no I/O), the wire helpers, target
// building from a configuration, and the Checker against real sockets on 127.0.0.1 with
// OS-chosen ports. Waiting is always polling run_for() against a deadline, never sleeping.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "health/probe.h"
#include "ringway/clock.h"
#include "ringway/health.h"

namespace ringway::health {
namespace {

// --- MemberState -----------------------------------------------------------------------

TEST(MemberState, GoesDownAfterExactlyUnhealthyThresholdFailures) {
  MemberState m(2, 3);
  EXPECT_TRUE(m.up());  // members start healthy
  EXPECT_FALSE(m.record(false));
  EXPECT_FALSE(m.record(false));
  EXPECT_TRUE(m.up());
  EXPECT_EQ(m.failures(), 2u);
  EXPECT_TRUE(m.record(false));  // the third consecutive failure
  EXPECT_FALSE(m.up());
  EXPECT_EQ(m.failures(), 3u);
  EXPECT_FALSE(m.record(false));  // already down: no new transition
  EXPECT_EQ(m.failures(), 4u);
}

TEST(MemberState, ComesUpAfterExactlyHealthyThresholdSuccesses) {
  MemberState m(2, 2);
  m.record(false);
  ASSERT_TRUE(m.record(false));
  EXPECT_FALSE(m.record(true));
  EXPECT_FALSE(m.up());
  EXPECT_EQ(m.successes(), 1u);
  EXPECT_FALSE(m.record(false));  // a failure breaks the streak
  EXPECT_EQ(m.successes(), 0u);
  EXPECT_FALSE(m.record(true));
  EXPECT_TRUE(m.record(true));
  EXPECT_TRUE(m.up());
  EXPECT_EQ(m.successes(), 2u);
  EXPECT_EQ(m.failures(), 0u);
}

TEST(MemberState, SuccessResetsTheFailureStreakWhileUp) {
  MemberState m(2, 2);
  m.record(false);
  m.record(true);
  EXPECT_EQ(m.failures(), 0u);
  EXPECT_FALSE(m.record(false));
  EXPECT_TRUE(m.up());
}

// --- wire helpers ----------------------------------------------------------------------

TEST(Probe, BuildsTheRequestLineAndHeaders) {
  Target t;
  t.protocol = Protocol::kHttp;
  t.method = HttpMethod::kHead;
  t.path = "/health?x=1";
  t.host = "orders.internal:8080";
  EXPECT_EQ(internal::build_request(t),
            "HEAD /health?x=1 HTTP/1.1\r\nHost: orders.internal:8080\r\nConnection: close\r\n"
            "User-Agent: ringway-health\r\n\r\n");
  t.protocol = Protocol::kTcp;
  EXPECT_EQ(internal::build_request(t), "");
}

TEST(Probe, ParsesStatusLines) {
  using internal::StatusLine;
  uint16_t status = 0;
  EXPECT_EQ(internal::parse_status_line("HTTP/1.1 503 Service Unavailable\r\nX: y", &status),
            StatusLine::kOk);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(internal::parse_status_line("HTTP/1.0 200\r\n", &status), StatusLine::kOk);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(internal::parse_status_line("HTTP/1.1 20", &status), StatusLine::kIncomplete);
  EXPECT_EQ(internal::parse_status_line("SSH-2.0-OpenSSH\r\n", &status), StatusLine::kBad);
  EXPECT_EQ(internal::parse_status_line("HTTP/1.1 2000 OK\r\n", &status), StatusLine::kBad);
  EXPECT_EQ(internal::parse_status_line("HTTP/1.1 099 OK\r\n", &status), StatusLine::kBad);
}

TEST(Probe, AcceptsStatusesInRangesAndNamesFailures) {
  std::vector<std::pair<uint16_t, uint16_t>> codes{{200, 201}, {208, 209}};
  EXPECT_TRUE(internal::status_accepted(codes, 201));
  EXPECT_TRUE(internal::status_accepted(codes, 208));
  EXPECT_FALSE(internal::status_accepted(codes, 204));
  EXPECT_EQ(internal::errno_reason(-ECONNREFUSED), "refused");
  EXPECT_EQ(internal::errno_reason(-ECANCELED), "timeout");
  EXPECT_EQ(internal::errno_reason(-ECONNRESET), "reset");
  EXPECT_EQ(internal::errno_reason(-EHOSTUNREACH), "error: No route to host");
}

// --- targets_for -----------------------------------------------------------------------

config::Config two_channels() {
  config::Config cfg;
  config::Channel checked;
  checked.name = "orders";
  checked.port = 9001;
  checked.members = {{.host = "127.0.0.1", .port = 0},
                     {.host = "127.0.0.2", .port = 9002, .enabled = false},
                     {.host = "127.0.0.3", .port = 80}};  // (a name would need /etc/hosts)
  config::HealthCheck hc;
  hc.protocol = config::CheckProtocol::kHttp;
  hc.path = "/health";
  hc.method = "HEAD";
  hc.timeout_s = 2;
  hc.interval_s = 5;
  hc.healthy_threshold = 2;
  hc.unhealthy_threshold = 3;
  hc.codes = {{200, 200}, {208, 209}};
  checked.health_check = hc;
  config::Channel unchecked;
  unchecked.name = "users";
  unchecked.port = 7000;
  unchecked.members = {{.host = "127.0.0.1"}};
  cfg.channels = {unchecked, checked};
  return cfg;
}

uint16_t port_of(const Target& t) {
  return ntohs(reinterpret_cast<const sockaddr_in*>(&t.addr)->sin_port);
}

TEST(TargetsFor, ChecksEnabledMembersOfCheckedChannelsInOrder) {
  TargetSet set = targets_for(two_channels());
  EXPECT_TRUE(set.errors.empty());
  ASSERT_EQ(set.members.size(), 2u);
  EXPECT_EQ(set.members[0], (std::vector<uint32_t>{kNotChecked}));        // channel without a check
  EXPECT_EQ(set.members[1], (std::vector<uint32_t>{0, kNotChecked, 1}));  // disabled member
  ASSERT_EQ(set.targets.size(), 2u);
  const Target& a = set.targets[0];
  EXPECT_EQ(port_of(a), 9001);  // member port 0 = channel port; check port 0 = member port
  EXPECT_EQ(a.protocol, Protocol::kHttp);
  EXPECT_EQ(a.method, HttpMethod::kHead);
  EXPECT_EQ(a.host, "127.0.0.1:9001");
  EXPECT_EQ(a.timeout_ms, 2000u);
  EXPECT_EQ(a.interval_ms, 5000u);
  EXPECT_EQ(a.unhealthy_threshold, 3u);
  EXPECT_EQ(a.label, "channel orders member 127.0.0.1:9001");
  EXPECT_EQ(set.targets[1].host, "127.0.0.3");  // port 80 is left out of Host
  EXPECT_NE(a.key, set.targets[1].key);
}

TEST(TargetsFor, KeyFollowsAddressAndSettings) {
  config::Config cfg = two_channels();
  std::string key = targets_for(cfg).targets[0].key;
  EXPECT_EQ(targets_for(cfg).targets[0].key, key);  // deterministic
  cfg.channels[1].health_check->port = 9100;
  Target moved = targets_for(cfg).targets[0];
  EXPECT_EQ(port_of(moved), 9100);
  EXPECT_NE(moved.key, key);
  cfg.channels[1].health_check->port = 0;
  cfg.channels[1].health_check->unhealthy_threshold = 4;
  EXPECT_NE(targets_for(cfg).targets[0].key, key);
}

// --- Checker with real sockets ---------------------------------------------------------

// A TCP socket bound to 127.0.0.1 on an OS-chosen port. Until listen() it refuses
// connections, so a port can be "closed" and later opened without a race for the number.
class Port {
 public:
  Port() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Port() { close(fd_); }
  void listen() { EXPECT_EQ(::listen(fd_, 64), 0); }
  int fd() const { return fd_; }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
};

// Answers each connection with "HTTP/1.1 <status>" after reading the request head, then
// closes it. `status` may change while it runs; 0 sends a line that is not HTTP.
class Responder {
 public:
  Responder() {
    port_.listen();
    thread_ = std::thread([this] { serve(); });
  }
  ~Responder() {
    shutdown(port_.fd(), SHUT_RDWR);  // makes accept() fail: the thread ends
    thread_.join();
  }
  uint16_t port() const { return port_.port(); }
  std::string first_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_request_;
  }
  std::atomic<int> status{200};

 private:
  void serve() {
    for (;;) {
      int c = accept(port_.fd(), nullptr, nullptr);
      if (c < 0) {
        return;
      }
      std::string req;
      char buf[512];
      ssize_t n = 0;
      while (req.find("\r\n\r\n") == std::string::npos && (n = read(c, buf, sizeof(buf))) > 0) {
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (first_request_.empty()) {
          first_request_ = req;
        }
      }
      int s = status.load();
      std::string resp = s == 0
                             ? "SSH-2.0-nope\r\n"
                             : "HTTP/1.1 " + std::to_string(s) + " X\r\nContent-Length: 0\r\n\r\n";
      send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  Port port_;
  std::mutex mu_;
  std::string first_request_;
  std::thread thread_;
};

Target local_target(uint16_t port, Protocol protocol, uint32_t interval_ms = 10,
                    uint32_t timeout_ms = 1000) {
  Target t;
  auto* a = reinterpret_cast<sockaddr_in*>(&t.addr);
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a->sin_port = htons(port);
  t.addr_len = sizeof(sockaddr_in);
  t.protocol = protocol;
  t.path = "/health";
  t.host = "127.0.0.1:" + std::to_string(port);
  t.timeout_ms = timeout_ms;
  t.interval_ms = interval_ms;
  t.healthy_threshold = 2;
  t.unhealthy_threshold = 3;
  t.label = "channel test member " + t.host;
  t.key = identity_key("test", t);
  return t;
}

// Drives the checker until `done` holds; false after 5 s of real time.
bool run_until(Checker& checker, const std::function<bool()>& done) {
  SteadyClock real;
  const uint64_t end = real.now_ms() + 5000;
  while (!done()) {
    if (real.now_ms() >= end) {
      return false;
    }
    checker.run_for(20);
  }
  return true;
}

// Drives the checker until target 0 is `up`. run_for() returns as soon as a state changes
// and one target has one check at a time, so the streak counters are exact afterwards.
bool run_until_up_is(Checker& checker, bool up) {
  return run_until(checker, [&] { return (checker.up()[0] == 1) == up; });
}

size_t open_fds() {
  size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) {
    ++n;
  }
  closedir(d);
  return n;
}

TEST(Checker, TcpCheckOfAListeningSocketStaysUp) {
  Port port;
  port.listen();
  SteadyClock clock;
  Checker checker(clock);
  checker.set_targets({local_target(port.port(), Protocol::kTcp)});
  ASSERT_TRUE(run_until(checker, [&] { return checker.state(0).successes() >= 3; }));
  EXPECT_EQ(checker.up(), std::vector<uint8_t>{1});
  EXPECT_EQ(checker.state(0).failures(), 0u);
}

TEST(Checker, ClosedPortGoesDownAfterThresholdAndComesBackWhenListening) {
  Port port;  // bound, not listening: connections are refused
  SteadyClock clock;
  Checker checker(clock);
  checker.set_targets({local_target(port.port(), Protocol::kTcp)});
  uint64_t version = checker.version();
  ASSERT_TRUE(run_until_up_is(checker, false));
  EXPECT_EQ(checker.checks(0), 3u);
  EXPECT_EQ(checker.state(0).failures(), 3u);
  EXPECT_EQ(checker.last_failure(0), "refused");
  EXPECT_GT(checker.version(), version);
  port.listen();  // no check is in flight when run_for() reported the change
  ASSERT_TRUE(run_until_up_is(checker, true));
  EXPECT_EQ(checker.checks(0), 5u);
  EXPECT_EQ(checker.state(0).successes(), 2u);
}

TEST(Checker, HttpCheckFollowsTheStatusBothWays) {
  Responder server;
  SteadyClock clock;
  Checker checker(clock);
  checker.set_targets({local_target(server.port(), Protocol::kHttp)});
  ASSERT_TRUE(run_until(checker, [&] { return checker.state(0).successes() >= 2; }));
  EXPECT_EQ(server.first_request(),
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(server.port()) +
                "\r\nConnection: close\r\nUser-Agent: ringway-health\r\n\r\n");
  server.status = 503;
  ASSERT_TRUE(run_until_up_is(checker, false));
  EXPECT_EQ(checker.state(0).failures(), 3u);
  EXPECT_EQ(checker.last_failure(0), "status 503");
  server.status = 0;
  ASSERT_TRUE(run_until(checker, [&] { return checker.last_failure(0) == "bad response"; }));
  server.status = 200;
  ASSERT_TRUE(run_until_up_is(checker, true));
  EXPECT_EQ(checker.state(0).successes(), 2u);
}

TEST(Checker, ServerThatNeverAnswersTimesOut) {
  Port port;
  port.listen();  // the kernel completes connections; nobody reads or writes
  SteadyClock clock;
  Checker checker(clock);
  checker.set_targets({local_target(port.port(), Protocol::kHttp, 10, 50)});
  const uint64_t start = clock.now_ms();
  ASSERT_TRUE(run_until_up_is(checker, false));
  EXPECT_EQ(checker.checks(0), 3u);
  EXPECT_EQ(checker.last_failure(0), "timeout");
  EXPECT_GE(clock.now_ms() - start, 3 * 50u - 10);  // coarse clock slack
}

TEST(Checker, ChecksStartOnlyWhenTheIntervalElapsed) {
  Port port;
  port.listen();
  ManualClock clock;
  Checker checker(clock);
  checker.set_targets({local_target(port.port(), Protocol::kTcp, 1000)});
  ASSERT_TRUE(run_until(checker, [&] { return checker.checks(0) == 1; }));
  for (int i = 0; i < 3; ++i) {
    checker.run_for(5);  // real time passes, the clock does not
  }
  clock.advance(999);
  checker.run_for(5);
  EXPECT_EQ(checker.checks(0), 1u);
  EXPECT_EQ(checker.in_flight(), 0u);
  clock.advance(1);
  ASSERT_TRUE(run_until(checker, [&] { return checker.checks(0) == 2; }));
}

// Runs one check round of every target: advances the clock by the interval and waits.
void round(Checker& checker, ManualClock& clock, uint64_t expected_checks) {
  clock.advance(1000);
  ASSERT_TRUE(run_until(checker, [&] {
    for (size_t i = 0; i < checker.up().size(); ++i) {
      if (checker.checks(i) != expected_checks) {
        return false;
      }
    }
    return true;
  }));
}

TEST(Checker, SetTargetsKeepsStateOfUnchangedKeysAndResetsChangedOnes) {
  Port closed;
  Port open;
  open.listen();
  ManualClock clock;
  Checker checker(clock);
  Target a = local_target(closed.port(), Protocol::kTcp, 1000);
  Target b = local_target(open.port(), Protocol::kTcp, 1000);
  checker.set_targets({a, b});
  for (uint64_t n = 1; n <= 3; ++n) {
    round(checker, clock, n);
  }
  ASSERT_EQ(checker.up(), (std::vector<uint8_t>{0, 1}));
  ASSERT_EQ(checker.state(1).successes(), 3u);

  Target b_changed = b;
  b_changed.unhealthy_threshold = 4;
  b_changed.key = identity_key("test", b_changed);
  Target c = local_target(closed.port(), Protocol::kHttp, 1000);
  uint64_t version = checker.version();
  checker.set_targets({c, b_changed, a});
  EXPECT_GT(checker.version(), version);
  EXPECT_EQ(checker.up(), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(checker.checks(2), 3u);  // a: unchanged key, state and counters kept
  EXPECT_EQ(checker.state(2).failures(), 3u);
  EXPECT_EQ(checker.checks(1), 0u);  // b: changed settings, starts afresh
  EXPECT_EQ(checker.state(1).successes(), 0u);
  EXPECT_EQ(checker.checks(0), 0u);  // c: new
  // Only a new or changed target is due at once; the kept one waits for its interval.
  ASSERT_TRUE(run_until(checker, [&] { return checker.checks(0) == 1 && checker.checks(1) == 1; }));
  EXPECT_EQ(checker.checks(2), 3u);
}

TEST(Checker, RemovingAndDestroyingCancelInFlightChecksAndCloseEverySocket) {
  Port silent;
  silent.listen();
  const size_t fds = open_fds();
  {
    SteadyClock clock;
    Checker checker(clock);
    std::vector<Target> targets;
    for (int i = 0; i < 4; ++i) {
      Target t = local_target(silent.port(), Protocol::kHttp, 10, 60000);
      t.key += "#" + std::to_string(i);
      targets.push_back(t);
    }
    checker.set_targets(targets);
    ASSERT_TRUE(run_until(checker, [&] { return checker.in_flight() == 4; }));
    checker.set_targets({targets[0], targets[1]});  // two removed while waiting for answers
    ASSERT_TRUE(run_until(checker, [&] { return checker.in_flight() == 2; }));
    EXPECT_EQ(checker.checks(0), 0u);  // still in flight, not failed
  }                                    // the destructor cancels the rest
  EXPECT_EQ(open_fds(), fds);
}

}  // namespace
}  // namespace ringway::health
