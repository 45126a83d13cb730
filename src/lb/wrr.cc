// wrr: smooth weighted round robin inside a group (nginx). Per shard, so each shard alone
// follows the exact sequence (5:1:1 gives a a b a c a a). Shard thread only.
#include "lb/lb_impl.h"

namespace ringway::lb::detail {

uint32_t wrr_pick(const PickContext& ctx, std::span<const uint32_t> members) noexcept {
  return smooth_wrr(
      members, ctx.member_current(), [&ctx](uint32_t m) { return ctx.t.members[m].weight; },
      [&ctx](uint32_t m) { return ctx.eligible(m); });
}

}  // namespace ringway::lb::detail
