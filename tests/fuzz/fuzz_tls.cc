// libFuzzer target: the TLS record path on the server side (ringway/tls.h, tls/stream.cc):
// wolfSSL fed through the Stream's I/O callbacks with the bytes a client sends, as
// ClientSide::tls_received drives it (tls_start, tls_drive, keep_rest).
//
// Input: split byte (fuzz_common.h), then the client's bytes (seeds: ClientHellos of ringway's
// own client Stream for TLS 1.3 and 1.2, with and without SNI, followed by records). Each piece
// arrives in a buffer of its own that is freed after keep_rest(), so ASan catches a read of
// received bytes the Stream did not keep. Before the WOLFSSL exists, client_hello_sni picks the
// context (its name a view into the bytes); then handshake() until done, then read() until it
// returns 0, echoing plaintext back through write(); output is "sent" in two parts. Checks:
// views inside the input, read() within its room, write() within its length.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/buf_pool.h"
#include "fuzz_common.h"
#include "ringway/config.h"
#include "ringway/tls.h"

namespace ringway::fuzz {
namespace {

// A test-only self-signed ECDSA P-256 certificate (CN fuzz.test, SAN fuzz.test and *.wild.test,
// valid until 2126) and its key, made with the openssl CLI. Never used outside this target.
constexpr std::string_view kCert = R"(-----BEGIN CERTIFICATE-----
MIIBoTCCAUigAwIBAgIUMbDrzl+maz6XD3qx10eWmqp1UcAwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJZnV6ei50ZXN0MCAXDTI2MTIwMzA4NDEwMFoYDzIxMjYxMTA5
MDg0MTAwWjAUMRIwEAYDVQQDDAlmdXp6LnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQyVXL0ZzuKEuTj2HCMzQORnGlXq70hHHeufksBeQ0ZBDdQW6jRvgKD
wtuMTY56JRlYyFtsA2OSe4Fjjirb6jgqo3YwdDAdBgNVHQ4EFgQU+CNM4Y52aig2
BsGFQcMzsz2LpZAwHwYDVR0jBBgwFoAU+CNM4Y52aig2BsGFQcMzsz2LpZAwDwYD
VR0TAQH/BAUwAwEB/zAhBgNVHREEGjAYgglmdXp6LnRlc3SCCyoud2lsZC50ZXN0
MAoGCCqGSM49BAMCA0cAMEQCIDRG+BQVWceZ4DgQj7zeZvnzny5dM4j5Eb+DVC4S
PYN/AiAlNjjx/YKbiy+xK98jx6iaCcQ+xiDu6qmH1wlg0mjR2w==
-----END CERTIFICATE-----
)";
constexpr std::string_view kKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrFgsD1K2m8gM2Uwp
x+sesu3qcFEywULlQ6U1bdkCbyWhRANCAAQyVXL0ZzuKEuTj2HCMzQORnGlXq70h
HHeufksBeQ0ZBDdQW6jRvgKDwtuMTY56JRlYyFtsA2OSe4Fjjirb6jgq
-----END PRIVATE KEY-----
)";

std::string write_temp(std::string_view text, const char* name) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ringway-fuzz-tls-XXXXXX";
    FUZZ_CHECK(mkdtemp(tmpl) != nullptr);
    return std::string(tmpl);
  }();
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "w");
  FUZZ_CHECK(f != nullptr);
  FUZZ_CHECK(std::fwrite(text.data(), 1, text.size(), f) == text.size());
  std::fclose(f);
  return path;
}

struct Server {
  Server() {
    tls::init_library();
    config::ListenerTls t;
    t.certificate = write_temp(kCert, "cert.pem");
    t.private_key = write_temp(kKey, "key.pem");
    t.sni.push_back({"*.wild.test", t.certificate, t.private_key});
    ctx = std::make_unique<tls::ServerContext>(t, 1);
    // The files were read: nothing is left behind.
    unlink(t.certificate.c_str());
    unlink(t.private_key.c_str());
  }
  std::unique_ptr<tls::ServerContext> ctx;
  core::BufPool pool;
};

Server& server() {
  static Server s;
  return s;
}

// 0 when more input is needed, -1 peer closed, -2 failed, else plaintext bytes read.
int drive(tls::Stream& st) {
  if (!st.started()) {
    const std::string_view hello = st.received();
    std::string_view name;
    const tls::Hello h =
        tls::client_hello_sni(hello.data(), static_cast<uint32_t>(hello.size()), &name);
    if (h == tls::Hello::kIncomplete) {
      return 0;
    }
    FUZZ_CHECK(h == tls::Hello::kName || name.empty());
    FUZZ_CHECK(inside(name, hello.data(), hello.size()));
    if (!st.start_server(server().ctx->select(0, name))) {
      return -2;
    }
  }
  if (!st.handshake_done()) {
    const tls::Stream::Step step = st.handshake();
    if (step != tls::Stream::Step::kDone) {
      return step == tls::Stream::Step::kFailed ? -2 : 0;
    }
  }
  int total = 0;
  char plain[1024];
  for (;;) {
    const int n = st.read(plain, sizeof(plain));
    FUZZ_CHECK(n <= static_cast<int>(sizeof(plain)) && n >= -2);
    if (n <= 0) {
      return total > 0 ? total : n;
    }
    total += n;
    if (st.out_size() == 0) {
      const int w = st.write(plain, static_cast<uint32_t>(n));
      FUZZ_CHECK(w <= n);
    }
  }
}

}  // namespace
}  // namespace ringway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringway;
  if (size < 1) {
    return 0;
  }
  fuzz::Server& srv = fuzz::server();
  tls::Stream st(srv.pool);
  fuzz::Splitter split(data[0]);
  const char* in = reinterpret_cast<const char*>(data) + 1;
  const size_t len = size - 1;
  for (size_t pos = 0; pos < len;) {
    const size_t n = split.next(len - pos);
    // The receive buffer: returned to its ring (freed) once the Stream kept what it needs.
    auto piece = std::make_unique<char[]>(n);
    std::memcpy(piece.get(), in + pos, n);
    pos += n;
    st.input(piece.get(), static_cast<uint32_t>(n));
    const int r = fuzz::drive(st);
    st.keep_rest();
    piece.reset();
    if (st.out_size() > 0) {
      const uint32_t half = st.out_size() / 2;
      st.out_sent(half);
      st.out_sent(st.out_size());
    }
    if (r < 0) {
      (void)st.error();  // what the proxy logs
      break;
    }
  }
  return 0;
}
