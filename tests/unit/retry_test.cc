// Unit tests for src/proxy/retry_policy.h: retry_count budgets and per-failure decisions.
#include <gtest/gtest.h>

#include "proxy/retry_policy.h"

namespace ringway::proxy {
namespace {

TEST(RetryBudget, SeedSemantics) {
  EXPECT_EQ(retry_budget(-1, "GET"), 1);
  EXPECT_EQ(retry_budget(-1, "PUT"), 1);
  EXPECT_EQ(retry_budget(-1, "DELETE"), 1);
  EXPECT_EQ(retry_budget(-1, "POST"), 0);  // default: never for POST or PATCH
  EXPECT_EQ(retry_budget(-1, "PATCH"), 0);
  EXPECT_EQ(retry_budget(0, "GET"), 0);
  EXPECT_EQ(retry_budget(3, "GET"), 3);
  EXPECT_EQ(retry_budget(3, "POST"), 3);  // explicit budget: still limited per failure below
}

RetryState state(int32_t left, bool post) {
  RetryState s;
  s.retries_left = left;
  s.post_like = post;
  return s;
}

TEST(DecideRetry, GetIsRetriedOnEveryTransportFailureWithinBudget) {
  for (Failure f : {Failure::kConnect, Failure::kLost, Failure::kTimeout}) {
    EXPECT_EQ(decide_retry(state(1, false), f), RetryKind::kNextMember);
    EXPECT_EQ(decide_retry(state(0, false), f), RetryKind::kNone);
  }
  EXPECT_EQ(decide_retry(state(5, false), Failure::kBadResponse), RetryKind::kNone);
}

TEST(DecideRetry, PostIsReplayedOnlyWhenItCannotHaveBeenProcessed) {
  EXPECT_EQ(decide_retry(state(2, true), Failure::kConnect), RetryKind::kNextMember);
  EXPECT_EQ(decide_retry(state(2, true), Failure::kLost), RetryKind::kNone);
  EXPECT_EQ(decide_retry(state(2, true), Failure::kTimeout), RetryKind::kNone);
  RetryState stale = state(0, true);
  stale.stale_pooled = true;
  EXPECT_EQ(decide_retry(stale, Failure::kLost), RetryKind::kFreshConnection);
  stale.fresh_used = true;  // once per request
  EXPECT_EQ(decide_retry(stale, Failure::kLost), RetryKind::kNone);
}

TEST(DecideRetry, StalePooledConnectionRetryCostsNoBudget) {
  RetryState s = state(0, false);
  s.stale_pooled = true;
  EXPECT_EQ(decide_retry(s, Failure::kLost), RetryKind::kFreshConnection);
  s.fresh_used = true;
  EXPECT_EQ(decide_retry(s, Failure::kLost), RetryKind::kNone);
  s.retries_left = 1;
  EXPECT_EQ(decide_retry(s, Failure::kLost), RetryKind::kNextMember);
}

TEST(DecideRetry, NeverAfterResponseBytesOrWhenTheBodyIsNoLongerHeld) {
  RetryState s = state(3, false);
  s.response_started = true;
  EXPECT_EQ(decide_retry(s, Failure::kLost), RetryKind::kNone);
  s = state(3, false);
  s.replayable = false;
  EXPECT_EQ(decide_retry(s, Failure::kConnect), RetryKind::kNone);
  s.stale_pooled = true;
  EXPECT_EQ(decide_retry(s, Failure::kLost), RetryKind::kNone);
}

}  // namespace
}  // namespace ringway::proxy
