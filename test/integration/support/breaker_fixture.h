// The breaker suites' shared fixture: a scripted server, a channel with a
// validated config and a unique name, and helpers that fail calls and read
// the breaker.
#ifndef GRPCR_TEST_INTEGRATION_SUPPORT_BREAKER_FIXTURE_H
#define GRPCR_TEST_INTEGRATION_SUPPORT_BREAKER_FIXTURE_H

#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include <cstdint>
#include <string>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace grpcr_test {

inline constexpr char kOtherMethod[] = "/echo.Echo/Other";  // no retry policy
inline constexpr char kWatchMethod[] = "/echo.Echo/Watch";  // no retry policy

inline void* Tag(intptr_t t) { return reinterpret_cast<void*>(t); }

inline gpr_timespec In(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

inline bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// The default retry policy on Say with this top-level block.
inline RetrySpec TopLevel(const std::string& top_level) {
  RetrySpec spec;
  spec.top_level = top_level;
  return spec;
}

// {"circuitBreaker": {...}} members for RetrySpec::top_level.
inline std::string Breaker(int minimum_calls, const std::string& open_duration,
                    const std::string& extra = "") {
  return "\"circuitBreaker\": {\"failureRateThreshold\": 0.5, "
         "\"minimumCalls\": " +
         std::to_string(minimum_calls) + ", \"openDuration\": \"" +
         open_duration + "\", \"halfOpenMaxCalls\": 1" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

class BreakerFixture : public ::testing::Test {
 protected:
  ChannelPtr Channel(const std::string& config, std::vector<grpc_arg> extra = {}) {
    config_ = config;
    char* errors = nullptr;
    EXPECT_EQ(grpcr_validate_service_config(config_.c_str(), &errors), 0)
        << config_ << "\n" << (errors != nullptr ? errors : "");
    if (errors != nullptr) grpcr_free(errors);
    name_ = UniqueName();
    extra.push_back(StringArg(GRPCR_ARG_NAME, name_.c_str()));
    return ChannelPtr(MakeChannel(server_.address(), config_, extra));
  }
  ChannelPtr Channel(const RetrySpec& spec, std::vector<grpc_arg> extra = {}) {
    return Channel(ServiceConfig(spec), std::move(extra));
  }

  // n pass-through calls that the server fails UNAVAILABLE; then the server
  // answers OK again.
  void FailCalls(grpc_channel* ch, int n) {
    server_.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE, "down"));
    for (int i = 0; i < n; i++) {
      EXPECT_EQ(GRPC_STATUS_UNAVAILABLE,
                UnaryCall(ch, kOtherMethod, "x", 5000).status);
    }
    server_.SetDefault(Reply());
  }

  // The server holds every call it gets (watch_only: only kWatchMethod's),
  // after sending response headers first if headers_first.
  void HoldCalls(bool watch_only, bool headers_first = false) {
    server_.SetHandler([watch_only, headers_first](const Arrival& a, int) {
      Reply r;
      if (!watch_only || a.method == kWatchMethod) {
        r.hold = true;
        r.initial_metadata_first = headers_first;
      }
      return r;
    });
  }

  // A half-open probe that started at probe_start and holds its slot: a
  // call now is rejected "(half-open)"; once the 0.5 s probeTimeout is over
  // a call probes, succeeds and closes the breaker, the slot counted as
  // expired.
  void ExpectProbeSlotExpires(grpc_channel* ch, int64_t probe_start) {
    CallResult early = UnaryCall(ch, kSayMethod, "early", 5000);
    EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, early.status);
    EXPECT_TRUE(StartsWith(early.details, "circuit breaker open (half-open)"))
        << early.details;
    SleepMs(static_cast<int>(600 - (NowNs() - probe_start) / 1000000));
    CallResult late = UnaryCall(ch, kSayMethod, "late", 5000);
    EXPECT_EQ(GRPC_STATUS_OK, late.status) << late.details;
    grpcr_breaker_snapshot b = BreakerNow();
    EXPECT_EQ(GRPCR_BREAKER_CLOSED, b.state);
    EXPECT_EQ(1u, b.probes_expired_total);
  }

  grpcr_breaker_snapshot BreakerNow() {
    grpcr_channel_snapshot s = StatsFor(name_);
    EXPECT_TRUE(s.has_breaker);
    return s.breaker;
  }

  ScriptedServer server_;
  std::string config_;
  std::string name_;
};

}  // namespace grpcr_test

#endif  // GRPCR_TEST_INTEGRATION_SUPPORT_BREAKER_FIXTURE_H
