// The control loop's pure parts (src/control/loop_ops.h): its user_data codec, which must
// leave the health checker's encoding intact, and when it wakes up.
#include <gtest/gtest.h>

#include "control/loop_ops.h"
#include "ringway/health.h"

namespace ringway::control {
namespace {

TEST(LoopOps, CodecRoundTripsOpAndPayload) {
  constexpr uint64_t payload = 0x00ab'cdef'0123'4567;
  for (Op op : {Op::kIgnore, Op::kSignal, Op::kShardExit, Op::kHealth, Op::kAdminAccept}) {
    const uint64_t ud = encode(op, payload);
    EXPECT_EQ(op_of(ud), op);
    EXPECT_EQ(payload_of(ud), payload);
  }
  EXPECT_EQ(encode(Op::kSignal), encode(Op::kSignal, 0));
  // A payload never reaches the op byte.
  EXPECT_EQ(op_of(encode(Op::kSignal, ~uint64_t{0})), Op::kSignal);
}

// The checker is handed encode(Op::kHealth) as its tag: only top-byte bits, so every
// user_data it makes (tag | address | low bit) decodes as kHealth and keeps its payload.
TEST(LoopOps, HealthTagIsATopByteTagForTheChecker) {
  const uint64_t tag = encode(Op::kHealth);
  EXPECT_EQ(tag & ~health::Checker::kTagMask, 0u);
  const uint64_t checker_ud = tag | 0x0000'7fff'1234'5671;  // a slot address, kAux bit
  EXPECT_EQ(op_of(checker_ud), Op::kHealth);
  EXPECT_EQ(payload_of(checker_ud), 0x0000'7fff'1234'5671u);
  EXPECT_NE(op_of(encode(Op::kSignal)), Op::kHealth);
}

TEST(LoopOps, WaitIsUntilTheEarliestDeadline) {
  EXPECT_EQ(wait_ms(1000, {}), kNever);
  EXPECT_EQ(wait_ms(1000, {kNever, kNever}), kNever);  // nothing due: completions only
  EXPECT_EQ(wait_ms(1000, {1250, kNever, 1100}), 100u);
  EXPECT_EQ(wait_ms(1000, {1000}), 0u);
  EXPECT_EQ(wait_ms(1000, {900, 5000}), 0u);  // already passed
}

TEST(LoopOps, ReclaimRetriesOnlyWhileSnapshotsWait) {
  EXPECT_EQ(next_reclaim(5000, 0), kNever);  // idle: no timer at all
  EXPECT_EQ(next_reclaim(5000, 2), 5000 + kReclaimRetryMs);
  EXPECT_LE(kReclaimRetryMs, 100u);  // as often as the loop reclaimed before
}

}  // namespace
}  // namespace ringway::control
