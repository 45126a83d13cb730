// The verifier side of SDK-HMAC-SHA256 (ringway/auth.h): header parsing and verify().
#include <cstdint>

#include "auth/canonical.h"
#include "ringway/auth.h"

namespace ringway::auth {
namespace {

using internal::ConstantTimeEqual;
using internal::Writer;

constexpr std::string_view kScheme = "SDK-HMAC-SHA256";

struct ErrorText {
  std::string_view code, message;
};
constexpr ErrorText kErrors[] = {
    {"", ""},
    {"RW.4011", "Missing Authorization header"},
    {"RW.4012", "Malformed Authorization or X-Sdk-Date header"},
    {"RW.4013", "Unknown app key"},
    {"RW.4014", "Signature does not match"},
    {"RW.4015", "X-Sdk-Date is too far from the gateway clock"},
};

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Sets the field `name` once; false on an unknown name, a repeat or an empty value.
bool SetField(std::string_view name, std::string_view value, Authorization* out) {
  std::string_view* slot = nullptr;
  if (name == "Access") {
    slot = &out->access;
  } else if (name == "SignedHeaders") {
    slot = &out->signed_headers;
  } else if (name == "Signature") {
    slot = &out->signature;
  }
  if (slot == nullptr || !slot->empty() || value.empty()) {
    return false;
  }
  *slot = value;
  return true;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* v) {
  *v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    *v = *v * 10 + (s[i] - '0');
  }
  return true;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// SignedHeaders: non-empty lower-case names, host and x-sdk-date among them.
bool SignedHeadersOk(std::string_view list) {
  bool host = false;
  bool date = false;
  while (true) {
    const size_t semi = list.find(';');
    const std::string_view name = list.substr(0, semi);
    if (name.empty()) {
      return false;
    }
    for (const char c : name) {
      if ((c >= 'A' && c <= 'Z') || c == ' ' || c == ':' || c == '\t') {
        return false;
      }
    }
    host = host || name == "host";
    date = date || name == "x-sdk-date";
    if (semi == std::string_view::npos) {
      return host && date;
    }
    list.remove_prefix(semi + 1);
  }
}

// Writes the canonical request of `r`; false when it does not fit or has too many parameters.
bool WriteCanonicalRequest(const RequestView& r, std::string_view signed_headers,
                           std::string_view payload_hash, Writer* w) {
  w->put(r.method);
  w->put('\n');
  internal::CanonicalUri(r.path, w);
  w->put('\n');
  if (!internal::CanonicalQuery(r.query, w)) {
    return false;
  }
  w->put('\n');
  for (std::string_view rest = signed_headers; !rest.empty();) {
    const size_t semi = rest.find(';');
    const std::string_view name = rest.substr(0, semi);
    w->put(name);
    w->put(':');
    w->put(TrimSpaces(r.header(r.ctx, name)));
    w->put('\n');
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
  }
  w->put('\n');
  w->put(signed_headers);
  w->put('\n');
  w->put(payload_hash);
  return w->ok();
}

}  // namespace

std::string_view error_code(AuthError e) { return kErrors[static_cast<size_t>(e)].code; }

std::string_view error_message(AuthError e) { return kErrors[static_cast<size_t>(e)].message; }

bool parse_authorization(std::string_view value, Authorization* out) {
  *out = Authorization{};
  if (value.substr(0, kScheme.size()) != kScheme || value.size() == kScheme.size() ||
      value[kScheme.size()] != ' ') {
    return false;
  }
  std::string_view rest = value.substr(kScheme.size());
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view field = TrimSpaces(rest.substr(0, comma));
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos || !SetField(field.substr(0, eq), field.substr(eq + 1), out)) {
      return false;
    }
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (comma != std::string_view::npos && TrimSpaces(rest).empty()) {
      return false;  // a trailing comma
    }
  }
  return !out->access.empty() && !out->signed_headers.empty() && !out->signature.empty();
}

bool parse_sdk_date(std::string_view s, int64_t* unix_s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !Digits(s, 0, 4, &y) ||
      !Digits(s, 4, 2, &mo) || !Digits(s, 6, 2, &d) || !Digits(s, 9, 2, &h) ||
      !Digits(s, 11, 2, &mi) || !Digits(s, 13, 2, &sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59) {
    return false;
  }
  *unix_s = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  return true;
}

AuthError PendingVerify::begin(const RequestView& r, const Authorization& a, int64_t now_unix_s,
                               char* scratch, size_t scratch_len, int64_t max_skew_s) {
  if (!SignedHeadersOk(a.signed_headers)) {
    return AuthError::kMalformed;
  }
  const std::string_view date = r.header(r.ctx, "x-sdk-date");
  int64_t signed_at = 0;
  if (!parse_sdk_date(date, &signed_at)) {
    return AuthError::kMalformed;
  }
  if (signed_at > now_unix_s + max_skew_s || signed_at < now_unix_s - max_skew_s) {
    return AuthError::kStaleDate;
  }
  Writer canonical(scratch, scratch_len);
  if (!WriteCanonicalRequest(r, a.signed_headers, {}, &canonical)) {
    return AuthError::kMalformed;
  }
  canonical_.reset();
  canonical_.update(canonical.view().data(), canonical.view().size());
  date.copy(date_, sizeof(date_));
  signature_ok_ = a.signature.size() == sizeof(signature_);
  a.signature.copy(signature_, sizeof(signature_));
  return AuthError::kNone;
}

AuthError PendingVerify::finish(std::string_view secret, std::string_view payload_hash) {
  canonical_.update(payload_hash.data(), payload_hash.size());
  // String to sign: scheme, date, hex hash of the canonical request (stack, fixed size).
  char to_sign[kScheme.size() + 1 + 16 + 1 + 64];
  Writer w(to_sign, sizeof(to_sign));
  w.put(kScheme);
  w.put('\n');
  w.put(std::string_view(date_, sizeof(date_)));
  w.put('\n');
  char hex[64];
  canonical_.hex(hex);
  w.put(std::string_view(hex, sizeof(hex)));
  char expected[64];
  if (!internal::HmacSha256Hex(secret, w.view(), expected) || !signature_ok_ ||
      !ConstantTimeEqual(std::string_view(signature_, sizeof(signature_)), expected,
                         sizeof(expected))) {
    return AuthError::kBadSignature;
  }
  return AuthError::kNone;
}

AuthError verify(const RequestView& r, const Authorization& a, std::string_view secret,
                 std::string_view payload_hash, int64_t now_unix_s, char* scratch,
                 size_t scratch_len, int64_t max_skew_s) {
  PendingVerify p;
  AuthError e = p.begin(r, a, now_unix_s, scratch, scratch_len, max_skew_s);
  return e != AuthError::kNone ? e : p.finish(secret, payload_hash);
}

namespace internal {

bool ConstantTimeEqual(std::string_view a, const char* b, size_t n) {
  if (a.size() != n) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace internal
}  // namespace ringway::auth
