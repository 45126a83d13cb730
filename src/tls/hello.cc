// The server_name of a ClientHello (RFC 8446 4.1.2, RFC 6066 3), read before a WOLFSSL is
// made so that it is made on the context of the right certificate. Bounds-checked at every
// step: the bytes are the network's.
#include <cstdint>

#include "ringway/tls.h"

namespace ringway::tls {

namespace {

class Reader {
 public:
  Reader(const unsigned char* p, size_t n) : p_(p), n_(n) {}
  bool u8(uint32_t* v) { return get(1, v); }
  bool u16(uint32_t* v) { return get(2, v); }
  bool u24(uint32_t* v) { return get(3, v); }
  bool skip(size_t n) {
    if (n > n_) {
      return false;
    }
    p_ += n;
    n_ -= n;
    return true;
  }
  // A sub-reader over the next `n` bytes, which are skipped here.
  bool sub(size_t n, Reader* r) {
    if (n > n_) {
      return false;
    }
    *r = Reader(p_, n);
    return skip(n);
  }
  const unsigned char* at() const { return p_; }
  size_t left() const { return n_; }

 private:
  bool get(size_t k, uint32_t* v) {
    if (k > n_) {
      return false;
    }
    *v = 0;
    for (size_t i = 0; i < k; ++i) {
      *v = (*v << 8) | p_[i];
    }
    p_ += k;
    n_ -= k;
    return true;
  }
  const unsigned char* p_;
  size_t n_;
};

constexpr uint32_t kHandshake = 22;
constexpr uint32_t kClientHello = 1;
constexpr uint32_t kServerNameExt = 0;
constexpr uint32_t kHostName = 0;

// The server_name extension's host name, or false.
bool name_in_extension(Reader ext, std::string_view* name) {
  uint32_t list_len = 0;
  Reader list(nullptr, 0);
  if (!ext.u16(&list_len) || !ext.sub(list_len, &list)) {
    return false;
  }
  while (list.left() > 0) {
    uint32_t type = 0;
    uint32_t len = 0;
    if (!list.u8(&type) || !list.u16(&len) || len > list.left()) {
      return false;
    }
    if (type == kHostName && len > 0 && len <= 255) {
      *name = std::string_view(reinterpret_cast<const char*>(list.at()), len);
      return true;
    }
    list.skip(len);
  }
  return false;
}

}  // namespace

Hello client_hello_sni(const char* data, uint32_t len, std::string_view* name) {
  Reader rec(reinterpret_cast<const unsigned char*>(data), len);
  uint32_t type = 0;
  uint32_t version = 0;
  uint32_t rec_len = 0;
  if (!rec.u8(&type) || !rec.u16(&version) || !rec.u16(&rec_len)) {
    return len < 5 ? Hello::kIncomplete : Hello::kNone;
  }
  if (type != kHandshake || rec_len > 16384 + 2048) {
    return Hello::kNone;
  }
  if (rec.left() < rec_len) {
    return Hello::kIncomplete;
  }
  Reader hs(nullptr, 0);
  rec.sub(rec_len, &hs);
  uint32_t hs_type = 0;
  uint32_t hs_len = 0;
  uint32_t skip_len = 0;
  Reader body(nullptr, 0);
  // A ClientHello longer than its first record: no SNI read (the default certificate).
  if (!hs.u8(&hs_type) || hs_type != kClientHello || !hs.u24(&hs_len) || !hs.sub(hs_len, &body) ||
      !body.skip(2 + 32) || !body.u8(&skip_len) || !body.skip(skip_len) || !body.u16(&skip_len) ||
      !body.skip(skip_len) || !body.u8(&skip_len) || !body.skip(skip_len)) {
    return Hello::kNone;
  }
  uint32_t ext_len = 0;
  Reader exts(nullptr, 0);
  if (!body.u16(&ext_len) || !body.sub(ext_len, &exts)) {
    return Hello::kNone;
  }
  while (exts.left() > 0) {
    uint32_t ext_type = 0;
    uint32_t one_len = 0;
    Reader one(nullptr, 0);
    if (!exts.u16(&ext_type) || !exts.u16(&one_len) || !exts.sub(one_len, &one)) {
      return Hello::kNone;
    }
    if (ext_type == kServerNameExt) {
      return name_in_extension(one, name) ? Hello::kName : Hello::kNone;
    }
  }
  return Hello::kNone;
}

}  // namespace ringway::tls
