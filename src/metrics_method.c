/* The per-method families' samples and gRFC A96's histograms, for the
 * catalog in metrics.c (which names them, and says which channels have
 * them). Every method of a channel has a sample of each per-method family,
 * "other" included; the A96 series are per (grpc_method, grpc_target). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/text.h"
#include "metrics_internal.h"

/* A96's grpc.method: the method's full name without the leading '/'
 * ("echo.Echo/Say"), or "other". Ours use the same value. */
static const char *method_label(const grpcr_method_snapshot *m) {
  return m->method[0] == '/' ? m->method + 1 : m->method;
}

/* The channel's labels and method="..." for each of its methods. */
typedef uint64_t (*method_value)(const grpcr_method_snapshot *m);

static void emit_per_method(FILE *f, const char *name, const series *c,
                            method_value value) {
  for (size_t i = 0; i < c->s->method_count; i++) {
    const grpcr_method_snapshot *m = &c->s->methods[i];
    fprintf(f, "%s{%s,method=\"", name, c->labels);
    grpcr_text_write_label_value(f, method_label(m));
    fprintf(f, "\"} %" PRIu64 "\n", value(m));
  }
}

#define EMIT_METHOD(fn, field)                                            \
  static uint64_t fn##_value(const grpcr_method_snapshot *m) {            \
    return m->field;                                                      \
  }                                                                       \
  GRPCR_METRICS_METHOD_EMITTER(fn) {                                      \
    (void)fmt;                                                            \
    emit_per_method(f, name, c, fn##_value);                              \
  }

EMIT_METHOD(method_requests, requests)
EMIT_METHOD(method_attempts, attempts)
EMIT_METHOD(method_retries, retries)
EMIT_METHOD(method_skipped_deadline, retries_skipped_deadline)
EMIT_METHOD(method_attempt_timeouts, attempt_timeouts)
EMIT_METHOD(method_hedges, hedges)
EMIT_METHOD(method_hedges_won, hedges_won)
EMIT_METHOD(method_hedges_cancelled, hedges_cancelled)
EMIT_METHOD(method_hedges_denied, hedges_denied)

/* A gauge in seconds, per method (0 while it is not known). */
typedef double (*method_seconds)(const grpcr_method_snapshot *m);

static void emit_per_method_seconds(FILE *f, const char *name,
                                    const series *c, method_seconds value) {
  for (size_t i = 0; i < c->s->method_count; i++) {
    const grpcr_method_snapshot *m = &c->s->methods[i];
    char buf[32];
    grpcr_text_format_double(buf, sizeof(buf), value(m));
    fprintf(f, "%s{%s,method=\"", name, c->labels);
    grpcr_text_write_label_value(f, method_label(m));
    fprintf(f, "\"} %s\n", buf);
  }
}

/* The median successful attempt. */
static double median_value(const grpcr_method_snapshot *m) {
  return m->median_attempt_s;
}
GRPCR_METRICS_METHOD_EMITTER(method_median) {
  (void)fmt;
  emit_per_method_seconds(f, name, c, median_value);
}

/* The adaptive hedging delay last computed. */
static double hedge_delay_value(const grpcr_method_snapshot *m) {
  return m->hedge_delay_s;
}
GRPCR_METRICS_METHOD_EMITTER(method_hedge_delay) {
  (void)fmt;
  emit_per_method_seconds(f, name, c, hedge_delay_value);
}

GRPCR_METRICS_METHOD_EMITTER(method_calls) {
  (void)fmt;
  for (size_t i = 0; i < c->s->method_count; i++) {
    const grpcr_method_snapshot *m = &c->s->methods[i];
    for (int code = 0; code < GRPCR_STATUS_COUNT; code++) {
      fprintf(f, "%s{%s,method=\"", name, c->labels);
      grpcr_text_write_label_value(f, method_label(m));
      fputs("\",code=\"", f);
      grpcr_text_write_label_value(f, grpcr_status_name(code));
      fprintf(f, "\"} %" PRIu64 "\n", m->status_counts[code]);
    }
  }
}

/* A96's histograms are per (grpc.method, grpc.target), as gRPC's own
 * OpenTelemetry plugin records them: the channels with the same target
 * are added up, each pair written once, at its first channel. */
typedef struct {
  uint64_t buckets[GRPCR_STATS_WAIT_BUCKETS]; /* the larger of the two */
  uint64_t count;
  double sum;
} a96_histogram;

typedef void (*a96_read)(const grpcr_method_snapshot *m, a96_histogram *h);

static void read_retries(const grpcr_method_snapshot *m, a96_histogram *h) {
  for (size_t k = 0; k < GRPCR_STATS_RETRIES_BUCKETS; k++)
    h->buckets[k] += m->retries_buckets[k];
  h->count += m->retried_calls;
  h->sum += (double)m->retries_sum;
}

static void read_delay(const grpcr_method_snapshot *m, a96_histogram *h) {
  for (size_t k = 0; k < GRPCR_STATS_WAIT_BUCKETS; k++)
    h->buckets[k] += m->delay_buckets[k];
  h->count += m->retried_calls;
  h->sum += m->delay_sum_s;
}

static void read_hedges(const grpcr_method_snapshot *m, a96_histogram *h) {
  for (size_t k = 0; k < GRPCR_STATS_RETRIES_BUCKETS; k++)
    h->buckets[k] += m->hedges_buckets[k];
  h->count += m->hedged_calls;
  h->sum += (double)m->hedges_sum;
}
static const grpcr_method_snapshot *find_method(
    const grpcr_channel_snapshot *s, const char *method) {
  for (size_t k = 0; k < s->method_count; k++)
    if (strcmp(s->methods[k].method, method) == 0) return &s->methods[k];
  return NULL;
}

static bool same_target(const grpcr_channel_snapshot *a,
                        const grpcr_channel_snapshot *b) {
  return strcmp(a->target != NULL ? a->target : "",
                b->target != NULL ? b->target : "") == 0;
}

static void emit_a96(FILE *f, const char *name, const series *ss, size_t n,
                     format fmt, a96_read read, size_t finite,
                     double (*bound)(size_t)) {
  for (size_t i = 0; i < n; i++) {
    const grpcr_channel_snapshot *s = ss[i].s;
    for (size_t k = 0; k < s->method_count; k++) {
      const char *method = s->methods[k].method;
      bool seen = false;
      for (size_t j = 0; j < i && !seen; j++)
        seen = same_target(ss[j].s, s) && find_method(ss[j].s, method);
      if (seen) continue;
      a96_histogram h = {{0}, 0, 0.0};
      for (size_t j = i; j < n; j++) {
        const grpcr_method_snapshot *m =
            same_target(ss[j].s, s) ? find_method(ss[j].s, method) : NULL;
        if (m != NULL) read(m, &h);
      }
      size_t len = 0;
      char *labels = NULL;
      FILE *l = open_memstream(&labels, &len);
      if (l == NULL) continue;
      fputs("grpc_method=\"", l);
      grpcr_text_write_label_value(l, method_label(&s->methods[k]));
      fputs("\",grpc_target=\"", l);
      grpcr_text_write_label_value(l, s->target != NULL ? s->target : "");
      fputc('"', l);
      if (fclose(l) != 0) {
        free(labels);
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t b = 0; b <= finite; b++) {
        char le[32];
        if (b < finite)
          grpcr_metrics_format_le(le, sizeof(le), bound(b), fmt);
        else
          strcpy(le, "+Inf");
        cumulative += h.buckets[b];
        fprintf(f, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, labels,
                le, cumulative);
      }
      grpcr_metrics_sample_dbl(f, name, "_sum", labels, h.sum);
      fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, labels, h.count);
      free(labels);
    }
  }
}

GRPCR_METRICS_A96_EMITTER(a96_retries) {
  emit_a96(f, name, ss, n, fmt, read_retries,
           GRPCR_STATS_RETRIES_FINITE_BUCKETS, grpcr_stats_retries_bound);
}

GRPCR_METRICS_A96_EMITTER(a96_delay) {
  emit_a96(f, name, ss, n, fmt, read_delay, GRPCR_STATS_WAIT_FINITE_BUCKETS,
           grpcr_stats_wait_bound);
}

/* Hedges per call: the retries histogram's bounds. */
GRPCR_METRICS_A96_EMITTER(a96_hedges) {
  emit_a96(f, name, ss, n, fmt, read_hedges,
           GRPCR_STATS_RETRIES_FINITE_BUCKETS, grpcr_stats_retries_bound);
}
