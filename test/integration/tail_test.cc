// Tail latency (docs/semantics.md, "No retry the deadline cannot fit"): a
// retry is not made when the time it would have before the call's deadline
// is less than the method's median successful attempt, once 10 samples
// exist; the call ends at once with its last status.
#include <gtest/gtest.h>

#include <grpc/grpc.h>

#include <string>

#include "grpcr/grpcr.h"
#include "support/breaker_fixture.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

class DeadlineRuleTest : public BreakerFixture {
 protected:
  static RetrySpec Spec() {
    RetrySpec spec;
    spec.max_attempts = 3;
    spec.initial_backoff = "0.01s";
    spec.max_backoff = "0.01s";
    return spec;
  }
  // The server answers OK after delay_ms, then fails UNAVAILABLE after
  // 100 ms from here on.
  void SucceedThenFailSlowly(grpc_channel* ch, int n, int delay_ms) {
    Reply ok;
    ok.delay_ms = delay_ms;
    server_.SetDefault(ok);
    for (int i = 0; i < n; i++) {
      ASSERT_EQ(GRPC_STATUS_OK, UnaryCall(ch, kSayMethod, "x", 5000).status);
    }
    Reply fail = Fail(GRPC_STATUS_UNAVAILABLE, "overloaded");
    fail.delay_ms = 100;
    server_.SetDefault(fail);
  }
  grpcr_method_snapshot SayStats() {
    grpcr_channel_snapshot* snaps = nullptr;
    size_t n = 0;
    EXPECT_EQ(grpcr_stats_get(name_.c_str(), &snaps, &n), 0);
    grpcr_method_snapshot out = {};
    for (size_t i = 0; n == 1 && i < snaps[0].method_count; i++) {
      if (std::string(snaps[0].methods[i].method) == kSayMethod) {
        out = snaps[0].methods[i];
      }
    }
    out.method = nullptr;
    grpcr_channel_snapshots_free(snaps, n);
    return out;
  }
};

// Successes take 200 ms. A call with a 250 ms deadline whose first attempt
// fails after 100 ms would retry at ~110 ms with ~140 ms left: less than
// the median, so it ends at once with UNAVAILABLE, one arrival each.
TEST_F(DeadlineRuleTest, ADoomedRetryIsNotMade) {
  ChannelPtr ch = Channel(Spec());
  SucceedThenFailSlowly(ch.get(), 10, 200);
  const int before = server_.arrival_count();
  for (int i = 0; i < 5; i++) {
    const int64_t start = NowNs();
    CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 250);
    const int64_t took_ms = (NowNs() - start) / 1000000;
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status) << r.details;
    EXPECT_EQ("overloaded", r.details);
    // Ends with the attempt (~100 ms), not at the deadline (250 ms);
    // 200 ms leaves room for a loaded machine.
    EXPECT_LT(took_ms, 200) << "call " << i;
  }
  EXPECT_EQ(before + 5, server_.arrival_count());
  grpcr_method_snapshot m = SayStats();
  EXPECT_EQ(5u, m.retries_skipped_deadline);
  EXPECT_EQ(10u, m.latency_samples);
  EXPECT_GE(m.median_attempt_s, 0.2);
  EXPECT_LT(m.median_attempt_s, 0.4);
}

// The same calls with fewer than 10 successful attempts seen: the median
// is unknown and the retries are made (at ~110 and ~220 ms), the last ends
// on the deadline: the doomed retries the rule saves.
TEST_F(DeadlineRuleTest, WithoutEnoughSamplesTheRetryIsMade) {
  ChannelPtr ch = Channel(Spec());
  SucceedThenFailSlowly(ch.get(), 9, 200);
  const int before = server_.arrival_count();
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 250);
  EXPECT_EQ(GRPC_STATUS_DEADLINE_EXCEEDED, r.status) << r.details;
  EXPECT_EQ(before + 3, server_.arrival_count());
  grpcr_method_snapshot m = SayStats();
  EXPECT_EQ(0u, m.retries_skipped_deadline);
  EXPECT_EQ(9u, m.latency_samples);
  EXPECT_EQ(0.0, m.median_attempt_s);
}

// Fast successes: the retry fits and is made.
TEST_F(DeadlineRuleTest, ARetryThatFitsIsMade) {
  ChannelPtr ch = Channel(Spec());
  SucceedThenFailSlowly(ch.get(), 10, 0);
  const int before = server_.arrival_count();
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_EQ(before + 3, server_.arrival_count());
  EXPECT_EQ(0u, SayStats().retries_skipped_deadline);
}

}  // namespace
}  // namespace grpcr_test
