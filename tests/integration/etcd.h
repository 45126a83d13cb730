// A real etcd for the integration tests: one member on 127.0.0.1 with probed ports and a
// data directory of its own, stopped and started again on the same ports and data; keys are
// read and written with the real `etcdctl`, an oracle independent of ringway's etcd codec.
//
// The binaries: $ETCD_BIN, else /usr/bin/etcd; $ETCDCTL_BIN, else /usr/bin/etcdctl (Debian's
// etcd-server and etcd-client, which `tools/setup --test` installs). Without them the tests
// that need etcd fail with that reason, as it_status_page does without chromium: tools/test
// installs them first, so a CI run never skips them silently.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"

namespace ringway::integration {

std::string EtcdPath();
std::string EtcdctlPath();
// "" when both binaries are executable; otherwise why not and how to install them.
std::string EtcdMissing();

// TLS on etcd's client URL (https://): its certificate and key, and, with `client_ca`, client
// certificates required (--client-cert-auth). etcdctl then trusts `ca` and presents
// `client_cert`/`client_key`.
struct EtcdTls {
  std::string cert;
  std::string key;
  std::string client_ca;
  std::string ca;
  std::string client_cert;
  std::string client_key;
};

class EtcdServer {
 public:
  // `extra_args` go to etcd, e.g. {"--max-txn-ops", "4"}.
  explicit EtcdServer(std::vector<std::string> extra_args = {});
  // Stops it (SIGTERM, then SIGKILL after 10 s); the data directory goes with the object.
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Serves clients over TLS from the next Start() on.
  void UseTls(EtcdTls tls) { tls_ = std::move(tls); }

  // Starts etcd and waits (polling /health, 20 s) until it answers healthy. The first start
  // probes free client and peer ports; a start after Stop() reuses them and the data.
  ::testing::AssertionResult Start();
  // SIGTERM by PID and waits for the exit (SIGKILL after 10 s).
  void Stop();
  bool running() { return proc_ && proc_->running(); }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  int client_port() const { return client_port_; }
  std::string Log() const;  // etcd's stderr, the tail of it

  // etcdctl put/get/del on this member. Get: nullopt when the key is absent (or etcdctl
  // failed: the failure is added to the test).
  ::testing::AssertionResult Put(const std::string& key, const std::string& value);
  std::optional<std::string> Get(const std::string& key);
  ::testing::AssertionResult Del(const std::string& key);
  // The keys under `prefix`, in key order (etcdctl get --prefix --keys-only).
  std::vector<std::string> Keys(const std::string& prefix);
  // The revision of the member's store (etcdctl endpoint status); -1 on failure.
  int64_t Revision();

 private:
  CommandResult Etcdctl(std::vector<std::string> args);

  bool Healthy();

  std::vector<std::string> extra_args_;
  std::optional<EtcdTls> tls_;
  TempDir dir_;
  int client_port_ = -1;
  int peer_port_ = -1;
  std::unique_ptr<Process> proc_;
};

// One EtcdServer for a test suite, started once; each test writes under its own prefix,
// "/it/<test name>/".
class EtcdSuiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    etcd_ = std::make_unique<EtcdServer>();
    start_ = etcd_->Start();
  }
  static void TearDownTestSuite() { etcd_.reset(); }
  void SetUp() override {
    ASSERT_TRUE(start_);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = "/it/" + std::string(info->name()) + "/";
  }

  static inline std::unique_ptr<EtcdServer> etcd_;
  static inline ::testing::AssertionResult start_ = ::testing::AssertionFailure() << "not started";
  std::string prefix_;
};

}  // namespace ringway::integration
