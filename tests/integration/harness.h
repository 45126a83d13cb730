// Integration test harness: real `ringway` and `stub_backend` processes on 127.0.0.1 with
// OS-chosen ports, a blocking HTTP/1.1 client, config generation and JSON field access.
// Every wait is a poll for a condition with a deadline; nothing sleeps to synchronise.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wire.h"

namespace ringway::integration {

// ---- processes ----

// A child process with stdout and stderr captured by a reader thread. The destructor
// kills (SIGKILL) and reaps it if it is still running.
class Process {
 public:
  enum Stream { kStdout, kStderr };

  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The child's stdin is /dev/null, or with `pipe_stdin` a socket that WriteStdin() feeds
  // and CloseStdin() ends (a socket, not a pipe: a write to an exited child fails instead of
  // raising SIGPIPE).
  bool Spawn(const std::vector<std::string>& argv, std::string* error, bool pipe_stdin = false);
  // False when stdin is not piped, the child is gone or the write timed out (10 s).
  bool WriteStdin(std::string_view data);
  void CloseStdin();
  pid_t pid() const { return pid_; }
  bool running();
  // Kills it (SIGKILL) if it is still running, reaps it and waits until all of its output
  // is read; the destructor does the same.
  void Stop();
  void Signal(int sig);
  // Exit code, or 128 + signal number; nullopt if still running at the deadline.
  std::optional<int> WaitExit(int timeout_ms);

  std::string Output(Stream s) const;
  bool Contains(Stream s, std::string_view needle) const;
  size_t Count(Stream s, std::string_view needle) const;
  // Waits until `needle` appears; false at the deadline or once the stream has ended.
  bool WaitFor(Stream s, std::string_view needle, int timeout_ms) const;

 private:
  void ReadLoop(int out_fd, int err_fd);
  const std::string& Buffer(Stream s) const { return s == kStdout ? out_ : err_; }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string out_;
  std::string err_;
  bool ended_ = false;
};

struct CommandResult {
  bool started = false;  // false: could not be spawned (err says why)
  int exit_code = -1;    // -1: not started, or still running at the deadline (then killed)
  std::string out;
  std::string err;
};
// Runs `argv` (argv[0] is the executable's path) to completion (bounded by timeout_ms).
// `input` is written to its stdin, which is then closed; empty: stdin is /dev/null.
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms,
                         std::string_view input = {});
// Runs `$RINGWAY_BIN args...` to completion (bounded by timeout_ms).
CommandResult RunRingway(const std::vector<std::string>& args, int timeout_ms = 10000);

// A fresh temporary directory, removed with its files by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes atomically (temp file + rename); returns the file's path.
  std::string WriteFile(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct GatewayOptions {
  int shards = 2;  // 0: no --shards flag (the config decides); any "ready shards=" then counts
  std::string log_level = "debug";
  std::vector<std::string> extra_args;  // e.g. {"--drain-timeout-ms", "300"}
  int ready_timeout_ms = 10000;
  std::string binary;  // empty: $RINGWAY_BIN
  // Runs ringway through this command line, e.g. {"/usr/bin/prlimit", "--nofile=64:64",
  // "--"}; it must exec ringway, so that pid() stays ringway's.
  std::vector<std::string> launcher;
};

// Empty, or the text from the first ThreadSanitizer report in `log` on. The TSan pass of
// tools/test runs ringway and stub_backend instrumented: their stderr is captured here, so
// the harness, not meson, has to notice a report and fail the test.
std::string TsanReport(const std::string& log);

// `ringway serve` on a generated config file.
class Gateway {
 public:
  Gateway() = default;
  // Stops ringway; a ThreadSanitizer report in its log fails the current test.
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Writes the config, starts the process and waits for "ready"; the failure message
  // carries the exit status and the log.
  ::testing::AssertionResult Start(const std::string& config_json, const GatewayOptions& opts = {});
  // Rewrites the config file (for SIGHUP reloads).
  void WriteConfig(const std::string& config_json);
  const std::string& config_path() const { return config_path_; }

  // Port of a listener, from its "listening name=... address=..." line; -1 if unknown.
  int port(std::string_view listener = "main") const;
  pid_t pid() const { return proc_.pid(); }
  bool running() { return proc_.running(); }
  void Signal(int sig) { proc_.Signal(sig); }
  std::optional<int> WaitExit(int timeout_ms) { return proc_.WaitExit(timeout_ms); }

  std::string Log() const { return proc_.Output(Process::kStderr); }
  std::string LogTail(size_t max_bytes = 4000) const;
  bool LogContains(std::string_view s) const { return proc_.Contains(Process::kStderr, s); }
  size_t LogCount(std::string_view s) const { return proc_.Count(Process::kStderr, s); }
  bool WaitLog(std::string_view s, int timeout_ms) const {
    return proc_.WaitFor(Process::kStderr, s, timeout_ms);
  }
  // VmRSS of the process in KiB (from /proc/PID/status); -1 if unreadable.
  long RssKib() const;

 private:
  void ParseListeners();

  TempDir dir_;
  std::string config_path_;
  Process proc_;
  std::map<std::string, int, std::less<>> ports_;
};

// How a stub_backend runs: its name, listen address and extra flags (e.g. {"--reset-all"},
// {"--delay-ms", "300"}).
struct BackendOptions {
  std::string name = "stub";
  std::string host = "127.0.0.1";
  int port = 0;  // 0: chosen by the OS
  std::vector<std::string> extra_args;
};

// A stub_backend process.
class Backend {
 public:
  Backend() = default;
  // Kills it; a ThreadSanitizer report in its stderr fails the current test.
  ~Backend() { Kill(); }
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  ::testing::AssertionResult Start(const std::string& name = "stub");
  ::testing::AssertionResult Start(const BackendOptions& opts);
  // Kills it (SIGKILL, reaped): its address refuses connections until Restart().
  void Kill();
  // Starts it again on the address it had (its request log starts empty).
  ::testing::AssertionResult Restart();
  bool running() { return proc_ && proc_->running(); }
  int port() const { return port_; }
  const std::string& host() const { return opts_.host; }
  const std::string& name() const { return opts_.name; }
  std::string address() const { return opts_.host + ":" + std::to_string(port_); }
  // Request lines are printed as "req conn=<id> <METHOD> <target>".
  bool WaitRequest(std::string_view needle, int timeout_ms) const {
    return proc_ && proc_->WaitFor(Process::kStdout, needle, timeout_ms);
  }
  size_t RequestCount(std::string_view needle) const {
    return proc_ ? proc_->Count(Process::kStdout, needle) : 0;
  }

 private:
  ::testing::AssertionResult Spawn();

  BackendOptions opts_;
  std::unique_ptr<Process> proc_;
  int port_ = -1;
};

// A port with nothing listening on it (bound once by us, then closed).
int UnusedPort();

// ---- client ----

struct Response {
  std::string version;
  int status = 0;
  std::string reason;
  HeaderList headers;
  std::string body;         // empty when streamed to a sink
  uint64_t body_bytes = 0;  // bytes of body received

  std::string Header(std::string_view name) const;  // "" when absent
  bool HasHeader(std::string_view name) const { return FindHeader(headers, name) != nullptr; }
  size_t HeaderCount(std::string_view name) const;
};

// Builds "METHOD target HTTP/1.1" with Host (unless given), Content-Length for a body,
// the given headers in order, and the body.
std::string BuildRequest(std::string_view method, std::string_view target,
                         const HeaderList& headers = {}, std::string_view body = "");

// A blocking TCP client to 127.0.0.1:port. Reads time out after `timeout_ms`.
class Client {
 public:
  explicit Client(int port, int timeout_ms = 5000);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ::testing::AssertionResult Connect();  // failure: see connect_errno()
  int connect_errno() const { return connect_errno_; }
  bool connected() const { return fd_ >= 0; }
  void Close();
  void SetTimeout(int timeout_ms);
  // Binds the socket to this local IPv4 address before the next Connect() ("127.0.0.2").
  void BindSource(std::string ip) { source_ip_ = std::move(ip); }
  // SO_RCVBUF for the next Connect(): a small one makes a client that stops reading stall
  // the gateway's sends early.
  void SetRecvBuffer(int bytes) { rcvbuf_ = bytes; }
  // TCP_MAXSEG for the next Connect(): the gateway's socket then sizes its send buffer for
  // small segments (on loopback it would otherwise take MiBs).
  void SetMaxSegment(int bytes) { mss_ = bytes; }

  bool Send(std::string_view raw);
  // shutdown(SHUT_WR): the peer reads EOF after what was sent; reading goes on.
  void ShutdownWrite();
  // Reads one response, 1xx included. `head_request`: the response has no body.
  // `sink`: receives the body instead of Response::body. nullopt: see last_status().
  std::optional<Response> Read(bool head_request = false, const BodySink* sink = nullptr);
  // Like Read, but skips 1xx responses.
  std::optional<Response> ReadFinal(bool head_request = false, const BodySink* sink = nullptr);
  ReadStatus last_status() const { return last_status_; }

  // Send + ReadFinal on this (kept-alive) connection; connects first if needed.
  std::optional<Response> Request(std::string_view method, std::string_view target,
                                  const HeaderList& headers = {}, std::string_view body = "");
  std::optional<Response> Get(std::string_view target, const HeaderList& headers = {}) {
    return Request("GET", target, headers);
  }

  // True if the peer closes (EOF or reset) within timeout_ms; bytes received meanwhile
  // go to *received.
  bool WaitClosed(int timeout_ms, std::string* received = nullptr);
  // True when a read would not block: data, EOF or an error is pending.
  bool Readable() const;
  // Up to `n` bytes that have arrived, left unread (MSG_PEEK: the receive window does not
  // open); waits up to the client's timeout for the first. Empty on EOF, error or timeout.
  std::string Peek(size_t n);
  // Everything until EOF/reset/timeout.
  std::string ReadUntilEof(int timeout_ms);

 private:
  int port_;
  int timeout_ms_;
  int fd_ = -1;
  int connect_errno_ = 0;
  std::string source_ip_;
  int rcvbuf_ = 0;
  int mss_ = 0;
  std::unique_ptr<SocketReader> reader_;
  ReadStatus last_status_ = ReadStatus::kOk;
};

// One request on a fresh connection.
std::optional<Response> HttpGet(int port, std::string_view target, const HeaderList& headers = {});

// ---- JSON ----

// Values at a JSON pointer ("/headers/x-request-id"); nullopt when absent, of another
// type, or when the document does not parse.
std::optional<std::string> JsonString(std::string_view json, std::string_view pointer);
std::optional<int64_t> JsonInt(std::string_view json, std::string_view pointer);
std::string JsonQuote(std::string_view s);

// What the stub's echo saw: a request header (lowercase name) or a top-level field.
std::string EchoHeader(const Response& r, std::string_view lower_name);
std::string EchoField(const Response& r, std::string_view field);

// A gateway-made error: `status`, a JSON body with an "RW." error_code, a non-empty
// error_msg and request_id equal to the X-Request-Id response header.
::testing::AssertionResult IsGatewayError(const std::optional<Response>& r, int status);
// The same, with the documented error_code `code`.
::testing::AssertionResult IsGatewayError(const std::optional<Response>& r, int status,
                                          std::string_view code);
// A response with `status` (prints the response when it is not).
::testing::AssertionResult HasStatus(const std::optional<Response>& r, int status);

// A 200 from the stub's echo that saw `target` (after any rewriting).
::testing::AssertionResult EchoedTarget(const std::optional<Response>& r, std::string_view target);
// A 200 whose body is `n` bytes of the stub's pattern.
::testing::AssertionResult HasPatternBody(const std::optional<Response>& r, size_t n);

// ---- configuration ----

// An API proxied to `url` (host:port). `api_extra` / `backend_extra` are extra JSON
// members without braces, e.g. R"("match_mode":"prefix")".
std::string ProxyApi(std::string_view name, std::string_view method, std::string_view uri,
                     std::string_view url, std::string_view backend_uri,
                     std::string_view api_extra = "", std::string_view backend_extra = "");
// Like ProxyApi with the destination given as a backend JSON member: "\"url\":\"h:p\"" or
// "\"channel\":\"name\"".
std::string HttpApi(std::string_view name, std::string_view method, std::string_view uri,
                    std::string_view destination, std::string_view backend_uri,
                    std::string_view api_extra = "", std::string_view backend_extra = "");
// An API answered by a mock backend with a text body.
std::string MockApi(std::string_view name, std::string_view method, std::string_view uri,
                    std::string_view body, std::string_view api_extra = "", int status = 200);

// The ping API of CONFIG.md: a mock answering {"pong":true} as application/json.
inline constexpr std::string_view kPingBody = R"({"pong":true})";
std::string PingApi();
// ANY /stub (prefix) proxied to the backend's /stub: "/stub/delay/100" reaches the stub's
// delay handler. `backend_extra` as for ProxyApi.
std::string StubApi(const Backend& backend, std::string_view backend_extra = "");

struct ConfigSpec {
  std::vector<std::string> listeners = {"main"};  // each on 127.0.0.1:0
  std::string limits;                             // members of "limits", or empty
  std::string environments;                       // JSON array, or empty
  std::vector<std::string> apis;                  // from ProxyApi / MockApi
  std::string extra;                              // extra top-level members, or empty
  std::string instance;  // the "instance" object, e.g. {"id":"gw-a","cascade":{...}}; empty:
                         // {"id": "it-gw"}
  // The "tls" object of a listener, by listener name, e.g. {"tls", R"({"certificate":...})"}.
  std::map<std::string, std::string> listener_tls;
};
std::string BuildConfig(const ConfigSpec& spec);

// Sends `raw` on a fresh connection: the gateway must answer `status` with its JSON error
// and then close the connection.
::testing::AssertionResult RejectedAndClosed(int port, std::string_view raw, int status);

// ---- fixtures ----

// A backend and a gateway whose config is made from the backend's address.
class Stack {
 public:
  using ConfigFn = std::function<std::string(const Backend&)>;
  ::testing::AssertionResult Start(const ConfigFn& config, const GatewayOptions& opts = {});
  // Failure text for a stack that did not start or whose gateway has died.
  ::testing::AssertionResult Healthy();
  Backend& backend() { return backend_; }
  Gateway& gateway() { return gateway_; }
  int port() const { return gateway_.port(); }

 private:
  Backend backend_;
  Gateway gateway_;
  std::string start_error_ = "not started";
};

// Failure text for a stack that did not start (`start_error` not empty) or whose gateway
// has died.
::testing::AssertionResult StackHealth(const std::string& start_error, Gateway& gateway);

// One stack (of type StackT: Stack, ChannelStack) shared by all tests of a suite, started
// by `Derived::StartStack(StackT&)`.
template <typename Derived, typename StackT>
class SharedStackFixture : public ::testing::Test {
 protected:
  static GatewayOptions Options() { return {}; }
  static void SetUpTestSuite() {
    stack_ = std::make_unique<StackT>();
    (void)Derived::StartStack(*stack_);
  }
  static void TearDownTestSuite() { stack_.reset(); }
  void SetUp() override { ASSERT_TRUE(stack_->Healthy()); }

  static StackT& stack() { return *stack_; }
  static int port() { return stack_->port(); }
  static Gateway& gateway() { return stack_->gateway(); }

 private:
  static inline std::unique_ptr<StackT> stack_;
};

// One Stack shared by all tests of a suite: `Derived::Config(const Backend&)` builds the
// config, `Derived::Options()` (optional) the gateway options.
template <typename Derived>
class SharedStackTest : public SharedStackFixture<Derived, Stack> {
 public:
  static ::testing::AssertionResult StartStack(Stack& s) {
    return s.Start(&Derived::Config, Derived::Options());
  }

 protected:
  static Backend& backend() { return SharedStackTest::stack().backend(); }
};

// The sum of `fields` (e.g. "client_connections") over every shard of GET /v1/shards on
// the admin listener at `admin_port`; -1 when it cannot be read.
int64_t ShardTotal(int admin_port, std::initializer_list<std::string_view> fields);

// Polls `cond` every few milliseconds until it holds or timeout_ms passes.
bool PollUntil(const std::function<bool()>& cond, int timeout_ms);

// The stub logged exactly `n` requests with `needle` in their request line. Its log line may
// reach the harness a moment after the response it sent (the stub's stdout and its socket
// are two channels), so the count is polled (2 s), not read once.
::testing::AssertionResult Counted(const Backend& stub, std::string_view needle, size_t n);

}  // namespace ringway::integration
