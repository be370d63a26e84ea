// The resilience blocks of a service config: exact values, defaults, every
// range edge, the exact "field:<path> error:<message>" lines, and that every
// error is reported at once.
#include "grpcr/config.h"
#include "config_test_util.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kResourceExhausted = 8;
constexpr int kInternal = 13;
constexpr int kUnavailable = 14;

// The example from docs/ARCHITECTURE.md, "Service config".
const char kExample[] = R"({
  "resilience": {
    "retryBudget": {
      "ratio": 0.1,
      "minRetriesPerSecond": 10,
      "window": "10s",
      "scope": "CHANNEL"
    },
    "circuitBreaker": {
      "failureRateThreshold": 0.5,
      "minimumCalls": 20,
      "window": "10s",
      "openDuration": "30s",
      "halfOpenMaxCalls": 1,
      "tripOnStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
    }
  },
  "methodConfig": [{
    "name": [{"service": "echo.Echo", "method": "Say"}],
    "resilience": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "30s",
      "backoffMultiplier": 2,
      "jitter": "FULL",
      "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
    }
  }]
})";

const char kExampleMethod[] = R"({
    "name": [{"service": "echo.Echo", "method": "Say"}],
    "resilience": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "30s",
      "backoffMultiplier": 2,
      "jitter": "FULL",
      "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
    }
  })";

// Parses a top-level "resilience" block given as its JSON object text.
struct Channel {
  int rc;
  grpcr_channel_config cfg;
  std::string errors;
};

Channel ParseChannel(const std::string &resilience) {
  std::string json = "{\"resilience\": " + resilience + "}";
  Channel c;
  grpcr_config_errors errs = {};
  c.rc = grpcr_config_parse_channel(json.data(), json.size(), &c.cfg, &errs);
  c.errors = Format(errs);
  EXPECT_EQ(c.rc, errs.count ? GRPCR_ECONFIG : 0) << c.errors;
  grpcr_config_errors_free(&errs);
  return c;
}

// The errors for one field of the budget / breaker block; "" when valid.
std::string BudgetField(const std::string &member) {
  return ParseChannel("{\"retryBudget\": {" + member + "}}").errors;
}
std::string BreakerField(const std::string &member) {
  return ParseChannel("{\"circuitBreaker\": {" + member + "}}").errors;
}


const std::string kBudget = "field:resilience.retryBudget.";
const std::string kBreaker = "field:resilience.circuitBreaker.";

TEST(ConfigTest, ExampleConfigIsValid) { EXPECT_EQ(Validate(kExample), ""); }

TEST(ConfigTest, ExampleChannelBlockParsesToExactValues) {
  grpcr_channel_config cfg;
  grpcr_config_errors errs = {};
  ASSERT_EQ(grpcr_config_parse_channel(kExample, strlen(kExample), &cfg, &errs), 0) << Format(errs);
  EXPECT_EQ(errs.count, 0u);
  EXPECT_TRUE(cfg.has_budget);
  EXPECT_EQ(cfg.budget.ratio, 0.1);
  EXPECT_EQ(cfg.budget.min_retries_per_second, 10.0);
  EXPECT_EQ(cfg.budget.window_ns, 10 * kSec);
  EXPECT_EQ(cfg.budget_scope, GRPCR_BUDGET_SCOPE_CHANNEL);
  EXPECT_TRUE(cfg.has_breaker);
  EXPECT_EQ(cfg.breaker.failure_rate_threshold, 0.5);
  EXPECT_EQ(cfg.breaker.minimum_calls, 20u);
  EXPECT_EQ(cfg.breaker.window_ns, 10 * kSec);
  EXPECT_EQ(cfg.breaker.open_duration_ns, 30 * kSec);
  EXPECT_EQ(cfg.breaker.half_open_max_calls, 1u);
  EXPECT_EQ(cfg.breaker.trip_codes, GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kResourceExhausted));
  grpcr_config_errors_free(&errs);
}

TEST(ConfigTest, ExampleMethodEntryParsesToExactValues) {
  Method m = ParseMethod(kExampleMethod);
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_TRUE(m.has_policy);
  EXPECT_EQ(m.policy.max_attempts, 4u);
  EXPECT_EQ(m.policy.backoff.initial_backoff_ns, 100 * kMs);
  EXPECT_EQ(m.policy.backoff.max_backoff_ns, 30 * kSec);
  EXPECT_EQ(m.policy.backoff.multiplier, 2.0);
  EXPECT_EQ(m.policy.backoff.jitter, GRPCR_JITTER_FULL);
  EXPECT_EQ(m.policy.retryable_codes, GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kResourceExhausted));
}

TEST(ConfigTest, NoResilienceBlockGivesDefaultChannelConfig) {
  const char json[] = R"({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": []})";
  grpcr_channel_config cfg;
  grpcr_config_errors errs = {};
  ASSERT_EQ(grpcr_config_parse_channel(json, strlen(json), &cfg, &errs), 0);
  EXPECT_FALSE(cfg.has_budget);
  EXPECT_FALSE(cfg.has_breaker);
  // What applies once a method has a retry policy anyway.
  EXPECT_EQ(cfg.budget.ratio, 0.1);
  EXPECT_EQ(cfg.budget.min_retries_per_second, 10.0);
  EXPECT_EQ(cfg.budget.window_ns, 10 * kSec);
  EXPECT_EQ(cfg.budget_scope, GRPCR_BUDGET_SCOPE_CHANNEL);
  grpcr_config_errors_free(&errs);
}

TEST(ConfigTest, EmptyBlocksGetEveryDefault) {
  Channel c = ParseChannel(R"({"retryBudget": {}, "circuitBreaker": {}})");
  ASSERT_EQ(c.rc, 0) << c.errors;
  EXPECT_TRUE(c.cfg.has_budget);
  EXPECT_EQ(c.cfg.budget.ratio, 0.1);
  EXPECT_EQ(c.cfg.budget.min_retries_per_second, 10.0);
  EXPECT_EQ(c.cfg.budget.window_ns, 10 * kSec);
  EXPECT_EQ(c.cfg.budget_scope, GRPCR_BUDGET_SCOPE_CHANNEL);
  EXPECT_TRUE(c.cfg.has_breaker);
  EXPECT_EQ(c.cfg.breaker.failure_rate_threshold, 0.5);
  EXPECT_EQ(c.cfg.breaker.minimum_calls, 20u);
  EXPECT_EQ(c.cfg.breaker.window_ns, 10 * kSec);
  EXPECT_EQ(c.cfg.breaker.open_duration_ns, 30 * kSec);
  EXPECT_EQ(c.cfg.breaker.half_open_max_calls, 1u);
  EXPECT_EQ(c.cfg.breaker.trip_codes, GRPCR_CODE_BIT(kUnavailable) | GRPCR_CODE_BIT(kResourceExhausted));
}

TEST(ConfigTest, EmptyResilienceBlockHasNoBudgetAndNoBreaker) {
  Channel c = ParseChannel("{}");
  ASSERT_EQ(c.rc, 0);
  EXPECT_FALSE(c.cfg.has_budget);
  EXPECT_FALSE(c.cfg.has_breaker);
}

TEST(ConfigTest, OnlyMaxAttemptsGivesEveryMethodDefault) {
  Method m = ParseRetry("");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_TRUE(m.has_policy);
  EXPECT_EQ(m.policy.max_attempts, 3u);
  EXPECT_EQ(m.policy.backoff.initial_backoff_ns, 100 * kMs);
  EXPECT_EQ(m.policy.backoff.max_backoff_ns, 10 * kSec);
  EXPECT_EQ(m.policy.backoff.multiplier, 2.0);
  EXPECT_EQ(m.policy.backoff.jitter, GRPCR_JITTER_FULL);
  EXPECT_EQ(m.policy.retryable_codes, GRPCR_CODE_BIT(kUnavailable));
}

TEST(ConfigTest, MethodWithoutResilienceHasNoPolicy) {
  Method m = ParseMethod(R"({"name": [{"service": "a.B"}], "timeout": "1s", "retryPolicy": {}})");
  EXPECT_EQ(m.rc, 0);
  EXPECT_EQ(m.errors, "");
  EXPECT_FALSE(m.has_policy);
  EXPECT_EQ(m.policy.max_attempts, 1u);
}

TEST(ConfigTest, BudgetScopeTargetIsParsed) {
  Channel c = ParseChannel(R"({"retryBudget": {"scope": "TARGET"}})");
  ASSERT_EQ(c.rc, 0) << c.errors;
  EXPECT_EQ(c.cfg.budget_scope, GRPCR_BUDGET_SCOPE_TARGET);
}

TEST(ConfigTest, UnknownBudgetScopeNamesTheChoices) {
  EXPECT_EQ(BudgetField(R"("scope": "channel")"),
            kBudget + "scope error:unknown scope \"channel\": must be CHANNEL or TARGET");
  EXPECT_EQ(BudgetField(R"("scope": 1)"), kBudget + "scope error:is not a string");
}

TEST(ConfigTest, BudgetRatioEdges) {
  EXPECT_EQ(BudgetField(R"("ratio": 0)"), "");
  EXPECT_EQ(BudgetField(R"("ratio": 10)"), "");
  EXPECT_EQ(BudgetField(R"("ratio": -0.000001)"), kBudget + "ratio error:must be between 0 and 10");
  EXPECT_EQ(BudgetField(R"("ratio": 10.000001)"), kBudget + "ratio error:must be between 0 and 10");
  EXPECT_EQ(BudgetField(R"("ratio": "0.1")"), kBudget + "ratio error:is not a number");
  EXPECT_EQ(ParseChannel(R"({"retryBudget": {"ratio": 2.5}})").cfg.budget.ratio, 2.5);
}

TEST(ConfigTest, BudgetMinRetriesPerSecondEdges) {
  EXPECT_EQ(BudgetField(R"("minRetriesPerSecond": 0)"), "");
  EXPECT_EQ(BudgetField(R"("minRetriesPerSecond": 1000000)"), "");
  EXPECT_EQ(BudgetField(R"("minRetriesPerSecond": 0.5)"), "");
  EXPECT_EQ(BudgetField(R"("minRetriesPerSecond": -1)"),
            kBudget + "minRetriesPerSecond error:must be between 0 and 1000000");
  EXPECT_EQ(BudgetField(R"("minRetriesPerSecond": 1000000.5)"),
            kBudget + "minRetriesPerSecond error:must be between 0 and 1000000");
  EXPECT_EQ(BudgetField(R"("minRetriesPerSecond": null)"), kBudget + "minRetriesPerSecond error:is not a number");
}

TEST(ConfigTest, BudgetWindowEdges) {
  EXPECT_EQ(BudgetField(R"("window": "1s")"), "");
  EXPECT_EQ(BudgetField(R"("window": "3600s")"), "");
  EXPECT_EQ(BudgetField(R"("window": "0.999999999s")"), kBudget + "window error:must be between 1s and 3600s");
  EXPECT_EQ(BudgetField(R"("window": "3600.000000001s")"), kBudget + "window error:must be between 1s and 3600s");
  EXPECT_EQ(BudgetField(R"("window": 10)"), kBudget + "window error:is not a string");
  EXPECT_EQ(ParseChannel(R"({"retryBudget": {"window": "1.5s"}})").cfg.budget.window_ns, 1500 * kMs);
}

TEST(ConfigTest, BreakerFailureRateThresholdEdges) {
  EXPECT_EQ(BreakerField(R"("failureRateThreshold": 0.000001)"), "");
  EXPECT_EQ(BreakerField(R"("failureRateThreshold": 1)"), "");
  EXPECT_EQ(BreakerField(R"("failureRateThreshold": 0)"),
            kBreaker + "failureRateThreshold error:must be greater than 0 and at most 1");
  EXPECT_EQ(BreakerField(R"("failureRateThreshold": 1.000001)"),
            kBreaker + "failureRateThreshold error:must be greater than 0 and at most 1");
}

TEST(ConfigTest, BreakerSlowCallFields) {
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": "0.001s")"), "");
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": "3600s")"), "");
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": "0.0009s")"),
            kBreaker + "slowCallDurationThreshold error:must be between 0.001s and 3600s");
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": 1)"),
            kBreaker + "slowCallDurationThreshold error:is not a string");
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": "1s", "slowCallRateThreshold": 0.5)"), "");
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": "1s", "slowCallRateThreshold": 0)"),
            kBreaker + "slowCallRateThreshold error:must be greater than 0 and at most 1");
  EXPECT_EQ(BreakerField(R"("slowCallDurationThreshold": "1s", "slowCallRateThreshold": 1.5)"),
            kBreaker + "slowCallRateThreshold error:must be greater than 0 and at most 1");
  // A rate alone says nothing: no call would ever be slow.
  EXPECT_EQ(BreakerField(R"("slowCallRateThreshold": 0.5)"),
            kBreaker + "slowCallRateThreshold error:needs slowCallDurationThreshold: a call is slow only by it");
  grpcr_breaker_config b = ParseChannel(
      R"({"circuitBreaker": {"slowCallDurationThreshold": "0.1s", "slowCallRateThreshold": 0.25}})")
      .cfg.breaker;
  EXPECT_EQ(b.slow_call_duration_ns, 100 * kMs);
  EXPECT_EQ(b.slow_call_rate_threshold, 0.25);
  // Without the fields: no rule, rate 1.
  b = ParseChannel(R"({"circuitBreaker": {}})").cfg.breaker;
  EXPECT_EQ(b.slow_call_duration_ns, 0);
  EXPECT_EQ(b.slow_call_rate_threshold, 1.0);
  b = ParseChannel(R"({"circuitBreaker": {"slowCallDurationThreshold": "2s"}})").cfg.breaker;
  EXPECT_EQ(b.slow_call_rate_threshold, 1.0);
}

TEST(ConfigTest, BreakerOpenPeriodFields) {
  EXPECT_EQ(BreakerField(R"("openDurationMultiplier": 1)"), "");
  EXPECT_EQ(BreakerField(R"("openDurationMultiplier": 10)"), "");
  EXPECT_EQ(BreakerField(R"("openDurationMultiplier": 0.5)"),
            kBreaker + "openDurationMultiplier error:must be between 1 and 10");
  EXPECT_EQ(BreakerField(R"("openDurationMultiplier": 11)"),
            kBreaker + "openDurationMultiplier error:must be between 1 and 10");
  EXPECT_EQ(BreakerField(R"("openDurationJitter": 0)"), "");
  EXPECT_EQ(BreakerField(R"("openDurationJitter": 0.5)"), "");
  EXPECT_EQ(BreakerField(R"("openDurationJitter": 0.6)"),
            kBreaker + "openDurationJitter error:must be between 0 and 0.5");
  EXPECT_EQ(BreakerField(R"("maxOpenDuration": "30s")"), "");
  EXPECT_EQ(BreakerField(R"("openDuration": "60s", "maxOpenDuration": "30s")"),
            kBreaker + "maxOpenDuration error:must be at least openDuration");
  grpcr_breaker_config b = ParseChannel(
      R"({"circuitBreaker": {"openDurationMultiplier": 3, "maxOpenDuration": "120s", "openDurationJitter": 0.1}})")
      .cfg.breaker;
  EXPECT_EQ(b.open_duration_multiplier, 3.0);
  EXPECT_EQ(b.max_open_duration_ns, 120 * kSec);
  EXPECT_EQ(b.open_duration_jitter, 0.1);
  // Defaults: x2, up to 300 s, or openDuration when that is longer.
  b = ParseChannel(R"({"circuitBreaker": {}})").cfg.breaker;
  EXPECT_EQ(b.open_duration_multiplier, 2.0);
  EXPECT_EQ(b.max_open_duration_ns, 300 * kSec);
  EXPECT_EQ(b.open_duration_jitter, 0.2);
  b = ParseChannel(R"({"circuitBreaker": {"openDuration": "600s"}})").cfg.breaker;
  EXPECT_EQ(b.max_open_duration_ns, 600 * kSec);
}

TEST(ConfigTest, AdaptiveThrottlingFieldsAreCheckedOneByOne) {
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingK": 0)"), "");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingK": 1)"), "");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingK": 10)"), "");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingK": 0.5)"),
            kBreaker + "adaptiveThrottlingK error:must be 0 (no throttling) or from 1 to 10");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingK": 11)"),
            kBreaker + "adaptiveThrottlingK error:must be between 0 and 10");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingK": "2")"),
            kBreaker + "adaptiveThrottlingK error:is not a number");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingWindow": "1s")"), "");
  EXPECT_EQ(BreakerField(R"("adaptiveThrottlingWindow": "0.5s")"),
            kBreaker + "adaptiveThrottlingWindow error:must be between 1s and 3600s");
  grpcr_breaker_config b = ParseChannel(
      R"({"circuitBreaker": {"adaptiveThrottlingK": 1.5, "adaptiveThrottlingWindow": "30s"}})")
      .cfg.breaker;
  EXPECT_EQ(b.throttle_k, 1.5);
  EXPECT_EQ(b.throttle_window_ns, 30 * kSec);
  // Defaults: k 3 over 2 s; 0 turns it off.
  b = ParseChannel(R"({"circuitBreaker": {}})").cfg.breaker;
  EXPECT_EQ(b.throttle_k, 3.0);
  EXPECT_EQ(b.throttle_window_ns, 2 * kSec);
  b = ParseChannel(R"({"circuitBreaker": {"adaptiveThrottlingK": 0}})").cfg.breaker;
  EXPECT_EQ(b.throttle_k, 0.0);
}

TEST(ConfigTest, BreakerMinimumCallsEdges) {
  EXPECT_EQ(BreakerField(R"("minimumCalls": 1)"), "");
  EXPECT_EQ(BreakerField(R"("minimumCalls": 1000000)"), "");
  EXPECT_EQ(BreakerField(R"("minimumCalls": 0)"), kBreaker + "minimumCalls error:must be between 1 and 1000000");
  EXPECT_EQ(BreakerField(R"("minimumCalls": 1000001)"), kBreaker + "minimumCalls error:must be between 1 and 1000000");
  EXPECT_EQ(BreakerField(R"("minimumCalls": 20.5)"), kBreaker + "minimumCalls error:must be an integer");
}

TEST(ConfigTest, BreakerWindowEdges) {
  EXPECT_EQ(BreakerField(R"("window": "1s")"), "");
  EXPECT_EQ(BreakerField(R"("window": "3600s")"), "");
  EXPECT_EQ(BreakerField(R"("window": "0.5s")"), kBreaker + "window error:must be between 1s and 3600s");
  EXPECT_EQ(BreakerField(R"("window": "3601s")"), kBreaker + "window error:must be between 1s and 3600s");
}

TEST(ConfigTest, BreakerOpenDurationEdges) {
  EXPECT_EQ(BreakerField(R"("openDuration": "0.001s")"), "");
  EXPECT_EQ(BreakerField(R"("openDuration": "86400s")"), "");
  EXPECT_EQ(BreakerField(R"("openDuration": "0.000999999s")"),
            kBreaker + "openDuration error:must be between 0.001s and 86400s");
  EXPECT_EQ(BreakerField(R"("openDuration": "86400.000000001s")"),
            kBreaker + "openDuration error:must be between 0.001s and 86400s");
  EXPECT_EQ(ParseChannel(R"({"circuitBreaker": {"openDuration": "0.25s"}})").cfg.breaker.open_duration_ns, 250 * kMs);
}

TEST(ConfigTest, BreakerHalfOpenMaxCallsEdges) {
  EXPECT_EQ(BreakerField(R"("halfOpenMaxCalls": 1)"), "");
  EXPECT_EQ(BreakerField(R"("halfOpenMaxCalls": 1000)"), "");
  EXPECT_EQ(BreakerField(R"("halfOpenMaxCalls": 0)"), kBreaker + "halfOpenMaxCalls error:must be between 1 and 1000");
  EXPECT_EQ(BreakerField(R"("halfOpenMaxCalls": 1001)"), kBreaker + "halfOpenMaxCalls error:must be between 1 and 1000");
}

TEST(ConfigTest, BreakerTripCodesAreParsed) {
  Channel c = ParseChannel(R"({"circuitBreaker": {"tripOnStatusCodes": ["INTERNAL", "INTERNAL"]}})");
  ASSERT_EQ(c.rc, 0) << c.errors;
  EXPECT_EQ(c.cfg.breaker.trip_codes, GRPCR_CODE_BIT(kInternal));
}

TEST(ConfigTest, BreakerTripCodesMustBeNonEmptyAndNeverOk) {
  EXPECT_EQ(BreakerField(R"("tripOnStatusCodes": [])"), kBreaker + "tripOnStatusCodes error:must not be empty");
  EXPECT_EQ(BreakerField(R"("tripOnStatusCodes": ["UNAVAILABLE", "OK"])"),
            kBreaker + "tripOnStatusCodes[1] error:OK cannot trip the breaker: it is not a failure");
  EXPECT_EQ(BreakerField(R"("tripOnStatusCodes": "UNAVAILABLE")"), kBreaker + "tripOnStatusCodes error:is not an array");
}

TEST(ConfigTest, MaxAttemptsEdges) {
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 1}})").errors, "");
  Method m = ParseMethod(R"({"resilience": {"maxAttempts": 100}})");
  EXPECT_EQ(m.errors, "");
  EXPECT_EQ(m.policy.max_attempts, 100u);
}

TEST(ConfigTest, MaxAttemptsBelowOneNamesTheField) {
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 0}})").errors,
            kRetry + "maxAttempts error:must be between 1 and 100");
}

TEST(ConfigTest, MaxAttemptsAboveTheLimitNamesTheField) {
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 101}})").errors,
            kRetry + "maxAttempts error:must be between 1 and 100");
}

TEST(ConfigTest, MaxAttemptsMustBeAnInteger) {
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 2.5}})").errors, kRetry + "maxAttempts error:must be an integer");
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 4.0}})").errors, kRetry + "maxAttempts error:must be an integer");
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": "4"}})").errors, kRetry + "maxAttempts error:is not a number");
}

TEST(ConfigTest, MaxAttemptsIsRequired) {
  EXPECT_EQ(ParseMethod(R"({"resilience": {"jitter": "NONE"}})").errors, kRetry + "maxAttempts error:is required");
}

TEST(ConfigTest, PerAttemptTimeoutEdges) {
  EXPECT_EQ(RetryField(R"("perAttemptTimeout": "0.001s")"), "");
  EXPECT_EQ(RetryField(R"("perAttemptTimeout": "3600s")"), "");
  EXPECT_EQ(RetryField(R"("perAttemptTimeout": "0.0009s")"),
            kRetry + "perAttemptTimeout error:must be between 0.001s and 3600s");
  EXPECT_EQ(RetryField(R"("perAttemptTimeout": "3601s")"),
            kRetry + "perAttemptTimeout error:must be between 0.001s and 3600s");
  EXPECT_EQ(RetryField(R"("perAttemptTimeout": 1)"),
            kRetry + "perAttemptTimeout error:is not a string");
  EXPECT_EQ(ParseRetry(R"("perAttemptTimeout": "0.25s")").policy.per_attempt_timeout_ns,
            250000000);
  EXPECT_EQ(ParseRetry("").policy.per_attempt_timeout_ns, 0);
}

TEST(ConfigTest, InitialBackoffEdges) {
  EXPECT_EQ(RetryField(R"("initialBackoff": "0.000000001s")"), "");
  EXPECT_EQ(RetryField(R"("initialBackoff": "3600s", "maxBackoff": "3600s")"), "");
  EXPECT_EQ(RetryField(R"("initialBackoff": "0s")"),
            kRetry + "initialBackoff error:must be greater than 0s and at most 3600s");
  EXPECT_EQ(RetryField(R"("initialBackoff": "3600.000000001s", "maxBackoff": "3600s")"),
            kRetry + "initialBackoff error:must be greater than 0s and at most 3600s");
  EXPECT_EQ(ParseRetry(R"("initialBackoff": "0.000000001s")").policy.backoff.initial_backoff_ns, 1);
}

TEST(ConfigTest, MaxBackoffEdges) {
  EXPECT_EQ(RetryField(R"("initialBackoff": "0.000000001s", "maxBackoff": "0.000000001s")"), "");
  EXPECT_EQ(RetryField(R"("maxBackoff": "3600s")"), "");
  EXPECT_EQ(RetryField(R"("initialBackoff": "0.000000001s", "maxBackoff": "0s")"),
            kRetry + "maxBackoff error:must be greater than 0s and at most 3600s");
  EXPECT_EQ(RetryField(R"("maxBackoff": "3600.000000001s")"),
            kRetry + "maxBackoff error:must be greater than 0s and at most 3600s");
}

TEST(ConfigTest, MaxBackoffBelowInitialBackoffNamesTheRelation) {
  EXPECT_EQ(RetryField(R"("initialBackoff": "2s", "maxBackoff": "1.999999999s")"),
            kRetry + "maxBackoff error:must be at least initialBackoff (2s)");
  EXPECT_EQ(RetryField(R"("maxBackoff": "0.05s")"), kRetry + "maxBackoff error:must be at least initialBackoff (0.1s)");
  Method m = ParseRetry(R"("initialBackoff": "2s", "maxBackoff": "2s")");
  EXPECT_EQ(m.errors, "");
  EXPECT_EQ(m.policy.backoff.max_backoff_ns, 2 * kSec);
}

TEST(ConfigTest, DefaultMaxBackoffBelowInitialBackoffSaysItIsTheDefault) {
  EXPECT_EQ(RetryField(R"("initialBackoff": "20s")"),
            kRetry + "maxBackoff error:must be at least initialBackoff (20s): its default is 10s");
}

TEST(ConfigTest, BackoffMultiplierEdges) {
  EXPECT_EQ(RetryField(R"("backoffMultiplier": 1)"), "");
  EXPECT_EQ(RetryField(R"("backoffMultiplier": 100)"), "");
  EXPECT_EQ(ParseRetry(R"("backoffMultiplier": 1.6)").policy.backoff.multiplier, 1.6);
  EXPECT_EQ(RetryField(R"("backoffMultiplier": 0.999)"), kRetry + "backoffMultiplier error:must be between 1 and 100");
  EXPECT_EQ(RetryField(R"("backoffMultiplier": 100.001)"), kRetry + "backoffMultiplier error:must be between 1 and 100");
}

TEST(ConfigTest, EveryJitterNameIsParsed) {
  EXPECT_EQ(ParseRetry(R"("jitter": "NONE")").policy.backoff.jitter, GRPCR_JITTER_NONE);
  EXPECT_EQ(ParseRetry(R"("jitter": "FULL")").policy.backoff.jitter, GRPCR_JITTER_FULL);
  EXPECT_EQ(ParseRetry(R"("jitter": "EQUAL")").policy.backoff.jitter, GRPCR_JITTER_EQUAL);
  EXPECT_EQ(ParseRetry(R"("jitter": "DECORRELATED")").policy.backoff.jitter, GRPCR_JITTER_DECORRELATED);
}

TEST(ConfigTest, UnknownJitterNamesTheChoices) {
  EXPECT_EQ(RetryField(R"("jitter": "full")"),
            kRetry + "jitter error:unknown jitter \"full\": must be NONE, FULL, EQUAL or DECORRELATED");
  EXPECT_EQ(RetryField(R"("jitter": true)"), kRetry + "jitter error:is not a string");
}

TEST(ConfigTest, RetryableStatusCodesAreParsedAndDuplicatesAllowed) {
  Method m = ParseRetry(R"("retryableStatusCodes": ["INTERNAL", "UNAVAILABLE", "INTERNAL"])");
  ASSERT_EQ(m.rc, 0) << m.errors;
  EXPECT_EQ(m.policy.retryable_codes, GRPCR_CODE_BIT(kInternal) | GRPCR_CODE_BIT(kUnavailable));
}

TEST(ConfigTest, UnknownStatusCodeIsQuotedWithItsIndex) {
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": ["UNAVAILABLE", "UNAVAILBLE"])"),
            kRetry + "retryableStatusCodes[1] error:unknown status code \"UNAVAILBLE\"");
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": ["unavailable"])"),
            kRetry + "retryableStatusCodes[0] error:unknown status code \"unavailable\"");
}

TEST(ConfigTest, StatusCodesMustBeNames) {
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": [14])"), kRetry + "retryableStatusCodes[0] error:is not a string");
}

TEST(ConfigTest, OkIsNeverRetryable) {
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": ["OK"])"),
            kRetry + "retryableStatusCodes[0] error:OK cannot be retried: it is not a failure");
}

TEST(ConfigTest, RetryableStatusCodesMustNotBeEmpty) {
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": [])"), kRetry + "retryableStatusCodes error:must not be empty");
}

TEST(ConfigTest, EveryBadCodeInAListIsReported) {
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": ["X", 1, "OK", "UNAVAILABLE"])"),
            kRetry + "retryableStatusCodes[0] error:unknown status code \"X\"\n" +
            kRetry + "retryableStatusCodes[1] error:is not a string\n" +
            kRetry + "retryableStatusCodes[2] error:OK cannot be retried: it is not a failure");
}

TEST(ConfigTest, UnknownFieldsInEveryBlockAreErrors) {
  EXPECT_EQ(ParseChannel(R"({"retryBudgett": {}})").errors, "field:resilience.retryBudgett error:unknown field");
  EXPECT_EQ(BudgetField(R"("ratoi": 0.2)"), kBudget + "ratoi error:unknown field");
  EXPECT_EQ(BreakerField(R"("minimumCall": 5)"), kBreaker + "minimumCall error:unknown field");
  EXPECT_EQ(RetryField(R"("maxAttempt": 5)"), kRetry + "maxAttempt error:unknown field");
}

TEST(ConfigTest, FieldsOutsideResilienceBlocksAreNotChecked) {
  EXPECT_EQ(Validate(R"({"loadBalancingPolicy": "round_robin", "whatever": [1],
                         "methodConfig": [{"name": [{}], "timeout": "x", "unknown": 1}]})"),
            "");
}

TEST(ConfigTest, RetryPolicyAndResilienceCannotBeCombined) {
  EXPECT_EQ(Validate(R"({"methodConfig": [{"name": [{}]},
      {"retryPolicy": {"maxAttempts": 2}, "resilience": {"maxAttempts": 3}}]})"),
            "field:methodConfig[1].resilience error:cannot be combined with retryPolicy: a call must not be "
            "retried by two layers; remove one");
}

TEST(ConfigTest, RetryPolicyConflictIsReportedWithTheBlocksOwnErrors) {
  Method m = ParseMethod(R"({"resilience": {"maxAttempts": 0}, "retryPolicy": {}})", "methodConfig[4]");
  EXPECT_TRUE(m.has_policy);
  EXPECT_EQ(m.errors,
            "field:methodConfig[4].resilience error:cannot be combined with retryPolicy: a call must not be "
            "retried by two layers; remove one\n"
            "field:methodConfig[4].resilience.maxAttempts error:must be between 1 and 100");
}

TEST(ConfigTest, EmptyPathLeavesFieldNamesRelative) {
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 0}})", "").errors,
            "field:resilience.maxAttempts error:must be between 1 and 100");
  EXPECT_EQ(ParseMethod(R"({"resilience": {"maxAttempts": 0}})", nullptr).errors,
            "field:resilience.maxAttempts error:must be between 1 and 100");
}

TEST(ConfigTest, EveryErrorIsReportedAtOnce) {
  const char json[] = R"({
    "resilience": {"retryBudget": {"ratio": -1, "scope": "GLOBAL"}},
    "methodConfig": [{"resilience": {"maxAttempts": 2.5, "retryableStatusCodes": ["UNAVAILBLE"]}}]
  })";
  EXPECT_EQ(Validate(json),
            "field:resilience.retryBudget.ratio error:must be between 0 and 10\n"
            "field:resilience.retryBudget.scope error:unknown scope \"GLOBAL\": must be CHANNEL or TARGET\n"
            "field:methodConfig[0].resilience.maxAttempts error:must be an integer\n"
            "field:methodConfig[0].resilience.retryableStatusCodes[0] error:unknown status code \"UNAVAILBLE\"");
}

TEST(ConfigTest, ErrorsInSeveralMethodEntriesAreAllReported) {
  EXPECT_EQ(Validate(R"({"methodConfig": [{"resilience": {}}, {}, {"resilience": {"maxAttempts": 1, "x": 1}}]})"),
            "field:methodConfig[0].resilience.maxAttempts error:is required\n"
            "field:methodConfig[2].resilience.x error:unknown field");
}

TEST(ConfigTest, InvalidJsonGivesOneClearError) {
  EXPECT_EQ(Validate(R"({"resilience": {)"),
            "field: error:JSON parse error at 1:17: expected a string key or '}', found end of input");
  EXPECT_EQ(Validate("{\n  \"methodConfig\": [\n    {\"resilience\": {\"maxAttempts\": 0}}\n  ]\n  \"x\": 1\n}"),
            "field: error:JSON parse error at 5:3: expected ',' or '}', found '\"'");
}

TEST(ConfigTest, InvalidJsonInAMethodEntryIsReportedAtItsPath) {
  EXPECT_EQ(ParseMethod("{\"resilience\": }", "methodConfig[3]").errors,
            "field:methodConfig[3] error:JSON parse error at 1:16: expected a value, found '}'");
}

TEST(ConfigTest, DuplicateKeyIsAJsonError) {
  EXPECT_EQ(Validate(R"({"resilience": {}, "resilience": {}})"),
            "field: error:JSON parse error at 1:20: duplicate key \"resilience\"");
}

TEST(ConfigTest, TopLevelMustBeAnObject) {
  EXPECT_EQ(Validate("[]"), "field: error:is not an object");
  grpcr_channel_config cfg;
  grpcr_config_errors errs = {};
  EXPECT_EQ(grpcr_config_parse_channel("7", 1, &cfg, &errs), GRPCR_ECONFIG);
  EXPECT_EQ(Format(errs), "field: error:is not an object");
  grpcr_config_errors_free(&errs);
  EXPECT_EQ(ParseMethod("[]").errors, "field:methodConfig[0] error:is not an object");
}

TEST(ConfigTest, WrongBlockTypesAreNamed) {
  EXPECT_EQ(Validate(R"({"resilience": null})"), "field:resilience error:is not an object");
  EXPECT_EQ(Validate(R"({"resilience": {"retryBudget": [], "circuitBreaker": true}})"),
            "field:resilience.retryBudget error:is not an object\n"
            "field:resilience.circuitBreaker error:is not an object");
  EXPECT_EQ(Validate(R"({"methodConfig": {}})"), "field:methodConfig error:is not an array");
  EXPECT_EQ(Validate(R"({"methodConfig": [1, {"resilience": "x"}]})"),
            "field:methodConfig[0] error:is not an object\n"
            "field:methodConfig[1].resilience error:is not an object");
}

TEST(ConfigTest, UserTextInErrorsIsEscapedAndCut) {
  EXPECT_EQ(ParseChannel(R"({"a\nb\"c": 1})").errors, "field:resilience.a\\nb\"c error:unknown field");
  EXPECT_EQ(RetryField(R"("jitter": "a\"b\\c\u0001")"),
            kRetry + "jitter error:unknown jitter \"a\\\"b\\\\c\\u0001\": must be NONE, FULL, EQUAL or DECORRELATED");
  std::string longname(100, 'X');
  EXPECT_EQ(RetryField("\"retryableStatusCodes\": [\"" + longname + "\"]"),
            kRetry + "retryableStatusCodes[0] error:unknown status code \"" + std::string(64, 'X') + "...\"");
}

TEST(ConfigTest, NamesWithAnEmbeddedNulNeverMatch) {
  EXPECT_EQ(RetryField(R"("retryableStatusCodes": ["UNAVAILABLE\u0000x"])"),
            kRetry + "retryableStatusCodes[0] error:unknown status code \"UNAVAILABLE\\u0000x\"");
  EXPECT_EQ(RetryField(R"("initialBackoff": "1s\u0000x")"),
            kRetry + "initialBackoff error:invalid duration \"1s\\u0000x\": expected seconds with up to 9 "
                     "fractional digits and an \"s\" suffix, like \"0.1s\"");
}

TEST(ConfigTest, MalformedDurationExplainsTheForm) {
  EXPECT_EQ(BudgetField(R"("window": "10")"),
            kBudget + "window error:invalid duration \"10\": expected seconds with up to 9 fractional digits and an "
                      "\"s\" suffix, like \"0.1s\"");
  EXPECT_EQ(BudgetField(R"("window": "-1s")"),
            kBudget + "window error:invalid duration \"-1s\": expected seconds with up to 9 fractional digits and an "
                      "\"s\" suffix, like \"0.1s\"");
}

TEST(ConfigTest, DurationTooLargeForNanosecondsIsOutOfRange) {
  EXPECT_EQ(BudgetField(R"("window": "99999999999999999999s")"), kBudget + "window error:must be between 1s and 3600s");
}

TEST(ConfigTest, DurationsParseToNanoseconds) {
  int64_t ns = -1;
  EXPECT_EQ(grpcr_duration_parse("0.1s", &ns), 0);
  EXPECT_EQ(ns, 100 * kMs);
  EXPECT_EQ(grpcr_duration_parse("30s", &ns), 0);
  EXPECT_EQ(ns, 30 * kSec);
  EXPECT_EQ(grpcr_duration_parse("1.000000001s", &ns), 0);
  EXPECT_EQ(ns, kSec + 1);
  EXPECT_EQ(grpcr_duration_parse("0s", &ns), 0);
  EXPECT_EQ(ns, 0);
  EXPECT_EQ(grpcr_duration_parse("00.5s", &ns), 0);
  EXPECT_EQ(ns, 500 * kMs);
  EXPECT_EQ(grpcr_duration_parse("9223372036.854775807s", &ns), 0);
  EXPECT_EQ(ns, INT64_MAX);
}

TEST(ConfigTest, MalformedDurationsAreRejected) {
  const char *bad[] = {"s",   "1",     "-1s",  "1.0000000001s", "1.s", ".5s", " 1s", "1s ", "1S",
                       "+1s", "1e3s",  "1ms",  "",              "1,5s", "0x1s", "1.5.s", "1ss"};
  for (const char *s : bad) {
    int64_t ns = 42;
    EXPECT_EQ(grpcr_duration_parse(s, &ns), GRPCR_EINVAL) << s;
    EXPECT_EQ(ns, 42) << s;
  }
  int64_t ns;
  EXPECT_EQ(grpcr_duration_parse(nullptr, &ns), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_duration_parse("1s", nullptr), GRPCR_EINVAL);
}

TEST(ConfigTest, DurationOverflowIsRejected) {
  int64_t ns = 42;
  EXPECT_EQ(grpcr_duration_parse("9223372036.854775808s", &ns), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_duration_parse("9223372037s", &ns), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_duration_parse("99999999999999999999999999s", &ns), GRPCR_EINVAL);
  EXPECT_EQ(ns, 42);
}

TEST(ConfigTest, FormatJoinsLinesWithoutATrailingNewline) {
  EXPECT_EQ(Validate(R"({"resilience": {"a": 1, "b": 2}})"),
            "field:resilience.a error:unknown field\nfield:resilience.b error:unknown field");
}

TEST(ConfigTest, FormatOfAnEmptyListIsEmpty) {
  grpcr_config_errors errs = {};
  char *s = grpcr_config_errors_format(&errs);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(s, "");
  grpcr_free(s);
}

TEST(ConfigTest, ErrorsAreAppendedToTheCallersList) {
  grpcr_config_errors errs = {};
  const char a[] = R"({"resilience": {"x": 1}})";
  const char b[] = R"({"resilience": {"maxAttempts": 0}})";
  grpcr_retry_policy policy;
  bool has_policy;
  EXPECT_EQ(grpcr_config_validate(a, strlen(a), &errs), GRPCR_ECONFIG);
  EXPECT_EQ(grpcr_config_parse_method(b, strlen(b), "methodConfig[1]", &policy, &has_policy, &errs), GRPCR_ECONFIG);
  ASSERT_EQ(errs.count, 2u);
  EXPECT_STREQ(errs.items[0].field, "resilience.x");
  EXPECT_STREQ(errs.items[0].message, "unknown field");
  EXPECT_STREQ(errs.items[1].field, "methodConfig[1].resilience.maxAttempts");
  EXPECT_STREQ(errs.items[1].message, "must be between 1 and 100");
  // A valid config returns 0 even when the list already holds errors.
  EXPECT_EQ(grpcr_config_validate("{}", 2, &errs), 0);
  EXPECT_EQ(errs.count, 2u);
  grpcr_config_errors_free(&errs);
}

TEST(ConfigTest, ErrorsFreeIsSafeOnZeroedAndFreedLists) {
  grpcr_config_errors errs = {};
  grpcr_config_errors_free(&errs);
  const char a[] = R"({"resilience": {"x": 1}})";
  EXPECT_EQ(grpcr_config_validate(a, strlen(a), &errs), GRPCR_ECONFIG);
  grpcr_config_errors_free(&errs);
  EXPECT_EQ(errs.items, nullptr);
  EXPECT_EQ(errs.count, 0u);
  EXPECT_EQ(errs.cap, 0u);
  grpcr_config_errors_free(&errs);
  grpcr_config_errors_free(nullptr);
}

TEST(ConfigTest, NullArgumentsAreInvalid) {
  grpcr_config_errors errs = {};
  grpcr_channel_config cfg;
  grpcr_retry_policy policy;
  bool has_policy;
  EXPECT_EQ(grpcr_config_validate(nullptr, 1, &errs), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_config_validate("{}", 2, nullptr), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_config_parse_channel("{}", 2, nullptr, &errs), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_config_parse_channel("{}", 2, &cfg, nullptr), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_config_parse_method("{}", 2, "", nullptr, &has_policy, &errs), GRPCR_EINVAL);
  EXPECT_EQ(grpcr_config_parse_method("{}", 2, "", &policy, nullptr, &errs), GRPCR_EINVAL);
  EXPECT_EQ(errs.count, 0u);
}

// Truncations at every length and seeded random mutations of a full config
// go through all three entry points: each must return 0 or GRPCR_ECONFIG
// with a well-formed error list, never crash or leak (ASan/LSan builds).
TEST(ConfigTest, TruncatedAndMutatedConfigsNeverCrashOrLeak) {
  const std::string seeds[] = {
      kExample,
      R"({"resilience": {"retryBudget": {"ratio": -1, "window": "1.5s", "scope": "TARGET"},
          "circuitBreaker": {"tripOnStatusCodes": ["OK", "X", 3], "openDuration": "0.001s"}},
          "methodConfig": [{"retryPolicy": {}, "resilience": {"maxAttempts": 2.5,
          "initialBackoff": "20s", "jitter": "EQUAL", "zzz": null}}]})",
      R"({"resilience": {"hedging": {"maxAttempts": 3, "hedgingDelay": "0.5s", "maxExtraLoad": 0.05,
          "nonFatalStatusCodes": ["UNAVAILABLE", "OK", 4], "x": 1}, "jitter": "NONE"},
          "methodConfig": [{"resilience": {"hedging": {"maxAttempts": 2, "maxExtraLoad": 0.01}}}]})",
  };
  const char specials[] = "{}[],:\"\\0123456789.s-eE \x00\x80\xFF";
  std::mt19937_64 rng(7);
  int inputs = 0;
  auto feed = [&](const std::string &s) {
    char *buf = static_cast<char *>(malloc(s.size() ? s.size() : 1));
    if (!s.empty()) memcpy(buf, s.data(), s.size());
    grpcr_config_errors errs = {};
    grpcr_channel_config cfg;
    grpcr_retry_policy policy;
    bool has_policy;
    int rcs[3] = {
        grpcr_config_validate(buf, s.size(), &errs),
        grpcr_config_parse_channel(buf, s.size(), &cfg, &errs),
        grpcr_config_parse_method(buf, s.size(), "methodConfig[0]", &policy, &has_policy, &errs),
    };
    for (int rc : rcs) EXPECT_TRUE(rc == 0 || rc == GRPCR_ECONFIG) << rc;
    for (size_t i = 0; i < errs.count; i++) {
      ASSERT_NE(errs.items[i].field, nullptr);
      ASSERT_NE(errs.items[i].message, nullptr);
      EXPECT_EQ(strchr(errs.items[i].field, '\n'), nullptr);
      EXPECT_EQ(strchr(errs.items[i].message, '\n'), nullptr);
    }
    char *text = grpcr_config_errors_format(&errs);
    EXPECT_NE(text, nullptr);
    grpcr_free(text);
    grpcr_config_errors_free(&errs);
    free(buf);
    inputs++;
  };
  for (const std::string &seed : seeds) {
    feed(seed);
    for (size_t n = 0; n < seed.size(); n++) feed(seed.substr(0, n));
    for (int i = 0; i < 1500; i++) {
      std::string s = seed;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && !s.empty(); e++) {
        size_t pos = rng() % s.size();
        char c = specials[rng() % (sizeof specials - 1)];
        switch (rng() % 4) {
          case 0: s[pos] = c; break;
          case 1: s.insert(pos, 1, c); break;
          case 2: s.erase(pos, 1 + rng() % 6); break;
          case 3: s.insert(pos, s.substr(rng() % s.size(), rng() % 24)); break;
        }
      }
      feed(s);
    }
  }
  EXPECT_GT(inputs, 3000);
}

}  // namespace
