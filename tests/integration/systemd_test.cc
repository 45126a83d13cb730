// Issue 16 (Service): systemd's notify protocol as the real ringway speaks it. The test
// owns the notify socket (a unix datagram socket in a temporary directory) and starts
// ringway with NOTIFY_SOCKET and WATCHDOG_USEC set, as systemd does for a Type=notify unit
// with WatchdogSec=: READY=1 once serving, WATCHDOG=1 every half timeout while every shard
// turns, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace ringway::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The service manager's end of the notify protocol: every datagram received, split into
// its newline-separated assignments ("READY=1", "STATUS=...").
class NotifySocket {
 public:
  NotifySocket() : path_(dir_.path() + "/notify.sock") {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strncpy(un.sun_path, path_.c_str(), sizeof(un.sun_path) - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&un), sizeof(un)) != 0) {
      error_ = std::string("notify socket ") + path_ + ": " + std::strerror(errno);
    }
  }
  ~NotifySocket() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }
  const std::vector<std::string>& lines() const { return lines_; }

  // Waits until `line` has arrived at an index >= *from, and sets *from past it. False
  // at the deadline.
  bool WaitFor(std::string_view line, size_t* from, int timeout_ms) {
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto it = std::find(lines_.begin() + static_cast<ptrdiff_t>(*from), lines_.end(), line);
      if (it != lines_.end()) {
        *from = static_cast<size_t>(it - lines_.begin()) + 1;
        return true;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0 || !Receive(static_cast<int>(left.count()))) {
        return false;
      }
    }
  }
  // Waits until `line` has arrived `n` times since index `from`.
  bool WaitCount(std::string_view line, size_t from, size_t n, int timeout_ms) {
    for (size_t i = 0; i < n; ++i) {
      if (!WaitFor(line, &from, timeout_ms)) {
        return false;
      }
    }
    return true;
  }
  size_t Count(std::string_view line) const {
    return static_cast<size_t>(std::count(lines_.begin(), lines_.end(), line));
  }
  // Takes what has arrived without waiting.
  void Drain() {
    while (Receive(0)) {
    }
  }
  std::string Dump() const {
    std::string out;
    for (const auto& l : lines_) {
      out += "  " + l + "\n";
    }
    return out;
  }

 private:
  // One datagram within timeout_ms; false when none came.
  bool Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (fd_ < 0 || ::poll(&p, 1, timeout_ms) <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      return false;
    }
    std::string_view msg(buf, static_cast<size_t>(n));
    while (!msg.empty()) {
      const size_t nl = msg.find('\n');
      lines_.emplace_back(msg.substr(0, nl));
      msg = nl == std::string_view::npos ? std::string_view() : msg.substr(nl + 1);
    }
    return true;
  }

  TempDir dir_;
  std::string path_;
  std::string error_;
  int fd_ = -1;
  std::vector<std::string> lines_;
};

std::string Config() {
  ConfigSpec spec;
  spec.apis = {PingApi()};
  return BuildConfig(spec);
}

// ringway with systemd's variables in its environment (env(1) execs it: its pid is ours).
GatewayOptions NotifyOptions(const NotifySocket& sock, std::vector<std::string> vars) {
  GatewayOptions opts;
  opts.launcher = {"/usr/bin/env", "NOTIFY_SOCKET=" + sock.path()};
  opts.launcher.insert(opts.launcher.end(), vars.begin(), vars.end());
  return opts;
}

// SIGTERM: STOPPING=1 and exit 0, and not one WATCHDOG=1 was sent over the whole run.
void StopWithoutPings(Gateway& gw, NotifySocket& sock, size_t* at) {
  gw.Signal(SIGTERM);
  ASSERT_TRUE(sock.WaitFor("STOPPING=1", at, 5000)) << sock.Dump();
  EXPECT_EQ(gw.WaitExit(10000), 0) << gw.LogTail();
  sock.Drain();
  EXPECT_EQ(sock.Count("WATCHDOG=1"), 0u) << sock.Dump();
}

TEST(Systemd, NotifiesReadyWatchdogReloadAndStop) {
  NotifySocket sock;
  ASSERT_EQ(sock.error(), "");
  Gateway gw;
  ASSERT_TRUE(gw.Start(Config(), NotifyOptions(sock, {"WATCHDOG_USEC=200000"})));
  size_t at = 0;
  ASSERT_TRUE(sock.WaitFor("READY=1", &at, 5000)) << sock.Dump();
  EXPECT_EQ(sock.lines()[0], "READY=1") << "READY=1 comes first\n" << sock.Dump();
  EXPECT_TRUE(gw.WaitLog("watchdog enabled interval_ms=100", 2000)) << gw.LogTail();
  EXPECT_TRUE(HasStatus(HttpGet(gw.port(), "/ping"), 200));

  // Every 100 ms while both shards turn (idle ones too: the control loop wakes them).
  EXPECT_TRUE(sock.WaitCount("WATCHDOG=1", at, 5, 5000)) << sock.Dump() << gw.LogTail();

  gw.Signal(SIGHUP);
  ASSERT_TRUE(sock.WaitFor("RELOADING=1", &at, 5000)) << sock.Dump();
  ASSERT_TRUE(sock.WaitFor("READY=1", &at, 5000)) << sock.Dump();
  EXPECT_TRUE(gw.WaitLog("reload ok", 2000)) << gw.LogTail();
  // Pings go on after the reload.
  EXPECT_TRUE(sock.WaitCount("WATCHDOG=1", at, 2, 5000)) << sock.Dump();

  gw.Signal(SIGTERM);
  ASSERT_TRUE(sock.WaitFor("STOPPING=1", &at, 5000)) << sock.Dump();
  EXPECT_EQ(gw.WaitExit(10000), 0) << gw.LogTail();
  sock.Drain();
  EXPECT_EQ(sock.Count("READY=1"), 2u) << sock.Dump();
  EXPECT_EQ(sock.Count("STOPPING=1"), 1u) << sock.Dump();
}

TEST(Systemd, WatchdogPidOfAnotherProcessDisablesThePings) {
  NotifySocket sock;
  ASSERT_EQ(sock.error(), "");
  Gateway gw;
  // pid 1 is never ringway here: the variables were meant for another process.
  ASSERT_TRUE(gw.Start(Config(), NotifyOptions(sock, {"WATCHDOG_USEC=200000", "WATCHDOG_PID=1"})));
  size_t at = 0;
  ASSERT_TRUE(sock.WaitFor("READY=1", &at, 5000)) << sock.Dump();
  EXPECT_TRUE(gw.WaitLog("watchdog disabled", 2000)) << gw.LogTail();
  for (int i = 0; i < 20; ++i) {  // the shards turn; the control loop still never pings
    ASSERT_TRUE(HasStatus(HttpGet(gw.port(), "/ping"), 200));
  }
  ASSERT_NO_FATAL_FAILURE(StopWithoutPings(gw, sock, &at));
  EXPECT_FALSE(gw.LogContains("watchdog enabled")) << gw.LogTail();
}

TEST(Systemd, WithoutWatchdogUsecThereIsNoWatchdog) {
  NotifySocket sock;
  ASSERT_EQ(sock.error(), "");
  Gateway gw;
  ASSERT_TRUE(gw.Start(Config(), NotifyOptions(sock, {})));
  size_t at = 0;
  ASSERT_TRUE(sock.WaitFor("READY=1", &at, 5000)) << sock.Dump();
  ASSERT_TRUE(HasStatus(HttpGet(gw.port(), "/ping"), 200));
  ASSERT_NO_FATAL_FAILURE(StopWithoutPings(gw, sock, &at));
  EXPECT_FALSE(gw.LogContains("watchdog")) << gw.LogTail();
}

}  // namespace
}  // namespace ringway::integration
