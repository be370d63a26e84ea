// Adaptive throttling in the breaker (include/grpcr/breaker.h): while
// CLOSED a call is rejected locally with probability
// max(0, (requests - k * accepts) / (requests + 1)) over the throttle's
// window, once it holds minimum_calls requests. Time is a plain int64 the
// tests pass in; the generator is seeded.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "grpcr/breaker.h"

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;
constexpr int kOk = 0;
constexpr int kNotFound = 5;
constexpr int kUnavailable = 14;
constexpr int kDeadlineExceeded = 4;
constexpr int kCancelled = 1;

struct BreakerDeleter {
  void operator()(grpcr_breaker* b) const { grpcr_breaker_destroy(b); }
};
using BreakerPtr = std::unique_ptr<grpcr_breaker, BreakerDeleter>;

// k 2 (Google SRE's suggestion; the default is 3) over 2 s, a minimum of
// 10 and a failure threshold of 1 (the breaker opens only when every
// verdict in its window is a failure), so the throttle can be seen on its
// own.
grpcr_breaker_config Config(double k = 2, int64_t window_ns = 2 * kSec) {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  c.minimum_calls = 10;
  c.failure_rate_threshold = 1.0;
  c.open_duration_jitter = 0;
  c.throttle_k = k;
  c.throttle_window_ns = window_ns;
  return c;
}

BreakerPtr Make(const grpcr_breaker_config& c, uint64_t seed = 7) {
  BreakerPtr b(grpcr_breaker_create_seeded(&c, 0, seed));
  EXPECT_NE(b, nullptr);
  return b;
}

// Admits a call at now and records its end at the same time. Returns the
// admission.
grpcr_admission Call(grpcr_breaker* b, int64_t now, int code,
                     grpcr_status_origin origin = GRPCR_ORIGIN_REMOTE,
                     bool in_flight = false) {
  grpcr_breaker_ticket t;
  grpcr_admission a = grpcr_breaker_acquire(b, now, &t, nullptr);
  if (a != GRPCR_ADMITTED) return a;
  grpcr_call_result r = {code, origin, 0, in_flight};
  grpcr_breaker_record_result(b, &t, &r, now, nullptr);
  return a;
}

// A call the client's deadline ended at the server: no verdict without a
// slow-call rule, a request without an accept for the throttle.
grpcr_admission Unanswered(grpcr_breaker* b, int64_t now) {
  return Call(b, now, kDeadlineExceeded, GRPCR_ORIGIN_DEADLINE, true);
}

grpcr_breaker_snapshot Snap(grpcr_breaker* b, int64_t now) {
  grpcr_breaker_snapshot s;
  grpcr_breaker_snapshot_get(b, now, &s);
  return s;
}

TEST(ThrottleTest, DefaultsAreKThreeOverTwoSeconds) {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  EXPECT_EQ(3.0, c.throttle_k);
  EXPECT_EQ(2 * kSec, c.throttle_window_ns);
}

TEST(ThrottleTest, ConfigRangesAreChecked) {
  grpcr_breaker_config c = Config();
  for (double k : {0.0, 1.0, 1.5, 10.0}) {
    c.throttle_k = k;
    EXPECT_TRUE(grpcr_breaker_config_valid(&c)) << k;
  }
  for (double k : {-1.0, 0.5, 0.999, 10.01, std::nan("")}) {
    c.throttle_k = k;
    EXPECT_FALSE(grpcr_breaker_config_valid(&c)) << k;
  }
  c = Config();
  c.throttle_window_ns = 0;
  EXPECT_FALSE(grpcr_breaker_config_valid(&c));
}

TEST(ThrottleTest, TheProbabilityIsTheSreFormula) {
  BreakerPtr b = Make(Config());
  for (int i = 0; i < 10; i++) ASSERT_EQ(GRPCR_ADMITTED, Call(b.get(), 0, kOk));
  for (int i = 0; i < 20; i++) {
    // Below 30 requests with 10 accepts the probability is at most
    // (29 - 20) / 30; these go through whatever the draws say, or are
    // throttled and count as requests all the same.
    Unanswered(b.get(), 0);
  }
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(30u, s.throttle_requests_in_window);
  EXPECT_EQ(10u, s.throttle_accepts_in_window);
  EXPECT_DOUBLE_EQ((30.0 - 2 * 10.0) / 31.0, s.throttle_probability);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.state);
  EXPECT_EQ(2.0, s.throttle_k);
  EXPECT_EQ(2 * kSec, s.throttle_window_ns);
}

TEST(ThrottleTest, NothingIsThrottledBelowMinimumCalls) {
  BreakerPtr b = Make(Config());
  for (int i = 0; i < 9; i++) {
    ASSERT_EQ(GRPCR_ADMITTED, Unanswered(b.get(), 0)) << i;
  }
  EXPECT_EQ(0.0, Snap(b.get(), 0).throttle_probability);
  // The tenth reaches the minimum: from here on 10/11 of calls are refused.
  ASSERT_EQ(GRPCR_ADMITTED, Unanswered(b.get(), 0));
  EXPECT_DOUBLE_EQ(10.0 / 11.0, Snap(b.get(), 0).throttle_probability);
}

TEST(ThrottleTest, AThrottledCallIsARequestAndIsCountedApart) {
  BreakerPtr b = Make(Config());
  for (int i = 0; i < 10; i++) Unanswered(b.get(), 0);
  int throttled = 0, admitted = 0;
  for (int i = 0; i < 200; i++) {
    grpcr_admission a = Unanswered(b.get(), 0);
    ASSERT_NE(GRPCR_REJECTED_OPEN, a);
    (a == GRPCR_REJECTED_THROTTLED ? throttled : admitted)++;
  }
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(static_cast<uint64_t>(throttled), s.throttled_total);
  EXPECT_EQ(210u, s.throttle_requests_in_window);
  EXPECT_EQ(0u, s.throttle_accepts_in_window);
  EXPECT_EQ(0u, s.rejected_total);  // the breaker's own count is apart
  // With no accepts, the n-th request passes with probability 1/(n+1):
  // about ln(210/10) = 3 of 200 pass; 12 would be a 1-in-10^6 event.
  EXPECT_LE(admitted, 12);
  EXPECT_GE(throttled, 188);
}

TEST(ThrottleTest, TheRejectedShareFollowsTheProbability) {
  // 1000 requests, 250 accepts: p = 500/1001 at the start; each throttled
  // call adds a request, so over 400 more calls p climbs to at most
  // (1400 - 500) / 1401 = 0.64. The rejected share must lie between.
  BreakerPtr b = Make(Config(2, 10 * kSec), 12345);
  for (int i = 0; i < 250; i++) Call(b.get(), 0, kOk);
  for (int i = 0; i < 750; i++) Call(b.get(), 0, kUnavailable);
  ASSERT_EQ(GRPCR_BREAKER_CLOSED, Snap(b.get(), 0).state);
  int throttled = 0;
  for (int i = 0; i < 400; i++) {
    grpcr_breaker_ticket t;
    grpcr_admission a = grpcr_breaker_acquire(b.get(), 0, &t, nullptr);
    if (a == GRPCR_REJECTED_THROTTLED) {
      throttled++;
    } else {
      ASSERT_EQ(GRPCR_ADMITTED, a);
      grpcr_breaker_release(b.get(), &t, 0);  // no verdict: not counted
    }
  }
  // Binomial, n = 400, p in [0.50, 0.64]: 4.5 standard deviations of room.
  EXPECT_GE(throttled, 160);
  EXPECT_LE(throttled, 290);
}

TEST(ThrottleTest, SuccessesNeverThrottle) {
  BreakerPtr b = Make(Config());
  for (int i = 0; i < 1000; i++) {
    ASSERT_EQ(GRPCR_ADMITTED, Call(b.get(), i * kMs, i % 2 ? kOk : kNotFound));
  }
  grpcr_breaker_snapshot s = Snap(b.get(), 999 * kMs);
  EXPECT_EQ(0.0, s.throttle_probability);
  EXPECT_EQ(0u, s.throttled_total);
  EXPECT_EQ(1000u, s.throttle_accepts_in_window);
}

TEST(ThrottleTest, OnlyVerdictsAndDeadlinesAtTheServerAreCounted) {
  BreakerPtr b = Make(Config());
  // Neither a request nor an accept: the application's cancel, a local
  // error, a deadline with nothing at the server, a released ticket.
  for (int i = 0; i < 30; i++) {
    ASSERT_EQ(GRPCR_ADMITTED, Call(b.get(), 0, kCancelled, GRPCR_ORIGIN_CANCELLED));
    ASSERT_EQ(GRPCR_ADMITTED, Call(b.get(), 0, kUnavailable, GRPCR_ORIGIN_LOCAL));
    ASSERT_EQ(GRPCR_ADMITTED, Call(b.get(), 0, kDeadlineExceeded,
                                   GRPCR_ORIGIN_DEADLINE, false));
    grpcr_breaker_ticket t;
    ASSERT_EQ(GRPCR_ADMITTED, grpcr_breaker_acquire(b.get(), 0, &t, nullptr));
    grpcr_breaker_release(b.get(), &t, 0);
  }
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(0u, s.throttle_requests_in_window);
  // A failure verdict is a request without an accept; a success, both.
  Call(b.get(), 0, kUnavailable);
  Call(b.get(), 0, kOk);
  s = Snap(b.get(), 0);
  EXPECT_EQ(2u, s.throttle_requests_in_window);
  EXPECT_EQ(1u, s.throttle_accepts_in_window);
}

TEST(ThrottleTest, KZeroTurnsItOff) {
  BreakerPtr b = Make(Config(0));
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ(GRPCR_ADMITTED, Unanswered(b.get(), 0)) << i;
  }
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_EQ(0u, s.throttle_requests_in_window);
  EXPECT_EQ(0.0, s.throttle_probability);
  EXPECT_EQ(0u, s.throttled_total);
}

TEST(ThrottleTest, CountsOlderThanTheWindowAreForgotten) {
  BreakerPtr b = Make(Config());
  for (int i = 0; i < 10; i++) Unanswered(b.get(), 0);
  EXPECT_DOUBLE_EQ(10.0 / 11.0, Snap(b.get(), 0).throttle_probability);
  // 20 buckets of 100 ms: the last bucket with counts leaves at 2 s.
  EXPECT_DOUBLE_EQ(10.0 / 11.0, Snap(b.get(), 2 * kSec - 1).throttle_probability);
  EXPECT_EQ(0.0, Snap(b.get(), 2 * kSec).throttle_probability);
  EXPECT_EQ(GRPCR_ADMITTED, Unanswered(b.get(), 2 * kSec));
}

TEST(ThrottleTest, OpenRejectsAsTheBreakerNotAsTheThrottle) {
  grpcr_breaker_config c = Config();
  BreakerPtr b = Make(c);
  for (int i = 0; i < 10; i++) Call(b.get(), 0, kUnavailable);
  ASSERT_EQ(GRPCR_BREAKER_OPEN, Snap(b.get(), 0).state);
  for (int i = 0; i < 5; i++) EXPECT_EQ(GRPCR_REJECTED_OPEN, Unanswered(b.get(), 1));
  grpcr_breaker_snapshot s = Snap(b.get(), 1);
  EXPECT_EQ(5u, s.rejected_total);
  EXPECT_EQ(0u, s.throttled_total);
  EXPECT_EQ(0.0, s.throttle_probability);  // not CLOSED: it decides nothing
}

TEST(ThrottleTest, ClosingAfterProbesClearsItsWindow) {
  grpcr_breaker_config c = Config();
  c.open_duration_ns = 1 * kSec;
  c.throttle_window_ns = 10 * kSec;
  BreakerPtr b = Make(c);
  for (int i = 0; i < 10; i++) Call(b.get(), 0, kUnavailable);
  ASSERT_EQ(GRPCR_BREAKER_OPEN, Snap(b.get(), 0).state);
  ASSERT_EQ(GRPCR_ADMITTED, Call(b.get(), 1 * kSec, kOk));  // the probe
  grpcr_breaker_snapshot s = Snap(b.get(), 1 * kSec);
  ASSERT_EQ(GRPCR_BREAKER_CLOSED, s.state);
  EXPECT_EQ(0u, s.throttle_requests_in_window);
  EXPECT_EQ(0.0, s.throttle_probability);
}

TEST(ThrottleTest, ReconfiguringKeepsTheCountsAndAppliesTheNewK) {
  BreakerPtr b = Make(Config());
  for (int i = 0; i < 10; i++) Call(b.get(), 0, kOk);
  for (int i = 0; i < 20; i++) Call(b.get(), 0, kUnavailable);
  ASSERT_EQ(GRPCR_BREAKER_CLOSED, Snap(b.get(), 0).state);
  EXPECT_DOUBLE_EQ(10.0 / 31.0, Snap(b.get(), 0).throttle_probability);
  grpcr_breaker_config c = Config(3);
  ASSERT_EQ(0, grpcr_breaker_reconfigure(b.get(), &c, 0, nullptr));
  EXPECT_EQ(0.0, Snap(b.get(), 0).throttle_probability);  // 30 - 3 x 10
  c = Config(1);
  ASSERT_EQ(0, grpcr_breaker_reconfigure(b.get(), &c, 0, nullptr));
  grpcr_breaker_snapshot s = Snap(b.get(), 0);
  EXPECT_DOUBLE_EQ(20.0 / 31.0, s.throttle_probability);
  EXPECT_EQ(30u, s.throttle_requests_in_window);
}

TEST(ThrottleTest, TheSameSeedThrottlesTheSameCalls) {
  auto run = [](uint64_t seed) {
    BreakerPtr b = Make(Config(), seed);
    for (int i = 0; i < 10; i++) Call(b.get(), 0, kOk);
    std::string pattern;
    for (int i = 0; i < 100; i++) {
      pattern += Unanswered(b.get(), i * kMs) == GRPCR_ADMITTED ? 'a' : 't';
    }
    return pattern;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

}  // namespace
