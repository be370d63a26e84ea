/* The recent latencies of a method's successful attempts: a ring of the
 * last GRPCR_LATENCY_SAMPLES, written lock-free by every call that ends OK,
 * and their median, which the retry decision compares with the time a
 * retry would have left before its deadline. Private to the core. */
#ifndef GRPCR_SRC_LATENCY_H
#define GRPCR_SRC_LATENCY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "grpcr/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  _Atomic uint64_t next; /* samples written so far */
  _Atomic int64_t ns[GRPCR_LATENCY_SAMPLES];
} grpcr_latency;

/* Adds one successful attempt's latency (> 0; others are ignored). */
void grpcr_latency_add(grpcr_latency *l, int64_t ns);
/* The median of the samples held (the lower middle one of an even count):
 * false, and *out 0, while fewer than GRPCR_LATENCY_MIN_SAMPLES are held.
 * *samples (if not NULL) gets how many are held. A sample being written
 * concurrently reads as its old value or not at all. */
bool grpcr_latency_median(grpcr_latency *l, int64_t *out, uint32_t *samples);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_SRC_LATENCY_H */
