// Unit tests for src/proxy/wait_batch.h: how many completions a shard's wait asks for, and how
// long a completion that arrives alone may wait for company.
#include <gtest/gtest.h>

#include "proxy/wait_batch.h"

namespace ringway::proxy {
namespace {

TEST(PlanWait, FewExchangesWaitForOneCompletion) {
  for (unsigned reaped : {0u, 1u, 2u, 10u, 100u}) {
    for (uint64_t exchanges : {0u, 1u, 2u, 4u, 7u}) {
      WaitPlan p = plan_wait(reaped, false, exchanges);
      EXPECT_EQ(p.batch, 1u) << reaped << " " << exchanges;
      EXPECT_EQ(p.min_wait_us, 0u) << reaped << " " << exchanges;
    }
  }
}

TEST(PlanWait, BusyWaitsForWhatTheLastTurnHandledAtMostAQuarterOfTheExchanges) {
  EXPECT_EQ(plan_wait(8, false, 64).batch, 8u);
  EXPECT_EQ(plan_wait(8, false, 64).min_wait_us, kBusyBatchWaitUs);
  EXPECT_EQ(plan_wait(40, false, 20).batch, 5u);  // 20 exchanges: 5 completions at most
  EXPECT_EQ(plan_wait(2, false, 8).batch, 2u);
  EXPECT_EQ(plan_wait(1, false, 64).batch, 1u);  // a quiet last turn: no waiting
  EXPECT_EQ(plan_wait(1, false, 64).min_wait_us, 0u);
  EXPECT_EQ(plan_wait(500, false, 5000).batch, kMaxWaitBatch);
}

TEST(PlanWait, AfterAcceptsAsManyAsTheTurnHandledBriefly) {
  WaitPlan p = plan_wait(7, true, 0);
  EXPECT_EQ(p.batch, 7u);
  EXPECT_EQ(p.min_wait_us, kAcceptBatchWaitUs);
  EXPECT_EQ(plan_wait(0, true, 0).batch, 1u);
  EXPECT_EQ(plan_wait(100, true, 0).batch, kMaxWaitBatch);
}

TEST(PlanWait, TheWindowStaysFarUnderABackendsTime) {
  // What a completion that arrives alone can be delayed by.
  static_assert(kBusyBatchWaitUs <= 200 && kAcceptBatchWaitUs <= kBusyBatchWaitUs);
  static_assert(plan_wait(32, false, 128).batch == 32);
}

}  // namespace
}  // namespace ringway::proxy
