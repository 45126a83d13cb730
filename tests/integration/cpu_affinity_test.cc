// Issue 12, defect 5: ringway honours the CPU affinity mask it was started with. Shard i is
// pinned to the i-th CPU of that mask (wrapping when there are more shards than CPUs),
// `shards: 0` means one shard per CPU of the mask, and the threads are named rw-shard-N and
// rw-control while the process keeps its name (issue 12, "seams": the control thread is no
// longer the main thread). ringway is started under `taskset -c` and its threads are read
// from /proc/PID/task/*/status.
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "harness.h"

namespace ringway::integration {
namespace {

// The CPUs this test process may run on, ascending.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) {
        cpus.push_back(c);
      }
    }
  }
  return cpus;
}

// The executable `name` in $PATH; empty if there is none.
std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

struct Task {
  std::string name;          // "Name:" (the comm)
  std::string cpus_allowed;  // "Cpus_allowed_list:", e.g. "1" or "0-1"
  uint64_t sleeps = 0;       // "voluntary_ctxt_switches:": times the thread went to sleep
};

// Every thread of `pid` by thread id, from /proc/PID/task/TID/status.
std::map<int, Task> Tasks(pid_t pid) {
  std::map<int, Task> tasks;
  std::error_code ec;
  std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream status(entry.path() / "status");
    Task t;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Name:\t", 0) == 0) {
        t.name = line.substr(6);
      } else if (line.rfind("Cpus_allowed_list:\t", 0) == 0) {
        t.cpus_allowed = line.substr(19);
      } else if (line.rfind("voluntary_ctxt_switches:\t", 0) == 0) {
        t.sleeps = std::strtoull(line.c_str() + 25, nullptr, 10);
      }
    }
    tasks.emplace(std::atoi(entry.path().filename().c_str()), t);
  }
  return tasks;
}

std::string Describe(const std::map<int, Task>& tasks) {
  std::string out;
  for (const auto& [tid, t] : tasks) {
    out += " " + std::to_string(tid) + ":" + t.name + "@" + t.cpus_allowed;
  }
  return out.empty() ? " (no threads)" : out;
}

// Cpus_allowed_list of the one thread named `name`, or why there is none.
std::string CpusOf(const std::map<int, Task>& tasks, const std::string& name) {
  std::string found = "<no thread named " + name + ">";
  int count = 0;
  for (const auto& [tid, t] : tasks) {
    if (t.name == name) {
      found = t.cpus_allowed;
      ++count;
    }
  }
  return count > 1 ? "<" + std::to_string(count) + " threads named " + name + ">" : found;
}

// The process name: /proc/PID/comm without its newline.
std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// voluntary_ctxt_switches of the one thread named `name`; 0 if there is none.
uint64_t SleepsOf(pid_t pid, const std::string& name) {
  for (const auto& [tid, t] : Tasks(pid)) {
    if (t.name == name) {
      return t.sleeps;
    }
  }
  return 0;
}

class CpuAffinityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cpus_ = AllowedCpus();
    ASSERT_FALSE(cpus_.empty()) << "sched_getaffinity failed";
    taskset_ = FindInPath("taskset");
    ASSERT_FALSE(taskset_.empty()) << "taskset (util-linux) is not in PATH";
  }

  // Starts ringway under `taskset -c <cpu_list>` with `shards` (0: no --shards flag, and
  // the config says `"shards": 0`), and checks that it serves.
  ::testing::AssertionResult Start(const std::string& cpu_list, int shards) {
    ConfigSpec spec;
    spec.apis = {PingApi()};
    spec.extra = R"("shards": 0)";
    GatewayOptions opts;
    opts.shards = shards;
    opts.launcher = {taskset_, "-c", cpu_list};
    ::testing::AssertionResult started = gw_.Start(BuildConfig(spec), opts);
    if (!started) {
      return started;
    }
    auto r = HttpGet(gw_.port(), "/ping");
    if (!r || r->status != 200) {
      return ::testing::AssertionFailure() << "no 200 from /ping\n" << gw_.LogTail();
    }
    return ::testing::AssertionSuccess();
  }

  std::vector<int> cpus_;
  std::string taskset_;
  Gateway gw_;
};

// The threads are named and pinned before the shards pass their start-up barrier, which
// comes before the `ready` line: reading /proc right after it needs no wait.
TEST_F(CpuAffinityTest, DefaultShardCountIsTheMaskSizeAndTheShardRunsOnTheMaskCpu) {
  const int cpu = cpus_.back();  // not CPU 0 when two or more are allowed: the old bug shows
  if (cpu == 0) {
    GTEST_SKIP() << "only CPU 0 is allowed: a mask of another CPU cannot be made";
  }
  ASSERT_TRUE(Start(std::to_string(cpu), 0));
  EXPECT_TRUE(gw_.LogContains("ready shards=1\n")) << gw_.LogTail();
  std::map<int, Task> tasks = Tasks(gw_.pid());
  EXPECT_EQ(CpusOf(tasks, "rw-shard-0"), std::to_string(cpu)) << Describe(tasks);
  EXPECT_EQ(CpusOf(tasks, "rw-shard-1"), "<no thread named rw-shard-1>") << Describe(tasks);
  // The control thread keeps the mask it was started with.
  EXPECT_EQ(CpusOf(tasks, "rw-control"), std::to_string(cpu)) << Describe(tasks);
  EXPECT_TRUE(gw_.LogContains("shards=1 cpus=" + std::to_string(cpu))) << gw_.LogTail();
  // The main thread is not renamed: pgrep ringway and killall ringway find the process.
  EXPECT_EQ(Comm(gw_.pid()), "ringway") << Describe(tasks);
}

// The control thread sleeps in one io_uring wait until there is work (a signal, a health
// check due, retired snapshots to free). Without health checks an idle gateway's control
// thread does not wake up at all; it used to wake every 100 ms (10 sleeps a second).
TEST_F(CpuAffinityTest, IdleControlThreadDoesNotWakeUp) {
  ASSERT_TRUE(Start(std::to_string(cpus_.back()), 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // real time is the subject
  const uint64_t before = SleepsOf(gw_.pid(), "rw-control");
  ASSERT_GT(before, 0u) << Describe(Tasks(gw_.pid()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_LE(SleepsOf(gw_.pid(), "rw-control") - before, 2u);
}

// taskset's list order does not matter: the mask is a set, read in ascending order.
TEST_F(CpuAffinityTest, ShardIRunsOnTheIthCpuOfTheMask) {
  if (cpus_.size() < 2) {
    GTEST_SKIP() << "needs two allowed CPUs";
  }
  const int first = cpus_[cpus_.size() - 2];
  const int second = cpus_.back();
  ASSERT_TRUE(Start(std::to_string(second) + "," + std::to_string(first), 2));
  std::map<int, Task> tasks = Tasks(gw_.pid());
  EXPECT_EQ(CpusOf(tasks, "rw-shard-0"), std::to_string(first)) << Describe(tasks);
  EXPECT_EQ(CpusOf(tasks, "rw-shard-1"), std::to_string(second)) << Describe(tasks);
  EXPECT_NE(CpusOf(tasks, "rw-control"), "<no thread named rw-control>") << Describe(tasks);
}

// More shards than CPUs in the mask: they wrap around the mask, with a warning.
TEST_F(CpuAffinityTest, MoreShardsThanMaskCpusWrapAround) {
  const int cpu = cpus_.back();
  if (cpu == 0) {
    GTEST_SKIP() << "only CPU 0 is allowed: a mask of another CPU cannot be made";
  }
  ASSERT_TRUE(Start(std::to_string(cpu), 2));
  std::map<int, Task> tasks = Tasks(gw_.pid());
  EXPECT_EQ(CpusOf(tasks, "rw-shard-0"), std::to_string(cpu)) << Describe(tasks);
  EXPECT_EQ(CpusOf(tasks, "rw-shard-1"), std::to_string(cpu)) << Describe(tasks);
  EXPECT_TRUE(gw_.LogContains(" warn shards=2 exceed the 1 cpus")) << gw_.LogTail();
}

}  // namespace
}  // namespace ringway::integration
