// Issue 12 (defect 3): accepting with a full fd table. A shard whose accept fails with
// EMFILE pauses that listener with a growing delay instead of re-arming at once (which
// failed again at once and burned a whole CPU), serves its connections meanwhile, and
// accepts again once fds are freed. ringway runs under a low open files limit, soft and
// hard (it raises soft to hard at start), set by prlimit(1); one shard. The admin listener
// (control thread) retries a failed accept after a pause too.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFdLimit = 64;
constexpr int kWaiting = 8;  // clients beyond the fd table, queued in the listen backlog

// The executable `name` from $PATH; empty when there is none.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir + "/" + name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

// Open fds of `pid` numbered below kFdLimit: the table the limit bounds. An fd inherited
// from the test's own parent may have a higher number.
int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    n += std::atoi(it->path().filename().c_str()) < kFdLimit ? 1 : 0;
  }
  return n;
}

// User + system CPU seconds of the whole process (all threads), from /proc/PID/stat.
double CpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // comm may hold spaces
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // utime and stime: fields 14 and 15
    if (i == 14) {
      utime = std::stoull(field);
    } else if (i == 15) {
      stime = std::stoull(field);
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

class AcceptBackoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string prlimit = FindOnPath("prlimit");
    if (prlimit.empty()) {
      GTEST_SKIP() << "prlimit (util-linux) is not installed";
    }
    ConfigSpec spec;
    spec.apis = {PingApi()};
    spec.extra = R"("admin": {"address": "127.0.0.1:0"})";  // its accepts share the fd table
    GatewayOptions opts;
    opts.shards = 1;
    opts.launcher = {prlimit,
                     "--nofile=" + std::to_string(kFdLimit) + ":" + std::to_string(kFdLimit), "--"};
    ASSERT_TRUE(gw_.Start(BuildConfig(spec), opts));
    port_ = gw_.port();
  }

  // Opens kept-alive connections, each answered once, until ringway's fd table is full (its
  // own fds, whatever they are, count: the number of clients is found, not assumed).
  void FillFdTable() {
    while (OpenFds(gw_.pid()) < kFdLimit) {
      ASSERT_LT(served_.size(), static_cast<size_t>(kFdLimit)) << "fds not counted";
      served_.push_back(std::make_unique<Client>(port_));
      ASSERT_TRUE(HasStatus(served_.back()->Get("/ping"), 200))
          << "client " << served_.size() << ", ringway holds " << OpenFds(gw_.pid()) << " fds";
    }
    ASSERT_GT(served_.size(), 10u);
  }

  // Connects clients that ringway has no fd for: the kernel completes their handshakes
  // into the backlog, where their requests wait.
  void QueueWaiting() {
    for (int i = 0; i < kWaiting; ++i) {
      waiting_.push_back(std::make_unique<Client>(port_));
      ASSERT_TRUE(waiting_.back()->Connect());
      ASSERT_TRUE(waiting_.back()->Send(BuildRequest("GET", "/ping")));
    }
  }

  size_t WaitingAnswered() const {
    size_t n = 0;
    for (const auto& c : waiting_) {
      n += c->connected() && c->Readable() ? 1 : 0;
    }
    return n;
  }

  Gateway gw_;
  int port_ = -1;
  std::vector<std::unique_ptr<Client>> served_;
  std::vector<std::unique_ptr<Client>> waiting_;
};

TEST_F(AcceptBackoffTest, FullFdTablePausesAcceptingServesAndRecovers) {
  EXPECT_TRUE(gw_.LogContains("open files limit=" + std::to_string(kFdLimit)));
  ASSERT_NO_FATAL_FAILURE(FillFdTable());
  ASSERT_NO_FATAL_FAILURE(QueueWaiting());

  // (a) Accepting cannot succeed now. Spinning on the failing accept costs ~100% of a CPU;
  // paused, the shard is idle.
  double cpu_before = CpuSeconds(gw_.pid());
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the measurement window
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  double share = (CpuSeconds(gw_.pid()) - cpu_before) / wall;
  std::printf("ringway CPU with a full fd table and %d clients waiting: %.1f%% of %.2f s\n",
              kWaiting, share * 100, wall);
  EXPECT_LT(share, 0.30) << "the shard spins on its failing accept";
  EXPECT_TRUE(gw_.LogContains("accept paused: Too many open files")) << gw_.LogTail();
  EXPECT_EQ(WaitingAnswered(), 0u) << "no fd was free: nothing can have been accepted";

  // (b) The connections ringway has are served meanwhile.
  EXPECT_TRUE(HasStatus(served_.front()->Get("/ping"), 200));
  EXPECT_TRUE(HasStatus(served_.back()->Get("/ping"), 200));

  // (c) Closing 4 connections frees 4 fds: 4 waiting clients are accepted and answered.
  for (int i = 0; i < 4; ++i) {
    served_.back()->Close();
    served_.pop_back();
  }
  EXPECT_TRUE(PollUntil([&] { return WaitingAnswered() >= 4; }, 5000))
      << WaitingAnswered() << " of " << kWaiting << " waiting clients answered";
  // Closing the rest serves every waiting client and new connections again.
  served_.clear();
  for (size_t i = 0; i < waiting_.size(); ++i) {
    EXPECT_TRUE(HasStatus(waiting_[i]->ReadFinal(), 200)) << "waiting client " << i;
  }
  EXPECT_TRUE(PollUntil([&] { return HasStatus(HttpGet(port_, "/ping"), 200); }, 5000));
  // Reported once per interval, not once per failed accept.
  EXPECT_LE(gw_.LogCount("accept paused"), 10u) << gw_.LogTail();
}

// The admin listener (control thread) with a full fd table: its failed accept is retried
// after a pause, not at once (which would spin the control thread), and its waiting client
// is served once fds are free.
TEST_F(AcceptBackoffTest, AdminAcceptRetriesAfterAPauseWithAFullFdTable) {
  const int admin = gw_.port("admin");
  ASSERT_GT(admin, 0) << gw_.LogTail();
  ASSERT_NO_FATAL_FAILURE(FillFdTable());
  Client waiting(admin);
  ASSERT_TRUE(waiting.Connect());
  ASSERT_TRUE(waiting.Send(BuildRequest("GET", "/healthz")));
  ASSERT_TRUE(gw_.WaitLog("admin: accept: Too many open files: retrying in 100 ms", 5000))
      << gw_.LogTail();

  double cpu_before = CpuSeconds(gw_.pid());
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the measurement window
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  double share = (CpuSeconds(gw_.pid()) - cpu_before) / wall;
  std::printf("ringway CPU with a full fd table and an admin client waiting: %.1f%% of %.2f s\n",
              share * 100, wall);
  EXPECT_LT(share, 0.30) << "the control thread spins on its failing admin accept";
  EXPECT_LE(gw_.LogCount("admin: accept:"), 15u) << "retried more often than every 100 ms";
  EXPECT_FALSE(waiting.Readable()) << "no fd was free: it cannot have been accepted";

  served_.clear();  // frees fds: the next retry accepts the waiting client
  EXPECT_TRUE(HasStatus(waiting.ReadFinal(), 200));
}

// A paused listener does not hold up a drain: SIGTERM closes the idle connections and the
// process exits 0.
TEST_F(AcceptBackoffTest, DrainWhilePaused) {
  ASSERT_NO_FATAL_FAILURE(FillFdTable());
  ASSERT_NO_FATAL_FAILURE(QueueWaiting());
  ASSERT_TRUE(gw_.WaitLog("accept paused", 3000)) << gw_.LogTail();
  gw_.Signal(SIGTERM);
  EXPECT_EQ(gw_.WaitExit(5000), 0) << gw_.LogTail();
}

}  // namespace
}  // namespace ringway::integration
