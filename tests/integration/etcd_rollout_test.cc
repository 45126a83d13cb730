// A simulated rollout (issue 20): 20 ringway nodes (one shard each) watch one etcd; ten
// `ringway config push`es change the API that a client load spread across every node keeps
// calling. No request may fail; the time from each push to all nodes serving it is printed
// (`rollout:` line) for the issue's note. Suite 'rollout': the sanitizer passes leave it out
// (twenty instrumented processes on two CPUs measure the sanitizers).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "etcd.h"
#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kNodes = 20;
constexpr int kPushes = 10;
constexpr int kClientThreads = 4;
constexpr uint64_t kRequestsBetween = 2000;

std::string NodeConfig(const EtcdServer& etcd, int i) {
  return R"({"version":1,"instance":{"id":"node-)" + std::to_string(i) +
         R"("},"listeners":[{"name":"main","address":"127.0.0.1:0"}],)"
         R"("config_source":{"etcd":{"endpoints":[)" +
         JsonQuote(etcd.endpoint()) + R"(],"prefix":"/rollout/","timeout_ms":2000}}})";
}

// Version v: /version answers v; every other version also has an API /extra-v.
std::string Shared(int v) {
  std::string apis = MockApi("version", "ANY", "/version", std::to_string(v));
  if (v % 2 == 1) {
    apis += "," + MockApi("extra", "GET", "/extra", "x" + std::to_string(v));
  }
  return "{\"version\":1,\"apis\":[" + apis + "]}";
}

struct Load {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
  std::mutex mu;
  std::vector<std::string> failures;  // the first few

  // Keep-alive connections to every node, requests round robin.
  void Run(const std::vector<int>& ports) {
    std::vector<std::unique_ptr<Client>> clients;
    for (int p : ports) {
      clients.push_back(std::make_unique<Client>(p, 5000));
    }
    while (!stop.load()) {
      for (size_t i = 0; i < clients.size() && !stop.load(); ++i) {
        std::optional<Response> r = clients[i]->Get("/version");
        const bool good = r && r->status == 200 && !r->body.empty() &&
                          std::all_of(r->body.begin(), r->body.end(), ::isdigit);
        if (good) {
          ok.fetch_add(1);
          continue;
        }
        failed.fetch_add(1);
        clients[i]->Close();
        std::lock_guard lock(mu);
        if (failures.size() < 5) {
          failures.push_back("node " + std::to_string(i) + ": " +
                             (r ? std::to_string(r->status) + " " + r->body : "no answer"));
        }
      }
    }
  }
};

TEST(EtcdRollout, TwentyNodesTenPushesNoFailedRequest) {
  EtcdServer etcd;
  ASSERT_TRUE(etcd.Start());
  TempDir dir;
  auto push = [&](int v) {
    std::string file = dir.WriteFile("shared-" + std::to_string(v) + ".json", Shared(v));
    return RunRingway(
        {"config", "push", "-c", file, "--etcd", etcd.endpoint(), "--prefix", "/rollout/"}, 20000);
  };
  CommandResult first = push(0);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  std::vector<std::unique_ptr<Gateway>> nodes;
  std::vector<int> ports;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(std::make_unique<Gateway>());
    GatewayOptions opts;
    opts.shards = 1;
    opts.log_level = "info";
    ASSERT_TRUE(nodes.back()->Start(NodeConfig(etcd, i), opts));
    ports.push_back(nodes.back()->port());
  }
  auto all_serve = [&](int v) {
    const std::string want = std::to_string(v);
    for (int p : ports) {
      std::optional<Response> r = HttpGet(p, "/version");
      if (!r || r->body != want) {
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(PollUntil([&] { return all_serve(0); }, 10000));
  Load load;
  std::vector<std::thread> threads;
  for (int t = 0; t < kClientThreads; ++t) {
    threads.emplace_back([&] { load.Run(ports); });
  }
  auto since = [](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
  };
  std::vector<long long> ms;
  long long push_ms = 0;
  for (int v = 1; v <= kPushes; ++v) {
    // Between pushes the load runs on: at least kRequestsBetween more answers.
    const uint64_t before = load.ok.load() + load.failed.load();
    ASSERT_TRUE(PollUntil(
        [&] { return load.ok.load() + load.failed.load() >= before + kRequestsBetween; }, 30000));
    const auto started = Clock::now();
    CommandResult r = push(v);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    push_ms += since(started);
    const auto pushed = Clock::now();
    ASSERT_TRUE(PollUntil([&] { return all_serve(v); }, 10000)) << "version " << v;
    ms.push_back(since(pushed));
  }
  load.stop.store(true);
  for (auto& t : threads) {
    t.join();
  }
  std::vector<long long> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  std::string each;
  for (long long m : ms) {
    each += (each.empty() ? "" : ",") + std::to_string(m);
  }
  std::printf(
      "rollout: %d nodes, %d pushes (config push itself %lld ms on average): from the push's "
      "exit to all nodes serving, ms min %lld median %lld max %lld (each %s); requests ok %llu "
      "failed %llu\n",
      kNodes, kPushes, push_ms / kPushes, sorted.front(), sorted[sorted.size() / 2], sorted.back(),
      each.c_str(), static_cast<unsigned long long>(load.ok.load()),
      static_cast<unsigned long long>(load.failed.load()));
  EXPECT_EQ(load.failed.load(), 0u) << (load.failures.empty() ? "" : load.failures[0]);
  EXPECT_GT(load.ok.load(), 0u);
  for (auto& n : nodes) {
    EXPECT_FALSE(n->LogContains("refused")) << n->LogTail();
  }
}

}  // namespace
}  // namespace ringway::integration
