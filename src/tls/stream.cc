// tls::Stream (ringway/tls.h): wolfSSL driven through in-memory I/O callbacks.
//
// Thread affinity: the connection's thread.

// wolfSSL's options.h comes before any other wolfSSL header (its build settings).
#include <wolfssl/options.h>

#include <wolfssl/error-ssl.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <algorithm>
#include <cstring>

#include "ringway/tls.h"

namespace ringway::tls {

namespace {
// Ciphertext buffers: room for four full records (16 KiB plaintext each, plus header, tag
// and padding), so a large response is encrypted and sent in 64 KiB steps.
constexpr uint32_t kRecordPlain = 16384;
constexpr uint32_t kRecordOverhead = 256;
constexpr uint32_t kCipherBuf = 4 * (kRecordPlain + kRecordOverhead);

// RFC 8446 6.2 names of the alerts a handshake fails with.
std::string alert_name(int code) {
  switch (code) {
    case 10:
      return "unexpected_message";
    case 20:
      return "bad_record_mac";
    case 40:
      return "handshake_failure";
    case 42:
      return "bad_certificate";
    case 43:
      return "unsupported_certificate";
    case 44:
      return "certificate_revoked";
    case 45:
      return "certificate_expired";
    case 46:
      return "certificate_unknown";
    case 47:
      return "illegal_parameter";
    case 48:
      return "unknown_ca";
    case 49:
      return "access_denied";
    case 50:
      return "decode_error";
    case 51:
      return "decrypt_error";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 80:
      return "internal_error";
    case 112:
      return "unrecognized_name";
    case 116:
      return "certificate_required";
    case 120:
      return "no_application_protocol";
    default:
      return "alert " + std::to_string(code);
  }
}
}  // namespace

Stream::~Stream() { reset(); }

// Bytes received before the start (the ClientHello whose SNI chose `ctx`) stay.
bool Stream::attach(WOLFSSL_CTX* ctx) {
  if (ssl_ != nullptr) {
    wolfSSL_free(ssl_);
  }
  last_error_ = 0;
  done_ = false;
  more_ = false;
  ssl_ = wolfSSL_new(ctx);
  if (ssl_ == nullptr) {
    return false;
  }
  wolfSSL_SSLSetIORecv(ssl_, &Stream::recv_cb);
  wolfSSL_SSLSetIOSend(ssl_, &Stream::send_cb);
  wolfSSL_SetIOReadCtx(ssl_, this);
  wolfSSL_SetIOWriteCtx(ssl_, this);
  // ALPN: http/1.1 only; a client offering only h2 still gets a connection (no ALPN).
  char alpn[] = "http/1.1";
  wolfSSL_UseALPN(ssl_, alpn, sizeof(alpn) - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
  return true;
}

bool Stream::start_server(WOLFSSL_CTX* ctx) { return attach(ctx); }

bool Stream::start_client(WOLFSSL_CTX* ctx, const std::string& name, WOLFSSL_SESSION* session) {
  if (!attach(ctx)) {
    return false;
  }
  if (!name.empty()) {
    // An IP literal is checked against the IP SANs and sent without SNI (RFC 6066).
    bool ip = name.find_first_not_of("0123456789.:") == std::string::npos;
    if (!ip) {
      wolfSSL_UseSNI(ssl_, WOLFSSL_SNI_HOST_NAME, name.data(), static_cast<uint16_t>(name.size()));
    }
    wolfSSL_check_domain_name(ssl_, name.c_str());
  }
  if (session != nullptr) {
    wolfSSL_set_session(ssl_, session);
  }
  return true;
}

void Stream::reset() {
  if (ssl_ != nullptr) {
    wolfSSL_free(ssl_);
    ssl_ = nullptr;
  }
  pool_->put(cin_);
  pool_->put(cout_);
  feed_ = nullptr;
  feed_len_ = 0;
  last_error_ = 0;
  done_ = false;
  more_ = false;
}

void Stream::input(const char* data, uint32_t len) {
  if (len == 0) {
    return;
  }
  if (!cin_.empty()) {
    keep(data, len);  // older bytes (part of a record) wait in cin_: keep the order
    return;
  }
  feed_ = data;
  feed_len_ = len;
}

// Appends to cin_; a backend receive (64 KiB) behind a partial record may need a larger
// buffer than kCipherBuf.
void Stream::keep(const char* data, uint32_t len) {
  pool_->get(cin_, std::max(kCipherBuf, len));
  if (cin_.room() < len) {
    cin_.compact();
  }
  if (cin_.room() < len) {
    core::IoBuf bigger;
    pool_->get(bigger, cin_.size() + len);
    std::memcpy(bigger.data, cin_.data + cin_.head, cin_.size());
    bigger.tail = cin_.size();
    pool_->put(cin_);
    cin_ = bigger;
  }
  std::memcpy(cin_.data + cin_.tail, data, len);
  cin_.tail += len;
}

void Stream::keep_rest() {
  if (feed_len_ > 0) {
    keep(feed_, feed_len_);
  }
  feed_ = nullptr;
  feed_len_ = 0;
  if (cin_.allocated() && cin_.empty()) {
    pool_->put(cin_);
  }
}

int Stream::recv_cb(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* s = static_cast<Stream*>(ctx);
  uint32_t want = static_cast<uint32_t>(sz);
  if (!s->cin_.empty()) {
    uint32_t n = std::min(want, s->cin_.size());
    std::memcpy(buf, s->cin_.data + s->cin_.head, n);
    s->cin_.head += n;
    return static_cast<int>(n);
  }
  if (s->feed_len_ > 0) {
    uint32_t n = std::min(want, s->feed_len_);
    std::memcpy(buf, s->feed_, n);
    s->feed_ += n;
    s->feed_len_ -= n;
    return static_cast<int>(n);
  }
  return WOLFSSL_CBIO_ERR_WANT_READ;
}

int Stream::send_cb(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* s = static_cast<Stream*>(ctx);
  s->pool_->get(s->cout_, kCipherBuf);
  if (s->cout_.room() < static_cast<uint32_t>(sz)) {
    return WOLFSSL_CBIO_ERR_WANT_WRITE;  // write() stops before this; handshakes fit
  }
  std::memcpy(s->cout_.data + s->cout_.tail, buf, static_cast<size_t>(sz));
  s->cout_.tail += static_cast<uint32_t>(sz);
  return sz;
}

Stream::Step Stream::handshake() {
  if (done_) {
    return Step::kDone;
  }
  int rc = wolfSSL_is_server(ssl_) ? wolfSSL_accept(ssl_) : wolfSSL_connect(ssl_);
  if (rc == WOLFSSL_SUCCESS) {
    done_ = true;
    return Step::kDone;
  }
  int err = wolfSSL_get_error(ssl_, rc);
  if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
    return Step::kWant;
  }
  last_error_ = err;
  return Step::kFailed;
}

int Stream::read(char* dst, uint32_t room) {
  more_ = false;
  int total = 0;
  while (room > 0) {
    int n = wolfSSL_read(ssl_, dst + total, static_cast<int>(std::min<uint32_t>(room, INT32_MAX)));
    if (n > 0) {
      total += n;
      room -= static_cast<uint32_t>(n);
      continue;
    }
    int err = wolfSSL_get_error(ssl_, n);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
      return total;
    }
    if (total > 0) {
      more_ = true;  // report the bytes now; the close or error comes with the next read
      return total;
    }
    if (err == WOLFSSL_ERROR_ZERO_RETURN) {
      return -1;
    }
    last_error_ = err;
    return -2;
  }
  more_ = true;  // stopped for room: wolfSSL or cin_ may hold more
  return total;
}

int Stream::write(const char* src, uint32_t len) {
  pool_->get(cout_, kCipherBuf);
  if (cout_.empty()) {
    cout_.head = cout_.tail = 0;
  }
  uint32_t done = 0;
  while (done < len && cout_.room() >= kRecordPlain + kRecordOverhead) {
    uint32_t n = std::min(len - done, kRecordPlain);
    int rc = wolfSSL_write(ssl_, src + done, static_cast<int>(n));
    if (rc <= 0) {
      int err = wolfSSL_get_error(ssl_, rc);
      if (err == WOLFSSL_ERROR_WANT_WRITE || err == WOLFSSL_ERROR_WANT_READ) {
        break;
      }
      last_error_ = err;
      return -1;
    }
    done += static_cast<uint32_t>(rc);
  }
  return static_cast<int>(done);
}

void Stream::shutdown() {
  if (ssl_ != nullptr && done_) {
    wolfSSL_shutdown(ssl_);  // writes the alert; the peer's answer is not waited for
  }
}

void Stream::out_sent(uint32_t n) {
  cout_.head += std::min(n, cout_.size());
  if (cout_.empty() && cout_.allocated()) {
    pool_->put(cout_);
  }
}

std::string Stream::error() const {
  char text[WOLFSSL_MAX_ERROR_SZ] = {};
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(last_error_), text, sizeof(text));
  std::string why = text;
  if (last_error_ == DOMAIN_NAME_MISMATCH || last_error_ == IPADDR_MISMATCH) {
    why += " (name mismatch)";
  } else if (last_error_ == ASN_AFTER_DATE_E) {
    why += " (certificate expired)";
  } else if (last_error_ == ASN_BEFORE_DATE_E) {
    why += " (certificate not yet valid)";
  } else if (last_error_ == ASN_NO_SIGNER_E) {
    why += " (unknown CA)";
  } else if (last_error_ == FATAL_ERROR && ssl_ != nullptr) {
    WOLFSSL_ALERT_HISTORY h{};
    if (wolfSSL_get_alert_history(ssl_, &h) == WOLFSSL_SUCCESS && h.last_rx.code > 0) {
      why += " (alert from the peer: ";
      why += alert_name(h.last_rx.code);
      why += ")";
    }
  }
  return why + " [" + std::to_string(last_error_) + "]";
}

WOLFSSL_SESSION* Stream::session() const {
  return ssl_ != nullptr && done_ ? wolfSSL_get1_session(ssl_) : nullptr;
}

bool Stream::resumed() const { return ssl_ != nullptr && wolfSSL_session_reused(ssl_) == 1; }

}  // namespace ringway::tls
