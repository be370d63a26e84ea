// gRPC 1.51's end2end retry suite (test/core/end2end/tests/retry*.cc), the
// unary scenarios, ported as black-box tests: public C API, a real C-core
// server on 127.0.0.1, our "resilience" config instead of retryPolicy.
// Where our documented semantics differ from gRPC's retry filter the test
// says so. Timing tolerances are stated next to each check; jitter is NONE
// wherever a delay is measured.
#include <gtest/gtest.h>

#include <grpc/slice.h>

#include <ostream>
#include <string>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

constexpr int64_t kMs = 1000000;
// The ops of a retried call must end this soon after a cancel.
constexpr int64_t kPromptNs = 200 * kMs;
// How long to watch for an arrival that must not come: several times the
// backoff in use (50 ms unless said otherwise).
constexpr int kSettleMs = 250;

RetrySpec RetryOn(const std::string& code, int max_attempts) {
  RetrySpec s;
  s.max_attempts = max_attempts;
  s.codes = {code};
  return s;
}

Reply Ok(const std::string& details, const std::string& response) {
  Reply r;
  r.details = details;
  r.echo = false;
  r.response = response;
  return r;
}

// Client metadata without the keys gRPC itself may add ("grpc-*").
std::multimap<std::string, std::string> UserMetadata(const Arrival& a) {
  std::multimap<std::string, std::string> m;
  for (const auto& kv : a.metadata) {
    if (kv.first.rfind("grpc-", 0) != 0) m.insert(kv);
  }
  return m;
}

bool HasMetadata(const Arrival& a, const std::string& key,
                 const std::string& value) {
  auto range = a.metadata.equal_range(key);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == value) return true;
  }
  return false;
}

class RetrySuiteTest : public ::testing::Test {
 protected:
  // A channel with the filter to target (default: server_), named name_.
  ChannelPtr Channel(const RetrySpec& spec, const std::string& target = "") {
    config_ = ServiceConfig(spec);
    char* errors = nullptr;
    EXPECT_EQ(grpcr_validate_service_config(config_.c_str(), &errors), 0)
        << config_ << "\n" << (errors != nullptr ? errors : "");
    if (errors != nullptr) grpcr_free(errors);
    name_ = UniqueName();
    return ChannelPtr(MakeChannel(target.empty() ? server_.address() : target,
                                  config_,
                                  {StringArg(GRPCR_ARG_NAME, name_.c_str())}));
  }
  grpcr_channel_snapshot Stats() {
    grpcr_channel_snapshot s;
    EXPECT_TRUE(FindStats(name_, &s)) << "no stats entry for " << name_;
    return s;
  }
  // Arrivals once no retry can still be on its way.
  int SettledArrivals(int ms = kSettleMs) {
    SleepMs(ms);
    return server_.arrival_count();
  }

  ScriptedServer server_;
  std::string name_;
  std::string config_;
};

// retry.cc: 2 retries allowed for ABORTED; the first attempt gets ABORTED,
// the second OK.
TEST_F(RetrySuiteTest, RetriesRetryableStatusThenSucceeds) {
  server_.Script({Fail(GRPC_STATUS_ABORTED, "xyz"), Ok("xyz", "bar")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(r.response, "bar");
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 2u);
  for (const Arrival& x : a) {
    EXPECT_EQ(x.method, kSayMethod);
    EXPECT_EQ(x.payload, "foo");
  }
  // initialBackoff 50 ms, jitter NONE: the retry leaves 50 ms after the
  // first status (timer granularity 1 ms), well before 50 + 150 ms.
  EXPECT_GE(a[1].t_ns - a[0].t_ns, 49 * kMs);
  EXPECT_LT(a[1].t_ns - a[0].t_ns, 200 * kMs);
  EXPECT_EQ(SettledArrivals(), 2);
  EXPECT_EQ(server_.cancelled_count(), 0);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.finished, 1u);
  EXPECT_EQ(s.budget_denied, 0u);
  EXPECT_EQ(s.attempts_by_number[0], 1u);
  EXPECT_EQ(s.attempts_by_number[1], 1u);
  EXPECT_EQ(s.status_counts[GRPC_STATUS_OK], 1u);
  EXPECT_EQ(s.retry_wait_count, 1u);
}

// retry_too_many_attempts.cc: 1 retry allowed; both attempts get ABORTED.
TEST_F(RetrySuiteTest, StopsAfterMaxAttemptsWithTheLastStatus) {
  server_.Script(
      {Fail(GRPC_STATUS_ABORTED, "first"), Fail(GRPC_STATUS_ABORTED, "xyz")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(SettledArrivals(), 2);
  EXPECT_EQ(server_.cancelled_count(), 0);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.status_counts[GRPC_STATUS_ABORTED], 1u);
}

// Not in gRPC's suite: gRPC caps maxAttempts at 5, we do not.
TEST_F(RetrySuiteTest, MaxAttemptsAboveGrpcCapOfFiveIsHonoured) {
  std::vector<Reply> script(6, Fail(GRPC_STATUS_ABORTED, "again"));
  script.push_back(Ok("done", "bar"));
  server_.Script(script);
  RetrySpec spec = RetryOn("ABORTED", 7);
  spec.initial_backoff = "0.01s";
  spec.max_backoff = "0.01s";
  ChannelPtr ch = Channel(spec);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.details, "done");
  EXPECT_EQ(SettledArrivals(100), 7);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.attempts, 7u);
  EXPECT_EQ(s.retries, 6u);
  EXPECT_EQ(s.attempts_by_number[6], 1u);
}

// retry_non_retriable_status.cc: INVALID_ARGUMENT is not in the set.
TEST_F(RetrySuiteTest, NonRetriableStatusIsNotRetried) {
  server_.Script({Fail(GRPC_STATUS_INVALID_ARGUMENT, "xyz")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(SettledArrivals(), 1);
  EXPECT_EQ(server_.cancelled_count(), 0);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.status_counts[GRPC_STATUS_INVALID_ARGUMENT], 1u);
}

// retry_non_retriable_status_before_recv_trailing_metadata_started.cc: the
// application starts recv_message and recv_status only after the first
// batch (sends + recv_initial_metadata) has completed.
TEST_F(RetrySuiteTest, NonRetriableStatusBeforeRecvTrailingMetadataStarted) {
  server_.Script({Fail(GRPC_STATUS_INVALID_ARGUMENT, "xyz")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  int first =
      call.StartBatch(PendingCall::kSendOps | PendingCall::kRecvInitialMetadata);
  ASSERT_GT(first, 0);
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(first, 5000, &ok));
  EXPECT_TRUE(ok);
  ASSERT_GT(call.StartBatch(PendingCall::kRecvMessage | PendingCall::kRecvStatus),
            0);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_FALSE(r.got_response);
  EXPECT_EQ(SettledArrivals(), 1);
}

// The same batching with a retryable first status: the filter must watch
// the attempt's trailing metadata itself, since the application has not
// asked for it yet.
TEST_F(RetrySuiteTest, RetryableStatusBeforeRecvTrailingMetadataStarted) {
  server_.Script({Fail(GRPC_STATUS_ABORTED, "first"), Ok("xyz", "bar")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  int first =
      call.StartBatch(PendingCall::kSendOps | PendingCall::kRecvInitialMetadata);
  ASSERT_GT(first, 0);
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(first, 5000, &ok));
  EXPECT_TRUE(ok);
  ASSERT_GT(call.StartBatch(PendingCall::kRecvMessage | PendingCall::kRecvStatus),
            0);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(r.response, "bar");
  EXPECT_EQ(SettledArrivals(), 2);
}

// The batching of grpc++'s async unary: all sends, then all recvs.
TEST_F(RetrySuiteTest, SendsThenRecvsInTwoBatchesAreRetried) {
  server_.Script({Fail(GRPC_STATUS_ABORTED, "first"), Ok("xyz", "bar")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  ASSERT_GT(call.StartBatch(PendingCall::kSendOps), 0);
  ASSERT_GT(call.StartBatch(PendingCall::kRecvOps), 0);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.response, "bar");
  EXPECT_EQ(SettledArrivals(), 2);
}

// retry_server_pushback_delay.cc: pushback replaces the backoff. gRPC's
// test uses 2 s against a 1 s backoff; here 500 ms against 50 ms.
TEST_F(RetrySuiteTest, ServerPushbackDelayReplacesTheBackoff) {
  Reply first = Fail(GRPC_STATUS_ABORTED, "message1");
  first.pushback_ms = "500";
  server_.Script({first, Ok("message2", "bar")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.details, "message2");
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 2u);
  // At least the pushback (1 ms timer granularity), and not much more.
  EXPECT_GE(a[1].t_ns - a[0].t_ns, 499 * kMs);
  EXPECT_LT(a[1].t_ns - a[0].t_ns, 800 * kMs);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.retries, 1u);
  ASSERT_EQ(s.retry_wait_count, 1u);
  EXPECT_NEAR(s.retry_wait_sum_s, 0.5, 0.05);
}

// Not in gRPC's suite: "Pushback 0 means retry at once", even with a 1 s
// backoff configured.
TEST_F(RetrySuiteTest, ServerPushbackZeroRetriesAtOnce) {
  Reply first = Fail(GRPC_STATUS_ABORTED, "first");
  first.pushback_ms = "0";
  server_.Script({first, Ok("xyz", "bar")});
  RetrySpec spec = RetryOn("ABORTED", 2);
  spec.initial_backoff = "1s";
  spec.max_backoff = "1s";
  ChannelPtr ch = Channel(spec);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_LT(a[1].t_ns - a[0].t_ns, 200 * kMs);
}

// retry_server_pushback_disabled.cc: a negative pushback stops retrying.
TEST_F(RetrySuiteTest, ServerPushbackNegativeStopsRetrying) {
  Reply second = Fail(GRPC_STATUS_ABORTED, "xyz");
  second.pushback_ms = "-1";
  server_.Script({Fail(GRPC_STATUS_ABORTED, "first"), second});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(SettledArrivals(), 2);
  EXPECT_EQ(Stats().attempts, 2u);
}

// Not in gRPC's suite: a malformed pushback stops retrying too. (gRPC's
// server turns the text into a negative number on the wire; the outcome the
// client must show is the same.)
TEST_F(RetrySuiteTest, ServerPushbackMalformedStopsRetrying) {
  Reply first = Fail(GRPC_STATUS_ABORTED, "xyz");
  first.pushback_ms = "soon";
  server_.Script({first});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(SettledArrivals(), 1);
}

// The cancellation modes of gRPC's cancel_test_helpers.h.
struct CancelMode {
  const char* name;
  enum Kind { kCancel, kCancelWithStatus, kDeadline } kind;
  grpc_status_code expect;
};

const CancelMode kCancelModes[] = {
    {"Cancel", CancelMode::kCancel, GRPC_STATUS_CANCELLED},
    {"CancelWithStatus", CancelMode::kCancelWithStatus,
     GRPC_STATUS_UNIMPLEMENTED},
    {"Deadline", CancelMode::kDeadline, GRPC_STATUS_DEADLINE_EXCEEDED},
};

// Names the parameter in test listings (and so in ctest's test names).
void PrintTo(const CancelMode& mode, std::ostream* os) { *os << mode.name; }

std::string ModeName(const ::testing::TestParamInfo<CancelMode>& info) {
  return info.param.name;
}

void Initiate(PendingCall& call, const CancelMode& mode) {
  switch (mode.kind) {
    case CancelMode::kCancel:
      call.Cancel();
      break;
    case CancelMode::kCancelWithStatus:
      call.CancelWithStatus(GRPC_STATUS_UNIMPLEMENTED, "Just Cancelled");
      break;
    case CancelMode::kDeadline:
      break;  // the deadline does it
  }
}

class RetryCancellationTest : public RetrySuiteTest,
                              public ::testing::WithParamInterface<CancelMode> {
};

// retry_cancellation.cc: the first attempt fails, the retry is in flight
// (the server holds it) when the call is cancelled. As in gRPC's test the
// method also has a "timeout" (10 s) in the service config.
TEST_P(RetryCancellationTest, CancelDuringRetryAttemptEndsTheCall) {
  const CancelMode& mode = GetParam();
  Reply hold;
  hold.hold = true;
  server_.Script({Fail(GRPC_STATUS_ABORTED, "xyz"), hold});
  RetrySpec spec = RetryOn("ABORTED", 5);
  spec.timeout = "10s";
  ChannelPtr ch = Channel(spec);
  const int timeout_ms = mode.kind == CancelMode::kDeadline ? 800 : 5000;
  PendingCall call(ch.get(), kSayMethod, "foo", timeout_ms);
  call.Start();
  ASSERT_TRUE(server_.WaitForArrivals(2, 3000));
  const int64_t cancel_ns = NowNs();
  Initiate(call, mode);
  CallResult r = call.Wait();
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(r.status, mode.expect) << r.details;
  if (mode.kind == CancelMode::kDeadline) {
    // The 800 ms deadline, give or take the timer (-5 ms / +100 ms).
    EXPECT_GE(r.elapsed_ns, 795 * kMs);
    EXPECT_LT(r.elapsed_ns, 900 * kMs);
  } else {
    EXPECT_LT(r.done_ns - cancel_ns, kPromptNs);
  }
  if (mode.kind == CancelMode::kCancelWithStatus) {
    EXPECT_EQ(r.details, "Just Cancelled");
  }
  // The held attempt is cancelled on the server too, and nothing follows.
  EXPECT_TRUE(server_.WaitForCancelled(1, 2000));
  EXPECT_EQ(SettledArrivals(), 2);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.finished, 1u);
  EXPECT_EQ(s.status_counts[mode.expect], 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, RetryCancellationTest,
                         ::testing::ValuesIn(kCancelModes), ModeName);

class RetryCancelDuringDelayTest
    : public RetrySuiteTest,
      public ::testing::WithParamInterface<CancelMode> {};

// retry_cancel_during_delay.cc: cancelled while waiting out the backoff.
// gRPC's test also runs a deadline mode with a backoff longer than the
// deadline; under our semantics such a call ends at once with the last
// status (RetryThatWouldStartAfterTheDeadlineEndsAtOnce below).
TEST_P(RetryCancelDuringDelayTest, CancelDuringBackoffEndsPromptly) {
  const CancelMode& mode = GetParam();
  server_.Script({Fail(GRPC_STATUS_ABORTED, "xyz")});
  RetrySpec spec = RetryOn("ABORTED", 3);
  spec.initial_backoff = "1s";
  spec.max_backoff = "1s";
  ChannelPtr ch = Channel(spec);
  PendingCall call(ch.get(), kSayMethod, "foo", 10000);
  call.Start();
  ASSERT_TRUE(server_.WaitForArrivals(1, 3000));
  SleepMs(100);  // now inside the 1 s backoff
  const int64_t cancel_ns = NowNs();
  Initiate(call, mode);
  CallResult r = call.Wait();
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(r.status, mode.expect) << r.details;
  EXPECT_LT(r.done_ns - cancel_ns, kPromptNs);
  EXPECT_LT(r.elapsed_ns, 1000 * kMs) << "waited for the backoff";
  // The backoff would have ended 1 s after the first status: no retry then.
  EXPECT_EQ(SettledArrivals(1100), 1);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.attempts, 1u);
  EXPECT_EQ(s.finished, 1u);
  EXPECT_EQ(s.status_counts[mode.expect], 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, RetryCancelDuringDelayTest,
                         ::testing::Values(kCancelModes[0], kCancelModes[1]),
                         ModeName);

// "If the next retry would start after the deadline, the call ends at once
// with the last attempt's status."
TEST_F(RetrySuiteTest, RetryThatWouldStartAfterTheDeadlineEndsAtOnce) {
  server_.Script({Fail(GRPC_STATUS_ABORTED, "xyz")});
  RetrySpec spec = RetryOn("ABORTED", 3);
  spec.initial_backoff = "5s";
  spec.max_backoff = "5s";
  ChannelPtr ch = Channel(spec);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 1000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_LT(r.elapsed_ns, 300 * kMs) << "should not wait for the deadline";
  EXPECT_EQ(SettledArrivals(), 1);
}

// retry_cancel_after_first_attempt_starts.cc: the application unrefs the
// call after starting all ops in three batches, before any completes. It
// must not leak (run under valgrind/ASAN) and every batch must complete.
TEST_F(RetrySuiteTest, UnrefAfterFirstAttemptStarts) {
  Reply hold;
  hold.hold = true;
  server_.SetDefault(hold);
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  // Larger than an inlined slice, so a leaked copy shows up.
  const std::string payload(1024, 'p');
  PendingCall call(ch.get(), kSayMethod, payload, 5000);
  int sends = call.StartBatch(PendingCall::kSendOps);
  int recvs = call.StartBatch(PendingCall::kRecvInitialMetadata |
                              PendingCall::kRecvMessage);
  int status = call.StartBatch(PendingCall::kRecvStatus);
  ASSERT_GT(sends, 0);
  ASSERT_GT(recvs, 0);
  ASSERT_GT(status, 0);
  const int64_t unref_ns = NowNs();
  call.Unref();
  EXPECT_TRUE(call.WaitBatch(sends, 2000));
  EXPECT_TRUE(call.WaitBatch(recvs, 2000));
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(status, 2000, &ok));
  EXPECT_TRUE(ok);
  EXPECT_LT(call.batch_done_ns(status) - unref_ns, kPromptNs);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_CANCELLED);
  // The attempt may or may not have reached the server; if it did, the
  // server sees it cancelled, and there is no second one. Its message is
  // the whole request, or none if the cancel overtook it on the wire
  // (never a part of it).
  const int n = SettledArrivals();
  EXPECT_LE(n, 1);
  if (n == 1) {
    EXPECT_TRUE(server_.WaitForCancelled(1, 2000));
    const std::string seen = server_.arrivals()[0].payload;
    EXPECT_TRUE(seen == payload || seen.empty()) << seen.size() << " bytes";
  }
}

// retry_unref_before_finish.cc: the status (FAILED_PRECONDITION, not
// retriable) has arrived but the application never asks for it.
TEST_F(RetrySuiteTest, UnrefBeforeFinish) {
  server_.Script({Fail(GRPC_STATUS_FAILED_PRECONDITION, "xyz")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  int sends = call.StartBatch(PendingCall::kSendOps);
  int recvs = call.StartBatch(PendingCall::kRecvInitialMetadata |
                              PendingCall::kRecvMessage);
  ASSERT_GT(sends, 0);
  ASSERT_GT(recvs, 0);
  ASSERT_TRUE(server_.WaitForArrivals(1, 3000));
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(sends, 3000, &ok));
  EXPECT_TRUE(ok);
  ASSERT_TRUE(call.WaitBatch(recvs, 3000, &ok));
  EXPECT_TRUE(ok);
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].method, kSayMethod);
  // The server call completed normally (not cancelled by the client).
  for (int i = 0; i < 100 && server_.open_calls() > 0; ++i) SleepMs(10);
  EXPECT_EQ(server_.open_calls(), 0);
  EXPECT_EQ(server_.cancelled_count(), 0);
  call.Unref();
  EXPECT_EQ(SettledArrivals(), 1);
  EXPECT_EQ(Stats().attempts, 1u);
}

// retry_unref_before_recv.cc: the application unrefs the call while
// recv_initial_metadata and recv_message are pending; the server answers
// (FAILED_PRECONDITION) only afterwards. The pending recv batch fails.
TEST_F(RetrySuiteTest, UnrefBeforeRecv) {
  Reply late = Fail(GRPC_STATUS_FAILED_PRECONDITION, "xyz");
  late.delay_ms = 300;
  server_.Script({late});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  int sends = call.StartBatch(PendingCall::kSendOps);
  int recvs = call.StartBatch(PendingCall::kRecvInitialMetadata |
                              PendingCall::kRecvMessage);
  ASSERT_GT(sends, 0);
  ASSERT_GT(recvs, 0);
  ASSERT_TRUE(server_.WaitForArrivals(1, 3000));
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(sends, 3000, &ok));
  EXPECT_TRUE(ok);
  const int64_t unref_ns = NowNs();
  call.Unref();
  ASSERT_TRUE(call.WaitBatch(recvs, 3000, &ok));
  EXPECT_FALSE(ok) << "recv ops of an unreffed call must fail";
  // Cancelled by the unref, not by the server's answer 300 ms later.
  EXPECT_LT(call.batch_done_ns(recvs) - unref_ns, kPromptNs);
  for (int i = 0; i < 200 && server_.open_calls() > 0; ++i) SleepMs(10);
  EXPECT_EQ(server_.open_calls(), 0);
  EXPECT_EQ(SettledArrivals(400), 1);
  EXPECT_EQ(server_.arrivals()[0].method, kSayMethod);
}

// retry_recv_initial_metadata.cc commits a call once initial metadata
// arrives; we do not: response headers before a retryable status (Ruby
// servers always send them) commit nothing, the call is retried, and the
// application sees only the delivered attempt's headers and status.
TEST_F(RetrySuiteTest, ReceivingInitialMetadataDoesNotCommitTheCall) {
  Reply first = Fail(GRPC_STATUS_ABORTED, "xyz");
  first.initial_metadata_first = true;
  first.initial_metadata_value = "attempt-1";
  Reply second = Fail(GRPC_STATUS_ABORTED, "last");
  second.initial_metadata_first = true;
  second.initial_metadata_value = "attempt-2";
  server_.Script({first, second});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "last");
  EXPECT_EQ(r.initial.count("x-initial-md"), 1u);
  auto it = r.initial.find("x-initial-md");
  ASSERT_NE(it, r.initial.end());
  EXPECT_EQ(it->second, "attempt-2");
  EXPECT_EQ(SettledArrivals(), 2);
  EXPECT_EQ(Stats().attempts, 2u);
}

// retry_recv_message.cc: a message reached the application before the
// (retryable) status, so the call is committed.
TEST_F(RetrySuiteTest, ReceivingAMessageCommitsTheCall) {
  Reply reply = Fail(GRPC_STATUS_ABORTED, "xyz");
  reply.message_before_status = true;
  reply.echo = false;
  reply.response = "bar";
  server_.SetDefault(reply);
  ChannelPtr ch = Channel(RetryOn("ABORTED", 2));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_TRUE(r.got_response);
  EXPECT_EQ(r.response, "bar");
  EXPECT_EQ(SettledArrivals(), 1);
  EXPECT_EQ(server_.cancelled_count(), 0);
  EXPECT_EQ(Stats().attempts, 1u);
}

// retry_send_initial_metadata_refs.cc: the application frees its metadata
// (one inlined, one heap-allocated entry) and message as soon as the send
// batch completes; the retry still carries identical metadata and payload.
TEST_F(RetrySuiteTest, RetryCarriesTheSameMetadataAndPayload) {
  server_.Script({Fail(GRPC_STATUS_ABORTED, "first"), Ok("xyz", "bar")});
  ChannelPtr ch = Channel(RetryOn("ABORTED", 3));
  const std::string long_key(GRPC_SLICE_INLINED_SIZE + 1, 'x');
  const std::string long_value(GRPC_SLICE_INLINED_SIZE + 1, 'y');
  const std::string payload(256, 'q');
  PendingCall call(ch.get(), kSayMethod, payload, 5000,
                   {{"foo", "bar"}, {long_key, long_value}});
  int sends = call.StartBatch(PendingCall::kSendOps);
  ASSERT_GT(sends, 0);
  bool ok = false;
  // As in gRPC's test, the send batch completes before any recv is started
  // (and PendingCall then frees the metadata and the message).
  ASSERT_TRUE(call.WaitBatch(sends, 5000, &ok));
  EXPECT_TRUE(ok);
  ASSERT_GT(call.StartBatch(PendingCall::kRecvOps), 0);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(r.response, "bar");
  std::vector<Arrival> a = server_.arrivals();
  ASSERT_EQ(a.size(), 2u);
  for (const Arrival& x : a) {
    EXPECT_EQ(x.method, kSayMethod);
    EXPECT_EQ(x.payload, payload);
    EXPECT_TRUE(HasMetadata(x, "foo", "bar"));
    EXPECT_TRUE(HasMetadata(x, long_key, long_value));
  }
  EXPECT_EQ(UserMetadata(a[1]), UserMetadata(a[0]));
  EXPECT_EQ(server_.cancelled_count(), 0);
}

// retry_lb_fail.cc, as a closed port: the connection is refused, so no
// attempt reaches a server; the stats count them. As in gRPC's test the
// application starts recv_status only after the send batch completed.
TEST_F(RetrySuiteTest, ConnectionRefusedIsRetriedMaxAttemptsTimes) {
  ClosedPort closed;
  ChannelPtr ch = Channel(RetryOn("UNAVAILABLE", 3), closed.address());
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  int sends = call.StartBatch(PendingCall::kSendOps);
  ASSERT_GT(sends, 0);
  EXPECT_TRUE(call.WaitBatch(sends, 3000));
  ASSERT_GT(call.StartBatch(PendingCall::kRecvStatus), 0);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_FALSE(r.details.empty());
  EXPECT_LT(r.elapsed_ns, 3000 * kMs);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.finished, 1u);
  EXPECT_EQ(s.status_counts[GRPC_STATUS_UNAVAILABLE], 1u);
}

// The same with all ops in one batch, and the details of the last attempt
// passed through unchanged.
TEST_F(RetrySuiteTest, ConnectionRefusedInOneBatch) {
  ClosedPort closed;
  ChannelPtr ch = Channel(RetryOn("UNAVAILABLE", 3), closed.address());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_FALSE(r.details.empty());
  EXPECT_EQ(r.details.rfind("circuit breaker open", 0), std::string::npos);
  grpcr_channel_snapshot s = Stats();
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_EQ(s.retries, 2u);
}

// Three UNAVAILABLE then OK on ch: the gaps between the server's arrivals
// are want_ms (they also hold a round trip: -1 ms allowed for timer
// granularity, +80 ms).
void ExpectBackoffGaps(ScriptedServer& server, grpc_channel* ch,
                       const int64_t (&want_ms)[3]) {
  std::vector<Reply> script(3, Fail(GRPC_STATUS_UNAVAILABLE, "again"));
  script.push_back(Ok("xyz", "bar"));
  server.Script(script);
  CallResult r = UnaryCall(ch, kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  std::vector<Arrival> a = server.arrivals();
  ASSERT_EQ(a.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    const int64_t gap = a[i + 1].t_ns - a[i].t_ns;
    EXPECT_GE(gap, (want_ms[i] - 1) * kMs) << "retry " << i + 1;
    EXPECT_LT(gap, (want_ms[i] + 80) * kMs) << "retry " << i + 1;
  }
}

// Jitter NONE: delays are exactly initial * multiplier^n.
TEST_F(RetrySuiteTest, JitterNoneGivesExactExponentialBackoff) {
  RetrySpec spec = RetryOn("UNAVAILABLE", 4);
  spec.initial_backoff = "0.1s";
  spec.max_backoff = "10s";
  spec.multiplier = 2;
  ChannelPtr ch = Channel(spec);
  ExpectBackoffGaps(server_, ch.get(), {100, 200, 400});
}

// maxBackoff caps the exponential sequence.
TEST_F(RetrySuiteTest, MaxBackoffCapsTheDelay) {
  RetrySpec spec = RetryOn("UNAVAILABLE", 4);
  spec.initial_backoff = "0.1s";
  spec.max_backoff = "0.15s";
  spec.multiplier = 10;
  ChannelPtr ch = Channel(spec);
  ExpectBackoffGaps(server_, ch.get(), {100, 150, 150});
}

}  // namespace
}  // namespace grpcr_test
