// grpcr_register(): before grpc_init() it installs the filter (and is
// idempotent); after gRPC has been initialised, even if since shut down, it
// returns GRPCR_EINITIALIZED instead of aborting inside gRPC. Each case that
// initialises gRPC first runs in a child process of its own (a death test),
// since registration is process-wide.
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "grpcr/grpcr.h"

namespace {

void ExitWith(int rc, int want) { exit(rc == want ? 0 : 10 - rc); }

TEST(RegistrationTest, AfterGrpcInitIsAClearErrorNotAnAbort) {
  EXPECT_EXIT(
      {
        grpc_init();
        ExitWith(grpcr_register(), GRPCR_EINITIALIZED);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(RegistrationTest, AfterGrpcShutdownOfAUsedGrpcIsStillAClearError) {
  // gRPC builds its core configuration when the first channel is created,
  // and it outlives grpc_shutdown(): a builder registered then would never
  // run (gRPC would abort), so this is refused too.
  EXPECT_EXIT(
      {
        grpc_init();
        grpc_channel_credentials* creds = grpc_insecure_credentials_create();
        grpc_channel* ch = grpc_channel_create("127.0.0.1:1", creds, nullptr);
        grpc_channel_credentials_release(creds);
        grpc_channel_destroy(ch);
        grpc_shutdown();
        ExitWith(grpcr_register(), GRPCR_EINITIALIZED);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(RegistrationTest, AfterGrpcShutdownOfAnUnusedGrpcStillWorks) {
  // No channel was made, so gRPC's configuration was never built: the
  // filter can still be installed, and the next channels have it.
  EXPECT_EXIT(
      {
        grpc_init();
        grpc_shutdown();
        ExitWith(grpcr_register(), 0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(RegistrationTest, ErrorHasANameAndAMessage) {
  EXPECT_STREQ(grpcr_err_name(GRPCR_EINITIALIZED), "GRPCR_EINITIALIZED");
  EXPECT_NE(std::string(grpcr_strerror(GRPCR_EINITIALIZED)).find("grpc_init"),
            std::string::npos);
  EXPECT_NE(std::string(grpcr_strerror(GRPCR_EVERSION)).find("1.51.1"),
            std::string::npos);
}

// Runs last in this process: it registers for real.
TEST(RegistrationTest, ZzBeforeInitSucceedsAndIsIdempotent) {
  EXPECT_EQ(grpcr_register(), 0);
  EXPECT_EQ(grpcr_register(), 0);
  grpc_init();
  EXPECT_EQ(grpcr_register(), 0) << "already registered: still fine";
  grpc_shutdown();
}

}  // namespace
