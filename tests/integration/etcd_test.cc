// etcd as the configuration source (issue 20): ringway nodes watching a real etcd (Debian's
// etcd-server, started by the test on probed loopback ports), objects written by `ringway
// config push` and raw by the real etcdctl.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "channels.h"
#include "etcd.h"
#include "harness.h"
#include "tls_certs.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

// A node's own file: one listener, the admin listener, the etcd source (`tls`: its "tls"
// object, or empty).
std::string NodeConfig(const EtcdServer& etcd, const std::string& prefix, int i,
                       const std::string& tls = "") {
  return R"({"version":1,"instance":{"id":"node-)" + std::to_string(i) +
         R"("},"listeners":[{"name":"main","address":"127.0.0.1:0"}],)"
         R"("admin":{"address":"127.0.0.1:0"},"config_source":{"etcd":{"endpoints":[)" +
         JsonQuote(etcd.endpoint()) + R"(],"prefix":)" + JsonQuote(prefix) +
         R"(,"timeout_ms":2000)" + (tls.empty() ? "" : ",\"tls\":" + tls) + "}}}";
}

// A shared document: the members given (without braces) and `apis`.
std::string SharedDoc(const std::vector<std::string>& apis, const std::string& extra = "") {
  std::string list;
  for (const std::string& a : apis) {
    list += (list.empty() ? "" : ",") + a;
  }
  return "{\"version\":1," + (extra.empty() ? "" : extra + ",") + "\"apis\":[" + list + "]}";
}

// Writes `doc` to a file and runs `ringway config push` with it (and `extra` arguments).
CommandResult Push(const EtcdServer& etcd, const std::string& prefix, const std::string& doc,
                   const std::vector<std::string>& extra = {}) {
  TempDir dir;
  std::string file = dir.WriteFile("shared.json", doc);
  std::vector<std::string> args = {"config", "push",          "-c",       file,
                                   "--etcd", etcd.endpoint(), "--prefix", prefix};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunRingway(args, 20000);
}

// The body a node answers `target` with, or "<status>" / "<no answer>".
std::string Body(int port, const std::string& target) {
  std::optional<Response> r = HttpGet(port, target);
  if (!r) {
    return "<no answer>";
  }
  return r->status == 200 ? r->body : "<" + std::to_string(r->status) + ">";
}

std::string ConfigSource(Gateway& g) {
  std::optional<Response> r = HttpGet(g.port("admin"), "/v1/config_source");
  return r ? r->body : "";
}

int64_t ServedRevision(Gateway& g) { return JsonInt(ConfigSource(g), "/revision").value_or(-1); }

class EtcdSourceTest : public EtcdSuiteTest {
 protected:
  // Starts `n` nodes on prefix_.
  void StartNodes(int n) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<Gateway>());
      GatewayOptions opts;
      opts.shards = 1;
      ASSERT_TRUE(nodes_.back()->Start(NodeConfig(*etcd_, prefix_, i), opts));
    }
  }
  // Every node answers `target` with `body` within `timeout_ms`.
  ::testing::AssertionResult AllServe(const std::string& target, const std::string& body,
                                      int timeout_ms = 5000) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!PollUntil([&] { return Body(nodes_[i]->port(), target) == body; }, timeout_ms)) {
        return ::testing::AssertionFailure()
               << "node " << i << " answers " << target << " with "
               << Body(nodes_[i]->port(), target) << ", not " << body << "; its log:\n"
               << nodes_[i]->LogTail();
      }
    }
    return ::testing::AssertionSuccess();
  }

  std::vector<std::unique_ptr<Gateway>> nodes_;
};

TEST_F(EtcdSourceTest, APushReachesEveryNode) {
  StartNodes(3);
  EXPECT_EQ(Body(nodes_[0]->port(), "/v"), "<404>");  // nothing in etcd yet
  CommandResult r = Push(*etcd_, prefix_, SharedDoc({MockApi("v", "GET", "/v", "one")}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto pushed = Clock::now();
  ASSERT_TRUE(AllServe("/v", "one"));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - pushed).count();
  std::printf("etcd: push to 3 nodes serving it: %lld ms\n", static_cast<long long>(ms));
  r = Push(*etcd_, prefix_,
           SharedDoc({MockApi("v", "GET", "/v", "two"), MockApi("w", "GET", "/w", "new")}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(AllServe("/v", "two"));
  EXPECT_TRUE(AllServe("/w", "new"));
  r = Push(*etcd_, prefix_, SharedDoc({MockApi("w", "GET", "/w", "new")}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(AllServe("/v", "<404>"));
  for (auto& n : nodes_) {
    EXPECT_EQ(ServedRevision(*n), JsonInt(ConfigSource(*nodes_[0]), "/seen_revision"));
    EXPECT_NE(ConfigSource(*n).find("\"connected\":true"), std::string::npos) << ConfigSource(*n);
  }
}

TEST_F(EtcdSourceTest, AnInvalidDocumentIsRefusedAndTheNodesKeepServing) {
  StartNodes(3);
  ASSERT_EQ(Push(*etcd_, prefix_, SharedDoc({MockApi("v", "GET", "/v", "one")})).exit_code, 0);
  ASSERT_TRUE(AllServe("/v", "one"));
  // `config push` refuses it: the file's path, nothing written.
  const std::string bad =
      SharedDoc({MockApi("v", "GET", "/v", "one"),
                 ProxyApi("x", "GET", "/x", "127.0.0.1:1", "/", "", R"("retry_count":99)")});
  CommandResult r = Push(*etcd_, prefix_, bad);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("apis[1].backend.retry_count"), std::string::npos)
      << r.out << r.err;
  const int64_t served = ServedRevision(*nodes_[0]);
  // Written raw, each node refuses it with the key's path and the revision.
  ASSERT_TRUE(etcd_->Put(prefix_ + "apis/x", ProxyApi("x", "GET", "/x", "127.0.0.1:1", "/", "",
                                                      R"("retry_count":99)")));
  for (auto& n : nodes_) {
    // The summary line comes after the errors: waited for, it has them all.
    ASSERT_TRUE(n->WaitLog("etcd: revision " + std::to_string(served + 1) + " refused", 5000))
        << n->LogTail();
    EXPECT_TRUE(n->LogContains("config error: " + prefix_ + "apis/x.backend.retry_count"))
        << n->LogTail();
    const std::string status = ConfigSource(*n);
    EXPECT_EQ(JsonInt(status, "/revision"), served) << status;
    EXPECT_EQ(JsonInt(status, "/last_error/revision"), served + 1) << status;
    EXPECT_EQ(JsonInt(status, "/refused"), 1) << status;
    EXPECT_NE(status.find(prefix_ + "apis/x.backend.retry_count"), std::string::npos) << status;
    std::optional<Response> m = HttpGet(n->port("admin"), "/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("ringway_config_source_refused_total 1"), std::string::npos);
    EXPECT_NE(m->body.find("ringway_config_source_revision " + std::to_string(served)),
              std::string::npos);
  }
  EXPECT_TRUE(AllServe("/v", "one", 0));
  // Fixed: served again at the fixing revision.
  ASSERT_TRUE(etcd_->Put(prefix_ + "apis/x", MockApi("x", "GET", "/x", "fixed")));
  EXPECT_TRUE(AllServe("/x", "fixed"));
  EXPECT_EQ(ServedRevision(*nodes_[2]), served + 2);
}

// Health of members and breaker state survive a change of other objects.
TEST_F(EtcdSourceTest, HealthAndBreakerStateAreKeptAcrossChanges) {
  Backend up;
  Backend down;
  ASSERT_TRUE(up.Start(Stub("up")));
  ASSERT_TRUE(down.Start(Stub("down")));
  StartNodes(1);
  Gateway& node = *nodes_[0];
  const std::string channels = ChannelsMember({{.name = "pool",
                                                .members = {MemberOf(up), MemberOf(down)},
                                                .health_check = TcpHealthCheck()}});
  const std::string apis_extra = channels + ",\n" + BreakerPolicy("origin");
  auto doc = [&](const std::string& version) {
    return SharedDoc({ChannelApi("pool", "/p", "pool", R"("retry_count":0)"),
                      ProxyApi("origin", "GET", "/origin", up.address(), "/stub/status/500"),
                      MockApi("version", "GET", "/version", version)},
                     apis_extra);
  };
  ASSERT_EQ(Push(*etcd_, prefix_, doc("1")).exit_code, 0);
  ASSERT_TRUE(AllServe("/version", "1"));
  // The member goes down (two failed checks), the breaker opens (one 500).
  down.Kill();
  auto member_healthy = [&]() {
    std::optional<Response> r = HttpGet(node.port("admin"), "/v1/channels");
    return r && r->body.find("\"healthy\":false") == std::string::npos;
  };
  ASSERT_TRUE(PollUntil([&] { return !member_healthy(); }, 20000)) << node.LogTail();
  EXPECT_EQ(HttpGet(node.port(), "/origin")->status, 500);
  EXPECT_TRUE(IsGatewayError(HttpGet(node.port(), "/origin"), 503));
  // Another object changes: the new snapshot keeps both.
  ASSERT_EQ(Push(*etcd_, prefix_, doc("2")).exit_code, 0);
  ASSERT_TRUE(AllServe("/version", "2"));
  EXPECT_FALSE(member_healthy()) << HttpGet(node.port("admin"), "/v1/channels")->body;
  EXPECT_TRUE(IsGatewayError(HttpGet(node.port(), "/origin"), 503));
  for (int i = 0; i < 10; ++i) {  // every request to the pool reaches the healthy member
    EXPECT_TRUE(HasStatus(HttpGet(node.port(), "/p/x"), 200));
  }
}

TEST_F(EtcdSourceTest, NodesKeepServingWhileEtcdIsDownAndConvergeAfter) {
  StartNodes(3);
  ASSERT_EQ(Push(*etcd_, prefix_, SharedDoc({MockApi("v", "GET", "/v", "one")})).exit_code, 0);
  ASSERT_TRUE(AllServe("/v", "one"));
  etcd_->Stop();
  const auto stopped = Clock::now();
  int served = 0;
  while (Clock::now() - stopped < std::chrono::seconds(10)) {  // the outage lasts 10 s
    for (auto& n : nodes_) {
      ASSERT_EQ(Body(n->port(), "/v"), "one") << n->LogTail();
      ++served;
    }
  }
  for (auto& n : nodes_) {
    const std::string status = ConfigSource(*n);
    EXPECT_NE(status.find("\"connected\":false"), std::string::npos) << status;
    // Logged once, then at most once per 10 s, not at every retry.
    EXPECT_LE(n->LogCount("warn etcd: "), 3u) << n->LogTail();
  }
  ASSERT_TRUE(etcd_->Start());
  ASSERT_EQ(Push(*etcd_, prefix_, SharedDoc({MockApi("v", "GET", "/v", "two")})).exit_code, 0);
  const auto pushed = Clock::now();
  EXPECT_TRUE(AllServe("/v", "two", 15000));
  std::printf(
      "etcd: %d requests served during the outage; converged %lld ms after the push\n", served,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - pushed).count()));
}

// A node started while etcd is down waits timeout_ms for it, then serves its file alone (404
// for every API) and installs the objects as soon as etcd answers.
TEST_F(EtcdSourceTest, ANodeStartedWhileEtcdIsDownServesOnceItAnswers) {
  ASSERT_EQ(Push(*etcd_, prefix_, SharedDoc({MockApi("v", "GET", "/v", "one")})).exit_code, 0);
  etcd_->Stop();
  StartNodes(1);
  Gateway& node = *nodes_[0];
  EXPECT_TRUE(node.LogContains("serving without shared objects until it answers"))
      << node.LogTail();
  EXPECT_EQ(Body(node.port(), "/v"), "<404>");
  EXPECT_EQ(ServedRevision(node), 0);
  std::optional<Response> health = HttpGet(node.port("admin"), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(health->body, "waiting for etcd\n");
  ASSERT_TRUE(etcd_->Start());
  EXPECT_TRUE(AllServe("/v", "one", 15000));
  EXPECT_GT(ServedRevision(node), 0);
  EXPECT_TRUE(HasStatus(HttpGet(node.port("admin"), "/healthz"), 200));
}

// A node reloaded with SIGHUP keeps the objects from etcd; a file holding shared sections
// beside config_source.etcd is refused.
TEST_F(EtcdSourceTest, ReloadKeepsTheEtcdObjects) {
  StartNodes(1);
  ASSERT_EQ(Push(*etcd_, prefix_, SharedDoc({MockApi("v", "GET", "/v", "one")})).exit_code, 0);
  ASSERT_TRUE(AllServe("/v", "one"));
  Gateway& node = *nodes_[0];
  std::string local = NodeConfig(*etcd_, prefix_, 0);
  local.insert(local.size() - 1, R"(,"limits":{"max_headers":50})");
  node.WriteConfig(local);
  node.Signal(SIGHUP);
  ASSERT_TRUE(node.WaitLog("reload ok", 5000)) << node.LogTail();
  EXPECT_EQ(Body(node.port(), "/v"), "one");
  std::string with_apis = local;
  with_apis.insert(with_apis.size() - 1, R"(,"apis":[])");
  node.WriteConfig(with_apis);
  node.Signal(SIGHUP);
  ASSERT_TRUE(node.WaitLog("reload failed", 5000)) << node.LogTail();
  EXPECT_TRUE(node.LogContains("config error: apis: comes from etcd")) << node.LogTail();
  EXPECT_EQ(Body(node.port(), "/v"), "one");
}

// Certificates for etcd with client-certificate auth. etcd's JSON gateway connects to its
// own gRPC server with the server certificate as a client one, so that certificate needs both
// usages and the trusted CA must have signed it too: one CA signs everything here.
struct EtcdPki {
  std::string ca, server_cert, server_key, client_cert, client_key;
};

::testing::AssertionResult MakeEtcdPki(const TempDir& dir, EtcdPki* p) {
  std::string openssl;
  if (auto ok = OpensslBin(&openssl); !ok) {
    return ok;
  }
  const std::string d = dir.path() + "/";
  *p = {d + "ca.crt", d + "srv.crt", d + "srv.key", d + "cli.crt", d + "cli.key"};
  dir.WriteFile("srv.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  dir.WriteFile("cli.ext", "extendedKeyUsage=clientAuth\n");
  const std::vector<std::vector<std::string>> steps = {
      {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       d + "ca.key", "-out", p->ca, "-subj", "/CN=etcd test CA", "-days", "2"},
      {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       p->server_key, "-out", d + "srv.csr", "-subj", "/CN=etcd"},
      {"x509", "-req", "-in", d + "srv.csr", "-CA", p->ca, "-CAkey", d + "ca.key",
       "-CAcreateserial", "-out", p->server_cert, "-days", "2", "-extfile", d + "srv.ext"},
      {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       p->client_key, "-out", d + "cli.csr", "-subj", "/CN=ringway"},
      {"x509", "-req", "-in", d + "cli.csr", "-CA", p->ca, "-CAkey", d + "ca.key",
       "-CAcreateserial", "-out", p->client_cert, "-days", "2", "-extfile", d + "cli.ext"}};
  for (const auto& step : steps) {
    std::vector<std::string> argv = {openssl};
    argv.insert(argv.end(), step.begin(), step.end());
    CommandResult r = RunCommand(argv, 20000);
    if (r.exit_code != 0) {
      return ::testing::AssertionFailure() << "openssl " << step[0] << " failed: " << r.err;
    }
  }
  return ::testing::AssertionSuccess();
}

// etcd with TLS and client certificates: nodes and `config push` present theirs and check
// etcd's; a node that does not trust etcd's certificate says why and serves its file alone.
TEST(EtcdTls, NodesAndPushSpeakMutualTls) {
  TempDir dir;
  EtcdPki p;
  ASSERT_TRUE(MakeEtcdPki(dir, &p));
  const TestPki* pki = nullptr;
  ASSERT_TRUE(SharedPki(&pki));  // its CA is the one a node must not trust for etcd
  EtcdServer etcd;
  etcd.UseTls({.cert = p.server_cert,
               .key = p.server_key,
               .client_ca = p.ca,
               .ca = p.ca,
               .client_cert = p.client_cert,
               .client_key = p.client_key});
  ASSERT_TRUE(etcd.Start());
  const std::vector<std::string> certs = {"--cacert",    p.ca,    "--cert",
                                          p.client_cert, "--key", p.client_key};
  CommandResult r = Push(etcd, "/tls/", SharedDoc({MockApi("v", "GET", "/v", "one")}), certs);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Push(etcd, "/tls/", SharedDoc({MockApi("v", "GET", "/v", "two")}), {"--cacert", p.ca});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;  // etcd wants a client certificate
  EXPECT_NE(r.err.find("TLS"), std::string::npos) << r.err;
  const std::string tls = R"({"ca":)" + JsonQuote(p.ca) + R"(,"certificate":)" +
                          JsonQuote(p.client_cert) + R"(,"private_key":)" +
                          JsonQuote(p.client_key) + "}";
  Gateway node;
  GatewayOptions opts;
  opts.shards = 1;
  ASSERT_TRUE(node.Start(NodeConfig(etcd, "/tls/", 0, tls), opts));
  EXPECT_EQ(Body(node.port(), "/v"), "one");
  ASSERT_TRUE(etcd.Put("/tls/apis/v", MockApi("v", "GET", "/v", "three")));
  EXPECT_TRUE(PollUntil([&] { return Body(node.port(), "/v") == "three"; }, 5000))
      << node.LogTail();
  // Trusting another CA: the handshake fails, the node serves its file alone and says why.
  const std::string wrong = R"({"ca":)" + JsonQuote(pki->ca) + R"(,"certificate":)" +
                            JsonQuote(p.client_cert) + R"(,"private_key":)" +
                            JsonQuote(p.client_key) + "}";
  Gateway untrusting;
  ASSERT_TRUE(untrusting.Start(NodeConfig(etcd, "/tls/", 1, wrong), opts));
  EXPECT_TRUE(untrusting.LogContains("TLS handshake failed")) << untrusting.LogTail();
  EXPECT_TRUE(untrusting.LogContains("serving without shared objects")) << untrusting.LogTail();
  EXPECT_EQ(Body(untrusting.port(), "/v"), "<404>");
  EXPECT_NE(ConfigSource(untrusting).find("TLS handshake failed"), std::string::npos)
      << ConfigSource(untrusting);
}

}  // namespace
}  // namespace ringway::integration
