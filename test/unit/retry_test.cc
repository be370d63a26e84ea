// The retry decision: each check in its documented order, with a fake clock
// and NONE jitter so every delay is exact.
#include "grpcr/retry.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "grpcr/common.h"
#include "grpcr/status.h"

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kOk = 0, kInvalidArgument = 3, kDeadlineExceeded = 4,
              kResourceExhausted = 8,
              kUnavailable = 14;

class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.max_attempts = 4;
    policy_.backoff.initial_backoff_ns = 100 * kMs;
    policy_.backoff.max_backoff_ns = 10 * kSec;
    policy_.backoff.multiplier = 2.0;
    policy_.backoff.jitter = GRPCR_JITTER_NONE;
    policy_.retryable_codes =
        GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kResourceExhausted);
    grpcr_backoff_init(&backoff_, &policy_.backoff, 1);
  }
  void TearDown() override {
    if (budget_ != nullptr) grpcr_budget_destroy(budget_);
  }

  // A budget with exactly `floor_retries` retries available and no ratio.
  grpcr_budget *Budget(double floor_retries) {
    grpcr_budget_config c;
    c.ratio = 0;
    c.min_retries_per_second = floor_retries / 10.0;
    c.window_ns = 10 * kSec;
    budget_ = grpcr_budget_create(&c, 0);
    return budget_;
  }

  static grpcr_attempt_outcome Failed(int status, uint32_t attempts_done) {
    grpcr_attempt_outcome o{};
    o.status = status;
    o.attempts_done = attempts_done;
    o.committed = false;
    o.pushback = GRPCR_PUSHBACK_NONE;
    return o;
  }

  grpcr_retry_verdict Decide(const grpcr_attempt_outcome &o, int64_t now,
                             int64_t deadline) {
    delay_ = -1;
    return grpcr_retry_decide(&policy_, &backoff_, budget_, &o, now, deadline,
                              &delay_);
  }

  grpcr_budget_snapshot Snap() {
    grpcr_budget_snapshot s;
    grpcr_budget_snapshot_get(budget_, 0, &s);
    return s;
  }

  grpcr_retry_policy policy_{};
  grpcr_backoff backoff_{};
  grpcr_budget *budget_ = nullptr;
  int64_t delay_ = -1;
};

TEST_F(RetryTest, RetryableFailureRetriesAfterTheBackoff) {
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 100 * kMs);
  EXPECT_EQ(Decide(Failed(kResourceExhausted, 2), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 200 * kMs);
  EXPECT_EQ(Decide(Failed(kUnavailable, 3), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 400 * kMs);
}

TEST_F(RetryTest, SuccessIsNeverRetried) {
  EXPECT_EQ(Decide(Failed(kOk, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_SUCCESS);
  EXPECT_EQ(delay_, 0);
}

TEST_F(RetryTest, NonRetryableStatusIsNotRetried) {
  EXPECT_EQ(Decide(Failed(kInvalidArgument, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_STATUS);
}

TEST_F(RetryTest, StatusOutsideTheCodeRangeIsNotRetried) {
  policy_.retryable_codes = 0xffffffffu;
  EXPECT_EQ(Decide(Failed(-1, 1), 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_STATUS);
  EXPECT_EQ(Decide(Failed(99, 1), 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_STATUS);
}

TEST_F(RetryTest, CommittedCallIsNotRetried) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.committed = true;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_COMMITTED);
}

TEST_F(RetryTest, StopsOnceMaxAttemptsHaveBeenMade) {
  EXPECT_EQ(Decide(Failed(kUnavailable, 3), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(Decide(Failed(kUnavailable, 4), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_ATTEMPTS);
  EXPECT_EQ(Decide(Failed(kUnavailable, 5), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_ATTEMPTS);
}

TEST_F(RetryTest, MaxAttemptsOneNeverRetries) {
  policy_.max_attempts = 1;
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_ATTEMPTS);
}

TEST_F(RetryTest, MaxAttemptsMayExceedGrpcsCapOfFive) {
  policy_.max_attempts = 10;
  policy_.backoff.max_backoff_ns = 100 * kMs;
  grpcr_backoff_init(&backoff_, &policy_.backoff, 1);
  for (uint32_t n = 1; n < 10; n++) {
    ASSERT_EQ(Decide(Failed(kUnavailable, n), 0, GRPCR_NO_DEADLINE),
              GRPCR_RETRY_YES)
        << n;
  }
  EXPECT_EQ(Decide(Failed(kUnavailable, 10), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_ATTEMPTS);
}

TEST_F(RetryTest, PushbackStopEndsRetrying) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.pushback = GRPCR_PUSHBACK_STOP;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_PUSHBACK);
}

TEST_F(RetryTest, NegativePushbackDelayIsTreatedAsStop) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.pushback = GRPCR_PUSHBACK_DELAY;
  o.pushback_ns = -1;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_PUSHBACK);
}

TEST_F(RetryTest, PushbackZeroRetriesAtOnce) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.pushback = GRPCR_PUSHBACK_DELAY;
  o.pushback_ns = 0;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 0);
}

TEST_F(RetryTest, PushbackDelayReplacesTheBackoffAndRestartsIt) {
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(Decide(Failed(kUnavailable, 2), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 200 * kMs);
  grpcr_attempt_outcome o = Failed(kUnavailable, 3);
  o.pushback = GRPCR_PUSHBACK_DELAY;
  o.pushback_ns = 1500 * kMs;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 1500 * kMs);
  policy_.max_attempts = 10;
  EXPECT_EQ(Decide(Failed(kUnavailable, 4), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 100 * kMs);
}

TEST_F(RetryTest, RetryPastTheDeadlineEndsAtOnceAndSpendsNoBudget) {
  Budget(10);
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, 100 * kMs - 1),
            GRPCR_RETRY_NO_DEADLINE);
  EXPECT_EQ(delay_, 0);
  grpcr_budget_snapshot s = Snap();
  EXPECT_EQ(s.retries_total, 0u);
  EXPECT_EQ(s.denied_total, 0u);
}

TEST_F(RetryTest, RetryStartingExactlyAtTheDeadlineIsAllowed) {
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 5 * kSec, 5 * kSec + 100 * kMs),
            GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 100 * kMs);
}

TEST_F(RetryTest, DeadlineAlreadyPassedEndsTheCall) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.pushback = GRPCR_PUSHBACK_DELAY;
  o.pushback_ns = 0;
  EXPECT_EQ(Decide(o, 5 * kSec, 5 * kSec - 1), GRPCR_RETRY_NO_DEADLINE);
}

// UBSan turns any signed overflow in the deadline arithmetic into a failure.
TEST_F(RetryTest, DeadlineArithmeticNeverOverflows) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.pushback = GRPCR_PUSHBACK_DELAY;
  o.pushback_ns = INT64_MAX;
  EXPECT_EQ(Decide(o, INT64_MAX - 10, GRPCR_NO_DEADLINE), GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, INT64_MAX);
  EXPECT_EQ(Decide(o, INT64_MAX - 10, INT64_MAX - 1), GRPCR_RETRY_NO_DEADLINE);
  EXPECT_EQ(Decide(o, INT64_MIN, -2), GRPCR_RETRY_NO_DEADLINE);
  EXPECT_EQ(Decide(o, INT64_MIN, -1), GRPCR_RETRY_YES);
  o.pushback_ns = 10;
  EXPECT_EQ(Decide(o, INT64_MIN, INT64_MAX - 1), GRPCR_RETRY_YES);
  EXPECT_EQ(Decide(o, -1, INT64_MAX - 1), GRPCR_RETRY_YES);
}

TEST_F(RetryTest, BudgetIsAskedLastAndItsDenialIsReported) {
  Budget(1);
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_YES);
  EXPECT_EQ(Decide(Failed(kUnavailable, 2), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_BUDGET);
  EXPECT_EQ(delay_, 0);
  grpcr_budget_snapshot s = Snap();
  EXPECT_EQ(s.retries_total, 1u);
  EXPECT_EQ(s.denied_total, 1u);
}

// With the budget exhausted, every earlier "no" must win over NO_BUDGET and
// leave the denial count alone.
TEST_F(RetryTest, EarlierChecksNeverTouchTheBudget) {
  Budget(0);
  grpcr_attempt_outcome committed = Failed(kUnavailable, 1);
  committed.committed = true;
  grpcr_attempt_outcome stop = Failed(kUnavailable, 1);
  stop.pushback = GRPCR_PUSHBACK_STOP;
  EXPECT_EQ(Decide(Failed(kOk, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_SUCCESS);
  EXPECT_EQ(Decide(Failed(kInvalidArgument, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_STATUS);
  EXPECT_EQ(Decide(committed, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_COMMITTED);
  EXPECT_EQ(Decide(Failed(kUnavailable, 4), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_ATTEMPTS);
  EXPECT_EQ(Decide(stop, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_PUSHBACK);
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, 1), GRPCR_RETRY_NO_DEADLINE);
  EXPECT_EQ(Snap().denied_total, 0u);
  EXPECT_EQ(Decide(Failed(kUnavailable, 1), 0, GRPCR_NO_DEADLINE),
            GRPCR_RETRY_NO_BUDGET);
  EXPECT_EQ(Snap().denied_total, 1u);
}

// Each pair has both conditions true; the one documented first must win.
TEST_F(RetryTest, ChecksRunInTheDocumentedOrder) {
  grpcr_attempt_outcome o = Failed(kOk, 9);
  o.committed = true;
  o.pushback = GRPCR_PUSHBACK_STOP;
  EXPECT_EQ(Decide(o, 0, 0), GRPCR_RETRY_NO_SUCCESS);
  o.status = kInvalidArgument;
  EXPECT_EQ(Decide(o, 0, 0), GRPCR_RETRY_NO_STATUS);
  o.status = kUnavailable;
  EXPECT_EQ(Decide(o, 0, 0), GRPCR_RETRY_NO_COMMITTED);
  o.committed = false;
  EXPECT_EQ(Decide(o, 0, 0), GRPCR_RETRY_NO_ATTEMPTS);
  o.attempts_done = 1;
  EXPECT_EQ(Decide(o, 0, 0), GRPCR_RETRY_NO_PUSHBACK);
  o.pushback = GRPCR_PUSHBACK_NONE;
  Budget(0);
  EXPECT_EQ(Decide(o, 0, 0), GRPCR_RETRY_NO_DEADLINE);
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_BUDGET);
}

// The breaker gates every attempt: asked after the deadline, before the
// budget, so a stop spends no budget.
TEST_F(RetryTest, OpenBreakerStopsTheRetryBeforeTheBudgetIsAsked) {
  Budget(5);
  grpcr_breaker_config bc = grpcr_breaker_config_default();
  bc.minimum_calls = 1;
  grpcr_breaker *b = grpcr_breaker_create(&bc, 0);
  ASSERT_NE(b, nullptr);
  grpcr_breaker_ticket t, other;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b, 0, &t, nullptr));
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.breaker = b;
  o.ticket = &t;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_YES);
  ASSERT_TRUE(grpcr_breaker_try_acquire(b, 0, &other, nullptr));
  grpcr_breaker_record(b, &other, kUnavailable, 0, nullptr);  // opens it
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_BREAKER);
  EXPECT_EQ(delay_, 0);
  // The deadline is checked first.
  EXPECT_EQ(Decide(o, 0, 1), GRPCR_RETRY_NO_DEADLINE);
  grpcr_budget_snapshot s = Snap();
  EXPECT_EQ(s.retries_total, 1u);
  EXPECT_EQ(s.denied_total, 0u);
  grpcr_breaker_destroy(b);
}

TEST_F(RetryTest, NullBudgetIsUnlimited) {
  policy_.max_attempts = 100;
  for (uint32_t n = 1; n < 100; n++) {
    ASSERT_EQ(Decide(Failed(kUnavailable, n), 0, GRPCR_NO_DEADLINE),
              GRPCR_RETRY_YES);
  }
}

TEST(RetryVerdictTest, NamesCoverEveryVerdict) {
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_YES), "YES");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_SUCCESS), "NO_SUCCESS");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_STATUS), "NO_STATUS");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_COMMITTED),
               "NO_COMMITTED");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_ATTEMPTS),
               "NO_ATTEMPTS");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_PUSHBACK),
               "NO_PUSHBACK");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_DEADLINE),
               "NO_DEADLINE");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_BUDGET), "NO_BUDGET");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_BREAKER), "NO_BREAKER");
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_TIME), "NO_TIME");
  EXPECT_EQ(grpcr_retry_verdict_name((grpcr_retry_verdict)10), nullptr);
  EXPECT_EQ(grpcr_retry_verdict_name((grpcr_retry_verdict)-1), nullptr);
}

TEST(RetryStatusTest, StatusNamesRoundTrip) {
  for (int c = 0; c < GRPCR_STATUS_COUNT; c++) {
    const char *name = grpcr_status_name(c);
    ASSERT_NE(name, nullptr) << c;
    EXPECT_EQ(grpcr_status_from_name(name), c);
  }
  EXPECT_STREQ(grpcr_status_name(14), "UNAVAILABLE");
  EXPECT_STREQ(grpcr_status_name(16), "UNAUTHENTICATED");
  EXPECT_EQ(grpcr_status_name(17), nullptr);
  EXPECT_EQ(grpcr_status_name(-1), nullptr);
  EXPECT_EQ(grpcr_status_from_name("unavailable"), -1);
  EXPECT_EQ(grpcr_status_from_name(""), -1);
  EXPECT_EQ(grpcr_status_from_name(nullptr), -1);
}

TEST(RetryErrorTest, ErrorNamesAndMessagesComeFromTheMap) {
  EXPECT_STREQ(grpcr_err_name(GRPCR_EINVAL), "GRPCR_EINVAL");
  EXPECT_STREQ(grpcr_err_name(GRPCR_ENOTFOUND), "GRPCR_ENOTFOUND");
  EXPECT_STREQ(grpcr_err_name(GRPCR_OK), "GRPCR_OK");
  EXPECT_STREQ(grpcr_err_name(-100), "GRPCR_UNKNOWN");
  EXPECT_STREQ(grpcr_strerror(GRPCR_ENOMEM), "out of memory");
  EXPECT_NE(std::strstr(grpcr_strerror(GRPCR_EINITIALIZED), "grpc_init"),
            nullptr);
  EXPECT_STREQ(grpcr_strerror(42), "unknown error");
  grpcr_free(nullptr);
}

}  // namespace

// ---- no retry the deadline cannot fit ---------------------------------------

// The first backoff is 100 ms (NONE jitter). With a 300 ms median attempt
// and the deadline 350 ms away, the retry would start at 100 ms with
// 250 ms left: less than the median, so no retry, and no budget spent.
TEST_F(RetryTest, ARetryWithLessTimeLeftThanTheMedianAttemptIsNotMade) {
  Budget(5);
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.median_attempt_ns = 300 * kMs;
  EXPECT_EQ(Decide(o, 0, 350 * kMs), GRPCR_RETRY_NO_TIME);
  EXPECT_EQ(delay_, 0);
  EXPECT_EQ(Snap().retries_in_window, 0u);
}

TEST_F(RetryTest, TimeLeftEqualToTheMedianStillRetries) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.median_attempt_ns = 300 * kMs;
  // Starts at 100 ms with exactly 300 ms left: not less than the median.
  EXPECT_EQ(Decide(o, 0, 400 * kMs), GRPCR_RETRY_YES);
  EXPECT_EQ(delay_, 100 * kMs);
  grpcr_backoff_init(&backoff_, &policy_.backoff, 1);
  EXPECT_EQ(Decide(o, 0, 400 * kMs - 1), GRPCR_RETRY_NO_TIME);
}

TEST_F(RetryTest, AnUnknownMedianOrNoDeadlineRefusesNothing) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.median_attempt_ns = 0;  // too few samples
  EXPECT_EQ(Decide(o, 0, 101 * kMs), GRPCR_RETRY_YES);
  o.median_attempt_ns = 3600 * kSec;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_YES);
}

TEST_F(RetryTest, TheBackoffPastTheDeadlineIsCheckedFirst) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.median_attempt_ns = 1;
  EXPECT_EQ(Decide(o, 0, 99 * kMs), GRPCR_RETRY_NO_DEADLINE);
}

TEST_F(RetryTest, TheTimeRuleNeverOverflows) {
  grpcr_attempt_outcome o = Failed(kUnavailable, 1);
  o.median_attempt_ns = INT64_MAX;
  EXPECT_EQ(Decide(o, INT64_MIN + 1, INT64_MIN + 200 * kMs), GRPCR_RETRY_NO_TIME);
  grpcr_backoff_init(&backoff_, &policy_.backoff, 1);
  o.median_attempt_ns = INT64_MAX / 2;
  EXPECT_EQ(Decide(o, 0, INT64_MAX - 1), GRPCR_RETRY_YES);
  EXPECT_STREQ(grpcr_retry_verdict_name(GRPCR_RETRY_NO_TIME), "NO_TIME");
}

// ---- perAttemptTimeout ----------------------------------------------------

TEST_F(RetryTest, AnAttemptTimeoutIsRetryableWhateverTheCodes) {
  grpcr_attempt_outcome o = Failed(kDeadlineExceeded, 1);
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_STATUS);
  o.attempt_timed_out = true;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_YES);
  // Every later rule still applies: attempts, deadline, budget.
  o.attempts_done = 4;
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_ATTEMPTS);
  o.attempts_done = 1;
  EXPECT_EQ(Decide(o, 0, 1), GRPCR_RETRY_NO_DEADLINE);
  Budget(0);
  EXPECT_EQ(Decide(o, 0, GRPCR_NO_DEADLINE), GRPCR_RETRY_NO_BUDGET);
}
