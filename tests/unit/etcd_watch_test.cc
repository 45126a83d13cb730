// The control thread's etcd watcher (src/control/etcd_watch.h) against a scripted server on
// 127.0.0.1: what it asks for, how it follows a range read with a watch, coalesces events,
// reads again after a compacted watch, and backs off and rotates endpoints after failures.
// The clock is a ManualClock: backoff and coalescing windows move only when the test says.
// (Real etcd is in tests/integration/etcd_test.cc.)
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/etcd_watch.h"
#include "core/ring.h"
#include "ringway/clock.h"
#include "ringway/etcd.h"

namespace ringway::control {
namespace {

constexpr uint64_t kTag = uint64_t{5} << 56;

// A TCP socket bound to 127.0.0.1 on a port the OS chose (*port), not listening yet.
int BoundLoopbackSocket(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  bind(fd, reinterpret_cast<sockaddr*>(&a), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// One answer of the scripted server: the bytes it writes after reading a request, then
// whether it closes the connection (a watch stream stays open until the test ends it).
struct Reply {
  std::string bytes;
  bool close = true;
};

// Accepts connections one at a time; for each, reads one request, records its path and
// body, and plays the next Reply (none left: closes at once).
class ScriptedServer {
 public:
  ScriptedServer() {
    fd_ = BoundLoopbackSocket(&port_);
    listen(fd_, 8);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    shutdown(fd_, SHUT_RDWR);
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  void Add(Reply r) {
    std::lock_guard lock(mu_);
    replies_.push_back(std::move(r));
  }
  // Writes more bytes on the connection kept open (a watch stream), or closes it.
  void Stream(std::string bytes) {
    std::lock_guard lock(mu_);
    stream_.push_back(std::move(bytes));
    cv_.notify_all();
  }
  void EndStream() { Stream(""); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (;;) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos || !BodyComplete(req)) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) {
          break;
        }
        req.append(buf, static_cast<size_t>(n));
      }
      Reply r;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
        if (!replies_.empty()) {
          r = replies_.front();
          replies_.pop_front();
        }
      }
      (void)!write(c, r.bytes.data(), r.bytes.size());
      if (!r.close) {
        KeepStreaming(c);
      }
      close(c);
    }
  }
  void KeepStreaming(int c) {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !stream_.empty(); });
      if (stop_) {
        return;
      }
      std::string bytes = stream_.front();
      stream_.pop_front();
      if (bytes.empty()) {
        return;
      }
      (void)!write(c, bytes.data(), bytes.size());
    }
  }
  static bool BodyComplete(const std::string& req) {
    size_t cl = req.find("Content-Length: ");
    size_t head = req.find("\r\n\r\n");
    if (cl == std::string::npos) {
      return true;
    }
    size_t n = std::stoul(req.substr(cl + 16));
    return req.size() >= head + 4 + n;
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Reply> replies_;
  std::deque<std::string> stream_;
  std::vector<std::string> requests_;
  bool stop_ = false;
};

std::string Ok(const std::string& body) {
  return "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body;
}
std::string B64(const std::string& s) { return etcd::base64_encode(s); }
std::string Header(int rev) {
  return R"({"header":{"cluster_id":"1","member_id":"2","revision":")" + std::to_string(rev) +
         R"(","raft_term":"2"})";
}
std::string Range(int rev, const std::vector<std::pair<std::string, std::string>>& kvs) {
  std::string list;
  for (const auto& [k, v] : kvs) {
    list += (list.empty() ? "" : ",") + std::string(R"({"key":")") + B64(k) +
            R"(","mod_revision":")" + std::to_string(rev) + R"(","value":")" + B64(v) + "\"}";
  }
  return Ok(Header(rev) + R"(,"kvs":[)" + list + "]}");
}
std::string WatchLine(int rev, const std::string& result) {
  return R"({"result":)" + Header(rev).substr(0, Header(rev).size()) + "," + result + "}}\n";
}
std::string Put(const std::string& k, const std::string& v) {
  return R"({"kv":{"key":")" + B64(k) + R"(","value":")" + B64(v) + "\"}}";
}
std::string Del(const std::string& k) {
  return R"({"type":"DELETE","kv":{"key":")" + B64(k) + "\"}}";
}

// A ring and a watch driven by hand: Turn() waits for completions (real time, bounded) and
// hands them over; the ManualClock decides windows.
class WatchRig {
 public:
  explicit WatchRig(std::vector<int> ports, uint32_t timeout_ms = 2000) : ring_(64) {
    cfg_.prefix = "/p/";
    cfg_.timeout_ms = timeout_ms;
    for (int p : ports) {
      config::Address a;
      a.host = "127.0.0.1";
      a.port = static_cast<uint16_t>(p);
      a.text = "127.0.0.1:" + std::to_string(p);
      cfg_.endpoints.push_back(a);
    }
    watch_ = std::make_unique<EtcdWatch>(clock_, ring_, kTag, cfg_, status_);
  }
  // Turns until `done` holds (true) or 5 s of real time pass (false). poll() results are
  // counted in ready_.
  bool Until(const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) {
        return false;
      }
      ring_.submit_and_wait(10);
      ring_.reap([this](uint64_t ud, int res, uint32_t) {
        if ((ud & ~((uint64_t{1} << 56) - 1)) == kTag) {
          watch_->on_completion(ud, res);
        }
      });
      if (watch_->poll(clock_.now_ms())) {
        ++ready_;
      }
    }
    return true;
  }

  ManualClock clock_;
  core::Ring ring_;
  config::EtcdSource cfg_;
  admin::ConfigSourceStatus status_;
  std::unique_ptr<EtcdWatch> watch_;
  int ready_ = 0;
};

TEST(EtcdWatch, ReadsThePrefixThenWatchesFromTheNextRevisionAndCoalescesEvents) {
  ScriptedServer server;
  server.Add({Range(5, {{"/p/apis/a", "A"}, {"/p/apis/b", "B"}})});
  server.Add({Ok(WatchLine(5, R"("created":true)")), false});
  WatchRig rig({server.port()});
  ASSERT_TRUE(rig.Until([&] { return rig.ready_ == 1; }));  // a read is handed over at once
  EXPECT_EQ(rig.watch_->revision(), 5);
  EXPECT_EQ(rig.watch_->objects().size(), 2u);
  EXPECT_EQ(rig.watch_->objects().at("apis/a"), "A");
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connected; }));
  const std::vector<std::string> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[0].find("POST /v3/kv/range HTTP/1.0"), std::string::npos);
  EXPECT_NE(reqs[0].find(etcd::range_body("/p/")), std::string::npos);
  EXPECT_NE(reqs[1].find("POST /v3/watch HTTP/1.0"), std::string::npos);
  EXPECT_NE(reqs[1].find(R"("start_revision":"6")"), std::string::npos) << reqs[1];
  // Two messages (a burst): handed over once, after the coalescing window.
  server.Stream(WatchLine(6, R"("events":[)" + Put("/p/apis/c", "C") + "]") +
                WatchLine(7, R"("events":[)" + Del("/p/apis/a") + "]"));
  ASSERT_TRUE(rig.Until([&] { return rig.status_.seen_revision == 7; }));
  EXPECT_EQ(rig.ready_, 1);  // not yet: the window has not passed
  EXPECT_NE(rig.watch_->next_due(), UINT64_MAX);
  rig.clock_.advance(EtcdWatch::kCoalesceMs);
  ASSERT_TRUE(rig.Until([&] { return rig.ready_ == 2; }));
  EXPECT_EQ(rig.watch_->revision(), 7);
  const auto& objects = rig.watch_->objects();
  EXPECT_EQ(objects.count("apis/a"), 0u);
  EXPECT_EQ(objects.at("apis/b"), "B");
  EXPECT_EQ(objects.at("apis/c"), "C");
  server.EndStream();
}

TEST(EtcdWatch, ACompactedWatchRevisionForcesANewRead) {
  ScriptedServer server;
  server.Add({Range(5, {{"/p/apis/a", "A"}})});
  server.Add({Ok(WatchLine(9, R"("canceled":true,"compact_revision":"8")"))});
  server.Add({Range(9, {{"/p/apis/a", "A2"}})});
  server.Add({Ok(WatchLine(9, R"("created":true)")), false});
  WatchRig rig({server.port()});
  ASSERT_TRUE(rig.Until([&] { return rig.watch_->revision() == 9 && rig.status_.connected; }));
  EXPECT_EQ(rig.watch_->objects().at("apis/a"), "A2");
  EXPECT_EQ(rig.ready_, 2);
  const std::vector<std::string> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_NE(reqs[2].find("/v3/kv/range"), std::string::npos);
  EXPECT_NE(reqs[3].find(R"("start_revision":"10")"), std::string::npos) << reqs[3];
  server.EndStream();
}

TEST(EtcdWatch, FailuresBackOffAndRotateEndpoints) {
  ScriptedServer server;
  // An unused port first (refused), then an error answer, then a good read.
  int dead = 0;
  close(BoundLoopbackSocket(&dead));  // a port nobody listens on
  server.Add({"HTTP/1.0 500 Internal Server Error\r\n\r\n{}"});
  server.Add({Range(3, {})});
  server.Add({Ok(WatchLine(3, R"("created":true)")), false});
  WatchRig rig({dead, server.port()});
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connection_failures == 1; }));
  EXPECT_NE(rig.status_.connection_error.find("refused"), std::string::npos)
      << rig.status_.connection_error;
  const uint64_t t0 = rig.clock_.now_ms();
  EXPECT_EQ(rig.watch_->next_due(), t0 + EtcdWatch::kFirstBackoffMs);
  rig.clock_.advance(EtcdWatch::kFirstBackoffMs - 1);
  rig.Until([] { return true; });
  EXPECT_EQ(server.requests().size(), 0u);  // not before the backoff
  rig.clock_.advance(1);                    // the second endpoint: an error answer
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connection_failures == 2; }));
  EXPECT_EQ(rig.status_.connection_error, "range: HTTP 500");
  EXPECT_EQ(rig.watch_->next_due(), rig.clock_.now_ms() + 2 * EtcdWatch::kFirstBackoffMs);
  EXPECT_FALSE(rig.watch_->has_read());
  rig.clock_.advance(2 * EtcdWatch::kFirstBackoffMs);  // the first (dead) one again
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connection_failures == 3; }));
  rig.clock_.advance(4 * EtcdWatch::kFirstBackoffMs);
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connected; }));
  EXPECT_TRUE(rig.watch_->has_read());
  EXPECT_EQ(rig.status_.connection_error, "");
  server.EndStream();
}

TEST(EtcdWatch, AnEndpointThatDoesNotAnswerTimesOut) {
  ScriptedServer server;
  server.Add({"", false});  // reads the request, says nothing
  WatchRig rig({server.port()}, 200);
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connection_failures == 1; }));
  EXPECT_NE(rig.status_.connection_error.find("timeout"), std::string::npos)
      << rig.status_.connection_error;
  server.EndStream();
}

TEST(EtcdWatch, AStreamThatEndsIsAFailureAndTheNextReadStartsOver) {
  ScriptedServer server;
  server.Add({Range(4, {{"/p/apis/a", "A"}})});
  server.Add({Ok(WatchLine(4, R"("created":true)")), false});
  WatchRig rig({server.port()});
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connected; }));
  server.Add({Range(6, {})});
  server.Add({Ok(WatchLine(6, R"("created":true)")), false});
  server.EndStream();
  ASSERT_TRUE(rig.Until([&] { return rig.status_.connection_failures == 1; }));
  EXPECT_FALSE(rig.status_.connected);
  rig.clock_.advance(EtcdWatch::kFirstBackoffMs);
  ASSERT_TRUE(rig.Until([&] { return rig.watch_->revision() == 6 && rig.status_.connected; }));
  EXPECT_TRUE(rig.watch_->objects().empty());  // the key deleted meanwhile is gone
  server.EndStream();
}

}  // namespace
}  // namespace ringway::control
