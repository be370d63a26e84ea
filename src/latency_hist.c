/* A method's recent latencies by time window: see latency_hist.h. */
#include "latency_hist.h"

#include <math.h>

#define SLICE_NS (GRPCR_HEDGE_WINDOW_NS / GRPCR_HEDGE_SLICES)

size_t grpcr_hist_bucket(int64_t ns) {
  if (ns < ((int64_t)1 << GRPCR_HIST_MIN_SHIFT)) return 0;
  if (ns >= ((int64_t)1 << GRPCR_HIST_MAX_SHIFT)) return GRPCR_HIST_BUCKETS - 1;
  const int shift = 63 - __builtin_clzll((unsigned long long)ns);
  /* The 3 bits after the leading one pick the sub-bucket. */
  const size_t sub = (size_t)(ns >> (shift - 3)) & (GRPCR_HIST_SUB - 1);
  return 1 + (size_t)(shift - GRPCR_HIST_MIN_SHIFT) * GRPCR_HIST_SUB + sub;
}

int64_t grpcr_hist_upper_ns(size_t i) {
  if (i == 0) return ((int64_t)1 << GRPCR_HIST_MIN_SHIFT) - 1;
  /* The last bucket has no bound: its lower one (137 s) stands for it. */
  if (i >= GRPCR_HIST_BUCKETS - 1) return (int64_t)1 << GRPCR_HIST_MAX_SHIFT;
  const int shift = GRPCR_HIST_MIN_SHIFT + (int)((i - 1) / GRPCR_HIST_SUB);
  const int64_t sub = (int64_t)((i - 1) % GRPCR_HIST_SUB);
  /* The bucket holds [2^s + sub * 2^(s-3), 2^s + (sub + 1) * 2^(s-3)). */
  return ((int64_t)1 << shift) + (sub + 1) * ((int64_t)1 << (shift - 3)) - 1;
}

/* The slice for epoch e, its counts cleared first if they belong to an
 * older one. The thread that wins the epoch's exchange marks the slice as
 * being reset (-e), clears it and then publishes e: a reader skips a slice
 * whose epoch is not positive, so it never sees the new epoch with the old
 * counts. A sample another thread adds meanwhile may be cleared with them. */
static grpcr_hist_slice *slice_for(grpcr_latency_hist *h, int64_t e) {
  grpcr_hist_slice *s = &h->slices[e % GRPCR_HEDGE_SLICES];
  int64_t seen = atomic_load_explicit(&s->epoch, memory_order_acquire);
  if (seen >= 0 && seen < e &&
      atomic_compare_exchange_strong_explicit(&s->epoch, &seen, -e,
                                              memory_order_acq_rel,
                                              memory_order_acquire)) {
    for (size_t i = 0; i < GRPCR_HIST_BUCKETS; i++) {
      atomic_store_explicit(&s->counts[i], 0, memory_order_relaxed);
    }
    atomic_store_explicit(&s->epoch, e, memory_order_release);
  }
  return s;
}

void grpcr_hist_add(grpcr_latency_hist *h, int64_t now_ns, int64_t ns) {
  if (ns <= 0 || now_ns < 0) return;
  /* Epoch 0 is a zeroed slice's: epochs start at 1. */
  grpcr_hist_slice *s = slice_for(h, now_ns / SLICE_NS + 1);
  atomic_fetch_add_explicit(&s->counts[grpcr_hist_bucket(ns)], 1,
                            memory_order_relaxed);
}

bool grpcr_hist_quantile(grpcr_latency_hist *h, int64_t now_ns, double q,
                         uint64_t min_samples, int64_t *out,
                         uint64_t *samples) {
  uint64_t counts[GRPCR_HIST_BUCKETS] = {0};
  uint64_t total = 0;
  const int64_t e = now_ns < 0 ? 1 : now_ns / SLICE_NS + 1;
  for (int k = 0; k < GRPCR_HEDGE_SLICES; k++) {
    grpcr_hist_slice *s = &h->slices[k];
    const int64_t se = atomic_load_explicit(&s->epoch, memory_order_acquire);
    if (se <= 0 || se > e || se <= e - GRPCR_HEDGE_SLICES) continue;
    for (size_t i = 0; i < GRPCR_HIST_BUCKETS; i++) {
      const uint32_t c = atomic_load_explicit(&s->counts[i],
                                              memory_order_relaxed);
      counts[i] += c;
      total += c;
    }
  }
  if (samples != NULL) *samples = total;
  *out = 0;
  if (total == 0 || total < min_samples || !(q > 0 && q < 1)) return false;
  /* The smallest bucket with at least ceil(q * total) samples at or below. */
  const uint64_t rank = (uint64_t)ceil(q * (double)total);
  uint64_t seen = 0;
  for (size_t i = 0; i < GRPCR_HIST_BUCKETS; i++) {
    seen += counts[i];
    if (seen >= rank) {
      *out = grpcr_hist_upper_ns(i);
      return true;
    }
  }
  *out = grpcr_hist_upper_ns(GRPCR_HIST_BUCKETS - 1);
  return true;
}
