// Hashing shared by sh and uri_hash: the byte hash behind the keys and the weighted
// rendezvous choice of a member. Pure functions; any thread.
#include <cstring>

#include "lb/lb_impl.h"

namespace ringway::lb {

uint64_t hash_bytes(std::string_view bytes) noexcept {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t h = kMul ^ bytes.size();
  const char* p = bytes.data();
  size_t n = bytes.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const unsigned __int128 m = static_cast<unsigned __int128>(h ^ w) * kMul;
    h = static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return detail::mix(h ^ tail ^ (uint64_t{n} << 59));
}

namespace detail {

uint32_t rendezvous_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept {
  const Tables& t = ctx.t;
  // The members of a group share one `uniform` flag; a pick only ever ranks one group.
  const bool uniform = members.empty() || t.groups[t.members[members[0]].group].uniform;
  return rendezvous(
      members, ctx.key, uniform, [&t](uint32_t m) { return t.members[m].seed; },
      [&t](uint32_t m) { return t.members[m].inv_weight; },
      [&ctx](uint32_t m) { return ctx.eligible(m); });
}

}  // namespace detail
}  // namespace ringway::lb
