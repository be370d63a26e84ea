/* The stats service's answer: snapshots (grpcr/stats.h) packed as a
 * grpcr.v1.GetStatsResponse (protobuf-c). No gRPC here, so the fuzzer
 * (test/fuzz/stats_request_fuzz.c) runs this very code. */
#include "stats_encode.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/v1/stats.pb-c.h"

/* A wait histogram and its buckets, in one block. */
typedef struct {
  Grpcr__V1__RetryWaitHistogram h;
  Grpcr__V1__RetryWaitHistogram__Bucket buckets[GRPCR_STATS_WAIT_BUCKETS];
  Grpcr__V1__RetryWaitHistogram__Bucket *bucket_ptrs[GRPCR_STATS_WAIT_BUCKETS];
} wait_msg;

/* All 17 status counts, in one block. */
typedef struct {
  Grpcr__V1__StatusCount counts[GRPCR_STATUS_COUNT];
  Grpcr__V1__StatusCount *ptrs[GRPCR_STATUS_COUNT];
} statuses_msg;

/* A retries-per-call (or hedges-per-call) histogram and its buckets, in
 * one block. */
typedef struct {
  Grpcr__V1__RetriesHistogram h;
  Grpcr__V1__RetriesHistogram__Bucket buckets[GRPCR_STATS_RETRIES_BUCKETS];
  Grpcr__V1__RetriesHistogram__Bucket
      *bucket_ptrs[GRPCR_STATS_RETRIES_BUCKETS];
} retries_msg;

/* One method's message and every sub-message it points to, in one block. */
typedef struct {
  Grpcr__V1__MethodStats m;
  statuses_msg statuses;
  retries_msg retries;
  retries_msg hedges;
  wait_msg delay;
} method_msg;

/* One channel's message and every sub-message it points to, in one block,
 * but for its methods' (one more block, as many as the channel has). */
typedef struct {
  Grpcr__V1__ChannelStats ch;
  Grpcr__V1__BreakerStats breaker;
  Grpcr__V1__BudgetStats budget;
  wait_msg wait;
  statuses_msg statuses;
  uint64_t attempts_by_number[GRPCR_STATS_ATTEMPT_SLOTS];
  method_msg *methods;
  Grpcr__V1__MethodStats **method_ptrs;
} channel_msg;

static double ns_to_s(int64_t ns) { return (double)ns / 1e9; }

static Grpcr__V1__BreakerState breaker_state_msg(grpcr_breaker_state s) {
  switch (s) {
    case GRPCR_BREAKER_CLOSED:
      return GRPCR__V1__BREAKER_STATE__BREAKER_STATE_CLOSED;
    case GRPCR_BREAKER_OPEN:
      return GRPCR__V1__BREAKER_STATE__BREAKER_STATE_OPEN;
    case GRPCR_BREAKER_HALF_OPEN:
      return GRPCR__V1__BREAKER_STATE__BREAKER_STATE_HALF_OPEN;
  }
  return GRPCR__V1__BREAKER_STATE__BREAKER_STATE_UNSPECIFIED;
}

/* Fills w with every bucket of a wait histogram. */
static void wait_msg_fill(wait_msg *w,
                          const uint64_t buckets[GRPCR_STATS_WAIT_BUCKETS],
                          uint64_t count, double sum_s, double p50_s,
                          double p99_s) {
  grpcr__v1__retry_wait_histogram__init(&w->h);
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) {
    Grpcr__V1__RetryWaitHistogram__Bucket *b = &w->buckets[i];
    grpcr__v1__retry_wait_histogram__bucket__init(b);
    b->upper_bound_seconds = i < GRPCR_STATS_WAIT_FINITE_BUCKETS
                                 ? grpcr_stats_wait_bound(i)
                                 : (double)INFINITY;
    b->count = buckets[i];
    w->bucket_ptrs[i] = b;
  }
  w->h.n_buckets = GRPCR_STATS_WAIT_BUCKETS;
  w->h.buckets = w->bucket_ptrs;
  w->h.sum_seconds = sum_s;
  w->h.count = count;
  w->h.p50_seconds = p50_s;
  w->h.p99_seconds = p99_s;
}

/* Fills r with every bucket of a retries (or hedges) per call histogram. */
static void retries_msg_fill(
    retries_msg *r, const uint64_t buckets[GRPCR_STATS_RETRIES_BUCKETS],
    uint64_t count, uint64_t sum) {
  grpcr__v1__retries_histogram__init(&r->h);
  for (size_t i = 0; i < GRPCR_STATS_RETRIES_BUCKETS; i++) {
    Grpcr__V1__RetriesHistogram__Bucket *b = &r->buckets[i];
    grpcr__v1__retries_histogram__bucket__init(b);
    b->upper_bound = i < GRPCR_STATS_RETRIES_FINITE_BUCKETS
                         ? grpcr_stats_retries_bound(i)
                         : (double)INFINITY;
    b->count = buckets[i];
    r->bucket_ptrs[i] = b;
  }
  r->h.n_buckets = GRPCR_STATS_RETRIES_BUCKETS;
  r->h.buckets = r->bucket_ptrs;
  r->h.count = count;
  r->h.sum = sum;
}

/* Fills m with one entry per code, in code order. */
static void statuses_msg_fill(statuses_msg *m,
                              const uint64_t counts[GRPCR_STATUS_COUNT]) {
  for (int code = 0; code < GRPCR_STATUS_COUNT; code++) {
    Grpcr__V1__StatusCount *c = &m->counts[code];
    grpcr__v1__status_count__init(c);
    /* protobuf-c's strings are char *; packing only reads them. */
    c->code_name = (char *)grpcr_status_name(code);
    c->code = code;
    c->count = counts[code];
    m->ptrs[code] = c;
  }
}

/* Fills m from s; m's strings point into s, which must outlive it. */
static void method_msg_fill(method_msg *m, const grpcr_method_snapshot *s) {
  grpcr__v1__method_stats__init(&m->m);
  m->m.method = s->method;
  m->m.requests = s->requests;
  m->m.attempts = s->attempts;
  m->m.retries = s->retries;
  m->m.retries_skipped_deadline = s->retries_skipped_deadline;
  m->m.median_attempt_seconds = s->median_attempt_s;
  m->m.latency_samples = s->latency_samples;
  m->m.attempt_timeouts = s->attempt_timeouts;
  m->m.hedges = s->hedges;
  m->m.hedges_won = s->hedges_won;
  m->m.hedges_cancelled = s->hedges_cancelled;
  m->m.hedges_denied = s->hedges_denied;
  m->m.hedge_delay_seconds = s->hedge_delay_s;
  m->m.hedge_delay_samples = s->hedge_delay_samples;
  statuses_msg_fill(&m->statuses, s->status_counts);
  m->m.n_status_counts = GRPCR_STATUS_COUNT;
  m->m.status_counts = m->statuses.ptrs;

  retries_msg_fill(&m->retries, s->retries_buckets, s->retried_calls,
                   s->retries_sum);
  m->m.retries_per_call = &m->retries.h;
  retries_msg_fill(&m->hedges, s->hedges_buckets, s->hedged_calls,
                   s->hedges_sum);
  m->m.hedges_per_call = &m->hedges.h;

  /* One delay per retried call; the snapshot has no quantiles of its own. */
  wait_msg_fill(&m->delay, s->delay_buckets, s->retried_calls, s->delay_sum_s,
                grpcr_stats_wait_quantile(s->delay_buckets, 0.5),
                grpcr_stats_wait_quantile(s->delay_buckets, 0.99));
  m->m.retry_delay = &m->delay.h;
}

/* Fills m from s; m's strings point into s, which must outlive it. false
 * on ENOMEM; free with channel_msg_free either way. */
static bool channel_msg_fill(channel_msg *m, const grpcr_channel_snapshot *s) {
  grpcr__v1__channel_stats__init(&m->ch);
  m->ch.name = s->name;
  m->ch.target = s->target;
  if (s->has_breaker) {
    const grpcr_breaker_snapshot *b = &s->breaker;
    grpcr__v1__breaker_stats__init(&m->breaker);
    m->breaker.state = breaker_state_msg(b->state);
    m->breaker.time_in_state_seconds = ns_to_s(b->time_in_state_ns);
    m->breaker.transitions_total = b->transitions_total;
    m->breaker.opened_total = b->opened_total;
    m->breaker.rejected_total = b->rejected_total;
    m->breaker.open_seconds_total = ns_to_s(b->open_ns_total);
    m->breaker.open_duration_seconds = ns_to_s(b->open_duration_ns);
    m->breaker.calls_in_window = b->calls_in_window;
    m->breaker.failures_in_window = b->failures_in_window;
    m->breaker.stale_results_total = b->stale_results_total;
    m->breaker.no_verdict_total = b->no_verdict_total;
    m->breaker.probes_freed_total = b->probes_freed_total;
    m->breaker.probes_expired_total = b->probes_expired_total;
    m->breaker.probes_in_flight = b->probes_in_flight;
    m->breaker.probe_timeout_seconds = ns_to_s(b->probe_timeout_ns);
    m->breaker.reconfigured_total = b->reconfigured_total;
    m->breaker.slow_calls_in_window = b->slow_calls_in_window;
    m->breaker.slow_calls_total = b->slow_calls_total;
    m->breaker.slow_call_duration_seconds = ns_to_s(b->slow_call_duration_ns);
    m->breaker.slow_call_rate_threshold = b->slow_call_rate_threshold;
    m->breaker.open_period_seconds = ns_to_s(b->open_period_ns);
    m->breaker.throttled_total = b->throttled_total;
    m->breaker.throttle_requests_in_window = b->throttle_requests_in_window;
    m->breaker.throttle_accepts_in_window = b->throttle_accepts_in_window;
    m->breaker.throttle_probability = b->throttle_probability;
    m->breaker.throttle_k = b->throttle_k;
    m->breaker.throttle_window_seconds = ns_to_s(b->throttle_window_ns);
    m->ch.breaker = &m->breaker;
  }
  if (s->has_budget) {
    const grpcr_budget_snapshot *b = &s->budget;
    grpcr__v1__budget_stats__init(&m->budget);
    m->budget.utilization = b->utilisation;
    m->budget.requests_in_window = b->requests_in_window;
    m->budget.retries_in_window = b->retries_in_window;
    m->budget.allowed_in_window = b->allowed_in_window;
    m->budget.requests_total = b->requests_total;
    m->budget.retries_total = b->retries_total;
    m->budget.denied_total = b->denied_total;
    m->budget.reconfigured_total = b->reconfigured_total;
    m->ch.budget = &m->budget;
  }
  m->ch.requests = s->requests;
  m->ch.attempts = s->attempts;
  m->ch.retries = s->retries;
  m->ch.hedges = s->hedges;
  m->ch.budget_denied = s->budget_denied;
  m->ch.breaker_stopped_retries = s->breaker_stopped_retries;
  m->ch.instance = s->instance;
  m->ch.breaker_rejected = s->breaker_rejected;
  m->ch.throttled = s->throttled;
  m->ch.finished = s->finished;
  m->ch.local_errors = s->local_errors;
  m->ch.committed_too_large = s->committed_too_large;
  m->ch.config_updates = s->config_updates;
  memcpy(m->attempts_by_number, s->attempts_by_number,
         sizeof(m->attempts_by_number));
  m->ch.n_attempts_by_number = GRPCR_STATS_ATTEMPT_SLOTS;
  m->ch.attempts_by_number = m->attempts_by_number;

  wait_msg_fill(&m->wait, s->retry_wait_buckets, s->retry_wait_count,
                s->retry_wait_sum_s, s->retry_wait_p50_s, s->retry_wait_p99_s);
  m->ch.retry_wait = &m->wait.h;

  statuses_msg_fill(&m->statuses, s->status_counts);
  m->ch.n_status_counts = GRPCR_STATUS_COUNT;
  m->ch.status_counts = m->statuses.ptrs;

  if (s->method_count == 0) return true;
  m->methods = calloc(s->method_count, sizeof(*m->methods));
  m->method_ptrs = calloc(s->method_count, sizeof(*m->method_ptrs));
  if (m->methods == NULL || m->method_ptrs == NULL) return false;
  for (size_t i = 0; i < s->method_count; i++) {
    method_msg_fill(&m->methods[i], &s->methods[i]);
    m->method_ptrs[i] = &m->methods[i].m;
  }
  m->ch.n_methods = s->method_count;
  m->ch.methods = m->method_ptrs;
  return true;
}

static void channel_msg_free(channel_msg *m) {
  free(m->method_ptrs);
  free(m->methods);
}

/* Packs snaps as a GetStatsResponse; the caller frees the result. */
uint8_t *grpcr_internal_stats_encode(const grpcr_channel_snapshot *snaps,
                                     size_t n, int64_t collected_at_unix_ms,
                                     size_t *len) {
  channel_msg *msgs = calloc(n > 0 ? n : 1, sizeof(*msgs));
  Grpcr__V1__ChannelStats **ptrs = calloc(n > 0 ? n : 1, sizeof(*ptrs));
  uint8_t *buf = NULL;
  bool filled = msgs != NULL && ptrs != NULL;
  for (size_t i = 0; i < n && filled; i++) {
    filled = channel_msg_fill(&msgs[i], &snaps[i]);
    ptrs[i] = &msgs[i].ch;
  }
  if (filled) {
    Grpcr__V1__GetStatsResponse resp = GRPCR__V1__GET_STATS_RESPONSE__INIT;
    resp.n_channels = n;
    resp.channels = ptrs;
    resp.collected_at_unix_ms = collected_at_unix_ms;
    *len = grpcr__v1__get_stats_response__get_packed_size(&resp);
    buf = malloc(*len > 0 ? *len : 1);
    if (buf != NULL) grpcr__v1__get_stats_response__pack(&resp, buf);
  }
  /* calloc'd: a channel never filled has nothing to free. */
  for (size_t i = 0; msgs != NULL && i < n; i++) channel_msg_free(&msgs[i]);
  free(ptrs);
  free(msgs);
  return buf;
}
