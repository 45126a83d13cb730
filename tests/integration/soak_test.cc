// Issue 19 (A): the soak. For RINGWAY_SOAK_SECONDS (default 120; the 30-minute run is 1800)
// client threads keep half of the measured peak rate on three APIs while
//  - channel "pool" (members a, b, flap; http health checks every 5 s, thresholds 2) loses
//    member "flap" again and again: it is killed (SIGKILL), marked down by the checks,
//    restarted on the same port and marked up again;
//  - breaker "cb" (counter, 5 unhealthy in 2 s, open 2 s, downgrade `mock`) on API "cb" is
//    opened by a burst of backend 500s and closes by itself, again and again;
//  - every 10 s the configuration file is rewritten (alternating two valid documents that
//    differ only in mock APIs, so channel and breaker state are kept) and SIGHUP reloads it.
// Every response is accounted for: a member's echo, the origin's echo, the breaker's mock
// downgrade, the version mock, or the origin's own 500 that the breaker driver asked for.
// Anything else is an undocumented failure and fails the test. No failure class is allowed
// for the flapping member: "pool" has retry_count 2 (3 members), and a request a dead member
// refused, or lost before any response byte, goes to another member (docs/configuration.md
// retry_count, src/proxy/retry_policy.h); a GET is replayable.
// ringway's RSS must stay flat (within 5 %, see kRssSlack) and its descriptors other than
// connections must not grow between the end of the warm-up and the end of the run.
// Prints one "soak:" summary line.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "channels.h"
#include "harness.h"
#include "prom_text.h"

namespace ringway::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kLoadThreads = 8;
constexpr int kPeakProbeMs = 3000;
constexpr int kReloadEveryS = 10;
constexpr int kTransitionMs = 20000;  // 2 checks 5 s apart + 2 s timeout + slack
// RSS may end at most 5 % above its post-warm-up value, and never less than 1 MiB above
// it: at ~10-20 MiB, 5 % is a few hundred KiB, which one mimalloc segment page (64 KiB
// pages, 4 MiB segments per thread) or a thread's stack touching a new page can exceed
// without anything being retained.
constexpr double kRssGrowth = 0.05;
constexpr long kRssSlackKib = 1024;
// Descriptors other than client and backend connections may vary by this much: the health
// checker's sockets (one per member while a check is in flight: 3), and the admin
// connection of the sample itself.
constexpr int kFdSlack = 4;

int SoakSeconds() {
  const char* s = getenv("RINGWAY_SOAK_SECONDS");
  int v = s != nullptr ? std::atoi(s) : 0;
  return v > 0 ? v : 120;
}

// variant 0 and 1: the same channel, APIs "pooled" and "cb" and policy; /version answers
// "v<variant>", and variant 1 has one more mock API.
std::string SoakConfig(ChannelStack& s, int variant) {
  ChannelSpec pool{
      .name = "pool",
      .members = {MemberOf(s.backend("a")), MemberOf(s.backend("b")), MemberOf(s.backend("flap"))},
      .health_check = HttpHealthCheck("/health")};
  ConfigSpec spec;
  spec.apis = {ChannelApi("pooled", "/pool", "pool", R"("retry_count":2,"timeout_ms":5000)"),
               ProxyApi("cb", "ANY", "/cb", s.backend("origin").address(), "/cb",
                        R"("match_mode":"prefix")", R"("retry_count":0,"timeout_ms":5000)"),
               MockApi("version", "GET", "/version", "v" + std::to_string(variant))};
  if (variant == 1) {
    spec.apis.push_back(MockApi("extra", "GET", "/extra", "extra"));
  }
  spec.extra =
      R"("admin": {"address": "127.0.0.1:0"},)"
      "\n  " +
      ChannelsMember({pool}) +
      ",\n  "
      R"("policies":[{"name":"cb","type":"circuit_breaker","content":{"breaker_condition":)"
      R"({"breaker_type":"condition","breaker_mode":"counter","unhealthy_threshold":5,)"
      R"("time_window":2,"open_breaker_time":2,)"
      R"("unhealthy_condition":["$context.statusCode","in","500"]},"scope":"basic",)"
      R"("downgrade_default":{"type":"mock","mock_info":{"status_code":200,)"
      R"("result_content":"{\"downgraded\":true}","headers":[]}}}}],)"
      "\n  "
      R"("bindings":[{"policy":"cb","api":"cb","environment":"RELEASE"}])";
  return BuildConfig(spec);
}

// Response classes. Everything not listed in Classify is a failure.
struct Tallies {
  std::map<std::string, long> ok;     // class -> count
  std::map<std::string, long> fails;  // description -> count
  std::vector<std::string> examples;  // the first few failures, in full
  void Fail(const std::string& what, const std::string& detail) {
    fails[what]++;
    if (examples.size() < 8) {
      examples.push_back(what + ": " + detail);
    }
  }
  void Merge(const Tallies& o) {
    for (const auto& [k, v] : o.ok) {
      ok[k] += v;
    }
    for (const auto& [k, v] : o.fails) {
      fails[k] += v;
    }
    for (const auto& e : o.examples) {
      if (examples.size() < 8) {
        examples.push_back(e);
      }
    }
  }
  long Total() const {
    long n = 0;
    for (const auto& [k, v] : ok) {
      n += v;
    }
    for (const auto& [k, v] : fails) {
      n += v;
    }
    return n;
  }
  long Failed() const {
    long n = 0;
    for (const auto& [k, v] : fails) {
      n += v;
    }
    return n;
  }
};

bool IsDowngrade(const Response& r) {
  return r.status == 200 && r.Header("x-ringway-downgrade") == "cb/default" &&
         r.body == R"({"downgraded":true})";
}

// Sorts one load response into its class.
void Classify(std::string_view target, const std::optional<Response>& r, Tallies* t) {
  const std::string where(target.substr(0, target.find('/', 1)));
  if (!r) {
    t->Fail(where + " no response", std::string(target));
    return;
  }
  const std::string brief = std::string(target) + " -> " + std::to_string(r->status) + " " +
                            r->Header("x-ringway-downgrade") + " " + r->body.substr(0, 300);
  if (where == "/pool") {
    std::string who = r->status == 200 ? EchoField(*r, "server") : "";
    if (who == "a" || who == "b" || who == "flap") {
      t->ok["pool"]++;
      return;
    }
  } else if (where == "/cb") {
    if (IsDowngrade(*r)) {
      t->ok["downgrade"]++;
      return;
    }
    if (r->status == 200 && EchoField(*r, "server") == "origin") {
      t->ok["origin"]++;
      return;
    }
  } else if (where == "/version") {
    if (r->status == 200 && (r->body == "v0" || r->body == "v1")) {
      t->ok["version"]++;
      return;
    }
  }
  t->Fail(where + " status " + std::to_string(r->status), brief);
}

// Paced request loops on keep-alive connections. rate 0: as fast as possible.
class LoadThreads {
 public:
  LoadThreads(int port, int threads) : port_(port), threads_(threads) {}
  ~LoadThreads() { Stop(); }

  void Start(double total_rate) {
    stop_ = false;
    for (int i = 0; i < threads_; ++i) {
      workers_.emplace_back([this, i, total_rate] { Run(i, total_rate); });
    }
  }
  // Stops and joins the threads; returns what they saw.
  Tallies Stop() {
    stop_ = true;
    for (auto& w : workers_) {
      w.join();
    }
    workers_.clear();
    Tallies all;
    std::lock_guard lock(mu_);
    for (const auto& t : results_) {
      all.Merge(t);
    }
    results_.clear();
    return all;
  }

 private:
  void Run(int id, double total_rate) {
    Tallies t;
    Client c(port_, 10000);
    const auto interval = total_rate > 0 ? std::chrono::duration_cast<SteadyClock::duration>(
                                               std::chrono::duration<double>(threads_ / total_rate))
                                         : SteadyClock::duration::zero();
    auto next = SteadyClock::now();
    for (uint64_t n = 0; !stop_; ++n) {
      // 7 of 10 to the channel, 2 to the breaker's API, 1 to the mock.
      const int kind = static_cast<int>((n + static_cast<uint64_t>(id)) % 10);
      std::string target = kind < 7   ? "/pool/t" + std::to_string(id) + "/" + std::to_string(n)
                           : kind < 9 ? "/cb/echo"
                                      : "/version";
      std::optional<Response> r = c.Get(target);
      Classify(target, r, &t);
      if (!r || r->Header("connection") == "close") {
        c.Close();  // reconnects on the next request
      }
      if (total_rate > 0) {
        // Pacing (not synchronisation): the thread's share of the rate. A thread that fell
        // more than a second behind does not burst to catch up.
        next += interval;
        auto now = SteadyClock::now();
        if (next > now) {
          std::this_thread::sleep_until(next);
        } else if (now - next > std::chrono::seconds(1)) {
          next = now;
        }
      }
    }
    std::lock_guard lock(mu_);
    results_.push_back(std::move(t));
  }

  int port_;
  int threads_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::vector<Tallies> results_;
};

// A stop flag that background loops wait on with a deadline.
class StopFlag {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  bool IsSet() {
    std::lock_guard lock(mu_);
    return stop_;
  }
  // Waits up to `ms`; true if stopped meanwhile.
  bool WaitFor(int ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_; });
  }
  // Polls `cond` until it holds (true), the stop flag is set or `ms` pass (false).
  bool PollUntil(const std::function<bool()>& cond, int ms) {
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
      if (SteadyClock::now() >= deadline || WaitFor(10)) {
        return false;
      }
    }
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

int CountFds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return -1;
  }
  int n = 0;
  while (dirent* e = readdir(d)) {
    n += e->d_name[0] != '.';
  }
  closedir(d);
  return n;
}

// Client plus backend connections over all shards, from /v1/shards; -1 on failure.
int ShardConnections(int admin_port) {
  return static_cast<int>(ShardTotal(admin_port, {"client_connections", "backend_connections"}));
}

// Descriptors that are not connections (listeners, rings, eventfds, files, ...): the
// smallest of a few samples, as connections open and close between the two reads.
int NonConnectionFds(Gateway& gw, int admin_port, int* fds_out) {
  int best = -1;
  for (int i = 0; i < 5; ++i) {
    int conns = ShardConnections(admin_port);
    int fds = CountFds(gw.pid());
    if (conns < 0 || fds < 0) {
      continue;
    }
    if (best < 0 || fds - conns < best) {
      best = fds - conns;
      *fds_out = fds;
    }
  }
  return best;
}

class SoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GatewayOptions opts;
    opts.log_level = "info";
    ASSERT_TRUE(stack_.Start(
        {Stub("a"), Stub("b", "127.0.0.2"), Stub("flap", "127.0.0.3"), Stub("origin")},
        [](ChannelStack& s) { return SoakConfig(s, 0); }, opts));
    admin_ = gw().port("admin");
    ASSERT_GT(admin_, 0) << gw().LogTail();
  }
  Gateway& gw() { return stack_.gateway(); }
  std::string HealthLine(std::string_view what) {
    return "health: channel pool member " + stack_.backend("flap").address() + " " +
           std::string(what);
  }

  ChannelStack stack_;
  int admin_ = -1;
};

TEST_F(SoakTest, FlappingMemberBreakerAndReloadsUnderHalfPeakLoad) {
  const int duration_s = SoakSeconds();
  const int warmup_s = std::clamp(duration_s / 6, 20, 60);
  const int port = stack_.port();

  // The peak: closed loop, kLoadThreads keep-alive connections, the same mix, nothing else
  // going on. The test's own client threads share the 2 CPUs, so this is the peak of the
  // whole setup on this machine.
  double peak = 0;
  {
    LoadThreads probe(port, kLoadThreads);
    auto t0 = SteadyClock::now();
    probe.Start(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(kPeakProbeMs));  // measuring, not sync
    Tallies t = probe.Stop();
    double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    ASSERT_EQ(t.Failed(), 0) << "failures before the soak began: " << t.examples[0];
    peak = static_cast<double>(t.Total()) / secs;
  }
  const double rate = peak / 2;
  ASSERT_GT(rate, 10) << "peak " << peak << " req/s";

  LoadThreads load(port, kLoadThreads);
  load.Start(rate);
  StopFlag stop;

  // The flapping member.
  std::atomic<int> flaps{0};
  std::string flap_error;
  std::thread flapper([&] {
    Backend& flap = stack_.backend("flap");
    while (!stop.WaitFor(3000)) {  // up for a while between flaps
      const size_t downs = gw().LogCount(HealthLine("down"));
      const size_t ups = gw().LogCount(HealthLine("up"));
      flap.Kill();
      bool down =
          stop.PollUntil([&] { return gw().LogCount(HealthLine("down")) > downs; }, kTransitionMs);
      ::testing::AssertionResult restarted = flap.Restart();
      if (!restarted) {
        flap_error = "restart failed: " + std::string(restarted.message());
        return;
      }
      if (stop.IsSet()) {
        return;
      }
      if (!down) {
        flap_error = "flap not marked down in time";
        return;
      }
      if (!stop.PollUntil([&] { return gw().LogCount(HealthLine("up")) > ups; }, kTransitionMs)) {
        if (!stop.IsSet()) {
          flap_error = "flap not marked up in time";
        }
        return;
      }
      flaps++;
    }
  });

  // The breaker driver: a burst of origin 500s opens it; it closes by itself after 2 s.
  std::atomic<int> opens{0};
  std::atomic<int> closes{0};
  Tallies driver;
  std::string driver_error;
  std::thread breaker([&] {
    Client c(port, 10000);
    auto get = [&](std::string_view target) {
      std::optional<Response> r = c.Get(target);
      if (!r || r->Header("connection") == "close") {
        c.Close();
      }
      return r;
    };
    while (!stop.WaitFor(2000)) {  // closed for a while between openings
      bool opened = false;
      for (int i = 0; i < 200 && !opened && !stop.IsSet(); ++i) {
        std::optional<Response> r = get("/cb/status/500");
        if (r && r->status == 500 && JsonString(r->body, "/error_code").value_or("").empty()) {
          driver.ok["origin-500"]++;  // the origin's own answer, asked for
        } else if (r && IsDowngrade(*r)) {
          driver.ok["downgrade"]++;
          opened = true;
        } else {
          driver.Fail("driver /cb/status/500",
                      r ? std::to_string(r->status) + " " + r->body : "no response");
        }
      }
      if (opened) {
        opens++;  // before a stop: the metric counted it already
      }
      if (stop.IsSet()) {
        return;
      }
      if (!opened) {
        driver_error = "breaker did not open after 200 origin 500s";
        return;
      }
      bool closed = stop.PollUntil(
          [&] {
            std::optional<Response> r = get("/cb/echo");
            Classify("/cb/echo", r, &driver);
            return r && r->status == 200 && !IsDowngrade(*r);
          },
          6000);
      if (stop.IsSet()) {
        return;
      }
      if (!closed) {
        driver_error = "breaker did not close within 6 s (open_breaker_time 2 s)";
        return;
      }
      closes++;
    }
  });

  // Reloads every 10 s; RSS peaks every second; the warm-up and end samples.
  const auto t0 = SteadyClock::now();
  const auto end = t0 + std::chrono::seconds(duration_s);
  auto next_reload = t0 + std::chrono::seconds(kReloadEveryS);
  bool warm = false;
  long rss_start = -1, rss_max = -1;
  int fds_start = -1, nonconn_start = -1;
  int reloads = 0;
  std::string reload_error;
  while (SteadyClock::now() < end && reload_error.empty()) {
    auto now = SteadyClock::now();
    if (!warm && now >= t0 + std::chrono::seconds(warmup_s)) {
      warm = true;
      rss_start = gw().RssKib();
      nonconn_start = NonConnectionFds(gw(), admin_, &fds_start);
    }
    if (warm) {
      rss_max = std::max(rss_max, gw().RssKib());
    }
    if (now >= next_reload) {
      next_reload += std::chrono::seconds(kReloadEveryS);
      ++reloads;
      gw().WriteConfig(SoakConfig(stack_, reloads % 2));
      gw().Signal(SIGHUP);
      if (!PollUntil(
              [&] {
                return gw().LogCount("reload ok generation=") == static_cast<size_t>(reloads);
              },
              10000)) {
        reload_error = "reload " + std::to_string(reloads) + " not logged ok: " + gw().LogTail();
      }
    }
    if (!gw().running()) {
      break;
    }
    // Pacing of this loop (not synchronisation): once a second.
    std::this_thread::sleep_until(std::min(next_reload, now + std::chrono::seconds(1)));
  }
  const long rss_end = gw().RssKib();
  rss_max = std::max(rss_max, rss_end);
  int fds_end = -1;
  const int nonconn_end = NonConnectionFds(gw(), admin_, &fds_end);

  stop.Set();
  flapper.join();
  breaker.join();
  Tallies all = load.Stop();
  all.Merge(driver);
  ASSERT_TRUE(gw().running()) << "ringway died: " << gw().LogTail();
  if (!stack_.backend("flap").running()) {
    EXPECT_TRUE(stack_.backend("flap").Restart());
  }

  PromText m;
  ASSERT_TRUE(ScrapeMetrics(gw(), &m));
  const Labels cb = {
      {"policy", "cb"}, {"api", "cb"}, {"environment", "RELEASE"}, {"rule", "default"}};
  Labels to_open = cb, to_closed = cb;
  to_open["to"] = "open";
  to_closed["to"] = "closed";
  const double m_opens = m.Value("ringway_breaker_transitions_total", to_open).value_or(-1);
  const double m_closes = m.Value("ringway_breaker_transitions_total", to_closed).value_or(-1);
  const size_t m_downs = gw().LogCount(HealthLine("down"));
  const double retries = m.Sum("ringway_backend_retries_total", {{"api", "pooled"}});

  std::string classes;
  for (const auto& [k, v] : all.ok) {
    classes += " " + k + "=" + std::to_string(v);
  }
  for (const auto& [k, v] : all.fails) {
    classes += " FAILED[" + k + "]=" + std::to_string(v);
  }
  char line[1024];
  std::snprintf(line, sizeof line,
                "soak: %d s (warm-up %d s), peak %.0f req/s, target %.0f req/s, achieved %.0f "
                "req/s; requests %ld:%s; failed %ld; reloads %d; breaker opens %d closes %d "
                "(metrics %.0f/%.0f); member flaps %d (marked down %zu); retries %.0f; RSS KiB "
                "start %ld end %ld max %ld; fds start %d end %d (non-connection %d -> %d)",
                duration_s, warmup_s, peak, rate, static_cast<double>(all.Total()) / duration_s,
                all.Total(), classes.c_str(), all.Failed(), reloads, opens.load(), closes.load(),
                m_opens, m_closes, flaps.load(), m_downs, retries, rss_start, rss_end, rss_max,
                fds_start, fds_end, nonconn_start, nonconn_end);
  std::printf("%s\n", line);
  std::fflush(stdout);
  RecordProperty("summary", line);

  EXPECT_TRUE(reload_error.empty()) << reload_error;
  EXPECT_TRUE(flap_error.empty()) << flap_error;
  EXPECT_TRUE(driver_error.empty()) << driver_error;
  EXPECT_EQ(all.Failed(), 0) << "undocumented failures; first ones:\n"
                             << [&] {
                                  std::string s;
                                  for (const auto& e : all.examples) {
                                    s += "  " + e + "\n";
                                  }
                                  return s;
                                }();
  EXPECT_GE(reloads, duration_s / kReloadEveryS - 1);
  EXPECT_GE(opens.load(), 1);
  EXPECT_GE(closes.load(), 1);
  EXPECT_GE(flaps.load(), 1);
  // Every opening was the driver's (the last may have come with the stop, before the driver
  // saw a downgrade); the last one may not have been seen closed yet.
  EXPECT_GE(m_opens, opens.load());
  EXPECT_LE(m_opens, opens.load() + 1);
  EXPECT_GE(m_closes, closes.load());
  EXPECT_GT(all.ok["pool"], 0);
  EXPECT_GT(all.ok["downgrade"], 0);
  ASSERT_TRUE(warm) << "the run ended before its warm-up";
  EXPECT_LE(rss_end,
            std::max(static_cast<long>(rss_start * (1 + kRssGrowth)), rss_start + kRssSlackKib))
      << "RSS grew from " << rss_start << " to " << rss_end << " KiB";
  EXPECT_GE(nonconn_start, 0);
  EXPECT_LE(nonconn_end, nonconn_start + kFdSlack)
      << "descriptors other than connections grew: " << fds_start << " -> " << fds_end;
}

}  // namespace
}  // namespace ringway::integration
