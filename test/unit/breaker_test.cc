// The circuit breaker against the contract in include/grpcr/breaker.h and
// docs/ARCHITECTURE.md "Breaker". Time is a plain int64 the tests pass in.
#include "grpcr/breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

constexpr int kOk = 0;
constexpr int kInvalidArgument = 3;
constexpr int kDeadlineExceeded = 4;
constexpr int kNotFound = 5;
constexpr int kResourceExhausted = 8;
constexpr int kInternal = 13;
constexpr int kUnavailable = 14;
constexpr int kDataLoss = 15;

grpcr_breaker_config Config(double threshold, uint32_t minimum_calls,
                            uint32_t half_open_max_calls = 1) {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  c.failure_rate_threshold = threshold;
  c.minimum_calls = minimum_calls;
  c.window_ns = 10 * kSec;
  c.open_duration_ns = 30 * kSec;
  c.half_open_max_calls = half_open_max_calls;
  // Exact open periods: the jitter has tests of its own.
  c.open_duration_jitter = 0;
  return c;
}

struct BreakerDeleter {
  void operator()(grpcr_breaker* b) const { grpcr_breaker_destroy(b); }
};
using BreakerPtr = std::unique_ptr<grpcr_breaker, BreakerDeleter>;

BreakerPtr Make(const grpcr_breaker_config& c, int64_t now = 0) {
  BreakerPtr b(grpcr_breaker_create(&c, now));
  EXPECT_NE(b, nullptr);
  return b;
}

// Admits one call at now and records its status at the same time.
// Returns whether it was admitted.
bool Call(grpcr_breaker* b, int code, int64_t now,
          grpcr_breaker_transition* tr = nullptr) {
  grpcr_breaker_ticket t;
  if (!grpcr_breaker_try_acquire(b, now, &t, nullptr)) return false;
  grpcr_breaker_record(b, &t, code, now, tr);
  return true;
}

grpcr_breaker_snapshot Snap(grpcr_breaker* b, int64_t now) {
  grpcr_breaker_snapshot s;
  grpcr_breaker_snapshot_get(b, now, &s);
  return s;
}

grpcr_breaker_state State(grpcr_breaker* b, int64_t now) {
  return Snap(b, now).state;
}

// Opens b at now with minimum_calls failures; b must be CLOSED and empty.
void Trip(grpcr_breaker* b, uint32_t minimum_calls, int64_t now) {
  for (uint32_t i = 0; i < minimum_calls; i++)
    ASSERT_TRUE(Call(b, kUnavailable, now));
  ASSERT_EQ(State(b, now), GRPCR_BREAKER_OPEN);
}

TEST(BreakerTest, StateNames) {
  EXPECT_STREQ(grpcr_breaker_state_name(GRPCR_BREAKER_CLOSED), "CLOSED");
  EXPECT_STREQ(grpcr_breaker_state_name(GRPCR_BREAKER_OPEN), "OPEN");
  EXPECT_STREQ(grpcr_breaker_state_name(GRPCR_BREAKER_HALF_OPEN), "HALF_OPEN");
  EXPECT_EQ(grpcr_breaker_state_name(static_cast<grpcr_breaker_state>(3)),
            nullptr);
}

TEST(BreakerTest, DefaultConfigIsTheDocumentedOne) {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  EXPECT_EQ(c.failure_rate_threshold, 0.5);
  EXPECT_EQ(c.minimum_calls, 20u);
  EXPECT_EQ(c.window_ns, 10 * kSec);
  EXPECT_EQ(c.open_duration_ns, 30 * kSec);
  EXPECT_EQ(c.half_open_max_calls, 1u);
  EXPECT_EQ(c.trip_codes,
            GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kResourceExhausted));
  grpcr_breaker* b = grpcr_breaker_create(&c, 0);
  EXPECT_NE(b, nullptr);
  grpcr_breaker_destroy(b);
}

TEST(BreakerTest, StartsClosedAndEmpty) {
  BreakerPtr b = Make(Config(0.5, 20), 7 * kSec);
  grpcr_breaker_snapshot s = Snap(b.get(), 7 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.time_in_state_ns, 0);
  EXPECT_EQ(s.calls_in_window, 0u);
  EXPECT_EQ(s.failures_in_window, 0u);
  EXPECT_EQ(s.rejected_total, 0u);
  EXPECT_EQ(s.transitions_total, 0u);
  EXPECT_EQ(s.opened_total, 0u);
  EXPECT_EQ(s.stale_results_total, 0u);
  EXPECT_EQ(s.open_ns_total, 0);
  EXPECT_EQ(s.open_duration_ns, 30 * kSec);
}

TEST(BreakerTest, NeverOpensBelowMinimumCalls) {
  BreakerPtr b = Make(Config(0.5, 20));
  for (int i = 0; i < 19; i++) ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.calls_in_window, 19u);
  EXPECT_EQ(s.failures_in_window, 19u);
  EXPECT_EQ(s.transitions_total, 0u);
}

TEST(BreakerTest, OpensAtThresholdExactlyOnTheCallThatReachesIt) {
  BreakerPtr b = Make(Config(0.5, 20));
  for (int i = 0; i < 10; i++) ASSERT_TRUE(Call(b.get(), kOk, 0));
  for (int i = 0; i < 9; i++) ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_CLOSED);  // 9/19, below minimum

  grpcr_breaker_transition tr;
  ASSERT_TRUE(Call(b.get(), kUnavailable, 0, &tr));  // 10/20 = 0.5
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.from, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_OPEN);
}

TEST(BreakerTest, FailureRateJustBelowThresholdStaysClosed) {
  BreakerPtr b = Make(Config(0.5, 100));
  for (int i = 0; i < 51; i++) ASSERT_TRUE(Call(b.get(), kOk, 0));
  grpcr_breaker_transition tr;
  for (int i = 0; i < 49; i++) {
    ASSERT_TRUE(Call(b.get(), kUnavailable, 0, &tr));
    EXPECT_FALSE(tr.happened);
  }
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);  // 49/100
  EXPECT_EQ(s.calls_in_window, 100u);
  EXPECT_EQ(s.failures_in_window, 49u);
}

TEST(BreakerTest, SuccessThatReachesMinimumCallsCanOpen) {
  // The condition is evaluated on every finished call, not only failures.
  BreakerPtr b = Make(Config(0.5, 4));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_CLOSED);
  ASSERT_TRUE(Call(b.get(), kOk, 0));  // 3/4
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_OPEN);
}

TEST(BreakerTest, RateEqualToADecimalThresholdOpensDespiteRounding) {
  // threshold * calls rounds up for some decimals (0.07 * 100 is
  // 7.000000000000001); the rate must still compare as equal.
  struct Case {
    double threshold;
    uint32_t calls;
    uint32_t failures;
  };
  for (Case c : {Case{0.07, 100, 7}, Case{0.3, 10, 3}, Case{0.57, 100, 57},
                 Case{0.29, 100, 29}, Case{0.1, 30, 3}, Case{1.0, 5, 5}}) {
    SCOPED_TRACE(c.threshold);
    BreakerPtr below = Make(Config(c.threshold, c.calls));
    for (uint32_t i = 0; i < c.calls - c.failures + 1; i++)
      ASSERT_TRUE(Call(below.get(), kOk, 0));
    for (uint32_t i = 0; i + 1 < c.failures; i++)
      ASSERT_TRUE(Call(below.get(), kUnavailable, 0));
    EXPECT_EQ(State(below.get(), 0), GRPCR_BREAKER_CLOSED);

    BreakerPtr at = Make(Config(c.threshold, c.calls));
    for (uint32_t i = 0; i < c.calls - c.failures; i++)
      ASSERT_TRUE(Call(at.get(), kOk, 0));
    for (uint32_t i = 0; i < c.failures; i++)
      ASSERT_TRUE(Call(at.get(), kUnavailable, 0));
    EXPECT_EQ(State(at.get(), 0), GRPCR_BREAKER_OPEN);
  }
}

TEST(BreakerTest, OpenRejectsUntilOpenDurationThenAdmitsAsHalfOpen) {
  const int64_t opened = 5 * kSec;
  BreakerPtr b = Make(Config(0.5, 2));
  Trip(b.get(), 2, opened);

  grpcr_breaker_ticket t;
  grpcr_breaker_transition tr;
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), opened, &t, &tr));
  EXPECT_FALSE(tr.happened);
  EXPECT_FALSE(
      grpcr_breaker_try_acquire(b.get(), opened + 30 * kSec - 1, &t, &tr));
  EXPECT_FALSE(tr.happened);
  EXPECT_EQ(Snap(b.get(), opened + 30 * kSec - 1).rejected_total, 2u);

  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), opened + 30 * kSec, &t, &tr));
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.from, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(t.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(State(b.get(), opened + 30 * kSec), GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_record(b.get(), &t, kOk, opened + 30 * kSec, nullptr);
}

TEST(BreakerTest, RejectedCallsAreNotFailures) {
  BreakerPtr b = Make(Config(0.5, 2));
  Trip(b.get(), 2, 0);
  grpcr_breaker_ticket t;
  for (int i = 0; i < 100; i++)
    EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), i * kMs, &t, nullptr));
  grpcr_breaker_snapshot s = Snap(b.get(), 100 * kMs);
  EXPECT_EQ(s.rejected_total, 100u);
  EXPECT_EQ(s.calls_in_window, 2u);  // only the two that tripped it
  EXPECT_EQ(s.failures_in_window, 2u);
  EXPECT_EQ(s.opened_total, 1u);

  // The probe alone decides: one success closes it.
  ASSERT_TRUE(Call(b.get(), kOk, 30 * kSec));
  EXPECT_EQ(State(b.get(), 30 * kSec), GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(Snap(b.get(), 30 * kSec).rejected_total, 100u);
}

TEST(BreakerTest, HalfOpenAdmitsExactlyMaxCallsThenRejects) {
  BreakerPtr b = Make(Config(0.5, 2, /*half_open_max_calls=*/2));
  Trip(b.get(), 2, 0);
  const int64_t now = 30 * kSec;
  grpcr_breaker_ticket t1, t2, t3;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &t1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &t2, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), now, &t3, nullptr));
  EXPECT_EQ(t1.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(t2.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(t1.generation, t2.generation);
  grpcr_breaker_snapshot s = Snap(b.get(), now);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.rejected_total, 1u);

  // A finished probe does not free its slot: still only two per HALF_OPEN.
  grpcr_breaker_record(b.get(), &t1, kOk, now, nullptr);
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), now, &t3, nullptr));
  EXPECT_EQ(Snap(b.get(), now).rejected_total, 2u);
  grpcr_breaker_record(b.get(), &t2, kOk, now, nullptr);
}

TEST(BreakerTest, AllProbesSucceedClosesWithCountsReset) {
  BreakerPtr b = Make(Config(0.5, 2, /*half_open_max_calls=*/2));
  Trip(b.get(), 2, 0);
  const int64_t now = 30 * kSec;
  grpcr_breaker_ticket t1, t2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &t1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &t2, nullptr));

  grpcr_breaker_transition tr;
  grpcr_breaker_record(b.get(), &t1, kOk, now + 1, &tr);
  EXPECT_FALSE(tr.happened);
  EXPECT_EQ(State(b.get(), now + 1), GRPCR_BREAKER_HALF_OPEN);

  grpcr_breaker_record(b.get(), &t2, kOk, now + 2, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.from, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_CLOSED);
  grpcr_breaker_snapshot s = Snap(b.get(), now + 2);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  // The failures that tripped it are still inside the 10 s window by time,
  // but closing clears the window.
  EXPECT_EQ(s.calls_in_window, 0u);
  EXPECT_EQ(s.failures_in_window, 0u);

  // A fresh start: one failure alone is below minimum_calls.
  ASSERT_TRUE(Call(b.get(), kUnavailable, now + 3));
  EXPECT_EQ(State(b.get(), now + 3), GRPCR_BREAKER_CLOSED);
}

// A reopening from HALF_OPEN lasts the last open period times the
// multiplier (2 by default), from the failure.
TEST(BreakerTest, OneProbeFailsReopensForTheGrownOpenPeriodFromTheFailure) {
  BreakerPtr b = Make(Config(0.5, 2, /*half_open_max_calls=*/2));
  Trip(b.get(), 2, 0);
  const int64_t half = 30 * kSec;
  grpcr_breaker_ticket t1, t2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half, &t1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half, &t2, nullptr));
  grpcr_breaker_record(b.get(), &t1, kOk, half + 1 * kSec, nullptr);

  const int64_t failed = half + 4 * kSec;
  grpcr_breaker_transition tr;
  grpcr_breaker_record(b.get(), &t2, kUnavailable, failed, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.from, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(State(b.get(), failed), GRPCR_BREAKER_OPEN);

  EXPECT_EQ(60 * kSec, Snap(b.get(), failed).open_period_ns);
  grpcr_breaker_ticket t;
  EXPECT_FALSE(
      grpcr_breaker_try_acquire(b.get(), failed + 60 * kSec - 1, &t, nullptr));
  EXPECT_TRUE(
      grpcr_breaker_try_acquire(b.get(), failed + 60 * kSec, &t, nullptr));
  EXPECT_EQ(t.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_record(b.get(), &t, kOk, failed + 30 * kSec, nullptr);
}

TEST(BreakerTest, StaleResultFromBeforeOpeningIsIgnoredAndCounted) {
  BreakerPtr b = Make(Config(0.5, 2));
  grpcr_breaker_ticket early;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &early, nullptr));
  EXPECT_EQ(early.admitted_in, GRPCR_BREAKER_CLOSED);
  Trip(b.get(), 2, 1 * kSec);

  grpcr_breaker_transition tr;
  grpcr_breaker_record(b.get(), &early, kOk, 2 * kSec, &tr);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_snapshot s = Snap(b.get(), 2 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.calls_in_window, 2u);
  EXPECT_EQ(s.stale_results_total, 1u);
  EXPECT_EQ(s.transitions_total, 1u);
}

TEST(BreakerTest, StaleResultsNeverDecideHalfOpen) {
  BreakerPtr b = Make(Config(0.5, 2));
  grpcr_breaker_ticket old_ok, old_fail;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &old_ok, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &old_fail, nullptr));
  Trip(b.get(), 2, 0);

  grpcr_breaker_ticket probe;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 30 * kSec, &probe, nullptr));
  // A success admitted in CLOSED is not a probe success...
  grpcr_breaker_record(b.get(), &old_ok, kOk, 30 * kSec, nullptr);
  EXPECT_EQ(State(b.get(), 30 * kSec), GRPCR_BREAKER_HALF_OPEN);
  // ...and a failure admitted in CLOSED does not reopen it.
  grpcr_breaker_record(b.get(), &old_fail, kUnavailable, 30 * kSec, nullptr);
  EXPECT_EQ(State(b.get(), 30 * kSec), GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(Snap(b.get(), 30 * kSec).stale_results_total, 2u);

  grpcr_breaker_record(b.get(), &probe, kOk, 30 * kSec, nullptr);
  EXPECT_EQ(State(b.get(), 30 * kSec), GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, StaleProbeFromEarlierHalfOpenIsIgnoredAfterClosing) {
  BreakerPtr b = Make(Config(0.5, 2, /*half_open_max_calls=*/2));
  Trip(b.get(), 2, 0);
  grpcr_breaker_ticket p1, p2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 30 * kSec, &p1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 30 * kSec, &p2, nullptr));
  grpcr_breaker_record(b.get(), &p1, kUnavailable, 31 * kSec, nullptr);
  ASSERT_EQ(State(b.get(), 31 * kSec), GRPCR_BREAKER_OPEN);
  // p2 belongs to the HALF_OPEN that already failed.
  grpcr_breaker_record(b.get(), &p2, kOk, 32 * kSec, nullptr);
  grpcr_breaker_snapshot s = Snap(b.get(), 32 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.stale_results_total, 1u);
}

TEST(BreakerTest, CallAdmittedInClosedFinishingInClosedCountsNormally) {
  BreakerPtr b = Make(Config(0.5, 2));
  grpcr_breaker_ticket t1, t2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &t1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &t2, nullptr));
  grpcr_breaker_record(b.get(), &t1, kUnavailable, 1 * kSec, nullptr);
  EXPECT_EQ(Snap(b.get(), 1 * kSec).calls_in_window, 1u);
  grpcr_breaker_record(b.get(), &t2, kUnavailable, 2 * kSec, nullptr);
  grpcr_breaker_snapshot s = Snap(b.get(), 2 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.stale_results_total, 0u);
}

TEST(BreakerTest, NonTripCodesCountAsSuccesses) {
  BreakerPtr b = Make(Config(0.01, 1));
  for (int code = 0; code < GRPCR_STATUS_COUNT; code++) {
    if (code == kUnavailable || code == kResourceExhausted) continue;
    ASSERT_TRUE(Call(b.get(), code, 0)) << code;
  }
  ASSERT_TRUE(Call(b.get(), kInvalidArgument, 0));
  ASSERT_TRUE(Call(b.get(), kDeadlineExceeded, 0));
  ASSERT_TRUE(Call(b.get(), kOk, 0));
  ASSERT_TRUE(Call(b.get(), 99, 0));  // out of range: UNKNOWN
  ASSERT_TRUE(Call(b.get(), -1, 0));
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.calls_in_window, 20u);
  EXPECT_EQ(s.failures_in_window, 0u);
}

TEST(BreakerTest, CustomTripCodesAreRespected) {
  grpcr_breaker_config c = Config(0.5, 2);
  c.trip_codes = GRPCR_CODE_BIT(kInternal) | GRPCR_CODE_BIT(kNotFound);
  BreakerPtr b = Make(c);
  for (int i = 0; i < 10; i++) ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(Snap(b.get(), 0).failures_in_window, 0u);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(Call(b.get(), kInternal, 0));
  EXPECT_EQ(Snap(b.get(), 0).failures_in_window, 5u);
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_CLOSED);  // 5/15
  for (int i = 0; i < 5; i++) ASSERT_TRUE(Call(b.get(), kNotFound, 0));
  EXPECT_EQ(State(b.get(), 0), GRPCR_BREAKER_OPEN);  // 10/20

  // In HALF_OPEN too, only a trip code is a failing probe.
  grpcr_breaker_config c2 = Config(0.5, 1);
  c2.trip_codes = GRPCR_CODE_BIT(kInternal);
  BreakerPtr b2 = Make(c2);
  ASSERT_TRUE(Call(b2.get(), kInternal, 0));
  ASSERT_EQ(State(b2.get(), 0), GRPCR_BREAKER_OPEN);
  ASSERT_TRUE(Call(b2.get(), kUnavailable, 30 * kSec));
  EXPECT_EQ(State(b2.get(), 30 * kSec), GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, OldBucketsExpireGraduallyAsTheWindowSlides) {
  // 10 s window in 20 buckets of 500 ms; never opens (minimum unreachable).
  BreakerPtr b = Make(Config(0.5, 1000));
  const int64_t step = 500 * kMs;
  for (int i = 0; i < 20; i++) ASSERT_TRUE(Call(b.get(), kUnavailable, i * step));
  EXPECT_EQ(Snap(b.get(), 10 * kSec - 1).failures_in_window, 20u);
  for (int expired = 1; expired <= 20; expired++) {
    int64_t now = 10 * kSec + (expired - 1) * step;
    grpcr_breaker_snapshot s = Snap(b.get(), now);
    EXPECT_EQ(s.failures_in_window, 20u - expired) << now;
    EXPECT_EQ(s.calls_in_window, 20u - expired) << now;
    s = Snap(b.get(), now + step - 1);  // no further expiry inside a bucket
    EXPECT_EQ(s.failures_in_window, 20u - expired) << now;
  }
  EXPECT_EQ(Snap(b.get(), 100 * kSec).calls_in_window, 0u);
}

TEST(BreakerTest, FailuresOlderThanWindowDoNotOpen) {
  BreakerPtr b = Make(Config(0.5, 4));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  // Ten seconds later those three have left the window: 1 failure in 4.
  const int64_t later = 10 * kSec;
  ASSERT_TRUE(Call(b.get(), kUnavailable, later));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(Call(b.get(), kOk, later));
  grpcr_breaker_snapshot s = Snap(b.get(), later);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.calls_in_window, 4u);
  EXPECT_EQ(s.failures_in_window, 1u);
}

TEST(BreakerTest, SlotReusedAfterAFullTurnStartsFromZero) {
  // 20 s later the same ring slot is reused; its old counts must not leak.
  BreakerPtr b = Make(Config(0.5, 3));
  ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  ASSERT_TRUE(Call(b.get(), kUnavailable, 20 * kSec));
  grpcr_breaker_snapshot s = Snap(b.get(), 20 * kSec);
  EXPECT_EQ(s.calls_in_window, 1u);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, TimeInStateAndTransitionCountersAreExact) {
  const int64_t t0 = 1000 * kSec;
  BreakerPtr b = Make(Config(0.5, 1), t0);
  grpcr_breaker_snapshot s = Snap(b.get(), t0 + 500);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.time_in_state_ns, 500);

  const int64_t open1 = t0 + 2 * kSec;
  ASSERT_TRUE(Call(b.get(), kUnavailable, open1));
  s = Snap(b.get(), open1 + 700);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.time_in_state_ns, 700);
  EXPECT_EQ(s.open_ns_total, 700);  // includes the current period
  EXPECT_EQ(s.transitions_total, 1u);
  EXPECT_EQ(s.opened_total, 1u);

  // OPEN lasts exactly open_duration (30 s): an acquire 3 s after that finds
  // the breaker HALF_OPEN since open1 + 30 s.
  const int64_t half1 = open1 + 33 * kSec;
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half1, &t, nullptr));
  s = Snap(b.get(), half1 + 100);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.time_in_state_ns, 3 * kSec + 100);
  EXPECT_EQ(s.open_ns_total, 30 * kSec);
  EXPECT_EQ(s.transitions_total, 2u);
  EXPECT_EQ(s.opened_total, 1u);

  const int64_t open2 = half1 + 1 * kSec;
  grpcr_breaker_record(b.get(), &t, kUnavailable, open2, nullptr);
  // Reopened from HALF_OPEN: twice the period.
  const int64_t half2 = open2 + 60 * kSec;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half2, &t, nullptr));
  const int64_t closed = half2 + 2 * kSec;
  grpcr_breaker_record(b.get(), &t, kOk, closed, nullptr);

  s = Snap(b.get(), closed + 5 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.time_in_state_ns, 5 * kSec);
  EXPECT_EQ(s.open_ns_total, 90 * kSec);
  EXPECT_EQ(s.transitions_total, 5u);
  EXPECT_EQ(s.opened_total, 2u);
  EXPECT_EQ(s.rejected_total, 0u);
  EXPECT_EQ(s.stale_results_total, 0u);
}

TEST(BreakerTest, IdleOpenBreakerReadsHalfOpenOnceOpenDurationHasPassed) {
  const int64_t t0 = 1000 * kSec;
  BreakerPtr b = Make(Config(0.5, 1), t0);
  ASSERT_TRUE(Call(b.get(), kUnavailable, t0));
  EXPECT_EQ(Snap(b.get(), t0 + 30 * kSec - 1).state, GRPCR_BREAKER_OPEN);
  grpcr_breaker_snapshot s = Snap(b.get(), t0 + 45 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.time_in_state_ns, 15 * kSec);
  EXPECT_EQ(s.open_ns_total, 30 * kSec);
  EXPECT_EQ(s.transitions_total, 2u);
  // The probe that follows is admitted exactly as without the snapshot.
  grpcr_breaker_ticket t;
  grpcr_breaker_transition tr = {};
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), t0 + 46 * kSec, &t, &tr));
  EXPECT_FALSE(tr.happened);
  EXPECT_EQ(t.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_ticket t2;
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), t0 + 46 * kSec, &t2, nullptr));
}

TEST(BreakerTest, TimestampsOlderThanTheLatestNeverMoveTimeBackwards) {
  // Threads read the clock before the lock, so slightly older times arrive.
  BreakerPtr b = Make(Config(0.5, 1));
  ASSERT_TRUE(Call(b.get(), kUnavailable, 10 * kSec));
  grpcr_breaker_ticket t;
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), 9 * kSec, &t, nullptr));
  grpcr_breaker_snapshot s = Snap(b.get(), 5 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.time_in_state_ns, 0);
  EXPECT_EQ(s.open_ns_total, 0);
}

TEST(BreakerTest, ManyThreadsKeepExactCounts) {
  // DATA_LOSS is the only trip code and never returned: it never opens.
  grpcr_breaker_config c = Config(0.5, 1);
  c.trip_codes = GRPCR_CODE_BIT(kDataLoss);
  c.window_ns = 1000 * kSec;
  BreakerPtr b = Make(c);
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 50000;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&b, &refused, i] {
      for (int n = 0; n < kCallsPerThread; n++) {
        int64_t now = static_cast<int64_t>(n) * 1000;  // within the window
        grpcr_breaker_ticket t;
        if (!grpcr_breaker_try_acquire(b.get(), now, &t, nullptr)) {
          refused++;
          continue;
        }
        grpcr_breaker_record(b.get(), &t, (n + i) % 2 ? kUnavailable : kOk,
                             now, nullptr);
      }
    });
  }
  for (auto& t : threads) t.join();
  grpcr_breaker_snapshot s = Snap(b.get(), 50000 * 1000);
  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.calls_in_window,
            static_cast<uint64_t>(kThreads) * kCallsPerThread);
  EXPECT_EQ(s.failures_in_window, 0u);
  EXPECT_EQ(s.rejected_total, 0u);
  EXPECT_EQ(s.stale_results_total, 0u);
  EXPECT_EQ(s.transitions_total, 0u);
}

TEST(BreakerTest, ConcurrentAcquiresInHalfOpenAdmitExactlyMaxCalls) {
  BreakerPtr b = Make(Config(0.5, 1, /*half_open_max_calls=*/3));
  Trip(b.get(), 1, 0);
  constexpr int kThreads = 8;
  constexpr int kTries = 1000;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&] {
      for (int n = 0; n < kTries; n++) {
        grpcr_breaker_ticket t;
        if (grpcr_breaker_try_acquire(b.get(), 30 * kSec, &t, nullptr))
          admitted++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 3);
  grpcr_breaker_snapshot s = Snap(b.get(), 30 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.rejected_total, static_cast<uint64_t>(kThreads * kTries - 3));
}

TEST(BreakerTest, ConfigValidationReturnsNullForEachInvalidField) {
  const grpcr_breaker_config good = Config(0.5, 20);
  std::vector<std::pair<const char*, grpcr_breaker_config>> bad;
  auto with = [&](const char* what, auto mutate) {
    grpcr_breaker_config c = good;
    mutate(c);
    bad.emplace_back(what, c);
  };
  with("threshold 0", [](auto& c) { c.failure_rate_threshold = 0.0; });
  with("threshold < 0", [](auto& c) { c.failure_rate_threshold = -0.1; });
  with("threshold > 1", [](auto& c) { c.failure_rate_threshold = 1.0001; });
  with("threshold NaN", [](auto& c) { c.failure_rate_threshold = NAN; });
  with("minimum_calls 0", [](auto& c) { c.minimum_calls = 0; });
  with("window 0", [](auto& c) { c.window_ns = 0; });
  with("window < 0", [](auto& c) { c.window_ns = -kSec; });
  with("open_duration 0", [](auto& c) { c.open_duration_ns = 0; });
  with("open_duration < 0", [](auto& c) { c.open_duration_ns = -1; });
  with("half_open_max_calls 0", [](auto& c) { c.half_open_max_calls = 0; });
  with("trip_codes empty", [](auto& c) { c.trip_codes = 0; });
  with("trip_codes has OK", [](auto& c) {
    c.trip_codes = GRPCR_CODE_BIT(kOk) | GRPCR_CODE_BIT(kUnavailable);
  });
  with("trip_codes beyond 16", [](auto& c) {
    c.trip_codes = GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(17);
  });
  for (const auto& [what, c] : bad)
    EXPECT_EQ(grpcr_breaker_create(&c, 0), nullptr) << what;
  EXPECT_EQ(grpcr_breaker_create(nullptr, 0), nullptr);

  grpcr_breaker_config edge = good;
  edge.failure_rate_threshold = 1.0;  // inclusive upper bound
  edge.window_ns = 1;                 // narrower than one ns per bucket
  edge.open_duration_ns = 1;
  edge.trip_codes = GRPCR_CODE_BIT(16);
  grpcr_breaker* b = grpcr_breaker_create(&edge, 0);
  EXPECT_NE(b, nullptr);
  grpcr_breaker_destroy(b);
  grpcr_breaker_destroy(nullptr);
}

// ---- Verdicts, probe leases, reconfiguration, ownership --------------------

constexpr int kCancelled = 1;
constexpr int kUnknown = 2;

grpcr_breaker_config WithTripCodes(grpcr_code_set codes) {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  c.trip_codes = codes;
  return c;
}

TEST(BreakerTest, VerdictRemoteTripCodeIsFailureAnyOtherCodeIsSuccess) {
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  EXPECT_EQ(grpcr_breaker_verdict(&c, kUnavailable, GRPCR_ORIGIN_REMOTE),
            GRPCR_VERDICT_FAILURE);
  EXPECT_EQ(grpcr_breaker_verdict(&c, kResourceExhausted, GRPCR_ORIGIN_REMOTE),
            GRPCR_VERDICT_FAILURE);
  for (int code : {kOk, kNotFound, kDeadlineExceeded, kCancelled, kInternal})
    EXPECT_EQ(grpcr_breaker_verdict(&c, code, GRPCR_ORIGIN_REMOTE),
              GRPCR_VERDICT_SUCCESS)
        << code;
}

TEST(BreakerTest, VerdictCancelledAndDeadlineAreNoneUnlessTheCodeIsATripCode) {
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  EXPECT_EQ(grpcr_breaker_verdict(&c, kCancelled, GRPCR_ORIGIN_CANCELLED),
            GRPCR_VERDICT_NONE);
  EXPECT_EQ(grpcr_breaker_verdict(&c, kDeadlineExceeded, GRPCR_ORIGIN_DEADLINE),
            GRPCR_VERDICT_NONE);
  const grpcr_breaker_config listed = WithTripCodes(
      GRPCR_CODE_BIT(kCancelled) | GRPCR_CODE_BIT(kDeadlineExceeded));
  EXPECT_EQ(grpcr_breaker_verdict(&listed, kCancelled, GRPCR_ORIGIN_CANCELLED),
            GRPCR_VERDICT_FAILURE);
  EXPECT_EQ(
      grpcr_breaker_verdict(&listed, kDeadlineExceeded, GRPCR_ORIGIN_DEADLINE),
      GRPCR_VERDICT_FAILURE);
  // Listing one code does not make the other origin's code a failure.
  const grpcr_breaker_config only_cancelled =
      WithTripCodes(GRPCR_CODE_BIT(kCancelled));
  EXPECT_EQ(grpcr_breaker_verdict(&only_cancelled, kDeadlineExceeded,
                                  GRPCR_ORIGIN_DEADLINE),
            GRPCR_VERDICT_NONE);
}

TEST(BreakerTest, VerdictLocalIsNoneEvenForATripCode) {
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  for (int code : {kUnavailable, kResourceExhausted, kOk, kInternal, 99})
    EXPECT_EQ(grpcr_breaker_verdict(&c, code, GRPCR_ORIGIN_LOCAL),
              GRPCR_VERDICT_NONE)
        << code;
}

TEST(BreakerTest, VerdictTreatsAnOutOfRangeCodeAsUnknown) {
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  const grpcr_breaker_config unknown = WithTripCodes(GRPCR_CODE_BIT(kUnknown));
  for (int code : {-1, 17, 99, INT32_MIN, INT32_MAX}) {
    EXPECT_EQ(grpcr_breaker_verdict(&c, code, GRPCR_ORIGIN_REMOTE),
              GRPCR_VERDICT_SUCCESS)
        << code;
    EXPECT_EQ(grpcr_breaker_verdict(&unknown, code, GRPCR_ORIGIN_REMOTE),
              GRPCR_VERDICT_FAILURE)
        << code;
    // A cancel is judged by its origin, never by the code it carried.
    EXPECT_EQ(grpcr_breaker_verdict(&unknown, code, GRPCR_ORIGIN_CANCELLED),
              GRPCR_VERDICT_NONE)
        << code;
  }
}

// An application may cancel with any status (grpc_call_cancel_with_status),
// UNAVAILABLE included: that is its own word, not the dependency's.
TEST(BreakerTest, VerdictOfACancelIgnoresTheCodeItCarried) {
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  for (int code : {kUnavailable, kResourceExhausted, kCancelled, kInternal, 99})
    EXPECT_EQ(grpcr_breaker_verdict(&c, code, GRPCR_ORIGIN_CANCELLED),
              GRPCR_VERDICT_NONE)
        << code;
  const grpcr_breaker_config cancelled =
      WithTripCodes(GRPCR_CODE_BIT(kCancelled));
  for (int code : {kUnavailable, kResourceExhausted, kCancelled, kOk})
    EXPECT_EQ(grpcr_breaker_verdict(&cancelled, code, GRPCR_ORIGIN_CANCELLED),
              GRPCR_VERDICT_FAILURE)
        << code;
}

TEST(BreakerTest, VerdictOfTheClientsDeadlineDependsOnlyOnDeadlineListed) {
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  EXPECT_EQ(grpcr_breaker_verdict(&c, kUnavailable, GRPCR_ORIGIN_DEADLINE),
            GRPCR_VERDICT_NONE);
  const grpcr_breaker_config deadline =
      WithTripCodes(GRPCR_CODE_BIT(kDeadlineExceeded));
  EXPECT_EQ(grpcr_breaker_verdict(&deadline, kDeadlineExceeded,
                                  GRPCR_ORIGIN_DEADLINE),
            GRPCR_VERDICT_FAILURE);
  EXPECT_EQ(grpcr_breaker_verdict(&deadline, kCancelled,
                                  GRPCR_ORIGIN_CANCELLED),
            GRPCR_VERDICT_NONE);
}

// Before: on an idle half-open breaker (no acquire to expire the lease), a
// probe's verdict after probeTimeout still counted, though the retry check
// had already treated its lease as gone.
TEST(BreakerTest, LateProbeVerdictIsStaleEvenWithNoAcquireInBetween) {
  grpcr_breaker_config c = Config(0.5, 2);
  c.probe_timeout_ns = 5 * kSec;
  BreakerPtr b = Make(c);
  Trip(b.get(), 2, 0);
  const int64_t half = 30 * kSec;
  grpcr_breaker_ticket probe;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half, &probe, nullptr));
  grpcr_breaker_transition tr;
  grpcr_breaker_record(b.get(), &probe, kUnavailable, half + 5 * kSec, &tr);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_snapshot s = Snap(b.get(), half + 5 * kSec);
  EXPECT_EQ(GRPCR_BREAKER_HALF_OPEN, s.state);
  EXPECT_EQ(1u, s.stale_results_total);
  EXPECT_EQ(1u, s.probes_expired_total);
  EXPECT_EQ(0u, s.probes_in_flight);
}

// ---- slow calls ---------------------------------------------------------

grpcr_breaker_config SlowConfig(double failure_rate, double slow_rate,
                                uint32_t minimum_calls) {
  grpcr_breaker_config c = Config(failure_rate, minimum_calls);
  c.slow_call_duration_ns = 100 * kMs;
  c.slow_call_rate_threshold = slow_rate;
  return c;
}

// Admits one call at now and records it as result.
bool CallWith(grpcr_breaker* b, const grpcr_call_result& result, int64_t now,
              grpcr_breaker_transition* tr = nullptr) {
  grpcr_breaker_ticket t;
  if (!grpcr_breaker_try_acquire(b, now, &t, nullptr)) return false;
  grpcr_breaker_record_result(b, &t, &result, now, tr);
  return true;
}

grpcr_call_result Took(int code, int64_t duration_ns,
                       grpcr_status_origin origin = GRPCR_ORIGIN_REMOTE,
                       bool in_flight = false) {
  return grpcr_call_result{code, origin, duration_ns, in_flight};
}

TEST(BreakerTest, SlowByDurationOpensAtTheSlowRateAlone) {
  BreakerPtr b = Make(SlowConfig(0.5, 0.5, 4));
  // Successes, two of them slow: 2/4 slow, 0/4 failures.
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 100 * kMs), 0));  // at, not over
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 150 * kMs), 0));
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 10 * kMs), 0));
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, State(b.get(), 0));
  grpcr_breaker_transition tr;
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 101 * kMs), 0, &tr));
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(GRPCR_BREAKER_OPEN, tr.to);
}

TEST(BreakerTest, SlowAndFailureRatesAreSeparateAndEitherOpens) {
  // A slow failure is both: 2 slow failures + 2 fast successes is 0.5 of
  // each; with thresholds 0.6 neither opens, with one at 0.5 it does.
  for (const auto& rates : {std::pair<double, double>{0.6, 0.6},
                            std::pair<double, double>{0.5, 0.6},
                            std::pair<double, double>{0.6, 0.5}}) {
    BreakerPtr b = Make(SlowConfig(rates.first, rates.second, 4));
    ASSERT_TRUE(CallWith(b.get(), Took(kUnavailable, 200 * kMs), 0));
    ASSERT_TRUE(CallWith(b.get(), Took(kUnavailable, 200 * kMs), 0));
    ASSERT_TRUE(CallWith(b.get(), Took(kOk, 1 * kMs), 0));
    ASSERT_TRUE(CallWith(b.get(), Took(kOk, 1 * kMs), 0));
    grpcr_breaker_snapshot s = Snap(b.get(), 0);
    const bool expect_open = rates.first == 0.5 || rates.second == 0.5;
    EXPECT_EQ(expect_open ? GRPCR_BREAKER_OPEN : GRPCR_BREAKER_CLOSED, s.state)
        << rates.first << " " << rates.second;
    if (!expect_open) {
      EXPECT_EQ(4u, s.calls_in_window);
      EXPECT_EQ(2u, s.failures_in_window);
      EXPECT_EQ(2u, s.slow_calls_in_window);
    }
  }
}

// The client's deadline gives no verdict by itself; with an attempt at the
// server (sent, not answered) it is slow whatever the deadline was, and a
// slow call counts as a call. In backoff it is neither.
TEST(BreakerTest, DeadlineWithAnAttemptInFlightIsSlowInBackoffNot) {
  BreakerPtr b = Make(SlowConfig(0.5, 0.5, 2));
  ASSERT_TRUE(CallWith(
      b.get(), Took(kDeadlineExceeded, 5 * kMs, GRPCR_ORIGIN_DEADLINE, false),
      0));
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(0u, s.calls_in_window);
  EXPECT_EQ(1u, s.no_verdict_total);
  ASSERT_TRUE(CallWith(
      b.get(), Took(kDeadlineExceeded, 5 * kMs, GRPCR_ORIGIN_DEADLINE, true),
      0));
  s = Snap(b.get(), 0);
  EXPECT_EQ(1u, s.calls_in_window);
  EXPECT_EQ(0u, s.failures_in_window);
  EXPECT_EQ(1u, s.slow_calls_in_window);
  EXPECT_EQ(1u, s.slow_calls_total);
  ASSERT_TRUE(CallWith(
      b.get(), Took(kDeadlineExceeded, 5 * kMs, GRPCR_ORIGIN_DEADLINE, true),
      0));
  EXPECT_EQ(GRPCR_BREAKER_OPEN, State(b.get(), 0));
}

TEST(BreakerTest, WithoutASlowCallRuleDurationChangesNothing) {
  BreakerPtr b = Make(Config(0.5, 2));
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 3600 * kSec), 0));
  ASSERT_TRUE(CallWith(
      b.get(), Took(kDeadlineExceeded, 9 * kSec, GRPCR_ORIGIN_DEADLINE, true),
      0));
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.state);
  EXPECT_EQ(1u, s.calls_in_window);
  EXPECT_EQ(0u, s.slow_calls_in_window);
  EXPECT_EQ(0u, s.slow_calls_total);
  EXPECT_EQ(1u, s.no_verdict_total);
}

TEST(BreakerTest, SlowProbeIsAFailedProbe) {
  BreakerPtr b = Make(SlowConfig(0.5, 0.5, 2));
  Trip(b.get(), 2, 0);
  const int64_t half = 30 * kSec;
  grpcr_breaker_transition tr;
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 150 * kMs), half, &tr));
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(GRPCR_BREAKER_HALF_OPEN, tr.from);
  EXPECT_EQ(GRPCR_BREAKER_OPEN, tr.to);
  // A fast one after the next (doubled) open period closes it.
  ASSERT_TRUE(CallWith(b.get(), Took(kOk, 1 * kMs), 3 * half, &tr));
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, tr.to);
}

TEST(BreakerTest, SlowCallConfigValidity) {
  grpcr_breaker_config c = SlowConfig(0.5, 0.5, 2);
  EXPECT_TRUE(grpcr_breaker_config_valid(&c));
  c.slow_call_rate_threshold = 0;
  EXPECT_FALSE(grpcr_breaker_config_valid(&c));
  c.slow_call_rate_threshold = 1.01;
  EXPECT_FALSE(grpcr_breaker_config_valid(&c));
  c.slow_call_rate_threshold = 1;
  c.slow_call_duration_ns = -1;
  EXPECT_FALSE(grpcr_breaker_config_valid(&c));
  grpcr_breaker_config d = grpcr_breaker_config_default();
  EXPECT_EQ(0, d.slow_call_duration_ns);
  EXPECT_EQ(1.0, d.slow_call_rate_threshold);
  grpcr_breaker_config e = d;
  e.slow_call_duration_ns = 1;
  EXPECT_FALSE(grpcr_breaker_config_equal(&d, &e));
}

// ---- the open period ----------------------------------------------------

// Fails the one probe of a HALF_OPEN breaker at now; returns the new open
// period.
int64_t FailProbe(grpcr_breaker* b, int64_t now) {
  grpcr_breaker_ticket t;
  EXPECT_TRUE(grpcr_breaker_try_acquire(b, now, &t, nullptr));
  grpcr_breaker_record(b, &t, kUnavailable, now, nullptr);
  grpcr_breaker_snapshot s = Snap(b, now);
  EXPECT_EQ(GRPCR_BREAKER_OPEN, s.state);
  return s.open_period_ns;
}

TEST(BreakerTest, OpenPeriodGrowsByTheMultiplierUpToTheCapAndResetsOnClose) {
  grpcr_breaker_config c = Config(0.5, 2);
  c.open_duration_ns = 10 * kSec;
  c.open_duration_multiplier = 3;
  c.max_open_duration_ns = 100 * kSec;
  BreakerPtr b = Make(c);
  Trip(b.get(), 2, 0);
  EXPECT_EQ(10 * kSec, Snap(b.get(), 0).open_period_ns);
  int64_t now = 0;
  std::vector<int64_t> periods;
  int64_t period = 10 * kSec;
  for (int i = 0; i < 4; i++) {
    now += period;
    period = FailProbe(b.get(), now);
    periods.push_back(period);
  }
  EXPECT_EQ((std::vector<int64_t>{30 * kSec, 90 * kSec, 100 * kSec,
                                  100 * kSec}),
            periods);
  // A probe that succeeds closes it; the next opening starts again at 10 s.
  now += period;
  ASSERT_TRUE(Call(b.get(), kOk, now));
  ASSERT_EQ(GRPCR_BREAKER_CLOSED, State(b.get(), now));
  Trip(b.get(), 2, now);
  EXPECT_EQ(10 * kSec, Snap(b.get(), now).open_period_ns);
}

TEST(BreakerTest, MultiplierOneKeepsTheOpenPeriod) {
  grpcr_breaker_config c = Config(0.5, 2);
  c.open_duration_multiplier = 1;
  BreakerPtr b = Make(c);
  Trip(b.get(), 2, 0);
  EXPECT_EQ(30 * kSec, FailProbe(b.get(), 30 * kSec));
  EXPECT_EQ(30 * kSec, FailProbe(b.get(), 60 * kSec));
}

// Each period is the nominal one shortened by up to the jitter (never
// lengthened), from the breaker's own seeded generator: the same seed gives
// the same periods, and over many breakers they spread over the range.
TEST(BreakerTest, OpenPeriodJitterStaysInItsBoundsAndSpreads) {
  grpcr_breaker_config c = Config(0.5, 1);
  c.open_duration_jitter = 0.2;
  double lo = 1, hi = 0;
  std::set<int64_t> distinct;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    BreakerPtr b(grpcr_breaker_create_seeded(&c, 0, seed));
    ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
    const int64_t p = Snap(b.get(), 0).open_period_ns;
    const double f = static_cast<double>(p) / (30 * kSec);
    EXPECT_GE(f, 0.8) << seed;
    EXPECT_LE(f, 1.0) << seed;
    lo = std::min(lo, f);
    hi = std::max(hi, f);
    distinct.insert(p);
    BreakerPtr again(grpcr_breaker_create_seeded(&c, 0, seed));
    ASSERT_TRUE(Call(again.get(), kUnavailable, 0));
    EXPECT_EQ(p, Snap(again.get(), 0).open_period_ns) << seed;
  }
  // 200 uniform draws: both ends of the range are within 0.05 of a draw
  // (each misses with probability 0.75^200).
  EXPECT_LT(lo, 0.85);
  EXPECT_GT(hi, 0.95);
  EXPECT_GT(distinct.size(), 190u);
}

TEST(BreakerTest, OpenPeriodConfigValidity) {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  EXPECT_EQ(2.0, c.open_duration_multiplier);
  EXPECT_EQ(300 * kSec, c.max_open_duration_ns);
  EXPECT_EQ(0.2, c.open_duration_jitter);
  EXPECT_TRUE(grpcr_breaker_config_valid(&c));
  for (double m : {0.99, 10.01}) {
    grpcr_breaker_config d = c;
    d.open_duration_multiplier = m;
    EXPECT_FALSE(grpcr_breaker_config_valid(&d)) << m;
  }
  grpcr_breaker_config d = c;
  d.max_open_duration_ns = c.open_duration_ns - 1;
  EXPECT_FALSE(grpcr_breaker_config_valid(&d));
  d = c;
  d.open_duration_jitter = 0.51;
  EXPECT_FALSE(grpcr_breaker_config_valid(&d));
}

TEST(BreakerTest, AdmitsRetryWhileClosedWhateverTheGeneration) {
  BreakerPtr b = Make(Config(0.5, 2));
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &t, nullptr));
  EXPECT_TRUE(grpcr_breaker_admits_retry(b.get(), &t, 1));
  // OPEN -> HALF_OPEN -> CLOSED while the call waited: CLOSED admits anyone.
  Trip(b.get(), 2, 1);
  ASSERT_TRUE(Call(b.get(), kOk, 30 * kSec + 1));
  ASSERT_EQ(State(b.get(), 30 * kSec + 1), GRPCR_BREAKER_CLOSED);
  EXPECT_TRUE(grpcr_breaker_admits_retry(b.get(), &t, 30 * kSec + 2));
}

TEST(BreakerTest, AdmitsNoRetryWhileOpenEvenOnceHalfOpenIsDue) {
  BreakerPtr b = Make(Config(0.5, 2));
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &t, nullptr));
  Trip(b.get(), 2, 0);
  EXPECT_FALSE(grpcr_breaker_admits_retry(b.get(), &t, 1));
  EXPECT_FALSE(grpcr_breaker_admits_retry(b.get(), &t, 30 * kSec));
  EXPECT_FALSE(grpcr_breaker_admits_retry(b.get(), &t, 60 * kSec));
  // It changed nothing: the next acquire makes the transition and gets the
  // one probe slot.
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(s.stale_results_total, 0u);
  EXPECT_EQ(s.rejected_total, 0u);
  grpcr_breaker_ticket probe;
  EXPECT_TRUE(grpcr_breaker_try_acquire(b.get(), 60 * kSec, &probe, nullptr));
}

TEST(BreakerTest, HalfOpenAdmitsRetriesOnlyOfAProbeWithinItsSlot) {
  grpcr_breaker_config c = Config(0.5, 2);
  c.probe_timeout_ns = 5 * kSec;
  BreakerPtr b = Make(c);
  grpcr_breaker_ticket closed_call;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &closed_call, nullptr));
  Trip(b.get(), 2, 0);
  const int64_t half = 30 * kSec;
  grpcr_breaker_ticket probe;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half, &probe, nullptr));
  ASSERT_EQ(probe.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_TRUE(grpcr_breaker_admits_retry(b.get(), &probe, half + 1));
  EXPECT_TRUE(grpcr_breaker_admits_retry(b.get(), &probe, half + 5 * kSec - 1));
  // A call admitted before the breaker opened holds no slot.
  EXPECT_FALSE(grpcr_breaker_admits_retry(b.get(), &closed_call, half + 1));
  // probeTimeout: the probe's lease is over, whether or not an acquire has
  // freed the slot yet.
  EXPECT_FALSE(grpcr_breaker_admits_retry(b.get(), &probe, half + 5 * kSec));
  EXPECT_EQ(Snap(b.get(), half + 5 * kSec).probes_in_flight, 1u);
}

TEST(BreakerTest, CancelledProbeFreesItsSlotWithNoVerdict) {
  BreakerPtr b = Make(Config(0.5, 1));
  Trip(b.get(), 1, 0);
  const int64_t half = 30 * kSec;
  grpcr_breaker_ticket p1, p2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half, &p1, nullptr));
  grpcr_breaker_transition tr;
  grpcr_breaker_record_outcome(b.get(), &p1, kCancelled,
                               GRPCR_ORIGIN_CANCELLED, half + 1, &tr);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_snapshot s = Snap(b.get(), half + 1);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.no_verdict_total, 1u);
  EXPECT_EQ(s.probes_freed_total, 1u);
  EXPECT_EQ(s.probes_in_flight, 0u);
  EXPECT_EQ(s.stale_results_total, 0u);

  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half + 2, &p2, nullptr));
  EXPECT_EQ(p2.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_record(b.get(), &p2, kOk, half + 3, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(State(b.get(), half + 3), GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, ReleaseInClosedCountsNoVerdictAndNoCall) {
  BreakerPtr b = Make(Config(0.5, 20));
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &t, nullptr));
  grpcr_breaker_release(b.get(), &t, 1);
  grpcr_breaker_snapshot s = Snap(b.get(), 1);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.no_verdict_total, 1u);
  EXPECT_EQ(s.probes_freed_total, 0u);
  EXPECT_EQ(s.calls_in_window, 0u);
  EXPECT_EQ(s.failures_in_window, 0u);
  // A LOCAL outcome is the same: no verdict.
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 2, &t, nullptr));
  grpcr_breaker_record_outcome(b.get(), &t, kUnavailable, GRPCR_ORIGIN_LOCAL,
                               2, nullptr);
  s = Snap(b.get(), 2);
  EXPECT_EQ(s.no_verdict_total, 2u);
  EXPECT_EQ(s.calls_in_window, 0u);
}

TEST(BreakerTest, ReleaseInHalfOpenFreesTheProbeSlot) {
  BreakerPtr b = Make(Config(0.5, 1));
  Trip(b.get(), 1, 0);
  const int64_t half = 30 * kSec;
  grpcr_breaker_ticket p1, p2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half, &p1, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), half, &p2, nullptr));
  grpcr_breaker_release(b.get(), &p1, half + 1);
  grpcr_breaker_snapshot s = Snap(b.get(), half + 1);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.no_verdict_total, 1u);
  EXPECT_EQ(s.probes_freed_total, 1u);
  EXPECT_EQ(s.probes_in_flight, 0u);
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), half + 1, &p2, nullptr));
  EXPECT_EQ(Snap(b.get(), half + 1).probes_in_flight, 1u);
  grpcr_breaker_record(b.get(), &p2, kOk, half + 2, nullptr);
  EXPECT_EQ(State(b.get(), half + 2), GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, ProbeHeldForProbeTimeoutIsFreedAndItsLateResultIsStale) {
  grpcr_breaker_config c = Config(0.5, 1);
  c.probe_timeout_ns = 5 * kSec;
  BreakerPtr b = Make(c);
  Trip(b.get(), 1, 0);
  const int64_t admitted = 30 * kSec;
  grpcr_breaker_ticket p1, p2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), admitted, &p1, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), admitted + 5 * kSec - 1, &p2,
                                         nullptr));
  EXPECT_EQ(Snap(b.get(), admitted + 5 * kSec - 1).probes_expired_total, 0u);
  ASSERT_TRUE(
      grpcr_breaker_try_acquire(b.get(), admitted + 5 * kSec, &p2, nullptr));
  grpcr_breaker_snapshot s = Snap(b.get(), admitted + 5 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.probes_expired_total, 1u);
  EXPECT_EQ(s.probes_in_flight, 1u);
  EXPECT_EQ(s.rejected_total, 1u);
  EXPECT_EQ(s.probe_timeout_ns, 5 * kSec);

  // The first probe's success arrives late: its lease is gone.
  grpcr_breaker_transition tr;
  grpcr_breaker_record(b.get(), &p1, kOk, admitted + 6 * kSec, &tr);
  EXPECT_FALSE(tr.happened);
  s = Snap(b.get(), admitted + 6 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.stale_results_total, 1u);
  EXPECT_EQ(s.probes_in_flight, 1u);

  grpcr_breaker_record(b.get(), &p2, kOk, admitted + 7 * kSec, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(State(b.get(), admitted + 7 * kSec), GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, HalfOpenAdmitsWhileInFlightPlusSucceededIsBelowMaxCalls) {
  BreakerPtr b = Make(Config(0.5, 1, /*half_open_max_calls=*/3));
  Trip(b.get(), 1, 0);
  const int64_t now = 30 * kSec;
  grpcr_breaker_ticket p1, p2, p3, p4, extra;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p2, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p3, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), now, &extra, nullptr));

  grpcr_breaker_record(b.get(), &p1, kOk, now + 1, nullptr);
  grpcr_breaker_record(b.get(), &p2, kOk, now + 2, nullptr);
  EXPECT_EQ(State(b.get(), now + 2), GRPCR_BREAKER_HALF_OPEN);
  // 1 in flight + 2 succeeded = 3: still full.
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), now + 2, &extra, nullptr));

  // A released probe frees exactly one admission.
  grpcr_breaker_release(b.get(), &p3, now + 3);
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now + 3, &p4, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), now + 3, &extra, nullptr));
  grpcr_breaker_snapshot s = Snap(b.get(), now + 3);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.rejected_total, 3u);
  EXPECT_EQ(s.probes_in_flight, 1u);

  // The third success in all closes it.
  grpcr_breaker_transition tr;
  grpcr_breaker_record(b.get(), &p4, kOk, now + 4, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.from, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, ReconfigureKeepsAnOpenBreakerOpenWithItsGeneration) {
  BreakerPtr b = Make(Config(0.5, 2));
  grpcr_breaker_ticket early;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 0, &early, nullptr));
  Trip(b.get(), 2, 1 * kSec);

  const grpcr_breaker_config c2 = Config(0.6, 2);
  grpcr_breaker_transition tr;
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), &c2, 2 * kSec, &tr), 0);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_snapshot s = Snap(b.get(), 2 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.transitions_total, 1u);
  EXPECT_EQ(s.reconfigured_total, 1u);
  EXPECT_EQ(s.time_in_state_ns, 1 * kSec);
  // The ticket from CLOSED is still of an older generation.
  grpcr_breaker_record(b.get(), &early, kOk, 2 * kSec, nullptr);
  EXPECT_EQ(Snap(b.get(), 2 * kSec).stale_results_total, 1u);
  EXPECT_EQ(State(b.get(), 2 * kSec), GRPCR_BREAKER_OPEN);

  // A HALF_OPEN ticket taken before a reconfigure still records.
  grpcr_breaker_ticket probe;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 31 * kSec, &probe, nullptr));
  const grpcr_breaker_config c3 = Config(0.7, 2);
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c3, 32 * kSec, &tr), 0);
  EXPECT_FALSE(tr.happened);
  EXPECT_EQ(Snap(b.get(), 32 * kSec).probes_in_flight, 1u);
  grpcr_breaker_record(b.get(), &probe, kOk, 33 * kSec, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_CLOSED);
  s = Snap(b.get(), 33 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.stale_results_total, 1u);
  EXPECT_EQ(s.reconfigured_total, 2u);
}

TEST(BreakerTest, ReconfigureToAShorterOpenDurationThatHasPassedIsHalfOpenNow) {
  BreakerPtr b = Make(Config(0.5, 1));
  Trip(b.get(), 1, 0);
  grpcr_breaker_config c = Config(0.5, 1);
  c.open_duration_ns = 5 * kSec;
  grpcr_breaker_transition tr;
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c, 10 * kSec, &tr), 0);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.from, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_snapshot s = Snap(b.get(), 10 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.time_in_state_ns, 0);
  EXPECT_EQ(s.open_ns_total, 10 * kSec);  // it rejected until now
  EXPECT_EQ(s.open_duration_ns, 5 * kSec);
  EXPECT_EQ(s.transitions_total, 2u);
  grpcr_breaker_ticket p;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 10 * kSec, &p, &tr));
  EXPECT_FALSE(tr.happened);
  EXPECT_EQ(p.admitted_in, GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_record(b.get(), &p, kOk, 10 * kSec, nullptr);
}

TEST(BreakerTest, ReconfigureToAShorterOpenDurationNotYetPassedEndsOpenSooner) {
  BreakerPtr b = Make(Config(0.5, 1));
  Trip(b.get(), 1, 0);
  grpcr_breaker_config c = Config(0.5, 1);
  c.open_duration_ns = 10 * kSec;
  grpcr_breaker_transition tr;
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c, 5 * kSec, &tr), 0);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_ticket p;
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), 10 * kSec - 1, &p, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 10 * kSec, &p, &tr));
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(Snap(b.get(), 10 * kSec).open_ns_total, 10 * kSec);
  grpcr_breaker_record(b.get(), &p, kOk, 10 * kSec, nullptr);
}

TEST(BreakerTest, ReconfigureToALongerOpenDurationCountsFromWhenItOpened) {
  BreakerPtr b = Make(Config(0.5, 1));
  Trip(b.get(), 1, 0);
  grpcr_breaker_config c = Config(0.5, 1);
  c.open_duration_ns = 60 * kSec;
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c, 20 * kSec, nullptr), 0);
  grpcr_breaker_ticket p;
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), 30 * kSec, &p, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), 60 * kSec - 1, &p, nullptr));
  EXPECT_EQ(State(b.get(), 60 * kSec - 1), GRPCR_BREAKER_OPEN);
  grpcr_breaker_transition tr;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), 60 * kSec, &p, &tr));
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_HALF_OPEN);
  grpcr_breaker_snapshot s = Snap(b.get(), 60 * kSec);
  EXPECT_EQ(s.open_ns_total, 60 * kSec);
  EXPECT_EQ(s.rejected_total, 2u);
  grpcr_breaker_record(b.get(), &p, kOk, 60 * kSec, nullptr);
}

TEST(BreakerTest, ReconfigureWithTheSameWindowKeepsItsCounts) {
  BreakerPtr b = Make(Config(0.9, 4));
  ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  ASSERT_TRUE(Call(b.get(), kOk, 0));
  ASSERT_TRUE(Call(b.get(), kOk, 0));
  ASSERT_EQ(State(b.get(), 0), GRPCR_BREAKER_CLOSED);  // 2/4 < 0.9
  const grpcr_breaker_config c = Config(0.5, 4);
  grpcr_breaker_transition tr;
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c, 1 * kSec, &tr), 0);
  EXPECT_FALSE(tr.happened);  // the new threshold waits for a verdict
  grpcr_breaker_snapshot s = Snap(b.get(), 1 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_CLOSED);
  EXPECT_EQ(s.calls_in_window, 4u);
  EXPECT_EQ(s.failures_in_window, 2u);
  ASSERT_TRUE(Call(b.get(), kOk, 1 * kSec));  // 2/5 < 0.5
  EXPECT_EQ(State(b.get(), 1 * kSec), GRPCR_BREAKER_CLOSED);
  ASSERT_TRUE(Call(b.get(), kUnavailable, 1 * kSec, &tr));  // 3/6 >= 0.5
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(State(b.get(), 1 * kSec), GRPCR_BREAKER_OPEN);
}

TEST(BreakerTest, ReconfigureWithAShorterWindowKeepsOnlyBucketsInsideIt) {
  BreakerPtr b = Make(Config(0.5, 1000));  // never opens
  // One call per 500 ms bucket, failing in the even ones.
  for (int i = 0; i < 20; i++)
    ASSERT_TRUE(Call(b.get(), i % 2 == 0 ? kUnavailable : kOk, i * 500 * kMs));
  grpcr_breaker_config c = Config(0.5, 1000);
  c.window_ns = 5 * kSec;
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c, 9500 * kMs, nullptr), 0);
  // The 5 s window at 9.5 s holds the bucket starts from 4.75 s: the calls
  // at 5 s .. 9.5 s (10 of them, failing at 5, 6, 7, 8, 9 s).
  grpcr_breaker_snapshot s = Snap(b.get(), 9500 * kMs);
  EXPECT_EQ(s.calls_in_window, 10u);
  EXPECT_EQ(s.failures_in_window, 5u);
  EXPECT_EQ(Snap(b.get(), 10 * kSec).calls_in_window, 9u);
  EXPECT_EQ(Snap(b.get(), 10 * kSec).failures_in_window, 4u);
}

TEST(BreakerTest, ReconfigureToFewerProbeSlotsFreesTheProbesBeyondThem) {
  BreakerPtr b = Make(Config(0.5, 1, /*half_open_max_calls=*/3));
  Trip(b.get(), 1, 0);
  const int64_t now = 30 * kSec;
  grpcr_breaker_ticket p0, p1, p2, extra;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p0, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p2, nullptr));
  const grpcr_breaker_config c = Config(0.5, 1, 1);
  grpcr_breaker_transition tr;
  ASSERT_EQ(grpcr_breaker_reconfigure(b.get(), &c, now + 1, &tr), 0);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_snapshot s = Snap(b.get(), now + 1);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.probes_in_flight, 1u);
  EXPECT_EQ(s.probes_freed_total, 2u);
  EXPECT_EQ(s.no_verdict_total, 2u);
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), now + 1, &extra, nullptr));

  // The freed probes' results are stale, whatever they say.
  grpcr_breaker_record(b.get(), &p1, kUnavailable, now + 2, &tr);
  EXPECT_FALSE(tr.happened);
  grpcr_breaker_record(b.get(), &p2, kOk, now + 2, &tr);
  EXPECT_FALSE(tr.happened);
  s = Snap(b.get(), now + 2);
  EXPECT_EQ(s.state, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(s.stale_results_total, 2u);
  // The kept probe decides, with the new count of one.
  grpcr_breaker_record(b.get(), &p0, kOk, now + 3, &tr);
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(tr.to, GRPCR_BREAKER_CLOSED);
}

TEST(BreakerTest, ReconfiguredTotalCountsOnlyActualChanges) {
  BreakerPtr b = Make(Config(0.5, 20));
  const grpcr_breaker_config same = Config(0.5, 20);
  const grpcr_breaker_config other = Config(0.5, 21);
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), &same, 0, nullptr), 0);
  EXPECT_EQ(Snap(b.get(), 0).reconfigured_total, 0u);
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), &other, 0, nullptr), 0);
  EXPECT_EQ(Snap(b.get(), 0).reconfigured_total, 1u);
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), &other, 0, nullptr), 0);
  EXPECT_EQ(Snap(b.get(), 0).reconfigured_total, 1u);
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), &same, 0, nullptr), 0);
  EXPECT_EQ(Snap(b.get(), 0).reconfigured_total, 2u);
  EXPECT_EQ(Snap(b.get(), 0).transitions_total, 0u);
}

TEST(BreakerTest, ReconfigureWithAnInvalidConfigReturnsEinvalAndChangesNothing) {
  BreakerPtr b = Make(Config(0.5, 1));
  Trip(b.get(), 1, 0);
  grpcr_breaker_config bad = Config(0.5, 1);
  bad.open_duration_ns = 1 * kSec;  // would make it HALF_OPEN at once...
  bad.probe_timeout_ns = 0;         // ...but the config is invalid
  grpcr_breaker_transition tr = {true, GRPCR_BREAKER_OPEN, GRPCR_BREAKER_OPEN};
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), &bad, 10 * kSec, &tr),
            GRPCR_EINVAL);
  EXPECT_FALSE(tr.happened);
  EXPECT_EQ(grpcr_breaker_reconfigure(b.get(), nullptr, 10 * kSec, nullptr),
            GRPCR_EINVAL);
  const grpcr_breaker_config good = Config(0.5, 1);
  EXPECT_EQ(grpcr_breaker_reconfigure(nullptr, &good, 10 * kSec, nullptr),
            GRPCR_EINVAL);
  grpcr_breaker_snapshot s = Snap(b.get(), 10 * kSec);
  EXPECT_EQ(s.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(s.open_duration_ns, 30 * kSec);
  EXPECT_EQ(s.probe_timeout_ns, 10 * kSec);
  EXPECT_EQ(s.reconfigured_total, 0u);
  EXPECT_EQ(s.transitions_total, 1u);
  grpcr_breaker_ticket p;
  EXPECT_FALSE(grpcr_breaker_try_acquire(b.get(), 30 * kSec - 1, &p, nullptr));
  EXPECT_TRUE(grpcr_breaker_try_acquire(b.get(), 30 * kSec, &p, nullptr));
  grpcr_breaker_record(b.get(), &p, kOk, 30 * kSec, nullptr);
}

TEST(BreakerTest, RefThenTwoDestroysFreesOnTheSecond) {
  const grpcr_breaker_config c = Config(0.5, 1);
  grpcr_breaker* b = grpcr_breaker_create(&c, 0);
  ASSERT_NE(b, nullptr);
  grpcr_breaker_ref(b);
  grpcr_breaker_destroy(b);
  // Still alive: the other reference holds it.
  ASSERT_TRUE(Call(b, kUnavailable, 1));
  EXPECT_EQ(State(b, 1), GRPCR_BREAKER_OPEN);
  grpcr_breaker_destroy(b);  // freed (checked by the sanitizer builds)
}

TEST(BreakerTest, NonPositiveProbeTimeoutIsRejected) {
  grpcr_breaker_config c = Config(0.5, 20);
  for (int64_t t : {int64_t{0}, int64_t{-1}, INT64_MIN}) {
    c.probe_timeout_ns = t;
    EXPECT_EQ(grpcr_breaker_create(&c, 0), nullptr) << t;
  }
  c.probe_timeout_ns = 1;
  grpcr_breaker* b = grpcr_breaker_create(&c, 0);
  EXPECT_NE(b, nullptr);
  grpcr_breaker_destroy(b);
}

TEST(BreakerTest, DefaultProbeTimeoutIsTenSeconds) {
  EXPECT_EQ(grpcr_breaker_config_default().probe_timeout_ns, 10 * kSec);
  const grpcr_breaker_config c = grpcr_breaker_config_default();
  BreakerPtr b = Make(c);
  EXPECT_EQ(Snap(b.get(), 0).probe_timeout_ns, 10 * kSec);
}

TEST(BreakerTest, ConfigEqualDetectsADifferenceInEachField) {
  const grpcr_breaker_config base = grpcr_breaker_config_default();
  grpcr_breaker_config copy = base;
  EXPECT_TRUE(grpcr_breaker_config_equal(&base, &copy));
  std::vector<std::pair<const char*, grpcr_breaker_config>> diffs;
  auto with = [&](const char* what, auto mutate) {
    grpcr_breaker_config c = base;
    mutate(c);
    diffs.emplace_back(what, c);
  };
  with("threshold", [](auto& c) { c.failure_rate_threshold = 0.6; });
  with("minimum_calls", [](auto& c) { c.minimum_calls = 21; });
  with("window", [](auto& c) { c.window_ns += 1; });
  with("open_duration", [](auto& c) { c.open_duration_ns += 1; });
  with("half_open_max_calls", [](auto& c) { c.half_open_max_calls = 2; });
  with("trip_codes", [](auto& c) { c.trip_codes = GRPCR_CODE_BIT(kInternal); });
  with("probe_timeout", [](auto& c) { c.probe_timeout_ns += 1; });
  for (const auto& [what, c] : diffs) {
    EXPECT_FALSE(grpcr_breaker_config_equal(&base, &c)) << what;
    EXPECT_FALSE(grpcr_breaker_config_equal(&c, &base)) << what;
  }
}

// Fewer probe slots than probes already succeeded: nothing is left in
// flight to decide, so the breaker must close at once, not reject forever.
TEST(BreakerTest, ReconfigureToFewerSlotsThanProbesSucceededCloses) {
  grpcr_breaker_config three = Config(0.5, 1, 3);
  grpcr_breaker_config two = Config(0.5, 1, 2);
  BreakerPtr b = Make(three);
  ASSERT_TRUE(Call(b.get(), kUnavailable, 0));
  const int64_t now = 30 * kSec;
  grpcr_breaker_ticket p0, p1, p2;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p0, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b.get(), now, &p2, nullptr));
  grpcr_breaker_record(b.get(), &p0, kOk, now + 1, nullptr);
  grpcr_breaker_record(b.get(), &p1, kOk, now + 2, nullptr);
  grpcr_breaker_transition tr;
  ASSERT_EQ(0, grpcr_breaker_reconfigure(b.get(), &two, now + 3, &tr));
  EXPECT_TRUE(tr.happened);
  EXPECT_EQ(GRPCR_BREAKER_HALF_OPEN, tr.from);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, tr.to);
  grpcr_breaker_snapshot s = Snap(b.get(), now + 3);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.state);
  EXPECT_EQ(1u, s.probes_freed_total);
  EXPECT_TRUE(Call(b.get(), kOk, now + 4));
}

// Time spans further apart than INT64_MAX (a clock jump from one end to
// the other) must neither overflow (UBSan checks) nor keep it OPEN.
TEST(BreakerTest, ClockJumpAcrossTheWholeRangeEndsOpen) {
  BreakerPtr b = Make(Config(0.5, 1), INT64_MIN);
  ASSERT_TRUE(Call(b.get(), kUnavailable, INT64_MIN));
  ASSERT_EQ(GRPCR_BREAKER_OPEN, Snap(b.get(), INT64_MIN).state);
  grpcr_breaker_snapshot s = Snap(b.get(), INT64_MAX);
  EXPECT_EQ(GRPCR_BREAKER_HALF_OPEN, s.state);
  EXPECT_EQ(30 * kSec, s.open_ns_total);
  grpcr_breaker_ticket t;
  EXPECT_TRUE(grpcr_breaker_try_acquire(b.get(), INT64_MAX, &t, nullptr));
  grpcr_breaker_record(b.get(), &t, kOk, INT64_MAX, nullptr);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, Snap(b.get(), INT64_MAX).state);
}

}  // namespace
