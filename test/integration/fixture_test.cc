// Checks the integration-test fixture itself, without relying on the filter:
// every channel here has GRPCR_ARG_ENABLE 0, so these pass on plain gRPC.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

constexpr int64_t kMs = 1000000;

ChannelPtr PlainChannel(const std::string& target) {
  return ChannelPtr(
      MakeChannel(target, "", {IntArg(GRPCR_ARG_ENABLE, 0)}));
}

TEST(FixtureTest, RegisterRanBeforeGrpcInit) {
  EXPECT_EQ(EnsureGrpcInitialized(), 0);
}

TEST(FixtureTest, UnaryCallIsEchoedAndArrivalRecorded) {
  ScriptedServer server;
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.address(), "127.0.0.1:" + std::to_string(server.port()));
  ChannelPtr ch = PlainChannel(server.address());
  const int64_t before = NowNs();
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000,
                           {{"x-test", "v1"}, {"x-other", "v2"}});
  EXPECT_TRUE(r.completed);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.response, "foo");
  EXPECT_TRUE(r.got_response);
  EXPECT_FALSE(r.got_initial_metadata) << "default initial metadata is empty";
  EXPECT_GT(r.elapsed_ns, 0);
  ASSERT_EQ(server.arrival_count(), 1);
  std::vector<Arrival> a = server.arrivals();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].method, kSayMethod);
  EXPECT_EQ(a[0].payload, "foo");
  EXPECT_GE(a[0].t_ns, before);
  EXPECT_LE(a[0].t_ns, r.done_ns);
  auto it = a[0].metadata.find("x-test");
  ASSERT_NE(it, a[0].metadata.end());
  EXPECT_EQ(it->second, "v1");
  EXPECT_EQ(a[0].metadata.count("x-other"), 1u);
  EXPECT_EQ(server.cancelled_count(), 0);
}

TEST(FixtureTest, ScriptedRepliesInArrivalOrderThenDefault) {
  ScriptedServer server;
  server.Script({Fail(GRPC_STATUS_ABORTED, "first"),
                 Fail(GRPC_STATUS_UNAVAILABLE, "second")});
  server.SetDefault(Fail(GRPC_STATUS_NOT_FOUND, "default"));
  ChannelPtr ch = PlainChannel(server.address());
  const std::pair<grpc_status_code, const char*> want[] = {
      {GRPC_STATUS_ABORTED, "first"},
      {GRPC_STATUS_UNAVAILABLE, "second"},
      {GRPC_STATUS_NOT_FOUND, "default"},
      {GRPC_STATUS_NOT_FOUND, "default"},
  };
  for (const auto& w : want) {
    CallResult r = UnaryCall(ch.get(), kSayMethod, "p", 5000);
    EXPECT_EQ(r.status, w.first);
    EXPECT_EQ(r.details, w.second);
    EXPECT_FALSE(r.got_response);
    EXPECT_FALSE(r.got_initial_metadata);
  }
  std::vector<Arrival> a = server.arrivals();
  ASSERT_EQ(a.size(), 4u);
  for (size_t i = 1; i < a.size(); ++i) EXPECT_GE(a[i].t_ns, a[i - 1].t_ns);
}

TEST(FixtureTest, OkReplyCarriesResponseAndDetails) {
  ScriptedServer server;
  Reply reply;
  reply.details = "xyz";
  reply.echo = false;
  reply.response = "bar";
  server.SetDefault(reply);
  ChannelPtr ch = PlainChannel(server.address());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_EQ(r.response, "bar");
}

TEST(FixtureTest, HandlerSeesArrivalAndIndex) {
  ScriptedServer server;
  server.SetHandler([](const Arrival& a, int index) {
    Reply r;
    r.echo = false;
    r.response = a.payload + "#" + std::to_string(index);
    return r;
  });
  ChannelPtr ch = PlainChannel(server.address());
  EXPECT_EQ(UnaryCall(ch.get(), kSayMethod, "a", 5000).response, "a#0");
  EXPECT_EQ(UnaryCall(ch.get(), kSayMethod, "b", 5000).response, "b#1");
}

TEST(FixtureTest, InitialMetadataFirstReachesTheClientBeforeTheStatus) {
  ScriptedServer server;
  Reply reply = Fail(GRPC_STATUS_ABORTED, "xyz");
  reply.initial_metadata_first = true;
  server.SetDefault(reply);
  ChannelPtr ch = PlainChannel(server.address());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_EQ(r.details, "xyz");
  EXPECT_TRUE(r.got_initial_metadata);
  auto it = r.initial.find("x-initial-md");
  ASSERT_NE(it, r.initial.end());
  EXPECT_EQ(it->second, "1");
  EXPECT_FALSE(r.got_response);
}

TEST(FixtureTest, MessageBeforeStatusReachesTheClient) {
  ScriptedServer server;
  Reply reply = Fail(GRPC_STATUS_ABORTED, "xyz");
  reply.message_before_status = true;
  reply.echo = false;
  reply.response = "bar";
  server.SetDefault(reply);
  ChannelPtr ch = PlainChannel(server.address());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_ABORTED);
  EXPECT_TRUE(r.got_response);
  EXPECT_EQ(r.response, "bar");
}

TEST(FixtureTest, PushbackTrailerIsDelivered) {
  ScriptedServer server;
  Reply a = Fail(GRPC_STATUS_ABORTED, "a");
  a.pushback_ms = "500";
  Reply b = Fail(GRPC_STATUS_ABORTED, "b");
  b.pushback_ms = "-1";
  server.Script({a, b});
  ChannelPtr ch = PlainChannel(server.address());
  CallResult r1 = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r1.status, GRPC_STATUS_ABORTED);
  auto it = r1.trailing.find("grpc-retry-pushback-ms");
  ASSERT_NE(it, r1.trailing.end());
  EXPECT_EQ(it->second, "500");
  CallResult r2 = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  it = r2.trailing.find("grpc-retry-pushback-ms");
  ASSERT_NE(it, r2.trailing.end());
  EXPECT_EQ(it->second, "-1");
  // Without pushback_ms there is no such trailer.
  CallResult r3 = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r3.trailing.count("grpc-retry-pushback-ms"), 0u);
}

TEST(FixtureTest, DelayedReplyDoesNotBlockOtherCalls) {
  ScriptedServer server;
  Reply slow;
  slow.delay_ms = 500;
  server.Script({slow});
  ChannelPtr ch = PlainChannel(server.address());
  PendingCall a(ch.get(), kSayMethod, "slow", 5000);
  a.Start();
  ASSERT_TRUE(server.WaitForArrivals(1, 2000));
  CallResult b = UnaryCall(ch.get(), kSayMethod, "fast", 5000);
  EXPECT_EQ(b.status, GRPC_STATUS_OK);
  EXPECT_LT(b.elapsed_ns, 300 * kMs) << "a delayed reply held up another call";
  CallResult ra = a.Wait();
  EXPECT_EQ(ra.status, GRPC_STATUS_OK);
  EXPECT_EQ(ra.response, "slow");
  EXPECT_GE(ra.elapsed_ns, 480 * kMs);
  EXPECT_LT(ra.elapsed_ns, 2000 * kMs);
}

TEST(FixtureTest, HeldCallEndsWhenTheClientCancels) {
  ScriptedServer server;
  Reply hold;
  hold.hold = true;
  server.SetDefault(hold);
  ChannelPtr ch = PlainChannel(server.address());
  PendingCall call(ch.get(), kSayMethod, "foo", 10000);
  call.Start();
  ASSERT_TRUE(server.WaitForArrivals(1, 2000));
  SleepMs(100);
  EXPECT_EQ(server.open_calls(), 1);
  const int64_t cancel_ns = NowNs();
  call.Cancel();
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_CANCELLED);
  EXPECT_LT(r.done_ns - cancel_ns, 200 * kMs);
  EXPECT_TRUE(server.WaitForCancelled(1, 2000));
  EXPECT_EQ(server.cancelled_count(), 1);
}

TEST(FixtureTest, CancelWithStatusAndDeadlineEndHeldCalls) {
  ScriptedServer server;
  Reply hold;
  hold.hold = true;
  server.SetDefault(hold);
  ChannelPtr ch = PlainChannel(server.address());
  {
    PendingCall call(ch.get(), kSayMethod, "foo", 10000);
    call.Start();
    ASSERT_TRUE(server.WaitForArrivals(1, 2000));
    call.CancelWithStatus(GRPC_STATUS_UNIMPLEMENTED, "Just Cancelled");
    CallResult r = call.Wait();
    EXPECT_EQ(r.status, GRPC_STATUS_UNIMPLEMENTED);
    EXPECT_EQ(r.details, "Just Cancelled");
  }
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 300);
  EXPECT_EQ(r.status, GRPC_STATUS_DEADLINE_EXCEEDED);
  EXPECT_GE(r.elapsed_ns, 250 * kMs);
  EXPECT_LT(r.elapsed_ns, 1000 * kMs);
  EXPECT_TRUE(server.WaitForCancelled(2, 2000));
}

TEST(FixtureTest, StopClosesThePortAndStartReopensIt) {
  ScriptedServer server;
  const int port = server.port();
  ChannelPtr ch = PlainChannel(server.address());
  EXPECT_EQ(UnaryCall(ch.get(), kSayMethod, "one", 5000).status,
            GRPC_STATUS_OK);
  server.Stop();
  EXPECT_FALSE(server.running());
  CallResult down = UnaryCall(ch.get(), kSayMethod, "down", 5000);
  EXPECT_EQ(down.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_LT(down.elapsed_ns, 2000 * kMs) << "fail-fast while the port is closed";
  server.Stop();  // no-op
  server.Start();
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.port(), port);
  ASSERT_TRUE(WaitForReady(ch.get(), 5000));
  CallResult up = UnaryCall(ch.get(), kSayMethod, "two", 5000);
  EXPECT_EQ(up.status, GRPC_STATUS_OK);
  EXPECT_EQ(up.response, "two");
  std::vector<Arrival> a = server.arrivals();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].payload, "one");
  EXPECT_EQ(a[1].payload, "two");
}

TEST(FixtureTest, StopEndsHeldAndDelayedCallsPromptly) {
  ScriptedServer server;
  Reply hold;
  hold.hold = true;
  Reply slow;
  slow.delay_ms = 5000;
  server.Script({hold, slow});
  ChannelPtr ch = PlainChannel(server.address());
  PendingCall held(ch.get(), kSayMethod, "held", 10000);
  held.Start();
  ASSERT_TRUE(server.WaitForArrivals(1, 2000));
  PendingCall delayed(ch.get(), kSayMethod, "delayed", 10000);
  delayed.Start();
  ASSERT_TRUE(server.WaitForArrivals(2, 2000));
  const int64_t t0 = NowNs();
  server.Stop();
  EXPECT_LT(NowNs() - t0, 2000 * kMs);
  EXPECT_EQ(server.open_calls(), 0);
  CallResult r1 = held.Wait(5000);
  CallResult r2 = delayed.Wait(5000);
  EXPECT_TRUE(r1.completed);
  EXPECT_TRUE(r2.completed);
  EXPECT_NE(r1.status, GRPC_STATUS_OK);
  EXPECT_NE(r2.status, GRPC_STATUS_OK);
  EXPECT_EQ(server.cancelled_count(), 2);
}

TEST(FixtureTest, StreamingEchoUntilHalfClose) {
  ScriptedServer server;
  ChannelPtr ch = PlainChannel(server.address());
  StreamResult r =
      EchoStream(ch.get(), kStreamMethod, {"one", "two", "three"}, 5000);
  EXPECT_TRUE(r.all_batches_ok);
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.responses, (std::vector<std::string>{"one", "two", "three"}));
  std::vector<Arrival> a = server.arrivals();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].method, kStreamMethod);
}

TEST(FixtureTest, ClosedPortRefusesAtOnce) {
  ClosedPort closed;
  ASSERT_GT(closed.port(), 0);
  ChannelPtr ch = PlainChannel(closed.address());
  CallResult r = UnaryCall(ch.get(), kSayMethod, "foo", 5000);
  EXPECT_EQ(r.status, GRPC_STATUS_UNAVAILABLE);
  EXPECT_FALSE(r.details.empty());
  EXPECT_LT(r.elapsed_ns, 2000 * kMs);
}

TEST(FixtureTest, SplitBatchesDeliverTheSameResult) {
  ScriptedServer server;
  ChannelPtr ch = PlainChannel(server.address());
  PendingCall call(ch.get(), kSayMethod, "foo", 5000, {{"foo", "bar"}});
  int sends = call.StartBatch(PendingCall::kSendOps);
  ASSERT_GT(sends, 0);
  bool ok = false;
  ASSERT_TRUE(call.WaitBatch(sends, 5000, &ok));
  EXPECT_TRUE(ok);
  // The metadata and message were released when the send batch completed.
  int recvs = call.StartBatch(PendingCall::kRecvOps);
  ASSERT_GT(recvs, 0);
  CallResult r = call.Wait();
  EXPECT_EQ(r.status, GRPC_STATUS_OK);
  EXPECT_EQ(r.response, "foo");
  EXPECT_GT(call.batch_done_ns(recvs), 0);
  std::vector<Arrival> a = server.arrivals();
  ASSERT_EQ(a.size(), 1u);
  auto it = a[0].metadata.find("foo");
  ASSERT_NE(it, a[0].metadata.end());
  EXPECT_EQ(it->second, "bar");
}

TEST(FixtureTest, UnrefBeforeStatusIsCleanedUp) {
  ScriptedServer server;
  Reply reply;
  reply.delay_ms = 200;
  server.SetDefault(reply);
  ChannelPtr ch = PlainChannel(server.address());
  PendingCall call(ch.get(), kSayMethod, "foo", 5000);
  int sends = call.StartBatch(PendingCall::kSendOps);
  int recvs = call.StartBatch(PendingCall::kRecvInitialMetadata |
                              PendingCall::kRecvMessage);
  ASSERT_TRUE(server.WaitForArrivals(1, 2000));
  ASSERT_TRUE(call.WaitBatch(sends, 2000));
  call.Unref();
  bool ok = true;
  ASSERT_TRUE(call.WaitBatch(recvs, 2000, &ok));
  EXPECT_FALSE(ok) << "recv ops of an unreffed call fail";
}

TEST(FixtureTest, ConcurrentCallsAreAllCounted) {
  ScriptedServer server;
  server.SetHandler([](const Arrival&, int index) {
    return index % 3 == 0 ? Fail(GRPC_STATUS_UNAVAILABLE, "x") : Reply{};
  });
  ChannelPtr ch = PlainChannel(server.address());
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        CallResult r = UnaryCall(ch.get(), kSayMethod,
                                 std::to_string(t) + "-" + std::to_string(i),
                                 5000);
        if (r.status == GRPC_STATUS_OK) {
          ++ok;
        } else if (r.status == GRPC_STATUS_UNAVAILABLE) {
          ++unavailable;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(server.arrival_count(), 200);
  EXPECT_EQ(unavailable.load(), 67);  // indexes 0, 3, ..., 198
  EXPECT_EQ(ok.load(), 133);
  EXPECT_EQ(other.load(), 0);
}

TEST(FixtureTest, StatsOfAnUnknownChannelAreAbsent) {
  grpcr_channel_snapshot s;
  EXPECT_FALSE(FindStats(UniqueName("absent"), &s));
  EXPECT_EQ(s.requests, 0u);
  EXPECT_EQ(StatsFor(UniqueName("absent")).attempts, 0u);
}

TEST(FixtureTest, DisabledChannelHasNoStatsEntry) {
  ScriptedServer server;
  const std::string name = UniqueName();
  ChannelPtr ch(MakeChannel(server.address(), "",
                            {IntArg(GRPCR_ARG_ENABLE, 0),
                             StringArg(GRPCR_ARG_NAME, name.c_str())}));
  EXPECT_EQ(UnaryCall(ch.get(), kSayMethod, "foo", 5000).status,
            GRPC_STATUS_OK);
  grpcr_channel_snapshot s;
  EXPECT_FALSE(FindStats(name, &s));
}

TEST(FixtureTest, UniqueNamesDiffer) {
  EXPECT_NE(UniqueName(), UniqueName());
  EXPECT_NE(UniqueName("x").find("FixtureTest.UniqueNamesDiffer/x#"),
            std::string::npos);
}

}  // namespace
}  // namespace grpcr_test
