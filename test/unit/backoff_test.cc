// Backoff, jitter, the seedable PRNG and pushback parsing. Statistical tests
// use a fixed seed, so they are deterministic; each states its tolerance,
// chosen at 3 or more standard errors of the mean over its draw count.
#include "grpcr/backoff.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kDraws = 10000;
constexpr uint64_t kSeed = 42;

grpcr_backoff_policy Policy(int64_t initial, int64_t max, double mult,
                            grpcr_jitter jitter) {
  grpcr_backoff_policy p;
  p.initial_backoff_ns = initial;
  p.max_backoff_ns = max;
  p.multiplier = mult;
  p.jitter = jitter;
  return p;
}

TEST(BackoffTest, NoJitterSequenceIsExactAndCapped) {
  grpcr_backoff_policy p = Policy(100 * kMs, 1 * kSec, 2.0, GRPCR_JITTER_NONE);
  grpcr_backoff b;
  grpcr_backoff_init(&b, &p, kSeed);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 100 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 200 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 400 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 800 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 1 * kSec);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 1 * kSec);
  EXPECT_EQ(b.retries, 6u);
}

TEST(BackoffTest, NoJitterFractionalMultiplierIsRoundedToTheNanosecond) {
  grpcr_backoff_policy p = Policy(100 * kMs, 10 * kSec, 1.6, GRPCR_JITTER_NONE);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 0), 100 * kMs);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 1), 160 * kMs);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 2), 256 * kMs);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 3), 409600000);
}

TEST(BackoffTest, MultiplierOneKeepsTheInitialBackoff) {
  grpcr_backoff_policy p = Policy(250 * kMs, 10 * kSec, 1.0, GRPCR_JITTER_NONE);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 0), 250 * kMs);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 10000), 250 * kMs);
}

TEST(BackoffTest, BaseSaturatesAtMaxForHugeRetryNumbers) {
  grpcr_backoff_policy p = Policy(100 * kMs, 30 * kSec, 2.0, GRPCR_JITTER_NONE);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 10000), 30 * kSec);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, UINT32_MAX), 30 * kSec);
}

TEST(BackoffTest, BaseSaturatesAtMaxForHugeMultiplier) {
  grpcr_backoff_policy p = Policy(1, INT64_MAX, 1e300, GRPCR_JITTER_NONE);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 0), 1);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 1), INT64_MAX);
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 10000), INT64_MAX);
  p.max_backoff_ns = 30 * kSec;
  EXPECT_EQ(grpcr_backoff_base_ns(&p, 10000), 30 * kSec);
}

TEST(BackoffTest, EveryStrategyStaysWithinZeroAndMaxOverALongSequence) {
  for (grpcr_jitter j : {GRPCR_JITTER_NONE, GRPCR_JITTER_FULL,
                         GRPCR_JITTER_EQUAL, GRPCR_JITTER_DECORRELATED}) {
    grpcr_backoff_policy p = Policy(10 * kMs, 3 * kSec, 3.0, j);
    grpcr_backoff b;
    grpcr_backoff_init(&b, &p, kSeed);
    for (int i = 0; i < kDraws; i++) {
      int64_t d = grpcr_backoff_next_ns(&b);
      ASSERT_GE(d, 0) << grpcr_jitter_name(j) << " draw " << i;
      ASSERT_LE(d, 3 * kSec) << grpcr_jitter_name(j) << " draw " << i;
    }
  }
}

// max == initial keeps d fixed, so every draw has the same distribution.
TEST(BackoffTest, FullJitterIsWithinZeroAndDWithMeanHalfD) {
  const int64_t d = 1 * kSec;
  grpcr_backoff_policy p = Policy(d, d, 2.0, GRPCR_JITTER_FULL);
  grpcr_backoff b;
  grpcr_backoff_init(&b, &p, kSeed);
  double sum = 0;
  for (int i = 0; i < kDraws; i++) {
    int64_t v = grpcr_backoff_next_ns(&b);
    ASSERT_GE(v, 0);
    ASSERT_LE(v, d);
    sum += (double)v;
  }
  // U(0, d): sd d/sqrt(12), so the mean's sd is 0.29% of d: +-2% of d/2 is
  // about 3.5 standard errors.
  EXPECT_NEAR(sum / kDraws, d / 2.0, 0.02 * d / 2.0);
}

TEST(BackoffTest, EqualJitterIsWithinHalfDAndDWithMeanThreeQuartersD) {
  const int64_t d = 1 * kSec;
  grpcr_backoff_policy p = Policy(d, d, 2.0, GRPCR_JITTER_EQUAL);
  grpcr_backoff b;
  grpcr_backoff_init(&b, &p, kSeed);
  double sum = 0;
  for (int i = 0; i < kDraws; i++) {
    int64_t v = grpcr_backoff_next_ns(&b);
    ASSERT_GE(v, d / 2);
    ASSERT_LE(v, d);
    sum += (double)v;
  }
  // d/2 + U(0, d/2): the mean's sd is 0.14% of d; +-1% of 3d/4 is over 5
  // standard errors.
  EXPECT_NEAR(sum / kDraws, 0.75 * d, 0.01 * 0.75 * d);
}

TEST(BackoffTest, NoJitterIgnoresTheSeed) {
  grpcr_backoff_policy p = Policy(100 * kMs, 10 * kSec, 2.0, GRPCR_JITTER_NONE);
  grpcr_backoff a, b;
  grpcr_backoff_init(&a, &p, 1);
  grpcr_backoff_init(&b, &p, 2);
  for (int i = 0; i < 20; i++) {
    EXPECT_EQ(grpcr_backoff_next_ns(&a), grpcr_backoff_next_ns(&b));
  }
}

TEST(BackoffTest, DecorrelatedJitterIsWithinInitialAndThreeTimesPrevious) {
  const int64_t initial = 10 * kMs, max = 2 * kSec;
  grpcr_backoff_policy p = Policy(initial, max, 2.0, GRPCR_JITTER_DECORRELATED);
  grpcr_backoff b;
  grpcr_backoff_init(&b, &p, kSeed);
  int64_t prev = initial;  // AWS's decorrelated jitter starts from the base.
  bool reached_max = false;
  for (int i = 0; i < kDraws; i++) {
    int64_t v = grpcr_backoff_next_ns(&b);
    ASSERT_GE(v, initial) << "draw " << i;
    ASSERT_LE(v, std::min(max, 3 * prev)) << "draw " << i;
    reached_max |= v == max;
    prev = v;
  }
  EXPECT_TRUE(reached_max);
}

// A pushback resets the previous delay to initial, so each draw after one is
// a fresh first draw: U(initial, 3 * initial).
TEST(BackoffTest, DecorrelatedJitterFirstDrawHasMeanTwiceInitial) {
  const int64_t initial = 100 * kMs;
  grpcr_backoff_policy p =
      Policy(initial, 10 * kSec, 2.0, GRPCR_JITTER_DECORRELATED);
  grpcr_backoff b;
  grpcr_backoff_init(&b, &p, kSeed);
  double sum = 0;
  for (int i = 0; i < kDraws; i++) {
    grpcr_backoff_pushback_ns(&b, 0);
    int64_t v = grpcr_backoff_next_ns(&b);
    ASSERT_GE(v, initial);
    ASSERT_LE(v, 3 * initial);
    sum += (double)v;
  }
  // U(i, 3i): the mean's sd is 0.29% of 2i; +-1% is over 3 standard errors.
  EXPECT_NEAR(sum / kDraws, 2.0 * initial, 0.01 * 2.0 * initial);
}

TEST(BackoffTest, SameSeedGivesTheSameSequence) {
  for (grpcr_jitter j :
       {GRPCR_JITTER_FULL, GRPCR_JITTER_EQUAL, GRPCR_JITTER_DECORRELATED}) {
    grpcr_backoff_policy p = Policy(100 * kMs, 10 * kSec, 2.0, j);
    grpcr_backoff a, b;
    grpcr_backoff_init(&a, &p, 1234);
    grpcr_backoff_init(&b, &p, 1234);
    for (int i = 0; i < 100; i++) {
      ASSERT_EQ(grpcr_backoff_next_ns(&a), grpcr_backoff_next_ns(&b));
    }
  }
}

TEST(BackoffTest, DifferentSeedsGiveDifferentSequences) {
  grpcr_backoff_policy p = Policy(100 * kMs, 10 * kSec, 2.0, GRPCR_JITTER_FULL);
  grpcr_backoff a, b;
  grpcr_backoff_init(&a, &p, 1);
  grpcr_backoff_init(&b, &p, 2);
  int same = 0;
  for (int i = 0; i < 100; i++) {
    same += grpcr_backoff_next_ns(&a) == grpcr_backoff_next_ns(&b);
  }
  EXPECT_LT(same, 5);
}

TEST(BackoffTest, PushbackReplacesTheNextDelayAndRestartsTheSequence) {
  grpcr_backoff_policy p = Policy(100 * kMs, 10 * kSec, 2.0, GRPCR_JITTER_NONE);
  grpcr_backoff b;
  grpcr_backoff_init(&b, &p, kSeed);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 100 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 200 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 400 * kMs);
  EXPECT_EQ(grpcr_backoff_pushback_ns(&b, 5 * kSec), 5 * kSec);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 100 * kMs);
  EXPECT_EQ(grpcr_backoff_next_ns(&b), 200 * kMs);
}

TEST(BackoffTest, RngSeedZeroGivesAUsableState) {
  grpcr_rng r;
  grpcr_rng_seed(&r, 0);
  EXPECT_FALSE(r.s[0] == 0 && r.s[1] == 0 && r.s[2] == 0 && r.s[3] == 0);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; i++) seen.insert(grpcr_rng_next(&r));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(BackoffTest, RngUniformIsInUnitIntervalWithMeanHalf) {
  grpcr_rng r;
  grpcr_rng_seed(&r, kSeed);
  double sum = 0;
  for (int i = 0; i < kDraws; i++) {
    double u = grpcr_rng_uniform(&r);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    // 53 bits: every value is an exact multiple of 2^-53.
    ASSERT_EQ(std::ldexp(u, 53), std::floor(std::ldexp(u, 53)));
    sum += u;
  }
  // sd of the mean is 0.0029; +-0.01 is over 3 standard errors.
  EXPECT_NEAR(sum / kDraws, 0.5, 0.01);
}

TEST(BackoffTest, RngOsSeedsDiffer) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 16; i++) seen.insert(grpcr_rng_os_seed());
  EXPECT_EQ(seen.size(), 16u);
}

TEST(BackoffTest, JitterNamesRoundTrip) {
  for (int j = GRPCR_JITTER_NONE; j <= GRPCR_JITTER_DECORRELATED; j++) {
    const char *name = grpcr_jitter_name((grpcr_jitter)j);
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(grpcr_jitter_from_name(name), j);
  }
  EXPECT_STREQ(grpcr_jitter_name(GRPCR_JITTER_DECORRELATED), "DECORRELATED");
  EXPECT_EQ(grpcr_jitter_name((grpcr_jitter)4), nullptr);
  EXPECT_EQ(grpcr_jitter_name((grpcr_jitter)-1), nullptr);
  EXPECT_EQ(grpcr_jitter_from_name("full"), -1);
  EXPECT_EQ(grpcr_jitter_from_name(nullptr), -1);
}

grpcr_pushback Parse(const char *s, int64_t *ns) {
  return grpcr_pushback_parse(s, s == nullptr ? 0 : std::strlen(s), ns);
}

TEST(BackoffTest, PushbackParseAbsentHeaderIsNone) {
  int64_t ns = -7;
  EXPECT_EQ(Parse(nullptr, &ns), GRPCR_PUSHBACK_NONE);
  EXPECT_EQ(ns, -7);
}

TEST(BackoffTest, PushbackParseZeroIsADelayOfZero) {
  int64_t ns = -7;
  EXPECT_EQ(Parse("0", &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 0);
}

TEST(BackoffTest, PushbackParseMillisecondsBecomeNanoseconds) {
  int64_t ns = 0;
  EXPECT_EQ(Parse("1500", &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 1500 * kMs);
  EXPECT_EQ(Parse("007", &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 7 * kMs);
}

TEST(BackoffTest, PushbackParseNegativeIsStop) {
  int64_t ns = -7;
  EXPECT_EQ(Parse("-1", &ns), GRPCR_PUSHBACK_STOP);
  EXPECT_EQ(Parse("-1500", &ns), GRPCR_PUSHBACK_STOP);
  EXPECT_EQ(ns, -7);
}

TEST(BackoffTest, PushbackParseMalformedIsStop) {
  int64_t ns = 0;
  for (const char *s : {"abc", "12x", "", " 5", "5 ", "+5", "1.5", "1e3"}) {
    EXPECT_EQ(Parse(s, &ns), GRPCR_PUSHBACK_STOP) << "'" << s << "'";
  }
}

TEST(BackoffTest, PushbackParseOverflowIsStop) {
  int64_t ns = 0;
  EXPECT_EQ(Parse("99999999999999999999999", &ns), GRPCR_PUSHBACK_STOP);
  // INT64_MAX / 1e6 = 9223372036854 ms is the largest whose ns fit.
  EXPECT_EQ(Parse("9223372036855", &ns), GRPCR_PUSHBACK_STOP);
  EXPECT_EQ(Parse("9223372036854", &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 9223372036854LL * kMs);
}

TEST(BackoffTest, PushbackParseReadsOnlyLenBytes) {
  int64_t ns = 0;
  const char buf[] = "150junk";
  EXPECT_EQ(grpcr_pushback_parse(buf, 3, &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 150 * kMs);
}

// gRPC parses grpc-retry-pushback-ms itself (a malformed value reads as
// negative); the same rule then applies to its milliseconds.
TEST(BackoffTest, PushbackFromMillisecondsFollowsTheParseRule) {
  int64_t ns = -7;
  EXPECT_EQ(grpcr_pushback_from_ms(-1, &ns), GRPCR_PUSHBACK_STOP);
  EXPECT_EQ(grpcr_pushback_from_ms(INT64_MIN, &ns), GRPCR_PUSHBACK_STOP);
  EXPECT_EQ(ns, -7);
  EXPECT_EQ(grpcr_pushback_from_ms(0, &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 0);
  EXPECT_EQ(grpcr_pushback_from_ms(1500, &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(ns, 1500 * kMs);
  EXPECT_EQ(grpcr_pushback_from_ms(9223372036854LL, &ns), GRPCR_PUSHBACK_DELAY);
  EXPECT_EQ(grpcr_pushback_from_ms(9223372036855LL, &ns), GRPCR_PUSHBACK_STOP);
}

}  // namespace
