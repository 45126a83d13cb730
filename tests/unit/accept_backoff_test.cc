// Unit tests for src/proxy/accept_backoff.h: the pause schedule of a listener whose accepts
// fail for want of fds or memory, and how often it is reported. Time is a parameter.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "proxy/accept_backoff.h"

namespace ringway::proxy {
namespace {

TEST(AcceptStarved, ResourceErrorsOnly) {
  EXPECT_TRUE(accept_starved(EMFILE));
  EXPECT_TRUE(accept_starved(ENFILE));
  EXPECT_TRUE(accept_starved(ENOBUFS));
  EXPECT_TRUE(accept_starved(ENOMEM));
  EXPECT_FALSE(accept_starved(ECANCELED));
  EXPECT_FALSE(accept_starved(ECONNABORTED));
  EXPECT_FALSE(accept_starved(EINVAL));
}

TEST(AcceptBackoff, DoublesFromFirstToMax) {
  AcceptBackoff b;
  uint64_t now = 5000;
  std::vector<uint32_t> pauses;
  for (int i = 0; i < 10; ++i) {
    AcceptBackoff::Pause p = b.failed(now);
    pauses.push_back(p.ms);
    now += p.ms;
  }
  EXPECT_EQ(pauses, (std::vector<uint32_t>{10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000}));
}

TEST(AcceptBackoff, SuccessStartsOver) {
  AcceptBackoff b;
  b.failed(0);
  b.failed(10);
  b.failed(30);
  EXPECT_EQ(b.next_ms(), 80u);
  b.succeeded();
  EXPECT_EQ(b.next_ms(), AcceptBackoff::kFirstMs);
  EXPECT_EQ(b.failed(100).ms, 10u);
  EXPECT_EQ(b.failed(110).ms, 20u);
}

TEST(AcceptBackoff, ReportsFirstFailureThenOncePerIntervalWithCount) {
  AcceptBackoff b;
  EXPECT_EQ(b.failed(1000).report, 1u);  // the first failure is reported at once
  EXPECT_EQ(b.failed(1010).report, 0u);
  EXPECT_EQ(b.failed(1500).report, 0u);
  EXPECT_EQ(b.failed(1999).report, 0u);
  EXPECT_EQ(b.failed(2000).report, 4u);  // these three and this one
  EXPECT_EQ(b.failed(2100).report, 0u);
  EXPECT_EQ(b.failed(9000).report, 2u);
}

// Failures on both sides of a success are counted in the next report: a listener that
// pauses and resumes quickly is still reported once per interval.
TEST(AcceptBackoff, CountSurvivesSuccess) {
  AcceptBackoff b;
  EXPECT_EQ(b.failed(0).report, 1u);
  EXPECT_EQ(b.failed(10).report, 0u);
  b.succeeded();
  EXPECT_EQ(b.failed(500).report, 0u);
  b.succeeded();
  EXPECT_EQ(b.failed(1200).report, 3u);
}

TEST(AcceptBackoff, ReportAtTimeZeroIsNotMistakenForNone) {
  AcceptBackoff b;
  EXPECT_EQ(b.failed(0).report, 1u);
  EXPECT_EQ(b.failed(999).report, 0u);
  EXPECT_EQ(b.failed(1000).report, 2u);
}

}  // namespace
}  // namespace ringway::proxy
