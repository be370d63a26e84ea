// The standalone stats server as a network listener that strangers may
// reach: where it may listen without credentials, what a malformed,
// oversized or never-finished request costs it, and a thousand clients at
// once. Every client here is on 127.0.0.1.
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <dirent.h>
#include <string>
#include <vector>

#include "stats_test_util.h"

namespace {

using namespace grpcr_stats_test;

::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new GrpcEnv);

std::string Packed(const std::string& channel_name) {
  Grpcr__V1__GetStatsRequest req = GRPCR__V1__GET_STATS_REQUEST__INIT;
  req.channel_name = const_cast<char*>(channel_name.c_str());
  std::string bytes(grpcr__v1__get_stats_request__get_packed_size(&req), '\0');
  grpcr__v1__get_stats_request__pack(&req,
                                     reinterpret_cast<uint8_t*>(bytes.data()));
  return bytes;
}

int CountDir(const char* path) {
  DIR* d = opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

// The channel names and targets it exposes must not leave the machine.
TEST(StatsServerHardeningTest, InsecureListenerOnlyOnLoopback) {
  int port = -1;
  for (const char* addr :
       {"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0",
        "dns:///0.0.0.0:0", "ipv4:10.0.0.1:0", "[::ffff:10.0.0.1]:0"}) {
    EXPECT_EQ(GRPCR_EINSECURE, grpcr_stats_server_start(addr, &port)) << addr;
  }
  EXPECT_EQ(-1, port);
  EXPECT_STREQ("GRPCR_EINSECURE", grpcr_err_name(GRPCR_EINSECURE));
  EXPECT_NE(nullptr, strstr(grpcr_strerror(GRPCR_EINSECURE), "loopback"));
}

TEST(StatsServerHardeningTest, EveryLoopbackFormIsAccepted) {
  const std::string sock = "/tmp/grpcr-stats-" + std::to_string(getpid());
  for (const std::string& addr :
       {std::string("127.0.0.1:0"), std::string("127.0.0.2:0"),
        std::string("localhost:0"), "unix:" + sock}) {
    int port = -1;
    ASSERT_EQ(0, grpcr_stats_server_start(addr.c_str(), &port)) << addr;
    std::string reach =
        addr.rfind("unix:", 0) == 0
            ? addr
            : std::string(addr.find("127.0.0.2") != std::string::npos
                              ? "127.0.0.2:"
                              : "127.0.0.1:") +
                  std::to_string(port);
    EXPECT_NE(nullptr, GetStats(reach)) << addr;
    grpcr_stats_server_stop();
  }
  unlink(sock.c_str());
}

// Before: the stats server handed "localhost" to gRPC's resolver, which on
// a minimal image without /etc/hosts (debootstrap minbase, many containers)
// cannot resolve it: GRPCR_EBIND, while /metrics mapped localhost itself.
// Both now bind localhost as 127.0.0.1 without the resolver. Run in a mount
// namespace where /etc/hosts is empty (needs root, as CI has).
TEST(StatsServerHardeningTest, LocalhostNeedsNoEtcHosts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a mount namespace";
  const std::string cmd =
      "unshare --mount sh -c 'mount --bind /dev/null /etc/hosts && "
      "! getent hosts localhost >/dev/null && exec \"$0\"' " +
      std::string(GRPCR_LOCALHOST_CHECK_BIN) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(nullptr, p);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = pclose(p);
  EXPECT_NE(std::string::npos, out.find("stats 0 1\n")) << out;
  EXPECT_NE(std::string::npos, out.find("metrics 0 1\n")) << out;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
}

// With the application's credentials any address is allowed (here gRPC's
// insecure ones, which the application chose explicitly).
TEST(StatsServerHardeningTest, CredentialsAllowAnyAddress) {
  grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
  int port = -1;
  EXPECT_EQ(GRPCR_EINVAL,
            grpcr_stats_server_start_with_credentials("0.0.0.0:0", nullptr,
                                                      &port));
  EXPECT_EQ(GRPCR_EINVAL,
            grpcr_stats_server_start_with_credentials(nullptr, creds, &port));
  ASSERT_EQ(0, grpcr_stats_server_start_with_credentials("0.0.0.0:0", creds,
                                                         &port));
  grpc_server_credentials_release(creds);  // not consumed: still ours
  EXPECT_GT(port, 0);
  EXPECT_NE(nullptr, GetStats("127.0.0.1:" + std::to_string(port)));
  // A bind failure is still a bind failure (TEST-NET-1: no interface).
  grpc_server_credentials* again = grpc_insecure_server_credentials_create();
  grpcr_stats_server_stop();
  EXPECT_EQ(GRPCR_EBIND, grpcr_stats_server_start_with_credentials(
                             "192.0.2.1:0", again, &port));
  grpc_server_credentials_release(again);
}

TEST(StatsServerHardeningTest, OversizedRequestIsRefusedAndTheServerGoesOn) {
  StandaloneServer server;
  CallResult big = UnaryCall(server.addr(), kGetStats,
                             Packed(std::string(1 << 20, 'n')));
  EXPECT_EQ(GRPC_STATUS_RESOURCE_EXHAUSTED, big.status) << big.details;
  EXPECT_FALSE(big.has_message);
  // At the limit (the request's bytes, tag and length included) it works.
  std::string name(GRPCR_STATS_MAX_REQUEST_BYTES - 4, 'n');
  CallResult edge = UnaryCall(server.addr(), kGetStats, Packed(name));
  EXPECT_EQ(GRPC_STATUS_OK, edge.status) << edge.details;
  EXPECT_NE(nullptr, GetStats(server.addr()));
}

TEST(StatsServerHardeningTest, GarbageRequestsAreInvalidArgument) {
  StandaloneServer server;
  for (const std::string& junk :
       {std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
        std::string("\x0a\xff\xff\xff\xff\x0f", 6), std::string("\x08", 1),
        std::string("\x0b", 1)}) {
    CallResult r = UnaryCall(server.addr(), kGetStats, junk);
    EXPECT_EQ(GRPC_STATUS_INVALID_ARGUMENT, r.status) << r.details;
  }
  // An unknown field is skipped, as protobuf decoding requires.
  CallResult unknown =
      UnaryCall(server.addr(), kGetStats, std::string("\x10\x01", 2));
  EXPECT_EQ(GRPC_STATUS_OK, unknown.status) << unknown.details;
  CallResult wrong = UnaryCall(server.addr(), "/grpcr.v1.ResilienceStats/Nope",
                               "");
  EXPECT_EQ(GRPC_STATUS_UNIMPLEMENTED, wrong.status) << wrong.details;
  EXPECT_NE(nullptr, GetStats(server.addr()));
}

// Calls that send their request and never read the answer (nor close):
// the server answers each into flow control, and others are still served;
// stopping it does not wait for them.
TEST(StatsServerHardeningTest, ClientsThatNeverReadDoNotStopTheServer) {
  auto* server = new StandaloneServer;
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(server->addr().c_str(), creds, nullptr);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  const std::string req = Packed("");
  grpc_slice s = grpc_slice_from_copied_buffer(req.data(), req.size());
  grpc_byte_buffer* bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  std::vector<grpc_call*> calls;
  for (int i = 0; i < 200; i++) {
    grpc_call* call = grpc_channel_create_call(
        ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string(kGetStats), nullptr,
        gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ASSERT_EQ(GRPC_CALL_OK, grpc_call_start_batch(call, ops, 2, call, nullptr));
    calls.push_back(call);
  }
  for (size_t i = 0; i < calls.size(); i++) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_seconds(10, GPR_TIMESPAN)),
        nullptr);
    ASSERT_EQ(GRPC_OP_COMPLETE, ev.type);
  }
  EXPECT_NE(nullptr, GetStats(server->addr()));
  const int64_t t0 = gpr_now(GPR_CLOCK_MONOTONIC).tv_sec;
  delete server;  // stops it
  EXPECT_LE(gpr_now(GPR_CLOCK_MONOTONIC).tv_sec - t0, 2);
  for (grpc_call* call : calls) grpc_call_unref(call);
  grpc_byte_buffer_destroy(bb);
  grpc_channel_destroy(ch);
  DrainAndDestroy(cq);
}

// A thousand connections with a call each, all at once: every call gets an
// answer (an error would be shedding, which is allowed; a hang or a crash
// is not), and when they are gone the server's threads are as before.
TEST(StatsServerHardeningTest, AThousandConnectionsAtOnce) {
  rlimit lim;
  ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &lim));
  if (lim.rlim_cur < 4096 && lim.rlim_max >= 4096) {
    lim.rlim_cur = 4096;
    ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
  }
  if (lim.rlim_cur < 4096) GTEST_SKIP() << "needs 4096 file descriptors";
  StandaloneServer server;
  const int threads_before = CountDir("/proc/self/task");
  constexpr int kClients = 1000;
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  const std::string req = Packed("");
  grpc_slice s = grpc_slice_from_copied_buffer(req.data(), req.size());
  grpc_byte_buffer* bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  struct Client {
    grpc_channel* ch;
    grpc_call* call;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_byte_buffer* recv = nullptr;
    grpc_metadata_array initial, trailing;
    grpc_slice details;
  };
  std::vector<Client> clients(kClients);
  grpc_arg own_pool;
  own_pool.type = GRPC_ARG_INTEGER;
  own_pool.key = const_cast<char*>(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL);
  own_pool.value.integer = 1;
  grpc_channel_args args = {1, &own_pool};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  for (Client& c : clients) {
    c.ch = grpc_channel_create(server.addr().c_str(), creds, &args);
    c.call = grpc_channel_create_call(
        c.ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
        grpc_slice_from_static_string(kGetStats), nullptr,
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_seconds(60, GPR_TIMESPAN)),
        nullptr);
    grpc_metadata_array_init(&c.initial);
    grpc_metadata_array_init(&c.trailing);
    c.details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c.initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c.recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c.trailing;
    ops[5].data.recv_status_on_client.status = &c.status;
    ops[5].data.recv_status_on_client.status_details = &c.details;
    ASSERT_EQ(GRPC_CALL_OK, grpc_call_start_batch(c.call, ops, 6, &c, nullptr));
  }
  grpc_channel_credentials_release(creds);
  int ok = 0, shed = 0;
  for (int i = 0; i < kClients; i++) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_seconds(90, GPR_TIMESPAN)),
        nullptr);
    ASSERT_EQ(GRPC_OP_COMPLETE, ev.type) << "after " << i << " answers";
    Client* c = static_cast<Client*>(ev.tag);
    if (c->status == GRPC_STATUS_OK && c->recv != nullptr) {
      ok++;
    } else {
      shed++;
    }
  }
  RecordProperty("answered_ok", ok);
  RecordProperty("shed", shed);
  EXPECT_EQ(kClients, ok + shed);
  EXPECT_GT(ok, 0);
  for (Client& c : clients) {
    if (c.recv != nullptr) grpc_byte_buffer_destroy(c.recv);
    grpc_metadata_array_destroy(&c.initial);
    grpc_metadata_array_destroy(&c.trailing);
    grpc_slice_unref(c.details);
    grpc_call_unref(c.call);
    grpc_channel_destroy(c.ch);
  }
  grpc_byte_buffer_destroy(bb);
  DrainAndDestroy(cq);
  // Still serving, with no thread per connection left behind (gRPC's own
  // pools may have grown by a few threads under the load; they stay).
  EXPECT_NE(nullptr, GetStats(server.addr()));
  const int threads_after = CountDir("/proc/self/task");
  RecordProperty("threads_before", threads_before);
  RecordProperty("threads_after", threads_after);
  EXPECT_LE(threads_after, threads_before + 8);
}

}  // namespace
