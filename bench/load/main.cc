// ringway-load: an io_uring HTTP/1.1 load generator for 127.0.0.1 targets.
// See bench/README.md; `ringway-load --help` lists the options.
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "options.h"
#include "report.h"
#include "worker.h"

namespace ringway::load {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Every connection needs a descriptor: raise the soft limit to the hard one.
bool RaiseFdLimit(uint32_t connections, std::string* error) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < connections + 64) {
    *error = "open file limit " + std::to_string(rl.rlim_cur) + " is too low for " +
             std::to_string(connections) + " connections";
    return false;
  }
  return true;
}

Plan MakePlan(const Options& opt) {
  Plan p;
  p.opt = &opt;
  p.request = RenderRequest(opt);
  for (uint32_t i = 0; i < opt.pipeline; ++i) {
    p.batch += p.request;
  }
  p.head_request = opt.method == "HEAD";
  p.start_ns = MonotonicNs();
  p.measure_ns = p.start_ns + opt.warmup_ns;
  p.end_ns = p.measure_ns + opt.duration_ns;
  p.stop = &g_stop;
  return p;
}

// Share `total` over `n` parts the way connections are shared.
uint64_t Share(uint64_t total, uint32_t n, uint32_t i) { return total / n + (i < total % n); }

// Holds every connection open until the hold time passes or a signal arrives.
void Hold(const Options& opt, uint32_t open) {
  fprintf(stderr, "holding %u connections for %.1f s\n", open,
          static_cast<double>(opt.hold_ns) / 1e9);
  fflush(stderr);
  const uint64_t until = MonotonicNs() + opt.hold_ns;
  while (MonotonicNs() < until && !g_stop.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int Run(const Options& opt) {
  std::string error;
  if (!RaiseFdLimit(opt.connections, &error)) {
    fprintf(stderr, "ringway-load: %s\n", error.c_str());
    return 1;
  }
  const Plan plan = MakePlan(opt);
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < opt.threads; ++i) {
    const auto conns = static_cast<uint32_t>(Share(opt.connections, opt.threads, i));
    workers.push_back(std::make_unique<Worker>(plan, conns, Share(opt.requests, opt.threads, i),
                                               opt.rate * conns / opt.connections));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&w] { w->run(); });
  }
  for (auto& t : threads) {
    t.join();
  }
  Report report{.opt = &opt};
  uint64_t first = UINT64_MAX;
  uint64_t last = 0;
  for (const auto& w : workers) {
    if (!w->error().empty()) {
      fprintf(stderr, "ringway-load: %s\n", w->error().c_str());
      return 1;
    }
    report.stats.merge(w->stats());
    report.open_connections += w->open_connections();
    first = std::min(first, w->measure_start());
    last = std::max(last, w->finish());
  }
  report.elapsed_ns = last > first ? last - first : 0;
  if (opt.hold_ns != 0) {
    Hold(opt, report.open_connections);
  }
  const std::string out = opt.json ? report.Json() : report.Table();
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace
}  // namespace ringway::load

int main(int argc, char** argv) {
  using namespace ringway::load;
  Options opt;
  std::string error;
  bool help = false;
  if (!ParseOptions(argc, argv, &opt, &error, &help)) {
    fprintf(help ? stdout : stderr, help ? "%s" : "ringway-load: %s\n", error.c_str());
    return help ? 0 : 2;
  }
  InstallSignals();
  return Run(opt);
}
