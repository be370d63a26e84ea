/* A method's recent latencies as a time-windowed log-bucket histogram, for
 * quantiles far in the tail (the adaptive hedging delay reads its p99 or
 * p95, which the 64-sample ring in latency.h cannot give). The window is
 * GRPCR_HEDGE_SLICES slices of GRPCR_HEDGE_WINDOW_NS / GRPCR_HEDGE_SLICES
 * each; a quantile covers the current slice and the ones before it that
 * are still in the window (between 8 and 10 s with the 10 s window).
 * Buckets: 8 to each power of two from 1 us (a value is off by at most
 * 1/8 = 12.5%), one below 1 us and one from 2^37 ns (137 s) up. Written
 * lock-free by every call that records; a sample racing its slice's reset
 * may be lost, never counted twice. Private to the core. */
#ifndef GRPCR_SRC_LATENCY_HIST_H
#define GRPCR_SRC_LATENCY_HIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "grpcr/hedging.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRPCR_HIST_SUB 8                /* buckets per power of two */
#define GRPCR_HIST_MIN_SHIFT 10         /* 1024 ns */
#define GRPCR_HIST_MAX_SHIFT 37         /* 137 s */
#define GRPCR_HIST_BUCKETS \
  (2 + (GRPCR_HIST_MAX_SHIFT - GRPCR_HIST_MIN_SHIFT) * GRPCR_HIST_SUB)

typedef struct {
  _Atomic int64_t epoch; /* now / slice length when its counts began */
  _Atomic uint32_t counts[GRPCR_HIST_BUCKETS];
} grpcr_hist_slice;

typedef struct {
  grpcr_hist_slice slices[GRPCR_HEDGE_SLICES];
} grpcr_latency_hist;

/* The bucket of a latency, and the largest latency in bucket i. */
size_t grpcr_hist_bucket(int64_t ns);
int64_t grpcr_hist_upper_ns(size_t i);

/* Adds one latency (> 0; others are ignored) at now_ns (>= 0). */
void grpcr_hist_add(grpcr_latency_hist *h, int64_t now_ns, int64_t ns);
/* The q-quantile (0 < q < 1) of the window ending at now_ns, as the upper
 * bound of its bucket: false (and *out 0) with fewer than min_samples.
 * *samples (if not NULL) gets the window's count. */
bool grpcr_hist_quantile(grpcr_latency_hist *h, int64_t now_ns, double q,
                         uint64_t min_samples, int64_t *out,
                         uint64_t *samples);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_SRC_LATENCY_HIST_H */
