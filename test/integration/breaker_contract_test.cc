// The rules that keep the breaker and the budget from hurting the channel
// they protect (docs/semantics.md: verdicts, HALF_OPEN, config
// updates, bounded memory, what counts as a request, when a resolver's
// config applies). Each test pins one defect that today's rules fix; the
// comment above it says what went wrong before.
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/impl/codegen/grpc_types.h>
#include <grpc/slice.h>

#include <cstring>
#include <string>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/breaker_fixture.h"
#include "support/fake_resolver.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

// A bidi stream that has sent one message and received its echo, and is
// then left open until it goes out of scope.
class OpenStream {
 public:
  OpenStream(grpc_channel* ch, const std::string& message) {
    cq_ = grpc_completion_queue_create_for_pluck(nullptr);
    grpc_slice m = grpc_slice_from_static_string(kStreamMethod);
    call_ = grpc_channel_create_call(ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq_,
                                     m, nullptr, In(30000), nullptr);
    grpc_metadata_array_init(&initial_);
    grpc_slice s = grpc_slice_from_copied_buffer(message.data(), message.size());
    send_ = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op ops[4];
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_;
    ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[2].data.recv_initial_metadata.recv_initial_metadata = &initial_;
    ops[3].op = GRPC_OP_RECV_MESSAGE;
    ops[3].data.recv_message.recv_message = &received_;
    EXPECT_EQ(GRPC_CALL_OK,
              grpc_call_start_batch(call_, ops, 4, Tag(1), nullptr));
    grpc_event ev = grpc_completion_queue_pluck(cq_, Tag(1), In(10000), nullptr);
    ok_ = ev.type == GRPC_OP_COMPLETE && ev.success != 0;
    echoed_ = ByteBufferToString(received_);
  }
  ~OpenStream() {
    grpc_call_cancel(call_, nullptr);
    grpc_call_unref(call_);
    grpc_completion_queue_shutdown(cq_);
    grpc_completion_queue_pluck(cq_, nullptr, In(1000), nullptr);
    grpc_completion_queue_destroy(cq_);
    grpc_metadata_array_destroy(&initial_);
    grpc_byte_buffer_destroy(send_);
    if (received_ != nullptr) grpc_byte_buffer_destroy(received_);
  }
  bool ok() const { return ok_; }
  const std::string& echoed() const { return echoed_; }

 private:
  grpc_completion_queue* cq_;
  grpc_call* call_;
  grpc_metadata_array initial_;
  grpc_byte_buffer* send_ = nullptr;
  grpc_byte_buffer* received_ = nullptr;
  bool ok_ = false;
  std::string echoed_;
};

class BreakerContractTest : public BreakerFixture {};

// Before: a stream took the only half-open probe slot and kept it until it
// ended, so every unary call was rejected "(half-open)" while it lived. Now a
// call gives its verdict when the server first answers.
TEST_F(BreakerContractTest, StreamInHalfOpenGivesItsVerdictAtTheFirstAnswer) {
  RetrySpec spec;
  spec.top_level = Breaker(2, "0.2s");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  SleepMs(300);
  OpenStream stream(ch.get(), "hello");
  ASSERT_TRUE(stream.ok());
  EXPECT_EQ("hello", stream.echoed());
  // The stream is still open, and the breaker closed on its answer.
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, BreakerNow().state);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "unary", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
}

// A server-streaming watch (its first batch carries the whole request) is
// judged at its first message or its status, not at bare headers: a server
// may send headers and then fail. One that has sent headers and nothing else
// holds its half-open probe slot for probeTimeout at most, then loses it.
TEST_F(BreakerContractTest, WatchWithOnlyHeadersHoldsTheProbeSlotForProbeTimeout) {
  RetrySpec spec;
  spec.top_level = Breaker(2, "0.2s", "\"probeTimeout\": \"0.5s\"");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  SleepMs(300);
  HoldCalls(/*watch_only=*/true, /*headers_first=*/true);
  PendingCall watch(ch.get(), kWatchMethod, "watch", 30000);
  const int64_t probe_start = NowNs();
  int headers = watch.StartBatch(PendingCall::kSendOps |
                                 PendingCall::kRecvInitialMetadata);
  bool ok = false;
  ASSERT_TRUE(watch.WaitBatch(headers, 5000, &ok));
  ASSERT_TRUE(ok);
  watch.StartBatch(PendingCall::kRecvMessage | PendingCall::kRecvStatus);
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_HALF_OPEN, b.state);
  EXPECT_EQ(1u, b.probes_in_flight);
  ExpectProbeSlotExpires(ch.get(), probe_start);
}

// A call that streams requests (its first batch has no half-close) gives its
// verdict at the server's response headers, so a long-lived client or bidi
// stream never holds HALF_OPEN.
TEST_F(BreakerContractTest, ClientStreamGivesItsVerdictAtTheResponseHeaders) {
  RetrySpec spec;
  spec.top_level = Breaker(2, "0.2s");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  SleepMs(300);
  HoldCalls(/*watch_only=*/true, /*headers_first=*/true);
  PendingCall upload(ch.get(), kWatchMethod, "chunk", 30000);
  int headers = upload.StartBatch(PendingCall::kSendInitialMetadata |
                                  PendingCall::kRecvInitialMetadata);
  upload.StartBatch(PendingCall::kSendMessage);
  bool ok = false;
  ASSERT_TRUE(upload.WaitBatch(headers, 5000, &ok));
  ASSERT_TRUE(ok);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, BreakerNow().state);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "unary", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
}

// A probe the server never answers holds its slot for probeTimeout, then
// frees it (no verdict), and the next call probes.
TEST_F(BreakerContractTest, UnansweredProbeFreesItsSlotAfterProbeTimeout) {
  RetrySpec spec;
  spec.top_level = Breaker(2, "0.2s", "\"probeTimeout\": \"0.5s\"");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  SleepMs(300);
  HoldCalls(/*watch_only=*/true);
  PendingCall held(ch.get(), kWatchMethod, "held", 30000);
  held.Start();
  ASSERT_TRUE(server_.WaitForArrivals(3, 5000));
  const int64_t probe_start = NowNs();
  ExpectProbeSlotExpires(ch.get(), probe_start);
}

// Before: a call the application dropped without reading its status never
// gave its ticket back; in HALF_OPEN the channel failed fast for good.
TEST_F(BreakerContractTest, ProbeDestroyedWithoutItsStatusFreesItsSlot) {
  RetrySpec spec;
  spec.top_level = Breaker(2, "0.2s");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  SleepMs(300);
  HoldCalls(/*watch_only=*/true);
  {
    PendingCall dropped(ch.get(), kWatchMethod, "dropped", 30000);
    dropped.StartBatch(PendingCall::kSendOps);
    ASSERT_TRUE(server_.WaitForArrivals(3, 5000));
    dropped.Unref();
  }
  ASSERT_TRUE(server_.WaitForCancelled(1, 5000));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "next", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, b.state);
  EXPECT_EQ(1u, b.probes_freed_total);
}

// Before: a probe whose attempt failed and that the application cancelled
// during its backoff ended CANCELLED, which counted as a success: the
// breaker closed with no evidence of recovery.
TEST_F(BreakerContractTest, ProbeCancelledDuringBackoffGivesNoVerdict) {
  RetrySpec spec;
  spec.max_attempts = 3;
  spec.initial_backoff = "2s";
  spec.max_backoff = "2s";
  spec.top_level = Breaker(2, "0.2s");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  SleepMs(300);
  server_.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "still down"));
  PendingCall probe(ch.get(), kSayMethod, "probe", 30000);
  probe.Start();
  ASSERT_TRUE(server_.WaitForArrivals(3, 5000));
  SleepMs(100);  // the first attempt failed: the call is in its backoff
  probe.Cancel();
  CallResult r = probe.Wait(5000);
  EXPECT_EQ(GRPC_STATUS_CANCELLED, r.status);
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_HALF_OPEN, b.state);
  EXPECT_EQ(1u, b.probes_freed_total);
  EXPECT_EQ(1u, b.no_verdict_total);
  EXPECT_EQ(3, server_.arrival_count());
}

// Before: calls that ran out of time on the client counted as successes and
// diluted the failure rate of a dependency that does not answer.
TEST_F(BreakerContractTest, ClientDeadlineGivesNoVerdict) {
  RetrySpec spec;
  spec.top_level =
      "\"circuitBreaker\": {\"failureRateThreshold\": 0.6, \"minimumCalls\": "
      "2, \"openDuration\": \"30s\"}";
  ChannelPtr ch = Channel(spec);
  Reply slow;
  slow.delay_ms = 500;
  server_.SetDefault(slow);
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(GRPC_STATUS_DEADLINE_EXCEEDED,
              UnaryCall(ch.get(), kOtherMethod, "slow", 100).status);
  }
  FailCalls(ch.get(), 2);
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(2u, b.no_verdict_total);
  EXPECT_EQ(2u, b.calls_in_window);
  EXPECT_EQ(2u, b.failures_in_window);
}

// Before: any change of the channel's resilience settings rebuilt the
// budget and the breaker; raising the budget's ratio during an incident
// replaced the OPEN breaker with a fresh CLOSED one. Now the breaker stays
// OPEN, and its probe's failure reopens it.
TEST_F(BreakerContractTest, BudgetUpdateWhileOpenKeepsTheBreakerOpen) {
  const std::string before =
      ServiceConfig(TopLevel(Breaker(2, "0.4s") +
                                           ", \"retryBudget\": {\"ratio\": 0.1}"));
  const std::string after =
      ServiceConfig(TopLevel(Breaker(2, "0.4s") +
                                           ", \"retryBudget\": {\"ratio\": 0.5}"));
  name_ = UniqueName();
  ResolvedChannel ch("update-while-open",
                     {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  ch.Resolve(server_.address(), before);
  ASSERT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kOtherMethod, "warm", 5000).status);
  FailCalls(ch.get(), 2);
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  const int64_t opened = NowNs();
  ch.Resolve(server_.address(), after);
  // A rejected call notices the update (no call reaches the server to
  // carry it).
  CallResult rejected = UnaryCall(ch.get(), kOtherMethod, "x", 5000);
  EXPECT_TRUE(StartsWith(rejected.details, "circuit breaker open"))
      << rejected.details;
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(1u, s.config_updates);
  EXPECT_EQ(GRPCR_BREAKER_OPEN, s.breaker.state);
  EXPECT_EQ(0.5 * s.budget.requests_in_window + 100,
            s.budget.allowed_in_window);
  SleepMs(static_cast<int>(450 - (NowNs() - opened) / 1000000));
  server_.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "still down"));
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
            UnaryCall(ch.get(), kOtherMethod, "probe", 5000).status);
  const int arrivals = server_.arrival_count();
  CallResult next = UnaryCall(ch.get(), kOtherMethod, "next", 5000);
  EXPECT_TRUE(StartsWith(next.details, "circuit breaker open")) << next.details;
  EXPECT_EQ(arrivals, server_.arrival_count());
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(2u, b.opened_total);
}

// Before: a budget-only change also emptied the breaker's window. Now the
// failure counted before the update still counts after it.
TEST_F(BreakerContractTest, BudgetUpdateKeepsTheBreakerWindow) {
  const std::string before = ServiceConfig(TopLevel(Breaker(2, "30s") + ", \"retryBudget\": {\"ratio\": 0.1}"));
  const std::string after = ServiceConfig(TopLevel(Breaker(2, "30s") + ", \"retryBudget\": {\"ratio\": 0.2}"));
  name_ = UniqueName();
  ResolvedChannel ch("budget-update",
                     {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  ch.Resolve(server_.address(), before);
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  FailCalls(ch.get(), 1);
  ch.Resolve(server_.address(), after);
  // This call learns the update at its first answer; with the failure
  // before it, 1 of 2 calls failed: the breaker opens.
  EXPECT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kOtherMethod, "ok", 5000).status);
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(1u, s.config_updates);
  EXPECT_EQ(GRPCR_BREAKER_OPEN, s.breaker.state);
  EXPECT_EQ(2u, s.breaker.calls_in_window);
}

// Before: a breaker-only change also emptied the budget's window.
TEST_F(BreakerContractTest, BreakerUpdateKeepsTheBudgetWindow) {
  const std::string before =
      ServiceConfig(TopLevel(Breaker(100, "30s")));
  const std::string after =
      ServiceConfig(TopLevel(Breaker(100, "10s")));
  name_ = UniqueName();
  ResolvedChannel ch("breaker-update",
                     {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  ch.Resolve(server_.address(), before);
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
  }
  ch.Resolve(server_.address(), after);
  ASSERT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(1u, s.config_updates);
  EXPECT_EQ(10.0, s.breaker.open_duration_ns / 1e9);
  EXPECT_EQ(6u, s.budget.requests_in_window);
  EXPECT_EQ(6u, s.budget.requests_total);
}

// Before: the filter kept every request for retries, whatever its size.
// Now a request over gRPC's per-RPC retry buffer (256 KiB unless
// GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE says otherwise) is sent once.
TEST_F(BreakerContractTest, RequestOverTheRetryBufferIsSentOnce) {
  RetrySpec spec;
  spec.max_attempts = 3;
  spec.initial_backoff = "0.01s";
  server_.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "down"));
  const std::string big(300 * 1024, 'x');
  {
    ChannelPtr ch = Channel(spec);
    CallResult r = UnaryCall(ch.get(), kSayMethod, big, 10000);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
    EXPECT_EQ(1, server_.arrival_count());
    grpcr_channel_snapshot s = StatsFor(name_);
    EXPECT_EQ(1u, s.committed_too_large);
    EXPECT_EQ(1u, s.attempts);
  }
  {
    ChannelPtr ch =
        Channel(spec, {IntArg(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE, 1 << 20)});
    CallResult r = UnaryCall(ch.get(), kSayMethod, big, 10000);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
    EXPECT_EQ(1 + 3, server_.arrival_count());
    EXPECT_EQ(0u, StatsFor(name_).committed_too_large);
  }
}

// Before: calls of methods without a retry policy were not requests for the
// budget, so a ratio-only budget allowed far fewer retries than its
// formula over the channel's real traffic.
TEST_F(BreakerContractTest, PassThroughCallsAreBudgetRequests) {
  RetrySpec spec;
  spec.max_attempts = 2;
  spec.initial_backoff = "0.001s";
  spec.top_level =
      "\"retryBudget\": {\"ratio\": 0.1, \"minRetriesPerSecond\": 0}";
  ChannelPtr ch = Channel(spec);
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ(GRPC_STATUS_OK, UnaryCall(ch.get(), kOtherMethod, "x", 5000).status);
  }
  server_.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "down"));
  // retries + 1 <= 0.1 * requests, every call a request.
  int requests = 100, allowed = 0;
  for (int i = 0; i < 20; i++) {
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
              UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
    requests++;
    if (allowed + 1 <= 0.1 * requests) allowed++;
  }
  EXPECT_EQ(12, allowed);
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(120u, s.budget.requests_total);
  EXPECT_EQ(static_cast<uint64_t>(allowed), s.retries);
  EXPECT_EQ(100 + 20 + allowed, server_.arrival_count());
}

// Before: a config from the resolver was learnt only when a pass-through
// call ended, so the calls after resolution still bypassed the policy. Now
// a call that starts once gRPC has the config runs under it.
TEST_F(BreakerContractTest, ResolverConfigAppliesOnceResolved) {
  RetrySpec spec;
  spec.max_attempts = 2;
  spec.initial_backoff = "0.01s";
  name_ = UniqueName();
  ResolvedChannel ch("first-call", {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  ch.Resolve(server_.address(), ServiceConfig(spec));
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  server_.Script({Fail(GRPC_STATUS_UNAVAILABLE, "once")});
  CallResult r = UnaryCall(ch.get(), kSayMethod, "first", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ(2, server_.arrival_count());
  EXPECT_EQ(1u, StatsFor(name_).retries);
}

// Before: a long-lived stream as a channel's first call kept the resolver's
// config unknown for as long as it lived. Now the config is learnt from
// the stream as soon as the server answers it.
TEST_F(BreakerContractTest, StreamTeachesTheConfigAtItsFirstAnswer) {
  RetrySpec spec;
  spec.max_attempts = 2;
  spec.initial_backoff = "0.01s";
  name_ = UniqueName();
  ResolvedChannel ch("stream-first", {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  ch.Resolve(server_.address(), ServiceConfig(spec));
  OpenStream stream(ch.get(), "first");
  ASSERT_TRUE(stream.ok());
  server_.Script({Reply(), Fail(GRPC_STATUS_UNAVAILABLE, "once")});
  CallResult r = UnaryCall(ch.get(), kSayMethod, "unary", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ(3, server_.arrival_count());
}

// Before: a request over the channel's own max send size failed
// RESOURCE_EXHAUSTED inside the client, was retried, counted as the
// dependency's failure and opened the breaker for every method; with the
// plugin it also leaked gRPC-internal memory (valgrind runs this test).
TEST_F(BreakerContractTest, OversizedRequestsAreNeitherRetriedNorCounted) {
  RetrySpec spec;
  spec.max_attempts = 3;
  spec.initial_backoff = "0.01s";
  spec.codes = {"UNAVAILABLE", "RESOURCE_EXHAUSTED"};
  spec.top_level = Breaker(5, "30s");
  ChannelPtr ch =
      Channel(spec, {IntArg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, 1024)});
  const std::string big(2000, 'x');
  for (int i = 0; i < 20; i++) {
    const char* method = i % 2 == 0 ? kSayMethod : kOtherMethod;
    CallResult r = UnaryCall(ch.get(), method, big, 5000);
    EXPECT_EQ(GRPC_STATUS_RESOURCE_EXHAUSTED, r.status) << r.details;
  }
  EXPECT_EQ(0, server_.arrival_count());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "small", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(20u, s.local_errors);
  EXPECT_EQ(0u, s.retries);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.breaker.state);
  EXPECT_EQ(1u, s.breaker.calls_in_window);
}

}  // namespace
}  // namespace grpcr_test
