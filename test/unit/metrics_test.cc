// The metric catalog and its Prometheus renderer, against
// include/grpcr/metrics.h: the exact exposition of hand-built snapshots.
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

namespace {

constexpr int64_t kSec = 1000000000;

// A channel with every counter of its own set; no breaker, no budget.
grpcr_channel_snapshot Channel(const char* name, const char* target) {
  grpcr_channel_snapshot s;
  std::memset(&s, 0, sizeof(s));
  s.name = const_cast<char*>(name);
  s.target = const_cast<char*>(target);
  s.requests = 5;
  s.attempts = 10;
  s.retries = 5;
  s.budget_denied = 2;
  s.breaker_stopped_retries = 6;
  s.breaker_rejected = 3;
  s.throttled = 11;
  s.finished = 5;
  s.attempts_by_number[0] = 5;
  s.attempts_by_number[1] = 1;
  s.attempts_by_number[GRPCR_STATS_ATTEMPT_SLOTS - 1] = 4;
  s.retry_wait_buckets[5] = 1;  // <= 0.05 s
  s.retry_wait_count = 1;
  s.retry_wait_sum_s = 0.04;
  s.status_counts[GRPCR_STATUS_OK] = 4;
  s.status_counts[GRPCR_STATUS_UNAVAILABLE] = 1;
  s.local_errors = 7;
  s.committed_too_large = 8;
  s.config_updates = 9;
  return s;
}

// Two methods: Say (3 calls, one retried twice with 15 ms of backoff, one
// failed) and other (1 call). The array must outlive the snapshot.
void AddMethods(grpcr_channel_snapshot* s, grpcr_method_snapshot (&m)[2]) {
  std::memset(m, 0, sizeof(m));
  m[0].method = const_cast<char*>("/echo.Echo/Say");
  m[0].requests = 3;
  m[0].attempts = 5;
  m[0].retries = 2;
  m[0].status_counts[GRPCR_STATUS_OK] = 2;
  m[0].status_counts[GRPCR_STATUS_UNAVAILABLE] = 1;
  m[0].retries_buckets[1] = 1;  // le="2"
  m[0].retried_calls = 1;
  m[0].retries_sum = 2;
  m[0].delay_buckets[4] = 1;  // le="0.025"
  m[0].delay_sum_s = 0.015;
  m[1].method = const_cast<char*>("other");
  m[1].requests = 1;
  m[1].attempts = 1;
  m[1].status_counts[GRPCR_STATUS_OK] = 1;
  s->methods = m;
  s->method_count = 2;
}

void AddBreaker(grpcr_channel_snapshot* s) {
  s->has_breaker = true;
  grpcr_breaker_snapshot& b = s->breaker;
  b.state = GRPCR_BREAKER_OPEN;
  b.time_in_state_ns = 4 * kSec;
  b.calls_in_window = 2;
  b.failures_in_window = 1;
  b.slow_calls_in_window = 2;
  b.slow_calls_total = 5;
  b.rejected_total = 3;
  b.transitions_total = 1;
  b.opened_total = 1;
  b.open_ns_total = 4 * kSec;
  b.open_duration_ns = 30 * kSec;
  b.open_period_ns = 25 * kSec;
  b.no_verdict_total = 1;
  b.probes_freed_total = 2;
  b.probes_expired_total = 3;
  b.probes_in_flight = 4;
  b.probe_timeout_ns = 10 * kSec;
  b.throttle_probability = 0.25;
  b.throttle_requests_in_window = 12;
  b.throttle_accepts_in_window = 4;
}

void AddBudget(grpcr_channel_snapshot* s) {
  s->has_budget = true;
  s->budget.requests_in_window = 8;
  s->budget.retries_in_window = 1;
  s->budget.allowed_in_window = 4.0;
  s->budget.utilisation = 0.25;
}

std::string Render(const std::vector<grpcr_channel_snapshot>& snaps) {
  char* out = nullptr;
  size_t len = 0;
  EXPECT_EQ(GRPCR_OK,
            grpcr_metrics_prometheus_text(snaps.data(), snaps.size(), &out,
                                          &len));
  std::string s(out, len);
  EXPECT_EQ(std::strlen(out), len);
  grpcr_free(out);
  return s;
}

// The lines of text that start with prefix, in order.
std::vector<std::string> LinesStarting(const std::string& text,
                                       const std::string& prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    if (line.compare(0, prefix.size(), prefix) == 0) out.push_back(line);
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

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

// What a stream writer (grpcr_metrics_write_*) writes for one snapshot.
std::string Streamed(int (*write)(FILE*, const grpcr_channel_snapshot*, size_t),
                     const grpcr_channel_snapshot& s) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  EXPECT_NE(nullptr, f);
  if (f == nullptr) return "";
  EXPECT_EQ(GRPCR_OK, write(f, &s, 1));
  EXPECT_EQ(0, std::fclose(f));
  std::string out(buf, len);
  std::free(buf);
  return out;
}

TEST(MetricsTest, StreamAndBufferWriteTheSameText) {
  grpcr_channel_snapshot s = Channel("a", "t");
  AddBreaker(&s);
  EXPECT_EQ(Render({s}), Streamed(grpcr_metrics_write_prometheus, s));
}

TEST(MetricsTest, CatalogListsTheFamiliesInRenderOrder) {
  size_t n = grpcr_metrics_family_count();
  ASSERT_EQ(46u, n);
  EXPECT_EQ(nullptr, grpcr_metrics_family(n));
  EXPECT_STREQ("grpcr_requests_total", grpcr_metrics_family(0)->name);
  EXPECT_STREQ("grpc_client_call_retry_delay_seconds",
               grpcr_metrics_family(n - 1)->name);
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

// ---- OpenMetrics 1.0.0 ------------------------------------------------------

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

TEST(MetricsTest, TypeNamesAreTheExpositionsWords) {
  EXPECT_STREQ("counter", grpcr_metric_type_name(GRPCR_METRIC_COUNTER));
  EXPECT_STREQ("gauge", grpcr_metric_type_name(GRPCR_METRIC_GAUGE));
  EXPECT_STREQ("histogram", grpcr_metric_type_name(GRPCR_METRIC_HISTOGRAM));
  EXPECT_EQ(nullptr,
            grpcr_metric_type_name(static_cast<grpcr_metric_type>(3)));
}

// ---------------------------------------------------------------------------
// Per-method families and gRFC A96's histograms.

TEST(MetricsMethodsTest, PerMethodSeriesCarryTheMethodLabel) {
  grpcr_channel_snapshot s = Channel("a", "t");
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  std::string m = Render({s});
  EXPECT_EQ((std::vector<std::string>{
                "grpcr_method_requests_total{channel=\"a\",target=\"t\","
                "method=\"echo.Echo/Say\"} 3",
                "grpcr_method_requests_total{channel=\"a\",target=\"t\","
                "method=\"other\"} 1"}),
            LinesStarting(m, "grpcr_method_requests_total{"));
  EXPECT_EQ((std::vector<std::string>{
                "grpcr_method_retries_total{channel=\"a\",target=\"t\","
                "method=\"echo.Echo/Say\"} 2",
                "grpcr_method_retries_total{channel=\"a\",target=\"t\","
                "method=\"other\"} 0"}),
            LinesStarting(m, "grpcr_method_retries_total{"));
  std::vector<std::string> calls = LinesStarting(
      m, "grpcr_method_calls_total{channel=\"a\",target=\"t\","
         "method=\"echo.Echo/Say\",code=\"UNAVAILABLE\"}");
  EXPECT_EQ(std::vector<std::string>{calls.empty() ? "" : calls[0]},
            std::vector<std::string>{
                "grpcr_method_calls_total{channel=\"a\",target=\"t\","
                "method=\"echo.Echo/Say\",code=\"UNAVAILABLE\"} 1"});
  EXPECT_EQ(2u * GRPCR_STATUS_COUNT,
            LinesStarting(m, "grpcr_method_calls_total{").size());
}

TEST(MetricsMethodsTest, A96HistogramsExactly) {
  grpcr_channel_snapshot s = Channel("a", "dns:///t:1");
  grpcr_method_snapshot methods[2];
  AddMethods(&s, methods);
  std::string m = Render({s});
  const char kRetries[] =
      "# HELP grpc_client_call_retries Retries per call, for calls that "
      "retried (gRFC A96 grpc.client.call.retries).\n"
      "# TYPE grpc_client_call_retries histogram\n"
      "grpc_client_call_retries_bucket{grpc_method=\"echo.Echo/Say\","
      "grpc_target=\"dns:///t:1\",le=\"1\"} 0\n"
      "grpc_client_call_retries_bucket{grpc_method=\"echo.Echo/Say\","
      "grpc_target=\"dns:///t:1\",le=\"2\"} 1\n";
  EXPECT_NE(std::string::npos, m.find(kRetries)) << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retries_sum{grpc_method=\"echo.Echo/"
                   "Say\",grpc_target=\"dns:///t:1\"} 2\n"
                   "grpc_client_call_retries_count{grpc_method=\"echo.Echo/"
                   "Say\",grpc_target=\"dns:///t:1\"} 1\n"))
      << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retries_count{grpc_method=\"other\","
                   "grpc_target=\"dns:///t:1\"} 0\n"))
      << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retry_delay_seconds_bucket{grpc_method="
                   "\"echo.Echo/Say\",grpc_target=\"dns:///t:1\",le="
                   "\"0.01\"} 0\n"
                   "grpc_client_call_retry_delay_seconds_bucket{grpc_method="
                   "\"echo.Echo/Say\",grpc_target=\"dns:///t:1\",le="
                   "\"0.025\"} 1\n"))
      << m;
  EXPECT_NE(std::string::npos,
            m.find("grpc_client_call_retry_delay_seconds_sum{grpc_method="
                   "\"echo.Echo/Say\",grpc_target=\"dns:///t:1\"} 0.015\n"))
      << m;
  EXPECT_EQ(GRPCR_STATS_RETRIES_BUCKETS * 2,
            LinesStarting(m, "grpc_client_call_retries_bucket{").size());
}

// Channels to the same target are added up, as A96 records per target;
// another target has its own series.
TEST(MetricsMethodsTest, A96AddsUpChannelsOfOneTarget) {
  grpcr_channel_snapshot a = Channel("a", "dns:///t:1");
  grpcr_channel_snapshot b = Channel("b", "dns:///t:1");
  grpcr_channel_snapshot c = Channel("c", "dns:///u:1");
  grpcr_method_snapshot ma[2], mb[2], mc[2];
  AddMethods(&a, ma);
  AddMethods(&b, mb);
  AddMethods(&c, mc);
  std::string m = Render({a, b, c});
  EXPECT_EQ((std::vector<std::string>{
                "grpc_client_call_retries_count{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///t:1\"} 2",
                "grpc_client_call_retries_count{grpc_method=\"other\","
                "grpc_target=\"dns:///t:1\"} 0",
                "grpc_client_call_retries_count{grpc_method=\"echo.Echo/Say\","
                "grpc_target=\"dns:///u:1\"} 1",
                "grpc_client_call_retries_count{grpc_method=\"other\","
                "grpc_target=\"dns:///u:1\"} 0"}),
            LinesStarting(m, "grpc_client_call_retries_count{"));
  EXPECT_EQ(3u * 2, LinesStarting(m, "grpcr_method_requests_total{").size());
}

TEST(MetricsMethodsTest, NoMethodsNoFamilies) {
  std::string m = Render({Channel("a", "t")});
  EXPECT_EQ(std::string::npos, m.find("grpcr_method_")) << m;
  EXPECT_EQ(std::string::npos, m.find("grpc_client_call_")) << m;
}

}  // namespace
