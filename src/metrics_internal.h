/* What the metric catalog's two files share: metrics.c (the catalog, the
 * channel families' samples and the renderers) and metrics_method.c (the
 * samples of the per-method families and of gRFC A96's histograms). Private
 * to the core. */
#ifndef GRPCR_SRC_METRICS_INTERNAL_H
#define GRPCR_SRC_METRICS_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "grpcr/stats.h"

/* One channel's snapshot and its label set. */
typedef struct {
  const grpcr_channel_snapshot *s;
  char *labels; /* channel="...",target="..." */
} series;

typedef enum { FORMAT_PROMETHEUS, FORMAT_OPENMETRICS } format;

/* name then suffix ("_sum", or ""): a double sample. */
void grpcr_metrics_sample_dbl(FILE *f, const char *name, const char *suffix,
                              const char *labels, double v);
/* A bucket bound as an le value, in the format's own form. */
void grpcr_metrics_format_le(char *buf, size_t len, double bound, format fmt);

/* A family's samples for one channel, method="..." added to its labels:
 * one sample per method of the channel. */
#define GRPCR_METRICS_METHOD_EMITTER(fn)                                  \
  void grpcr_metrics_emit_##fn(FILE *f, const char *name, const series *c, \
                               format fmt)
GRPCR_METRICS_METHOD_EMITTER(method_requests);
GRPCR_METRICS_METHOD_EMITTER(method_attempts);
GRPCR_METRICS_METHOD_EMITTER(method_retries);
GRPCR_METRICS_METHOD_EMITTER(method_skipped_deadline);
GRPCR_METRICS_METHOD_EMITTER(method_attempt_timeouts);
GRPCR_METRICS_METHOD_EMITTER(method_median);
GRPCR_METRICS_METHOD_EMITTER(method_hedges);
GRPCR_METRICS_METHOD_EMITTER(method_hedges_won);
GRPCR_METRICS_METHOD_EMITTER(method_hedges_cancelled);
GRPCR_METRICS_METHOD_EMITTER(method_hedges_denied);
GRPCR_METRICS_METHOD_EMITTER(method_hedge_delay);
GRPCR_METRICS_METHOD_EMITTER(method_calls); /* and code="..." */

/* gRFC A96's histograms, labelled grpc_method and grpc_target (not by
 * channel): every series of the family at once. */
#define GRPCR_METRICS_A96_EMITTER(fn)                                      \
  void grpcr_metrics_emit_##fn(FILE *f, const char *name, const series *ss, \
                               size_t n, format fmt)
GRPCR_METRICS_A96_EMITTER(a96_retries);
GRPCR_METRICS_A96_EMITTER(a96_delay);
GRPCR_METRICS_A96_EMITTER(a96_hedges);

#endif /* GRPCR_SRC_METRICS_INTERNAL_H */
