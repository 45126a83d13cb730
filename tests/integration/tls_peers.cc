// The TLS peers of the integration tests: s_server, curl, s_client, a captured ClientHello.
#include "tls_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace ringway::integration {
namespace {

constexpr std::string_view kWriteOutMarker = "\n@@curl-write-out ";

// The rest of the first line of `text` that starts with `prefix`; nullopt if none does.
std::optional<std::string> LineAfter(const std::string& text, std::string_view prefix) {
  for (size_t at = 0; at < text.size();) {
    size_t eol = text.find('\n', at);
    eol = eol == std::string::npos ? text.size() : eol;
    std::string_view line(text.data() + at, eol - at);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.substr(0, prefix.size()) == prefix) {
      return std::string(line.substr(prefix.size()));
    }
    at = eol + 1;
  }
  return std::nullopt;
}

std::string Tail(const std::string& s, size_t n = 3000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

}  // namespace

// ---- openssl s_server ----

::testing::AssertionResult TlsServer::Start(const TlsServerOptions& opts) {
  std::string openssl;
  if (::testing::AssertionResult ok = OpensslBin(&openssl); !ok) {
    return ok;
  }
  std::vector<std::string> argv = {
      openssl,  "s_server",     "-accept", "127.0.0.1:" + std::to_string(opts.port),
      "-cert",  opts.cert.cert, "-key",    opts.cert.key,
      opts.mode};
  argv.insert(argv.end(), opts.extra.begin(), opts.extra.end());
  proc_ = std::make_unique<Process>();
  std::string error;
  if (!proc_->Spawn(argv, &error)) {
    return ::testing::AssertionFailure() << "cannot start openssl s_server: " << error;
  }
  // Once it listens: "ACCEPT 127.0.0.1:PORT" for port 0, a bare "ACCEPT" for a given port.
  std::optional<std::string> accept;
  PollUntil(
      [&] {
        std::string out = proc_->Output(Process::kStdout);
        size_t at = out.find("ACCEPT");
        size_t eol = at == std::string::npos ? at : out.find('\n', at);
        if (eol != std::string::npos) {
          accept = out.substr(at, eol - at);
          return true;
        }
        return !proc_->running();
      },
      10000);
  port_ = opts.port;
  if (accept && opts.port == 0 && accept->rfind("ACCEPT 127.0.0.1:", 0) == 0) {
    port_ = std::atoi(accept->c_str() + 17);
  }
  if (!accept || port_ <= 0) {
    std::string out = Output();
    proc_.reset();
    return ::testing::AssertionFailure() << "openssl s_server printed no ACCEPT line:\n" << out;
  }
  return ::testing::AssertionSuccess();
}

std::string TlsServer::Output() const {
  return proc_ ? proc_->Output(Process::kStdout) + proc_->Output(Process::kStderr) : "";
}

// ---- curl ----

CurlResult Curl(const std::vector<std::string>& args, int timeout_ms) {
  CurlResult result;
  std::string curl;
  if (::testing::AssertionResult ok = CurlBin(&curl); !ok) {
    result.err = ok.message();
    return result;
  }
  std::vector<std::string> argv = {
      curl,
      "-sS",
      "--max-time",
      std::to_string(timeout_ms / 1000 > 1 ? timeout_ms / 1000 - 1 : 1),
      "-w",
      std::string(kWriteOutMarker) + "%{http_code} %{http_version} %{ssl_verify_result}\n"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, timeout_ms);
  result.ran = r.started;
  result.exit_code = r.exit_code;
  result.err = r.err;
  size_t at = r.out.rfind(kWriteOutMarker);
  if (at == std::string::npos) {
    result.body = r.out;
    return result;
  }
  result.body = r.out.substr(0, at);
  std::istringstream fields(r.out.substr(at + kWriteOutMarker.size()));
  fields >> result.http_code >> result.http_version >> result.verify_result;
  return result;
}

std::string CurlResult::Describe() const {
  return "curl exit " + std::to_string(exit_code) + ", status " + std::to_string(http_code) +
         ", HTTP " + http_version + ", ssl_verify_result " + std::to_string(verify_result) +
         "\nstderr: " + Tail(err, 1500) + "\nbody: " + Tail(body, 800);
}

std::vector<std::string> HttpsTo(const std::string& ca, const std::string& name, int port,
                                 const std::string& path) {
  std::string p = std::to_string(port);
  return {"--cacert", ca, "--resolve", name + ":" + p + ":127.0.0.1",
          "https://" + name + ":" + p + path};
}

::testing::AssertionResult CurlOk(const CurlResult& r, int status) {
  if (!r.ran) {
    return ::testing::AssertionFailure() << "curl did not run: " << r.err;
  }
  if (r.exit_code != 0 || r.http_code != status || r.verify_result != 0) {
    return ::testing::AssertionFailure()
           << "want status " << status << " verified; " << r.Describe();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult CurlGotNoResponse(const CurlResult& r) {
  if (!r.ran) {
    return ::testing::AssertionFailure() << "curl did not run: " << r.err;
  }
  if (r.exit_code == 0 || r.http_code != 0) {
    return ::testing::AssertionFailure() << "want no HTTP response; " << r.Describe();
  }
  return ::testing::AssertionSuccess();
}

// ---- openssl s_client ----

SClientResult SClient(int port, const std::vector<std::string>& args, const std::string& input,
                      int timeout_ms) {
  SClientResult result;
  std::string openssl;
  if (::testing::AssertionResult ok = OpensslBin(&openssl); !ok) {
    result.err = ok.message();
    return result;
  }
  std::vector<std::string> argv = {openssl, "s_client", "-connect",
                                   "127.0.0.1:" + std::to_string(port), "-ign_eof"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, timeout_ms, input);
  result.ran = r.started;
  result.exit_code = r.exit_code;
  result.out = r.out;
  result.err = r.err;
  return result;
}

std::string SClientResult::Subject() const { return LineAfter(out, "subject=").value_or(""); }

std::string SClientResult::LeafPem() const {
  size_t begin = out.find("-----BEGIN CERTIFICATE-----");
  size_t end = out.find("-----END CERTIFICATE-----", begin == std::string::npos ? 0 : begin);
  if (begin == std::string::npos || end == std::string::npos) {
    return "";
  }
  return out.substr(begin, end + 25 - begin) + "\n";
}

std::string SClientResult::Session() const {
  // "New, TLSv1.0, Cipher is X" names the version of the cipher (the protocol's only for TLS
  // 1.3 ciphers), the session's "Protocol  :" line the protocol (also printed after a failed
  // handshake: "New, (NONE), Cipher is (NONE)"; not printed for TLS 1.3 without a ticket).
  std::optional<std::string> reused = LineAfter(out, "Reused, ");
  std::optional<std::string> fresh = LineAfter(out, "New, ");
  std::optional<std::string> line = reused ? reused : fresh;
  if (!line || line->rfind("TLS", 0) != 0) {
    return "";
  }
  std::string protocol = LineAfter(out, "    Protocol  : ").value_or("");
  if (protocol.rfind("TLS", 0) != 0) {
    protocol = line->substr(0, line->find(','));
    if (protocol != "TLSv1.3") {
      return "";
    }
  }
  return (reused ? "Reused, " : "New, ") + protocol;
}

std::string SClientResult::Alpn() const { return LineAfter(out, "ALPN protocol: ").value_or(""); }

std::string SClientResult::Describe() const {
  return "s_client exit " + std::to_string(exit_code) + ", session \"" + Session() +
         "\", subject \"" + Subject() + "\"\nstdout: " + Tail(out) + "\nstderr: " + Tail(err);
}

::testing::AssertionResult StartSClient(Process& client, int port,
                                        const std::vector<std::string>& args) {
  std::string openssl;
  if (::testing::AssertionResult ok = OpensslBin(&openssl); !ok) {
    return ok;
  }
  std::vector<std::string> argv = {openssl, "s_client", "-connect",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  if (!client.Spawn(argv, &error, /*pipe_stdin=*/true)) {
    return ::testing::AssertionFailure() << "cannot start openssl s_client: " << error;
  }
  return ::testing::AssertionSuccess();
}

std::string CloseRequest(std::string_view target, std::string_view host) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) +
         "\r\nConnection: close\r\n\r\n";
}

// ---- raw bytes ----

::testing::AssertionResult CaptureClientHello(const std::string& server_name, std::string* hello) {
  std::string openssl;
  if (::testing::AssertionResult ok = OpensslBin(&openssl); !ok) {
    return ok;
  }
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(lfd, 1) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(lfd);
    return ::testing::AssertionFailure() << "cannot listen for the ClientHello";
  }
  Process client;  // killed by its destructor: it waits for a ServerHello that never comes
  std::string error;
  if (!client.Spawn(
          {openssl, "s_client", "-connect", "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)),
           "-servername", server_name},
          &error)) {
    ::close(lfd);
    return ::testing::AssertionFailure() << "cannot start openssl s_client: " << error;
  }
  pollfd pfd{lfd, POLLIN, 0};
  int fd = ::poll(&pfd, 1, 10000) == 1 ? ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC) : -1;
  ::close(lfd);
  if (fd < 0) {
    return ::testing::AssertionFailure()
           << "s_client did not connect: " << client.Output(Process::kStderr);
  }
  SetSocketTimeouts(fd, 10000);
  hello->clear();
  char buf[4096];
  auto record_size = [&] {
    return 5 + ((static_cast<size_t>(static_cast<unsigned char>((*hello)[3])) << 8) |
                static_cast<unsigned char>((*hello)[4]));
  };
  while (hello->size() < 5 || hello->size() < record_size()) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    hello->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (hello->size() < 6 || hello->size() < record_size() || (*hello)[0] != 0x16 ||
      (*hello)[5] != 0x01) {
    return ::testing::AssertionFailure()
           << "not a ClientHello record (" << hello->size() << " bytes received)";
  }
  hello->resize(record_size());
  return ::testing::AssertionSuccess();
}

// ---- files ----

::testing::AssertionResult Sha256File(const std::string& path, std::string* hex) {
  std::string openssl;
  if (::testing::AssertionResult ok = OpensslBin(&openssl); !ok) {
    return ok;
  }
  CommandResult r = RunCommand({openssl, "dgst", "-sha256", "-r", path}, 30000);
  *hex = r.out.substr(0, r.out.find(' '));
  if (r.exit_code != 0 || hex->size() != 64) {
    return ::testing::AssertionFailure() << "openssl dgst " << path << " failed: " << r.err;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ringway::integration
