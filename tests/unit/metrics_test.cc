// ringway/metrics.h: status cells, histogram buckets and the counter tables' rows.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ringway/metrics.h"

namespace ringway::metrics {
namespace {

TEST(StatusSlot, EveryRegisteredCodeHasItsOwnCellAndOthersTheirClass) {
  std::set<uint32_t> seen;
  for (uint16_t code : kCodes) {
    const uint32_t s = status_slot(code);
    EXPECT_EQ(slot_code(s), std::to_string(code));
    EXPECT_TRUE(seen.insert(s).second) << code;
  }
  EXPECT_EQ(slot_code(status_slot(299)), "2xx");
  EXPECT_EQ(slot_code(status_slot(418)), "4xx");
  EXPECT_EQ(slot_code(status_slot(599)), "5xx");
  EXPECT_EQ(slot_code(status_slot(0)), "5xx");
  EXPECT_EQ(slot_code(status_slot(700)), "5xx");
  EXPECT_LT(status_slot(599), kStatusSlots);
}

TEST(Buckets, BoundsAreInclusiveAndTheLastIsInf) {
  EXPECT_EQ(bucket_of(0), 0u);
  EXPECT_EQ(bucket_of(500), 0u);  // 0.0005 s
  EXPECT_EQ(bucket_of(501), 1u);
  EXPECT_EQ(bucket_of(10'000'000), kBuckets - 2);  // 10 s
  EXPECT_EQ(bucket_of(10'000'001), kBuckets - 1);  // +Inf
}

TEST(CounterTable, SameLabelsSameRowAndShardsSum) {
  CounterTable t(3, 2, 1000);
  const uint32_t a = t.row({"api", "RELEASE"});
  const uint32_t b = t.row({"api", "TEST"});
  EXPECT_NE(a, b);
  EXPECT_EQ(t.row({"api", "RELEASE"}), a);  // a reload's names find their rows again
  EXPECT_NE(t.row({"apiR", "ELEASE"}), a);  // labels are separated, not concatenated
  t.add(0, a, 1);
  t.add(1, a, 1, 5);
  t.add(2, a, 0, 7);
  t.add(2, kNoRow, 0, 100);  // not counted
  EXPECT_EQ(t.sum(a, 1), 6u);
  EXPECT_EQ(t.sum(a, 0), 7u);
  EXPECT_EQ(t.sum(b, 0), 0u);
  EXPECT_EQ(t.labels(b)[1], "TEST");
}

TEST(CounterTable, RowsSpanChunksAndStopAtTheLimit) {
  CounterTable t(2, 3, 2 * CounterTable::kRowsPerChunk);
  uint32_t last = kNoRow;
  for (uint32_t i = 0; i < 2 * CounterTable::kRowsPerChunk; ++i) {
    last = t.row({std::to_string(i)});
    ASSERT_EQ(last, i);
    t.add(1, last, 2, i);
  }
  EXPECT_EQ(t.sum(last, 2), last);
  EXPECT_EQ(t.sum(CounterTable::kRowsPerChunk, 2), CounterTable::kRowsPerChunk);
  EXPECT_EQ(t.row({"one too many"}), kNoRow);
  EXPECT_EQ(t.rows(), 2 * CounterTable::kRowsPerChunk);
}

}  // namespace
}  // namespace ringway::metrics
