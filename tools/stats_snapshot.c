/* grpcr-stats: a GetStatsResponse as the core's channel snapshots
 * (grpcr/stats.h), the one form the table and the Prometheus renderer read.
 * The inverse of the stats service's filling (interceptor/stats_encode.c):
 * an answer from this version's service converts back to the very values it
 * was built from. What a snapshot cannot hold (another version's bucket
 * bounds, more than 17 status codes or 10 attempt slots, sub-nanosecond or
 * non-finite times) is folded into the nearest thing it can. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/breaker.h"
#include "grpcr/stats.h"
#include "grpcr/status.h"
#include "stats_cli.h"

/* A state grpcr_breaker_state_name does not know (it returns NULL): what a
 * BREAKER_STATE_UNSPECIFIED, or a value newer than this tool, becomes. */
#define BREAKER_STATE_UNKNOWN \
  ((grpcr_breaker_state)(GRPCR_BREAKER_HALF_OPEN + 1))

/* The one mapping from the proto's enum to the core's. */
static grpcr_breaker_state breaker_state(Grpcr__V1__BreakerState s) {
  switch (s) {
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_CLOSED:
      return GRPCR_BREAKER_CLOSED;
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_OPEN:
      return GRPCR_BREAKER_OPEN;
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_HALF_OPEN:
      return GRPCR_BREAKER_HALF_OPEN;
    default:
      return BREAKER_STATE_UNKNOWN;
  }
}

static double quotient(int64_t ns) { return (double)ns / 1e9; }

/* The ns whose (double)ns / 1e9 is exactly s, as the service computed s:
 * s * 1e9 can be an ulp off, so step from there while (double)ns / 1e9,
 * which only grows with ns, is on the wrong side. The nearest ns for an s
 * no ns gives; 0 for NaN; clamped to int64's range. */
static int64_t seconds_to_ns(double s) {
  if (isnan(s)) return 0;
  if (s >= 9.2e9) return INT64_MAX;
  if (s <= -9.2e9) return INT64_MIN;
  int64_t ns = llround(s * 1e9);
  for (int i = 0; i < 64 && quotient(ns) < s; i++) ns++;
  for (int i = 0; i < 64 && quotient(ns) > s; i++) ns--;
  return ns;
}

/* The snapshot bucket a wait bound belongs in: the first whose bound is
 * >= ub (so a bound of this version lands on its own bucket), else +Inf. */
static size_t wait_bucket(double ub) {
  size_t i = 0;
  while (i < GRPCR_STATS_WAIT_FINITE_BUCKETS &&
         !(ub <= grpcr_stats_wait_bound(i)))
    i++;
  return i;
}

/* The snapshot bucket a retries bound belongs in, likewise. */
static size_t retries_bucket(double ub) {
  size_t i = 0;
  while (i < GRPCR_STATS_RETRIES_FINITE_BUCKETS &&
         !(ub <= grpcr_stats_retries_bound(i)))
    i++;
  return i;
}

/* The fields the proto and the snapshot name alike, copied as they are
 * (the compiler checks that both sides have them); the rest are converted
 * one by one below. */
#define CHANNEL_SAME_FIELDS(X)                                           \
  X(requests) X(attempts) X(retries) X(hedges) X(budget_denied)          \
  X(breaker_rejected) X(breaker_stopped_retries) X(instance) X(throttled) \
  X(finished) X(local_errors) X(committed_too_large) X(config_updates)
#define METHOD_SAME_FIELDS(X)                                             \
  X(requests) X(attempts) X(retries) X(retries_skipped_deadline)          \
  X(latency_samples) X(attempt_timeouts) X(hedges) X(hedges_won)          \
  X(hedges_cancelled) X(hedges_denied) X(hedge_delay_samples)
#define BREAKER_SAME_FIELDS(X)                                            \
  X(calls_in_window) X(failures_in_window) X(rejected_total)              \
  X(transitions_total) X(opened_total) X(stale_results_total)             \
  X(no_verdict_total) X(probes_freed_total) X(probes_expired_total)       \
  X(probes_in_flight) X(reconfigured_total) X(slow_calls_in_window)       \
  X(slow_calls_total) X(slow_call_rate_threshold) X(throttled_total)     \
  X(throttle_requests_in_window) X(throttle_accepts_in_window)           \
  X(throttle_probability) X(throttle_k)
#define BUDGET_SAME_FIELDS(X)                                              \
  X(requests_in_window) X(retries_in_window) X(allowed_in_window)          \
  X(requests_total) X(retries_total) X(denied_total) X(reconfigured_total)
#define COPY(field) o->field = from->field;

static void breaker_from(grpcr_breaker_snapshot *o,
                         const Grpcr__V1__BreakerStats *from) {
  BREAKER_SAME_FIELDS(COPY)
  o->state = breaker_state(from->state);
  o->time_in_state_ns = seconds_to_ns(from->time_in_state_seconds);
  o->open_ns_total = seconds_to_ns(from->open_seconds_total);
  o->open_duration_ns = seconds_to_ns(from->open_duration_seconds);
  o->probe_timeout_ns = seconds_to_ns(from->probe_timeout_seconds);
  o->slow_call_duration_ns = seconds_to_ns(from->slow_call_duration_seconds);
  o->throttle_window_ns = seconds_to_ns(from->throttle_window_seconds);
  o->open_period_ns = seconds_to_ns(from->open_period_seconds);
}

static void budget_from(grpcr_budget_snapshot *o,
                        const Grpcr__V1__BudgetStats *from) {
  BUDGET_SAME_FIELDS(COPY)
  o->utilisation = from->utilization;
}

/* Adds w's buckets to buckets (zeroed by the caller). */
static void wait_buckets_from(uint64_t buckets[GRPCR_STATS_WAIT_BUCKETS],
                              const Grpcr__V1__RetryWaitHistogram *w) {
  for (size_t i = 0; i < w->n_buckets; i++)
    buckets[wait_bucket(w->buckets[i]->upper_bound_seconds)] +=
        w->buckets[i]->count;
}

static void wait_from(grpcr_channel_snapshot *o,
                      const Grpcr__V1__RetryWaitHistogram *w) {
  wait_buckets_from(o->retry_wait_buckets, w);
  o->retry_wait_count = w->count;
  o->retry_wait_sum_s = w->sum_seconds;
  o->retry_wait_p50_s = w->p50_seconds;
  o->retry_wait_p99_s = w->p99_seconds;
}

/* By code, as the core counts them: outside 0..16 is UNKNOWN. */
static void statuses_from(uint64_t counts[GRPCR_STATUS_COUNT],
                          Grpcr__V1__StatusCount *const *from, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int code = from[i]->code >= 0 && from[i]->code < GRPCR_STATUS_COUNT
                   ? from[i]->code
                   : GRPCR_STATUS_UNKNOWN;
    counts[code] += from[i]->count;
  }
}

/* Adds r's buckets to buckets (zeroed by the caller); NULL r adds none. */
static void retries_buckets_from(uint64_t buckets[GRPCR_STATS_RETRIES_BUCKETS],
                                 const Grpcr__V1__RetriesHistogram *r) {
  for (size_t i = 0; r != NULL && i < r->n_buckets; i++)
    buckets[retries_bucket(r->buckets[i]->upper_bound)] +=
        r->buckets[i]->count;
}

/* o must start zeroed. false on ENOMEM. */
static bool method_from(grpcr_method_snapshot *o,
                        const Grpcr__V1__MethodStats *from) {
  o->method = strdup(from->method);
  if (o->method == NULL) return false;
  METHOD_SAME_FIELDS(COPY)
  o->median_attempt_s = from->median_attempt_seconds;
  o->hedge_delay_s = from->hedge_delay_seconds;
  statuses_from(o->status_counts, from->status_counts, from->n_status_counts);
  const Grpcr__V1__RetriesHistogram *r = from->retries_per_call;
  if (r != NULL) {
    retries_buckets_from(o->retries_buckets, r);
    o->retried_calls = r->count;
    o->retries_sum = r->sum;
  }
  const Grpcr__V1__RetriesHistogram *h = from->hedges_per_call;
  if (h != NULL) {
    retries_buckets_from(o->hedges_buckets, h);
    o->hedged_calls = h->count;
    o->hedges_sum = h->sum;
  }
  if (from->retry_delay != NULL) {
    wait_buckets_from(o->delay_buckets, from->retry_delay);
    o->delay_sum_s = from->retry_delay->sum_seconds;
  }
  return true;
}

/* o must start zeroed. false on ENOMEM, with what was allocated left for
 * grpcr_channel_snapshots_free. */
static bool channel_from(grpcr_channel_snapshot *o,
                         const Grpcr__V1__ChannelStats *from) {
  o->name = strdup(from->name);
  o->target = strdup(from->target);
  if (o->name == NULL || o->target == NULL) return false;
  CHANNEL_SAME_FIELDS(COPY)
  /* The last slot counts that attempt and every later one. */
  for (size_t i = 0; i < from->n_attempts_by_number; i++) {
    size_t slot = i < GRPCR_STATS_ATTEMPT_SLOTS ? i
                                                : GRPCR_STATS_ATTEMPT_SLOTS - 1;
    o->attempts_by_number[slot] += from->attempts_by_number[i];
  }
  if (from->retry_wait != NULL) wait_from(o, from->retry_wait);
  statuses_from(o->status_counts, from->status_counts, from->n_status_counts);
  o->has_breaker = from->breaker != NULL;
  if (o->has_breaker) breaker_from(&o->breaker, from->breaker);
  o->has_budget = from->budget != NULL;
  if (o->has_budget) budget_from(&o->budget, from->budget);
  if (from->n_methods == 0) return true;
  o->methods = calloc(from->n_methods, sizeof(*o->methods));
  if (o->methods == NULL) return false;
  for (size_t i = 0; i < from->n_methods; i++) {
    if (!method_from(&o->methods[i], from->methods[i])) return false;
    o->method_count++;
  }
  return true;
}

grpcr_channel_snapshot *stats_snapshots_from_response(const stats_response *r) {
  grpcr_channel_snapshot *snaps = calloc(r->n_channels + 1, sizeof(*snaps));
  if (snaps == NULL) return NULL;
  for (size_t i = 0; i < r->n_channels; i++) {
    if (!channel_from(&snaps[i], r->channels[i])) {
      grpcr_channel_snapshots_free(snaps, r->n_channels);
      return NULL;
    }
  }
  return snaps;
}
