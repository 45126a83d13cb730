#include "auth/canonical.h"

#include <algorithm>
#include <cstdint>

namespace ringway::auth::internal {
namespace {

constexpr char kHexUpper[] = "0123456789ABCDEF";

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes a query key or value one byte at a time, as querystring.parse does: '+' is a space,
// %XX a byte, a '%' not followed by two hex digits itself.
class Decoder {
 public:
  explicit Decoder(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  unsigned char next() {
    const char c = s_[i_];
    if (c == '+') {
      ++i_;
      return ' ';
    }
    if (c == '%' && i_ + 2 < s_.size() && HexValue(s_[i_ + 1]) >= 0 && HexValue(s_[i_ + 2]) >= 0) {
      const int v = HexValue(s_[i_ + 1]) * 16 + HexValue(s_[i_ + 2]);
      i_ += 3;
      return static_cast<unsigned char>(v);
    }
    ++i_;
    return static_cast<unsigned char>(c);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// Three-way comparison of two raw pieces by their decoded bytes.
int CompareDecoded(std::string_view a, std::string_view b) {
  Decoder da(a);
  Decoder db(b);
  while (!da.done() && !db.done()) {
    const unsigned char ca = da.next();
    const unsigned char cb = db.next();
    if (ca != cb) {
      return ca < cb ? -1 : 1;
    }
  }
  if (da.done() && db.done()) {
    return 0;
  }
  return da.done() ? -1 : 1;
}

void EncodeDecoded(std::string_view raw, Writer* w) {
  Decoder d(raw);
  while (!d.done()) {
    EncodeByte(d.next(), w);
  }
}

struct Param {
  std::string_view key, value;
};

}  // namespace

void Writer::put(std::string_view s) {
  if (s.size() <= cap_ - len_) {
    std::copy(s.begin(), s.end(), buf_ + len_);
    len_ += s.size();
  } else {
    ok_ = false;
  }
}

void EncodeByte(unsigned char c, Writer* w) {
  if (Unreserved(c)) {
    w->put(static_cast<char>(c));
    return;
  }
  w->put('%');
  w->put(kHexUpper[c >> 4]);
  w->put(kHexUpper[c & 0xF]);
}

void CanonicalUri(std::string_view raw_path, Writer* w) {
  if (raw_path.empty()) {
    raw_path = "/";
  }
  for (size_t i = 0; i < raw_path.size(); ++i) {
    const char c = raw_path[i];
    if (c == '/') {
      w->put('/');
      continue;
    }
    // A received escape of a non-ASCII byte was a raw character when the SDK signed it.
    if (c == '%' && i + 2 < raw_path.size() && HexValue(raw_path[i + 1]) >= 8 &&
        HexValue(raw_path[i + 2]) >= 0) {
      EncodeByte(
          static_cast<unsigned char>(HexValue(raw_path[i + 1]) * 16 + HexValue(raw_path[i + 2])),
          w);
      i += 2;
      continue;
    }
    EncodeByte(static_cast<unsigned char>(c), w);
  }
  if (raw_path.back() != '/') {
    w->put('/');
  }
}

bool CanonicalQuery(std::string_view raw_query, Writer* w) {
  Param params[kMaxQueryParams];
  size_t n = 0;
  while (!raw_query.empty()) {
    const size_t amp = raw_query.find('&');
    const std::string_view piece = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (piece.empty()) {
      continue;
    }
    if (n == kMaxQueryParams) {
      return false;
    }
    const size_t eq = piece.find('=');
    params[n++] = eq == std::string_view::npos ? Param{piece, std::string_view()}
                                               : Param{piece.substr(0, eq), piece.substr(eq + 1)};
  }
  std::sort(params, params + n, [](const Param& x, const Param& y) {
    const int k = CompareDecoded(x.key, y.key);
    return k != 0 ? k < 0 : CompareDecoded(x.value, y.value) < 0;
  });
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) {
      w->put('&');
    }
    EncodeDecoded(params[i].key, w);
    w->put('=');
    EncodeDecoded(params[i].value, w);
  }
  return true;
}

}  // namespace ringway::auth::internal
