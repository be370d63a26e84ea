/* The stats' internals, shared by stats.c (channels and the registry) and
 * method_stats.c (per-method entries). Private to the core. */
#ifndef GRPCR_SRC_STATS_INTERNAL_H
#define GRPCR_SRC_STATS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "grpcr/budget.h"
#include "grpcr/breaker.h"
#include "grpcr/stats.h"
#include "latency.h"
#include "latency_hist.h"

/* Counters are atomics so the call path never takes a lock. Increments are
 * release and the snapshot's loads acquire: that is what makes the snapshot's
 * read order (latest event of a call first, see snapshot_entry) a guarantee
 * in the C11 model rather than a hope; relaxed loads of different counters
 * may be reordered. On x86 both compile to the same instructions as relaxed.
 * calloc's zero bytes are a valid 0 for these lock-free atomics. */
struct grpcr_channel_stats {
  grpcr_channel_stats *prev, *next; /* guarded by the registry mutex */
  char *name;
  char *target;
  uint32_t instance; /* set once, at add */
  /* Guarded by the registry mutex; the entry holds a reference on each. */
  grpcr_breaker *breaker;
  grpcr_budget *budget;

  _Atomic uint64_t requests;
  _Atomic uint64_t attempts;
  _Atomic uint64_t retries;
  _Atomic uint64_t hedges; /* part of retries */
  _Atomic uint64_t budget_denied;
  _Atomic uint64_t breaker_stopped_retries;
  _Atomic uint64_t breaker_rejected;
  _Atomic uint64_t throttled;
  _Atomic uint64_t attempts_by_number[GRPCR_STATS_ATTEMPT_SLOTS];
  _Atomic uint64_t wait_buckets[GRPCR_STATS_WAIT_BUCKETS];
  _Atomic uint64_t wait_sum_ns;
  _Atomic uint64_t status_counts[GRPCR_STATUS_COUNT];
  _Atomic uint64_t local_errors;
  _Atomic uint64_t committed_too_large;
  _Atomic uint64_t config_updates;

  /* Per-method entries: [0] is "other"; published with a release store of
   * method_count, never removed before the channel's stats are freed. */
  pthread_mutex_t methods_mu; /* serialises creation only */
  _Atomic(grpcr_method_stats *) methods[GRPCR_METHOD_STATS_MAX + 1];
  _Atomic size_t method_count;
};

struct grpcr_method_stats {
  char *method;
  _Atomic uint64_t attempts;
  _Atomic uint64_t retries;
  _Atomic uint64_t status_counts[GRPCR_STATUS_COUNT];
  _Atomic uint64_t retries_buckets[GRPCR_STATS_RETRIES_BUCKETS];
  _Atomic uint64_t retries_sum;
  _Atomic uint64_t delay_buckets[GRPCR_STATS_WAIT_BUCKETS];
  _Atomic uint64_t delay_sum_ns;
  _Atomic uint64_t retries_skipped_deadline;
  _Atomic uint64_t attempt_timeouts;
  grpcr_latency latency;
  /* Hedging: the counters, and the adaptive delay's window (made by the
   * first hedged call that records into it) with the last delay read from
   * it, kept for 100 ms so that not every call sums the window. */
  _Atomic uint64_t hedges;
  _Atomic uint64_t hedges_won;
  _Atomic uint64_t hedges_cancelled;
  _Atomic uint64_t hedges_denied;
  _Atomic uint64_t hedges_buckets[GRPCR_STATS_RETRIES_BUCKETS];
  _Atomic uint64_t hedges_sum;
  _Atomic(grpcr_latency_hist *) hist;
  _Atomic int64_t hedge_delay_ns;    /* -1: not enough samples */
  _Atomic int64_t hedge_delay_at_ns; /* when it was read; 0: never */
  _Atomic uint64_t hedge_delay_samples;
};

static inline void inc(_Atomic uint64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_release);
}

static inline uint64_t load(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_acquire);
}

/* The retry-wait histogram's bucket for a wait (stats.c). */
size_t grpcr_stats_wait_bucket(int64_t wait_ns);
/* Frees an entry (NULL is a no-op). */
void grpcr_method_stats_free(grpcr_method_stats *m);
/* The channel's per-method entries into o->methods. */
int grpcr_stats_snapshot_methods(grpcr_channel_stats *s,
                                 grpcr_channel_snapshot *o);

#endif /* GRPCR_SRC_STATS_INTERNAL_H */
