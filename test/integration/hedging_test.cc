// Hedging (docs/semantics.md, "Hedged requests"): attempt k+1 starts
// hedgingDelay after attempt k unless the call is done; the first attempt
// to deliver a message or a fatal status commits the call and the others
// are cancelled (the server sees each one cancelled); a non-fatal status
// sends the next hedge at once; every hedge spends the retry budget.
// Exact arrivals and cancellations on the scripted C-core server.
#include <gtest/gtest.h>

#include <grpc/grpc.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/breaker_fixture.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

constexpr int64_t kMsNs = 1000000;

// A service config hedging Say with this hedging block; top-level
// "resilience" members in top (none if empty).
std::string Hedging(const std::string& hedging, const std::string& top = "") {
  std::string config = "{";
  if (!top.empty()) config += "\"resilience\": {" + top + "}, ";
  config +=
      "\"methodConfig\": [{\"name\": [{\"service\": \"echo.Echo\", "
      "\"method\": \"Say\"}], \"resilience\": {\"hedging\": {" +
      hedging + "}}}]}";
  return config;
}

Reply Held() {
  Reply r;
  r.hold = true;
  return r;
}

Reply After(int delay_ms, grpc_status_code status = GRPC_STATUS_OK,
            const std::string& details = "") {
  Reply r;
  r.status = status;
  r.details = details;
  r.delay_ms = delay_ms;
  return r;
}

class HedgingTest : public BreakerFixture {
 protected:
  grpcr_channel_snapshot Snapshot() {
    grpcr_channel_snapshot* snaps = nullptr;
    size_t n = 0;
    EXPECT_EQ(grpcr_stats_get(name_.c_str(), &snaps, &n), 0);
    EXPECT_EQ(n, 1u);
    grpcr_channel_snapshot out = snaps[0];
    say_ = {};
    for (size_t i = 0; i < out.method_count; i++) {
      if (std::string(out.methods[i].method) == kSayMethod) {
        say_ = out.methods[i];
      }
    }
    say_.method = nullptr;
    out.name = out.target = nullptr;
    out.methods = nullptr;
    out.method_count = 0;
    grpcr_channel_snapshots_free(snaps, n);
    return out;
  }
  grpcr_method_snapshot say_ = {};
};

// A held first attempt and a fast second: two arrivals, the first seen
// cancelled by the server, the call ends near the delay with the hedge's
// answer.
TEST_F(HedgingTest, AHeldFirstAttemptIsOvertakenByTheHedge) {
  server_.Script({Held(), Reply()});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 2, \"hedgingDelay\": \"0.1s\""));
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));  // the delay is not a connect
  CallResult r = UnaryCall(ch.get(), kSayMethod, "hello", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK) << r.details;
  EXPECT_EQ(r.response, "hello");
  EXPECT_GE(r.elapsed_ns, 100 * kMsNs);
  EXPECT_LT(r.elapsed_ns, 400 * kMsNs) << "the delay (100 ms) + 300 ms";
  EXPECT_TRUE(server_.WaitForCancelled(1, 2000));
  SleepMs(100);
  EXPECT_EQ(server_.arrival_count(), 2);
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_GE(a[1].t_ns - a[0].t_ns, 95 * kMsNs);
  grpcr_channel_snapshot s = Snapshot();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.hedges, 1u);
  EXPECT_EQ(s.status_counts[GRPC_STATUS_OK], 1u);
  EXPECT_EQ(say_.hedges, 1u);
  EXPECT_EQ(say_.hedges_won, 1u);
  EXPECT_EQ(say_.hedges_cancelled, 1u);
  EXPECT_EQ(say_.hedges_denied, 0u);
  EXPECT_EQ(say_.hedged_calls, 1u);
  EXPECT_EQ(say_.hedges_sum, 1u);
  EXPECT_EQ(say_.retries, 0u) << "a hedge is not a retry";
}

// A first attempt that answers before the delay: no hedge at all.
TEST_F(HedgingTest, AFastAnswerSendsNoHedge) {
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"0.2s\""));
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(UnaryCall(ch.get(), kSayMethod, "x", 5000).status,
              GRPC_STATUS_OK);
  }
  SleepMs(300);
  EXPECT_EQ(server_.arrival_count(), 5);
  EXPECT_EQ(server_.cancelled_count(), 0);
  grpcr_channel_snapshot s = Snapshot();
  EXPECT_EQ(s.attempts, 5u);
  EXPECT_EQ(s.hedges, 0u);
  EXPECT_EQ(say_.hedged_calls, 0u);
}

// A fatal status (not in nonFatalStatusCodes) from the hedge ends the call
// with it and cancels the held first attempt.
TEST_F(HedgingTest, AFatalStatusEndsTheCallAndCancelsTheOthers) {
  server_.Script({Held(), Fail(GRPC_STATUS_INVALID_ARGUMENT, "bad")});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"0.05s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r.details, "bad");
  EXPECT_LT(r.elapsed_ns, 400 * kMsNs);
  EXPECT_TRUE(server_.WaitForCancelled(1, 2000));
  SleepMs(200);
  EXPECT_EQ(server_.arrival_count(), 2) << "no third attempt";
  Snapshot();
  EXPECT_EQ(say_.hedges, 1u);
  EXPECT_EQ(say_.hedges_won, 1u);
  EXPECT_EQ(say_.hedges_cancelled, 1u);
}

// A non-fatal status sends the next hedge at once (long before the delay);
// when every attempt fails non-fatally the call ends with the last one's
// status.
TEST_F(HedgingTest, NonFatalStatusesSendTheNextHedgeAtOnce) {
  server_.Script({Fail(GRPC_STATUS_UNAVAILABLE, "one"),
                  Fail(GRPC_STATUS_UNAVAILABLE, "two"),
                  Fail(GRPC_STATUS_UNAVAILABLE, "three")});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"10s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 20000);
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_EQ(r.details, "three");
  EXPECT_LT(r.elapsed_ns, 1000 * kMsNs) << "not after the 10 s delay";
  EXPECT_EQ(server_.arrival_count(), 3);
  EXPECT_EQ(server_.cancelled_count(), 0);
  Snapshot();
  EXPECT_EQ(say_.hedges, 2u);
  EXPECT_EQ(say_.hedges_won, 0u) << "no attempt committed the call";
  EXPECT_EQ(say_.status_counts[GRPC_STATUS_UNAVAILABLE], 1u);
  EXPECT_EQ(say_.hedges_buckets[1], 1u) << "2 hedges: the le=2 bucket";
}

// A non-fatal failure of the first attempt, then the hedge succeeds: OK,
// and no cancel (nothing else was in flight).
TEST_F(HedgingTest, ANonFatalFailureThenSuccess) {
  server_.Script({Fail(GRPC_STATUS_UNAVAILABLE, "one"), Reply()});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 2, \"hedgingDelay\": \"10s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "abc", 20000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK) << r.details;
  EXPECT_EQ(r.response, "abc");
  EXPECT_EQ(server_.arrival_count(), 2);
  EXPECT_EQ(server_.cancelled_count(), 0);
}

// Budget exhausted (ratio 0, no floor): no hedge starts, the call goes on
// with its first attempt; counted.
TEST_F(HedgingTest, NoBudgetNoHedge) {
  server_.Script({After(300)});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"0.05s\"",
      "\"retryBudget\": {\"ratio\": 0, \"minRetriesPerSecond\": 0}"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK) << r.details;
  EXPECT_GE(r.elapsed_ns, 295 * kMsNs) << "the first attempt's answer";
  EXPECT_EQ(server_.arrival_count(), 1);
  grpcr_channel_snapshot s = Snapshot();
  EXPECT_EQ(s.hedges, 0u);
  EXPECT_EQ(s.budget_denied, 1u);
  EXPECT_EQ(say_.hedges_denied, 1u);
}

// Pushback: a non-fatal status with grpc-retry-pushback-ms delays the next
// hedge by its value; a negative one stops hedging (the call ends with it
// when nothing else is in flight).
TEST_F(HedgingTest, PushbackDelaysTheNextHedge) {
  Reply pushed = Fail(GRPC_STATUS_UNAVAILABLE, "later");
  pushed.pushback_ms = "300";
  server_.Script({pushed, Reply()});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 2, \"hedgingDelay\": \"10s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 20000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK) << r.details;
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_GE(a[1].t_ns - a[0].t_ns, 295 * kMsNs);
  EXPECT_LT(a[1].t_ns - a[0].t_ns, 800 * kMsNs);
}

TEST_F(HedgingTest, NegativePushbackStopsHedging) {
  Reply stop = Fail(GRPC_STATUS_UNAVAILABLE, "stop");
  stop.pushback_ms = "-1";
  server_.Script({stop});
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"0.05s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_EQ(r.details, "stop");
  SleepMs(200);
  EXPECT_EQ(server_.arrival_count(), 1);
}

// Nothing starts after the deadline: the held attempt ends on it and no
// hedge follows.
TEST_F(HedgingTest, NoHedgeAfterTheDeadline) {
  server_.SetDefault(Held());
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 2, \"hedgingDelay\": \"0.5s\""));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 300);
  EXPECT_EQ(r.status, GRPC_STATUS_DEADLINE_EXCEEDED);
  EXPECT_LT(r.elapsed_ns, 450 * kMsNs);
  SleepMs(400);
  EXPECT_EQ(server_.arrival_count(), 1);
}

// The application cancels with three attempts in flight: each is cancelled
// at the server, the call ends CANCELLED at once, and nothing follows.
TEST_F(HedgingTest, CancelWithHedgesInFlight) {
  server_.SetDefault(Held());
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 4, \"hedgingDelay\": \"0.05s\""));
  PendingCall call(ch.get(), kSayMethod, "x", 10000);
  call.Start();
  ASSERT_TRUE(server_.WaitForArrivals(3, 3000));
  call.Cancel();
  CallResult r = call.Wait();
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(r.status, GRPC_STATUS_CANCELLED);
  const int started = server_.arrival_count();
  EXPECT_GE(started, 3);
  EXPECT_TRUE(server_.WaitForCancelled(started, 3000));
  SleepMs(200);
  EXPECT_EQ(server_.arrival_count(), started) << "no hedge after the cancel";
  grpcr_channel_snapshot s = Snapshot();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.finished, 1u);
  EXPECT_EQ(s.status_counts[GRPC_STATUS_CANCELLED], 1u);
}

// maxAttempts bounds the hedges: with every attempt held, exactly
// maxAttempts arrive, then the deadline ends the call.
TEST_F(HedgingTest, MaxAttemptsBoundsTheHedges) {
  server_.SetDefault(Held());
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"0.05s\""));
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 600);
  EXPECT_EQ(r.status, GRPC_STATUS_DEADLINE_EXCEEDED);
  EXPECT_TRUE(server_.WaitForCancelled(3, 3000));
  SleepMs(100);
  EXPECT_EQ(server_.arrival_count(), 3);
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 3u);
  for (size_t i = 1; i < a.size(); i++) {
    EXPECT_GE(a[i].t_ns - a[i - 1].t_ns, 45 * kMsNs) << "hedge " << i;
  }
}

// A breaker that is not CLOSED starts no hedge: a half-open probe runs
// alone.
TEST_F(HedgingTest, AHalfOpenProbeDoesNotHedge) {
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"0.05s\"",
      Breaker(2, "0.2s")));
  FailCalls(ch.get(), 2);  // kOtherMethod: opens the breaker
  SleepMs(300);            // half-open is due
  server_.SetDefault(After(300));
  const int before = server_.arrival_count();
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK) << r.details;
  EXPECT_EQ(server_.arrival_count(), before + 1);
  grpcr_channel_snapshot s = Snapshot();
  EXPECT_EQ(s.hedges, 0u);
  EXPECT_EQ(s.breaker_stopped_retries, 1u);
}

// The adaptive delay: none until enough calls are in the window (no hedge
// for a slow call then), then the latency at 1 - maxExtraLoad; the stats
// show the delay in force.
TEST_F(HedgingTest, TheAdaptiveDelayWaitsForSamplesThenHedgesAtTheQuantile) {
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 2, \"maxExtraLoad\": 0.5"));
  // Arrivals 0..19 answer after 20 ms, 20 is held, 21 answers at once.
  server_.SetHandler([](const Arrival&, int i) {
    return i < 20 ? After(20) : i == 20 ? Held() : Reply();
  });
  for (int i = 0; i < 19; i++) {
    ASSERT_EQ(UnaryCall(ch.get(), kSayMethod, "x", 5000).status,
              GRPC_STATUS_OK);
  }
  EXPECT_EQ(server_.arrival_count(), 19) << "19 < 20 samples: no hedge";
  Snapshot();
  EXPECT_EQ(say_.hedge_delay_s, 0.0);
  ASSERT_EQ(UnaryCall(ch.get(), kSayMethod, "x", 5000).status,
            GRPC_STATUS_OK);  // the 20th
  SleepMs(150);  // past the 100 ms the delay is kept
  // Now the median (~20 ms, within its 12.5% bucket) is the delay: a held
  // call is hedged after it.
  const int before = server_.arrival_count();
  CallResult r = UnaryCall(ch.get(), kSayMethod, "y", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK) << r.details;
  EXPECT_EQ(server_.arrival_count(), before + 2);
  EXPECT_LT(r.elapsed_ns, 300 * kMsNs);
  Snapshot();
  EXPECT_GE(say_.hedge_delay_s, 0.020);
  EXPECT_LE(say_.hedge_delay_s, 0.040);
  EXPECT_EQ(say_.hedge_delay_samples, 20u);
  EXPECT_TRUE(server_.WaitForCancelled(1, 2000));
}

}  // namespace
}  // namespace grpcr_test

namespace grpcr_test {
namespace {

// Was a bug: gRPC's timers count whole milliseconds from Timestamp::Now(),
// which is rounded down, so a hedge armed at Now() + 1.5 ms could fire 1 ms
// after its attempt started, whenever other traffic woke the poller (the
// bench's adaptive delay of ~1.9 ms hedged a third of its calls). 40 calls
// started 0.25 ms apart, each first attempt held: every hedge arrives at
// least 1.5 ms after its call started.
TEST_F(HedgingTest, AHedgeNeverStartsBeforeItsDelay) {
  auto seen = std::make_shared<std::pair<std::mutex, std::set<std::string>>>();
  server_.SetHandler([seen](const Arrival& a, int) {
    std::lock_guard<std::mutex> lock(seen->first);
    return seen->second.insert(a.payload).second ? Held() : Reply();
  });
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 2, \"hedgingDelay\": \"0.0015s\""));
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  constexpr int kCalls = 40;
  std::vector<std::unique_ptr<PendingCall>> calls;
  std::vector<int64_t> started;
  for (int k = 0; k < kCalls; k++) {
    calls.push_back(std::make_unique<PendingCall>(
        ch.get(), kSayMethod, "c" + std::to_string(k), 5000));
    started.push_back(NowNs());
    calls.back()->Start();
    const int64_t until = NowNs() + 250 * 1000;
    while (NowNs() < until) {
    }
  }
  for (int k = 0; k < kCalls; k++) {
    CallResult r = calls[k]->Wait();
    EXPECT_EQ(r.status, GRPC_STATUS_OK) << "call " << k << ": " << r.details;
  }
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), static_cast<size_t>(2 * kCalls));
  int64_t earliest = INT64_MAX;
  for (int k = 0; k < kCalls; k++) {
    const std::string payload = "c" + std::to_string(k);
    int n = 0;
    for (const Arrival& x : a) {
      if (x.payload == payload && ++n == 2) {
        earliest = std::min(earliest, x.t_ns - started[k]);
      }
    }
    EXPECT_EQ(n, 2) << payload;
  }
  EXPECT_GE(earliest, 1500 * 1000) << "a hedge arrived " << earliest / 1000
                                   << " us after its call started";
}

}  // namespace
}  // namespace grpcr_test

namespace grpcr_test {
namespace {

// Was a bug (found in review): a non-fatal status whose pushback outlasts
// the call's deadline armed the hedge timer anyway, and with no attempt in
// flight nothing else ended the call: it ended 3 s late, or (with a large
// pushback) never. Now it ends at once with that status, counted as a hedge
// skipped for the deadline.
TEST_F(HedgingTest, APushbackPastTheDeadlineEndsTheCallAtOnce) {
  Reply pushed = Fail(GRPC_STATUS_UNAVAILABLE, "come back later");
  pushed.pushback_ms = "3000";
  server_.SetDefault(pushed);
  ChannelPtr ch = Channel(Hedging(
      "\"maxAttempts\": 3, \"hedgingDelay\": \"10s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]"));
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 500);
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_EQ(r.details, "come back later");
  EXPECT_LT(r.elapsed_ns, 300 * kMsNs) << "not at the deadline, not at 3 s";
  SleepMs(100);
  EXPECT_EQ(server_.arrival_count(), 1);
  Snapshot();
  EXPECT_EQ(say_.retries_skipped_deadline, 1u);
  EXPECT_EQ(say_.hedges, 0u);
}

}  // namespace
}  // namespace grpcr_test
