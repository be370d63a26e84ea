/* The metric catalog and its renderers (include/grpcr/metrics.h): text
 * format 0.0.4 and OpenMetrics 1.0.0. Each family is one row of kFamilies:
 * its name, type and help, which channels have it, and how it writes a
 * channel's samples; both formats walk the same rows. The per-method and
 * gRFC A96 families write theirs in metrics_method.c. */
#include "grpcr/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/text.h"
#include "metrics_internal.h"

typedef struct {
  grpcr_metric_info info;
  /* Does the channel have this family? NULL: every channel does. */
  bool (*applies)(const grpcr_channel_snapshot *s);
  /* The samples are named alike in both formats; only a histogram's le
   * values are written differently. */
  void (*emit)(FILE *f, const char *name, const series *c, format fmt);
  /* Instead of emit, for a family whose series are not per channel (gRFC
   * A96's, labelled by method and target): all of its samples at once. */
  void (*emit_all)(FILE *f, const char *name, const series *ss, size_t n,
                   format fmt);
} family;

static double ns_to_s(int64_t ns) { return (double)ns / 1e9; }

static void sample_u64(FILE *f, const char *name, const char *labels,
                       const char *extra, uint64_t v) {
  fprintf(f, "%s{%s%s} %" PRIu64 "\n", name, labels, extra, v);
}

void grpcr_metrics_sample_dbl(FILE *f, const char *name, const char *suffix,
                              const char *labels, double v) {
  char buf[32];
  if (isnan(v))
    strcpy(buf, "NaN");
  else if (isinf(v))
    strcpy(buf, v > 0 ? "+Inf" : "-Inf");
  else
    grpcr_text_format_double(buf, sizeof(buf), v);
  fprintf(f, "%s%s{%s} %s\n", name, suffix, labels, buf);
}

static bool has_breaker(const grpcr_channel_snapshot *s) {
  return s->has_breaker;
}
static bool has_budget(const grpcr_channel_snapshot *s) {
  return s->has_budget;
}
static bool has_methods(const grpcr_channel_snapshot *s) {
  return s->method_count > 0;
}

#define EMIT_U64(fn, expr)                                                \
  static void fn(FILE *f, const char *name, const series *c, format fmt) { \
    const grpcr_channel_snapshot *s = c->s;                               \
    (void)fmt;                                                            \
    sample_u64(f, name, c->labels, "", (expr));                           \
  }
#define EMIT_DBL(fn, expr)                                                \
  static void fn(FILE *f, const char *name, const series *c, format fmt) { \
    const grpcr_channel_snapshot *s = c->s;                               \
    (void)fmt;                                                            \
    grpcr_metrics_sample_dbl(f, name, "", c->labels, (expr));             \
  }

EMIT_U64(emit_requests, s->requests)
EMIT_U64(emit_attempts, s->attempts)
EMIT_U64(emit_retries, s->retries)
EMIT_U64(emit_hedges, s->hedges)
EMIT_U64(emit_budget_denied, s->budget_denied)
EMIT_U64(emit_breaker_stopped, s->breaker_stopped_retries)
EMIT_DBL(emit_budget_util, s->budget.utilisation)
EMIT_U64(emit_budget_win_requests, s->budget.requests_in_window)
EMIT_U64(emit_budget_win_retries, s->budget.retries_in_window)
EMIT_DBL(emit_budget_win_allowed, s->budget.allowed_in_window)
EMIT_U64(emit_breaker_rejected, s->breaker_rejected)
EMIT_U64(emit_throttled, s->throttled)
EMIT_DBL(emit_throttle_probability, s->breaker.throttle_probability)
EMIT_U64(emit_throttle_win_requests, s->breaker.throttle_requests_in_window)
EMIT_U64(emit_throttle_win_accepts, s->breaker.throttle_accepts_in_window)
EMIT_DBL(emit_breaker_time_in_state, ns_to_s(s->breaker.time_in_state_ns))
EMIT_DBL(emit_breaker_open_duration, ns_to_s(s->breaker.open_duration_ns))
EMIT_DBL(emit_breaker_open_seconds, ns_to_s(s->breaker.open_ns_total))
EMIT_U64(emit_breaker_transitions, s->breaker.transitions_total)
EMIT_U64(emit_breaker_opened, s->breaker.opened_total)
EMIT_U64(emit_breaker_win_calls, s->breaker.calls_in_window)
EMIT_U64(emit_breaker_win_failures, s->breaker.failures_in_window)
EMIT_U64(emit_breaker_win_slow, s->breaker.slow_calls_in_window)
EMIT_U64(emit_breaker_slow_total, s->breaker.slow_calls_total)
/* A rate of the window's calls; 0 while it has none. */
static double rate_of(uint64_t part, uint64_t calls) {
  return calls == 0 ? 0.0 : (double)part / (double)calls;
}
EMIT_DBL(emit_breaker_open_period, ns_to_s(s->breaker.open_period_ns))
EMIT_DBL(emit_breaker_failure_rate, rate_of(s->breaker.failures_in_window,
                                            s->breaker.calls_in_window))
EMIT_DBL(emit_breaker_slow_rate, rate_of(s->breaker.slow_calls_in_window,
                                         s->breaker.calls_in_window))
EMIT_U64(emit_breaker_no_verdict, s->breaker.no_verdict_total)
EMIT_U64(emit_breaker_probes_freed, s->breaker.probes_freed_total)
EMIT_U64(emit_breaker_probes_expired, s->breaker.probes_expired_total)
EMIT_U64(emit_breaker_probes_in_flight, s->breaker.probes_in_flight)
EMIT_U64(emit_local_errors, s->local_errors)
EMIT_U64(emit_committed_too_large, s->committed_too_large)
EMIT_U64(emit_config_updates, s->config_updates)

/* 0 closed, 1 open, 2 half-open (as the HELP says); 0 for a state outside
 * the enum. */
static void emit_breaker_state(FILE *f, const char *name, const series *c,
                               format fmt) {
  (void)fmt;
  int v;
  switch (c->s->breaker.state) {
    case GRPCR_BREAKER_OPEN: v = 1; break;
    case GRPCR_BREAKER_HALF_OPEN: v = 2; break;
    default: v = 0; break;
  }
  fprintf(f, "%s{%s} %d\n", name, c->labels, v);
}

/* attempt="1" .. attempt="9", then "10+" for the last slot. */
static void emit_attempts_by_number(FILE *f, const char *name,
                                    const series *c, format fmt) {
  (void)fmt;
  for (size_t i = 0; i < GRPCR_STATS_ATTEMPT_SLOTS; i++) {
    char extra[48];
    bool last = i + 1 == GRPCR_STATS_ATTEMPT_SLOTS;
    snprintf(extra, sizeof(extra), ",attempt=\"%zu%s\"", i + 1,
             last ? "+" : "");
    sample_u64(f, name, c->labels, extra, c->s->attempts_by_number[i]);
  }
}

/* Every code, zero counts included, in code order. */
static void emit_calls(FILE *f, const char *name, const series *c,
                       format fmt) {
  (void)fmt;
  for (int code = 0; code < GRPCR_STATUS_COUNT; code++) {
    fprintf(f, "%s{%s,code=\"", name, c->labels);
    grpcr_text_write_label_value(f, grpcr_status_name(code));
    fprintf(f, "\"} %" PRIu64 "\n", c->s->status_counts[code]);
  }
}

/* OpenMetrics wants an le's canonical form, Go's %g with ".0" added to a
 * whole number ("1.0", "0.0025", "60.0"); text format 0.0.4 keeps the
 * shortest ("1"), as it always has. */
void grpcr_metrics_format_le(char *buf, size_t len, double bound, format fmt) {
  grpcr_text_format_double(buf, len, bound);
  if (fmt == FORMAT_OPENMETRICS && strpbrk(buf, ".e") == NULL &&
      strlen(buf) + 2 < len)
    strcat(buf, ".0");
}

/* The snapshot's buckets are not cumulative; the format's are. The last
 * one is le="+Inf". */
static void emit_wait_histogram(FILE *f, const char *name, const series *c,
                                format fmt) {
  const grpcr_channel_snapshot *s = c->s;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) {
    char le[32];
    if (i < GRPCR_STATS_WAIT_FINITE_BUCKETS)
      grpcr_metrics_format_le(le, sizeof(le), grpcr_stats_wait_bound(i),
                              fmt);
    else
      strcpy(le, "+Inf");
    cumulative += s->retry_wait_buckets[i];
    fprintf(f, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, c->labels, le,
            cumulative);
  }
  grpcr_metrics_sample_dbl(f, name, "_sum", c->labels,
                           s->retry_wait_sum_s);
  fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, c->labels,
          s->retry_wait_count);
}

static const family kFamilies[] = {
    {{"grpcr_requests_total", GRPCR_METRIC_COUNTER,
      "Calls the application started on the channel."},
     NULL, emit_requests, NULL},
    {{"grpcr_attempts_total", GRPCR_METRIC_COUNTER,
      "Attempts sent to the transport (calls rejected by the breaker make "
      "none)."},
     NULL, emit_attempts, NULL},
    {{"grpcr_retry_attempts_total", GRPCR_METRIC_COUNTER,
      "Attempts by their number within the call; attempt=\"10+\" counts the "
      "tenth and every later one."},
     NULL, emit_attempts_by_number, NULL},
    {{"grpcr_retries_total", GRPCR_METRIC_COUNTER,
      "Attempts after the first of a call."},
     NULL, emit_retries, NULL},
    {{"grpcr_hedges_total", GRPCR_METRIC_COUNTER,
      "Hedges started: attempts after the first of a hedged call (also in "
      "grpcr_retries_total)."},
     NULL, emit_hedges, NULL},
    {{"grpcr_retry_budget_denied_total", GRPCR_METRIC_COUNTER,
      "Retries the retry budget refused."},
     NULL, emit_budget_denied, NULL},
    {{"grpcr_retry_budget_utilization", GRPCR_METRIC_GAUGE,
      "Retries spent over retries allowed in the budget's window (0..1)."},
     has_budget, emit_budget_util, NULL},
    {{"grpcr_retry_budget_window_requests", GRPCR_METRIC_GAUGE,
      "Requests counted in the retry budget's current window."},
     has_budget, emit_budget_win_requests, NULL},
    {{"grpcr_retry_budget_window_retries", GRPCR_METRIC_GAUGE,
      "Retries spent in the retry budget's current window."},
     has_budget, emit_budget_win_retries, NULL},
    {{"grpcr_retry_budget_window_allowed", GRPCR_METRIC_GAUGE,
      "Retries the retry budget's current window allows."},
     has_budget, emit_budget_win_allowed, NULL},
    {{"grpcr_retries_stopped_by_breaker_total", GRPCR_METRIC_COUNTER,
      "Retries not made because the circuit breaker admitted no further "
      "attempt of their call (OPEN, or HALF_OPEN and not the call's probe)."},
     NULL, emit_breaker_stopped, NULL},
    {{"grpcr_retry_wait_duration_seconds", GRPCR_METRIC_HISTOGRAM,
      "Time waited before each retry."},
     NULL, emit_wait_histogram, NULL},
    {{"grpcr_circuit_breaker_state", GRPCR_METRIC_GAUGE,
      "Circuit breaker state: 0 closed, 1 open, 2 "
      "half-open."},
     has_breaker, emit_breaker_state, NULL},
    {{"grpcr_circuit_breaker_time_in_state_seconds", GRPCR_METRIC_GAUGE,
      "Seconds since the circuit breaker entered its current state."},
     has_breaker, emit_breaker_time_in_state, NULL},
    {{"grpcr_circuit_breaker_open_duration_seconds", GRPCR_METRIC_GAUGE,
      "The configured time the circuit breaker stays open."},
     has_breaker, emit_breaker_open_duration, NULL},
    {{"grpcr_circuit_breaker_open_period_seconds", GRPCR_METRIC_GAUGE,
      "The open period in force (or the last one): openDuration grown by "
      "each reopening, shortened by the jitter."},
     has_breaker, emit_breaker_open_period, NULL},
    {{"grpcr_circuit_breaker_open_seconds_total", GRPCR_METRIC_COUNTER,
      "Seconds the circuit breaker has spent open, including now."},
     has_breaker, emit_breaker_open_seconds, NULL},
    {{"grpcr_circuit_breaker_rejected_calls_total", GRPCR_METRIC_COUNTER,
      "Calls failed fast because the circuit breaker was open."},
     NULL, emit_breaker_rejected, NULL},
    {{"grpcr_circuit_breaker_throttled_calls_total", GRPCR_METRIC_COUNTER,
      "Calls failed fast by adaptive throttling (the breaker CLOSED)."},
     NULL, emit_throttled, NULL},
    {{"grpcr_circuit_breaker_throttle_probability", GRPCR_METRIC_GAUGE,
      "The probability that a call starting now is throttled (0..1): "
      "max(0, (requests - k * accepts) / (requests + 1))."},
     has_breaker, emit_throttle_probability, NULL},
    {{"grpcr_circuit_breaker_throttle_window_requests", GRPCR_METRIC_GAUGE,
      "Calls counted in adaptive throttling's window (verdicts, deadlines "
      "at the server, throttled calls)."},
     has_breaker, emit_throttle_win_requests, NULL},
    {{"grpcr_circuit_breaker_throttle_window_accepts", GRPCR_METRIC_GAUGE,
      "Of those, calls the dependency answered with a success verdict."},
     has_breaker, emit_throttle_win_accepts, NULL},
    {{"grpcr_circuit_breaker_transitions_total", GRPCR_METRIC_COUNTER,
      "Circuit breaker state changes."},
     has_breaker, emit_breaker_transitions, NULL},
    {{"grpcr_circuit_breaker_opened_total", GRPCR_METRIC_COUNTER,
      "Circuit breaker transitions into open."},
     has_breaker, emit_breaker_opened, NULL},
    {{"grpcr_circuit_breaker_window_calls", GRPCR_METRIC_GAUGE,
      "Finished calls in the circuit breaker's current window."},
     has_breaker, emit_breaker_win_calls, NULL},
    {{"grpcr_circuit_breaker_window_failures", GRPCR_METRIC_GAUGE,
      "Failed calls in the circuit breaker's current window."},
     has_breaker, emit_breaker_win_failures, NULL},
    {{"grpcr_circuit_breaker_window_slow_calls", GRPCR_METRIC_GAUGE,
      "Slow calls (slowCallDurationThreshold) in the circuit breaker's "
      "current window."},
     has_breaker, emit_breaker_win_slow, NULL},
    {{"grpcr_circuit_breaker_failure_rate", GRPCR_METRIC_GAUGE,
      "Failures over calls in the circuit breaker's current window (0..1; 0 "
      "without calls): it opens at failureRateThreshold."},
     has_breaker, emit_breaker_failure_rate, NULL},
    {{"grpcr_circuit_breaker_slow_call_rate", GRPCR_METRIC_GAUGE,
      "Slow calls over calls in the circuit breaker's current window (0..1; "
      "0 without calls): it opens at slowCallRateThreshold."},
     has_breaker, emit_breaker_slow_rate, NULL},
    {{"grpcr_circuit_breaker_slow_calls_total", GRPCR_METRIC_COUNTER,
      "Slow calls over the circuit breaker's life."},
     has_breaker, emit_breaker_slow_total, NULL},
    {{"grpcr_circuit_breaker_no_verdict_total", GRPCR_METRIC_COUNTER,
      "Admitted calls that gave the circuit breaker no verdict (cancelled, "
      "out of time on the client, dropped before their status)."},
     has_breaker, emit_breaker_no_verdict, NULL},
    {{"grpcr_circuit_breaker_probes_freed_total", GRPCR_METRIC_COUNTER,
      "Half-open probes that ended without a verdict and freed their slot."},
     has_breaker, emit_breaker_probes_freed, NULL},
    {{"grpcr_circuit_breaker_probes_expired_total", GRPCR_METRIC_COUNTER,
      "Half-open probes that held their slot for probeTimeout and lost it."},
     has_breaker, emit_breaker_probes_expired, NULL},
    {{"grpcr_circuit_breaker_probes_in_flight", GRPCR_METRIC_GAUGE,
      "Half-open probe slots held now."},
     has_breaker, emit_breaker_probes_in_flight, NULL},
    {{"grpcr_local_errors_total", GRPCR_METRIC_COUNTER,
      "Calls whose request broke a local limit (max send size): never "
      "retried, not seen by the circuit breaker."},
     NULL, emit_local_errors, NULL},
    {{"grpcr_committed_too_large_total", GRPCR_METRIC_COUNTER,
      "Calls whose request exceeded the per-RPC retry buffer: sent once."},
     NULL, emit_committed_too_large, NULL},
    {{"grpcr_config_updates_total", GRPCR_METRIC_COUNTER,
      "Service-config changes applied to the channel's policy."},
     NULL, emit_config_updates, NULL},
    {{"grpcr_calls_total", GRPCR_METRIC_COUNTER,
      "Calls by final status code (one per call, not per attempt)."},
     NULL, emit_calls, NULL},
    {{"grpcr_method_requests_total", GRPCR_METRIC_COUNTER,
      "Calls ended, by method (methods the service config names; the rest "
      "as method=\"other\")."},
     has_methods, grpcr_metrics_emit_method_requests, NULL},
    {{"grpcr_method_attempts_total", GRPCR_METRIC_COUNTER,
      "Attempts of the calls ended, by method."},
     has_methods, grpcr_metrics_emit_method_attempts, NULL},
    {{"grpcr_method_retries_total", GRPCR_METRIC_COUNTER,
      "Retries of the calls ended, by method."},
     has_methods, grpcr_metrics_emit_method_retries, NULL},
    {{"grpcr_method_retries_skipped_deadline_total", GRPCR_METRIC_COUNTER,
      "Retries not made because the call's deadline could not fit them "
      "(the backoff passes it, or less time than the method's median "
      "successful attempt would be left), by method."},
     has_methods, grpcr_metrics_emit_method_skipped_deadline, NULL},
    {{"grpcr_method_attempt_timeouts_total", GRPCR_METRIC_COUNTER,
      "Attempts cancelled by perAttemptTimeout (no response message or "
      "status in time), by method."},
     has_methods, grpcr_metrics_emit_method_attempt_timeouts, NULL},
    {{"grpcr_method_attempt_median_seconds", GRPCR_METRIC_GAUGE,
      "The median of the method's last 64 successful attempts (0 until 10 "
      "exist), by method."},
     has_methods, grpcr_metrics_emit_method_median, NULL},
    {{"grpcr_method_hedges_total", GRPCR_METRIC_COUNTER,
      "Hedges started (attempts after the first of a hedged call), by "
      "method."},
     has_methods, grpcr_metrics_emit_method_hedges, NULL},
    {{"grpcr_method_hedges_won_total", GRPCR_METRIC_COUNTER,
      "Hedged calls whose result came from a hedge, not the first attempt, "
      "by method."},
     has_methods, grpcr_metrics_emit_method_hedges_won, NULL},
    {{"grpcr_method_hedges_cancelled_total", GRPCR_METRIC_COUNTER,
      "Attempts of hedged calls cancelled because another attempt answered "
      "first, by method."},
     has_methods, grpcr_metrics_emit_method_hedges_cancelled, NULL},
    {{"grpcr_method_hedges_denied_total", GRPCR_METRIC_COUNTER,
      "Hedges the retry budget refused (the call went on with the attempts "
      "running), by method."},
     has_methods, grpcr_metrics_emit_method_hedges_denied, NULL},
    {{"grpcr_method_hedge_delay_seconds", GRPCR_METRIC_GAUGE,
      "The adaptive hedging delay (maxExtraLoad) last computed: the "
      "latency at quantile 1 - maxExtraLoad over the last 10 s (0 while "
      "unknown), by method."},
     has_methods, grpcr_metrics_emit_method_hedge_delay, NULL},
    {{"grpcr_method_calls_total", GRPCR_METRIC_COUNTER,
      "Calls ended, by method and final status code."},
     has_methods, grpcr_metrics_emit_method_calls, NULL},
    {{"grpc_client_call_retries", GRPCR_METRIC_HISTOGRAM,
      "Retries per call, for calls that retried (gRFC A96 "
      "grpc.client.call.retries)."},
     has_methods, NULL, grpcr_metrics_emit_a96_retries},
    {{"grpc_client_call_retry_delay_seconds", GRPCR_METRIC_HISTOGRAM,
      "Total backoff delay of a call that retried (gRFC A96 "
      "grpc.client.call.retry_delay)."},
     has_methods, NULL, grpcr_metrics_emit_a96_delay},
    {{"grpc_client_call_hedges", GRPCR_METRIC_HISTOGRAM,
      "Hedges per call, for calls that hedged (gRFC A96 "
      "grpc.client.call.hedges)."},
     has_methods, NULL, grpcr_metrics_emit_a96_hedges},
};

#define FAMILY_COUNT (sizeof(kFamilies) / sizeof(kFamilies[0]))

const char *grpcr_metric_type_name(grpcr_metric_type t) {
  switch (t) {
    case GRPCR_METRIC_COUNTER: return "counter";
    case GRPCR_METRIC_GAUGE: return "gauge";
    case GRPCR_METRIC_HISTOGRAM: return "histogram";
  }
  return NULL;
}

size_t grpcr_metrics_family_count(void) { return FAMILY_COUNT; }

const grpcr_metric_info *grpcr_metrics_family(size_t i) {
  return i < FAMILY_COUNT ? &kFamilies[i].info : NULL;
}

static const char *or_empty(const char *s) { return s != NULL ? s : ""; }

/* ss[i].labels for snaps[i]: a channel whose instance is n > 1 (another
 * live channel had its name and target when it was created) gets
 * channel="name#n", fixed for its life. false on ENOMEM. */
static bool make_labels(series *ss, const grpcr_channel_snapshot *snaps,
                        size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *name = or_empty(snaps[i].name);
    const char *target = or_empty(snaps[i].target);
    size_t len = 0;
    FILE *m = open_memstream(&ss[i].labels, &len);
    if (m == NULL) return false;
    fputs("channel=\"", m);
    grpcr_text_write_label_value(m, name);
    if (snaps[i].instance > 1) fprintf(m, "#%" PRIu32, snaps[i].instance);
    fputs("\",target=\"", m);
    grpcr_text_write_label_value(m, target);
    fputs("\"", m);
    bool ok = !ferror(m);
    if (fclose(m) != 0) ok = false;
    ss[i].s = &snaps[i];
    if (!ok) return false;
  }
  return true;
}

static bool applies(const family *fam, const grpcr_channel_snapshot *s) {
  return fam->applies == NULL || fam->applies(s);
}

/* OpenMetrics names a counter's family without the _total its sample
 * keeps: the length of name to print as the family. */
static int family_name_len(const family *fam, format fmt) {
  const char *name = fam->info.name;
  size_t len = strlen(name);
  static const char kTotal[] = "_total";
  const size_t suffix = sizeof(kTotal) - 1;
  if (fmt == FORMAT_OPENMETRICS && fam->info.type == GRPCR_METRIC_COUNTER &&
      len > suffix && strcmp(name + len - suffix, kTotal) == 0)
    len -= suffix;
  return (int)len;
}

/* The metadata lines: HELP then TYPE in text format 0.0.4; in OpenMetrics
 * TYPE, UNIT (seconds, for a family named so) and HELP, the order its spec
 * recommends, with the help escaped as its ABNF requires. */
static void write_metadata(FILE *f, const family *fam, format fmt) {
  const char *name = fam->info.name;
  const char *type = grpcr_metric_type_name(fam->info.type);
  if (fmt == FORMAT_PROMETHEUS) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, fam->info.help, name,
            type);
    return;
  }
  int len = family_name_len(fam, fmt);
  fprintf(f, "# TYPE %.*s %s\n", len, name, type);
  static const char kSeconds[] = "_seconds";
  const int suffix = (int)sizeof(kSeconds) - 1;
  if (len > suffix && strncmp(name + len - suffix, kSeconds, suffix) == 0)
    fprintf(f, "# UNIT %.*s seconds\n", len, name);
  fprintf(f, "# HELP %.*s ", len, name);
  grpcr_text_write_label_value(f, fam->info.help);
  fputc('\n', f);
}

static int write_exposition(FILE *f, const grpcr_channel_snapshot *snaps,
                            size_t n, format fmt) {
  series *ss = calloc(n + 1, sizeof(*ss));
  if (ss == NULL) return GRPCR_ENOMEM;
  bool ok = make_labels(ss, snaps, n);
  for (size_t k = 0; ok && k < FAMILY_COUNT; k++) {
    const family *fam = &kFamilies[k];
    bool any = false;
    for (size_t i = 0; i < n && !any; i++) any = applies(fam, &snaps[i]);
    if (!any) continue;
    write_metadata(f, fam, fmt);
    if (fam->emit_all != NULL) {
      fam->emit_all(f, fam->info.name, ss, n, fmt);
      continue;
    }
    for (size_t i = 0; i < n; i++)
      if (applies(fam, &snaps[i])) fam->emit(f, fam->info.name, &ss[i], fmt);
  }
  if (ok && fmt == FORMAT_OPENMETRICS) fputs("# EOF\n", f);
  for (size_t i = 0; i < n; i++) free(ss[i].labels);
  free(ss);
  return ok ? GRPCR_OK : GRPCR_ENOMEM;
}

static int exposition_text(const grpcr_channel_snapshot *snaps, size_t n,
                           format fmt, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  char *buf = NULL;
  size_t size = 0;
  FILE *m = open_memstream(&buf, &size);
  if (m == NULL) return GRPCR_ENOMEM;
  int rc = write_exposition(m, snaps, n, fmt);
  if (ferror(m)) rc = GRPCR_ENOMEM;
  if (fclose(m) != 0) rc = GRPCR_ENOMEM;
  if (rc != GRPCR_OK) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = size;
  return GRPCR_OK;
}

int grpcr_metrics_write_prometheus(FILE *f,
                                   const grpcr_channel_snapshot *snaps,
                                   size_t n) {
  return write_exposition(f, snaps, n, FORMAT_PROMETHEUS);
}

int grpcr_metrics_prometheus_text(const grpcr_channel_snapshot *snaps,
                                  size_t n, char **out, size_t *len) {
  return exposition_text(snaps, n, FORMAT_PROMETHEUS, out, len);
}

int grpcr_metrics_write_openmetrics(FILE *f,
                                    const grpcr_channel_snapshot *snaps,
                                    size_t n) {
  return write_exposition(f, snaps, n, FORMAT_OPENMETRICS);
}

int grpcr_metrics_openmetrics_text(const grpcr_channel_snapshot *snaps,
                                   size_t n, char **out, size_t *len) {
  return exposition_text(snaps, n, FORMAT_OPENMETRICS, out, len);
}
