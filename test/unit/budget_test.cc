// The retry budget, driven by a fake clock: every time is an explicit
// nanosecond value, so window edges are tested exactly.
#include "grpcr/budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "core_internal.h"
#include "grpcr/retry.h"

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;

grpcr_budget_config Config(double ratio, double floor_per_s, int64_t window) {
  grpcr_budget_config c;
  c.ratio = ratio;
  c.min_retries_per_second = floor_per_s;
  c.window_ns = window;
  return c;
}

grpcr_budget_snapshot Snap(grpcr_budget *b, int64_t now) {
  grpcr_budget_snapshot s;
  grpcr_budget_snapshot_get(b, now, &s);
  return s;
}

TEST(BudgetTest, DefaultConfigIsTenPercentTenPerSecondOverTenSeconds) {
  grpcr_budget_config c = grpcr_budget_config_default();
  EXPECT_DOUBLE_EQ(c.ratio, 0.1);
  EXPECT_DOUBLE_EQ(c.min_retries_per_second, 10.0);
  EXPECT_EQ(c.window_ns, 10 * kSec);
}

TEST(BudgetTest, CreateRejectsInvalidConfig) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(grpcr_budget_create(nullptr, 0), nullptr);
  for (grpcr_budget_config c :
       {Config(-0.1, 10, 10 * kSec), Config(nan, 10, 10 * kSec),
        Config(inf, 10, 10 * kSec), Config(0.1, -1, 10 * kSec),
        Config(0.1, nan, 10 * kSec), Config(0.1, 10, 0),
        Config(0.1, 10, -kSec)}) {
    EXPECT_EQ(grpcr_budget_create(&c, 0), nullptr)
        << c.ratio << " " << c.min_retries_per_second << " " << c.window_ns;
  }
  grpcr_budget_config zero = Config(0, 0, 1);
  grpcr_budget *b = grpcr_budget_create(&zero, 0);
  EXPECT_NE(b, nullptr);
  grpcr_budget_destroy(b);
}

// A retry storm: every call fails and would retry up to 3 times (maxAttempts
// 4). Over N requests inside one window the budget must allow exactly
// floor(ratio * N + floor_per_s * window_s) retries.
TEST(BudgetTest, AllFailingRequestsGetRatioTimesRequestsPlusFloor) {
  grpcr_budget_config c = grpcr_budget_config_default();
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  ASSERT_NE(b, nullptr);
  const int n = 10000;
  uint64_t asks = 0, allowed = 0;
  for (int i = 0; i < n; i++) {
    const int64_t now = i * 100000;  // 100 us apart: all within 1 s
    grpcr_budget_on_request(b, now);
    for (int retry = 0; retry < 3; retry++) {
      asks++;
      if (!grpcr_budget_try_retry(b, now)) break;
      allowed++;
    }
  }
  const double expected = std::floor(0.1 * n + 10.0 * 10.0);  // 1100
  EXPECT_NEAR((double)allowed, expected, 1.0);
  EXPECT_EQ(allowed, 1100u);
  grpcr_budget_snapshot s = Snap(b, (n - 1) * 100000);
  EXPECT_EQ(s.requests_in_window, 10000u);
  EXPECT_EQ(s.retries_in_window, 1100u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 1100.0);
  EXPECT_DOUBLE_EQ(s.utilisation, 1.0);
  EXPECT_EQ(s.requests_total, 10000u);
  EXPECT_EQ(s.retries_total, 1100u);
  EXPECT_EQ(s.denied_total, asks - 1100u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, FloorAloneAllowsRetriesOnAQuietChannel) {
  grpcr_budget_config c = Config(0.1, 10, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 100; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, 0)) << i;
  EXPECT_FALSE(grpcr_budget_try_retry(b, 0));
  grpcr_budget_destroy(b);
}

// A retry allowed and then never made (its call cancelled in the backoff,
// or stopped by the breaker) is given back: the window and the total count
// only retries made, and the room is there for another call.
TEST(BudgetTest, RefundedRetryLeavesTheWindowAndTheTotal) {
  grpcr_budget_config c = Config(0, 0.2, 10 * kSec);  // 2 retries per window
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(grpcr_budget_try_retry(b, 1 * kSec));
  ASSERT_TRUE(grpcr_budget_try_retry(b, 2 * kSec));
  EXPECT_FALSE(grpcr_budget_try_retry(b, 3 * kSec));
  grpcr_budget_refund_retry(b, 4 * kSec);
  grpcr_budget_snapshot s = Snap(b, 4 * kSec);
  EXPECT_EQ(1u, s.retries_in_window);
  EXPECT_EQ(1u, s.retries_total);
  EXPECT_EQ(1u, s.denied_total);
  EXPECT_TRUE(grpcr_budget_try_retry(b, 5 * kSec));
  // The newest retry's bucket gives it back: at 11.5 s the 1 s retry has
  // left the window and the 5 s one was refunded; had the refund taken the
  // oldest, the 5 s one would still count.
  grpcr_budget_refund_retry(b, 6 * kSec);
  EXPECT_EQ(1u, Snap(b, 6 * kSec).retries_in_window);
  EXPECT_EQ(0u, Snap(b, 11500 * kMs).retries_in_window);
  EXPECT_EQ(1u, Snap(b, 11500 * kMs).retries_total);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ZeroRatioAndZeroFloorDenyEveryRetry) {
  grpcr_budget_config c = Config(0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 1000; i++) grpcr_budget_on_request(b, 0);
  EXPECT_FALSE(grpcr_budget_try_retry(b, 0));
  EXPECT_EQ(Snap(b, 0).denied_total, 1u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, DenialIsCountedAndSpendsNothing) {
  grpcr_budget_config c = Config(0.5, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  grpcr_budget_on_request(b, 0);
  grpcr_budget_on_request(b, 0);
  EXPECT_TRUE(grpcr_budget_try_retry(b, 0));
  EXPECT_FALSE(grpcr_budget_try_retry(b, 0));
  EXPECT_FALSE(grpcr_budget_try_retry(b, 0));
  grpcr_budget_snapshot s = Snap(b, 0);
  EXPECT_EQ(s.retries_in_window, 1u);
  EXPECT_EQ(s.retries_total, 1u);
  EXPECT_EQ(s.denied_total, 2u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, RefillsOnceTheWindowHasPassed) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);  // floor: 10 retries
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 10; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, 0));
  ASSERT_FALSE(grpcr_budget_try_retry(b, 0));
  ASSERT_FALSE(grpcr_budget_try_retry(b, 10 * kSec - 1));
  EXPECT_TRUE(grpcr_budget_try_retry(b, 10 * kSec));
  grpcr_budget_snapshot s = Snap(b, 10 * kSec);
  EXPECT_EQ(s.retries_in_window, 1u);
  EXPECT_EQ(s.retries_total, 11u);
  grpcr_budget_destroy(b);
}

// 10 s window in 20 buckets of 500 ms: counts leave one bucket at a time.
TEST(BudgetTest, OldBucketsExpireGraduallyAsTheWindowSlides) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 50; i++) grpcr_budget_on_request(b, 5 * kSec);
  for (int i = 0; i < 25; i++) grpcr_budget_on_request(b, 9 * kSec);
  EXPECT_EQ(Snap(b, 10 * kSec - 1).requests_in_window, 175u);
  EXPECT_EQ(Snap(b, 10 * kSec).requests_in_window, 75u);
  EXPECT_EQ(Snap(b, 15 * kSec - 1).requests_in_window, 75u);
  EXPECT_EQ(Snap(b, 15 * kSec).requests_in_window, 25u);
  EXPECT_DOUBLE_EQ(Snap(b, 15 * kSec).allowed_in_window, 25.0);
  EXPECT_EQ(Snap(b, 19 * kSec).requests_in_window, 0u);
  EXPECT_EQ(Snap(b, 19 * kSec).requests_total, 175u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, AJumpFarBeyondTheWindowClearsEverything) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  grpcr_budget_on_request(b, 0);
  ASSERT_TRUE(grpcr_budget_try_retry(b, 0));
  grpcr_budget_snapshot s = Snap(b, INT64_MAX);
  EXPECT_EQ(s.requests_in_window, 0u);
  EXPECT_EQ(s.retries_in_window, 0u);
  EXPECT_EQ(s.requests_total, 1u);
  grpcr_budget_destroy(b);
}

// Threads read the clock before they lock, so a slightly older now_ns can
// arrive after a newer one; it is counted, in the newest bucket.
TEST(BudgetTest, AnOlderTimestampCountsInTheNewestBucket) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  grpcr_budget_on_request(b, 5 * kSec);
  grpcr_budget_on_request(b, 4 * kSec);
  EXPECT_EQ(Snap(b, 5 * kSec).requests_in_window, 2u);
  EXPECT_EQ(Snap(b, 15 * kSec - 1).requests_in_window, 2u);
  EXPECT_EQ(Snap(b, 15 * kSec).requests_in_window, 0u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, NegativeTimesAreOrdinaryTimes) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, -20 * kSec);
  grpcr_budget_on_request(b, -20 * kSec);
  EXPECT_EQ(Snap(b, -10 * kSec - 1).requests_in_window, 1u);
  EXPECT_EQ(Snap(b, -10 * kSec).requests_in_window, 0u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, UtilisationIsRetriesOverAllowed) {
  grpcr_budget_config c = Config(0.1, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  EXPECT_DOUBLE_EQ(Snap(b, 0).utilisation, 0.0);  // nothing allowed, none used
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, 0));
  EXPECT_DOUBLE_EQ(Snap(b, 0).utilisation, 0.5);
  grpcr_budget_destroy(b);
}

// Requests made early leave the window before the retries they paid for.
TEST(BudgetTest, UtilisationIsOneWhenRetriesOutliveTheirRequests) {
  grpcr_budget_config c = Config(0.1, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, 9 * kSec));
  grpcr_budget_snapshot s = Snap(b, 10 * kSec);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 0.0);
  EXPECT_EQ(s.retries_in_window, 5u);
  EXPECT_DOUBLE_EQ(s.utilisation, 1.0);
  grpcr_budget_destroy(b);
}

grpcr_retry_policy RetryPolicy() {
  grpcr_retry_policy p{};
  p.max_attempts = 4;
  p.backoff.initial_backoff_ns = 100 * kMs;
  p.backoff.max_backoff_ns = 10 * kSec;
  p.backoff.multiplier = 2.0;
  p.backoff.jitter = GRPCR_JITTER_NONE;
  p.retryable_codes = GRPCR_CODE_BIT(14);  // UNAVAILABLE
  return p;
}

TEST(BudgetTest, SuccessesAndNonRetryableFailuresSpendNoBudget) {
  grpcr_budget_config c = Config(0.1, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  grpcr_retry_policy p = RetryPolicy();
  for (int i = 0; i < 1000; i++) {
    grpcr_budget_on_request(b, 0);
    grpcr_backoff bo;
    grpcr_backoff_init(&bo, &p.backoff, (uint64_t)i);
    grpcr_attempt_outcome o{};
    o.status = (i % 2 == 0) ? 0 : 3;  // OK, INVALID_ARGUMENT
    o.attempts_done = 1;
    int64_t delay = -1;
    grpcr_retry_verdict v =
        grpcr_retry_decide(&p, &bo, b, &o, 0, GRPCR_NO_DEADLINE, &delay);
    ASSERT_EQ(v, i % 2 == 0 ? GRPCR_RETRY_NO_SUCCESS : GRPCR_RETRY_NO_STATUS);
  }
  grpcr_budget_snapshot s = Snap(b, 0);
  EXPECT_EQ(s.requests_total, 1000u);
  EXPECT_EQ(s.retries_total, 0u);
  EXPECT_EQ(s.denied_total, 0u);
  EXPECT_EQ(s.retries_in_window, 0u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, AcquireWithTheSameKeyAndConfigSharesOneBudget) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *a = grpcr_budget_acquire("dns:///svc", &c, 0);
  grpcr_budget *b = grpcr_budget_acquire("dns:///svc", &c, 0);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  grpcr_budget_on_request(a, 0);
  EXPECT_EQ(Snap(b, 0).requests_total, 1u);
  grpcr_budget_release(a);
  // b still holds a reference: the budget is alive and keeps its counts.
  grpcr_budget_on_request(b, 0);
  EXPECT_EQ(Snap(b, 0).requests_total, 2u);
  grpcr_budget_release(b);
  // The last release destroyed it: the next acquire starts from zero.
  grpcr_budget *fresh = grpcr_budget_acquire("dns:///svc", &c, 0);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(Snap(fresh, 0).requests_total, 0u);
  grpcr_budget_release(fresh);
}

TEST(BudgetTest, AcquireWithADifferentConfigOrKeyIsDistinct) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget_config other_ratio = Config(0.2, 1, 10 * kSec);
  grpcr_budget_config other_floor = Config(0.1, 2, 10 * kSec);
  grpcr_budget_config other_window = Config(0.1, 1, 20 * kSec);
  grpcr_budget *a = grpcr_budget_acquire("t", &c, 0);
  grpcr_budget *b = grpcr_budget_acquire("t", &other_ratio, 0);
  grpcr_budget *d = grpcr_budget_acquire("t", &other_floor, 0);
  grpcr_budget *e = grpcr_budget_acquire("t", &other_window, 0);
  grpcr_budget *f = grpcr_budget_acquire("u", &c, 0);
  std::vector<grpcr_budget *> all = {a, b, d, e, f};
  for (size_t i = 0; i < all.size(); i++) {
    ASSERT_NE(all[i], nullptr);
    for (size_t j = i + 1; j < all.size(); j++) EXPECT_NE(all[i], all[j]);
  }
  for (grpcr_budget *x : all) grpcr_budget_release(x);
}

TEST(BudgetTest, AcquireRejectsANullKeyAndInvalidConfig) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget_config bad = Config(-1, 1, 10 * kSec);
  EXPECT_EQ(grpcr_budget_acquire(nullptr, &c, 0), nullptr);
  EXPECT_EQ(grpcr_budget_acquire("t", &bad, 0), nullptr);
  EXPECT_EQ(grpcr_budget_acquire("t", nullptr, 0), nullptr);
}

// Mixing the two APIs must not free a budget someone else still holds.
TEST(BudgetTest, DestroyOnAnAcquiredBudgetDropsOneReference) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *a = grpcr_budget_acquire("mixed", &c, 0);
  grpcr_budget *b = grpcr_budget_acquire("mixed", &c, 0);
  grpcr_budget_destroy(a);
  grpcr_budget_on_request(b, 0);  // still alive (ASan would catch a free)
  EXPECT_EQ(Snap(b, 0).requests_total, 1u);
  grpcr_budget_release(b);
}

TEST(BudgetTest, ReleaseOnACreatedBudgetDestroysIt) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  ASSERT_NE(b, nullptr);
  grpcr_budget_release(b);  // LeakSanitizer checks that it was freed
  grpcr_budget_release(nullptr);
  grpcr_budget_destroy(nullptr);
}

TEST(BudgetTest, ConcurrentAcquireAndReleaseKeepTheRefcount) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *keep = grpcr_budget_acquire("race", &c, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&c, keep] {
      for (int i = 0; i < 2000; i++) {
        grpcr_budget *b = grpcr_budget_acquire("race", &c, 0);
        ASSERT_EQ(b, keep);
        grpcr_budget_on_request(b, 0);
        grpcr_budget_release(b);
      }
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(Snap(keep, 0).requests_total, 16000u);
  grpcr_budget_release(keep);
}

// 8 threads x 100,000 operations, each a request and a retry ask, on one
// budget whose window slides (each thread has its own clock, so now_ns also
// arrives out of order). Totals must be exact.
TEST(BudgetTest, ManyThreadsHammeringOneBudgetKeepExactTotals) {
  grpcr_budget_config c = Config(0.1, 10, 1 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  constexpr int kThreads = 8, kOps = 100000;
  std::atomic<uint64_t> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([b, t, &allowed] {
      uint64_t mine = 0;
      for (int i = 0; i < kOps; i++) {
        const int64_t now = (int64_t)i * 20000 + t * 1000;  // 2 s in all
        grpcr_budget_on_request(b, now);
        mine += grpcr_budget_try_retry(b, now);
      }
      allowed += mine;
    });
  }
  for (auto &th : threads) th.join();
  grpcr_budget_snapshot s = Snap(b, (int64_t)kOps * 20000);
  EXPECT_EQ(s.requests_total, (uint64_t)kThreads * kOps);
  EXPECT_EQ(s.retries_total, allowed.load());
  EXPECT_EQ(s.retries_total + s.denied_total, (uint64_t)kThreads * kOps);
  EXPECT_GT(s.retries_total, 0u);
  EXPECT_GT(s.denied_total, 0u);
  grpcr_budget_destroy(b);
}

// ---- Reconfiguration, ownership, absorb ------------------------------------

TEST(BudgetTest, ReconfigureRatioKeepsTheWindowAndAllowsExactlyTheDifference) {
  grpcr_budget_config c = Config(0.1, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, 0));

  grpcr_budget_config wider = Config(0.5, 0, 10 * kSec);
  ASSERT_EQ(grpcr_budget_reconfigure(b, &wider, 1 * kSec), 0);
  grpcr_budget_snapshot s = Snap(b, 1 * kSec);
  EXPECT_EQ(s.requests_in_window, 100u);
  EXPECT_EQ(s.retries_in_window, 5u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 50.0);
  EXPECT_EQ(s.reconfigured_total, 1u);
  // retries + 1 <= 0.5 * 100 + 0: up to 50 in the window, so 45 more.
  int more = 0;
  while (more < 1000 && grpcr_budget_try_retry(b, 1 * kSec)) more++;
  EXPECT_EQ(more, 45);
  s = Snap(b, 1 * kSec);
  EXPECT_EQ(s.retries_in_window, 50u);
  EXPECT_EQ(s.denied_total, 1u);
  // Totals carry on.
  grpcr_budget_on_request(b, 1 * kSec);
  s = Snap(b, 1 * kSec);
  EXPECT_EQ(s.requests_total, 101u);
  EXPECT_EQ(s.retries_total, 50u);
  EXPECT_EQ(s.requests_in_window, 101u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ReconfigureFloorAppliesToTheKeptWindow) {
  grpcr_budget_config c = Config(0.1, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 10; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, 0));
  ASSERT_FALSE(grpcr_budget_try_retry(b, 0));
  // Floor 2/s over 10 s: 20 more on top of 0.1 * 100.
  grpcr_budget_config floor = Config(0.1, 2, 10 * kSec);
  ASSERT_EQ(grpcr_budget_reconfigure(b, &floor, 0), 0);
  EXPECT_DOUBLE_EQ(Snap(b, 0).allowed_in_window, 30.0);
  int more = 0;
  while (more < 1000 && grpcr_budget_try_retry(b, 0)) more++;
  EXPECT_EQ(more, 20);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ReconfigureToAShorterWindowKeepsTheCountsInsideIt) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 10; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 20; i++) grpcr_budget_on_request(b, 3 * kSec);
  for (int i = 0; i < 30; i++) grpcr_budget_on_request(b, 6 * kSec);
  ASSERT_TRUE(grpcr_budget_try_retry(b, 6 * kSec));
  for (int i = 0; i < 40; i++) grpcr_budget_on_request(b, 9 * kSec);
  ASSERT_TRUE(grpcr_budget_try_retry(b, 9 * kSec));

  // 5 s window (250 ms buckets) at 9 s: bucket starts from 4.25 s on. The
  // buckets that start at 0 and 3 s are dropped; 6 s and 9 s are kept.
  grpcr_budget_config shorter = Config(1.0, 0, 5 * kSec);
  ASSERT_EQ(grpcr_budget_reconfigure(b, &shorter, 9 * kSec), 0);
  grpcr_budget_snapshot s = Snap(b, 9 * kSec);
  EXPECT_EQ(s.requests_in_window, 70u);
  EXPECT_EQ(s.retries_in_window, 2u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 70.0);
  EXPECT_EQ(s.requests_total, 100u);
  EXPECT_EQ(s.retries_total, 2u);
  EXPECT_EQ(s.reconfigured_total, 1u);
  // And they expire by the new window: the 6 s bucket at 11 s.
  EXPECT_EQ(Snap(b, 11 * kSec - 1).requests_in_window, 70u);
  EXPECT_EQ(Snap(b, 11 * kSec).requests_in_window, 40u);
  EXPECT_EQ(Snap(b, 11 * kSec).retries_in_window, 1u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ReconfigureToALongerWindowKeepsEveryCount) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 10; i++) grpcr_budget_on_request(b, 0);
  for (int i = 0; i < 20; i++) grpcr_budget_on_request(b, 9 * kSec);
  grpcr_budget_config longer = Config(1.0, 0, 20 * kSec);
  ASSERT_EQ(grpcr_budget_reconfigure(b, &longer, 9 * kSec), 0);
  EXPECT_EQ(Snap(b, 9 * kSec).requests_in_window, 30u);
  // The requests at 0 now last the new 20 s instead of 10 s.
  EXPECT_EQ(Snap(b, 20 * kSec - 1).requests_in_window, 30u);
  EXPECT_EQ(Snap(b, 20 * kSec).requests_in_window, 20u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ReconfigureWithAnIdenticalConfigIsNotCounted) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  grpcr_budget_on_request(b, 0);
  grpcr_budget_config same = c;
  EXPECT_EQ(grpcr_budget_reconfigure(b, &same, 1 * kSec), 0);
  grpcr_budget_snapshot s = Snap(b, 1 * kSec);
  EXPECT_EQ(s.reconfigured_total, 0u);
  EXPECT_EQ(s.requests_in_window, 1u);
  grpcr_budget_config other = Config(0.2, 1, 10 * kSec);
  EXPECT_EQ(grpcr_budget_reconfigure(b, &other, 1 * kSec), 0);
  EXPECT_EQ(grpcr_budget_reconfigure(b, &other, 1 * kSec), 0);
  EXPECT_EQ(Snap(b, 1 * kSec).reconfigured_total, 1u);
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ReconfigureRejectsAnInvalidConfigAndChangesNothing) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (grpcr_budget_config bad :
       {Config(-0.1, 1, 10 * kSec), Config(nan, 1, 10 * kSec),
        Config(0.5, -1, 10 * kSec), Config(0.5, 1, 0),
        Config(0.5, 1, -kSec)}) {
    EXPECT_EQ(grpcr_budget_reconfigure(b, &bad, 1 * kSec), GRPCR_EINVAL);
  }
  EXPECT_EQ(grpcr_budget_reconfigure(b, nullptr, 1 * kSec), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_budget_reconfigure(nullptr, &c, 1 * kSec), GRPCR_EINVAL);
  grpcr_budget_snapshot s = Snap(b, 1 * kSec);
  EXPECT_EQ(s.reconfigured_total, 0u);
  EXPECT_EQ(s.requests_in_window, 100u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 20.0);  // 0.1 * 100 + 1 * 10
  grpcr_budget_destroy(b);
}

TEST(BudgetTest, ReconfigureRejectsASharedBudget) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *b = grpcr_budget_acquire("reconfigure-shared", &c, 0);
  ASSERT_NE(b, nullptr);
  grpcr_budget_on_request(b, 0);
  grpcr_budget_config other = Config(0.5, 1, 10 * kSec);
  EXPECT_EQ(grpcr_budget_reconfigure(b, &other, 0), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_budget_reconfigure(b, &c, 0), GRPCR_EINVAL);
  grpcr_budget_snapshot s = Snap(b, 0);
  EXPECT_EQ(s.reconfigured_total, 0u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 10.1);  // 0.1 * 1 + 1 * 10
  // Its settings are still its identity: the same acquire finds it.
  grpcr_budget *again = grpcr_budget_acquire("reconfigure-shared", &c, 0);
  EXPECT_EQ(again, b);
  grpcr_budget_release(again);
  grpcr_budget_release(b);
}

TEST(BudgetTest, RefThenTwoDestroysFreesOnTheSecond) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget *b = grpcr_budget_create(&c, 0);
  ASSERT_NE(b, nullptr);
  grpcr_budget_ref(b);
  grpcr_budget_destroy(b);
  grpcr_budget_on_request(b, 0);  // still alive
  EXPECT_EQ(Snap(b, 0).requests_total, 1u);
  grpcr_budget_destroy(b);  // freed (checked by the sanitizer builds)
}

TEST(BudgetTest, ConfigEqualComparesEveryField) {
  const grpcr_budget_config a = Config(0.1, 10, 10 * kSec);
  grpcr_budget_config same = a;
  EXPECT_TRUE(grpcr_budget_config_equal(&a, &same));
  const grpcr_budget_config d = grpcr_budget_config_default();
  EXPECT_TRUE(grpcr_budget_config_equal(&a, &d));
  for (grpcr_budget_config other :
       {Config(0.2, 10, 10 * kSec), Config(0.1, 11, 10 * kSec),
        Config(0.1, 10, 10 * kSec + 1)}) {
    EXPECT_FALSE(grpcr_budget_config_equal(&a, &other));
    EXPECT_FALSE(grpcr_budget_config_equal(&other, &a));
  }
}

TEST(BudgetTest, AbsorbAddsTheOtherBudgetsWindowCountsButNotItsTotals) {
  grpcr_budget_config c = Config(1.0, 0, 10 * kSec);
  grpcr_budget *dst = grpcr_budget_create(&c, 0);
  grpcr_budget *src = grpcr_budget_create(&c, 0);
  for (int i = 0; i < 3; i++) grpcr_budget_on_request(dst, 0);
  for (int i = 0; i < 5; i++) grpcr_budget_on_request(src, 1 * kSec);
  ASSERT_TRUE(grpcr_budget_try_retry(src, 1 * kSec));
  ASSERT_TRUE(grpcr_budget_try_retry(src, 1 * kSec));

  grpcr_budget_absorb(dst, src, 2 * kSec);
  grpcr_budget_snapshot s = Snap(dst, 2 * kSec);
  EXPECT_EQ(s.requests_in_window, 8u);
  EXPECT_EQ(s.retries_in_window, 2u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 8.0);
  EXPECT_EQ(s.requests_total, 3u);
  EXPECT_EQ(s.retries_total, 0u);
  // src is unchanged.
  grpcr_budget_snapshot from = Snap(src, 2 * kSec);
  EXPECT_EQ(from.requests_in_window, 5u);
  EXPECT_EQ(from.retries_in_window, 2u);
  EXPECT_EQ(from.requests_total, 5u);
  // The absorbed counts leave with the bucket of their start time (1 s).
  EXPECT_EQ(Snap(dst, 10 * kSec).requests_in_window, 5u);
  EXPECT_EQ(Snap(dst, 11 * kSec - 1).requests_in_window, 5u);
  EXPECT_EQ(Snap(dst, 11 * kSec).requests_in_window, 0u);
  EXPECT_EQ(Snap(dst, 11 * kSec).retries_in_window, 0u);

  // Absorbing itself or NULL does nothing.
  grpcr_budget_absorb(src, src, 2 * kSec);
  grpcr_budget_absorb(src, nullptr, 2 * kSec);
  grpcr_budget_absorb(nullptr, src, 2 * kSec);
  EXPECT_EQ(Snap(src, 2 * kSec).requests_in_window, 5u);
  grpcr_budget_destroy(src);
  grpcr_budget_destroy(dst);
}

TEST(BudgetTest, AcquireCreatedIsTrueOnlyForTheFirstAcquireOfAKeyAndConfig) {
  grpcr_budget_config c = Config(0.1, 1, 10 * kSec);
  grpcr_budget_config other = Config(0.2, 1, 10 * kSec);
  bool created = false;
  grpcr_budget *a = grpcr_budget_acquire_created("created-key", &c, 0, &created);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(created);
  grpcr_budget *b = grpcr_budget_acquire_created("created-key", &c, 0, &created);
  EXPECT_EQ(b, a);
  EXPECT_FALSE(created);
  grpcr_budget *d =
      grpcr_budget_acquire_created("created-key", &other, 0, &created);
  EXPECT_NE(d, a);
  EXPECT_TRUE(created);
  grpcr_budget *e =
      grpcr_budget_acquire_created("created-key-2", &c, 0, &created);
  EXPECT_NE(e, a);
  EXPECT_TRUE(created);
  // created may be NULL; failures report false.
  grpcr_budget *f = grpcr_budget_acquire_created("created-key", &c, 0, nullptr);
  EXPECT_EQ(f, a);
  created = true;
  EXPECT_EQ(grpcr_budget_acquire_created(nullptr, &c, 0, &created), nullptr);
  EXPECT_FALSE(created);
  for (grpcr_budget *x : {a, b, d, e, f}) grpcr_budget_release(x);
  // Once the last reference is gone, the next acquire creates it anew.
  grpcr_budget *g = grpcr_budget_acquire_created("created-key", &c, 0, &created);
  EXPECT_TRUE(created);
  grpcr_budget_release(g);
}

}  // namespace
