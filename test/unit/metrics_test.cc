// The metric catalog and its Prometheus renderer, against
// include/grpcr/metrics.h: the exact exposition of hand-built snapshots in
// text format 0.0.4 (OpenMetrics: metrics_openmetrics_test.cc; the
// per-method and gRFC A96 families: metrics_methods_test.cc).
#include "grpcr/metrics.h"

#include <gtest/gtest.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "metrics_test_util.h"

namespace {

// What every channel has, for channel="a",target="t" as Channel() fills it;
// the breaker and budget families, when present, come at the markers.
const char kWithoutBreakerOrBudget[] =
    R"(# HELP grpcr_requests_total Calls the application started on the channel.
# TYPE grpcr_requests_total counter
grpcr_requests_total{channel="a",target="t"} 5
# HELP grpcr_attempts_total Attempts sent to the transport (calls rejected by the breaker make none).
# TYPE grpcr_attempts_total counter
grpcr_attempts_total{channel="a",target="t"} 10
# HELP grpcr_retry_attempts_total Attempts by their number within the call; attempt="10+" counts the tenth and every later one.
# TYPE grpcr_retry_attempts_total counter
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
# HELP grpcr_retries_total Attempts after the first of a call.
# TYPE grpcr_retries_total counter
grpcr_retries_total{channel="a",target="t"} 5
# HELP grpcr_hedges_total Hedges started: attempts after the first of a hedged call (also in grpcr_retries_total).
# TYPE grpcr_hedges_total counter
grpcr_hedges_total{channel="a",target="t"} 1
# HELP grpcr_retry_budget_denied_total Retries the retry budget refused.
# TYPE grpcr_retry_budget_denied_total counter
grpcr_retry_budget_denied_total{channel="a",target="t"} 2
@BUDGET@# HELP grpcr_retries_stopped_by_breaker_total Retries not made because the circuit breaker admitted no further attempt of their call (OPEN, or HALF_OPEN and not the call's probe).
# TYPE grpcr_retries_stopped_by_breaker_total counter
grpcr_retries_stopped_by_breaker_total{channel="a",target="t"} 6
# HELP grpcr_retry_wait_duration_seconds Time waited before each retry.
# TYPE grpcr_retry_wait_duration_seconds histogram
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.001"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.0025"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.005"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.01"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.025"} 0
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.05"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.1"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.25"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="0.5"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="1"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="2.5"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="5"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="10"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="30"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="60"} 1
grpcr_retry_wait_duration_seconds_bucket{channel="a",target="t",le="+Inf"} 1
grpcr_retry_wait_duration_seconds_sum{channel="a",target="t"} 0.04
grpcr_retry_wait_duration_seconds_count{channel="a",target="t"} 1
@BREAKER_STATE@# HELP grpcr_circuit_breaker_rejected_calls_total Calls failed fast because the circuit breaker was open.
# TYPE grpcr_circuit_breaker_rejected_calls_total counter
grpcr_circuit_breaker_rejected_calls_total{channel="a",target="t"} 3
# HELP grpcr_circuit_breaker_throttled_calls_total Calls failed fast by adaptive throttling (the breaker CLOSED).
# TYPE grpcr_circuit_breaker_throttled_calls_total counter
grpcr_circuit_breaker_throttled_calls_total{channel="a",target="t"} 11
@BREAKER_COUNTS@# HELP grpcr_local_errors_total Calls whose request broke a local limit (max send size): never retried, not seen by the circuit breaker.
# TYPE grpcr_local_errors_total counter
grpcr_local_errors_total{channel="a",target="t"} 7
# HELP grpcr_committed_too_large_total Calls whose request exceeded the per-RPC retry buffer: sent once.
# TYPE grpcr_committed_too_large_total counter
grpcr_committed_too_large_total{channel="a",target="t"} 8
# HELP grpcr_config_updates_total Service-config changes applied to the channel's policy.
# TYPE grpcr_config_updates_total counter
grpcr_config_updates_total{channel="a",target="t"} 9
# HELP grpcr_calls_total Calls by final status code (one per call, not per attempt).
# TYPE grpcr_calls_total counter
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
)";

const char kBudget[] =
    R"(# HELP grpcr_retry_budget_utilization Retries spent over retries allowed in the budget's window (0..1).
# TYPE grpcr_retry_budget_utilization gauge
grpcr_retry_budget_utilization{channel="a",target="t"} 0.25
# HELP grpcr_retry_budget_window_requests Requests counted in the retry budget's current window.
# TYPE grpcr_retry_budget_window_requests gauge
grpcr_retry_budget_window_requests{channel="a",target="t"} 8
# HELP grpcr_retry_budget_window_retries Retries spent in the retry budget's current window.
# TYPE grpcr_retry_budget_window_retries gauge
grpcr_retry_budget_window_retries{channel="a",target="t"} 1
# HELP grpcr_retry_budget_window_allowed Retries the retry budget's current window allows.
# TYPE grpcr_retry_budget_window_allowed gauge
grpcr_retry_budget_window_allowed{channel="a",target="t"} 4
)";

const char kBreakerState[] =
    R"(# HELP grpcr_circuit_breaker_state Circuit breaker state: 0 closed, 1 open, 2 half-open.
# TYPE grpcr_circuit_breaker_state gauge
grpcr_circuit_breaker_state{channel="a",target="t"} 1
# HELP grpcr_circuit_breaker_time_in_state_seconds Seconds since the circuit breaker entered its current state.
# TYPE grpcr_circuit_breaker_time_in_state_seconds gauge
grpcr_circuit_breaker_time_in_state_seconds{channel="a",target="t"} 4
# HELP grpcr_circuit_breaker_open_duration_seconds The configured time the circuit breaker stays open.
# TYPE grpcr_circuit_breaker_open_duration_seconds gauge
grpcr_circuit_breaker_open_duration_seconds{channel="a",target="t"} 30
# HELP grpcr_circuit_breaker_open_period_seconds The open period in force (or the last one): openDuration grown by each reopening, shortened by the jitter.
# TYPE grpcr_circuit_breaker_open_period_seconds gauge
grpcr_circuit_breaker_open_period_seconds{channel="a",target="t"} 25
# HELP grpcr_circuit_breaker_open_seconds_total Seconds the circuit breaker has spent open, including now.
# TYPE grpcr_circuit_breaker_open_seconds_total counter
grpcr_circuit_breaker_open_seconds_total{channel="a",target="t"} 4
)";

const char kBreakerCounts[] =
    R"(# HELP grpcr_circuit_breaker_throttle_probability The probability that a call starting now is throttled (0..1): max(0, (requests - k * accepts) / (requests + 1)).
# TYPE grpcr_circuit_breaker_throttle_probability gauge
grpcr_circuit_breaker_throttle_probability{channel="a",target="t"} 0.25
# HELP grpcr_circuit_breaker_throttle_window_requests Calls counted in adaptive throttling's window (verdicts, deadlines at the server, throttled calls).
# TYPE grpcr_circuit_breaker_throttle_window_requests gauge
grpcr_circuit_breaker_throttle_window_requests{channel="a",target="t"} 12
# HELP grpcr_circuit_breaker_throttle_window_accepts Of those, calls the dependency answered with a success verdict.
# TYPE grpcr_circuit_breaker_throttle_window_accepts gauge
grpcr_circuit_breaker_throttle_window_accepts{channel="a",target="t"} 4
# HELP grpcr_circuit_breaker_transitions_total Circuit breaker state changes.
# TYPE grpcr_circuit_breaker_transitions_total counter
grpcr_circuit_breaker_transitions_total{channel="a",target="t"} 1
# HELP grpcr_circuit_breaker_opened_total Circuit breaker transitions into open.
# TYPE grpcr_circuit_breaker_opened_total counter
grpcr_circuit_breaker_opened_total{channel="a",target="t"} 1
# HELP grpcr_circuit_breaker_window_calls Finished calls in the circuit breaker's current window.
# TYPE grpcr_circuit_breaker_window_calls gauge
grpcr_circuit_breaker_window_calls{channel="a",target="t"} 2
# HELP grpcr_circuit_breaker_window_failures Failed calls in the circuit breaker's current window.
# TYPE grpcr_circuit_breaker_window_failures gauge
grpcr_circuit_breaker_window_failures{channel="a",target="t"} 1
# HELP grpcr_circuit_breaker_window_slow_calls Slow calls (slowCallDurationThreshold) in the circuit breaker's current window.
# TYPE grpcr_circuit_breaker_window_slow_calls gauge
grpcr_circuit_breaker_window_slow_calls{channel="a",target="t"} 2
# HELP grpcr_circuit_breaker_failure_rate Failures over calls in the circuit breaker's current window (0..1; 0 without calls): it opens at failureRateThreshold.
# TYPE grpcr_circuit_breaker_failure_rate gauge
grpcr_circuit_breaker_failure_rate{channel="a",target="t"} 0.5
# HELP grpcr_circuit_breaker_slow_call_rate Slow calls over calls in the circuit breaker's current window (0..1; 0 without calls): it opens at slowCallRateThreshold.
# TYPE grpcr_circuit_breaker_slow_call_rate gauge
grpcr_circuit_breaker_slow_call_rate{channel="a",target="t"} 1
# HELP grpcr_circuit_breaker_slow_calls_total Slow calls over the circuit breaker's life.
# TYPE grpcr_circuit_breaker_slow_calls_total counter
grpcr_circuit_breaker_slow_calls_total{channel="a",target="t"} 5
# HELP grpcr_circuit_breaker_no_verdict_total Admitted calls that gave the circuit breaker no verdict (cancelled, out of time on the client, dropped before their status).
# TYPE grpcr_circuit_breaker_no_verdict_total counter
grpcr_circuit_breaker_no_verdict_total{channel="a",target="t"} 1
# HELP grpcr_circuit_breaker_probes_freed_total Half-open probes that ended without a verdict and freed their slot.
# TYPE grpcr_circuit_breaker_probes_freed_total counter
grpcr_circuit_breaker_probes_freed_total{channel="a",target="t"} 2
# HELP grpcr_circuit_breaker_probes_expired_total Half-open probes that held their slot for probeTimeout and lost it.
# TYPE grpcr_circuit_breaker_probes_expired_total counter
grpcr_circuit_breaker_probes_expired_total{channel="a",target="t"} 3
# HELP grpcr_circuit_breaker_probes_in_flight Half-open probe slots held now.
# TYPE grpcr_circuit_breaker_probes_in_flight gauge
grpcr_circuit_breaker_probes_in_flight{channel="a",target="t"} 4
)";

// kWithoutBreakerOrBudget with the markers replaced.
std::string Expected(bool breaker, bool budget) {
  std::string s = kWithoutBreakerOrBudget;
  auto put = [&s](const std::string& marker, const char* text) {
    size_t at = s.find(marker);
    s.replace(at, marker.size(), text);
  };
  put("@BUDGET@", budget ? kBudget : "");
  put("@BREAKER_STATE@", breaker ? kBreakerState : "");
  put("@BREAKER_COUNTS@", breaker ? kBreakerCounts : "");
  return s;
}

TEST(MetricsTest, ChannelWithoutBreakerOrBudgetHasExactlyItsOwnFamilies) {
  EXPECT_EQ(Expected(false, false), Render({Channel("a", "t")}));
}

TEST(MetricsTest, ChannelWithBreakerAndBudgetAddsTheirFamiliesInPlace) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  AddBudget(&s);
  EXPECT_EQ(Expected(true, true), Render({s}));
}

TEST(MetricsTest, BreakerFamiliesOnlyForTheChannelsThatHaveABreaker) {
  grpcr_channel_snapshot with = Channel("with", "t");
  AddBreaker(&with);
  std::string m = Render({Channel("without", "t"), with});
  EXPECT_EQ(std::vector<std::string>{
                "grpcr_circuit_breaker_state{channel=\"with\",target=\"t\"} 1"},
            LinesStarting(m, "grpcr_circuit_breaker_state{"));
  EXPECT_EQ(
      std::vector<std::string>{
          "grpcr_circuit_breaker_probes_in_flight{channel=\"with\",target=\"t\"} 4"},
      LinesStarting(m, "grpcr_circuit_breaker_probes_in_flight{"));
  // The channel's own count of breaker rejections is every channel's.
  EXPECT_EQ(
      (std::vector<std::string>{
          "grpcr_circuit_breaker_rejected_calls_total{channel=\"without\",target=\"t\"} 3",
          "grpcr_circuit_breaker_rejected_calls_total{channel=\"with\",target=\"t\"} 3"}),
      LinesStarting(m, "grpcr_circuit_breaker_rejected_calls_total{"));
  // HELP and TYPE once per family, whichever channels have it.
  EXPECT_EQ(1u, LinesStarting(m, "# TYPE grpcr_circuit_breaker_state ").size());
  EXPECT_EQ(1u, LinesStarting(m, "# TYPE grpcr_requests_total ").size());
  EXPECT_TRUE(LinesStarting(m, "# HELP grpcr_retry_budget_").size() == 1u)
      << "only the budget-denied counter, which every channel has";
}

TEST(MetricsTest, BreakerStateGaugeIsZeroClosedOneOpenTwoHalfOpen) {
  const std::pair<grpcr_breaker_state, const char*> cases[] = {
      {GRPCR_BREAKER_CLOSED, "0"},
      {GRPCR_BREAKER_OPEN, "1"},
      {GRPCR_BREAKER_HALF_OPEN, "2"},
      {static_cast<grpcr_breaker_state>(3), "0"}};
  for (const auto& [state, want] : cases) {
    grpcr_channel_snapshot s = Channel("a", "t");
    AddBreaker(&s);
    s.breaker.state = state;
    EXPECT_EQ(std::vector<std::string>{
                  std::string("grpcr_circuit_breaker_state{channel=\"a\","
                              "target=\"t\"} ") + want},
              LinesStarting(Render({s}), "grpcr_circuit_breaker_state{"))
        << state;
  }
}

TEST(MetricsTest, LabelValuesEscapeBackslashQuoteNewlineAndInvalidUtf8) {
  std::string m = Render({Channel("p\"r\\o\nm\t\xc3\xa9\xff", "x\"\\\n")});
  // Tab and valid UTF-8 pass as they are; the stray 0xff byte is U+FFFD.
  EXPECT_EQ(std::vector<std::string>{
                "grpcr_requests_total{channel=\"p\\\"r\\\\o\\nm\t\xc3\xa9"
                "\xef\xbf\xbd\",target=\"x\\\"\\\\\\n\"} 5"},
            LinesStarting(m, "grpcr_requests_total{"));
}

// The suffix is the channel's instance, fixed at its creation, not its
// position in the snapshot: the same channel keeps its series whatever
// other channels come and go.
TEST(MetricsTest, ChannelsWithTheSameNameAndTargetAreLabelledByInstance) {
  auto with = [](grpcr_channel_snapshot s, uint32_t instance) {
    s.instance = instance;
    return s;
  };
  std::string m = Render({with(Channel("twin", "same"), 3),
                          with(Channel("twin", "other"), 1),
                          with(Channel("twin", "same"), 1),
                          with(Channel("twin", "same"), 0)});
  EXPECT_EQ((std::vector<std::string>{
                "grpcr_requests_total{channel=\"twin#3\",target=\"same\"} 5",
                "grpcr_requests_total{channel=\"twin\",target=\"other\"} 5",
                "grpcr_requests_total{channel=\"twin\",target=\"same\"} 5",
                "grpcr_requests_total{channel=\"twin\",target=\"same\"} 5"}),
            LinesStarting(m, "grpcr_requests_total{"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInfEqualsCount) {
  grpcr_channel_snapshot s = Channel("a", "t");
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++)
    s.retry_wait_buckets[i] = i + 1;
  s.retry_wait_count = GRPCR_STATS_WAIT_BUCKETS * (GRPCR_STATS_WAIT_BUCKETS + 1) / 2;
  s.retry_wait_sum_s = 1234.5;
  std::string m = Render({s});
  std::vector<std::string> buckets =
      LinesStarting(m, "grpcr_retry_wait_duration_seconds_bucket{");
  ASSERT_EQ(static_cast<size_t>(GRPCR_STATS_WAIT_BUCKETS), buckets.size());
  uint64_t cumulative = 0;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) {
    cumulative += i + 1;
    const std::string& line = buckets[i];
    EXPECT_EQ(std::to_string(cumulative), line.substr(line.rfind(' ') + 1))
        << line;
  }
  EXPECT_EQ("grpcr_retry_wait_duration_seconds_bucket{channel=\"a\",target="
            "\"t\",le=\"+Inf\"} 136",
            buckets.back());
  EXPECT_EQ(std::vector<std::string>{
                "grpcr_retry_wait_duration_seconds_count{channel=\"a\","
                "target=\"t\"} 136"},
            LinesStarting(m, "grpcr_retry_wait_duration_seconds_count{"));
  EXPECT_EQ(std::vector<std::string>{
                "grpcr_retry_wait_duration_seconds_sum{channel=\"a\","
                "target=\"t\"} 1234.5"},
            LinesStarting(m, "grpcr_retry_wait_duration_seconds_sum{"));
}

TEST(MetricsTest, NumbersAreTheShortestThatReadBackExactly) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  AddBudget(&s);
  s.breaker.time_in_state_ns = 1 * kSec + 1;         // 1.000000001
  s.breaker.open_duration_ns = 90 * kSec;            // 90, not 9e+01
  s.breaker.open_ns_total = 45LL * 86400 * kSec + 7;  // 3888000.000000007
  s.budget.utilisation = 0.1;
  s.budget.allowed_in_window = 1e20;
  std::string m = Render({s});
  const std::pair<const char*, const char*> cases[] = {
      {"grpcr_circuit_breaker_time_in_state_seconds{", "1.000000001"},
      {"grpcr_circuit_breaker_open_duration_seconds{", "90"},
      {"grpcr_circuit_breaker_open_seconds_total{", "3888000.000000007"},
      {"grpcr_retry_budget_utilization{", "0.1"},
      {"grpcr_retry_budget_window_allowed{", "1e+20"}};
  for (const auto& [prefix, want] : cases) {
    std::vector<std::string> lines = LinesStarting(m, prefix);
    ASSERT_EQ(1u, lines.size()) << prefix;
    EXPECT_EQ(want, lines[0].substr(lines[0].rfind(' ') + 1)) << prefix;
  }
}

TEST(MetricsTest, NumbersUseADotWhateverTheLocale) {
  std::string saved = std::setlocale(LC_NUMERIC, nullptr);
  if (!std::setlocale(LC_NUMERIC, "de_DE.UTF-8") &&
      !std::setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
    GTEST_SKIP() << "no locale with a ',' decimal separator installed";
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBudget(&s);
  std::string m = Render({s});
  std::setlocale(LC_NUMERIC, saved.c_str());
  EXPECT_EQ(std::vector<std::string>{
                "grpcr_retry_budget_utilization{channel=\"a\",target=\"t\"} "
                "0.25"},
            LinesStarting(m, "grpcr_retry_budget_utilization{"));
}

TEST(MetricsTest, NoChannelsIsAnEmptyExposition) {
  EXPECT_EQ("", Render({}));
}

TEST(MetricsTest, StreamAndBufferWriteTheSameText) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  EXPECT_EQ(Render({s}), Streamed(grpcr_metrics_write_prometheus, s));
}

TEST(MetricsTest, CatalogListsTheFamiliesInRenderOrder) {
  size_t n = grpcr_metrics_family_count();
  ASSERT_EQ(53u, n);
  EXPECT_EQ(nullptr, grpcr_metrics_family(n));
  EXPECT_STREQ("grpcr_requests_total", grpcr_metrics_family(0)->name);
  EXPECT_STREQ("grpc_client_call_hedges", grpcr_metrics_family(n - 1)->name);
  // Every family's HELP and TYPE, in catalog order, for a channel that has
  // them all.
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  AddBudget(&s);
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  std::vector<std::string> types = LinesStarting(Render({s}), "# TYPE ");
  ASSERT_EQ(n, types.size());
  std::set<std::string> names;
  for (size_t i = 0; i < n; i++) {
    const grpcr_metric_info* f = grpcr_metrics_family(i);
    ASSERT_NE(nullptr, f);
    EXPECT_TRUE(names.insert(f->name).second) << f->name;
    EXPECT_EQ(std::string("# TYPE ") + f->name + " " +
                  grpcr_metric_type_name(f->type),
              types[i]);
    EXPECT_EQ(nullptr, std::strchr(f->help, '\n')) << f->name;
  }
}

TEST(MetricsTest, TypeNamesAreTheExpositionsWords) {
  EXPECT_STREQ("counter", grpcr_metric_type_name(GRPCR_METRIC_COUNTER));
  EXPECT_STREQ("gauge", grpcr_metric_type_name(GRPCR_METRIC_GAUGE));
  EXPECT_STREQ("histogram", grpcr_metric_type_name(GRPCR_METRIC_HISTOGRAM));
  EXPECT_EQ(nullptr,
            grpcr_metric_type_name(static_cast<grpcr_metric_type>(3)));
}

}  // namespace
