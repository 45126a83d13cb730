// The cascade channel's signer and verifier (ringway/cascade.h). The HMAC and the
// constant-time compare are src/auth's; this file only builds the string to sign.
#include <cstdint>
#include <iterator>
#include <string_view>

#include "auth/canonical.h"
#include "ringway/cascade.h"

namespace ringway::cascade {
namespace {

constexpr std::string_view kVersion = "RINGWAY-CASCADE-V1\n";
constexpr size_t kMaxInstance = 64;
constexpr size_t kMaxTimeDigits = 18;  // below 10^18: no int64 overflow
constexpr uint32_t kMaxHopField = 99;
constexpr char kHexLower[] = "0123456789abcdef";

struct VerdictText {
  uint16_t status;
  std::string_view code, message;
};
// Indexed by Verdict.
constexpr VerdictText kVerdicts[] = {
    {200, "", ""},
    {403, "RW.4031", "cascade is not enabled on this instance"},
    {403, "RW.4032", "instance not allowed to cascade here"},
    {401, "RW.4016", "missing or malformed cascade header"},
    {401, "RW.4017", "cascade timestamp outside the allowed skew"},
    {401, "RW.4018", "cascade signature mismatch"},
    {401, "RW.4019", "cascade nonce already used"},
    {508, "RW.5081", "cascade hop limit exceeded (a loop?)"},
    {503, "RW.5033", "cascade replay cache full; retry later"},
};
static_assert(std::size(kVerdicts) == static_cast<size_t>(Verdict::kCacheFull) + 1);

bool IsLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) {
    return false;
  }
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool IsInstance(std::string_view s) {
  if (s.empty() || s.size() > kMaxInstance) {
    return false;
  }
  for (const char c : s) {
    if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

// Decimal digits only, no sign; at most max_digits of them; leading zeros refused when
// `canonical` (a lone "0" is then the only form of zero).
bool ParseDecimal(std::string_view s, size_t max_digits, bool canonical, int64_t* out) {
  if (s.empty() || s.size() > max_digits || (canonical && s.size() > 1 && s[0] == '0')) {
    return false;
  }
  int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Writes v in decimal into buf (at least 20 bytes); returns the digits written.
std::string_view FormatDecimal(uint64_t v, char* buf) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) {
    buf[i] = tmp[n - 1 - i];
  }
  return {buf, n};
}

// The HMAC of the string to sign, as 64 lower-case hex digits in out. False when wolfSSL failed.
bool Sign(std::string_view key, const Fields& f, std::string_view method, std::string_view target,
          std::string_view host, char out[64]) {
  const std::string_view nl = "\n";
  const std::string_view parts[] = {kVersion, f.instance, nl,     f.time, nl,     f.nonce, nl,
                                    f.hop,    nl,         method, nl,     target, nl,      host};
  return auth::internal::HmacSha256HexParts(key, parts, std::size(parts), out);
}

}  // namespace

uint16_t status(Verdict v) { return kVerdicts[static_cast<size_t>(v)].status; }
std::string_view error_code(Verdict v) { return kVerdicts[static_cast<size_t>(v)].code; }
std::string_view error_message(Verdict v) { return kVerdicts[static_cast<size_t>(v)].message; }

bool any_present(const Fields& f) {
  return !f.instance.empty() || !f.time.empty() || !f.nonce.empty() || !f.hop.empty() ||
         !f.signature.empty();
}

size_t write_headers(std::string_view key, std::string_view instance, int64_t now_s,
                     const uint8_t nonce[16], uint32_t hop, std::string_view method,
                     std::string_view target, std::string_view host, char* out, size_t cap) {
  if (!IsInstance(instance) || hop < 1 || hop > kMaxHopField || now_s < 0) {
    return 0;
  }
  char time_buf[20], hop_buf[20], nonce_buf[32], signature[64];
  for (size_t i = 0; i < 16; ++i) {
    nonce_buf[2 * i] = kHexLower[nonce[i] >> 4];
    nonce_buf[2 * i + 1] = kHexLower[nonce[i] & 0xF];
  }
  const Fields f{instance,
                 FormatDecimal(static_cast<uint64_t>(now_s), time_buf),
                 std::string_view(nonce_buf, sizeof(nonce_buf)),
                 FormatDecimal(hop, hop_buf),
                 {}};
  if (!Sign(key, f, method, target, host, signature)) {
    return 0;
  }
  auth::internal::Writer w(out, cap);
  const std::string_view lines[][2] = {
      {"X-Ringway-Cascade-Instance: ", f.instance},
      {"X-Ringway-Cascade-Time: ", f.time},
      {"X-Ringway-Cascade-Nonce: ", f.nonce},
      {"X-Ringway-Cascade-Hop: ", f.hop},
      {"X-Ringway-Cascade-Signature: ", std::string_view(signature, sizeof(signature))},
  };
  for (const auto& [name, value] : lines) {
    w.put(name);
    w.put(value);
    w.put("\r\n");
  }
  return w.ok() ? w.view().size() : 0;
}

Verdict verify(const Fields& f, const std::string_view* keys, size_t nkeys,
               const std::string_view* allowed, size_t nallowed, int64_t now_s,
               std::string_view method, std::string_view target, std::string_view host,
               uint32_t* hop, int64_t* time) {
  int64_t t = 0, h = 0;
  if (!IsInstance(f.instance) || !ParseDecimal(f.time, kMaxTimeDigits, false, &t) ||
      !IsLowerHex(f.nonce, 32) || !ParseDecimal(f.hop, 2, true, &h) || h < 1 ||
      !IsLowerHex(f.signature, 64)) {
    return Verdict::kMalformed;
  }
  bool listed = false;
  for (size_t i = 0; i < nallowed; ++i) {
    listed = listed || allowed[i] == f.instance;
  }
  if (!listed) {
    return Verdict::kNotAllowed;
  }
  // t is 0..10^18-1, so neither difference can overflow on its side of the comparison.
  if (t < now_s ? now_s - t > kMaxSkewS : t > now_s + kMaxSkewS) {
    return Verdict::kStale;
  }
  // Both keys are always tried and the results combined without branching on the first.
  bool match = false;
  for (size_t i = 0; i < nkeys && i < 2; ++i) {
    char expected[64];
    const bool signed_ok = Sign(keys[i], f, method, target, host, expected);
    const bool equal = auth::internal::ConstantTimeEqual(f.signature, expected, 64);
    match = match || (signed_ok && equal);
  }
  if (!match) {
    return Verdict::kBadSignature;
  }
  if (h > static_cast<int64_t>(kMaxHops)) {
    return Verdict::kLoop;
  }
  *hop = static_cast<uint32_t>(h);
  *time = t;
  return Verdict::kOk;
}

}  // namespace ringway::cascade
