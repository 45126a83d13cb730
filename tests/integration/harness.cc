// Processes (ringway, stub_backend), temporary files and fixtures of the harness.
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += (out.empty() ? "" : " ") + a;
  }
  return out;
}

// In the child after fork(): only async-signal-safe calls.
[[noreturn]] void ExecChild(char* const* argv, int in_fd, int out_fd, int err_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test binary
  ::dup2(in_fd >= 0 ? in_fd : ::open("/dev/null", O_RDONLY), STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  ::execv(argv[0], argv);
  static const char kMsg[] = "exec failed\n";
  (void)!::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  ::_exit(127);
}

int DecodeWaitStatus(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

// ---- Process ----

Process::~Process() { Stop(); }

void Process::Stop() {
  CloseStdin();
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) {
      exit_code_ = DecodeWaitStatus(status);
    }
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

bool Process::Spawn(const std::vector<std::string>& argv, std::string* error, bool pipe_stdin) {
  if (::access(argv[0].c_str(), X_OK) != 0) {
    *error = "not executable: " + argv[0];
    return false;
  }
  int in[2] = {-1, -1};  // [0]: ours, [1]: the child's stdin
  if (pipe_stdin && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
    *error = std::string("socketpair: ") + std::strerror(errno);
    return false;
  }
  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    *error = std::string("pipe2: ") + std::strerror(errno);
    if (pipe_stdin) {
      ::close(in[0]);
      ::close(in[1]);
    }
    return false;
  }
  std::vector<char*> cargv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    ExecChild(cargv.data(), in[1], out[1], err[1]);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pipe_stdin) {
    ::close(in[1]);
    stdin_fd_ = in[0];
    SetSocketTimeouts(stdin_fd_, 10000);
  }
  if (pid_ < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    ::close(out[0]);
    ::close(err[0]);
    return false;
  }
  reader_ = std::thread([this, o = out[0], e = err[0]] { ReadLoop(o, e); });
  return true;
}

bool Process::WriteStdin(std::string_view data) {
  return stdin_fd_ >= 0 && SendAll(stdin_fd_, data);
}

void Process::CloseStdin() {
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
}

void Process::ReadLoop(int out_fd, int err_fd) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_count = 2;
  char buf[16384];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
      cv_.notify_all();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

bool Process::running() {
  if (pid_ <= 0 || exit_code_) {
    return false;
  }
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = DecodeWaitStatus(status);
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (running()) {
    ::kill(pid_, sig);
  }
}

std::optional<int> Process::WaitExit(int timeout_ms) {
  if (!PollUntil([this] { return !running(); }, timeout_ms)) {
    return std::nullopt;
  }
  // Let the reader drain what the process wrote before it exited.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(2), [this] { return ended_; });
  return exit_code_;
}

std::string Process::Output(Stream s) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Buffer(s);
}

bool Process::Contains(Stream s, std::string_view needle) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Buffer(s).find(needle) != std::string::npos;
}

size_t Process::Count(Stream s, std::string_view needle) const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (size_t pos = Buffer(s).find(needle); pos != std::string::npos;
       pos = Buffer(s).find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

bool Process::WaitFor(Stream s, std::string_view needle, int timeout_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  auto found = [&] { return Buffer(s).find(needle) != std::string::npos; };
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return found() || ended_; });
  return found();
}

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms,
                         std::string_view input) {
  CommandResult result;
  Process proc;
  std::string error;
  if (!proc.Spawn(argv, &error, !input.empty())) {
    result.err = error;
    return result;
  }
  result.started = true;
  if (!input.empty()) {
    proc.WriteStdin(input);  // a child that exits without reading it fails on its own terms
    proc.CloseStdin();
  }
  result.exit_code = proc.WaitExit(timeout_ms).value_or(-1);
  result.out = proc.Output(Process::kStdout);
  result.err = proc.Output(Process::kStderr);
  return result;
}

CommandResult RunRingway(const std::vector<std::string>& args, int timeout_ms) {
  std::vector<std::string> argv = {EnvOr("RINGWAY_BIN", "")};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult result = RunCommand(argv, timeout_ms);
  if (!result.started) {
    result.err += " (is RINGWAY_BIN set? run through meson test)";
  }
  return result;
}

// ---- TempDir ----

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ringway-it-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) != nullptr) {
    path_ = tmpl;
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) {
    std::filesystem::remove_all(path_, ec);
  }
}

std::string TempDir::WriteFile(const std::string& name, const std::string& content) const {
  std::string path = path_ + "/" + name;
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
  }
  std::filesystem::rename(tmp, path);
  return path;
}

std::string TsanReport(const std::string& log) {
  size_t at = log.find("ThreadSanitizer:");  // "WARNING: ThreadSanitizer: data race", "FATAL: ..."
  if (at == std::string::npos) {
    return "";
  }
  at = log.rfind('\n', at);
  return log.substr(at == std::string::npos ? 0 : at + 1, 16000);
}

// ---- Gateway ----

Gateway::~Gateway() {
  proc_.Stop();
  std::string report = TsanReport(Log());
  if (!report.empty()) {
    ADD_FAILURE() << "ringway (" << config_path_ << ") logged a ThreadSanitizer report:\n"
                  << report;
  }
}

::testing::AssertionResult Gateway::Start(const std::string& config_json,
                                          const GatewayOptions& opts) {
  std::string bin = opts.binary.empty() ? EnvOr("RINGWAY_BIN", "") : opts.binary;
  if (bin.empty()) {
    return ::testing::AssertionFailure() << "RINGWAY_BIN is not set (run through meson test)";
  }
  WriteConfig(config_json);
  std::vector<std::string> argv = opts.launcher;
  argv.insert(argv.end(), {bin, "serve", "-c", config_path_, "--log-level", opts.log_level});
  if (opts.shards != 0) {
    argv.insert(argv.end(), {"--shards", std::to_string(opts.shards)});
  }
  argv.insert(argv.end(), opts.extra_args.begin(), opts.extra_args.end());
  std::string error;
  if (!proc_.Spawn(argv, &error)) {
    return ::testing::AssertionFailure() << "cannot start ringway: " << error;
  }
  std::string ready = "ready shards=";
  if (opts.shards != 0) {
    ready += std::to_string(opts.shards);
  }
  if (!WaitLog(ready, opts.ready_timeout_ms)) {
    // Its stderr may close a moment before the exit status can be collected.
    std::optional<int> code = proc_.WaitExit(2000);
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    if (code) {
      failure << "ringway exited with status " << *code << " before logging \"" << ready << "\"";
    } else {
      failure << "ringway did not log \"" << ready << "\" within " << opts.ready_timeout_ms
              << " ms (still running)";
    }
    return failure << "\ncommand: " << JoinArgs(argv) << "\nstderr:\n" << LogTail();
  }
  ParseListeners();
  if (ports_.empty()) {
    return ::testing::AssertionFailure() << "no \"listening name=... address=...\" line\n"
                                         << LogTail();
  }
  return ::testing::AssertionSuccess();
}

void Gateway::WriteConfig(const std::string& config_json) {
  config_path_ = dir_.WriteFile("ringway.json", config_json);
}

void Gateway::ParseListeners() {
  std::istringstream log(Log());
  std::string line;
  while (std::getline(log, line)) {
    size_t name_at = line.find("listening name=");
    size_t addr_at = line.find(" address=");
    if (name_at == std::string::npos || addr_at == std::string::npos) {
      continue;
    }
    name_at += std::strlen("listening name=");
    std::string name = line.substr(name_at, line.find(' ', name_at) - name_at);
    std::string addr = line.substr(addr_at + std::strlen(" address="));
    addr = addr.substr(0, addr.find(' '));
    ports_.emplace(name, std::atoi(addr.c_str() + addr.rfind(':') + 1));
  }
}

int Gateway::port(std::string_view listener) const {
  auto it = ports_.find(listener);
  return it == ports_.end() ? -1 : it->second;
}

std::string Gateway::LogTail(size_t max_bytes) const {
  std::string log = Log();
  return log.size() <= max_bytes ? log : "..." + log.substr(log.size() - max_bytes);
}

long Gateway::RssKib() const {
  std::ifstream status("/proc/" + std::to_string(pid()) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = -1;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 16, '\n');
  }
  return -1;
}

// ---- Backend ----

void Backend::Kill() {
  if (!proc_) {
    return;
  }
  proc_->Stop();
  std::string report = TsanReport(proc_->Output(Process::kStderr));
  if (!report.empty()) {
    ADD_FAILURE() << "stub_backend " << name() << " logged a ThreadSanitizer report:\n" << report;
  }
  proc_.reset();
}

::testing::AssertionResult Backend::Start(const std::string& name) {
  BackendOptions opts;
  opts.name = name;
  return Start(opts);
}

::testing::AssertionResult Backend::Start(const BackendOptions& opts) {
  opts_ = opts;
  port_ = -1;
  return Spawn();
}

// The old process may hold its port a moment after it died: retry binding for a while.
::testing::AssertionResult Backend::Restart() {
  Kill();
  opts_.port = port_;
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  PollUntil([&] { return static_cast<bool>(r = Spawn()); }, 5000);
  return r;
}

::testing::AssertionResult Backend::Spawn() {
  std::string bin = EnvOr("STUB_BACKEND_BIN", "");
  std::vector<std::string> argv = {bin, "--listen", opts_.host + ":" + std::to_string(opts_.port),
                                   "--name", opts_.name};
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  proc_ = std::make_unique<Process>();
  std::string error;
  if (bin.empty() || !proc_->Spawn(argv, &error)) {
    return ::testing::AssertionFailure()
           << "cannot start stub_backend (STUB_BACKEND_BIN=" << bin << "): " << error;
  }
  if (!proc_->WaitFor(Process::kStdout, "port=", 5000)) {
    return ::testing::AssertionFailure() << "stub_backend " << JoinArgs(argv)
                                         << " printed no port: " << proc_->Output(Process::kStderr);
  }
  std::string out = proc_->Output(Process::kStdout);
  port_ = std::atoi(out.c_str() + out.find("port=") + 5);
  return ::testing::AssertionSuccess();
}

int UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool PollUntil(const std::function<bool()>& cond, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (cond()) {
      return true;
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int64_t ShardTotal(int admin_port, std::initializer_list<std::string_view> fields) {
  std::optional<Response> r = HttpGet(admin_port, "/v1/shards");
  if (!r || r->status != 200) {
    return -1;
  }
  int64_t total = 0;
  for (int i = 0;; ++i) {
    for (std::string_view f : fields) {
      std::optional<int64_t> n =
          JsonInt(r->body, "/shards/" + std::to_string(i) + "/" + std::string(f));
      if (!n) {
        return i == 0 ? -1 : total;
      }
      total += *n;
    }
  }
}

::testing::AssertionResult Counted(const Backend& stub, std::string_view needle, size_t n) {
  if (PollUntil([&] { return stub.RequestCount(needle) == n; }, 2000)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << stub.RequestCount(needle) << " request(s) with \""
                                       << needle << "\" reached the backend, not " << n;
}

// ---- Stack ----

::testing::AssertionResult Stack::Start(const ConfigFn& config, const GatewayOptions& opts) {
  ::testing::AssertionResult r = backend_.Start();
  if (r) {
    r = gateway_.Start(config(backend_), opts);
  }
  start_error_ = r ? "" : r.message();
  return r;
}

::testing::AssertionResult Stack::Healthy() { return StackHealth(start_error_, gateway_); }

::testing::AssertionResult StackHealth(const std::string& start_error, Gateway& gateway) {
  if (!start_error.empty()) {
    return ::testing::AssertionFailure() << start_error;
  }
  if (!gateway.running()) {
    return ::testing::AssertionFailure() << "ringway has exited; log:\n" << gateway.LogTail();
  }
  if (std::string report = TsanReport(gateway.Log()); !report.empty()) {
    return ::testing::AssertionFailure() << "ringway logged a ThreadSanitizer report:\n" << report;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ringway::integration
