// Overload (docs/semantics.md): slow calls, a breaker with
// slowCallDurationThreshold that opens on a dependency that slows down or
// stops answering, not only on one that fails (without the field nothing
// changes); an open period that grows with each failed probe; and adaptive
// throttling.
#include <gtest/gtest.h>

#include <grpc/grpc.h>

#include <string>

#include "grpcr/grpcr.h"
#include "support/breaker_fixture.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

class SlowCallTest : public BreakerFixture {
 protected:
  // The breaker's members for RetrySpec::top_level: 4 calls, 0.5 of them
  // slow (over `threshold`) opens it for 30 s.
  static std::string SlowBreaker(const std::string& threshold) {
    return Breaker(4, "30s",
                   "\"slowCallDurationThreshold\": \"" + threshold +
                       "\", \"slowCallRateThreshold\": 0.5");
  }
};

// Calls the server holds 200 ms, answered OK: with a 100 ms threshold each
// is slow, and the breaker opens after minimumCalls; calls it then rejects
// reach no server.
TEST_F(SlowCallTest, CallsSlowerThanTheThresholdOpenTheBreaker) {
  Reply slow;
  slow.delay_ms = 200;
  server_.SetDefault(slow);
  RetrySpec spec;
  spec.top_level = SlowBreaker("0.1s");
  ChannelPtr ch = Channel(spec);
  for (int i = 0; i < 4; i++) {
    CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
    EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  }
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(0u, b.failures_in_window);
  EXPECT_EQ(4u, b.slow_calls_total);
  for (int i = 0; i < 5; i++) {
    CallResult r = UnaryCall(ch.get(), kOtherMethod, "x", 5000);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
    EXPECT_TRUE(StartsWith(r.details, "circuit breaker open")) << r.details;
  }
  EXPECT_EQ(4, server_.arrival_count());
}

TEST_F(SlowCallTest, FastCallsAndNoRuleLeaveItClosed) {
  Reply slow;
  slow.delay_ms = 200;
  server_.SetDefault(slow);
  RetrySpec spec;
  spec.top_level = Breaker(4, "30s");  // no slow-call rule
  ChannelPtr ch = Channel(spec);
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
  }
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, b.state);
  EXPECT_EQ(0u, b.slow_calls_total);
  EXPECT_EQ(4u, b.calls_in_window);
}

// A black-holed dependency: it takes the call and never answers. Calls end
// with their own 200 ms deadline while at the server: slow, whatever the
// deadline, so the breaker opens within minimumCalls calls, and the server
// then sees nothing more.
TEST_F(SlowCallTest, ABlackHoledDependencyOpensItWithinMinimumCalls) {
  HoldCalls(/*watch_only=*/false);
  RetrySpec spec;
  spec.top_level = SlowBreaker("10s");  // no call lasts that long here
  ChannelPtr ch = Channel(spec);
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  for (int i = 0; i < 4; i++) {
    for (const char* method : {kSayMethod, kOtherMethod}) {
      if (BreakerNow().state != GRPCR_BREAKER_CLOSED) break;
      CallResult r = UnaryCall(ch.get(), method, "x", 200);
      EXPECT_EQ(GRPC_STATUS_DEADLINE_EXCEEDED, r.status);
    }
  }
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(4u, b.slow_calls_total);
  EXPECT_EQ(0u, b.no_verdict_total);
  const int arrivals = server_.arrival_count();
  EXPECT_EQ(4, arrivals);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
              UnaryCall(ch.get(), kSayMethod, "x", 200).status);
  }
  EXPECT_EQ(arrivals, server_.arrival_count());
}

// A call in its backoff when the client's deadline would end it never gets
// there (no retry is scheduled past the deadline), and one whose request
// never left gives no slow verdict: without a server to reach, a deadline
// is the caller's.
TEST_F(SlowCallTest, ADeadlineWithNothingSentIsNotSlow) {
  ClosedPort closed;
  RetrySpec spec;
  spec.top_level = SlowBreaker("10s");
  name_ = UniqueName();
  // wait_for_ready: the call waits for a connection that never comes, and
  // the deadline ends it before anything is sent.
  ChannelPtr ch(MakeChannel(closed.address(), ServiceConfig(spec),
                            {StringArg(GRPCR_ARG_NAME, name_.c_str())}));
  for (int i = 0; i < 4; i++) {
    PendingCall call(ch.get(), kOtherMethod, "x", 200,
                     {}, /*wait_for_ready=*/true);
    call.Start();
    EXPECT_EQ(GRPC_STATUS_DEADLINE_EXCEEDED, call.Wait(5000).status);
  }
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, b.state);
  EXPECT_EQ(0u, b.slow_calls_total);
  EXPECT_EQ(4u, b.no_verdict_total);
}

// A failed probe lengthens the next open period by the multiplier: the
// breaker admits the next probe only after 3 x 0.3 s, not 0.3 s.
TEST_F(SlowCallTest, AFailedProbeLengthensTheNextOpenPeriod) {
  RetrySpec spec;
  spec.top_level = Breaker(2, "0.3s",
                           "\"openDurationMultiplier\": 3, "
                           "\"openDurationJitter\": 0, "
                           "\"maxOpenDuration\": \"5s\"");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  SleepMs(350);
  server_.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "still down"));
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
            UnaryCall(ch.get(), kOtherMethod, "probe", 5000).status);
  const int64_t reopened = NowNs();
  grpcr_breaker_snapshot b = BreakerNow();
  ASSERT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(900 * 1000000LL, b.open_period_ns);
  EXPECT_EQ(2u, b.opened_total);
  const int before = server_.arrival_count();
  server_.SetDefault(Reply());
  // Past the first period's length, inside the grown one: rejected.
  SleepMs(500);
  CallResult early = UnaryCall(ch.get(), kOtherMethod, "early", 5000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, early.status);
  EXPECT_TRUE(StartsWith(early.details, "circuit breaker open:"))
      << early.details;
  EXPECT_EQ(before, server_.arrival_count());
  // Past the grown one: the next probe, which succeeds and closes it.
  SleepMs(static_cast<int>(1000 - (NowNs() - reopened) / 1000000));
  EXPECT_EQ(GRPC_STATUS_OK,
            UnaryCall(ch.get(), kOtherMethod, "probe", 5000).status);
  EXPECT_EQ(before + 1, server_.arrival_count());
  b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, b.state);
}

// Adaptive throttling, on with the breaker's defaults: a dependency that
// answers nothing within the callers' deadlines gets a trickle of calls
// (each rejected one fails fast, reaches no server, and says why); when it
// answers again, the accepts bring the full rate back.
class ThrottleTest : public BreakerFixture {};

TEST_F(ThrottleTest, ADependencyThatAnswersNothingGetsATrickle) {
  HoldCalls(/*watch_only=*/false);
  RetrySpec spec;
  // 5 calls before it acts; a window longer than the test.
  spec.top_level = Breaker(5, "30s", "\"adaptiveThrottlingWindow\": \"30s\"");
  ChannelPtr ch = Channel(spec);
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  int throttled = 0, deadline = 0;
  for (int i = 0; i < 40; i++) {
    CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 100);
    if (r.status == GRPC_STATUS_UNAVAILABLE) {
      EXPECT_TRUE(StartsWith(r.details, "circuit breaker throttling: "))
          << r.details;
      EXPECT_NE(std::string::npos, r.details.find("accepted 0 of the last"))
          << r.details;
      throttled++;
    } else {
      EXPECT_EQ(GRPC_STATUS_DEADLINE_EXCEEDED, r.status) << r.details;
      deadline++;
    }
  }
  // The first 5 reach the server; after them the n-th request passes with
  // probability 1/(n+1): about ln(40/5) = 2 more. 15 would be a 1-in-10^5
  // event.
  EXPECT_GE(deadline, 5);
  EXPECT_LE(deadline, 15);
  EXPECT_EQ(deadline, server_.arrival_count());  // throttled: no server
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(static_cast<uint64_t>(throttled), s.throttled);
  EXPECT_EQ(0u, s.breaker_rejected);
  EXPECT_EQ(static_cast<uint64_t>(throttled), s.breaker.throttled_total);
  EXPECT_EQ(40u, s.breaker.throttle_requests_in_window);
  EXPECT_EQ(0u, s.breaker.throttle_accepts_in_window);
  EXPECT_DOUBLE_EQ(40.0 / 41.0, s.breaker.throttle_probability);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.breaker.state);  // no verdict, no trip
  // The counters reconcile with throttled calls too: they make no attempt.
  EXPECT_EQ(40u, s.requests);
  EXPECT_EQ(static_cast<uint64_t>(deadline), s.attempts);
  EXPECT_EQ(s.retries, s.attempts - s.requests + s.breaker_rejected + s.throttled);
}

TEST_F(ThrottleTest, AcceptsBringTheFullRateBack) {
  RetrySpec spec;
  spec.top_level = Breaker(5, "30s", "\"adaptiveThrottlingWindow\": \"30s\"");
  ChannelPtr ch = Channel(spec);
  // 3 answered calls, then 12 unanswered: p = (15 - 3 x 3) / 16.
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
  }
  HoldCalls(/*watch_only=*/false);
  for (int i = 0; i < 12; i++) UnaryCall(ch.get(), kSayMethod, "x", 100);
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(15u, b.throttle_requests_in_window);
  EXPECT_GT(b.throttle_probability, 0.0);
  // The dependency answers again: every admitted call is an accept, and
  // once accepts reach a third of the requests nothing is throttled.
  server_.SetHandler([](const Arrival&, int) { return Reply(); });
  int ok = 0;
  for (int i = 0; i < 60 && BreakerNow().throttle_probability > 0; i++) {
    ok += UnaryCall(ch.get(), kSayMethod, "x", 5000).status == GRPC_STATUS_OK;
  }
  b = BreakerNow();
  EXPECT_EQ(0.0, b.throttle_probability);
  EXPECT_GE(3 * b.throttle_accepts_in_window, b.throttle_requests_in_window);
  for (int i = 0; i < 20; i++) {
    EXPECT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
  }
  EXPECT_EQ(0.0, BreakerNow().throttle_probability);
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace grpcr_test
