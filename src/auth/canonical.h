// Private to src/auth: the canonical forms of SDK-HMAC-SHA256 (ringway/auth.h states them)
// and the hash helpers, shared by the verifier and the signer (and, for the hash helpers, by
// src/cascade). No allocation.
#pragma once

#include <cstddef>
#include <string_view>

#include "ringway/auth.h"

namespace ringway::auth::internal {

// Appends into a caller's buffer; once something did not fit, ok() stays false.
class Writer {
 public:
  Writer(char* buf, size_t cap) : buf_(buf), cap_(cap) {}
  void put(char c) {
    if (len_ < cap_) {
      buf_[len_++] = c;
    } else {
      ok_ = false;
    }
  }
  void put(std::string_view s);
  bool ok() const { return ok_; }
  std::string_view view() const { return {buf_, len_}; }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool ok_ = true;
};

// Appends `c` as AKSKSigner.urlEncode does for one byte: A-Za-z0-9-_.~ as is, else %XX.
void EncodeByte(unsigned char c, Writer* w);
// Appends the canonical URI of a raw (as received) path; an empty path counts as "/".
void CanonicalUri(std::string_view raw_path, Writer* w);
// Appends the canonical query of a raw query (no '?'); false when it has more than
// kMaxQueryParams parameters.
bool CanonicalQuery(std::string_view raw_query, Writer* w);

// Hex digests (64 lower-case digits, no NUL). HmacSha256Hex: always true (the bool is kept
// for callers written when wolfSSL could fail). HmacSha256HexParts: the HMAC of the concatenation
// of parts[0..n), without copying them together. Shared with src/cascade. Any thread; no
// allocation.
void Sha256Hex(std::string_view data, char out[64]);
bool HmacSha256Hex(std::string_view key, std::string_view data, char out[64]);
bool HmacSha256HexParts(std::string_view key, const std::string_view* parts, size_t n,
                        char out[64]);

// True when `a` equals b[0..n); the time taken depends on n only, not on where they differ
// (for comparing signatures). Shared with src/cascade.
bool ConstantTimeEqual(std::string_view a, const char* b, size_t n);

}  // namespace ringway::auth::internal
