// SHA-256 and HMAC-SHA256 on auth/sha256_block (SHA extensions when the CPU has them): the
// signature check of every App-authenticated request hashes a canonical request and an
// HMAC, and the SHA instructions do a block in a fraction of the time of wolfSSL 5.5's
// AVX2 code (bench_auth).
#include <algorithm>
#include <cstring>

#include "auth/canonical.h"
#include "auth/sha256_block.h"
#include "ringway/auth.h"

namespace ringway::auth {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

void ToHex(const unsigned char* digest, char out[64]) {
  for (int i = 0; i < 32; ++i) {
    out[2 * i] = kHexLower[digest[i] >> 4];
    out[2 * i + 1] = kHexLower[digest[i] & 0xF];
  }
}

}  // namespace

void Sha256::reset() {
  std::memcpy(h_, kInit, sizeof(h_));
  total_ = 0;
  used_ = 0;
}

void Sha256::update(const void* p, size_t n) {
  const auto* in = static_cast<const unsigned char*>(p);
  total_ += n;
  if (used_ != 0) {
    const size_t take = std::min<size_t>(n, 64 - used_);
    std::memcpy(buf_ + used_, in, take);
    used_ += static_cast<uint32_t>(take);
    in += take;
    n -= take;
    if (used_ < 64) {
      return;
    }
    internal::Sha256Blocks(h_, buf_, 1);
    used_ = 0;
  }
  if (n >= 64) {
    internal::Sha256Blocks(h_, in, n / 64);
    in += n & ~static_cast<size_t>(63);
    n &= 63;
  }
  if (n != 0) {
    std::memcpy(buf_, in, n);
    used_ = static_cast<uint32_t>(n);
  }
}

void Sha256::digest(unsigned char out[32]) {
  const uint64_t bits = total_ * 8;
  buf_[used_++] = 0x80;
  if (used_ > 56) {
    std::memset(buf_ + used_, 0, 64 - used_);
    internal::Sha256Blocks(h_, buf_, 1);
    used_ = 0;
  }
  std::memset(buf_ + used_, 0, 56 - used_);
  for (int i = 0; i < 8; ++i) {
    buf_[56 + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  }
  internal::Sha256Blocks(h_, buf_, 1);
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<unsigned char>(h_[i] >> 24);
    out[4 * i + 1] = static_cast<unsigned char>(h_[i] >> 16);
    out[4 * i + 2] = static_cast<unsigned char>(h_[i] >> 8);
    out[4 * i + 3] = static_cast<unsigned char>(h_[i]);
  }
  reset();
}

void Sha256::hex(char out[64]) {
  unsigned char d[32];
  digest(d);
  ToHex(d, out);
}

namespace internal {

void Sha256Hex(std::string_view data, char out[64]) {
  Sha256 h;
  h.update(data.data(), data.size());
  h.hex(out);
}

// RFC 2104: H((K ^ opad) || H((K ^ ipad) || text)), a key longer than a block hashed first.
bool HmacSha256HexParts(std::string_view key, const std::string_view* parts, size_t n,
                        char out[64]) {
  unsigned char k[64] = {};
  Sha256 h;
  if (key.size() > 64) {
    h.update(key.data(), key.size());
    h.digest(k);
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char pad[64];
  for (int i = 0; i < 64; ++i) {
    pad[i] = k[i] ^ 0x36;
  }
  h.update(pad, 64);
  for (size_t i = 0; i < n; ++i) {
    h.update(parts[i].data(), parts[i].size());
  }
  unsigned char inner[32];
  h.digest(inner);
  for (int i = 0; i < 64; ++i) {
    pad[i] = k[i] ^ 0x5c;
  }
  h.update(pad, 64);
  h.update(inner, 32);
  unsigned char d[32];
  h.digest(d);
  ToHex(d, out);
  return true;
}

bool HmacSha256Hex(std::string_view key, std::string_view data, char out[64]) {
  return HmacSha256HexParts(key, &data, 1, out);
}

}  // namespace internal
}  // namespace ringway::auth
