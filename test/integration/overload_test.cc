// Overload (docs/semantics.md): slow calls, a breaker with
// slowCallDurationThreshold that opens on a dependency that slows down or
// stops answering, not only on one that fails (without the field nothing
// changes); and an open period that grows with each failed probe.
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

}  // namespace
}  // namespace grpcr_test
