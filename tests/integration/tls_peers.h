// The independent TLS peers of the integration tests, each a process of its own: `openssl
// s_server -www` (a TLS origin), `curl` and `openssl s_client` (TLS clients), and a real
// ClientHello captured from s_client for the raw-socket cases. None shares code with the
// gateway's TLS library.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"
#include "tls_certs.h"

namespace ringway::integration {

// ---- openssl s_server ----

struct TlsServerOptions {
  KeyPair cert;
  // More s_server flags, e.g. {"-Verify", "1", "-CAfile", client_ca} (a client certificate
  // is required), {"-no_tls1_3"}, {"-servername", "b.test", "-cert2", ..., "-key2", ...}.
  std::vector<std::string> extra;
  int port = 0;  // 0: chosen by the OS (s_server prints it on its "ACCEPT" line)
  // "-www": the status page below; "-rev": each line sent back reversed, on a connection that
  // stays open.
  std::string mode = "-www";
};

// Every GET gets an HTTP/1.0 200 status page, close-delimited, holding this line and the
// client certificate if one was presented ("Subject: CN = ..."; else "no client certificate
// available"). One connection at a time.
inline constexpr std::string_view kServerPageMarker = "Ciphers supported in s_server binary";

// `openssl s_server -www` on 127.0.0.1.
class TlsServer {
 public:
  ::testing::AssertionResult Start(const TlsServerOptions& opts);
  void Kill() { proc_.reset(); }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Output() const;  // stdout then stderr

 private:
  std::unique_ptr<Process> proc_;
  int port_ = -1;
};

// ---- curl ----

struct CurlResult {
  bool ran = false;
  int exit_code = -1;        // curl's (35: handshake, 56: receive, 60: verification failed)
  int http_code = 0;         // %{http_code}; 0: no response
  std::string http_version;  // %{http_version}: "1.1", "2"
  long verify_result = -1;   // %{ssl_verify_result}: 0 = verified
  std::string body;          // empty with -o
  std::string err;           // curl's stderr (-sS: the error)
  std::string Describe() const;
};

// `curl -sS --max-time ... args...`, with the status, version and verification written out.
CurlResult Curl(const std::vector<std::string>& args, int timeout_ms = 30000);

// `--cacert ca --resolve name:port:127.0.0.1 https://name:port<path>`.
std::vector<std::string> HttpsTo(const std::string& ca, const std::string& name, int port,
                                 const std::string& path);

// curl exited 0 with `status` over a verified connection.
::testing::AssertionResult CurlOk(const CurlResult& r, int status = 200);
// curl got no HTTP response at all (a failed handshake or connection).
::testing::AssertionResult CurlGotNoResponse(const CurlResult& r);

// ---- openssl s_client ----

struct SClientResult {
  bool ran = false;
  int exit_code = -1;
  std::string out;
  std::string err;
  std::string Subject() const;  // of the server's certificate, e.g. "CN = b.test"; "" if none
  std::string LeafPem() const;  // the server's certificate, PEM
  std::string Session() const;  // "New, TLSv1.3" or "Reused, TLSv1.2"; "" without a handshake
  bool Reused() const { return Session().rfind("Reused, ", 0) == 0; }
  std::string Alpn() const;  // the protocol of "ALPN protocol: X"; "" if none was negotiated
  std::string Describe() const;
};

// `openssl s_client -connect 127.0.0.1:port -ign_eof args...` with `input` on its stdin: it
// ends when the server closes, so `input` should be a request that asks for that
// (CloseRequest).
SClientResult SClient(int port, const std::vector<std::string>& args, const std::string& input,
                      int timeout_ms = 20000);
// `openssl s_client -connect 127.0.0.1:port args...` left running, its stdin piped: each
// WriteStdin() goes out on the one connection, until CloseStdin() or the Process's end.
::testing::AssertionResult StartSClient(Process& client, int port,
                                        const std::vector<std::string>& args);

// "GET target HTTP/1.1" with Host and Connection: close.
std::string CloseRequest(std::string_view target, std::string_view host);

// ---- raw bytes ----

// The first record `openssl s_client -servername server_name` sends: a real ClientHello
// (record type 22, handshake type 1), caught by a listener of our own.
::testing::AssertionResult CaptureClientHello(const std::string& server_name, std::string* hello);

// ---- files ----

// Hex SHA-256 of a file, from `openssl dgst`.
::testing::AssertionResult Sha256File(const std::string& path, std::string* hex);

}  // namespace ringway::integration
