// Unit tests for src/breaker: counter and percentage triggers with time as a parameter
// (no sleeps), the open period, late outcomes, node-wide sums over shards; and the
// unhealthy_condition expressions.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "breaker/condition.h"
#include "ringway/breaker.h"

namespace ringway::breaker {
namespace {

constexpr uint64_t kT0 = 1'000'000;  // a steady-clock reading, ms

Trigger Counter(uint32_t threshold, uint32_t window_s, uint32_t open_s) {
  Trigger t;
  t.mode = Mode::kCounter;
  t.unhealthy_threshold = threshold;
  t.time_window_s = window_s;
  t.open_s = open_s;
  return t;
}

Trigger Percentage(uint32_t pct, uint32_t min_calls, uint32_t window_s, uint32_t open_s) {
  Trigger t;
  t.mode = Mode::kPercentage;
  t.unhealthy_percentage = pct;
  t.min_calls = min_calls;
  t.time_window_s = window_s;
  t.open_s = open_s;
  return t;
}

// Records one outcome taken and finished at `now`.
Opened Outcome(Breaker& b, uint64_t now, bool unhealthy, uint32_t shard = 0) {
  return b.record(shard, now, unhealthy, b.token());
}

TEST(BreakerCounter, OpensAtTheThresholdAndClosesAfterTheControlDuration) {
  Breaker b(Counter(3, 10, 15), 1);
  EXPECT_FALSE(Outcome(b, kT0, true).opened);
  EXPECT_FALSE(Outcome(b, kT0 + 100, false).opened);  // healthy outcomes do not count
  EXPECT_FALSE(Outcome(b, kT0 + 1000, true).opened);
  EXPECT_EQ(b.counts(kT0 + 1000).unhealthy, 2u);
  Opened o = Outcome(b, kT0 + 2000, true);
  ASSERT_TRUE(o.opened);
  EXPECT_EQ(o.until_ms, kT0 + 2000 + 15000);
  EXPECT_EQ(o.counts.unhealthy, 3u);
  EXPECT_TRUE(b.is_open(0, kT0 + 2000));
  EXPECT_TRUE(b.is_open(0, kT0 + 16999));
  EXPECT_FALSE(Outcome(b, kT0 + 3000, true).opened);  // while open: not counted
  EXPECT_FALSE(b.is_open(0, kT0 + 17000));
  // Closed with the counts reset: the three before the opening no longer count.
  EXPECT_EQ(b.counts(kT0 + 17000).unhealthy, 0u);
  EXPECT_FALSE(Outcome(b, kT0 + 17000, true).opened);
  EXPECT_FALSE(Outcome(b, kT0 + 17100, true).opened);
  EXPECT_TRUE(Outcome(b, kT0 + 17200, true).opened);
}

TEST(BreakerCounter, ExactlyOneCallerReportsEachClosing) {
  Breaker b(Counter(1, 10, 2), 2);
  EXPECT_FALSE(b.take_closed(kT0));  // never opened
  ASSERT_TRUE(Outcome(b, kT0, true).opened);
  EXPECT_FALSE(b.take_closed(kT0 + 1999));  // still open
  EXPECT_TRUE(b.take_closed(kT0 + 2000));
  EXPECT_FALSE(b.take_closed(kT0 + 2001));  // reported already (by any shard)
  ASSERT_TRUE(Outcome(b, kT0 + 3000, true, 1).opened);
  EXPECT_TRUE(b.take_closed(kT0 + 5000));  // the next opening's end is reported again
}

TEST(BreakerCounter, OpeningsAreCountedOnceWithTheirCounts) {
  Breaker b(Counter(2, 10, 5), 2);
  EXPECT_EQ(b.openings(), 0u);
  EXPECT_EQ(b.last_opened_ms(), 0u);
  b.record(0, kT0, true, b.token());
  EXPECT_TRUE(b.record(1, kT0 + 10, true, b.token()).opened);
  EXPECT_EQ(b.openings(), 1u);
  EXPECT_EQ(b.last_opened_ms(), kT0 + 10);
  EXPECT_EQ(b.last_opened_counts().unhealthy, 2u);
  // Both shards trip it again at once after it closed: one opening.
  const uint64_t t1 = kT0 + 6000;
  ASSERT_FALSE(b.is_open(0, t1));
  b.record(0, t1, true, b.token());
  b.record(1, t1, true, b.token());
  b.record(0, t1 + 1, true, b.token());
  EXPECT_EQ(b.openings(), 2u);
  EXPECT_EQ(b.last_opened_ms(), t1);
}

// Shards racing to publish the same opening: exactly one counts it.
TEST(BreakerCounter, ConcurrentTripsCountOneOpening) {
  for (int round = 0; round < 50; ++round) {
    Breaker b(Counter(1, 10, 5), 4);
    std::vector<std::thread> threads;
    const uint64_t token = b.token();
    for (uint32_t s = 0; s < 4; ++s) {
      threads.emplace_back([&b, s, token] { b.record(s, kT0, true, token); });
    }
    for (auto& t : threads) {
      t.join();
    }
    ASSERT_EQ(b.openings(), 1u) << round;
  }
}

TEST(BreakerCounter, WindowSlidesByTheSecond) {
  Breaker b(Counter(3, 10, 5), 1);
  Outcome(b, kT0, true);         // second 1000
  Outcome(b, kT0 + 1500, true);  // second 1001
  // At second 1010 the window is seconds 1001..1010: the first outcome left it.
  EXPECT_FALSE(Outcome(b, kT0 + 10'000, true).opened);
  EXPECT_EQ(b.counts(kT0 + 10'000).unhealthy, 2u);
  EXPECT_TRUE(Outcome(b, kT0 + 10'999, true).opened);
}

TEST(BreakerCounter, LateOutcomeFromBeforeAnOpeningIsDropped) {
  Breaker b(Counter(2, 10, 1), 1);
  uint64_t early = b.token();  // a request starts before the breaker opens ...
  Outcome(b, kT0, true);
  ASSERT_TRUE(Outcome(b, kT0 + 1, true).opened);
  // ... and ends after it closed: its outcome belongs to the old state.
  EXPECT_FALSE(b.record(0, kT0 + 5000, true, early).opened);
  EXPECT_EQ(b.counts(kT0 + 5000).unhealthy, 0u);
  EXPECT_FALSE(Outcome(b, kT0 + 5001, true).opened);
  EXPECT_TRUE(Outcome(b, kT0 + 5002, true).opened);
}

TEST(BreakerCounter, TripsOnTheSumOverShards) {
  Breaker b(Counter(4, 10, 5), 3);
  EXPECT_FALSE(Outcome(b, kT0, true, 0).opened);
  EXPECT_FALSE(Outcome(b, kT0 + 1, true, 1).opened);
  EXPECT_FALSE(Outcome(b, kT0 + 2, true, 2).opened);
  EXPECT_EQ(b.counts(kT0 + 2).unhealthy, 3u);
  EXPECT_TRUE(Outcome(b, kT0 + 3, true, 1).opened);
  EXPECT_TRUE(b.is_open(2, kT0 + 4));  // every shard sees it
}

// Several threads, each writing only its own shard's cells, as shards do: the node-wide
// count reaches the threshold and the breaker opens.
TEST(BreakerCounter, ConcurrentShardsTripTogether) {
  constexpr uint32_t kShards = 4;
  constexpr int kEach = 250;
  Breaker b(Counter(kShards * kEach, 60, 30), kShards);
  std::vector<std::thread> threads;
  std::vector<int> opened(kShards, 0);
  for (uint32_t s = 0; s < kShards; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) {
        opened[s] += Outcome(b, kT0 + static_cast<uint64_t>(i), true, s).opened ? 1 : 0;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_TRUE(b.is_open(0, kT0 + kEach));
  int total = 0;
  for (int n : opened) {
    total += n;
  }
  EXPECT_GE(total, 1);
}

TEST(BreakerPercentage, EvaluatedAtTheEndOfTheWindow) {
  Breaker b(Percentage(50, 4, 10, 15), 1);
  // The first outcome anchors the window: [kT0 + 5000, kT0 + 15000).
  const uint64_t start = kT0 + 5000;
  Outcome(b, start, true);
  Outcome(b, start + 1000, true);
  Outcome(b, start + 2000, false);
  Outcome(b, start + 9999, false);
  EXPECT_FALSE(b.is_open(0, start + 9999));  // 50% of 4, but the window has not ended
  EXPECT_EQ(b.counts(start + 9999).calls, 4u);
  Opened o;
  EXPECT_TRUE(b.is_open(0, start + 10'000, &o));
  ASSERT_TRUE(o.opened);
  EXPECT_EQ(o.until_ms, start + 10'000 + 15'000);
  EXPECT_EQ(o.counts.calls, 4u);
  EXPECT_EQ(o.counts.unhealthy, 2u);
  EXPECT_FALSE(b.is_open(0, start + 25'000));
}

TEST(BreakerPercentage, BelowMinCallsOrShareStaysClosed) {
  Breaker few(Percentage(50, 4, 10, 15), 1);
  for (int i = 0; i < 3; ++i) {
    Outcome(few, kT0 + static_cast<uint64_t>(i), true);  // 100%, but 3 calls
  }
  EXPECT_FALSE(few.is_open(0, kT0 + 10'000));
  Breaker share(Percentage(51, 4, 10, 15), 1);
  Outcome(share, kT0, true);
  Outcome(share, kT0 + 1, true);
  Outcome(share, kT0 + 2, false);
  Outcome(share, kT0 + 3, false);  // 50% < 51%
  EXPECT_FALSE(share.is_open(0, kT0 + 10'000));
}

TEST(BreakerPercentage, EachWindowStandsAlone) {
  Breaker b(Percentage(50, 2, 10, 5), 1);
  Outcome(b, kT0, true);           // window 0: 1 call (below min_calls)
  Outcome(b, kT0 + 10'000, true);  // window 1: evaluates window 0 (closed) first
  EXPECT_FALSE(b.is_open(0, kT0 + 10'001));
  Outcome(b, kT0 + 12'000, true);  // window 1: 2 of 2
  EXPECT_FALSE(b.is_open(0, kT0 + 19'999));
  EXPECT_TRUE(b.is_open(0, kT0 + 20'000));
  // After the close the windows start again at the first outcome.
  EXPECT_FALSE(b.is_open(0, kT0 + 25'000));
  Outcome(b, kT0 + 31'000, true);
  Outcome(b, kT0 + 31'500, true);
  EXPECT_FALSE(b.is_open(0, kT0 + 40'999));
  EXPECT_TRUE(b.is_open(0, kT0 + 41'000));
}

TEST(BreakerPercentage, SumsTheShardsOfTheWindow) {
  Breaker b(Percentage(75, 4, 10, 5), 2);
  Outcome(b, kT0, true, 0);
  Outcome(b, kT0 + 1, true, 1);
  Outcome(b, kT0 + 2, true, 1);
  Outcome(b, kT0 + 3, false, 0);  // 3 of 4 node-wide
  Opened o;
  EXPECT_TRUE(b.is_open(1, kT0 + 10'000, &o));
  EXPECT_TRUE(o.opened);
  EXPECT_TRUE(b.is_open(0, kT0 + 10'001));  // the other shard sees the same state
}

TEST(BreakerPercentage, LateVerdictStillOpensForTheRestOfTheControlDuration) {
  Breaker b(Percentage(50, 1, 1, 60), 1);
  Outcome(b, kT0, true);
  // Nobody looked for 30 s: the window's verdict (open until its end + 60 s) still holds.
  EXPECT_TRUE(b.is_open(0, kT0 + 30'000));
  EXPECT_EQ(b.open_until(), kT0 + 1000 + 60'000);
}

Condition Compiled(std::string_view json) {
  std::string error;
  std::optional<Condition> c = Condition::compile(json, &error);
  EXPECT_TRUE(c.has_value()) << json << ": " << error;
  return c ? std::move(*c) : *Condition::compile(R"(["$context.statusCode", "==", 0])", &error);
}

std::string CompileError(std::string_view json) {
  std::string error;
  EXPECT_FALSE(Condition::compile(json, &error).has_value()) << json;
  return error;
}

TEST(BreakerCondition, ConfigExampleStatusListOrLatency) {
  Condition c = Compiled(
      R"(["OR",["$context.statusCode","in","500,501,504"],["$context.backendResponseTime",">",6000]])");
  EXPECT_TRUE(c.holds({500, 10}));
  EXPECT_TRUE(c.holds({504, 10}));
  EXPECT_FALSE(c.holds({502, 10}));
  EXPECT_FALSE(c.holds({200, 6000}));
  EXPECT_TRUE(c.holds({200, 6001}));
}

TEST(BreakerCondition, NestingComparisonsAndTheStringForm) {
  // As a string holding the array (the seed UI's form), with numbers as strings.
  Condition c = Compiled(
      R"("[\"AND\",[\"$context.statusCode\",\">=\",\"500\"],[\"OR\",[\"$context.backendResponseTime\",\">\",100],[\"$context.statusCode\",\"==\",503]]]")");
  EXPECT_TRUE(c.holds({500, 101}));
  EXPECT_FALSE(c.holds({500, 100}));
  EXPECT_TRUE(c.holds({503, 0}));
  EXPECT_FALSE(c.holds({404, 1000}));
  Condition ne =
      Compiled(R"(["and",["$context.statusCode","!=",200],["$context.statusCode","<=",299]])");
  EXPECT_TRUE(ne.holds({204, 0}));
  EXPECT_FALSE(ne.holds({200, 0}));
  EXPECT_FALSE(ne.holds({500, 0}));
}

TEST(BreakerCondition, ErrorsNameTheElement) {
  EXPECT_EQ(CompileError(R"(["OR",["$context.x","==",1]])"),
            "element [1][0]: unknown operand \"$context.x\" ($context.statusCode, "
            "$context.backendResponseTime)");
  EXPECT_EQ(CompileError(R"(["$context.statusCode","~~","5.."])"),
            "element [1]: unknown operator \"~~\"");
  EXPECT_EQ(CompileError(R"(["$context.statusCode","in","500,abc"])"),
            "element [2]: \"abc\" is not a status code (100-599)");
  EXPECT_EQ(CompileError(R"(["$context.backendResponseTime",">","soon"])"),
            "element [2]: must be a whole number");
  EXPECT_EQ(CompileError(R"(["OR"])"), "needs at least one operand after AND/OR");
  EXPECT_EQ(CompileError(R"({"a":1})"), "must be a non-empty array");
  EXPECT_EQ(CompileError(R"("not json")"), "the string does not hold a JSON array");
  std::string deep = R"(["$context.statusCode","==",500])";
  for (uint32_t i = 0; i <= Condition::kMaxDepth; ++i) {
    deep = "[\"OR\"," + deep + "]";
  }
  EXPECT_NE(CompileError(deep).find("nested deeper than 8"), std::string::npos);
}

}  // namespace
}  // namespace ringway::breaker
