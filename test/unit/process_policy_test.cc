// The process policy (GRPCR_CONFIG): only resilience and methodConfig
// names, gRPC's rules for names, every error at once with its exact field.
#include "grpcr/config.h"

#include <gtest/gtest.h>

#include <string>

#include "grpcr/common.h"

namespace {

// The validator's errors as "field:<f> error:<m>" lines ("" if valid).
std::string Errors(const std::string& json, int* rc = nullptr) {
  grpcr_config_errors errs = {};
  int r = grpcr_config_validate_process(json.data(), json.size(), &errs);
  if (rc != nullptr) *rc = r;
  char* text = grpcr_config_errors_format(&errs);
  std::string out = text != nullptr ? text : "(oom)";
  grpcr_free(text);
  grpcr_config_errors_free(&errs);
  EXPECT_EQ(r == 0, out.empty()) << out;
  return out;
}

TEST(ProcessPolicyTest, AcceptsResilienceAndNamedMethods) {
  int rc = -1;
  EXPECT_EQ(Errors(R"({
    "resilience": {"retryBudget": {"ratio": 0.2},
                   "circuitBreaker": {"minimumCalls": 5}},
    "methodConfig": [
      {"name": [{"service": "echo.Echo", "method": "Say"}, {"service": "b.B"}],
       "resilience": {"maxAttempts": 3}},
      {"name": [{}], "resilience": {"maxAttempts": 2}}]})",
                   &rc),
            "");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(Errors("{}"), "");
  EXPECT_EQ(Errors(R"({"resilience": {}})"), "");
}

TEST(ProcessPolicyTest, RejectsGrpcsOwnSettingsByName) {
  int rc = 0;
  EXPECT_EQ(
      Errors(R"({"loadBalancingConfig": [], "methodConfig": [{
        "name": [{"service": "a"}], "timeout": "1s", "retryPolicy": {},
        "resilience": {"maxAttempts": 2}}]})",
             &rc),
      "field:loadBalancingConfig error:is not allowed in a process policy "
      "(only resilience and methodConfig: gRPC's own settings belong in the "
      "application's service config)\n"
      "field:methodConfig[0].timeout error:is not allowed in a process policy "
      "(an entry has only name and resilience: gRPC's own settings belong in "
      "the application's service config)\n"
      "field:methodConfig[0].retryPolicy error:is not allowed in a process "
      "policy (an entry has only name and resilience: gRPC's own settings "
      "belong in the application's service config)\n"
      "field:methodConfig[0].resilience error:cannot be combined with "
      "retryPolicy: a call must not be retried by two layers; remove one");
  EXPECT_EQ(rc, GRPCR_ECONFIG);
}

TEST(ProcessPolicyTest, NamesFollowGrpcsRules) {
  EXPECT_EQ(Errors(R"({"methodConfig": [
      {"resilience": {"maxAttempts": 2}},
      {"name": [], "resilience": {"maxAttempts": 2}},
      {"name": {}, "resilience": {"maxAttempts": 2}},
      {"name": [{"method": "Say"}, 3, {"service": 1, "x": "y"}],
       "resilience": {"maxAttempts": 2}}]})"),
            "field:methodConfig[0].name error:is required: the methods the "
            "entry applies to\n"
            "field:methodConfig[1].name error:is empty: [{}] names every "
            "method\n"
            "field:methodConfig[2].name error:is not an array\n"
            "field:methodConfig[3].name[0].method error:is given without a "
            "service\n"
            "field:methodConfig[3].name[1] error:is not an object\n"
            "field:methodConfig[3].name[2].service error:is not a string\n"
            "field:methodConfig[3].name[2].x error:unknown field (a name has "
            "service and method)");
}

TEST(ProcessPolicyTest, SameNameTwiceIsAnError) {
  EXPECT_EQ(Errors(R"({"methodConfig": [
      {"name": [{"service": "a", "method": "M"}, {}],
       "resilience": {"maxAttempts": 2}},
      {"name": [{"service": "a", "method": "M"}, {"service": ""}],
       "resilience": {"maxAttempts": 3}}]})"),
            "field:methodConfig[1].name[0] error:names the same methods as "
            "methodConfig[0].name[0]\n"
            "field:methodConfig[1].name[1] error:names the same methods as "
            "methodConfig[0].name[1]");
}

TEST(ProcessPolicyTest, EveryEntryNeedsAResilienceBlock) {
  EXPECT_EQ(Errors(R"({"methodConfig": [{"name": [{"service": "a"}]}]})"),
            "field:methodConfig[0].resilience error:is required in a process "
            "policy's methodConfig");
}

TEST(ProcessPolicyTest, SchemaErrorsComeWithTheStructuralOnes) {
  EXPECT_EQ(Errors(R"({"x": 1, "resilience": {"retryBudget": {"ratio": -1}},
      "methodConfig": [{"name": [{"service": "a"}],
                        "resilience": {"maxAttempts": 0}}]})"),
            "field:x error:is not allowed in a process policy (only "
            "resilience and methodConfig: gRPC's own settings belong in the "
            "application's service config)\n"
            "field:resilience.retryBudget.ratio error:must be between 0 and 10\n"
            "field:methodConfig[0].resilience.maxAttempts error:must be "
            "between 1 and 100");
}

TEST(ProcessPolicyTest, SyntaxAndShape) {
  EXPECT_EQ(Errors("{"),
            "field: error:JSON parse error at 1:2: expected a string key or "
            "'}', found end of input");
  EXPECT_EQ(Errors("[]"), "field: error:is not an object");
  EXPECT_EQ(Errors(R"({"methodConfig": {}})"),
            "field:methodConfig error:is not an array");
  EXPECT_EQ(Errors(R"({"methodConfig": [1]})"),
            "field:methodConfig[0] error:is not an object");
  grpcr_config_errors errs = {};
  EXPECT_EQ(grpcr_config_validate_process(nullptr, 1, &errs), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_config_validate_process("{}", 2, nullptr), GRPCR_EINVAL);
}

}  // namespace
