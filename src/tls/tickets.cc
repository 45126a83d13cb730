// Stateless session tickets (TLS 1.2 tickets and TLS 1.3 resumption PSKs): sealed with
// ChaCha20-Poly1305 under a key derived from a per-process random master secret and the
// current one-hour epoch. A ticket of the current or the previous epoch is accepted (one of
// the previous is replaced by a fresh one), so keys rotate every hour, a ticket lives one to
// two hours, and nothing is shared between shards: each thread derives and caches the keys
// itself (no lock, no shared writes). A restart invalidates every ticket, as with NGINX
// without ssl_session_ticket_key.
//
// Thread affinity: any thread; state is thread-local, the master secret immutable after the
// first use (std::call_once).

// wolfSSL's options.h comes before any other wolfSSL header (its build settings).
#include <wolfssl/options.h>

#include <sys/random.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include <cstring>
#include <ctime>
#include <mutex>

#include "ringway/tls.h"

namespace ringway::tls {

namespace {

constexpr uint64_t kEpochSeconds = 3600;
constexpr size_t kNameSz = WOLFSSL_TICKET_NAME_SZ;

struct Master {
  unsigned char secret[32];
};

const Master& master() {
  static Master m;
  static std::once_flag once;
  std::call_once(once, [] {
    if (getrandom(m.secret, sizeof(m.secret), 0) != static_cast<ssize_t>(sizeof(m.secret))) {
      WC_RNG rng;  // getrandom failing is near impossible; wolfSSL's DRBG then
      wc_InitRng(&rng);
      wc_RNG_GenerateBlock(&rng, m.secret, sizeof(m.secret));
      wc_FreeRng(&rng);
    }
  });
  return m;
}

struct EpochKey {
  uint64_t epoch = UINT64_MAX;
  unsigned char name[kNameSz];  // "rwtk" + epoch (8 bytes, big endian) + 4 check bytes
  unsigned char key[CHACHA20_POLY1305_AEAD_KEYSIZE];
};

void derive(uint64_t epoch, EpochKey* out) {
  unsigned char label[17] = "ringway-ticket--";
  for (int i = 0; i < 8; ++i) {
    label[8 + i] = static_cast<unsigned char>(epoch >> (56 - 8 * i));
  }
  unsigned char mac[WC_SHA256_DIGEST_SIZE];
  Hmac h;
  wc_HmacInit(&h, nullptr, INVALID_DEVID);
  wc_HmacSetKey(&h, WC_SHA256, master().secret, sizeof(master().secret));
  wc_HmacUpdate(&h, label, 16);
  wc_HmacFinal(&h, mac);
  wc_HmacFree(&h);
  out->epoch = epoch;
  std::memcpy(out->key, mac, sizeof(out->key));
  std::memcpy(out->name, "rwtk", 4);
  std::memcpy(out->name + 4, label + 8, 8);
  // Check bytes: a name from another process (another master) is rejected, not mis-decrypted.
  label[0] = 'n';
  wc_HmacInit(&h, nullptr, INVALID_DEVID);
  wc_HmacSetKey(&h, WC_SHA256, master().secret, sizeof(master().secret));
  wc_HmacUpdate(&h, label, 16);
  wc_HmacFinal(&h, mac);
  wc_HmacFree(&h);
  std::memcpy(out->name + 12, mac, 4);
}

// This thread's keys: [0] the current epoch, [1] the previous one.
struct ThreadKeys {
  EpochKey k[2];
  WC_RNG rng;
  bool rng_ok = false;
  ~ThreadKeys() {
    if (rng_ok) {
      wc_FreeRng(&rng);
    }
  }
  void refresh(uint64_t now_epoch) {
    if (k[0].epoch == now_epoch) {
      return;
    }
    if (k[0].epoch + 1 == now_epoch) {
      k[1] = k[0];
    } else {
      derive(now_epoch - 1, &k[1]);
    }
    derive(now_epoch, &k[0]);
  }
};

thread_local ThreadKeys t_keys;

}  // namespace

int ticket_callback(WOLFSSL*, unsigned char key_name[16], unsigned char iv[16],
                    unsigned char mac[32], int enc, unsigned char* ticket, int in_len, int* out_len,
                    void*) {
  ThreadKeys& t = t_keys;
  t.refresh(static_cast<uint64_t>(std::time(nullptr)) / kEpochSeconds);
  if (enc) {
    if (!t.rng_ok) {
      t.rng_ok = wc_InitRng(&t.rng) == 0;
    }
    if (!t.rng_ok || wc_RNG_GenerateBlock(&t.rng, iv, WOLFSSL_TICKET_IV_SZ) != 0) {
      return WOLFSSL_TICKET_RET_FATAL;
    }
    std::memcpy(key_name, t.k[0].name, kNameSz);
    std::memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
    if (wc_ChaCha20Poly1305_Encrypt(t.k[0].key, iv, key_name, kNameSz, ticket,
                                    static_cast<word32>(in_len), ticket, mac) != 0) {
      return WOLFSSL_TICKET_RET_FATAL;
    }
    *out_len = in_len;
    return WOLFSSL_TICKET_RET_OK;
  }
  for (int i = 0; i < 2; ++i) {
    if (std::memcmp(key_name, t.k[i].name, kNameSz) != 0) {
      continue;
    }
    if (wc_ChaCha20Poly1305_Decrypt(t.k[i].key, iv, key_name, kNameSz, ticket,
                                    static_cast<word32>(in_len), mac, ticket) != 0) {
      return WOLFSSL_TICKET_RET_REJECT;
    }
    *out_len = in_len;
    return i == 0 ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
  }
  return WOLFSSL_TICKET_RET_REJECT;  // unknown or expired key: a full handshake
}

}  // namespace ringway::tls
