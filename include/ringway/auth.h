// App authentication (issue 14, auth_type "app"): the seed product's SDK-HMAC-SHA256
// signature, verified exactly as its client SDKs sign (reference: npm
// @huaweicloud/huaweicloud-sdk-core 3.1.211, auth/AKSKSigner.js, sent through its HcClient).
//
// Canonical request = method \n canonical URI \n canonical query \n canonical headers \n
// signed header names \n payload hash; string to sign = "SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex
// sha256(canonical request)>"; signature = hex HMAC-SHA256(app secret, string to sign).
// The canonical forms are computed from the request target as it arrives on the wire:
//   - URI: every byte but '/' percent-encoded (A-Za-z0-9-_.~ kept, %XX upper case) and a
//     trailing '/' added — except that a received %XX escape of a byte >= 0x80 is kept as
//     %XX. This is what the SDK signs: it encodes the path before the HTTP client escapes
//     non-ASCII characters, but after Node's url.parse escaped space, ", ', <, >, \, ^, `, {,
//     |, }; so a received "%20" was signed as "%2520" and a received "%C3%A9" as "%C3%A9";
//   - query: split on '&' (empty pieces skipped), each key and value ('=' absent: empty value)
//     decoded ('+' is a space, %XX a byte), pairs sorted by decoded key then value (bytes),
//     re-encoded as above, "k=v" joined by '&';
//   - headers: "name:value\n" for each name of SignedHeaders, in its order, the value being
//     the first received value of that header (as the HTTP parser trimmed it).
// Thread affinity: any thread. verify() and everything it calls do not allocate; sign() may.
// Nothing here logs or copies secrets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringway::auth {

enum class AuthError : uint8_t {
  kNone,
  kMissing,
  kMalformed,
  kUnknownKey,
  kBadSignature,
  kStaleDate
};

// The 401 error code and message of each: RW.4011 missing Authorization, RW.4012 malformed
// Authorization / SignedHeaders without host or x-sdk-date / missing or bad X-Sdk-Date,
// RW.4013 unknown app key, RW.4014 signature mismatch, RW.4015 X-Sdk-Date more than the
// allowed skew (15 minutes) from the gateway clock. kNone: empty strings.
std::string_view error_code(AuthError e);
std::string_view error_message(AuthError e);

// The fields of an Authorization header; views into the parsed value.
struct Authorization {
  std::string_view access, signed_headers /* "a;b;c" */, signature /* hex */;
};

// "SDK-HMAC-SHA256 Access=K, SignedHeaders=a;b, Signature=hex": the scheme, one or more
// spaces, then the three fields (each exactly once, non-empty, in any order) separated by ','
// with optional spaces. False (and *out unspecified) when malformed.
bool parse_authorization(std::string_view value, Authorization* out);

// "YYYYMMDDTHHMMSSZ" (a valid UTC calendar date and time) -> seconds since the epoch; false
// when malformed.
bool parse_sdk_date(std::string_view s, int64_t* unix_s);

// The request as the verifier sees it: the raw target pieces as received and a header lookup
// (first value of a header by lower-case name, empty when absent).
struct RequestView {
  std::string_view method, path /* raw, percent-encoded as received, no query */,
      query /* raw, no '?' */;
  const void* ctx = nullptr;
  std::string_view (*header)(const void* ctx, std::string_view lower_name) = nullptr;
};

// Incremental SHA-256, for a body hashed as it arrives. No allocation.
class Sha256 {
 public:
  Sha256() { reset(); }
  // Starts a new digest (hex() leaves the object ready for reuse too).
  void reset();
  void update(const void* p, size_t n);
  // Writes the 32-byte digest and starts a new one.
  void digest(unsigned char out[32]);
  // Writes the 64 lower-case hex digits of the digest (no NUL) and starts a new one.
  void hex(char out[64]);

 private:
  uint32_t h_[8];
  uint64_t total_ = 0;          // bytes hashed so far
  uint32_t used_ = 0;           // bytes waiting in buf_
  unsigned char buf_[64] = {};  // a partial block
};

// The most query parameters a signed request may have: verify() refuses more as malformed
// (RW.4012), so `ringway sign` refuses to sign such a URL.
inline constexpr size_t kMaxQueryParams = 64;
// The payload hash that disables body verification (sent as X-Sdk-Content-Sha256).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// Hex SHA-256 of the empty body.
inline constexpr std::string_view kEmptyBodySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Verifies `a` for request `r` signed with `secret`, in this order: SignedHeaders names are
// lower case and include host and x-sdk-date, X-Sdk-Date is present and well formed
// (kMalformed otherwise); it is within `max_skew_s` of `now_unix_s`, both ways (kStaleDate);
// the canonical request fits `scratch` (kMalformed otherwise; at most 64 query parameters);
// the HMAC matches, compared in constant time (kBadSignature).
// `payload_hash`: the X-Sdk-Content-Sha256 header's value when present (the caller then
// checks a hex value against the body itself, unless it is kUnsignedPayload), else the hex
// SHA-256 of the body. kUnknownKey is the caller's (no secret for a.access). No allocation.
AuthError verify(const RequestView& r, const Authorization& a, std::string_view secret,
                 std::string_view payload_hash, int64_t now_unix_s, char* scratch,
                 size_t scratch_len, int64_t max_skew_s = 900);

// verify() split at the payload hash, for a signed body held until it is whole: begin() runs
// every check verify() runs before the HMAC and hashes the canonical request up to its payload
// hash, keeping what finish() needs (the date, the claimed signature), so the request head
// may be gone when the body has arrived; finish() completes with the body's hash. No
// allocation; reusable (begin() again).
class PendingVerify {
 public:
  AuthError begin(const RequestView& r, const Authorization& a, int64_t now_unix_s, char* scratch,
                  size_t scratch_len, int64_t max_skew_s = 900);
  // After a begin() that returned kNone.
  AuthError finish(std::string_view secret, std::string_view payload_hash);

 private:
  Sha256 canonical_;
  char date_[16] = {};
  char signature_[64] = {};
  bool signature_ok_ = false;  // the claimed signature had 64 characters
};

// Signer (for `ringway sign`, tests and benchmarks; may allocate).
struct SignInput {
  std::string method, url /* http://host[:port]/path?query */;
  std::vector<std::pair<std::string, std::string>> headers;  // signed too
  std::string body;
  std::string app_key, app_secret;
  int64_t now_unix_s = 0;         // X-Sdk-Date, unless `headers` has one
  bool unsigned_payload = false;  // sign and send X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD
};
// The headers to add to the request: "X-Sdk-Date", "X-Sdk-Content-Sha256" (unsigned_payload
// only) and "Authorization", signing host (the URL's authority, unless `headers` has a host),
// x-sdk-date and every header given. Computed as AKSKSigner does for the same request sent
// through the SDK: the query is parsed like url.parse(url, true), the path escaped like
// url.parse then canonicalised as verify() does, the body hashed as sent.
std::vector<std::pair<std::string, std::string>> sign(const SignInput& in);

}  // namespace ringway::auth
