// Helpers the metric suites share (metrics_test.cc, the text format;
// metrics_openmetrics_test.cc; metrics_methods_test.cc, the per-method and
// gRFC A96 families): hand-built snapshots and their rendering.
#ifndef GRPCR_TEST_UNIT_METRICS_TEST_UTIL_H
#define GRPCR_TEST_UNIT_METRICS_TEST_UTIL_H

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "grpcr/metrics.h"

namespace {

constexpr int64_t kSec = 1000000000;

// A channel with every counter of its own set; no breaker, no budget.
inline grpcr_channel_snapshot Channel(const char* name, const char* target) {
  grpcr_channel_snapshot s;
  std::memset(&s, 0, sizeof(s));
  s.name = const_cast<char*>(name);
  s.target = const_cast<char*>(target);
  s.requests = 5;
  s.attempts = 10;
  s.retries = 5;
  s.hedges = 1;
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
inline void AddMethods(grpcr_channel_snapshot* s,
                       grpcr_method_snapshot (&m)[2]) {
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

inline void AddBreaker(grpcr_channel_snapshot* s) {
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

inline void AddBudget(grpcr_channel_snapshot* s) {
  s->has_budget = true;
  s->budget.requests_in_window = 8;
  s->budget.retries_in_window = 1;
  s->budget.allowed_in_window = 4.0;
  s->budget.utilisation = 0.25;
}

inline std::string Render(const std::vector<grpcr_channel_snapshot>& snaps) {
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
inline std::vector<std::string> LinesStarting(const std::string& text,
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

// What a stream writer (grpcr_metrics_write_*) writes for one snapshot.
inline std::string Streamed(
    int (*write)(FILE*, const grpcr_channel_snapshot*, size_t),
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

}  // namespace

#endif  // GRPCR_TEST_UNIT_METRICS_TEST_UTIL_H
