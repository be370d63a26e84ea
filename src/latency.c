/* A method's recent successful-attempt latencies: see latency.h. */
#include "latency.h"

#include <stdlib.h>

void grpcr_latency_add(grpcr_latency *l, int64_t ns) {
  if (ns <= 0) return;
  const uint64_t i = atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed);
  atomic_store_explicit(&l->ns[i % GRPCR_LATENCY_SAMPLES], ns,
                        memory_order_relaxed);
}

static int cmp_i64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

bool grpcr_latency_median(grpcr_latency *l, int64_t *out, uint32_t *samples) {
  int64_t v[GRPCR_LATENCY_SAMPLES];
  uint32_t n = 0;
  /* A slot reserved but not yet written still reads 0: not a sample. */
  for (uint32_t i = 0; i < GRPCR_LATENCY_SAMPLES; i++) {
    const int64_t x = atomic_load_explicit(&l->ns[i], memory_order_relaxed);
    if (x > 0) v[n++] = x;
  }
  if (samples != NULL) *samples = n;
  *out = 0;
  if (n < GRPCR_LATENCY_MIN_SAMPLES) return false;
  qsort(v, n, sizeof v[0], cmp_i64);
  *out = v[(n - 1) / 2];
  return true;
}
