// EtcdServer: a real etcd member for the integration tests (etcd.h).
#include "etcd.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>

namespace ringway::integration {
namespace {

constexpr int kCommandTimeoutMs = 15000;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

::testing::AssertionResult CommandOk(const CommandResult& r, std::string_view what) {
  if (r.started && r.exit_code == 0) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << what << (r.started ? " exited with " + std::to_string(r.exit_code) : " not started")
         << ": " << Tail(r.err, 2000) << Tail(r.out, 500);
}

}  // namespace

std::string EtcdPath() { return EnvOr("ETCD_BIN", "/usr/bin/etcd"); }
std::string EtcdctlPath() { return EnvOr("ETCDCTL_BIN", "/usr/bin/etcdctl"); }

std::string EtcdMissing() {
  for (const std::string& bin : {EtcdPath(), EtcdctlPath()}) {
    if (::access(bin.c_str(), X_OK) != 0) {
      return bin +
             " is not installed (tools/setup --test installs Debian's etcd-server and "
             "etcd-client; ETCD_BIN and ETCDCTL_BIN override the paths)";
    }
  }
  return "";
}

EtcdServer::EtcdServer(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {}

EtcdServer::~EtcdServer() { Stop(); }

::testing::AssertionResult EtcdServer::Start() {
  std::string missing = EtcdMissing();
  if (!missing.empty()) {
    return ::testing::AssertionFailure() << missing;
  }
  if (client_port_ < 0) {
    client_port_ = UnusedPort();
    peer_port_ = UnusedPort();
  }
  std::string client = (tls_ ? "https://" : "http://") + endpoint();
  std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> argv = {EtcdPath(),
                                   "--name=it",
                                   "--data-dir=" + dir_.path() + "/data",
                                   "--listen-client-urls=" + client,
                                   "--advertise-client-urls=" + client,
                                   "--listen-peer-urls=" + peer,
                                   "--initial-advertise-peer-urls=" + peer,
                                   "--initial-cluster=it=" + peer,
                                   "--initial-cluster-state=new"};
  if (tls_) {
    argv.insert(argv.end(), {"--cert-file=" + tls_->cert, "--key-file=" + tls_->key});
    if (!tls_->client_ca.empty()) {
      argv.insert(argv.end(), {"--client-cert-auth", "--trusted-ca-file=" + tls_->client_ca});
    }
  }
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = std::make_unique<Process>();
  std::string error;
  if (!proc_->Spawn(argv, &error)) {
    return ::testing::AssertionFailure() << EtcdPath() << " could not be started: " << error;
  }
  bool healthy = PollUntil(
      [&] {
        if (!proc_->running()) {
          return true;  // reported below
        }
        return Healthy();
      },
      20000);
  if (!healthy || !proc_->running()) {
    return ::testing::AssertionFailure()
           << "etcd on " << endpoint() << (healthy ? " exited" : " not healthy within 20 s")
           << "; its log:\n"
           << Log();
  }
  return ::testing::AssertionSuccess();
}

// GET /health answers {"health":"true"}; over TLS etcdctl asks (it has the certificates).
bool EtcdServer::Healthy() {
  if (tls_) {
    return Etcdctl({"endpoint", "health"}).exit_code == 0;
  }
  std::optional<Response> r = HttpGet(client_port_, "/health");
  return r && r->status == 200 && r->body.find("\"true\"") != std::string::npos;
}

void EtcdServer::Stop() {
  if (!proc_) {
    return;
  }
  if (proc_->running()) {
    proc_->Signal(SIGTERM);
    proc_->WaitExit(10000);
  }
  proc_->Stop();  // SIGKILL if it is still there; reaps it
}

std::string EtcdServer::Log() const {
  return proc_ ? Tail(proc_->Output(Process::kStderr), 3000) : "";
}

CommandResult EtcdServer::Etcdctl(std::vector<std::string> args) {
  std::vector<std::string> argv = {
      EtcdctlPath(), "--endpoints=" + std::string(tls_ ? "https://" : "") + endpoint(),
      "--command-timeout=10s"};
  if (tls_) {
    argv.insert(argv.end(), {"--cacert=" + tls_->ca, "--cert=" + tls_->client_cert,
                             "--key=" + tls_->client_key});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, kCommandTimeoutMs);
}

::testing::AssertionResult EtcdServer::Put(const std::string& key, const std::string& value) {
  // `--` so that a value starting with '-' is not taken for a flag.
  return CommandOk(Etcdctl({"put", "--", key, value}), "etcdctl put " + key);
}

std::optional<std::string> EtcdServer::Get(const std::string& key) {
  CommandResult r = Etcdctl({"get", "--", key});
  if (!CommandOk(r, "etcdctl get")) {
    ADD_FAILURE() << CommandOk(r, "etcdctl get " + key).message();
    return std::nullopt;
  }
  // "<key>\n<value>\n" when present, nothing when absent.
  if (r.out.empty()) {
    return std::nullopt;
  }
  size_t nl = r.out.find('\n');
  std::string value = nl == std::string::npos ? "" : r.out.substr(nl + 1);
  if (!value.empty() && value.back() == '\n') {
    value.pop_back();
  }
  return value;
}

::testing::AssertionResult EtcdServer::Del(const std::string& key) {
  return CommandOk(Etcdctl({"del", "--", key}), "etcdctl del " + key);
}

std::vector<std::string> EtcdServer::Keys(const std::string& prefix) {
  std::vector<std::string> keys;
  CommandResult r = Etcdctl({"get", "--prefix", "--keys-only", "--", prefix});
  if (!CommandOk(r, "etcdctl get --prefix")) {
    ADD_FAILURE() << CommandOk(r, "etcdctl get --prefix " + prefix).message();
    return keys;
  }
  // One key per line, each followed by an empty line.
  size_t at = 0;
  while (at < r.out.size()) {
    size_t nl = r.out.find('\n', at);
    nl = nl == std::string::npos ? r.out.size() : nl;
    if (nl > at) {
      keys.push_back(r.out.substr(at, nl - at));
    }
    at = nl + 1;
  }
  return keys;
}

int64_t EtcdServer::Revision() {
  CommandResult r = Etcdctl({"endpoint", "status", "-w", "json"});
  if (!CommandOk(r, "etcdctl endpoint status")) {
    ADD_FAILURE() << CommandOk(r, "etcdctl endpoint status").message();
    return -1;
  }
  return JsonInt(r.out, "/0/Status/header/revision").value_or(-1);
}

}  // namespace ringway::integration
