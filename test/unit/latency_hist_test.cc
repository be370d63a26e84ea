// The adaptive hedging delay's window (src/latency_hist.c): a log-bucket
// histogram of five 2 s slices. Time is a plain int64 the tests pass in.
//
// latency_hist.h declares its slices with C11 _Atomic members, which C++
// does not compile, so the two pure bucket functions are declared here as
// that header declares them, and the window itself is driven through the
// method stats that own one (grpcr_method_stats_on_hedged_ok, read with
// grpcr_method_stats_latency_quantile; the snapshot's hedge_delay_samples
// is the window's count at the last read). That read is cached for 100 ms,
// so every read below is at least 100 ms after the previous one of its
// method, or of a method of its own.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "grpcr/hedging.h"
#include "grpcr/stats.h"

extern "C" {
size_t grpcr_hist_bucket(int64_t ns);
int64_t grpcr_hist_upper_ns(size_t i);
}

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kOk = 0;
// GRPCR_HIST_BUCKETS: one below 1 us, 8 per octave from 2^10 to 2^37 ns,
// one from 2^37 ns up.
constexpr size_t kBuckets = 2 + (37 - 10) * 8;
constexpr int64_t kTop = int64_t{1} << 37;  // 137.4 s

// The buckets of 1 ms ([983040, 1048575] ns) and 200 ms ([184549376,
// 201326591] ns): a quantile is its bucket's upper bound.
constexpr int64_t k1msUpper = 1048575;
constexpr int64_t k200msUpper = 201326591;

TEST(LatencyHistBucketTest, EverythingBelowOneMicrosecondIsBucketZero) {
  EXPECT_EQ(kBuckets, 218u);
  for (int64_t v : {INT64_MIN, int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{512}, int64_t{1023}}) {
    EXPECT_EQ(grpcr_hist_bucket(v), 0u) << v;
  }
  EXPECT_EQ(grpcr_hist_upper_ns(0), 1023);
  EXPECT_EQ(grpcr_hist_bucket(1024), 1u);
}

// [1024, 2048) in eight buckets of 128 ns.
TEST(LatencyHistBucketTest, TheFirstOctaveHasEightBucketsOf128Ns) {
  for (int64_t k = 0; k < 8; k++) {
    SCOPED_TRACE(k);
    EXPECT_EQ(grpcr_hist_bucket(1024 + 128 * k), static_cast<size_t>(1 + k));
    EXPECT_EQ(grpcr_hist_bucket(1024 + 128 * k + 127), static_cast<size_t>(1 + k));
    EXPECT_EQ(grpcr_hist_upper_ns(static_cast<size_t>(1 + k)), 1024 + 128 * (k + 1) - 1);
  }
  EXPECT_EQ(grpcr_hist_upper_ns(1), 1151);
  EXPECT_EQ(grpcr_hist_upper_ns(8), 2047);
  EXPECT_EQ(grpcr_hist_bucket(2048), 9u);
  EXPECT_EQ(grpcr_hist_upper_ns(9), 2303);
  EXPECT_EQ(grpcr_hist_upper_ns(16), 4095);
  EXPECT_EQ(grpcr_hist_upper_ns(17), 4607);
}

// Each power of two from 2^10 to 2^36 starts an octave of 8 sub-buckets,
// each 2^(s-3) wide.
TEST(LatencyHistBucketTest, EachPowerOfTwoStartsAnOctaveOfEight) {
  for (int s = 10; s < 37; s++) {
    SCOPED_TRACE(s);
    const int64_t p = int64_t{1} << s;
    const size_t first = 1 + static_cast<size_t>(s - 10) * 8;
    EXPECT_EQ(grpcr_hist_bucket(p), first);
    EXPECT_EQ(grpcr_hist_bucket(p - 1), first - 1);
    for (int64_t k = 0; k < 8; k++) {
      const int64_t lo = p + k * (p >> 3);
      EXPECT_EQ(grpcr_hist_bucket(lo), first + static_cast<size_t>(k));
      EXPECT_EQ(grpcr_hist_bucket(lo + (p >> 3) - 1), first + static_cast<size_t>(k));
      EXPECT_EQ(grpcr_hist_upper_ns(first + static_cast<size_t>(k)), lo + (p >> 3) - 1);
    }
  }
}

TEST(LatencyHistBucketTest, KnownLatenciesLandInTheirBuckets) {
  EXPECT_EQ(grpcr_hist_bucket(1 * kMs), 80u);
  EXPECT_EQ(grpcr_hist_upper_ns(80), k1msUpper);
  EXPECT_EQ(grpcr_hist_upper_ns(79), 983039);
  EXPECT_EQ(grpcr_hist_bucket(200 * kMs), 140u);
  EXPECT_EQ(grpcr_hist_upper_ns(140), k200msUpper);
  EXPECT_EQ(grpcr_hist_upper_ns(139), 184549375);
  EXPECT_EQ(grpcr_hist_bucket(1 * kSec), 159u);  // [939524096, 1006632959]
  EXPECT_EQ(grpcr_hist_upper_ns(159), 1006632959);
}

// The last bucket has no upper bound: 2^37 ns, its lower one, stands for
// every latency in it, so above 2^37 a value is more than its bound.
TEST(LatencyHistBucketTest, TheLastBucketStartsAt137Seconds) {
  EXPECT_EQ(grpcr_hist_bucket(kTop - 1), kBuckets - 2);
  EXPECT_EQ(grpcr_hist_upper_ns(kBuckets - 2), kTop - 1);
  for (int64_t v : {kTop, kTop + 1, int64_t{1} << 40, INT64_MAX}) {
    EXPECT_EQ(grpcr_hist_bucket(v), kBuckets - 1) << v;
  }
  EXPECT_EQ(grpcr_hist_upper_ns(kBuckets - 1), kTop);
  EXPECT_EQ(grpcr_hist_upper_ns(kBuckets), kTop);
  EXPECT_EQ(grpcr_hist_upper_ns(SIZE_MAX), kTop);
}

// upper(bucket(v) - 1) < v <= upper(bucket(v)) for every v in 1..2^37: the
// buckets tile the line with no gap and no overlap.
TEST(LatencyHistBucketTest, EveryValueLiesInsideItsBucket) {
  std::vector<int64_t> values;
  for (int64_t v = 1; v <= (int64_t{1} << 20); v++) values.push_back(v);
  for (int s = 20; s <= 37; s++) {
    for (int64_t d = -3; d <= 3; d++) values.push_back((int64_t{1} << s) + d);
  }
  std::mt19937_64 rng(20261208);
  std::uniform_int_distribution<int64_t> any(1, kTop);
  for (int i = 0; i < 200000; i++) values.push_back(any(rng));
  size_t bad = 0, prev_bucket = 0;
  int64_t prev = 0;
  for (int64_t v : values) {
    if (v > kTop) continue;
    const size_t b = grpcr_hist_bucket(v);
    const bool ok = b < kBuckets && grpcr_hist_upper_ns(b) >= v && (b == 0 || grpcr_hist_upper_ns(b - 1) < v) &&
                    (v <= prev || b >= prev_bucket);
    if (!ok && bad++ == 0) ADD_FAILURE() << "v=" << v << " bucket=" << b;
    prev = v;
    prev_bucket = b;
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(values.size(), (size_t{1} << 20) + 200000);
}

// Each bound is the last value of its bucket; a bucket is at most 1/8 of
// its lower bound wide (a latency is off by at most 12.5%).
TEST(LatencyHistBucketTest, BoundsAreTheLastValueOfEachBucketAndAnEighthApart) {
  for (size_t i = 0; i + 1 < kBuckets; i++) {
    SCOPED_TRACE(i);
    const int64_t u = grpcr_hist_upper_ns(i);
    EXPECT_EQ(grpcr_hist_bucket(u), i);
    EXPECT_EQ(grpcr_hist_bucket(u + 1), i + 1);
    if (i > 0) {
      const int64_t lo = grpcr_hist_upper_ns(i - 1) + 1;
      EXPECT_LE((u - lo + 1) * 8, lo);
    }
  }
}

// ---------------------------------------------------------------------------
// The window, through a method's stats.

class LatencyWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reg_ = grpcr_registry_create();
    ASSERT_NE(reg_, nullptr);
    ch_ = grpcr_registry_add(reg_, "ch", "t");
    ASSERT_NE(ch_, nullptr);
  }
  void TearDown() override { grpcr_registry_destroy(reg_); }

  grpcr_method_stats *Method(const std::string &name) {
    grpcr_method_stats *m = grpcr_stats_method(ch_, name.data(), name.size());
    grpcr_method_stats_on_hedged_final(m, 1, kOk, 1);  // so snapshots list it
    return m;
  }
  static void Add(grpcr_method_stats *m, int n, int64_t latency, int64_t at) {
    for (int i = 0; i < n; i++) grpcr_method_stats_on_hedged_ok(m, at, latency);
  }
  // The quantile at now: its value, or -1 with fewer than min_samples.
  static int64_t Q(grpcr_method_stats *m, int64_t now, double q, uint32_t min_samples) {
    int64_t out = -2;
    const bool known = grpcr_method_stats_latency_quantile(m, now, q, min_samples, &out);
    if (!known) {
      EXPECT_EQ(out, 0);
      return -1;
    }
    return out;
  }
  // The window's count at the method's last read.
  uint64_t Samples(const std::string &name) {
    grpcr_channel_snapshot *snaps = nullptr;
    size_t n = 0;
    EXPECT_EQ(grpcr_registry_snapshot(reg_, 0, nullptr, &snaps, &n), 0);
    uint64_t out = UINT64_MAX;
    for (size_t k = 0; n == 1 && k < snaps[0].method_count; k++) {
      if (name == snaps[0].methods[k].method) out = snaps[0].methods[k].hedge_delay_samples;
    }
    grpcr_channel_snapshots_free(snaps, n);
    return out;
  }

  grpcr_registry *reg_ = nullptr;
  grpcr_channel_stats *ch_ = nullptr;
};

// 990 calls of 1 ms and 10 of 200 ms: p99 is the 990th, in the 1 ms
// bucket; p99.5 the 995th, in the 200 ms one.
TEST_F(LatencyWindowTest, QuantileIsTheUpperBoundOfTheBucketHoldingItsRank) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 990, 1 * kMs, 1 * kSec);
  Add(m, 10, 200 * kMs, 1 * kSec);
  EXPECT_EQ(Q(m, 1 * kSec, 0.99, 1000), k1msUpper);
  EXPECT_EQ(Samples("/a.A/M"), 1000u);
  EXPECT_EQ(Q(m, 1100 * kMs, 0.995, 1000), k200msUpper);
  EXPECT_EQ(Q(m, 1200 * kMs, 0.5, 1000), k1msUpper);
  EXPECT_EQ(Q(m, 1300 * kMs, 0.999, 1000), k200msUpper);
  EXPECT_EQ(k1msUpper, grpcr_hist_upper_ns(grpcr_hist_bucket(1 * kMs)));
  EXPECT_EQ(k200msUpper, grpcr_hist_upper_ns(grpcr_hist_bucket(200 * kMs)));
}

// One call fewer at 1 ms moves the 990th into the 200 ms bucket.
TEST_F(LatencyWindowTest, RankIsTheCeilingOfQTimesTheCount) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 989, 1 * kMs, 1 * kSec);
  Add(m, 11, 200 * kMs, 1 * kSec);
  EXPECT_EQ(Q(m, 1 * kSec, 0.99, 1000), k200msUpper);
  EXPECT_EQ(Q(m, 1100 * kMs, 0.989, 1000), k1msUpper);
}

TEST_F(LatencyWindowTest, MinSamplesIsInclusive) {
  grpcr_method_stats *a = Method("/a.A/A");
  grpcr_method_stats *b = Method("/a.A/B");
  Add(a, 20, 1 * kMs, 0);
  Add(b, 20, 1 * kMs, 0);
  EXPECT_EQ(Q(a, 1 * kSec, 0.5, 20), k1msUpper);
  EXPECT_EQ(Q(b, 1 * kSec, 0.5, 21), -1);
  EXPECT_EQ(Samples("/a.A/B"), 20u);  // counted even when too few
  // An empty window never answers, whatever the minimum.
  grpcr_method_stats *c = Method("/a.A/C");
  EXPECT_EQ(Q(c, 1 * kSec, 0.5, 0), -1);
  EXPECT_EQ(Samples("/a.A/C"), 0u);
}

TEST_F(LatencyWindowTest, SamplesFromAllSlicesInTheWindowCount) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 990, 1 * kMs, 1 * kSec);    // slice [0 s, 2 s)
  Add(m, 10, 200 * kMs, 9 * kSec);   // slice [8 s, 10 s)
  EXPECT_EQ(Q(m, 9500 * kMs, 0.995, 1000), k200msUpper);
  EXPECT_EQ(Samples("/a.A/M"), 1000u);
}

// epoch = now / 2 s + 1, and a slice counts while its epoch > the current
// one - 5: a sample at t counts until the end of the 2 s slice holding t,
// plus 8 s. At 0 s and at 1.999999999 s, until 10 s; at 2 s, until 12 s.
TEST_F(LatencyWindowTest, ASampleCountsUntilItsSliceLeavesTheWindow) {
  struct Case {
    int64_t at, read;
    uint64_t want;
  };
  const Case cases[] = {
      {0, 0, 1},
      {0, 9900 * kMs, 1},
      {0, 10 * kSec - 1, 1},
      {0, 10 * kSec, 0},
      {2 * kSec - 1, 10 * kSec - 1, 1},
      {2 * kSec - 1, 10 * kSec, 0},
      {2 * kSec, 10 * kSec, 1},
      {2 * kSec, 12 * kSec - 1, 1},
      {2 * kSec, 12 * kSec, 0},
      {7 * kSec, 15999 * kMs, 1},
      {7 * kSec, 16 * kSec, 0},
  };
  int i = 0;
  for (const Case &c : cases) {
    SCOPED_TRACE(testing::Message() << "sample at " << c.at << ", read at " << c.read);
    const std::string name = "/a.A/M" + std::to_string(i++);
    grpcr_method_stats *m = Method(name);
    Add(m, 1, 5 * kMs, c.at);
    EXPECT_EQ(Q(m, c.read, 0.5, 1), c.want ? grpcr_hist_upper_ns(grpcr_hist_bucket(5 * kMs)) : -1);
    EXPECT_EQ(Samples(name), c.want);
  }
}

// One sample at the start of each slice; each 2 s the oldest slice leaves.
TEST_F(LatencyWindowTest, SlicesLeaveOneByOne) {
  grpcr_method_stats *m = Method("/a.A/M");
  for (int k = 0; k < 5; k++) Add(m, 1, 1 * kMs, k * 2 * kSec);
  for (int k = 0; k <= 5; k++) {
    SCOPED_TRACE(k);
    const int64_t now = (8 + 2 * k) * kSec;
    EXPECT_EQ(Q(m, now, 0.5, 1), k < 5 ? k1msUpper : -1);
    EXPECT_EQ(Samples("/a.A/M"), static_cast<uint64_t>(5 - k));
  }
}

// 10 s after slice [0 s, 2 s) began, its slot holds [10 s, 12 s): the old
// counts are cleared before the new ones go in.
TEST_F(LatencyWindowTest, ASliceReusedAfterTheWindowStartsEmpty) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 30, 1 * kMs, 0);
  Add(m, 20, 200 * kMs, 10 * kSec);
  EXPECT_EQ(Q(m, 10 * kSec, 0.5, 20), k200msUpper);
  EXPECT_EQ(Samples("/a.A/M"), 20u);
  // And later in the window, the slot still holds only the new ones.
  Add(m, 5, 1 * kMs, 11 * kSec);
  EXPECT_EQ(Q(m, 11 * kSec, 0.5, 20), k200msUpper);
  EXPECT_EQ(Samples("/a.A/M"), 25u);
}

// A slot whose slice is still in the window is not reused: 8 s keeps 0 s.
TEST_F(LatencyWindowTest, SlicesStillInTheWindowAreKept) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 30, 1 * kMs, 0);
  Add(m, 20, 200 * kMs, 8 * kSec);
  EXPECT_EQ(Q(m, 8 * kSec, 0.5, 20), k1msUpper);  // rank 25 of 50
  EXPECT_EQ(Samples("/a.A/M"), 50u);
}

TEST_F(LatencyWindowTest, SamplesAfterTheReadTimeAreNotInItsWindow) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 20, 1 * kMs, 5 * kSec);  // slice [4 s, 6 s)
  EXPECT_EQ(Q(m, 3 * kSec, 0.5, 1), -1);
  EXPECT_EQ(Samples("/a.A/M"), 0u);
  EXPECT_EQ(Q(m, 4 * kSec, 0.5, 1), k1msUpper);
  EXPECT_EQ(Samples("/a.A/M"), 20u);
}

TEST_F(LatencyWindowTest, NonPositiveLatenciesAndNegativeTimesAreNotSamples) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 10, 0, 1 * kSec);
  Add(m, 10, -5 * kMs, 1 * kSec);
  Add(m, 10, 5 * kMs, -1);
  EXPECT_EQ(Q(m, 1 * kSec, 0.5, 1), -1);
  EXPECT_EQ(Samples("/a.A/M"), 0u);
  Add(m, 1, 1, 1 * kSec);  // 1 ns is a sample, in bucket 0
  EXPECT_EQ(Q(m, 1100 * kMs, 0.5, 1), 1023);
}

TEST_F(LatencyWindowTest, LatenciesPast137SecondsReportTheLastBucketsLowerBound) {
  grpcr_method_stats *m = Method("/a.A/M");
  Add(m, 20, 200 * kSec, 1 * kSec);
  EXPECT_EQ(Q(m, 1 * kSec, 0.5, 20), kTop);
}

}  // namespace
