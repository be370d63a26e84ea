// The service-config parser on gRPC's own parsed JSON (the shim walks it
// into the core's tree): what gRPC's reader accepts but a double cannot
// hold still gets the field's own error, logged by gRPC when it refuses
// the config.
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include <mutex>
#include <string>
#include <vector>

#include "support/fixture.h"

namespace grpcr_test {
namespace {

std::mutex g_mu;
std::vector<std::string> g_errors;

void Capture(gpr_log_func_args* args) {
  if (args->severity != GPR_LOG_SEVERITY_ERROR) return;
  std::lock_guard<std::mutex> lk(g_mu);
  g_errors.emplace_back(args->message);
}

// Before: gRPC keeps 1e999 as text, the walk could not build a number of
// it and the shim reported "out of memory reading the service config".
TEST(ConfigParserTest, NumberBeyondDoubleGetsTheFieldsRangeError) {
  EnsureGrpcInitialized();
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_errors.clear();
  }
  gpr_set_log_function(Capture);
  ScriptedServer server;
  ChannelPtr ch(MakeChannel(
      server.address(),
      "{\"resilience\": {\"retryBudget\": {\"ratio\": 1e999}}}"));
  CallResult r = UnaryCall(ch.get(), kSayMethod, "x", 2000);
  gpr_set_log_function(nullptr);
  EXPECT_EQ(GRPC_STATUS_INVALID_ARGUMENT, r.status) << r.details;
  EXPECT_EQ(0, server.arrival_count());
  std::string all;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    for (const std::string& e : g_errors) all += e + "\n";
  }
  EXPECT_NE(std::string::npos,
            all.find("field:resilience.retryBudget.ratio error:must be "
                     "between 0 and 10"))
      << all;
  EXPECT_EQ(std::string::npos, all.find("out of memory")) << all;
}

}  // namespace
}  // namespace grpcr_test
