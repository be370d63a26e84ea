// The hedging decision, the fatal statuses, the adaptive delay's minimum
// and the delay itself, against include/grpcr/hedging.h. Time is a plain
// int64 the tests pass in; nothing reads a clock.
#include "grpcr/hedging.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>

#include "grpcr/retry.h"  // GRPCR_NO_DEADLINE

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kOk = 0, kCancelled = 1, kUnknown = 2, kInvalidArgument = 3,
              kDeadlineExceeded = 4, kInternal = 13, kUnavailable = 14,
              kUnauthenticated = 16;

class HedgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.max_attempts = 3;
    policy_.hedging.enabled = true;
    policy_.hedging.delay_ns = 50 * kMs;
    req_.attempts_started = 1;
  }
  void TearDown() override {
    grpcr_budget_destroy(budget_);
    grpcr_breaker_destroy(breaker_);
  }

  // A budget with exactly `retries` retries available: no ratio, and a
  // floor of retries / 10 per second over a 10 s window.
  grpcr_budget *Budget(double retries) {
    grpcr_budget_config c;
    c.ratio = 0;
    c.min_retries_per_second = retries / 10.0;
    c.window_ns = 10 * kSec;
    budget_ = grpcr_budget_create(&c, 0);
    EXPECT_NE(budget_, nullptr);
    return budget_;
  }
  grpcr_budget_snapshot BudgetSnap() {
    grpcr_budget_snapshot s;
    grpcr_budget_snapshot_get(budget_, 0, &s);
    return s;
  }

  // A breaker that opens on one failure, for exactly 30 s (no jitter), and
  // never throttles: its state moves only when a test moves it.
  grpcr_breaker *Breaker() {
    grpcr_breaker_config c = grpcr_breaker_config_default();
    c.minimum_calls = 1;
    c.open_duration_ns = 30 * kSec;
    c.open_duration_jitter = 0;
    c.half_open_max_calls = 1;
    c.throttle_k = 0;
    breaker_ = grpcr_breaker_create_seeded(&c, 0, 1);
    EXPECT_NE(breaker_, nullptr);
    return breaker_;
  }
  // Opens the breaker at now with one failed call of its own.
  void Trip(int64_t now) {
    grpcr_breaker_ticket t;
    ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, now, &t, nullptr));
    grpcr_breaker_record(breaker_, &t, kUnavailable, now, nullptr);
    grpcr_breaker_snapshot s;
    grpcr_breaker_snapshot_get(breaker_, now, &s);
    ASSERT_EQ(s.state, GRPCR_BREAKER_OPEN);
  }

  grpcr_hedge_verdict Decide(int64_t now, int64_t deadline) {
    return grpcr_hedge_decide(&policy_, budget_, &req_, now, deadline);
  }

  grpcr_retry_policy policy_{};
  grpcr_hedge_request req_{};
  grpcr_budget *budget_ = nullptr;
  grpcr_breaker *breaker_ = nullptr;
};

// A pushback's hedge is waited for only if it starts by the deadline:
// now + delay <= deadline, exactly, without overflow at the extremes.
TEST(HedgeFitsTest, NowPlusDelayMustNotPassTheDeadline) {
  EXPECT_TRUE(grpcr_hedge_fits(100, 50, 150));
  EXPECT_FALSE(grpcr_hedge_fits(100, 51, 150));
  EXPECT_TRUE(grpcr_hedge_fits(150, 0, 150));
  EXPECT_FALSE(grpcr_hedge_fits(151, 0, 150));
  EXPECT_TRUE(grpcr_hedge_fits(100, -5, 150)) << "a negative delay is 0";
  EXPECT_TRUE(grpcr_hedge_fits(0, INT64_MAX - 1, GRPCR_NO_DEADLINE));
  EXPECT_TRUE(grpcr_hedge_fits(INT64_MIN, INT64_MAX, INT64_MAX - 1))
      << "2^64 - 2 left, more than INT64_MAX";
  EXPECT_FALSE(grpcr_hedge_fits(-10, INT64_MAX, 5));
  EXPECT_TRUE(grpcr_hedge_fits(-10, 15, 5));
  EXPECT_FALSE(grpcr_hedge_fits(-10, 16, 5));
  EXPECT_TRUE(grpcr_hedge_fits(INT64_MIN, 0, INT64_MIN));
  EXPECT_FALSE(grpcr_hedge_fits(INT64_MIN, 1, INT64_MIN));
}

TEST(HedgeVerdictTest, EveryVerdictHasItsName) {
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_YES), "YES");
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_NO_ATTEMPTS), "NO_ATTEMPTS");
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_NO_PUSHBACK), "NO_PUSHBACK");
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_NO_DEADLINE), "NO_DEADLINE");
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_NO_TIME), "NO_TIME");
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_NO_BREAKER), "NO_BREAKER");
  EXPECT_STREQ(grpcr_hedge_verdict_name(GRPCR_HEDGE_NO_BUDGET), "NO_BUDGET");
  EXPECT_EQ(grpcr_hedge_verdict_name(static_cast<grpcr_hedge_verdict>(-1)), nullptr);
  EXPECT_EQ(grpcr_hedge_verdict_name(static_cast<grpcr_hedge_verdict>(7)), nullptr);
}

TEST_F(HedgeTest, HedgesUntilMaxAttemptsHaveStarted) {
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  req_.attempts_started = 2;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  req_.attempts_started = 3;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_ATTEMPTS);
  req_.attempts_started = 4;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_ATTEMPTS);
  policy_.max_attempts = 100;
  req_.attempts_started = 99;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  req_.attempts_started = 100;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_ATTEMPTS);
}

TEST_F(HedgeTest, PushbackStopEndsHedging) {
  req_.stopped = true;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_PUSHBACK);
}

TEST_F(HedgeTest, NoHedgeOnceTheDeadlineHasPassed) {
  EXPECT_EQ(Decide(5 * kSec, 5 * kSec - 1), GRPCR_HEDGE_NO_DEADLINE);
  EXPECT_EQ(Decide(5 * kSec, 0), GRPCR_HEDGE_NO_DEADLINE);
  // At the deadline itself it has not passed.
  EXPECT_EQ(Decide(5 * kSec, 5 * kSec), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(5 * kSec, 5 * kSec + 1), GRPCR_HEDGE_YES);
}

// The median rule: a hedge needs at least the median's time left; exactly
// the median is enough.
TEST_F(HedgeTest, MedianRuleRefusesOnlyWhenLessThanTheMedianIsLeft) {
  req_.median_attempt_ns = 100 * kMs;
  EXPECT_EQ(Decide(1 * kSec, 1100 * kMs), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(1 * kSec, 1100 * kMs - 1), GRPCR_HEDGE_NO_TIME);
  EXPECT_EQ(Decide(1 * kSec, 1 * kSec), GRPCR_HEDGE_NO_TIME);
  EXPECT_EQ(Decide(0, 100 * kMs), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(0, 100 * kMs - 1), GRPCR_HEDGE_NO_TIME);
  req_.median_attempt_ns = 1;
  EXPECT_EQ(Decide(7, 8), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(7, 7), GRPCR_HEDGE_NO_TIME);
  // An unknown median (0) refuses nothing, not even with no time left.
  req_.median_attempt_ns = 0;
  EXPECT_EQ(Decide(7, 7), GRPCR_HEDGE_YES);
}

TEST_F(HedgeTest, MedianRuleHoldsOnANegativeClock) {
  req_.median_attempt_ns = 100 * kMs;
  EXPECT_EQ(Decide(-50 * kMs, 50 * kMs), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(-50 * kMs, 50 * kMs - 1), GRPCR_HEDGE_NO_TIME);
  EXPECT_EQ(Decide(-200 * kMs, -100 * kMs), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(-200 * kMs, -100 * kMs - 1), GRPCR_HEDGE_NO_TIME);
}

TEST_F(HedgeTest, NoDeadlineNeverRefuses) {
  req_.median_attempt_ns = INT64_MAX;
  for (int64_t now : {INT64_MIN, int64_t{-1}, int64_t{0}, 5 * kSec, INT64_MAX - 1, INT64_MAX}) {
    EXPECT_EQ(Decide(now, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES) << now;
  }
}

// UBSan turns any signed overflow in the deadline arithmetic into a
// failure; without it, a wrapped subtraction gives the wrong verdict.
TEST_F(HedgeTest, DeadlineArithmeticNeverOverflows) {
  req_.median_attempt_ns = 10;
  EXPECT_EQ(Decide(INT64_MIN, INT64_MIN + 10), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(INT64_MIN, INT64_MIN + 9), GRPCR_HEDGE_NO_TIME);
  EXPECT_EQ(Decide(INT64_MIN, INT64_MIN + 5), GRPCR_HEDGE_NO_TIME);
  EXPECT_EQ(Decide(INT64_MIN, INT64_MIN), GRPCR_HEDGE_NO_TIME);
  req_.median_attempt_ns = 9;  // 9 ns left
  EXPECT_EQ(Decide(INT64_MAX - 10, INT64_MAX - 1), GRPCR_HEDGE_YES);
  req_.median_attempt_ns = 8;
  EXPECT_EQ(Decide(INT64_MAX - 10, INT64_MAX - 1), GRPCR_HEDGE_YES);
  req_.median_attempt_ns = 10;
  EXPECT_EQ(Decide(INT64_MAX - 11, INT64_MAX - 1), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(INT64_MAX - 10, INT64_MAX - 1), GRPCR_HEDGE_NO_TIME);
  // Spans wider than INT64_MAX.
  req_.median_attempt_ns = INT64_MAX;
  EXPECT_EQ(Decide(INT64_MIN, INT64_MAX - 1), GRPCR_HEDGE_YES);
  EXPECT_EQ(Decide(-1, INT64_MAX - 1), GRPCR_HEDGE_YES);  // exactly INT64_MAX left
  EXPECT_EQ(Decide(0, INT64_MAX - 1), GRPCR_HEDGE_NO_TIME);
}

TEST_F(HedgeTest, ClosedBreakerAdmitsAHedgeOfACallAdmittedInClosed) {
  Breaker();
  Budget(5);
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 0, &t, nullptr));
  ASSERT_EQ(t.admitted_in, GRPCR_BREAKER_CLOSED);
  req_.breaker = breaker_;
  req_.ticket = &t;
  EXPECT_EQ(Decide(1 * kSec, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  EXPECT_EQ(BudgetSnap().retries_total, 1u);
  grpcr_breaker_record(breaker_, &t, kOk, 1 * kSec, nullptr);
}

// With a breaker but no ticket there is no CLOSED admission to hedge.
TEST_F(HedgeTest, BreakerWithoutATicketStartsNoHedge) {
  Breaker();
  req_.breaker = breaker_;
  req_.ticket = nullptr;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
}

TEST_F(HedgeTest, OpenBreakerStartsNoHedgeAndSpendsNoBudget) {
  Breaker();
  Budget(5);
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 0, &t, nullptr));
  req_.breaker = breaker_;
  req_.ticket = &t;
  Trip(1 * kSec);
  EXPECT_EQ(Decide(1 * kSec, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
  EXPECT_EQ(Decide(31 * kSec - 1, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
  // HALF_OPEN is due, but this call holds no probe slot of it.
  EXPECT_EQ(Decide(31 * kSec, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
  grpcr_budget_snapshot s = BudgetSnap();
  EXPECT_EQ(s.retries_total, 0u);
  EXPECT_EQ(s.denied_total, 0u);
  grpcr_breaker_release(breaker_, &t, 31 * kSec);
}

// A retry of a probe stays in its slot (grpcr_breaker_admits_retry says
// yes), but a probe never hedges: a second attempt in flight would be a
// second probe.
TEST_F(HedgeTest, HalfOpenProbeNeverHedges) {
  Breaker();
  Budget(5);
  Trip(0);
  grpcr_breaker_ticket probe;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 30 * kSec, &probe, nullptr));
  ASSERT_EQ(probe.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_TRUE(grpcr_breaker_admits_retry(breaker_, &probe, 30 * kSec));
  req_.breaker = breaker_;
  req_.ticket = &probe;
  EXPECT_EQ(Decide(30 * kSec, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
  EXPECT_EQ(BudgetSnap().retries_total, 0u);
  EXPECT_EQ(BudgetSnap().denied_total, 0u);
  // The probe succeeds and closes the breaker: a new call hedges again.
  grpcr_breaker_record(breaker_, &probe, kOk, 30 * kSec, nullptr);
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 30 * kSec, &t, nullptr));
  ASSERT_EQ(t.admitted_in, GRPCR_BREAKER_CLOSED);
  req_.ticket = &t;
  EXPECT_EQ(Decide(30 * kSec, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  EXPECT_EQ(BudgetSnap().retries_total, 1u);
  grpcr_breaker_record(breaker_, &t, kOk, 30 * kSec, nullptr);
}

TEST_F(HedgeTest, CallAdmittedInClosedStartsNoHedgeWhileHalfOpen) {
  Breaker();
  grpcr_breaker_ticket t, probe;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 0, &t, nullptr));
  Trip(0);
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 30 * kSec, &probe, nullptr));
  req_.breaker = breaker_;
  req_.ticket = &t;
  EXPECT_EQ(Decide(30 * kSec, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
  grpcr_breaker_release(breaker_, &probe, 30 * kSec);
  grpcr_breaker_release(breaker_, &t, 30 * kSec);
}

TEST_F(HedgeTest, EmptyBudgetDeniesAndCountsTheDenial) {
  Budget(0);  // ratio 0, no floor
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BUDGET);
  grpcr_budget_snapshot s = BudgetSnap();
  EXPECT_EQ(s.retries_total, 0u);
  EXPECT_EQ(s.denied_total, 1u);
  // With ratio 0, requests earn nothing.
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(budget_, 0);
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BUDGET);
  EXPECT_EQ(BudgetSnap().denied_total, 2u);
}

TEST_F(HedgeTest, EveryHedgeSpendsOneRetryOfTheBudget) {
  Budget(2);
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  req_.attempts_started = 2;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  req_.attempts_started = 1;  // another call
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BUDGET);
  grpcr_budget_snapshot s = BudgetSnap();
  EXPECT_EQ(s.retries_total, 2u);
  EXPECT_EQ(s.retries_in_window, 2u);
  EXPECT_EQ(s.denied_total, 1u);
}

TEST_F(HedgeTest, NullBudgetIsUnlimited) {
  policy_.max_attempts = 100;
  for (uint32_t n = 1; n < 100; n++) {
    req_.attempts_started = n;
    ASSERT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES) << n;
  }
}

// The budget is asked last: a hedge refused for any other reason neither
// spends the one retry left nor counts a denial.
TEST_F(HedgeTest, EveryEarlierRefusalLeavesTheBudgetAlone) {
  Budget(1);
  Breaker();
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 0, &t, nullptr));
  req_.attempts_started = 3;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_ATTEMPTS);
  req_.attempts_started = 1;
  req_.stopped = true;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_PUSHBACK);
  req_.stopped = false;
  EXPECT_EQ(Decide(2 * kSec, 1 * kSec), GRPCR_HEDGE_NO_DEADLINE);
  req_.median_attempt_ns = 1 * kSec;
  EXPECT_EQ(Decide(0, 1 * kSec - 1), GRPCR_HEDGE_NO_TIME);
  req_.median_attempt_ns = 0;
  req_.breaker = breaker_;
  req_.ticket = nullptr;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_NO_BREAKER);
  grpcr_budget_snapshot s = BudgetSnap();
  EXPECT_EQ(s.retries_total, 0u);
  EXPECT_EQ(s.retries_in_window, 0u);
  EXPECT_EQ(s.denied_total, 0u);
  // The one retry is still there.
  req_.ticket = &t;
  EXPECT_EQ(Decide(0, GRPCR_NO_DEADLINE), GRPCR_HEDGE_YES);
  EXPECT_EQ(BudgetSnap().retries_total, 1u);
  grpcr_breaker_record(breaker_, &t, kOk, 0, nullptr);
}

// Every condition true at once; each step lifts the one documented first,
// and the next one wins.
TEST_F(HedgeTest, ChecksRunInTheDocumentedOrder) {
  Budget(0);
  Breaker();
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker_, 0, &t, nullptr));
  Trip(0);
  req_.breaker = breaker_;
  req_.ticket = &t;
  req_.attempts_started = 3;
  req_.stopped = true;
  req_.median_attempt_ns = 10 * kSec;
  EXPECT_EQ(Decide(2 * kSec, 1 * kSec), GRPCR_HEDGE_NO_ATTEMPTS);
  req_.attempts_started = 1;
  EXPECT_EQ(Decide(2 * kSec, 1 * kSec), GRPCR_HEDGE_NO_PUSHBACK);
  req_.stopped = false;
  EXPECT_EQ(Decide(2 * kSec, 1 * kSec), GRPCR_HEDGE_NO_DEADLINE);
  EXPECT_EQ(Decide(2 * kSec, 3 * kSec), GRPCR_HEDGE_NO_TIME);
  req_.median_attempt_ns = 0;
  EXPECT_EQ(Decide(2 * kSec, 3 * kSec), GRPCR_HEDGE_NO_BREAKER);
  EXPECT_EQ(BudgetSnap().denied_total, 0u);
  req_.breaker = nullptr;
  req_.ticket = nullptr;
  EXPECT_EQ(Decide(2 * kSec, 3 * kSec), GRPCR_HEDGE_NO_BUDGET);
  EXPECT_EQ(BudgetSnap().denied_total, 1u);
  grpcr_breaker_release(breaker_, &t, 2 * kSec);
}

// ---------------------------------------------------------------------------
// Which statuses end a hedged call.

TEST(HedgeFatalTest, ListedCodesAreNonFatalAndEveryOtherIsFatal) {
  grpcr_retry_policy p{};
  p.hedging.non_fatal_codes = GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kInternal);
  EXPECT_FALSE(grpcr_hedge_is_fatal(&p, kUnavailable));
  EXPECT_FALSE(grpcr_hedge_is_fatal(&p, kInternal));
  for (int code : {kOk, kCancelled, kUnknown, kInvalidArgument, kDeadlineExceeded, kUnauthenticated}) {
    EXPECT_TRUE(grpcr_hedge_is_fatal(&p, code)) << code;
  }
  int non_fatal = 0;
  for (int code = 0; code < GRPCR_STATUS_COUNT; code++) non_fatal += !grpcr_hedge_is_fatal(&p, code);
  EXPECT_EQ(non_fatal, 2);
}

TEST(HedgeFatalTest, OkIsFatalEvenIfItsBitIsSet) {
  grpcr_retry_policy p{};
  p.hedging.non_fatal_codes = 0xffffffffu;
  EXPECT_TRUE(grpcr_hedge_is_fatal(&p, kOk));
  EXPECT_FALSE(grpcr_hedge_is_fatal(&p, kUnavailable));
}

TEST(HedgeFatalTest, NoListMeansEveryStatusIsFatal) {
  grpcr_retry_policy p{};
  for (int code = 0; code < GRPCR_STATUS_COUNT; code++) EXPECT_TRUE(grpcr_hedge_is_fatal(&p, code)) << code;
}

TEST(HedgeFatalTest, CodesOutsideTheRangeAreFatal) {
  grpcr_retry_policy p{};
  p.hedging.non_fatal_codes = GRPCR_CODE_BIT(kUnavailable);
  for (int code : {-1, -14, 17, 31, 32, 46, 64, 1000, INT_MIN, INT_MAX}) {
    EXPECT_TRUE(grpcr_hedge_is_fatal(&p, code)) << code;
  }
}

// ---------------------------------------------------------------------------
// The adaptive delay's minimum window: ceil(10 / r), at least 20.

TEST(HedgeMinSamplesTest, TenCallsAboveTheQuantileAndNeverFewerThanTwenty) {
  struct Case {
    double r;
    uint32_t want;
  };
  for (Case c : {Case{0.05, 200}, Case{0.01, 1000}, Case{0.5, 20}, Case{0.9, 20}, Case{0.1, 100},
                 Case{0.02, 500}, Case{0.001, 10000}, Case{0.3, 34}, Case{0.45, 23}, Case{0.49, 21},
                 Case{0.51, 20}, Case{0.999, 20}, Case{1.0 / 1024, 10240},
                 Case{std::ldexp(1.0, -28), 2684354560u}}) {
    EXPECT_EQ(grpcr_hedge_min_samples(c.r), c.want) << c.r;
  }
}

TEST(HedgeMinSamplesTest, NoLoadOrATinyOneNeverHasEnough) {
  for (double r : {0.0, -0.0, -0.5, std::numeric_limits<double>::quiet_NaN(), std::ldexp(1.0, -29), 1e-12,
                   std::numeric_limits<double>::denorm_min()}) {
    EXPECT_EQ(grpcr_hedge_min_samples(r), UINT32_MAX) << r;
  }
}

// ---------------------------------------------------------------------------
// The delay before the next hedge.

TEST(HedgeDelayTest, FixedDelayIsTheConfiguredOneWithOrWithoutStats) {
  grpcr_retry_policy p{};
  p.hedging.enabled = true;
  p.hedging.delay_ns = 250 * kMs;
  int64_t d = -1;
  EXPECT_TRUE(grpcr_hedge_delay(&p, nullptr, 0, &d));
  EXPECT_EQ(d, 250 * kMs);
  grpcr_registry *reg = grpcr_registry_create();
  grpcr_channel_stats *ch = grpcr_registry_add(reg, "ch", "t");
  grpcr_method_stats *m = grpcr_stats_method(ch, "/a.A/M", 6);
  d = -1;
  EXPECT_TRUE(grpcr_hedge_delay(&p, m, 5 * kSec, &d));
  EXPECT_EQ(d, 250 * kMs);
  p.hedging.delay_ns = 0;  // A6's default: every attempt at once
  EXPECT_TRUE(grpcr_hedge_delay(&p, m, 5 * kSec, &d));
  EXPECT_EQ(d, 0);
  grpcr_registry_destroy(reg);
}

TEST(HedgeDelayTest, AdaptiveDelayIsUnknownWithoutAMethod) {
  grpcr_retry_policy p{};
  p.hedging.max_extra_load = 0.05;
  p.hedging.delay_ns = 250 * kMs;  // not used with maxExtraLoad
  int64_t d = -1;
  EXPECT_FALSE(grpcr_hedge_delay(&p, nullptr, 5 * kSec, &d));
  EXPECT_EQ(d, 0);
}

// r = 0.05: the latency at p95 of the window, once it holds 200 calls.
// 1 ms is in the bucket [983040, 1048575] ns, 50 ms in [46137344,
// 50331647]: the delay is the bucket's upper bound.
TEST(HedgeDelayTest, AdaptiveDelayIsTheQuantileOneMinusTheLoad) {
  grpcr_registry *reg = grpcr_registry_create();
  grpcr_channel_stats *ch = grpcr_registry_add(reg, "ch", "t");
  grpcr_method_stats *m = grpcr_stats_method(ch, "/echo.Echo/Say", 14);
  grpcr_retry_policy p{};
  p.max_attempts = 2;
  p.hedging.enabled = true;
  p.hedging.max_extra_load = 0.05;
  ASSERT_EQ(grpcr_hedge_min_samples(0.05), 200u);
  const int64_t t = 1 * kSec;
  for (int i = 0; i < 190; i++) grpcr_method_stats_on_hedged_ok(m, t, 1 * kMs);
  for (int i = 0; i < 9; i++) grpcr_method_stats_on_hedged_ok(m, t, 50 * kMs);
  int64_t d = -1;
  EXPECT_FALSE(grpcr_hedge_delay(&p, m, t, &d));  // 199 calls
  EXPECT_EQ(d, 0);
  grpcr_method_stats_on_hedged_ok(m, t, 50 * kMs);
  // 200 calls, rank ceil(0.95 * 200) = 190: the 190th is 1 ms.
  EXPECT_TRUE(grpcr_hedge_delay(&p, m, t + 100 * kMs, &d));
  EXPECT_EQ(d, 1048575);
  // 201 calls, rank ceil(190.95) = 191: 50 ms.
  grpcr_method_stats_on_hedged_ok(m, t, 50 * kMs);
  EXPECT_TRUE(grpcr_hedge_delay(&p, m, t + 200 * kMs, &d));
  EXPECT_EQ(d, 50331647);
  // The window forgets them: they are gone 10 s after their slice began.
  EXPECT_TRUE(grpcr_hedge_delay(&p, m, 9900 * kMs, &d));
  EXPECT_EQ(d, 50331647);
  EXPECT_FALSE(grpcr_hedge_delay(&p, m, 10 * kSec, &d));
  EXPECT_EQ(d, 0);
  grpcr_registry_destroy(reg);
}

}  // namespace
