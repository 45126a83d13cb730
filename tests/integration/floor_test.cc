// ringway-floor (bench/floor/, the kernel floor bench/compare measures ringway against)
// relaying between real clients (/usr/bin/curl, ringway-load, the harness client) and
// stub_backend: bytes arrive exactly, keep-alive connections keep their one backend
// connection, a close on either side reaches the other, off-loopback addresses are refused.
// Skipped when the build has no ringway-floor (-Dbench=false).
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace ringway::integration {
namespace {

std::string EnvBin(const char* name) {
  const char* bin = getenv(name);
  return bin != nullptr && access(bin, X_OK) == 0 ? bin : "";
}

// A running ringway-floor in front of `backend`.
class Floor {
 public:
  ::testing::AssertionResult Start(const Backend& backend, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {EnvBin("RINGWAY_FLOOR_BIN"), "--listen", "127.0.0.1:0",
                                     "--backend", backend.address()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string error;
    if (!proc_.Spawn(argv, &error)) {
      return ::testing::AssertionFailure() << "cannot start ringway-floor: " << error;
    }
    // "listening PORT\n" comes in one write.
    if (!proc_.WaitFor(Process::kStdout, "\n", 5000)) {
      return ::testing::AssertionFailure()
             << "ringway-floor printed no port; stderr: " << proc_.Output(Process::kStderr);
    }
    std::smatch m;
    const std::string out = proc_.Output(Process::kStdout);
    if (!std::regex_match(out, m, std::regex("listening ([0-9]+)\n"))) {
      return ::testing::AssertionFailure() << "unexpected stdout: '" << out << "'";
    }
    port_ = std::stoi(m[1]);
    return ::testing::AssertionSuccess();
  }
  int port() const { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  Process& proc() { return proc_; }

 private:
  Process proc_;
  int port_ = -1;
};

// Sockets in /proc/net/tcp whose local (`local_side`) or remote port is `port`, in TCP
// state `state` (hex as the file has it: "01" ESTABLISHED).
int CountSockets(int port, bool local_side, const std::string& state) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char want[8];
  snprintf(want, sizeof(want), "%04X", port);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, st;
    fields >> sl >> local >> remote >> st;
    const std::string& addr = local_side ? local : remote;
    if (st == state && addr.size() > 4 && addr.substr(addr.size() - 4) == want) {
      ++n;
    }
  }
  return n;
}

// The most bytes any socket with local port `port` has queued and unsent (tx_queue).
uint64_t MaxSendQueue(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char want[8];
  snprintf(want, sizeof(want), ":%04X", port);
  uint64_t most = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, st, queues;
    fields >> sl >> local >> remote >> st >> queues;
    if (local.size() > 5 && local.substr(local.size() - 5) == want) {
      most = std::max<uint64_t>(most, std::stoull(queues.substr(0, queues.find(':')), nullptr, 16));
    }
  }
  return most;
}

// The "conn" fields of the stub's echo bodies in `out`, in order.
std::vector<std::string> EchoConns(const std::string& out) {
  std::vector<std::string> conns;
  const std::regex re("\"conn\":([0-9]+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator();
       ++it) {
    conns.push_back((*it)[1]);
  }
  return conns;
}

class FloorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EnvBin("RINGWAY_FLOOR_BIN").empty()) {
      GTEST_SKIP() << "RINGWAY_FLOOR_BIN not set or not executable (built with -Dbench=false?)";
    }
    ASSERT_TRUE(backend_.Start());
  }

  // curl with `args`; fails the test when CURL_BIN is missing.
  CommandResult Curl(std::vector<std::string> args) {
    const std::string curl = EnvBin("CURL_BIN");
    EXPECT_FALSE(curl.empty()) << "CURL_BIN not set (curl not found by meson)";
    std::vector<std::string> argv = {curl, "-sS", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 30000);
  }

  Backend backend_;
  Floor floor_;
};

// Two requests over one keep-alive curl connection: the bytes are exactly what the backend
// sends without the floor in between, and both requests reached the backend on the same
// connection (the client's one backend connection).
TEST_F(FloorTest, CurlKeepAliveGetsTheBackendsExactResponses) {
  ASSERT_TRUE(floor_.Start(backend_));
  const std::string direct = "http://" + backend_.address() + "/bytes/1000";
  const CommandResult want = Curl({"-i", direct, direct});
  const CommandResult got = Curl({"-i", floor_.url("/bytes/1000"), floor_.url("/bytes/1000")});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_NE(got.out.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << got.out;
  EXPECT_EQ(got.out.size(), want.out.size());
  EXPECT_TRUE(got.out == want.out) << "responses through the floor differ from direct ones";

  const CommandResult ka = Curl({"-v", floor_.url("/ka/one"), floor_.url("/ka/two")});
  ASSERT_EQ(ka.exit_code, 0) << ka.err;
  EXPECT_NE(ka.err.find("Re-using existing connection"), std::string::npos) << ka.err;
  const std::vector<std::string> conns = EchoConns(ka.out);
  ASSERT_EQ(conns.size(), 2u) << ka.out;
  EXPECT_EQ(conns[0], conns[1]) << "one client's requests reached two backend connections";
  EXPECT_TRUE(backend_.WaitRequest("conn=" + conns[0] + " GET /ka/two", 5000));
  const CommandResult next = Curl({floor_.url("/ka/three")});
  const std::vector<std::string> next_conns = EchoConns(next.out);
  ASSERT_EQ(next_conns.size(), 1u) << next.out << next.err;
  EXPECT_NE(next_conns[0], conns[0]) << "a new client must get a backend connection of its own";
}

// More than 1 MiB each way, byte-exact: a POST body of pseudo-random bytes (the stub's
// /sink answers with its length and FNV-1a) and a 3 MB response of the stub's pattern.
// curl sends "Expect: 100-continue" for such a body: an interim response interleaves.
TEST_F(FloorTest, LargeBodiesArriveIntactBothWays) {
  ASSERT_TRUE(floor_.Start(backend_));
  std::string body(1536 * 1024 + 7, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (char& c : body) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  TempDir dir;
  const std::string file = dir.WriteFile("body.bin", body);
  const CommandResult up = Curl({"--data-binary", "@" + file, floor_.url("/sink")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(JsonInt(up.out, "/bytes"), static_cast<int64_t>(body.size())) << up.out;
  EXPECT_EQ(JsonString(up.out, "/fnv"), Fnv1aHex(body)) << up.out;

  constexpr size_t kDown = 3'000'001;
  const CommandResult down = Curl({floor_.url("/bytes/" + std::to_string(kDown))});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(down.out.size(), kDown);
  EXPECT_TRUE(MatchesPattern(0, down.out)) << "the response body differs from the pattern";
}

// A client that stops reading: the floor's queue for it fills, its receive from the backend
// pauses (then the backend's own send queue fills), and once the client reads again every
// byte still arrives, in order. A receive that is never resumed stalls this transfer.
TEST_F(FloorTest, SlowReaderGetsEveryByteInOrder) {
  ASSERT_TRUE(floor_.Start(backend_, {"--spare", "1"}));
  constexpr uint64_t kSize = 64ull << 20;
  Client client(floor_.port(), 20000);
  client.SetRecvBuffer(8192);
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/bytes/" + std::to_string(kSize))));
  EXPECT_TRUE(PollUntil([&] { return MaxSendQueue(backend_.port()) > (256u << 10); }, 10000))
      << "the backend never had to wait: nothing held the transfer back";
  uint64_t offset = 0;
  bool in_order = true;
  const BodySink sink = [&](std::string_view data) {
    in_order = in_order && MatchesPattern(offset, data);
    offset += data.size();
  };
  const std::optional<Response> r = client.Read(false, &sink);
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->body_bytes, kSize);
  EXPECT_TRUE(in_order) << "bytes arrived out of order or changed";
}

// Many slow readers at once hold more buffers than the shared buffer ring has: receives
// end with -ENOBUFS and must be re-armed once buffers come back. Every client still gets
// its whole response, in order; the exit line shows the buffer ring did run dry. The
// clients then read at the same time: buffers held for a client that never reads are not
// returned (see bench/floor/relay.h), so reading them one after another could starve one.
TEST_F(FloorTest, ManySlowReadersShareTheBuffersAndAllFinish) {
  ASSERT_TRUE(floor_.Start(backend_, {"--spare", "8"}));
  constexpr int kClients = 96;
  constexpr uint64_t kSize = 3ull << 20;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(floor_.port(), 20000));
    clients.back()->SetRecvBuffer(4096);
    clients.back()->SetMaxSegment(1024);  // the floor's socket to it then buffers little
    ASSERT_TRUE(clients.back()->Connect());
    ASSERT_TRUE(clients.back()->Send(BuildRequest("GET", "/bytes/" + std::to_string(kSize))));
  }
  EXPECT_TRUE(PollUntil([&] { return MaxSendQueue(backend_.port()) > (256u << 10); }, 10000))
      << "the backend never had to wait: nothing held the transfers back";
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i) {
    readers.emplace_back([&, i] {
      uint64_t offset = 0;
      bool in_order = true;
      const BodySink sink = [&](std::string_view data) {
        in_order = in_order && MatchesPattern(offset, data);
        offset += data.size();
      };
      const std::optional<Response> r = clients[i]->Read(false, &sink);
      if (!r || r->status != 200 || r->body_bytes != kSize || !in_order) {
        failures[i] =
            "client " + std::to_string(i) + ": " +
            (r ? "status " + std::to_string(r->status) + ", " + std::to_string(r->body_bytes) +
                     " bytes" + (in_order ? "" : ", out of order")
               : std::string("no response"));
      }
    });
  }
  for (std::thread& t : readers) {
    t.join();
  }
  for (const std::string& f : failures) {
    EXPECT_EQ(f, "");
  }
  floor_.proc().Signal(SIGTERM);
  ASSERT_EQ(floor_.proc().WaitExit(5000), 0);
  const std::string err = floor_.proc().Output(Process::kStderr);
  EXPECT_EQ(err.find("out_of_buffers 0 "), std::string::npos)
      << "the buffer ring never ran dry: the -ENOBUFS path was not exercised\n"
      << err;
}

// ringway-load, 64 connections, 20000 requests: every request answered, no error.
TEST_F(FloorTest, LoadGeneratorEveryRequestAnswered) {
  const std::string load = EnvBin("RINGWAY_LOAD_BIN");
  if (load.empty()) {
    GTEST_SKIP() << "RINGWAY_LOAD_BIN not set";
  }
  ASSERT_TRUE(floor_.Start(backend_));
  const CommandResult run =
      RunCommand({load, "-c", "64", "-n", "20000", "--json", floor_.url("/ping")}, 120000);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(run.out).get(doc), simdjson::SUCCESS) << run.out;
  int64_t requests = -1, responses = -2, ok = -3, errors = -4, lost = -5;
  ASSERT_EQ(doc["requests"].get(requests), simdjson::SUCCESS);
  ASSERT_EQ(doc["responses"].get(responses), simdjson::SUCCESS);
  ASSERT_EQ(doc["status"]["2xx"].get(ok), simdjson::SUCCESS);
  ASSERT_EQ(doc["errors"]["total"].get(errors), simdjson::SUCCESS);
  ASSERT_EQ(doc["lost"].get(lost), simdjson::SUCCESS);
  EXPECT_EQ(requests, 20000) << run.out;
  EXPECT_EQ(responses, requests) << run.out;
  EXPECT_EQ(ok, responses) << run.out;
  EXPECT_EQ(errors, 0) << run.out;
  EXPECT_EQ(lost, 0) << run.out;
  EXPECT_TRUE(floor_.proc().running());
}

// The backend ends the connection (a Connection: close response): the client gets the
// whole response, then EOF.
TEST_F(FloorTest, BackendCloseReachesTheClient) {
  ASSERT_TRUE(floor_.Start(backend_));
  Client client(floor_.port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/bye")));
  const std::optional<Response> r = client.Read();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(r->Header("Connection"), "close");
  std::string extra;
  EXPECT_TRUE(client.WaitClosed(5000, &extra));
  EXPECT_EQ(extra, "");
}

// The client leaves: its backend connection is closed too (counted in /proc/net/tcp: the
// floor's sockets to the backend, ESTABLISHED, go back to the --spare pool size).
TEST_F(FloorTest, ClientCloseClosesItsBackendConnection) {
  ASSERT_TRUE(floor_.Start(backend_, {"--spare", "2"}));
  const int port = backend_.port();
  EXPECT_TRUE(PollUntil([&] { return CountSockets(port, false, "01") == 2; }, 5000))
      << CountSockets(port, false, "01") << " connections to the backend, want the 2 spare";
  Client client(floor_.port());
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(HasStatus(client.Get("/first"), 200));
  EXPECT_TRUE(PollUntil([&] { return CountSockets(port, false, "01") == 3; }, 5000))
      << CountSockets(port, false, "01") << " connections to the backend, want 2 spare + 1";
  client.Close();
  EXPECT_TRUE(PollUntil([&] { return CountSockets(port, false, "01") == 2; }, 5000))
      << CountSockets(port, false, "01") << " connections to the backend after the client left";
  EXPECT_TRUE(PollUntil([&] { return CountSockets(port, true, "01") == 2; }, 5000))
      << "the backend still has " << CountSockets(port, true, "01") << " open connections";
}

// --max-conns: clients beyond it are accepted and closed at once; the ones within keep
// working.
TEST_F(FloorTest, ClientsBeyondMaxConnsAreClosed) {
  ASSERT_TRUE(floor_.Start(backend_, {"--max-conns", "2", "--spare", "2"}));
  Client a(floor_.port());
  Client b(floor_.port());
  ASSERT_TRUE(HasStatus(a.Get("/a"), 200));
  ASSERT_TRUE(HasStatus(b.Get("/b"), 200));
  Client c(floor_.port());
  ASSERT_TRUE(c.Connect());
  EXPECT_TRUE(c.WaitClosed(5000)) << "a third client was served with --max-conns 2";
  EXPECT_TRUE(HasStatus(a.Get("/a2"), 200));
  b.Close();
  // b's slot is free again (the close is noticed asynchronously: retry until served).
  EXPECT_TRUE(PollUntil([&] { return HasStatus(HttpGet(floor_.port(), "/d"), 200); }, 5000));
}

// A backend that accepts nothing: a client waits for one connect attempt, then is closed
// (it does not hang), and the failure is said once on stderr.
TEST_F(FloorTest, BackendDownClosesWaitingClients) {
  Backend down;
  ASSERT_TRUE(down.Start());
  const int port = down.port();
  down.Kill();
  Process proc;
  std::string error;
  ASSERT_TRUE(proc.Spawn({EnvBin("RINGWAY_FLOOR_BIN"), "--listen", "127.0.0.1:0", "--backend",
                          "127.0.0.1:" + std::to_string(port)},
                         &error))
      << error;
  ASSERT_TRUE(proc.WaitFor(Process::kStdout, "\n", 5000)) << proc.Output(Process::kStderr);
  const std::string out = proc.Output(Process::kStdout);
  Client client(std::stoi(out.substr(out.find(' ') + 1)));
  ASSERT_TRUE(client.Connect());
  ASSERT_TRUE(client.Send(BuildRequest("GET", "/x")));
  EXPECT_TRUE(client.WaitClosed(5000));
  // The line may reach the harness's reader a moment after the close reached the client (two
  // channels): waited for, then counted.
  EXPECT_TRUE(proc.WaitFor(Process::kStderr, "backend connect failed: Connection refused", 2000))
      << proc.Output(Process::kStderr);
  EXPECT_EQ(proc.Count(Process::kStderr, "backend connect failed: Connection refused"), 1u)
      << proc.Output(Process::kStderr);
}

// Off-loopback addresses and bad options: exit 2 with the reason, nothing started.
TEST_F(FloorTest, RefusesOffLoopbackAddressesAndBadOptions) {
  const std::string bin = EnvBin("RINGWAY_FLOOR_BIN");
  CommandResult r = RunCommand({bin, "--listen", "127.0.0.1:0", "--backend", "10.0.0.1:80"}, 10000);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("refusing address '10.0.0.1:80'"), std::string::npos) << r.err;
  r = RunCommand({bin, "--listen", "0.0.0.0:0", "--backend", backend_.address()}, 10000);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("refusing address '0.0.0.0:0'"), std::string::npos) << r.err;
  r = RunCommand(
      {bin, "--listen", "127.0.0.1:0", "--backend", backend_.address(), "--spare", "many"}, 10000);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("usage: ringway-floor"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

// IPv6 loopback on both sides, and SIGTERM ends the relay with exit status 0.
TEST_F(FloorTest, Ipv6AndCleanExitOnSigterm) {
  ASSERT_TRUE(backend_.running());
  Process proc;
  std::string error;
  ASSERT_TRUE(proc.Spawn(
      {EnvBin("RINGWAY_FLOOR_BIN"), "--listen", "[::1]:0", "--backend", backend_.address()},
      &error))
      << error;
  ASSERT_TRUE(proc.WaitFor(Process::kStdout, "\n", 5000)) << proc.Output(Process::kStderr);
  const std::string out = proc.Output(Process::kStdout);
  const std::string port = out.substr(out.find(' ') + 1, out.size() - out.find(' ') - 2);
  const CommandResult r = Curl({"-g", "http://[::1]:" + port + "/v6"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonString(r.out, "/target"), "/v6") << r.out;
  proc.Signal(SIGTERM);
  EXPECT_EQ(proc.WaitExit(5000), 0);
}

}  // namespace
}  // namespace ringway::integration
