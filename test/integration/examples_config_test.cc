// The service configs shipped in examples/configs/ are what users copy: each
// must pass grpcr_validate_service_config, and gRPC itself must accept it
// (a config either parser rejects gives a lame channel whose calls fail).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

#ifndef GRPCR_EXAMPLES_CONFIG_DIR
#error "GRPCR_EXAMPLES_CONFIG_DIR must name examples/configs (set by CMake)"
#endif

namespace grpcr_test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> ConfigFiles() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(GRPCR_EXAMPLES_CONFIG_DIR)) {
    if (e.is_regular_file() && e.path().extension() == ".json")
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ExamplesConfigTest, EveryDocumentedConfigIsShipped) {
  std::vector<std::string> names;
  for (const auto& p : ConfigFiles()) names.push_back(p.filename().string());
  for (const char* want :
       {"demo.json", "external-api.json", "grpc-retry-policy.json",
        "internal-low-latency.json", "payments.json",
        "read-tail-hedging.json"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end())
        << want << " is missing from " << GRPCR_EXAMPLES_CONFIG_DIR;
  }
}

TEST(ExamplesConfigTest, EveryConfigPassesValidation) {
  std::vector<fs::path> files = ConfigFiles();
  ASSERT_FALSE(files.empty());
  for (const auto& p : files) {
    std::string json = ReadFile(p);
    ASSERT_FALSE(json.empty()) << p;
    char* errors = nullptr;
    EXPECT_EQ(grpcr_validate_service_config(json.c_str(), &errors), 0)
        << p.filename() << ":\n" << (errors ? errors : "");
    grpcr_free(errors);
  }
}

TEST(ExamplesConfigTest, EveryConfigIsAcceptedByGrpcOnARealChannel) {
  ASSERT_EQ(EnsureGrpcInitialized(), 0);
  ScriptedServer server;
  ASSERT_GT(server.port(), 0);
  for (const auto& p : ConfigFiles()) {
    std::string name = UniqueName(p.filename().string());
    ChannelPtr ch(MakeChannel(server.address(), ReadFile(p),
                              {StringArg(GRPCR_ARG_NAME, name.c_str())}));
    CallResult r = UnaryCall(ch.get(), kSayMethod, "hi", 5000);
    EXPECT_TRUE(r.completed) << p.filename();
    EXPECT_EQ(r.status, GRPC_STATUS_OK) << p.filename() << ": " << r.details;
    EXPECT_EQ(r.response, "hi") << p.filename();
  }
}

// Every example retries UNAVAILABLE, and each names its methods so that
// echo.Echo/Say (the flaky server's method) is covered: one injected
// failure is retried, on whichever layer the config uses.
TEST(ExamplesConfigTest, EveryConfigRetriesUnavailableOnEchoSay) {
  ASSERT_EQ(EnsureGrpcInitialized(), 0);
  for (const auto& p : ConfigFiles()) {
    ScriptedServer server;
    ASSERT_GT(server.port(), 0);
    server.Script({Fail(GRPC_STATUS_UNAVAILABLE, "injected")});
    std::string name = UniqueName(p.filename().string());
    ChannelPtr ch(MakeChannel(server.address(), ReadFile(p),
                              {StringArg(GRPCR_ARG_NAME, name.c_str())}));
    CallResult r = UnaryCall(ch.get(), kSayMethod, "hi", 5000);
    EXPECT_EQ(r.status, GRPC_STATUS_OK) << p.filename() << ": " << r.details;
    EXPECT_EQ(server.arrival_count(), 2) << p.filename();
  }
}

}  // namespace
}  // namespace grpcr_test
