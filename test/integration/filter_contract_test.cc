// Regression tests for the filter's contract with gRPC's surface: each was
// a bug found in review (the comments say what went wrong). Where it makes
// the expectation obvious, a control runs the same call on a channel with the
// filter disabled (GRPCR_ARG_ENABLE 0).
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

constexpr int64_t kMs = 1000000;

void* Tag(intptr_t t) { return reinterpret_cast<void*>(t); }

gpr_timespec In(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

grpc_byte_buffer* Bytes(const std::string& s) {
  grpc_slice slice = grpc_slice_from_copied_buffer(s.data(), s.size());
  grpc_byte_buffer* bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

// A client call driven op by op through the public C API, where an op may
// appear in several batches (recv_message twice, as a streaming reader does).
class RawCall {
 public:
  RawCall(grpc_channel* ch, const char* method, int timeout_ms) {
    cq_ = grpc_completion_queue_create_for_pluck(nullptr);
    grpc_slice m = grpc_slice_from_copied_string(method);
    call_ = grpc_channel_create_call(ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq_,
                                     m, nullptr, In(timeout_ms), nullptr);
    grpc_slice_unref(m);
    grpc_metadata_array_init(&initial_);
    grpc_metadata_array_init(&trailing_);
    details_ = grpc_empty_slice();
  }
  ~RawCall() {
    grpc_call_cancel(call_, nullptr);
    for (intptr_t t : outstanding_) {
      grpc_completion_queue_pluck(cq_, Tag(t), In(30000), nullptr);
    }
    grpc_call_unref(call_);
    grpc_completion_queue_shutdown(cq_);
    grpc_completion_queue_pluck(cq_, nullptr, In(1000), nullptr);
    grpc_completion_queue_destroy(cq_);
    grpc_metadata_array_destroy(&initial_);
    grpc_metadata_array_destroy(&trailing_);
    grpc_slice_unref(details_);
    if (send_ != nullptr) grpc_byte_buffer_destroy(send_);
    for (grpc_byte_buffer* b : received_) {
      if (b != nullptr) grpc_byte_buffer_destroy(b);
    }
  }
  grpc_call* call() { return call_; }

  // Starts send initial metadata + message + close (the first batch of a
  // grpc++ server-streaming ClientReader, and of an async unary call).
  void StartSends(const std::string& payload, intptr_t tag) {
    send_ = Bytes(payload);
    grpc_op ops[3];
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    Start(ops, 3, tag);
  }
  // recv_initial_metadata (first time only) + recv_message into slot.
  void StartRead(bool with_initial, intptr_t tag) {
    received_.push_back(nullptr);
    grpc_op ops[2];
    std::memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (with_initial) {
      ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[n].data.recv_initial_metadata.recv_initial_metadata = &initial_;
      n++;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &received_.back();
    n++;
    Start(ops, n, tag);
  }
  void StartStatus(intptr_t tag) {
    grpc_op op;
    std::memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &trailing_;
    op.data.recv_status_on_client.status = &status_;
    op.data.recv_status_on_client.status_details = &details_;
    Start(&op, 1, tag);
  }
  void StartAll(const std::string& payload, intptr_t tag) {
    send_ = Bytes(payload);
    received_.push_back(nullptr);
    grpc_op ops[6];
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &received_.back();
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_;
    ops[5].data.recv_status_on_client.status = &status_;
    ops[5].data.recv_status_on_client.status_details = &details_;
    Start(ops, 6, tag);
  }
  // True if the batch completed within timeout_ms.
  bool Wait(intptr_t tag, int timeout_ms, bool* ok = nullptr) {
    grpc_event ev =
        grpc_completion_queue_pluck(cq_, Tag(tag), In(timeout_ms), nullptr);
    if (ev.type != GRPC_OP_COMPLETE) return false;
    for (size_t i = 0; i < outstanding_.size(); ++i) {
      if (outstanding_[i] == tag) {
        outstanding_.erase(outstanding_.begin() + i);
        break;
      }
    }
    if (ok != nullptr) *ok = ev.success != 0;
    return true;
  }
  // The i-th message read: nullptr is end-of-stream.
  grpc_byte_buffer* message(size_t i) { return received_[i]; }
  grpc_status_code status() const { return status_; }
  std::string details() const {
    return std::string(
        reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(details_)),
        GRPC_SLICE_LENGTH(details_));
  }

 private:
  void Start(const grpc_op* ops, size_t n, intptr_t tag) {
    grpc_call_error e = grpc_call_start_batch(call_, ops, n, Tag(tag), nullptr);
    ASSERT_EQ(e, GRPC_CALL_OK);
    outstanding_.push_back(tag);
  }

  grpc_completion_queue* cq_;
  grpc_call* call_;
  grpc_byte_buffer* send_ = nullptr;
  std::vector<grpc_byte_buffer*> received_;
  grpc_metadata_array initial_;
  grpc_metadata_array trailing_;
  grpc_status_code status_ = GRPC_STATUS_UNKNOWN;
  grpc_slice details_;
  std::vector<intptr_t> outstanding_;
};

// A server-streaming server: for one call, reads the request, sends two
// messages ("a", "b") and OK.
class TwoMessageServer {
 public:
  TwoMessageServer() {
    EnsureGrpcInitialized();
    cq_ = grpc_completion_queue_create_for_next(nullptr);
    server_ = grpc_server_create(nullptr, nullptr);
    grpc_server_register_completion_queue(server_, cq_, nullptr);
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    port_ = grpc_server_add_http2_port(server_, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    grpc_server_start(server_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TwoMessageServer() {
    grpc_server_shutdown_and_notify(server_, cq_, Tag(99));
    grpc_server_cancel_all_calls(server_);
    thread_.join();
    Next(99);
    grpc_server_destroy(server_);
    grpc_completion_queue_shutdown(cq_);
    while (grpc_completion_queue_next(cq_, In(5000), nullptr).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq_);
  }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(port_);
  }

 private:
  bool Next(intptr_t tag) {
    grpc_event ev = grpc_completion_queue_next(cq_, In(10000), nullptr);
    return ev.type == GRPC_OP_COMPLETE && ev.tag == Tag(tag) && ev.success;
  }
  void Serve() {
    grpc_call* call = nullptr;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    grpc_server_request_call(server_, &call, &details, &md, cq_, cq_, Tag(1));
    if (!Next(1)) return;
    grpc_byte_buffer* req = nullptr;
    grpc_op ops[2];
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &req;
    grpc_call_start_batch(call, ops, 2, Tag(2), nullptr);
    Next(2);
    if (req != nullptr) grpc_byte_buffer_destroy(req);
    for (const char* m : {"a", "b"}) {
      grpc_byte_buffer* bb = Bytes(m);
      std::memset(ops, 0, sizeof(ops));
      ops[0].op = GRPC_OP_SEND_MESSAGE;
      ops[0].data.send_message.send_message = bb;
      grpc_call_start_batch(call, ops, 1, Tag(3), nullptr);
      Next(3);
      grpc_byte_buffer_destroy(bb);
    }
    int cancelled = 0;
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[0].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[1].data.recv_close_on_server.cancelled = &cancelled;
    grpc_call_start_batch(call, ops, 2, Tag(4), nullptr);
    Next(4);
    grpc_call_unref(call);
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
  }

  grpc_completion_queue* cq_;
  grpc_server* server_;
  int port_ = 0;
  std::thread thread_;
};

std::string Str(grpc_byte_buffer* bb) { return ByteBufferToString(bb); }

class FilterContractTest : public ::testing::Test {
 protected:
  ChannelPtr Channel(const std::string& target, const RetrySpec& spec,
                     bool enabled = true) {
    config_ = ServiceConfig(spec);
    name_ = UniqueName(enabled ? "on" : "off");
    return ChannelPtr(
        MakeChannel(target, config_,
                    {StringArg(GRPCR_ARG_NAME, name_.c_str()),
                     IntArg(GRPCR_ARG_ENABLE, enabled ? 1 : 0)}));
  }
  std::string name_;
  std::string config_;
};

// Was a bug: a server-streaming call's first batch (send md + message + close, as
// grpc++'s ClientReader sends it) is "unary-shaped", so the filter takes the
// call over and runs one attempt with ONE recv_message. chttp2 completes
// recv_trailing_metadata on a client only when no unread message is left
// (chttp2_transport.cc:1875), so the attempt never ends: the stream hangs
// until the deadline.
void ReadTwoMessages(grpc_channel* ch) {
  RawCall c(ch, "/echo.Echo/ListThings", 4000);
  c.StartSends("req", 1);
  bool ok = false;
  ASSERT_TRUE(c.Wait(1, 3000, &ok));
  c.StartRead(true, 2);
  ASSERT_TRUE(c.Wait(2, 1500, &ok))
      << "first message of a server stream not delivered within 1.5 s";
  EXPECT_EQ(Str(c.message(0)), "a");
  c.StartRead(false, 3);
  ASSERT_TRUE(c.Wait(3, 1500, &ok));
  EXPECT_EQ(Str(c.message(1)), "b");
  c.StartRead(false, 4);
  ASSERT_TRUE(c.Wait(4, 1500, &ok));
  EXPECT_EQ(c.message(2), nullptr) << "end of stream expected";
  c.StartStatus(5);
  ASSERT_TRUE(c.Wait(5, 1500, &ok));
  EXPECT_EQ(c.status(), GRPC_STATUS_OK) << c.details();
}

TEST_F(FilterContractTest, ServerStreamingControlWithoutFilter) {
  TwoMessageServer server;
  ChannelPtr ch = Channel(server.address(), RetrySpec{}, /*enabled=*/false);
  ReadTwoMessages(ch.get());
}

TEST_F(FilterContractTest, ServerStreamingWithTwoMessagesIsNotHeld) {
  TwoMessageServer server;
  ChannelPtr ch = Channel(server.address(), RetrySpec{});
  ReadTwoMessages(ch.get());
}

// Was a bug: a unary-shaped stream that answers with exactly one message (the
// fixture's bidi echo after one message and a half-close). The second
// recv_message must report end-of-stream (nullptr); the filter moves
// final_message out of an engaged absl::optional, which stays engaged and
// empty, so DeliverPending (filter.cc:440) hands the application an empty
// message instead. A grpc++ ClientReader::Read() loop then never ends.
void ReadOneThenEnd(grpc_channel* ch) {
  RawCall c(ch, kStreamMethod, 5000);
  c.StartSends("only", 1);
  bool ok = false;
  ASSERT_TRUE(c.Wait(1, 3000, &ok));
  c.StartRead(true, 2);
  ASSERT_TRUE(c.Wait(2, 3000, &ok));
  EXPECT_EQ(Str(c.message(0)), "only");
  c.StartRead(false, 3);
  ASSERT_TRUE(c.Wait(3, 3000, &ok));
  EXPECT_EQ(c.message(1), nullptr)
      << "got a message of " << Str(c.message(1)).size()
      << " bytes instead of end-of-stream";
  c.StartStatus(4);
  ASSERT_TRUE(c.Wait(4, 3000, &ok));
  EXPECT_EQ(c.status(), GRPC_STATUS_OK) << c.details();
}

TEST_F(FilterContractTest, SecondReadIsEndOfStreamControlWithoutFilter) {
  ScriptedServer server;
  ChannelPtr ch = Channel(server.address(), RetrySpec{}, false);
  ReadOneThenEnd(ch.get());
}

TEST_F(FilterContractTest, SecondReadIsEndOfStreamWithFilter) {
  ScriptedServer server;
  ChannelPtr ch = Channel(server.address(), RetrySpec{});
  ReadOneThenEnd(ch.get());
}

// Was a bug: Decide() checks the backoff against the application's deadline only
// (calld->deadline, filter.cc:690). A methodConfig "timeout" is applied by
// client-channel inside each attempt, so a retry is scheduled past it: the
// call waits out the whole backoff and then fails DEADLINE_EXCEEDED, instead
// of "ends at once with the last attempt's status" (docs/ARCHITECTURE.md).
// (gRPC 1.51 fires a method timeout 1 to 2 s early, docs/GRPC_CORE_NOTES.md:
// the 3 s timeout leaves 1 to 2 s, still well short of the 5 s backoff.)
TEST_F(FilterContractTest, MethodTimeoutBoundsTheBackoff) {
  ScriptedServer server;
  server.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "down"));
  RetrySpec spec;
  spec.max_attempts = 3;
  spec.initial_backoff = "5s";
  spec.max_backoff = "5s";
  spec.timeout = "3s";
  ChannelPtr ch = Channel(server.address(), spec);
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 20000);
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE) << r.details;
  EXPECT_EQ(r.details, "down");
  EXPECT_LT(r.elapsed_ns, 1000 * kMs)
      << "the retry would start after the method timeout: end at once";
  SleepMs(200);
  EXPECT_EQ(server.arrival_count(), 1);
}

// Was a bug (accounting): a call cancelled before its first batch is switched to
// pass-through in HandleCancel (filter.cc:974) without being counted as a
// request/attempt, but its recv_trailing_metadata is still counted as a
// final status: finished > requests.
TEST_F(FilterContractTest, CancelBeforeFirstBatchKeepsCountersConsistent) {
  ScriptedServer server;
  ChannelPtr ch = Channel(server.address(), RetrySpec{});
  {
    PendingCall call(ch.get(), kSayMethod, "x", 5000);
    call.Cancel();
    call.Start();
    CallResult r = call.Wait();
    EXPECT_EQ(r.status, GRPC_STATUS_CANCELLED);
  }
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(s.finished, 1u);
  EXPECT_EQ(s.requests, s.finished) << "a final status without a request";
}

// Was a bug: the client auth filter (subchannel stack) creates the call's
// grpc_client_security_context in the call context it is given and sets its
// auth_context. With the filter that is the attempt's child context
// (filter.cc:844-847 copies values, not back), destroyed with the attempt
// (AttemptAfterDestroy), so grpc_call_auth_context() on the application's
// call is NULL (grpc++ ClientContext::auth_context() loses the server's
// identity on TLS channels).
void AuthContextAfterCall(bool enabled) {
  ScriptedServer server;
  std::string name = UniqueName(enabled ? "on" : "off");
  ChannelPtr ch(MakeChannel(server.address(), ServiceConfig(RetrySpec{}),
                            {StringArg(GRPCR_ARG_NAME, name.c_str()),
                             IntArg(GRPCR_ARG_ENABLE, enabled ? 1 : 0)}));
  RawCall c(ch.get(), kSayMethod, 5000);
  c.StartAll("x", 1);
  bool ok = false;
  ASSERT_TRUE(c.Wait(1, 5000, &ok));
  ASSERT_EQ(c.status(), GRPC_STATUS_OK);
  grpc_auth_context* ctx = grpc_call_auth_context(c.call());
  EXPECT_NE(ctx, nullptr) << "no auth context on a finished client call";
  if (ctx != nullptr) grpc_auth_context_release(ctx);
}

TEST_F(FilterContractTest, AuthContextControlWithoutFilter) {
  AuthContextAfterCall(false);
}

TEST_F(FilterContractTest, AuthContextWithFilter) { AuthContextAfterCall(true); }

}  // namespace
}  // namespace grpcr_test
