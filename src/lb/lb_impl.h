// Private to src/lb: the balancer's tables, the view one pick works on, and the algorithms
// (one file each, same interface, as HAProxy's lb_*.c): wrr.cc, wlc.cc, sh.cc, uri_hash.cc.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/shard_cells.h"
#include "ringway/lb.h"

namespace ringway::lb::detail {

struct MemberInfo {
  uint64_t seed = 0;      // hash of the member's identity (host:port), for rendezvous
  double inv_weight = 0;  // 1 / weight
  uint32_t weight = 0;
  uint32_t group = 0;   // index into Tables::groups
  bool usable = false;  // enabled, weight > 0, group weight > 0
  bool is_backup = false;
};

struct GroupInfo {
  uint64_t seed = 0;  // hash of the group name, for rendezvous between groups
  double inv_weight = 0;
  uint32_t weight = 0;
  uint32_t first = 0;  // its members are Tables::order[first, first + count)
  uint32_t count = 0;
  bool uniform = true;  // all its usable members have one weight (rendezvous fast path)
};

// Everything build() computes. Immutable after build, except the count cells.
struct Tables {
  config::BalanceStrategy strategy = config::BalanceStrategy::kWrr;
  std::vector<MemberInfo> members;
  std::vector<GroupInfo> groups;
  std::vector<uint32_t> order;      // member indexes, grouped by group
  std::vector<uint32_t> group_ids;  // 0 .. groups.size() - 1
  bool groups_uniform = true;       // all groups have one weight
  bool has_standby = false;         // some usable member is a standby
  uint32_t shard_count = 1;
  core::ShardCells<uint32_t> active;  // WLC: (shard, member) -> requests in progress
};

// The inputs of one pick, on the stack of Balancer::pick. Shard thread only.
struct PickContext {
  const Tables& t;
  ShardState& state;
  const Health& health;
  const Tried& tried;
  uint64_t key;
  bool standby;  // the tier in use: standby members instead of primaries

  // A candidate of the tier in use, healthy and not tried for this request.
  bool eligible(uint32_t m) const noexcept {
    const MemberInfo& mi = t.members[m];
    return mi.usable && mi.is_backup == standby && health.healthy(m) && !tried.contains(m);
  }
  std::span<const uint32_t> members_of(uint32_t group) const noexcept {
    const GroupInfo& g = t.groups[group];
    return {t.order.data() + g.first, g.count};
  }
  int64_t* group_current() const noexcept { return state.group_current_.data(); }
  int64_t* member_current() const noexcept { return state.member_current_.data(); }
  uint32_t* active() const noexcept { return state.active_.data(); }
};

// The algorithms: one eligible member of `members` (one group's), or kNone if none is.
uint32_t wrr_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept;
uint32_t wlc_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept;
uint32_t sh_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept;
uint32_t uri_hash_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept;
// Weighted rendezvous over one group's members (sh and uri_hash differ only in the key).
uint32_t rendezvous_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept;

// splitmix64 finalizer: a bijection with full avalanche.
inline uint64_t mix(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Smooth weighted round robin (nginx): every item that `ok` accepts gains its weight, the
// largest current weight wins (first on ties) and loses the total. Weights 5:1:1 give
// a a b a c a a. `current` is indexed by item. Bounded by items.size().
template <class WeightOf, class Ok>
uint32_t smooth_wrr(std::span<const uint32_t> items, int64_t* current, WeightOf weight_of,
                    Ok ok) noexcept {
  int64_t total = 0;
  uint32_t best = kNone;
  for (uint32_t i : items) {
    if (!ok(i)) {
      continue;
    }
    const int64_t w = weight_of(i);
    current[i] += w;
    total += w;
    if (best == kNone || current[i] > current[best]) {
      best = i;
    }
  }
  if (best != kNone) {
    current[best] -= total;
  }
  return best;
}

// Weighted rendezvous hashing: the accepted item with the smallest -ln(u) / weight, u in
// (0, 1) drawn from hash(key, seed). Each item wins in proportion to its weight; dropping
// an item moves only the keys it won. With one weight for all, the largest u wins (same
// order, no logarithm). Bounded by items.size().
template <class SeedOf, class InvWeightOf, class Ok>
uint32_t rendezvous(std::span<const uint32_t> items, uint64_t key, bool uniform, SeedOf seed_of,
                    InvWeightOf inv_weight_of, Ok ok) noexcept {
  uint32_t best = kNone;
  double best_cost = 0;
  for (uint32_t i : items) {
    if (!ok(i)) {
      continue;
    }
    const uint64_t u53 = mix(key ^ seed_of(i)) >> 11;
    const double cost =
        uniform ? -static_cast<double>(u53)
                : -std::log((static_cast<double>(u53) + 0.5) * 0x1p-53) * inv_weight_of(i);
    if (best == kNone || cost < best_cost) {
      best = i;
      best_cost = cost;
    }
  }
  return best;
}

}  // namespace ringway::lb::detail
