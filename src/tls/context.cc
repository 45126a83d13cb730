// TLS contexts (ringway/tls.h): one WOLFSSL_CTX per shard, built from PEM files.
//
// Thread affinity: built and freed on the control thread (or at start-up); select() and
// ctx() on the shard whose index they are given.

// wolfSSL's options.h comes before any other wolfSSL header (its build settings).
#include <wolfssl/options.h>

#include <unistd.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "ringway/tls.h"

namespace ringway::tls {

namespace {

// Forward secrecy and AEAD only; TLS 1.3 suites first. Names that a wolfSSL build lacks are
// skipped by wolfSSL_CTX_set_cipher_list.
constexpr const char* kCiphers =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kSystemStore = "/etc/ssl/certs/ca-certificates.crt";
constexpr int kTicketHintSeconds = 3600;  // tickets.cc accepts a ticket for 1 to 2 epochs

// Owns a WOLFSSL_CTX while it is being set up.
struct CtxHolder {
  WOLFSSL_CTX* ctx;
  ~CtxHolder() {
    if (ctx != nullptr) {
      wolfSSL_CTX_free(ctx);
    }
  }
  WOLFSSL_CTX* release() { return std::exchange(ctx, nullptr); }
};

void require_readable(const std::string& path, const std::string& field) {
  if (access(path.c_str(), R_OK) != 0) {
    throw FileError{field, "cannot read " + path + ": " + std::strerror(errno)};
  }
}

WOLFSSL_CTX* new_ctx(bool server) {
  WOLFSSL_CTX* ctx =
      wolfSSL_CTX_new(server ? wolfSSLv23_server_method() : wolfSSLv23_client_method());
  if (ctx == nullptr) {
    throw FileError{"", "wolfSSL_CTX_new failed (out of memory)"};
  }
  wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
  wolfSSL_CTX_set_cipher_list(ctx, kCiphers);
  if (server) {
    // No server session cache: it is process-wide and locked; clients resume with tickets.
    // (A client context keeps it on: wolfSSL refuses to resume a session otherwise. Backend
    // handshakes are rare, the pools keep connections.)
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
  }
  return ctx;
}

// Loads a certificate chain and its key; key_field names the key in errors.
void load_pair(WOLFSSL_CTX* ctx, const std::string& cert, const std::string& key,
               const std::string& cert_field, const std::string& key_field) {
  require_readable(cert, cert_field);
  require_readable(key, key_field);
  if (wolfSSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != WOLFSSL_SUCCESS) {
    throw FileError{cert_field, cert + " is not a PEM certificate (chain)"};
  }
  if (wolfSSL_CTX_use_PrivateKey_file(ctx, key.c_str(), WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    throw FileError{key_field, key + " is not a PEM private key (or it is encrypted)"};
  }
  if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
    throw FileError{key_field, key + " does not match the certificate " + cert};
  }
}

void load_ca(WOLFSSL_CTX* ctx, const std::string& ca, const std::string& field) {
  require_readable(ca, field);
  if (wolfSSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != WOLFSSL_SUCCESS) {
    throw FileError{field, ca + " holds no PEM CA certificate"};
  }
}

WOLFSSL_CTX* server_ctx(const std::string& cert, const std::string& key,
                        const std::string& client_ca, const std::string& prefix) {
  CtxHolder h{new_ctx(true)};
  load_pair(h.ctx, cert, key, prefix + "certificate", prefix + "private_key");
  if (!client_ca.empty()) {
    load_ca(h.ctx, client_ca, "client_ca");
    wolfSSL_CTX_set_verify(h.ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           nullptr);
  } else {
    wolfSSL_CTX_set_verify(h.ctx, WOLFSSL_VERIFY_NONE, nullptr);
  }
  wolfSSL_CTX_set_TicketEncCb(h.ctx, &ticket_callback);
  wolfSSL_CTX_set_TicketHint(h.ctx, kTicketHintSeconds);
  return h.release();
}

WOLFSSL_CTX* client_ctx(const std::optional<config::TlsFiles>& f) {
  CtxHolder h{new_ctx(false)};
  if (f && !f->ca.empty()) {
    load_ca(h.ctx, f->ca, "ca");
  } else if (access(kSystemStore, R_OK) == 0) {
    // No CA given: the system store. Without one, every server certificate is unknown.
    wolfSSL_CTX_load_verify_locations(h.ctx, kSystemStore, nullptr);
  }
  wolfSSL_CTX_set_verify(h.ctx, WOLFSSL_VERIFY_PEER, nullptr);
  if (f && !f->certificate.empty()) {
    load_pair(h.ctx, f->certificate, f->private_key, "certificate", "private_key");
  }
  return h.release();
}

void free_all(std::vector<WOLFSSL_CTX*>& v) {
  for (WOLFSSL_CTX* c : v) {
    wolfSSL_CTX_free(c);  // live connections hold their own reference
  }
  v.clear();
}

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

}  // namespace

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

std::optional<FileError> check_listener(const config::ListenerTls& t) {
  init_library();
  try {
    ServerContext probe(t, 1);
  } catch (const FileError& e) {
    return e;
  }
  return std::nullopt;
}

std::optional<FileError> check_client(const config::TlsFiles& f) {
  init_library();
  try {
    ClientContext probe(f, 1);
  } catch (const FileError& e) {
    return e;
  }
  return std::nullopt;
}

ServerContext::ServerContext(const config::ListenerTls& t, uint32_t shards) {
  init_library();
  try {
    for (uint32_t i = 0; i < shards; ++i) {
      default_.push_back(server_ctx(t.certificate, t.private_key, t.client_ca, ""));
    }
    for (size_t e = 0; e < t.sni.size(); ++e) {
      const config::SniEntry& s = t.sni[e];
      Entry entry;
      entry.wildcard = s.server_name.rfind("*.", 0) == 0;
      entry.name = entry.wildcard ? s.server_name.substr(1) : s.server_name;
      std::transform(entry.name.begin(), entry.name.end(), entry.name.begin(), [](char c) {
        return static_cast<char>(c | (c >= 'A' && c <= 'Z' ? 0x20 : 0));
      });
      sni_.push_back(std::move(entry));
      std::string prefix = "sni[" + std::to_string(e) + "].";
      for (uint32_t i = 0; i < shards; ++i) {
        sni_.back().ctx.push_back(server_ctx(s.certificate, s.private_key, t.client_ca, prefix));
      }
    }
  } catch (...) {
    free_all(default_);
    for (Entry& e : sni_) {
      free_all(e.ctx);
    }
    throw;
  }
  std::stable_sort(sni_.begin(), sni_.end(), [](const Entry& a, const Entry& b) {
    return a.wildcard != b.wildcard ? !a.wildcard : a.name.size() > b.name.size();
  });
}

ServerContext::~ServerContext() {
  free_all(default_);
  for (Entry& e : sni_) {
    free_all(e.ctx);
  }
}

WOLFSSL_CTX* ServerContext::select(uint32_t shard, std::string_view name) const {
  if (!name.empty()) {
    for (const Entry& e : sni_) {
      if (!e.wildcard ? ieq(name, e.name)
                      : name.size() > e.name.size() &&
                            ieq(name.substr(name.size() - e.name.size()), e.name) &&
                            name.find('.') == name.size() - e.name.size()) {
        return e.ctx[shard];
      }
    }
  }
  return default_[shard];
}

ClientContext::ClientContext(const std::optional<config::TlsFiles>& files, uint32_t users) {
  init_library();
  try {
    for (uint32_t i = 0; i < users; ++i) {
      ctx_.push_back(client_ctx(files));
    }
  } catch (...) {
    free_all(ctx_);
    throw;
  }
}

ClientContext::~ClientContext() { free_all(ctx_); }

}  // namespace ringway::tls
