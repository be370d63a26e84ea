// Two copies of grpc-resilience in one process: this program links
// grpcr_static (the fixture's copy) and dlopen()s the shared libgrpcr, a
// second copy with its own state. Before: both registered a "resilience"
// service-config parser and gRPC aborted the process at its first channel.
// Now the copy that registers first rules; the other's grpcr_register()
// returns GRPCR_EDUPLICATE and logs one line.
//
// Its own main: both registrations must happen before grpc_init(), which
// the fixture's test environment calls.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <grpc/grpc.h>

#include <string>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

#ifndef GRPCR_SHARED_LIB
#error "GRPCR_SHARED_LIB (the path of libgrpcr.so) must be defined"
#endif

namespace {

int g_static_rc = -100;
int g_shared_rc = -100;
std::string g_shared_message;

using grpcr_test::ChannelPtr;
using grpcr_test::Fail;
using grpcr_test::MakeChannel;
using grpcr_test::RetrySpec;
using grpcr_test::ScriptedServer;
using grpcr_test::UnaryCall;

TEST(TwoCopiesTest, TheSecondCopyReturnsEduplicateAndTheFirstRules) {
  EXPECT_EQ(GRPCR_OK, g_static_rc);
  EXPECT_EQ(GRPCR_EDUPLICATE, g_shared_rc);
  EXPECT_EQ(std::string(grpcr_strerror(GRPCR_EDUPLICATE)), g_shared_message);
  EXPECT_NE(g_shared_message.find("another copy of grpc-resilience"),
            std::string::npos);
  // Channels get the first copy's filter: a failed attempt is retried, and
  // its stats (this copy's registry) see the call.
  ScriptedServer server;
  server.Script({Fail(GRPC_STATUS_UNAVAILABLE, "down")});
  const std::string name = grpcr_test::UniqueName();
  ChannelPtr ch(MakeChannel(server.address(), ServiceConfig(RetrySpec()),
                            {grpcr_test::StringArg(GRPCR_ARG_NAME,
                                                   name.c_str())}));
  grpcr_test::CallResult r = UnaryCall(ch.get(), "/echo.Echo/Say", "x", 5000);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ(2, server.arrival_count());
  EXPECT_EQ(1u, grpcr_test::StatsFor(name).retries);
}

}  // namespace

int main(int argc, char** argv) {
  g_static_rc = grpcr_register();
  void* shared = dlopen(GRPCR_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
  if (shared == nullptr) {
    fprintf(stderr, "dlopen %s: %s\n", GRPCR_SHARED_LIB, dlerror());
    return 1;
  }
  auto shared_register =
      reinterpret_cast<int (*)(void)>(dlsym(shared, "grpcr_register"));
  auto shared_strerror = reinterpret_cast<const char* (*)(int)>(
      dlsym(shared, "grpcr_strerror"));
  if (shared_register == nullptr || shared_strerror == nullptr) {
    fprintf(stderr, "dlsym: %s\n", dlerror());
    return 1;
  }
  g_shared_rc = shared_register();
  g_shared_message = shared_strerror(g_shared_rc);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
