// NonceCache (ringway/cascade.h): the node-wide, lock-free replay cache of the cascade channel.
//
// Slot layout (one atomic<uint64_t>):
//   bits 63..20  tag: 44 bits of a hash of the nonce, never 0
//   bits 19..0   expiry second mod 2^20
// 0 is a slot never written; nothing ever writes 0 again (a released entry becomes an expired
// one), so, as in linear probing without deletion, no entry of a window lies beyond a 0 slot
// and every scan stops at the first one. A slot is free when 0 or expired. Expiry is compared
// wrap-safely: an entry is live when its expiry lies 1..kLiveWindowS seconds after `now` (mod
// 2^20). No entry is stored further ahead than that, so a live entry is never taken for an
// expired one; an entry nobody reused for 2^20 s looks live again for kLiveWindowS seconds (a
// false kReplay would need its 44-bit tag too, so the cost is a probe slot).
// A window starts at a cache-line boundary (8 slots), so a short scan touches one line.
//
// insert() runs three passes over the nonce's probe window, all seq_cst:
//   1. scan: a live entry with the tag -> kReplay; note the first free slot;
//   2. claim: compare-exchange the entry into the first free slot from there on;
//   3. confirm: a concurrent insert of the same nonce may have claimed another slot (only
//      when a slot of the window expired between the two scans, since both claim the first
//      free one). Each claimant stores, then loads the window, so at least one sees the
//      other; whoever sees another live entry of its tag gives its slot back (marks it
//      expired) and answers kReplay. Hence at most one kFresh per nonce.
#include <algorithm>
#include <bit>
#include <cstring>

#include "ringway/cascade.h"

namespace ringway::cascade {
namespace {

constexpr uint32_t kExpiryBits = 20;
constexpr uint64_t kExpiryMask = (uint64_t{1} << kExpiryBits) - 1;
// The furthest ahead of `now` an entry's expiry may lie: a request time kMaxSkewS ahead plus
// the 2 * kMaxSkewS lifetime.
constexpr int64_t kLiveWindowS = 3 * kMaxSkewS;
constexpr int64_t kLifetimeS = 2 * kMaxSkewS;
constexpr size_t kLineSlots = 8;  // 64-byte cache line / 8-byte slot

uint64_t Mix(uint64_t x) {  // the splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Two independent 64-bit hashes of the nonce: one for the tag, one for the home slot.
void HashNonce(std::string_view s, uint64_t* tag_hash, uint64_t* index_hash) {
  uint64_t a = 0x9e3779b97f4a7c15ULL ^ s.size();
  uint64_t b = 0xc2b2ae3d27d4eb4fULL + s.size();
  for (size_t i = 0; i < s.size(); i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, std::min<size_t>(8, s.size() - i));
    a = Mix(a ^ w);
    b = Mix(b + w * 0xff51afd7ed558ccdULL);
  }
  *tag_hash = a;
  *index_hash = b;
}

uint64_t Tag(uint64_t slot) { return slot >> kExpiryBits; }

// Branch-free: the scans below test every slot of a window, live or not at random.
bool Live(uint64_t slot, int64_t now_s) {
  const uint64_t ahead = (slot - static_cast<uint64_t>(now_s)) & kExpiryMask;
  return (slot != 0) & (ahead - 1 < static_cast<uint64_t>(kLiveWindowS));  // ahead 1..window
}

// The probe window of one nonce: `size` slots from `home`, wrapping around the table.
struct Window {
  std::atomic<uint64_t>* table;
  size_t mask, home, size;
  std::atomic<uint64_t>& at(size_t i) const { return table[(home + i) & mask]; }
};

// Pass 2: claims the first free slot at or after `from`; returns its position, w.size when
// none is left, or w.size + 1 when a live entry of `entry`'s tag turned up (a replay).
size_t Claim(const Window& w, size_t from, uint64_t entry, int64_t now_s) {
  for (size_t i = from; i < w.size; ++i) {
    uint64_t v = w.at(i).load();
    while (!Live(v, now_s)) {  // free: 0 or expired
      if (w.at(i).compare_exchange_weak(v, entry)) {
        return i;
      }
    }
    if (Tag(v) == Tag(entry)) {
      return w.size + 1;
    }
  }
  return w.size;
}

}  // namespace

NonceCache::NonceCache(uint32_t slots_log2) {
  const uint32_t bits = std::clamp<uint32_t>(slots_log2, 1, 30);
  mask_ = (size_t{1} << bits) - 1;
  slots_ = std::make_unique<std::atomic<uint64_t>[]>(mask_ + 1);  // value-initialised: 0
}

NonceCache::Result NonceCache::insert(std::string_view nonce_hex, int64_t request_time_s,
                                      int64_t now_s) noexcept {
  const int64_t expiry = std::min(request_time_s + kLifetimeS, now_s + kLiveWindowS);
  if (expiry <= now_s) {
    return Result::kFresh;  // already expired: the skew check refuses it from now on
  }
  uint64_t tag_hash = 0, index_hash = 0;
  HashNonce(nonce_hex, &tag_hash, &index_hash);
  const uint64_t tag = std::max<uint64_t>(tag_hash >> kExpiryBits, 1);
  const uint64_t entry = (tag << kExpiryBits) | (static_cast<uint64_t>(expiry) & kExpiryMask);
  const size_t home = index_hash & mask_ & ~(kLineSlots - 1);
  const Window w{slots_.get(), mask_, home, std::min<size_t>(kProbe, mask_ + 1)};
  // Pass 1: scan.
  static_assert(kProbe <= 32, "free slots are a 32-bit mask");
  uint32_t free_slots = 0;
  bool seen = false;
  for (size_t i = 0; i < w.size; ++i) {
    const uint64_t v = w.at(i).load();
    const bool live = Live(v, now_s);
    seen |= live & (Tag(v) == tag);
    free_slots |= static_cast<uint32_t>(!live) << i;
    if (v == 0) {
      break;
    }
  }
  if (seen) {
    return Result::kReplay;
  }
  const size_t first_free =
      free_slots == 0 ? w.size : static_cast<size_t>(std::countr_zero(free_slots));
  // Pass 2: claim.
  const size_t mine = first_free == w.size ? w.size : Claim(w, first_free, entry, now_s);
  if (mine >= w.size) {
    return mine == w.size ? Result::kFull : Result::kReplay;
  }
  // Pass 3: confirm.
  for (size_t i = 0; i < w.size; ++i) {
    const uint64_t v = w.at(i).load();
    if (v == 0) {
      break;
    }
    if (i != mine && Live(v, now_s) && Tag(v) == tag) {
      uint64_t expected = entry;  // unless it expired and was reused meanwhile:
      w.at(mine).compare_exchange_strong(
          expected, (tag << kExpiryBits) | (static_cast<uint64_t>(now_s) & kExpiryMask));
      return Result::kReplay;
    }
  }
  return Result::kFresh;
}

}  // namespace ringway::cascade
