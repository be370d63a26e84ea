// The counters reconcile exactly (docs/stats.md): once calls are done,
// every request has one final status (finished == requests == the sum of
// the status counts), retries == attempts - requests + calls rejected by
// the breaker, and the per-method figures add up to the channel's. Checked
// after a workload with every way a call can end.
#include <gtest/gtest.h>

#include <grpc/grpc.h>

#include <atomic>
#include <memory>
#include <string>

#include "grpcr/grpcr.h"
#include "grpcr/stats.h"
#include "support/breaker_fixture.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

class ReconcileTest : public BreakerFixture {
 protected:
  // The channel's snapshot with its per-method entries.
  void Check() {
    grpcr_channel_snapshot* snaps = nullptr;
    size_t n = 0;
    ASSERT_EQ(0, grpcr_stats_get(name_.c_str(), &snaps, &n));
    ASSERT_EQ(1u, n);
    const grpcr_channel_snapshot& c = snaps[0];
    uint64_t by_status = 0;
    for (uint64_t v : c.status_counts) by_status += v;
    EXPECT_EQ(c.requests, c.finished);
    EXPECT_EQ(c.requests, by_status);
    EXPECT_EQ(c.retries, c.attempts - c.requests + c.breaker_rejected +
                             c.throttled);
    // The budget counts the same retries: none that never started.
    EXPECT_TRUE(c.has_budget);
    EXPECT_EQ(c.retries, c.budget.retries_total);
    uint64_t m_requests = 0, m_attempts = 0, m_retries = 0;
    for (size_t i = 0; i < c.method_count; i++) {
      const grpcr_method_snapshot& m = c.methods[i];
      m_requests += m.requests;
      m_attempts += m.attempts;
      m_retries += m.retries;
      uint64_t m_by_status = 0;
      for (uint64_t v : m.status_counts) m_by_status += v;
      EXPECT_EQ(m.requests, m_by_status) << m.method;
    }
    EXPECT_EQ(c.requests, m_requests);
    EXPECT_EQ(c.attempts, m_attempts);
    EXPECT_EQ(c.retries, m_retries);
    snapshot_ = c;
    snapshot_.methods = nullptr;
    snapshot_.method_count = 0;
    snapshot_.name = snapshot_.target = nullptr;
    grpcr_channel_snapshots_free(snaps, n);
  }

  grpcr_channel_snapshot snapshot_{};
};

// Before: a retry was counted when it was scheduled, so a call cancelled
// in its backoff added a retry that never happened; and a pass-through
// call whose status the application never read (an abandoned stream) was a
// request with no final status.
TEST_F(ReconcileTest, EveryWayACallEndsAddsUp) {
  RetrySpec spec;
  spec.max_attempts = 3;
  spec.initial_backoff = "0.3s";
  spec.max_backoff = "0.3s";
  spec.method = "";  // the whole service
  spec.top_level = Breaker(10, "30s");
  ChannelPtr ch = Channel(spec);
  auto flaky = std::make_shared<std::atomic<int>>(0);
  server_.SetHandler([flaky](const Arrival& a, int) {
    if (a.payload == "down" || a.payload == "backoff") {
      return Fail(GRPC_STATUS_UNAVAILABLE, "down");
    }
    // A flaky call's first attempt fails, its retry succeeds.
    if (a.payload == "flaky" && (*flaky)++ % 2 == 0) {
      return Fail(GRPC_STATUS_UNAVAILABLE, "once");
    }
    return Reply();
  });
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kSayMethod, "ok", 5000).status);
  }
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(GRPC_STATUS_OK,
              UnaryCall(ch.get(), kSayMethod, "flaky", 5000).status);
  }
  {  // Cancelled in its backoff: its retry never starts.
    PendingCall call(ch.get(), kSayMethod, "backoff", 10000);
    call.Start();
    ASSERT_TRUE(server_.WaitForArrivals(8, 5000));
    SleepMs(50);
    call.Cancel();
    EXPECT_EQ(GRPC_STATUS_CANCELLED, call.Wait(5000).status);
  }
  for (int i = 0; i < 2; i++) {  // Abandoned streams: status never read.
    PendingCall stream(ch.get(), kStreamMethod, "", 10000);
    int first = stream.StartBatch(PendingCall::kSendInitialMetadata |
                                  PendingCall::kRecvInitialMetadata);
    stream.StartBatch(PendingCall::kSendMessage);
    ASSERT_TRUE(stream.WaitBatch(first, 5000));
    stream.Unref();
  }
  // 7 successes so far (the streams' at their response headers): the 7th
  // failure opens the breaker (14 calls, 0.5).
  for (int i = 0; i < 7; i++) {
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
              UnaryCall(ch.get(), kSayMethod, "down", 10000).status);
  }
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
              UnaryCall(ch.get(), kSayMethod, "rejected", 5000).status);
  }
  {  // Abandoned, and rejected by the open breaker.
    PendingCall stream(ch.get(), kStreamMethod, "", 10000);
    stream.StartBatch(PendingCall::kSendInitialMetadata);
    stream.Unref();
  }
  Check();
  EXPECT_EQ(19u, snapshot_.requests);
  EXPECT_EQ(4u, snapshot_.breaker_rejected);
  EXPECT_EQ(31u, snapshot_.attempts);  // 3 + 2*2 + 1 + 2 + 7*3
  EXPECT_EQ(16u, snapshot_.retries);
  EXPECT_EQ(5u, snapshot_.status_counts[GRPC_STATUS_OK]);
  EXPECT_EQ(3u, snapshot_.status_counts[GRPC_STATUS_CANCELLED]);
  EXPECT_EQ(11u, snapshot_.status_counts[GRPC_STATUS_UNAVAILABLE]);
}

}  // namespace
}  // namespace grpcr_test
