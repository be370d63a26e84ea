/* The metric catalog: every Prometheus family grpc-resilience exports (name,
 * type, help text), and the renderers that write channel snapshots
 * (grpcr/stats.h) as text exposition format 0.0.4 or as OpenMetrics 1.0.0.
 * One table drives all three, so grpcr-stats --prometheus, the /metrics
 * endpoint (grpcr_metrics_http_start) and an in-process exporter print the
 * same series.
 *
 * Every series carries channel="<name>" and target="<target>"; a second
 * snapshot with the same name and target as an earlier one gets
 * channel="<name>#2" (then #3, ...), since Prometheus rejects a scrape with
 * duplicate series. A family is written (HELP, TYPE, then one series per
 * channel that has it) only if some channel has it: the breaker families
 * only for channels with a breaker, the budget gauges only for channels with
 * a budget. Thread-safe: no shared mutable state. */
#ifndef GRPCR_METRICS_H
#define GRPCR_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "grpcr/common.h"
#include "grpcr/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  GRPCR_METRIC_COUNTER = 0,
  GRPCR_METRIC_GAUGE,
  GRPCR_METRIC_HISTOGRAM,
} grpcr_metric_type;

typedef struct {
  const char *name; /* "grpcr_requests_total" */
  grpcr_metric_type type;
  const char *help; /* the HELP text, one line */
} grpcr_metric_info;

/* "counter", "gauge", "histogram"; NULL outside the enum. */
GRPCR_API const char *grpcr_metric_type_name(grpcr_metric_type t);

/* The families in the order the renderer writes them: i from 0 to
 * grpcr_metrics_family_count() - 1; NULL past the end. */
GRPCR_API size_t grpcr_metrics_family_count(void);
GRPCR_API const grpcr_metric_info *grpcr_metrics_family(size_t i);

/* Writes the exposition of n snapshots (in their order) to f. Returns 0 or
 * GRPCR_ENOMEM (f then holds a partial exposition); the stream's own errors
 * are left in ferror(f). */
GRPCR_API int grpcr_metrics_write_prometheus(
    FILE *f, const grpcr_channel_snapshot *snaps, size_t n);

/* The same exposition in a new NUL-terminated buffer: *out (free with
 * grpcr_free) and its length *len, without the NUL. Returns 0 or
 * GRPCR_ENOMEM (then *out is NULL). */
GRPCR_API int grpcr_metrics_prometheus_text(
    const grpcr_channel_snapshot *snaps, size_t n, char **out, size_t *len);

/* The HTTP Content-Type of each format. */
#define GRPCR_METRICS_PROMETHEUS_CONTENT_TYPE \
  "text/plain; version=0.0.4; charset=utf-8"
#define GRPCR_METRICS_OPENMETRICS_CONTENT_TYPE \
  "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* The same series as OpenMetrics 1.0.0 text: a counter's TYPE and HELP name
 * its family without "_total" (its samples keep it), families named
 * *_seconds carry "# UNIT <family> seconds", metadata comes in the order
 * TYPE, UNIT, HELP, HELP text is escaped like a label value, le values are
 * canonical ("1.0", "+Inf"), and the exposition ends with "# EOF" (no
 * channels: only that line). Returns as grpcr_metrics_write_prometheus; on
 * GRPCR_ENOMEM the partial exposition has no "# EOF", so an ingestor
 * rejects it whole. */
GRPCR_API int grpcr_metrics_write_openmetrics(
    FILE *f, const grpcr_channel_snapshot *snaps, size_t n);

/* That exposition in a new buffer, as grpcr_metrics_prometheus_text. */
GRPCR_API int grpcr_metrics_openmetrics_text(
    const grpcr_channel_snapshot *snaps, size_t n, char **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_METRICS_H */
