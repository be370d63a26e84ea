// The OpenMetrics 1.0.0 renderer (include/grpcr/metrics.h): the exact
// text of hand-built snapshots, and what it shares with text format 0.0.4.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "grpcr/metrics.h"
#include "metrics_test_util.h"

namespace {

std::string RenderOpenMetrics(const std::vector<grpcr_channel_snapshot>& snaps) {
  char* out = nullptr;
  size_t len = 0;
  EXPECT_EQ(GRPCR_OK, grpcr_metrics_openmetrics_text(snaps.data(),
                                                     snaps.size(), &out, &len));
  std::string s(out, len);
  EXPECT_EQ(std::strlen(out), len);
  grpcr_free(out);
  return s;
}

// Channel("a", "t") as OpenMetrics: the same samples as
// kWithoutBreakerOrBudget, but TYPE before HELP, counters' families without
// _total, UNIT for the seconds family, a quote in HELP escaped, canonical le
// values, and # EOF.
const char kOpenMetricsWithoutBreakerOrBudget[] =
    R"(# TYPE grpcr_requests counter
# HELP grpcr_requests Calls the application started on the channel.
grpcr_requests_total{channel="a",target="t"} 5
# TYPE grpcr_attempts counter
# HELP grpcr_attempts Attempts sent to the transport (calls rejected by the breaker make none).
grpcr_attempts_total{channel="a",target="t"} 10
# TYPE grpcr_retry_attempts counter
# HELP grpcr_retry_attempts Attempts by their number within the call; attempt=\"10+\" counts the tenth and every later one.
grpcr_retry_attempts_total{channel="a",target="t",attempt="1"} 5
grpcr_retry_attempts_total{channel="a",target="t",attempt="2"} 1
grpcr_retry_attempts_total{channel="a",target="t",attempt="3"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="4"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="5"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="6"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="7"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="8"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="9"} 0
grpcr_retry_attempts_total{channel="a",target="t",attempt="10+"} 4
# TYPE grpcr_retries counter
# HELP grpcr_retries Attempts after the first of a call.
grpcr_retries_total{channel="a",target="t"} 5
# TYPE grpcr_hedges counter
# HELP grpcr_hedges Hedges started: attempts after the first of a hedged call (also in grpcr_retries_total).
grpcr_hedges_total{channel="a",target="t"} 1
# TYPE grpcr_retry_budget_denied counter
# HELP grpcr_retry_budget_denied Retries the retry budget refused.
grpcr_retry_budget_denied_total{channel="a",target="t"} 2
# TYPE grpcr_retries_stopped_by_breaker counter
# HELP grpcr_retries_stopped_by_breaker Retries not made because the circuit breaker admitted no further attempt of their call (OPEN, or HALF_OPEN and not the call's probe).
grpcr_retries_stopped_by_breaker_total{channel="a",target="t"} 6
# TYPE grpcr_retry_wait_duration_seconds histogram
# UNIT grpcr_retry_wait_duration_seconds seconds
# HELP grpcr_retry_wait_duration_seconds Time waited before each retry.
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.001"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.0025"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.005"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.01"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.025"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.05"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.1"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.25"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.5"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="1.0"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="2.5"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="5.0"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="10.0"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="30.0"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="60.0"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="+Inf"} 1
grpcr_retry_wait_duration_seconds_sum{channel="a",target="t"} 0.04
grpcr_retry_wait_duration_seconds_count{channel="a",target="t"} 1
# TYPE grpcr_circuit_breaker_rejected_calls counter
# HELP grpcr_circuit_breaker_rejected_calls Calls failed fast because the circuit breaker was open.
grpcr_circuit_breaker_rejected_calls_total{channel="a",target="t"} 3
# TYPE grpcr_circuit_breaker_throttled_calls counter
# HELP grpcr_circuit_breaker_throttled_calls Calls failed fast by adaptive throttling (the breaker CLOSED).
grpcr_circuit_breaker_throttled_calls_total{channel="a",target="t"} 11
# TYPE grpcr_local_errors counter
# HELP grpcr_local_errors Calls whose request broke a local limit (max send size): never retried, not seen by the circuit breaker.
grpcr_local_errors_total{channel="a",target="t"} 7
# TYPE grpcr_committed_too_large counter
# HELP grpcr_committed_too_large Calls whose request exceeded the per-RPC retry buffer: sent once.
grpcr_committed_too_large_total{channel="a",target="t"} 8
# TYPE grpcr_config_updates counter
# HELP grpcr_config_updates Service-config changes applied to the channel's policy.
grpcr_config_updates_total{channel="a",target="t"} 9
# TYPE grpcr_calls counter
# HELP grpcr_calls Calls by final status code (one per call, not per attempt).
grpcr_calls_total{channel="a",target="t",code="OK"} 4
grpcr_calls_total{channel="a",target="t",code="CANCELLED"} 0
grpcr_calls_total{channel="a",target="t",code="UNKNOWN"} 0
grpcr_calls_total{channel="a",target="t",code="INVALID_ARGUMENT"} 0
grpcr_calls_total{channel="a",target="t",code="DEADLINE_EXCEEDED"} 0
grpcr_calls_total{channel="a",target="t",code="NOT_FOUND"} 0
grpcr_calls_total{channel="a",target="t",code="ALREADY_EXISTS"} 0
grpcr_calls_total{channel="a",target="t",code="PERMISSION_DENIED"} 0
grpcr_calls_total{channel="a",target="t",code="RESOURCE_EXHAUSTED"} 0
grpcr_calls_total{channel="a",target="t",code="FAILED_PRECONDITION"} 0
grpcr_calls_total{channel="a",target="t",code="ABORTED"} 0
grpcr_calls_total{channel="a",target="t",code="OUT_OF_RANGE"} 0
grpcr_calls_total{channel="a",target="t",code="UNIMPLEMENTED"} 0
grpcr_calls_total{channel="a",target="t",code="INTERNAL"} 0
grpcr_calls_total{channel="a",target="t",code="UNAVAILABLE"} 1
grpcr_calls_total{channel="a",target="t",code="DATA_LOSS"} 0
grpcr_calls_total{channel="a",target="t",code="UNAUTHENTICATED"} 0
# EOF
)";

// The lines of text that do not start with '#'.
std::vector<std::string> Samples(const std::string& text) {
  std::vector<std::string> all = LinesStarting(text, "");
  std::vector<std::string> out;
  for (const std::string& line : all)
    if (line.empty() || line[0] != '#') out.push_back(line);
  return out;
}

TEST(MetricsOpenMetricsTest, SmallSnapshotIsExactlyTheExpectedText) {
  EXPECT_EQ(kOpenMetricsWithoutBreakerOrBudget,
            RenderOpenMetrics({Channel("a", "t")}));
}

TEST(MetricsOpenMetricsTest, BreakerSecondsFamiliesHaveAUnitAndCountersNoTotal) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  std::string m = RenderOpenMetrics({s});
  const char kBreakerOpenSeconds[] =
      "# TYPE grpcr_circuit_breaker_open_seconds counter\n"
      "# UNIT grpcr_circuit_breaker_open_seconds seconds\n"
      "# HELP grpcr_circuit_breaker_open_seconds Seconds the circuit breaker "
      "has spent open, including now.\n"
      "grpcr_circuit_breaker_open_seconds_total{channel=\"a\",target=\"t\"} 4\n";
  EXPECT_NE(std::string::npos, m.find(kBreakerOpenSeconds)) << m;
  const char kTimeInState[] =
      "# TYPE grpcr_circuit_breaker_time_in_state_seconds gauge\n"
      "# UNIT grpcr_circuit_breaker_time_in_state_seconds seconds\n";
  EXPECT_NE(std::string::npos, m.find(kTimeInState)) << m;
  EXPECT_EQ(5u, LinesStarting(m, "# UNIT ").size());
}

// Every sample line is the text format's, le values aside.
TEST(MetricsOpenMetricsTest, SamplesAreTheTextFormatsExceptCanonicalLe) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  AddBudget(&s);
  std::vector<std::string> text = Samples(Render({s}));
  std::vector<std::string> om = Samples(RenderOpenMetrics({s}));
  ASSERT_EQ(text.size(), om.size());
  size_t differ = 0;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == om[i]) continue;
    differ++;
    EXPECT_EQ(0u, om[i].find("grpcr_retry_wait_duration_seconds_bucket{"))
        << om[i];
  }
  EXPECT_EQ(5u, differ) << "le=1, 5, 10, 30 and 60 gain .0";
}

TEST(MetricsOpenMetricsTest, EveryFamilyInCatalogOrderWithItsOpenMetricsName) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  AddBudget(&s);
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  std::vector<std::string> types =
      LinesStarting(RenderOpenMetrics({s}), "# TYPE ");
  const size_t n = grpcr_metrics_family_count();
  ASSERT_EQ(n, types.size());
  for (size_t i = 0; i < n; i++) {
    const grpcr_metric_info* f = grpcr_metrics_family(i);
    std::string family = f->name;
    if (f->type == GRPCR_METRIC_COUNTER) {
      // A counter's sample must end in _total for OpenMetrics.
      ASSERT_GT(family.size(), 6u);
      ASSERT_EQ("_total", family.substr(family.size() - 6)) << f->name;
      family.resize(family.size() - 6);
    }
    EXPECT_EQ("# TYPE " + family + " " + grpcr_metric_type_name(f->type),
              types[i]);
  }
}

TEST(MetricsOpenMetricsTest, NoChannelsIsJustEof) {
  EXPECT_EQ("# EOF\n", RenderOpenMetrics({}));
}

TEST(MetricsOpenMetricsTest, StreamAndBufferWriteTheSameText) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBudget(&s);
  EXPECT_EQ(RenderOpenMetrics({s}), Streamed(grpcr_metrics_write_openmetrics, s));
}

TEST(MetricsOpenMetricsTest, ContentTypesAreTheFormatsOwn) {
  EXPECT_STREQ("text/plain; version=0.0.4; charset=utf-8",
               GRPCR_METRICS_PROMETHEUS_CONTENT_TYPE);
  EXPECT_STREQ("application/openmetrics-text; version=1.0.0; charset=utf-8",
               GRPCR_METRICS_OPENMETRICS_CONTENT_TYPE);
}

}  // namespace
