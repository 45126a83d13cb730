// TLS on wolfSSL (issue 15): contexts built from the configuration's files, and the
// per-connection engine that turns ciphertext received by io_uring into plaintext and
// plaintext into ciphertext for io_uring to send. wolfSSL never touches a socket here: its
// I/O callbacks read from and write to the Stream's own buffers.
//
// Contexts: a ServerContext per TLS listener (default certificate, SNI certificates, an
// optional client CA), a ClientContext per distinct backend or health-check `client_ssl`
// (trusted CAs, optional client certificate). Each holds one WOLFSSL_CTX per shard, so no
// two threads ever share one (wolfSSL takes a context's mutex when a connection starts).
// Built on the control thread, immutable after; a connection's WOLFSSL holds its own
// reference, so a reload that frees a context leaves live connections working.
//
// Policy: TLS 1.2 and 1.3 only, AEAD suites with forward secrecy, ALPN http/1.1 (never h2),
// stateless session tickets (keys per process, rotated: tickets.cc), no session cache
// (no shared state between shards).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/buf_pool.h"
#include "ringway/config.h"

struct WOLFSSL_CTX;
struct WOLFSSL;
struct WOLFSSL_SESSION;

namespace ringway::tls {

// Once per process, before any other call (wolfSSL_Init). Idempotent.
void init_library();

// A configuration file problem: `field` is the offending member relative to the TLS object
// ("certificate", "sni[1].private_key", "ca"), `message` says what is wrong. Never holds key
// material.
struct FileError {
  std::string field;
  std::string message;
};

// Checks that the files exist, parse as PEM and that key and certificate belong together,
// without keeping anything. Used by the loader (`ringway check` and reloads).
std::optional<FileError> check_listener(const config::ListenerTls& t);
std::optional<FileError> check_client(const config::TlsFiles& f);

// The contexts of one TLS listener, one WOLFSSL_CTX per shard and certificate.
class ServerContext {
 public:
  // Throws FileError.
  ServerContext(const config::ListenerTls& t, uint32_t shards);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Shard `shard`'s context for a ClientHello naming `server_name` (empty: no SNI): an exact
  // SNI entry, else the longest matching "*.suffix" entry (one label), else the default.
  WOLFSSL_CTX* select(uint32_t shard, std::string_view server_name) const;
  bool has_sni() const { return !sni_.empty(); }

 private:
  struct Entry {
    std::string name;  // lower case; for a wildcard, the suffix with its dot (".wild.test")
    bool wildcard = false;
    std::vector<WOLFSSL_CTX*> ctx;  // [shard]
  };
  std::vector<WOLFSSL_CTX*> default_;  // [shard]
  std::vector<Entry> sni_;             // exact names first, then wildcards, longest first
};

// The contexts of a TLS client (backends, health checks) with one `client_ssl` (or none:
// the system store, no client certificate), one WOLFSSL_CTX per user (shard or checker).
class ClientContext {
 public:
  // Throws FileError.
  ClientContext(const std::optional<config::TlsFiles>& files, uint32_t users);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  WOLFSSL_CTX* ctx(uint32_t user) const { return ctx_[user]; }

 private:
  std::vector<WOLFSSL_CTX*> ctx_;
};

// One side of a TLS connection. Owned by its connection on one thread; buffers come from
// that thread's pool and go back when empty, so an idle connection holds only the WOLFSSL.
//
// Use: start_server/start_client; for each receive, input(bytes) then handshake() until it
// returns kDone, then read() until it returns 0, then keep_rest() before the receive buffer
// is reused. To send: write() plaintext (or the handshake fills output by itself), send
// out_data()/out_size(), out_sent(n) for what the kernel took.
class Stream {
 public:
  enum class Step : uint8_t { kDone, kWant, kFailed };

  // Buffers come from `pool` (the owning thread's), which must outlive the Stream.
  explicit Stream(core::BufPool& pool) : pool_(&pool) {}
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // A server side on `ctx`. False when wolfSSL is out of memory.
  bool start_server(WOLFSSL_CTX* ctx);
  // A client side on `ctx` that sends SNI `name` and checks the server certificate for it
  // (an IP address is matched against the certificate's IP SANs), resuming `session` when
  // given (not taken over: the caller keeps its reference).
  bool start_client(WOLFSSL_CTX* ctx, const std::string& name, WOLFSSL_SESSION* session);
  // Frees the WOLFSSL and the buffers: the Stream can start again.
  void reset();
  bool started() const { return ssl_ != nullptr; }
  bool handshake_done() const { return done_; }

  // Ciphertext received. The bytes are read in place until keep_rest() copies what is left.
  void input(const char* data, uint32_t len);
  // The received bytes not read yet, contiguous (before start_*: the ClientHello so far).
  std::string_view received() const {
    return cin_.empty() ? std::string_view(feed_, feed_len_)
                        : std::string_view(cin_.data + cin_.head, cin_.size());
  }
  // Copies unread received bytes into the Stream's own buffer (before the caller's buffer
  // goes back to its ring).
  void keep_rest();
  // The last read() stopped for room: more plaintext can be read without new input. (Bytes
  // of an incomplete record may wait in the buffer too, but they need more input.)
  bool has_input() const { return more_; }

  // Drives the handshake with what was received; output may be produced (out_size()).
  Step handshake();
  // Plaintext into `dst` (at most `room`): > 0 bytes; 0 when more ciphertext is needed;
  // -1 when the peer closed (close_notify); -2 on failure (error()).
  int read(char* dst, uint32_t room);
  // Encrypts up to `len` bytes (fewer when the output buffer is full). Returns the count, or
  // -1 on failure. Call only with no output pending (out_size() == 0).
  int write(const char* src, uint32_t len);
  // Appends a close_notify alert to the output.
  void shutdown();

  const char* out_data() const { return cout_.data + cout_.head; }
  uint32_t out_size() const { return cout_.size(); }
  void out_sent(uint32_t n);

  // Why the last step failed, for logs (wolfSSL's error, and the alert or verification
  // result when there is one). Never holds key material.
  std::string error() const;
  // The session to resume a later connection with (client side, after the handshake); a new
  // reference the caller frees with wolfSSL_SESSION_free. Null when none.
  WOLFSSL_SESSION* session() const;
  bool resumed() const;
  WOLFSSL* ssl() const { return ssl_; }

 private:
  static int recv_cb(WOLFSSL* ssl, char* buf, int sz, void* ctx);
  static int send_cb(WOLFSSL* ssl, char* buf, int sz, void* ctx);
  bool attach(WOLFSSL_CTX* ctx);
  void keep(const char* data, uint32_t len);

  WOLFSSL* ssl_ = nullptr;
  core::BufPool* pool_;
  core::IoBuf cin_;             // ciphertext received and not yet read by wolfSSL
  core::IoBuf cout_;            // ciphertext to send
  const char* feed_ = nullptr;  // the receive being read in place
  uint32_t feed_len_ = 0;
  int last_error_ = 0;
  bool done_ = false;
  bool more_ = false;  // the last read() stopped for room, not for input
};

// The server name in a ClientHello received so far (its first record), as a view into
// `data`. kIncomplete: that record is not complete yet; kNone: no SNI, or not a ClientHello
// (the handshake then fails on its own).
enum class Hello : uint8_t { kIncomplete, kNone, kName };
Hello client_hello_sni(const char* data, uint32_t len, std::string_view* name);

// Derives the per-process session-ticket key of the current epoch and encrypts or decrypts
// a ticket (tickets.cc); installed on every server context.
int ticket_callback(WOLFSSL* ssl, unsigned char key_name[16], unsigned char iv[16],
                    unsigned char mac[32], int enc, unsigned char* ticket, int in_len, int* out_len,
                    void* ctx);

}  // namespace ringway::tls
