// The cascade channel (issue 14): a cascading ringway instance signs each request it sends to
// an API of a cascaded instance with headers of its own, so that cascading never touches the
// API's own authentication. Protocol (docs/cascade.md):
//
//   X-Ringway-Cascade-Instance: <instance id>        X-Ringway-Cascade-Time: <unix seconds>
//   X-Ringway-Cascade-Nonce: <32 lower-case hex>      X-Ringway-Cascade-Hop: <1..99>
//   X-Ringway-Cascade-Signature: <64 lower-case hex HMAC-SHA256(key, string to sign)>
//
//   string to sign = "RINGWAY-CASCADE-V1\n" instance "\n" time "\n" nonce "\n" hop "\n"
//                    method "\n" target "\n" host
//   (target = path?query exactly as on the wire; host = the Host header value sent).
//
// Header names are sent as above and matched case-insensitively on receipt (lookups use the
// lower-case forms, kHeaderPrefix + "instance" etc.).
//
// Thread affinity: any thread. write_headers(), verify() and NonceCache::insert() do not
// allocate. Nothing here logs, and no function returns or copies a key or a signature
// anywhere but into the header lines write_headers() is asked for.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace ringway::cascade {

inline constexpr std::string_view kHeaderPrefix = "x-ringway-cascade-";
inline constexpr uint32_t kMaxHops = 3;  // a request arriving with hop > 3: 508 (a loop)
inline constexpr int64_t kMaxSkewS = 300;

// Writes the five header lines (each "Name: value\r\n", in the order above) for a request
// `method target` to `host`, signed with `key`, into out[0..cap); returns the bytes written.
// Returns 0 (and out[0..cap) is unspecified) when they do not fit, when `instance` is empty,
// longer than 64 bytes or not visible ASCII, when `hop` is not 1..99 or `now_s` is negative,
// or when the HMAC failed. `nonce`: 16 random bytes, fresh for every request (and every
// attempt of it), sent as 32 lower-case hex digits. No allocation.
size_t write_headers(std::string_view key, std::string_view instance, int64_t now_s,
                     const uint8_t nonce[16], uint32_t hop, std::string_view method,
                     std::string_view target, std::string_view host, char* out, size_t cap);

// The received header values (empty: absent); views into the request head.
struct Fields {
  std::string_view instance, time, nonce, hop, signature;
};
// True when any of the five headers was received (a request the cascade checks must see).
bool any_present(const Fields& f);

enum class Verdict : uint8_t {
  kOk,
  kDisabled,
  kNotAllowed,
  kMalformed,
  kStale,
  kBadSignature,
  kReplay,
  kLoop,
  kCacheFull
};

// The HTTP status, error code and message of each verdict (kOk: 200 and empty strings):
//   kDisabled      403 RW.4031  cascade is not enabled on this instance
//   kNotAllowed    403 RW.4032  instance not allowed to cascade here
//   kMalformed     401 RW.4016  missing or malformed cascade header
//   kStale         401 RW.4017  cascade timestamp outside the allowed skew
//   kBadSignature  401 RW.4018  cascade signature mismatch
//   kReplay        401 RW.4019  cascade nonce already used
//   kLoop          508 RW.5081  cascade hop limit exceeded (a loop?)
//   kCacheFull     503 RW.5033  cascade replay cache full; retry later
uint16_t status(Verdict v);
std::string_view error_code(Verdict v);
std::string_view error_message(Verdict v);

// Checks `f` for a request `method target` with Host `host`, in this order:
//   - every field present and well formed: instance 1..64 visible ASCII bytes, time 1..18
//     decimal digits, nonce 32 lower-case hex, hop 1..99 (decimal, no leading zero),
//     signature 64 lower-case hex -> else kMalformed;
//   - instance is one of allowed[0..nallowed) (exact bytes) -> else kNotAllowed;
//   - |now_s - time| <= kMaxSkewS -> else kStale;
//   - the signature is the HMAC with keys[0] or keys[1] (only the first two of nkeys are used;
//     nkeys 0: kBadSignature); compared in constant time, both HMACs always computed when two
//     keys are given, so timing does not tell which key matched -> else kBadSignature;
//   - hop <= kMaxHops -> else kLoop (after the signature: only a signed request earns a 508).
// On kOk sets *hop and *time. kDisabled and kReplay are the caller's: it checks whether its
// cascade is enabled first, and inserts the nonce into its NonceCache after kOk. No
// allocation.
Verdict verify(const Fields& f, const std::string_view* keys, size_t nkeys,
               const std::string_view* allowed, size_t nallowed, int64_t now_s,
               std::string_view method, std::string_view target, std::string_view host,
               uint32_t* hop, int64_t* time);

// Node-wide replay cache, one shared by all shards: a fixed-size open-addressing table of
// atomic 64-bit slots, each holding a 44-bit hash of a nonce and its 20-bit expiry second
// (mod 2^20, compared wrap-safely). Insertion is lock-free: compare-exchange into the first
// free or expired slot of a bounded probe window (kProbe slots, the whole table when it is
// smaller); a full window is kFull, never an eviction of a live entry. An entry expires at
// its request time + 2 * kMaxSkewS; after that the time check refuses the nonce anyway.
// Memory: 8 bytes x 2^slots_log2, allocated once by the constructor.
//
// Thread affinity: insert() from any thread, concurrently. For one nonce inserted by several
// threads at once, at most one gets kFresh (exactly one while no entry of its probe window
// expires meanwhile; at such a second boundary all of them may get kReplay). Two distinct
// nonces collide (a false kReplay) only if their 44-bit hashes and probe windows coincide.
// An entry left untouched for ~12 days (2^20 s) may look live again for up to 15 minutes:
// the cost is a probe slot, not a refusal (see kLiveWindowS in nonce_cache.cc).
class NonceCache {
 public:
  static constexpr uint32_t kProbe = 32;

  // slots_log2 is clamped to 1..30.
  explicit NonceCache(uint32_t slots_log2 = 21);
  NonceCache(const NonceCache&) = delete;
  NonceCache& operator=(const NonceCache&) = delete;

  enum class Result : uint8_t { kFresh, kReplay, kFull };
  // Records `nonce_hex` (any bytes; the verified nonce in practice) as seen at `now_s` for a
  // request stamped `request_time_s` (which passed verify()'s skew check). kReplay: a live
  // entry for it exists. A nonce whose expiry has already passed is not stored (kFresh).
  Result insert(std::string_view nonce_hex, int64_t request_time_s, int64_t now_s) noexcept;

  size_t slots() const { return mask_ + 1; }

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  size_t mask_;
};

}  // namespace ringway::cascade
