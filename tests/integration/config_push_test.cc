// Issue 20: `ringway config push|diff` against a real etcd (tests/integration/etcd.h), with
// the real etcdctl as the oracle for what etcd holds; and the transaction guard that push
// relies on (a range compare with range_end) checked on etcd itself.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "etcd.h"
#include "harness.h"
#include "ringway/etcd.h"

namespace ringway::integration {
namespace {

// The shared sections of a file: `version` and the given APIs (and a TEST environment).
std::string SharedFile(const std::vector<std::string>& apis) {
  std::string doc = R"({"version":1,"environments":[{"name":"TEST"}],"apis":[)";
  for (size_t i = 0; i < apis.size(); ++i) {
    doc += (i == 0 ? "" : ",") + apis[i];
  }
  return doc + "]}";
}

std::string Api(std::string_view name, std::string_view body = "hello") {
  return MockApi(name, "GET", "/" + std::string(name), body);
}

// One etcd for the suite; each test writes under its own prefix.
class ConfigPushTest : public EtcdSuiteTest {
 protected:
  // `ringway config <command> -c FILE --etcd ... --prefix ...`; FILE holds `doc`.
  CommandResult Run(std::string_view command, const std::string& doc,
                    std::vector<std::string> extra = {}) {
    std::string file = dir_.WriteFile("shared.json", doc);
    std::vector<std::string> args = {"config", std::string(command), "-c",       file,
                                     "--etcd", endpoint(),           "--prefix", prefix_};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunRingway(args, 20000);
  }
  static std::string endpoint() { return etcd_->endpoint(); }

  static EtcdServer& etcd() { return *etcd_; }

  TempDir dir_;
};

TEST_F(ConfigPushTest, PushCreatesTheKeys) {
  CommandResult r = Run("push", SharedFile({Api("alpha"), Api("beta")}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 added, 0 changed, 0 deleted"), std::string::npos) << r.out;
  EXPECT_EQ(etcd().Keys(prefix_),
            (std::vector<std::string>{prefix_ + "_push", prefix_ + "apis/alpha",
                                      prefix_ + "apis/beta", prefix_ + "environments/TEST"}));
  // The value is the object's minified JSON.
  EXPECT_EQ(etcd().Get(prefix_ + "apis/alpha"), Api("alpha"));
  EXPECT_EQ(etcd().Get(prefix_ + "environments/TEST"), R"({"name":"TEST"})");
  std::string stamp = etcd().Get(prefix_ + "_push").value_or("");
  EXPECT_EQ(JsonInt(stamp, "/objects"), 3) << stamp;
  EXPECT_TRUE(JsonString(stamp, "/at").has_value()) << stamp;
  EXPECT_TRUE(JsonString(stamp, "/host").has_value()) << stamp;
  // "pushed revision N" is the revision etcd is at now.
  std::string expected = "pushed revision " + std::to_string(etcd().Revision()) + ":";
  EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
}

TEST_F(ConfigPushTest, IdenticalPushChangesNothing) {
  std::string doc = SharedFile({Api("alpha")});
  ASSERT_EQ(Run("push", doc).exit_code, 0);
  int64_t revision = etcd().Revision();
  CommandResult r = Run("push", doc);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "no changes (revision " + std::to_string(revision) + ")\n");
  EXPECT_EQ(etcd().Revision(), revision) << "a push without changes wrote";
}

TEST_F(ConfigPushTest, DiffListsChangesAndPushAppliesThem) {
  ASSERT_EQ(Run("push", SharedFile({Api("alpha"), Api("beta")})).exit_code, 0);
  int64_t revision = etcd().Revision();
  std::string edited = SharedFile({Api("alpha", "changed"), Api("gamma")});
  CommandResult d = Run("diff", edited);
  EXPECT_EQ(d.exit_code, 1) << d.out << d.err;
  EXPECT_EQ(d.out, "+ apis/gamma\n~ apis/alpha\n- apis/beta\n");
  EXPECT_EQ(etcd().Revision(), revision) << "diff wrote";

  CommandResult p = Run("push", edited);
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  EXPECT_NE(p.out.find("1 added, 1 changed, 1 deleted"), std::string::npos) << p.out;
  EXPECT_FALSE(etcd().Get(prefix_ + "apis/beta").has_value());
  EXPECT_EQ(etcd().Get(prefix_ + "apis/alpha"), Api("alpha", "changed"));
  EXPECT_EQ(etcd().Get(prefix_ + "apis/gamma"), Api("gamma"));

  CommandResult again = Run("diff", edited);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.out, "no changes (revision " + std::to_string(etcd().Revision()) + ")\n");
}

TEST_F(ConfigPushTest, InvalidFileIsRefusedWithItsPath) {
  std::string bad =
      SharedFile({Api("alpha"), HttpApi("beta", "GET", "/beta", R"("url":"127.0.0.1:9")", "/", "",
                                        R"("retry_count":11)")});
  int64_t revision = etcd().Revision();
  CommandResult r = Run("push", bad);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("config error: apis[1].backend.retry_count: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing written"), std::string::npos) << r.err;
  CommandResult d = Run("diff", bad);
  EXPECT_EQ(d.exit_code, 2) << d.out << d.err;  // an error, not "they differ"
  EXPECT_TRUE(etcd().Keys(prefix_).empty());
  EXPECT_EQ(etcd().Revision(), revision);
}

TEST_F(ConfigPushTest, FullDocumentIsAccepted) {
  ConfigSpec spec;
  spec.apis = {Api("alpha")};
  CommandResult r = Run("push", BuildConfig(spec));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Only shared objects go to etcd: not the instance, listeners or limits.
  EXPECT_EQ(etcd().Keys(prefix_),
            (std::vector<std::string>{prefix_ + "_push", prefix_ + "apis/alpha"}));
}

TEST_F(ConfigPushTest, FileWithoutSharedObjectsDeletesNothing) {
  ASSERT_EQ(Run("push", SharedFile({Api("alpha")})).exit_code, 0);
  int64_t revision = etcd().Revision();
  // A node's own file: its shared objects come from etcd.
  std::string node = R"({"version":1,"instance":{"id":"gw"},"config_source":{"etcd":{)"
                     R"("endpoints":["127.0.0.1:2379"],"prefix":"/ringway/prod/"}}})";
  CommandResult r = Run("push", node);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("has no shared objects"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("refusing to delete the 2 objects under " + prefix_), std::string::npos)
      << r.err;
  EXPECT_EQ(etcd().Revision(), revision);
  CommandResult d = Run("diff", node);  // diff still shows what such a push would do
  EXPECT_EQ(d.exit_code, 1) << d.out << d.err;
  EXPECT_EQ(d.out, "- apis/alpha\n- environments/TEST\n");
}

TEST_F(ConfigPushTest, SameJsonWrittenDifferentlyIsUnchanged) {
  std::string doc = SharedFile({Api("alpha")});
  ASSERT_EQ(Run("push", doc).exit_code, 0);
  // The same object, pretty-printed, written by hand.
  std::string pretty = R"({ "name": "TEST" }
)";
  ASSERT_TRUE(etcd().Put(prefix_ + "environments/TEST", pretty));
  int64_t revision = etcd().Revision();
  CommandResult d = Run("diff", doc);
  EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  CommandResult p = Run("push", doc);
  EXPECT_EQ(p.out, "no changes (revision " + std::to_string(revision) + ")\n") << p.err;
  EXPECT_EQ(etcd().Get(prefix_ + "environments/TEST"), pretty);  // left as it was
}

TEST_F(ConfigPushTest, ObjectDeletedByHandIsAddedBack) {
  std::string doc = SharedFile({Api("alpha")});
  ASSERT_EQ(Run("push", doc).exit_code, 0);
  ASSERT_TRUE(etcd().Del(prefix_ + "apis/alpha"));
  ASSERT_FALSE(etcd().Get(prefix_ + "apis/alpha").has_value());
  CommandResult d = Run("diff", doc);
  EXPECT_EQ(d.exit_code, 1) << d.out << d.err;
  EXPECT_EQ(d.out, "+ apis/alpha\n");
  CommandResult p = Run("push", doc);
  EXPECT_NE(p.out.find("1 added, 0 changed, 0 deleted"), std::string::npos) << p.out << p.err;
  EXPECT_EQ(etcd().Get(prefix_ + "apis/alpha"), Api("alpha"));
}

TEST_F(ConfigPushTest, ReservedKeysAreNotObjects) {
  ASSERT_TRUE(etcd().Put(prefix_ + "_note", "kept"));
  CommandResult r = Run("push", SharedFile({Api("alpha")}));
  EXPECT_NE(r.out.find("2 added, 0 changed, 0 deleted"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(etcd().Get(prefix_ + "_note"), "kept");
}

TEST_F(ConfigPushTest, UnreachableEtcdIsAnError) {
  std::string closed = "127.0.0.1:" + std::to_string(UnusedPort());
  std::string file = dir_.WriteFile("shared.json", SharedFile({Api("alpha")}));
  CommandResult r = RunRingway({"config", "push", "-c", file, "--etcd", closed, "--prefix", prefix_,
                                "--timeout-ms", "1000"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot connect to etcd at " + closed), std::string::npos) << r.err;
}

TEST_F(ConfigPushTest, SilentEtcdTimesOut) {
  // A listening socket that never accepts: the connection is made, no answer ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string silent = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  std::string file = dir_.WriteFile("shared.json", SharedFile({Api("alpha")}));
  auto start = std::chrono::steady_clock::now();
  CommandResult r = RunRingway(
      {"config", "diff", "-c", file, "--etcd", silent, "--prefix", prefix_, "--timeout-ms", "700"});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  ::close(fd);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("timeout 700 ms"), std::string::npos) << r.err;
  EXPECT_GE(ms, 650);
  EXPECT_LT(ms, 5000);
}

TEST_F(ConfigPushTest, UsageErrorsExit2) {
  std::string file = dir_.WriteFile("shared.json", SharedFile({Api("alpha")}));
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"config", "push", "-c", file, "--etcd", endpoint(), "--prefix", "/no-slash"},
           {"config", "push", "-c", file, "--etcd", "no-port", "--prefix", prefix_},
           {"config", "push", "-c", file, "--prefix", prefix_},
           {"config", "show", "-c", file, "--etcd", endpoint(), "--prefix", prefix_}}) {
    CommandResult r = RunRingway(args);
    EXPECT_EQ(r.exit_code, 2) << args[5] << ": " << r.out << r.err;
  }
}

// ---- the guard ----

// One request to etcd's gateway; the parsed transaction result.
etcd::TxnResult Txn(const EtcdServer& server, const etcd::TxnOps& ops) {
  Client c(server.client_port());
  if (!c.Connect()) {
    return {false, 0, "connect failed"};
  }
  c.Send(etcd::http_request(server.endpoint(), "/v3/kv/txn", etcd::txn_body(ops)));
  std::string raw = c.ReadUntilEof(10000);
  std::optional<etcd::HttpAnswer> a = etcd::split_response(raw);
  if (!a || a->status != 200) {
    return {false, 0, "bad answer: " + raw};
  }
  return etcd::parse_txn(a->body);
}

TEST_F(ConfigPushTest, RangeGuardHoldsOnEtcd) {
  ASSERT_TRUE(etcd().Put(prefix_ + "apis/a", "{}"));
  int64_t read = etcd().Revision();
  etcd::TxnOps ops{prefix_, read, {{prefix_ + "apis/b", "{}"}}, {}};
  // Outside the prefix (a sibling whose name extends it): the guard does not see it.
  ASSERT_TRUE(etcd().Put(prefix_.substr(0, prefix_.size() - 1) + "x/apis/a", "{}"));
  etcd::TxnResult first = Txn(etcd(), ops);
  ASSERT_TRUE(first.error.empty()) << first.error;
  EXPECT_TRUE(first.succeeded);
  EXPECT_EQ(etcd().Get(prefix_ + "apis/b"), "{}");
  // The same guard again: a key under the prefix changed after `read` (the first txn's put).
  ops.puts = {{prefix_ + "apis/c", "{}"}};
  etcd::TxnResult second = Txn(etcd(), ops);
  ASSERT_TRUE(second.error.empty()) << second.error;
  EXPECT_FALSE(second.succeeded);
  EXPECT_FALSE(etcd().Get(prefix_ + "apis/c").has_value());
  // Guarded by the newest revision, it passes; a put by another writer then fails it.
  ops.read_revision = etcd().Revision();
  ASSERT_TRUE(etcd().Put(prefix_ + "apis/a", R"({"x":1})"));
  EXPECT_FALSE(Txn(etcd(), ops).succeeded);
  ops.read_revision = etcd().Revision();
  EXPECT_TRUE(Txn(etcd(), ops).succeeded);
}

TEST_F(ConfigPushTest, EmptyPrefixGuardHolds) {
  etcd::TxnOps ops{prefix_, etcd().Revision(), {{prefix_ + "apis/a", "{}"}}, {}};
  EXPECT_TRUE(Txn(etcd(), ops).succeeded);
}

// Forwards each HTTP/1.0 request to etcd; before the first transaction it runs `hook`, so
// that another writer changes etcd between push's read and its transaction.
class TxnInterposer {
 public:
  TxnInterposer(const EtcdServer& etcd, std::function<void()> hook)
      : etcd_(etcd), hook_(std::move(hook)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 8);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TxnInterposer() {
    ::shutdown(fd_, SHUT_RDWR);  // ends the accept
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  int txns() const { return txns_; }

 private:
  void Loop() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      std::string request = ReadRequest(c);
      if (request.find("POST /v3/kv/txn ") == 0 && txns_++ == 0) {
        hook_();
      }
      Client etcd(etcd_.client_port());
      std::string answer;
      if (etcd.Connect()) {
        etcd.Send(request);
        answer = etcd.ReadUntilEof(10000);
      }
      (void)!::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  // The head and the Content-Length bytes of body.
  static std::string ReadRequest(int c) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t head = in.find("\r\n\r\n");
      if (head != std::string::npos) {
        size_t cl = in.find("Content-Length: ");
        size_t n = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
        if (in.size() >= head + 4 + n) {
          return in;
        }
      }
      ssize_t got = ::recv(c, buf, sizeof(buf), 0);
      if (got <= 0) {
        return in;
      }
      in.append(buf, static_cast<size_t>(got));
    }
  }

  const EtcdServer& etcd_;
  std::function<void()> hook_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> txns_{0};
  std::thread thread_;
};

TEST_F(ConfigPushTest, AnotherWriterBetweenReadAndTxnFailsThePush) {
  std::string doc = SharedFile({Api("alpha")});
  ASSERT_EQ(Run("push", doc).exit_code, 0);
  int64_t read_revision = etcd().Revision();
  std::string other = prefix_ + "apis/other";
  TxnInterposer between(etcd(), [&] { EXPECT_TRUE(etcd().Put(other, R"({"name":"other"})")); });
  std::string file = dir_.WriteFile("shared.json", SharedFile({Api("alpha"), Api("beta")}));
  CommandResult r = RunRingway(
      {"config", "push", "-c", file, "--etcd", between.endpoint(), "--prefix", prefix_}, 20000);
  EXPECT_EQ(between.txns(), 1);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.err, "etcd changed under the push (another writer after revision " +
                       std::to_string(read_revision) + "): nothing written, run it again\n");
  EXPECT_FALSE(etcd().Get(prefix_ + "apis/beta").has_value());
  EXPECT_EQ(etcd().Get(other), R"({"name":"other"})");  // the other writer's put stays
  // Run again, it sees the other writer's object and deletes it.
  CommandResult again = Run("push", SharedFile({Api("alpha"), Api("beta")}));
  EXPECT_NE(again.out.find("1 added, 0 changed, 1 deleted"), std::string::npos) << again.out;
}

// ---- etcd's limits and restarts, each on an etcd of its own ----

TEST(ConfigPushLimits, TooManyOperationsIsExplained) {
  EtcdServer small({"--max-txn-ops=4"});
  ASSERT_TRUE(small.Start());
  TempDir dir;
  // 5 objects and the stamp: 6 operations.
  std::string file =
      dir.WriteFile("shared.json", SharedFile({Api("a1"), Api("a2"), Api("a3"), Api("a4")}));
  CommandResult r = RunRingway(
      {"config", "push", "-c", file, "--etcd", small.endpoint(), "--prefix", "/it/limits/"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("too many operations in txn request"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("6 operations, above etcd's --max-txn-ops"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing written"), std::string::npos) << r.err;
  EXPECT_TRUE(small.Keys("/it/limits/").empty());
}

TEST(ConfigPushRestart, StoppedEtcdThenStartedAgainKeepsItsData) {
  EtcdServer server;
  ASSERT_TRUE(server.Start());
  TempDir dir;
  std::string file = dir.WriteFile("shared.json", SharedFile({Api("alpha")}));
  std::vector<std::string> push = {
      "config",          "push",     "-c",           file,           "--etcd",
      server.endpoint(), "--prefix", "/it/restart/", "--timeout-ms", "1000"};
  ASSERT_EQ(RunRingway(push).exit_code, 0);
  int port = server.client_port();
  server.Stop();
  EXPECT_FALSE(server.running());
  CommandResult down = RunRingway(push);
  EXPECT_EQ(down.exit_code, 2) << down.out << down.err;
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(server.client_port(), port);
  EXPECT_EQ(server.Get("/it/restart/apis/alpha"), Api("alpha"));
  CommandResult again = RunRingway(push);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("no changes"), std::string::npos) << again.out;
}

}  // namespace
}  // namespace ringway::integration
