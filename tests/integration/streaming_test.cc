// Issue 3: a 1 GiB upload and a 1 GiB download pass through the gateway while its RSS grows
// by no more than 64 MiB. Run alone with:
//   meson test -C build --suite streaming     (or --gtest_filter='Streaming*')
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "harness.h"

namespace ringway::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kGiB = 1ull << 30;
constexpr long kMaxGrowthKib = 64 * 1024;
constexpr uint64_t kSampleEvery = 16ull << 20;
constexpr int kIoTimeoutMs = 60000;

class Streaming : public SharedStackTest<Streaming> {
 public:
  static GatewayOptions Options() { return {.log_level = "info"}; }
  static std::string Config(const Backend& b) {
    ConfigSpec spec;
    spec.limits = R"("max_body_bytes": 2147483648)";
    spec.apis = {StubApi(b, R"("timeout_ms": 120000)")};
    return BuildConfig(spec);
  }

 protected:
  void SetUp() override {
    SharedStackTest::SetUp();
    ASSERT_TRUE(HasStatus(HttpGet(port(), "/stub/echo/warm-up"), 200));
  }
};

// The gateway's RSS: a baseline at construction, then the peak of the samples.
class RssWatch {
 public:
  explicit RssWatch(const Gateway& gw)
      : gw_(gw), baseline_(gw.RssKib()), peak_(baseline_), start_(Clock::now()) {}
  void Sample() { peak_ = std::max(peak_, gw_.RssKib()); }
  long growth_kib() const { return peak_ - baseline_; }
  // Prints the figures (for the issue's notes) and checks the bound.
  ::testing::AssertionResult Check(const char* what) {
    double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    std::printf("[ringway] %s: %.1f s, RSS baseline %ld KiB, peak %ld KiB, growth %ld KiB\n", what,
                secs, baseline_, peak_, growth_kib());
    ::testing::Test::RecordProperty(std::string(what) + "_rss_growth_kib",
                                    std::to_string(growth_kib()));
    if (baseline_ <= 0 || growth_kib() > kMaxGrowthKib) {
      return ::testing::AssertionFailure()
             << what << ": RSS grew by " << growth_kib() << " KiB (limit " << kMaxGrowthKib
             << "), baseline " << baseline_ << " KiB";
    }
    return ::testing::AssertionSuccess();
  }

 private:
  const Gateway& gw_;
  long baseline_;
  long peak_;
  Clock::time_point start_;
};

TEST_F(Streaming, Upload1GiB) {
  RssWatch rss(gateway());
  Client c(port(), kIoTimeoutMs);
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(
      c.Send(BuildRequest("PUT", "/stub/sink", {{"Content-Length", std::to_string(kGiB)}})));
  Fnv1a fnv;
  for (uint64_t off = 0; off < kGiB;) {
    std::string_view slice = PatternSlice(off, static_cast<size_t>(kGiB - off));
    ASSERT_TRUE(c.Send(slice)) << "send failed after " << off << " bytes";
    fnv.Update(slice);
    off += slice.size();
    if (off % kSampleEvery == 0) {
      rss.Sample();
    }
  }
  auto r = c.ReadFinal();
  rss.Sample();
  ASSERT_TRUE(HasStatus(r, 200));
  EXPECT_EQ(JsonInt(r->body, "/bytes"), static_cast<int64_t>(kGiB));
  EXPECT_EQ(JsonString(r->body, "/fnv"), fnv.Hex());
  EXPECT_TRUE(rss.Check("upload_1gib"));
}

TEST_F(Streaming, Download1GiB) {
  RssWatch rss(gateway());
  uint64_t received = 0;
  uint64_t first_bad = UINT64_MAX;
  BodySink sink = [&](std::string_view data) {
    if (first_bad == UINT64_MAX && !MatchesPattern(received, data)) {
      first_bad = received;
    }
    uint64_t before = received;
    received += data.size();
    if (received / kSampleEvery != before / kSampleEvery) {
      rss.Sample();
    }
  };
  Client c(port(), kIoTimeoutMs);
  ASSERT_TRUE(c.Connect());
  ASSERT_TRUE(c.Send(BuildRequest("GET", "/stub/bytes/" + std::to_string(kGiB))));
  auto r = c.ReadFinal(false, &sink);
  rss.Sample();
  ASSERT_TRUE(HasStatus(r, 200)) << "after " << received << " bytes, read "
                                 << ToString(c.last_status());
  EXPECT_EQ(received, kGiB);
  EXPECT_EQ(first_bad, UINT64_MAX) << "content differs from offset " << first_bad;
  EXPECT_TRUE(rss.Check("download_1gib"));
}

}  // namespace
}  // namespace ringway::integration
