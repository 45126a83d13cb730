// SHA-256 and HMAC-SHA256 through wolfSSL; its types stay in this file.
#include <wolfssl/options.h>
// options.h first (TOOLCHAIN.md).
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <new>

#include "auth/canonical.h"
#include "ringway/auth.h"

namespace ringway::auth {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";

void ToHex(const unsigned char* digest, char out[64]) {
  for (int i = 0; i < 32; ++i) {
    out[2 * i] = kHexLower[digest[i] >> 4];
    out[2 * i + 1] = kHexLower[digest[i] & 0xF];
  }
}

}  // namespace

static_assert(sizeof(wc_Sha256) <= 256, "Sha256::state_ too small for wc_Sha256");
static_assert(alignof(wc_Sha256) <= 16, "Sha256::state_ under-aligned for wc_Sha256");

Sha256::Sha256() {
  auto* s = new (state_) wc_Sha256;
  wc_InitSha256(s);
}

Sha256::~Sha256() { wc_Sha256Free(std::launder(reinterpret_cast<wc_Sha256*>(state_))); }

void Sha256::reset() {
  auto* s = std::launder(reinterpret_cast<wc_Sha256*>(state_));
  wc_Sha256Free(s);
  wc_InitSha256(s);
}

void Sha256::update(const void* p, size_t n) {
  auto* s = std::launder(reinterpret_cast<wc_Sha256*>(state_));
  wc_Sha256Update(s, static_cast<const byte*>(p), static_cast<word32>(n));
}

void Sha256::hex(char out[64]) {
  unsigned char digest[WC_SHA256_DIGEST_SIZE];
  wc_Sha256Final(std::launder(reinterpret_cast<wc_Sha256*>(state_)), digest);
  ToHex(digest, out);
}

namespace internal {

void Sha256Hex(std::string_view data, char out[64]) {
  Sha256 h;
  h.update(data.data(), data.size());
  h.hex(out);
}

bool HmacSha256HexParts(std::string_view key, const std::string_view* parts, size_t n,
                        char out[64]) {
  Hmac hmac;
  unsigned char digest[WC_SHA256_DIGEST_SIZE] = {};
  if (wc_HmacInit(&hmac, nullptr, INVALID_DEVID) != 0) {
    return false;
  }
  bool ok = wc_HmacSetKey(&hmac, WC_SHA256, reinterpret_cast<const byte*>(key.data()),
                          static_cast<word32>(key.size())) == 0;
  for (size_t i = 0; ok && i < n; ++i) {
    ok = wc_HmacUpdate(&hmac, reinterpret_cast<const byte*>(parts[i].data()),
                       static_cast<word32>(parts[i].size())) == 0;
  }
  ok = ok && wc_HmacFinal(&hmac, digest) == 0;
  wc_HmacFree(&hmac);
  ToHex(digest, out);
  return ok;
}

bool HmacSha256Hex(std::string_view key, std::string_view data, char out[64]) {
  return HmacSha256HexParts(key, &data, 1, out);
}

}  // namespace internal
}  // namespace ringway::auth
