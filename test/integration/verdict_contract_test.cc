// The breaker and the retries act on what the dependency did, whatever kind
// of server it is (docs/semantics.md: what is retried, verdicts,
// config updates). Each test pins one defect of the earlier rules; the
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

class VerdictContractTest : public BreakerFixture {
 protected:
  // The server fails the first `failures` arrivals UNAVAILABLE after
  // sending response headers "fail-<n>", then answers OK with headers "ok".
  void HeadersThenFail(int failures) {
    server_.SetHandler([failures](const Arrival&, int index) {
      Reply r;
      r.initial_metadata_first = true;
      if (index < failures) {
        r.status = GRPC_STATUS_UNAVAILABLE;
        r.details = "down after headers";
        r.initial_metadata_value = "fail-" + std::to_string(index + 1);
      } else {
        r.initial_metadata_value = "ok";
      }
      return r;
    });
  }

  // The application must see exactly the delivered attempt's headers.
  static void ExpectOnlyHeaders(const CallResult& r, const std::string& v) {
    EXPECT_EQ(1u, r.initial.count("x-initial-md"));
    auto it = r.initial.find("x-initial-md");
    ASSERT_NE(it, r.initial.end());
    EXPECT_EQ(v, it->second);
  }

  // Retries on Say: 3 attempts, 10 ms apart.
  static RetrySpec ThreeAttempts() {
    RetrySpec spec;
    spec.max_attempts = 3;
    spec.initial_backoff = "0.01s";
    spec.max_backoff = "0.01s";
    return spec;
  }
};

// Before: response headers committed the call, so a server that sends them
// before its error status (Ruby servers always; grpc-go, grpc-js and Python
// when a handler sends metadata first) was never retried. Now the attempt's
// status decides, in every batch shape an application uses.
TEST_F(VerdictContractTest, HeadersThenUnavailableIsRetriedInOneBatch) {
  HeadersThenFail(2);
  ChannelPtr ch = Channel(ThreeAttempts());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "one", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ("one", r.response);
  ExpectOnlyHeaders(r, "ok");
  EXPECT_EQ(3, server_.arrival_count());
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(2u, s.retries);
  EXPECT_EQ(3u, s.attempts);
}

TEST_F(VerdictContractTest, HeadersThenUnavailableIsRetriedWithSendsApart) {
  HeadersThenFail(2);
  ChannelPtr ch = Channel(ThreeAttempts());
  PendingCall call(ch.get(), kSayMethod, "two", 5000);
  call.StartBatch(PendingCall::kSendOps);
  call.StartBatch(PendingCall::kRecvOps);
  CallResult r = call.Wait();
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ("two", r.response);
  ExpectOnlyHeaders(r, "ok");
  EXPECT_EQ(3, server_.arrival_count());
  EXPECT_EQ(2u, StatsFor(name_).retries);
}

// grpc++'s async ReadInitialMetadata then Finish: the headers batch
// completes only once the delivered attempt is known.
TEST_F(VerdictContractTest, HeadersThenUnavailableIsRetriedWithHeadersApart) {
  HeadersThenFail(2);
  ChannelPtr ch = Channel(ThreeAttempts());
  PendingCall call(ch.get(), kSayMethod, "three", 5000);
  call.StartBatch(PendingCall::kSendOps);
  int headers = call.StartBatch(PendingCall::kRecvInitialMetadata);
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(headers, 5000, &ok));
  EXPECT_TRUE(ok);
  EXPECT_EQ(3, server_.arrival_count());
  call.StartBatch(PendingCall::kRecvMessage | PendingCall::kRecvStatus);
  CallResult r = call.Wait();
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ("three", r.response);
  ExpectOnlyHeaders(r, "ok");
  EXPECT_EQ(2u, StatsFor(name_).retries);
}

// When every attempt fails after headers, the application gets the last
// attempt's headers and status, and the breaker counts one failure.
TEST_F(VerdictContractTest, LastAttemptsHeadersAndStatusReachTheApplication) {
  HeadersThenFail(100);
  RetrySpec spec = ThreeAttempts();
  spec.top_level = Breaker(1, "30s");
  ChannelPtr ch = Channel(spec);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_EQ("down after headers", r.details);
  ExpectOnlyHeaders(r, "fail-3");
  EXPECT_EQ(3, server_.arrival_count());
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(1u, b.opened_total);
}

// Before: a pass-through unary call (a method without a retry policy) gave
// a success verdict at bare response headers: the breaker never opened on a
// server that sends headers before failing.
TEST_F(VerdictContractTest, PassThroughCallsFailingAfterHeadersOpenTheBreaker) {
  HeadersThenFail(100);
  RetrySpec spec;
  spec.top_level = Breaker(5, "30s");
  ChannelPtr ch = Channel(spec);
  for (int i = 0; i < 8; i++) {
    CallResult r = UnaryCall(ch.get(), kOtherMethod, "x", 5000);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  }
  EXPECT_EQ(5, server_.arrival_count());
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(3u, s.breaker_rejected);
  EXPECT_EQ(GRPCR_BREAKER_OPEN, s.breaker.state);
}

// Before: a stream whose first batch failed below the filter (a failed
// pick against a down server) was cancelled by the surface with that
// error, and the cancel was taken for the application's: no verdict, so a
// channel that carries only streams never opened its breaker.
TEST_F(VerdictContractTest, StreamsFailingAgainstADownServerOpenTheBreaker) {
  ClosedPort closed;
  RetrySpec spec;
  spec.top_level = Breaker(2, "30s");
  name_ = UniqueName();
  ChannelPtr ch(MakeChannel(closed.address(), ServiceConfig(spec),
                            {StringArg(GRPCR_ARG_NAME, name_.c_str())}));
  for (int i = 0; i < 2; i++) {
    PendingCall stream(ch.get(), kStreamMethod, "", 10000);
    int first = stream.StartBatch(PendingCall::kSendInitialMetadata);
    bool ok = true;
    ASSERT_TRUE(stream.WaitBatch(first, 10000, &ok));
    EXPECT_FALSE(ok);
    stream.StartBatch(PendingCall::kRecvStatus);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, stream.Wait(10000).status);
  }
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(0u, b.no_verdict_total);
}

// Before: a half-open probe that got headers closed the breaker at once,
// even though its status then said the dependency was still down. Now it
// retries within its own slot and its failure reopens the breaker.
TEST_F(VerdictContractTest, ProbeGettingHeadersThenUnavailableReopensTheBreaker) {
  RetrySpec spec = ThreeAttempts();
  spec.top_level = Breaker(2, "0.2s");
  ChannelPtr ch = Channel(spec);
  FailCalls(ch.get(), 2);
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  SleepMs(300);
  const int before = server_.arrival_count();
  HeadersThenFail(100);
  CallResult probe = UnaryCall(ch.get(), kSayMethod, "probe", 5000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, probe.status);
  EXPECT_EQ("down after headers", probe.details);
  // Its retries ran in its own slot.
  EXPECT_EQ(before + 3, server_.arrival_count());
  grpcr_breaker_snapshot b = BreakerNow();
  EXPECT_EQ(GRPCR_BREAKER_OPEN, b.state);
  EXPECT_EQ(2u, b.opened_total);
  EXPECT_EQ(0u, b.probes_in_flight);
  EXPECT_EQ(0u, StatsFor(name_).breaker_stopped_retries);
}

// Before: the surface's cancel of a call whose later message broke the
// local send limit reached the filter as the application's cancel, and its
// RESOURCE_EXHAUSTED (a trip code) counted as a failure: one component
// sending oversized chunks opened the breaker of a healthy channel.
TEST_F(VerdictContractTest, OversizedLaterMessagesAreLocalErrorsNotFailures) {
  HoldCalls(/*watch_only=*/false);
  RetrySpec spec;
  spec.top_level = Breaker(5, "30s");
  ChannelPtr ch =
      Channel(spec, {IntArg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, 100)});
  const std::string big(1000, 'x');
  for (int i = 0; i < 5; i++) {
    grpc_completion_queue* cq = grpc_completion_queue_create_for_pluck(nullptr);
    grpc_slice method = grpc_slice_from_static_string(kWatchMethod);
    grpc_call* call = grpc_channel_create_call(
        ch.get(), nullptr, GRPC_PROPAGATE_DEFAULTS, cq, method, nullptr,
        In(10000), nullptr);
    grpc_slice small_s = grpc_slice_from_static_string("chunk");
    grpc_byte_buffer* small = grpc_raw_byte_buffer_create(&small_s, 1);
    grpc_slice big_s = grpc_slice_from_copied_buffer(big.data(), big.size());
    grpc_byte_buffer* large = grpc_raw_byte_buffer_create(&big_s, 1);
    grpc_slice_unref(big_s);
    grpc_metadata_array trailing;
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_OK;
    grpc_slice details;
    grpc_op ops[2];
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = small;
    ASSERT_EQ(GRPC_CALL_OK, grpc_call_start_batch(call, ops, 2, Tag(1), nullptr));
    ASSERT_EQ(GRPC_OP_COMPLETE,
              grpc_completion_queue_pluck(cq, Tag(1), In(5000), nullptr).type);
    ASSERT_TRUE(server_.WaitForArrivals(i + 1, 5000));
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_MESSAGE;
    ops[0].data.send_message.send_message = large;
    ASSERT_EQ(GRPC_CALL_OK, grpc_call_start_batch(call, ops, 1, Tag(2), nullptr));
    grpc_event ev = grpc_completion_queue_pluck(cq, Tag(2), In(5000), nullptr);
    ASSERT_EQ(GRPC_OP_COMPLETE, ev.type);
    EXPECT_EQ(0, ev.success);  // gRPC refused the message in the client
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[0].data.recv_status_on_client.status = &status;
    ops[0].data.recv_status_on_client.status_details = &details;
    ASSERT_EQ(GRPC_CALL_OK, grpc_call_start_batch(call, ops, 1, Tag(3), nullptr));
    ASSERT_EQ(GRPC_OP_COMPLETE,
              grpc_completion_queue_pluck(cq, Tag(3), In(5000), nullptr).type);
    EXPECT_EQ(GRPC_STATUS_RESOURCE_EXHAUSTED, status);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(small);
    grpc_byte_buffer_destroy(large);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_pluck(cq, nullptr, In(1000), nullptr);
    grpc_completion_queue_destroy(cq);
  }
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(5u, s.local_errors);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.breaker.state);
  EXPECT_EQ(0u, s.breaker.calls_in_window);
  EXPECT_EQ(5u, s.breaker.no_verdict_total);
  EXPECT_EQ(5u, s.status_counts[GRPC_STATUS_RESOURCE_EXHAUSTED]);
}

// Before: a response message over the client's max receive size failed
// RESOURCE_EXHAUSTED, a trip code, and counted as the dependency's failure
// though the dependency answered; calls run as attempts retried it. Now it
// is a local error, never retried, for both kinds of call.
TEST_F(VerdictContractTest, ResponsesOverTheClientsReceiveLimitAreLocalErrors) {
  server_.SetHandler([](const Arrival&, int) {
    Reply r;
    r.echo = false;
    r.response = std::string(1000, 'r');
    return r;
  });
  RetrySpec spec = ThreeAttempts();
  spec.codes = {"UNAVAILABLE", "RESOURCE_EXHAUSTED"};
  spec.top_level = Breaker(2, "30s");
  ChannelPtr ch =
      Channel(spec, {IntArg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 100)});
  for (const char* method : {kSayMethod, kOtherMethod, kSayMethod}) {
    CallResult r = UnaryCall(ch.get(), method, "x", 5000);
    EXPECT_EQ(GRPC_STATUS_RESOURCE_EXHAUSTED, r.status) << method;
    EXPECT_EQ("Received message larger than max (1000 vs. 100)", r.details);
  }
  EXPECT_EQ(3, server_.arrival_count());  // none retried
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(3u, s.local_errors);
  EXPECT_EQ(0u, s.retries);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.breaker.state);
  EXPECT_EQ(0u, s.breaker.calls_in_window);
  EXPECT_EQ(3u, s.breaker.no_verdict_total);
}

// Before: an application cancel carrying UNAVAILABLE (a trip code) counted
// as the dependency's failure. A cancel is the application's word, whatever
// status it carries: no verdict, for calls run as attempts and pass-through
// calls alike.
TEST_F(VerdictContractTest, CancelsWithUnavailableLeaveTheBreakerClosed) {
  HoldCalls(/*watch_only=*/false);
  RetrySpec spec;
  spec.top_level = Breaker(5, "30s");
  ChannelPtr ch = Channel(spec);
  for (int i = 0; i < 10; i++) {
    PendingCall call(ch.get(), i % 2 == 0 ? kSayMethod : kOtherMethod, "x",
                     10000);
    call.Start();
    ASSERT_TRUE(server_.WaitForArrivals(i + 1, 5000));
    call.CancelWithStatus(GRPC_STATUS_UNAVAILABLE, "the application gave up");
    CallResult r = call.Wait(5000);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  }
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.breaker.state);
  EXPECT_EQ(0u, s.breaker.calls_in_window);
  EXPECT_EQ(10u, s.breaker.no_verdict_total);
  EXPECT_EQ(10, server_.arrival_count());
}

// ...unless the user listed CANCELLED: then every application cancel is a
// failure, whatever status it carried.
TEST_F(VerdictContractTest, CancelledListedMakesEveryCancelAFailure) {
  HoldCalls(/*watch_only=*/false);
  RetrySpec spec;
  spec.top_level = Breaker(2, "30s", "\"tripOnStatusCodes\": [\"CANCELLED\"]");
  ChannelPtr ch = Channel(spec);
  for (int i = 0; i < 2; i++) {
    PendingCall call(ch.get(), kOtherMethod, "x", 10000);
    call.Start();
    ASSERT_TRUE(server_.WaitForArrivals(i + 1, 5000));
    call.CancelWithStatus(GRPC_STATUS_UNAVAILABLE, "gave up");
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, call.Wait(5000).status);
  }
  EXPECT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
}

// Before: a call admitted before the breaker opened kept retrying into a
// dependency the breaker had declared down. The breaker gates every
// attempt: a retry due while it is OPEN is not made, and the call ends at
// the end of its backoff with its last attempt's status and details.
TEST_F(VerdictContractTest, CallInBackoffWhenTheBreakerOpensMakesNoMoreAttempts) {
  RetrySpec spec;
  spec.max_attempts = 5;
  spec.initial_backoff = "0.5s";
  spec.max_backoff = "0.5s";
  spec.top_level = Breaker(2, "30s");
  ChannelPtr ch = Channel(spec);
  server_.SetHandler([](const Arrival& a, int) {
    return Fail(GRPC_STATUS_UNAVAILABLE,
                a.payload == "retrying" ? "first attempt" : "other");
  });
  PendingCall call(ch.get(), kSayMethod, "retrying", 10000);
  call.Start();
  ASSERT_TRUE(server_.WaitForArrivals(1, 5000));
  SleepMs(50);  // its first attempt failed: it waits 500 ms
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
              UnaryCall(ch.get(), kOtherMethod, "x", 5000).status);
  }
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  CallResult r = call.Wait(5000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_EQ("first attempt", r.details);
  // It ended when its retry was due, not before (timer granularity aside).
  EXPECT_GE(r.elapsed_ns, 450 * 1000000LL);
  EXPECT_LT(r.elapsed_ns, 2000 * 1000000LL);
  EXPECT_EQ(3, server_.arrival_count());
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(1u, s.breaker_stopped_retries);
  EXPECT_EQ(0u, s.retries);
  EXPECT_EQ(3u, s.attempts);
  EXPECT_EQ(s.retries,
            s.attempts - s.requests + s.breaker_rejected + s.throttled);
  // The budget gave the retry back: it counts only retries made.
  EXPECT_EQ(0u, s.budget.retries_total);
  EXPECT_EQ(0u, s.budget.retries_in_window);
}

// The same when the breaker opens while the attempt is in flight: the retry
// is refused when it is scheduled, and the call ends at once.
TEST_F(VerdictContractTest, AttemptFailingAfterTheBreakerOpenedIsNotRetried) {
  RetrySpec spec;
  spec.max_attempts = 5;
  spec.initial_backoff = "0.5s";
  spec.max_backoff = "0.5s";
  spec.top_level = Breaker(2, "30s");
  ChannelPtr ch = Channel(spec);
  server_.SetHandler([](const Arrival& a, int) {
    Reply r = Fail(GRPC_STATUS_UNAVAILABLE, "down");
    if (a.payload == "slow") r.delay_ms = 400;
    return r;
  });
  PendingCall call(ch.get(), kSayMethod, "slow", 10000);
  call.Start();
  ASSERT_TRUE(server_.WaitForArrivals(1, 5000));
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
              UnaryCall(ch.get(), kOtherMethod, "x", 5000).status);
  }
  ASSERT_EQ(GRPCR_BREAKER_OPEN, BreakerNow().state);
  CallResult r = call.Wait(5000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_LT(r.elapsed_ns, 900 * 1000000LL);  // no 500 ms backoff after 400
  EXPECT_EQ(3, server_.arrival_count());
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(1u, s.breaker_stopped_retries);
  EXPECT_EQ(0u, s.retries);
}

// Before: a stream that started under config v1 and ended after the
// resolver sent v2 taught the channel v1 again: the breaker v2 added was
// dropped mid-life. Only the config client-channel holds now is learnt.
TEST_F(VerdictContractTest, StreamEndingUnderAnOlderConfigDoesNotReconfigure) {
  name_ = UniqueName();
  ResolvedChannel ch(name_, {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  RetrySpec v1;
  RetrySpec v2;
  v2.top_level = Breaker(5, "30s");
  ch.Resolve(server_.address(), ServiceConfig(v1));
  PendingCall stream(ch.get(), kStreamMethod, "hello", 10000);
  int first = stream.StartBatch(
      PendingCall::kSendInitialMetadata | PendingCall::kSendMessage |
      PendingCall::kRecvInitialMetadata | PendingCall::kRecvMessage);
  bool ok = false;
  ASSERT_TRUE(stream.WaitBatch(first, 5000, &ok));
  ASSERT_TRUE(ok);
  EXPECT_FALSE(StatsFor(name_).has_breaker);

  ch.Resolve(server_.address(), ServiceConfig(v2));
  // A call that starts after the update teaches the channel v2.
  for (int i = 0; i < 50 && !StatsFor(name_).has_breaker; i++) {
    EXPECT_EQ(GRPC_STATUS_OK,
              UnaryCall(ch.get(), kSayMethod, "x", 5000).status);
    SleepMs(20);
  }
  ASSERT_TRUE(StatsFor(name_).has_breaker);
  const uint64_t updates = StatsFor(name_).config_updates;

  stream.StartBatch(PendingCall::kSendClose | PendingCall::kRecvStatus);
  CallResult r = stream.Wait(5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_TRUE(s.has_breaker);
  EXPECT_EQ(updates, s.config_updates);
  EXPECT_EQ(GRPC_STATUS_OK,
            UnaryCall(ch.get(), kSayMethod, "after", 5000).status);
  EXPECT_TRUE(StatsFor(name_).has_breaker);
}

// Before: under xDS each call carries its route's method config, and the
// channel learnt it as its own: one answered call replaced the channel's
// resilience settings (retries, breaker) with the route's, which has none.
// A per-route config applies to its call only (its timeout, through
// client-channel).
TEST_F(VerdictContractTest, RouteMethodConfigDoesNotReplaceTheChannels) {
  name_ = UniqueName();
  ResolvedChannel ch(name_, {StringArg(GRPCR_ARG_NAME, name_.c_str())});
  RetrySpec spec;
  spec.top_level = Breaker(5, "30s");
  ch.ResolveWithRoute(server_.address(), ServiceConfig(spec),
                      "{\"methodConfig\": [{\"name\": [{}], "
                      "\"timeout\": \"5s\"}]}");
  // Until the channel has its first resolution, calls pass through.
  for (int i = 0; i < 50 && !StatsFor(name_).has_breaker; i++) {
    EXPECT_EQ(GRPC_STATUS_OK,
              UnaryCall(ch.get(), kSayMethod, "warm", 5000).status);
    SleepMs(20);
  }
  ASSERT_TRUE(StatsFor(name_).has_breaker);
  const int before = server_.arrival_count();
  for (int i = 0; i < 3; i++) {
    server_.Script({});
    server_.SetHandler([before, i](const Arrival&, int index) {
      // Each call's first attempt fails; its retry succeeds.
      return index == before + 2 * i ? Fail(GRPC_STATUS_UNAVAILABLE, "once")
                                     : Reply();
    });
    CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 5000);
    EXPECT_EQ(GRPC_STATUS_OK, r.status) << "call " << i << ": " << r.details;
  }
  EXPECT_EQ(before + 6, server_.arrival_count());
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_TRUE(s.has_breaker);
  EXPECT_EQ(3u, s.retries);
}

}  // namespace
}  // namespace grpcr_test
