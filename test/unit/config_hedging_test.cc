// methodConfig[].resilience.hedging: exact values, defaults, every range
// edge and the exact "field:<path> error:<message>" lines; the block is
// exclusive of the retry fields.
#include "grpcr/config.h"
#include "config_test_util.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kInternal = 13;
constexpr int kUnavailable = 14;

// A method entry whose resilience block is {"hedging": {members}}.
Method ParseHedging(const std::string &members) {
  return ParseMethod("{\"resilience\": {\"hedging\": {" + members + "}}}");
}
std::string HedgingField(const std::string &member) {
  return ParseHedging("\"maxAttempts\": 3, " + member).errors;
}

const std::string kHedging = "field:methodConfig[0].resilience.hedging.";
const std::string kCombined =
    " error:cannot be combined with hedging: a method either retries or hedges; remove one";

TEST(ConfigHedgingTest, HedgingBlockParsesToExactValues) {
  Method m = ParseHedging(
      R"("maxAttempts": 4, "hedgingDelay": "0.5s", "nonFatalStatusCodes": ["UNAVAILABLE", "INTERNAL"])");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_TRUE(m.has_policy);
  EXPECT_TRUE(m.policy.hedging.enabled);
  EXPECT_EQ(m.policy.max_attempts, 4u);
  EXPECT_EQ(m.policy.hedging.delay_ns, 500 * kMs);
  EXPECT_EQ(m.policy.hedging.max_extra_load, 0.0);
  EXPECT_EQ(m.policy.hedging.non_fatal_codes, GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kInternal));
  // The retry fields keep their defaults.
  EXPECT_EQ(m.policy.backoff.initial_backoff_ns, 100 * kMs);
  EXPECT_EQ(m.policy.backoff.max_backoff_ns, 10 * kSec);
  EXPECT_EQ(m.policy.backoff.multiplier, 2.0);
  EXPECT_EQ(m.policy.backoff.jitter, GRPCR_JITTER_FULL);
  EXPECT_EQ(m.policy.retryable_codes, GRPCR_CODE_BIT(kUnavailable));
  EXPECT_EQ(m.policy.per_attempt_timeout_ns, 0);
}

TEST(ConfigHedgingTest, OnlyMaxAttemptsGivesEveryHedgingDefault) {
  Method m = ParseHedging(R"("maxAttempts": 2)");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_TRUE(m.has_policy);
  EXPECT_TRUE(m.policy.hedging.enabled);
  EXPECT_EQ(m.policy.max_attempts, 2u);
  EXPECT_EQ(m.policy.hedging.delay_ns, 0);
  EXPECT_EQ(m.policy.hedging.max_extra_load, 0.0);
  EXPECT_EQ(m.policy.hedging.non_fatal_codes, 0u);
}

TEST(ConfigHedgingTest, MaxExtraLoadIsParsedAndLeavesTheDelayAtZero) {
  Method m = ParseHedging(R"("maxAttempts": 3, "maxExtraLoad": 0.05)");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_EQ(m.policy.hedging.max_extra_load, 0.05);
  EXPECT_EQ(m.policy.hedging.delay_ns, 0);
  EXPECT_EQ(HedgingField(R"("maxExtraLoad": 0.000001)"), "");
  EXPECT_EQ(HedgingField(R"("maxExtraLoad": 0.999999)"), "");
}

TEST(ConfigHedgingTest, RetryingMethodIsNotHedged) {
  Method m = ParseRetry("");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_FALSE(m.policy.hedging.enabled);
  EXPECT_EQ(m.policy.hedging.delay_ns, 0);
  EXPECT_EQ(m.policy.hedging.max_extra_load, 0.0);
  EXPECT_EQ(m.policy.hedging.non_fatal_codes, 0u);
}

TEST(ConfigHedgingTest, MaxAttemptsIsRequiredFromTwoToOneHundred) {
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 2)").errors, "");
  Method m = ParseHedging(R"("maxAttempts": 100)");
  EXPECT_EQ(m.errors, "");
  EXPECT_EQ(m.policy.max_attempts, 100u);
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 1)").errors, kHedging + "maxAttempts error:must be between 2 and 100");
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 101)").errors, kHedging + "maxAttempts error:must be between 2 and 100");
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 0)").errors, kHedging + "maxAttempts error:must be between 2 and 100");
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 2.5)").errors, kHedging + "maxAttempts error:must be an integer");
  EXPECT_EQ(ParseHedging(R"("maxAttempts": "3")").errors, kHedging + "maxAttempts error:is not a number");
  EXPECT_EQ(ParseHedging("").errors, kHedging + "maxAttempts error:is required");
  EXPECT_EQ(ParseHedging(R"("hedgingDelay": "1s")").errors, kHedging + "maxAttempts error:is required");
}

TEST(ConfigHedgingTest, HedgingDelayEdges) {
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "0s")"), "");
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "3600s")"), "");
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 3, "hedgingDelay": "0.000000001s")").policy.hedging.delay_ns, 1);
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 3, "hedgingDelay": "3600s")").policy.hedging.delay_ns, 3600 * kSec);
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "3600.000000001s")"),
            kHedging + "hedgingDelay error:must be between 0s and 3600s");
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "-1s")"),
            kHedging + "hedgingDelay error:invalid duration \"-1s\": expected seconds with up to 9 fractional digits "
                       "and an \"s\" suffix, like \"0.1s\"");
  EXPECT_EQ(HedgingField(R"("hedgingDelay": 1)"), kHedging + "hedgingDelay error:is not a string");
}

TEST(ConfigHedgingTest, MaxExtraLoadMustBeBetweenZeroAndOneExclusive) {
  for (const char *v : {"0", "1", "-1", "1.5", "-0.0"}) {
    EXPECT_EQ(HedgingField(std::string("\"maxExtraLoad\": ") + v),
              kHedging + "maxExtraLoad error:must be greater than 0 and less than 1")
        << v;
  }
  EXPECT_EQ(HedgingField(R"("maxExtraLoad": "x")"), kHedging + "maxExtraLoad error:is not a number");
  EXPECT_EQ(HedgingField(R"("maxExtraLoad": "0.5")"), kHedging + "maxExtraLoad error:is not a number");
  EXPECT_EQ(HedgingField(R"("maxExtraLoad": null)"), kHedging + "maxExtraLoad error:is not a number");
  // A rejected value is not stored.
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 3, "maxExtraLoad": 1)").policy.hedging.max_extra_load, 0.0);
}

TEST(ConfigHedgingTest, DelayAndExtraLoadCannotBeCombined) {
  const std::string err = kHedging +
                          "maxExtraLoad error:cannot be combined with hedgingDelay: the delay is either fixed or "
                          "adaptive; remove one";
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "0.1s", "maxExtraLoad": 0.05)"), err);
  EXPECT_EQ(HedgingField(R"("maxExtraLoad": 0.05, "hedgingDelay": "0.1s")"), err);
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "0s", "maxExtraLoad": 0.05)"), err);
  // Each value's own error comes first.
  EXPECT_EQ(HedgingField(R"("hedgingDelay": "0.1s", "maxExtraLoad": 2)"),
            kHedging + "maxExtraLoad error:must be greater than 0 and less than 1\n" + err);
}

TEST(ConfigHedgingTest, NonFatalStatusCodesAreParsedAndNeverOk) {
  Method m = ParseHedging(R"("maxAttempts": 3, "nonFatalStatusCodes": ["INTERNAL", "INTERNAL"])");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_EQ(m.policy.hedging.non_fatal_codes, GRPCR_CODE_BIT(kInternal));
  EXPECT_EQ(HedgingField(R"("nonFatalStatusCodes": ["OK"])"),
            kHedging + "nonFatalStatusCodes[0] error:OK cannot be non-fatal: it is the answer");
  EXPECT_EQ(HedgingField(R"("nonFatalStatusCodes": ["UNAVAILABLE", "OK"])"),
            kHedging + "nonFatalStatusCodes[1] error:OK cannot be non-fatal: it is the answer");
  EXPECT_EQ(HedgingField(R"("nonFatalStatusCodes": ["UNAVAILBLE"])"),
            kHedging + "nonFatalStatusCodes[0] error:unknown status code \"UNAVAILBLE\"");
  EXPECT_EQ(HedgingField(R"("nonFatalStatusCodes": [14])"),
            kHedging + "nonFatalStatusCodes[0] error:is not a string");
  EXPECT_EQ(HedgingField(R"("nonFatalStatusCodes": "UNAVAILABLE")"),
            kHedging + "nonFatalStatusCodes error:is not an array");
  // A list with an error is not stored.
  EXPECT_EQ(ParseHedging(R"("maxAttempts": 3, "nonFatalStatusCodes": ["INTERNAL", "OK"])")
                .policy.hedging.non_fatal_codes,
            0u);
}

// gRFC A6 allows an empty list: every status is fatal, as by default.
TEST(ConfigHedgingTest, AnEmptyNonFatalListMeansNone) {
  Method m = ParseHedging(R"("maxAttempts": 3, "nonFatalStatusCodes": [])");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_TRUE(m.policy.hedging.enabled);
  EXPECT_EQ(m.policy.hedging.non_fatal_codes, 0u);
}

TEST(ConfigHedgingTest, UnknownFieldsInAndBesideTheHedgingBlock) {
  EXPECT_EQ(HedgingField(R"("delay": "1s")"), kHedging + "delay error:unknown field");
  EXPECT_EQ(HedgingField(R"("retryableStatusCodes": ["UNAVAILABLE"])"),
            kHedging + "retryableStatusCodes error:unknown field");
  EXPECT_EQ(ParseMethod(R"({"resilience": {"hedging": {"maxAttempts": 2}, "hedgingPolicy": {}}})").errors,
            kRetry + "hedgingPolicy error:unknown field");
}

// Each retry field beside "hedging" is named: the method either retries or
// hedges.
TEST(ConfigHedgingTest, EachRetryFieldBesideHedgingIsAnError) {
  const char *fields[][2] = {
      {"maxAttempts", "3"},
      {"initialBackoff", "\"0.1s\""},
      {"maxBackoff", "\"1s\""},
      {"backoffMultiplier", "2"},
      {"jitter", "\"NONE\""},
      {"retryableStatusCodes", "[\"UNAVAILABLE\"]"},
      {"perAttemptTimeout", "\"1s\""},
  };
  for (const auto &f : fields) {
    const std::string member = std::string("\"") + f[0] + "\": " + f[1];
    Method m = ParseMethod("{\"resilience\": {" + member + ", \"hedging\": {\"maxAttempts\": 2}}}");
    EXPECT_EQ(m.errors, kRetry + f[0] + kCombined) << f[0];
    EXPECT_TRUE(m.has_policy);
    // After the block as well as before it.
    EXPECT_EQ(ParseMethod("{\"resilience\": {\"hedging\": {\"maxAttempts\": 2}, " + member + "}}").errors,
              kRetry + f[0] + kCombined)
        << f[0];
  }
}

TEST(ConfigHedgingTest, EveryConflictAndTheBlocksOwnErrorsAreReportedAtOnce) {
  Method m = ParseMethod(R"({"resilience": {"maxAttempts": 3, "hedging": {"maxAttempts": 1, "maxExtraLoad": 0},
      "jitter": "NONE", "x": 1}})");
  EXPECT_EQ(m.errors, kRetry + "maxAttempts" + kCombined + "\n" + kRetry + "jitter" + kCombined + "\n" + kRetry +
                          "x error:unknown field\n" + kHedging + "maxAttempts error:must be between 2 and 100\n" +
                          kHedging + "maxExtraLoad error:must be greater than 0 and less than 1");
}

TEST(ConfigHedgingTest, HedgingMustBeAnObject) {
  for (const char *v : {"5", "[]", "null", "\"x\"", "true"}) {
    EXPECT_EQ(ParseMethod(std::string("{\"resilience\": {\"hedging\": ") + v + "}}").errors,
              "field:methodConfig[0].resilience.hedging error:is not an object")
        << v;
  }
  EXPECT_EQ(ParseMethod(R"({"resilience": {"hedging": 5, "maxAttempts": 3}})").errors,
            kRetry + "maxAttempts" + kCombined + "\nfield:methodConfig[0].resilience.hedging error:is not an object");
}

TEST(ConfigHedgingTest, ValidateChecksHedgingInEveryMethodEntry) {
  EXPECT_EQ(Validate(R"({"methodConfig": [
      {"name": [{"service": "a.A"}], "resilience": {"hedging": {"maxAttempts": 3, "maxExtraLoad": 0.01}}},
      {"name": [{"service": "b.B"}], "resilience": {"maxAttempts": 2, "hedging": {"maxAttempts": 101}}}]})"),
            "field:methodConfig[1].resilience.maxAttempts" + kCombined +
                "\nfield:methodConfig[1].resilience.hedging.maxAttempts error:must be between 2 and 100");
  EXPECT_EQ(Validate(R"({"methodConfig": [{"retryPolicy": {}, "resilience": {"hedging": {"maxAttempts": 2}}}]})"),
            "field:methodConfig[0].resilience error:cannot be combined with retryPolicy: a call must not be "
            "retried by two layers; remove one");
}

// The adaptive delay is kept per named method: the default name ({}, or an
// empty service) records its calls under "other", where no delay is ever
// known, so maxExtraLoad there is refused; hedgingDelay is not.
TEST(ConfigHedgingTest, MaxExtraLoadNeedsNamedMethods) {
  const std::string hedging =
      R"("resilience": {"hedging": {"maxAttempts": 2, "maxExtraLoad": 0.05}})";
  const std::string err =
      kHedging +
      "maxExtraLoad error:needs the entry to name its services or methods: the default name {} "
      "covers methods whose latencies are not kept apart, so no delay would ever be known; name "
      "them, or use hedgingDelay";
  EXPECT_EQ(ParseMethod(R"({"name": [{}], )" + hedging + "}").errors, err);
  EXPECT_EQ(ParseMethod(R"({"name": [{"service": ""}], )" + hedging + "}").errors, err);
  EXPECT_EQ(ParseMethod(R"({"name": [{"service": "a.B"}, {}], )" + hedging + "}").errors, err);
  EXPECT_EQ(ParseMethod(R"({"name": [{"service": "a.B"}], )" + hedging + "}").errors, "");
  EXPECT_EQ(ParseMethod(R"({"name": [{"service": "a.B", "method": "C"}], )" + hedging + "}").errors,
            "");
  EXPECT_EQ(ParseMethod(
                R"({"name": [{}], "resilience": {"hedging": {"maxAttempts": 2, "hedgingDelay": "0.01s"}}})")
                .errors,
            "");
  EXPECT_EQ(Validate(R"({"methodConfig": [{"name": [{}], )" + hedging + "}]}"),
            "field:methodConfig[0].resilience.hedging.maxExtraLoad error:needs the entry to name its "
            "services or methods: the default name {} covers methods whose latencies are not kept "
            "apart, so no delay would ever be known; name them, or use hedgingDelay");
}

}  // namespace
