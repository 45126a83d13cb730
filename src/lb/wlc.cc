// wlc: the eligible member with the fewest active requests per unit of weight; members
// tied on that ratio share by smooth WRR. Active counts are the node-wide sums of the
// per-shard cells (relaxed loads: another shard's count may lag by its in-flight
// updates). Shard thread only. Bounded by members.size() * (shard count + 2).
#include "lb/lb_impl.h"

namespace ringway::lb::detail {

namespace {

// Node-wide counts of `members` into `active`, shard by shard (each shard's cells are
// contiguous). Bounded by members.size() * shard count.
void sum_active(const Tables& t, std::span<const uint32_t> members, uint32_t* active) noexcept {
  for (uint32_t m : members) {
    active[m] = 0;
  }
  for (uint32_t s = 0; s < t.shard_count; ++s) {
    for (uint32_t m : members) {
      active[m] += t.active.at(s, m).load(std::memory_order_relaxed);
    }
  }
}

}  // namespace

uint32_t wlc_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept {
  const Tables& t = ctx.t;
  uint32_t* active = ctx.active();
  sum_active(t, members, active);
  // The lowest active / weight among eligible members, compared as cross products.
  uint64_t best_active = 0;
  uint64_t best_weight = 0;
  for (uint32_t m : members) {
    if (!ctx.eligible(m)) {
      continue;
    }
    const uint64_t w = t.members[m].weight;
    if (best_weight == 0 || active[m] * best_weight < best_active * w) {
      best_active = active[m];
      best_weight = w;
    }
  }
  if (best_weight == 0) {
    return kNone;
  }
  // Smooth WRR among the eligible members at that ratio.
  return smooth_wrr(
      members, ctx.member_current(), [&t](uint32_t m) { return t.members[m].weight; },
      [&](uint32_t m) {
        return ctx.eligible(m) &&
               uint64_t{active[m]} * best_weight == best_active * t.members[m].weight;
      });
}

}  // namespace ringway::lb::detail
