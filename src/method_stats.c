/* Per-method entries of a channel's stats (include/grpcr/stats.h): calls,
 * retries, hedges and the latencies the deadline rule and the adaptive
 * hedging delay read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

static const double kRetriesBounds[] = GRPCR_STATS_RETRIES_BOUNDS;

static grpcr_method_stats *method_new(const char *name, size_t len) {
  grpcr_method_stats *m = calloc(1, sizeof(*m));
  if (m == NULL) return NULL;
  atomic_store_explicit(&m->hedge_delay_ns, -1, memory_order_relaxed);
  m->method = strndup(name, len);
  if (m->method == NULL) {
    free(m);
    return NULL;
  }
  return m;
}

/* Entry i, once published (i < method_count). */
static grpcr_method_stats *method_at(grpcr_channel_stats *s, size_t i) {
  return atomic_load_explicit(&s->methods[i], memory_order_acquire);
}

static grpcr_method_stats *find_method(grpcr_channel_stats *s, size_t from,
                                       const char *name, size_t len) {
  size_t n = atomic_load_explicit(&s->method_count, memory_order_acquire);
  for (size_t i = from; i < n; i++) {
    grpcr_method_stats *m = method_at(s, i);
    if (strlen(m->method) == len && memcmp(m->method, name, len) == 0) {
      return m;
    }
  }
  return NULL;
}

/* Appends an entry (under methods_mu); NULL if full or on ENOMEM. */
static grpcr_method_stats *add_method(grpcr_channel_stats *s,
                                      const char *name, size_t len) {
  size_t n = atomic_load_explicit(&s->method_count, memory_order_relaxed);
  if (n > GRPCR_METHOD_STATS_MAX) return NULL;
  grpcr_method_stats *m = method_new(name, len);
  if (m == NULL) return NULL;
  atomic_store_explicit(&s->methods[n], m, memory_order_release);
  atomic_store_explicit(&s->method_count, n + 1, memory_order_release);
  return m;
}

static grpcr_method_stats *other_method(grpcr_channel_stats *s) {
  if (atomic_load_explicit(&s->method_count, memory_order_acquire) > 0) {
    return method_at(s, 0);
  }
  pthread_mutex_lock(&s->methods_mu);
  grpcr_method_stats *m =
      atomic_load_explicit(&s->method_count, memory_order_relaxed) > 0
          ? method_at(s, 0)
          : add_method(s, GRPCR_METHOD_OTHER, strlen(GRPCR_METHOD_OTHER));
  pthread_mutex_unlock(&s->methods_mu);
  return m;
}

grpcr_method_stats *grpcr_stats_method(grpcr_channel_stats *s,
                                       const char *method, size_t len) {
  if (s == NULL) return NULL;
  grpcr_method_stats *other = other_method(s); /* always entry 0 */
  if (method == NULL || other == NULL) return other;
  grpcr_method_stats *m = find_method(s, 1, method, len);
  if (m != NULL) return m;
  pthread_mutex_lock(&s->methods_mu);
  m = find_method(s, 1, method, len);
  if (m == NULL) m = add_method(s, method, len);
  pthread_mutex_unlock(&s->methods_mu);
  return m != NULL ? m : other;
}

static size_t retries_bucket(uint64_t retries) {
  size_t i = 0;
  while (i < GRPCR_STATS_RETRIES_FINITE_BUCKETS &&
         (double)retries > kRetriesBounds[i]) {
    i++;
  }
  return i;
}

void grpcr_method_stats_on_final(grpcr_method_stats *m, uint32_t attempts,
                                 int code, int64_t retry_delay_ns) {
  if (m == NULL) return;
  if (code < 0 || code >= GRPCR_STATUS_COUNT) code = GRPCR_STATUS_UNKNOWN;
  const uint64_t retries = attempts > 1 ? attempts - 1 : 0;
  if (retries > 0) {
    if (retry_delay_ns < 0) retry_delay_ns = 0;
    inc(&m->delay_buckets[grpcr_stats_wait_bucket(retry_delay_ns)]);
    atomic_fetch_add_explicit(&m->delay_sum_ns, (uint64_t)retry_delay_ns,
                              memory_order_release);
    atomic_fetch_add_explicit(&m->retries_sum, retries, memory_order_release);
    inc(&m->retries_buckets[retries_bucket(retries)]);
  }
  atomic_fetch_add_explicit(&m->retries, retries, memory_order_release);
  atomic_fetch_add_explicit(&m->attempts, attempts, memory_order_release);
  inc(&m->status_counts[code]);
}

/* The "other" entry mixes every method the config does not name: one
 * median for all of them would refuse a fast method's retries by a slow
 * one's latency, so it keeps none. */
static bool is_other(const grpcr_method_stats *m) {
  return strcmp(m->method, GRPCR_METHOD_OTHER) == 0;
}

void grpcr_method_stats_on_attempt_ok(grpcr_method_stats *m,
                                      int64_t latency_ns) {
  if (m != NULL && !is_other(m)) grpcr_latency_add(&m->latency, latency_ns);
}

bool grpcr_method_stats_median_ok_ns(grpcr_method_stats *m, int64_t *out) {
  *out = 0;
  return m != NULL && !is_other(m) &&
         grpcr_latency_median(&m->latency, out, NULL);
}

void grpcr_method_stats_on_retry_skipped_deadline(grpcr_method_stats *m) {
  if (m != NULL) inc(&m->retries_skipped_deadline);
}

void grpcr_method_stats_on_attempt_timeout(grpcr_method_stats *m) {
  if (m != NULL) inc(&m->attempt_timeouts);
}

void grpcr_method_stats_free(grpcr_method_stats *m) {
  if (m == NULL) return;
  free(atomic_load_explicit(&m->hist, memory_order_relaxed));
  free(m->method);
  free(m);
}

void grpcr_method_stats_on_hedge(grpcr_method_stats *m) {
  if (m != NULL) inc(&m->hedges);
}

void grpcr_method_stats_on_hedge_denied(grpcr_method_stats *m) {
  if (m != NULL) inc(&m->hedges_denied);
}

void grpcr_method_stats_on_hedge_cancelled(grpcr_method_stats *m) {
  if (m != NULL) inc(&m->hedges_cancelled);
}

void grpcr_method_stats_on_hedged_final(grpcr_method_stats *m,
                                        uint32_t attempts, int code,
                                        uint32_t winner) {
  if (m == NULL) return;
  if (code < 0 || code >= GRPCR_STATUS_COUNT) code = GRPCR_STATUS_UNKNOWN;
  const uint64_t hedges = attempts > 1 ? attempts - 1 : 0;
  if (hedges > 0) {
    atomic_fetch_add_explicit(&m->hedges_sum, hedges, memory_order_release);
    inc(&m->hedges_buckets[retries_bucket(hedges)]);
  }
  if (winner > 1) inc(&m->hedges_won);
  atomic_fetch_add_explicit(&m->attempts, attempts, memory_order_release);
  inc(&m->status_counts[code]);
}

/* The window, made by the first call that records into it. */
static grpcr_latency_hist *hist_of(grpcr_method_stats *m) {
  grpcr_latency_hist *h = atomic_load_explicit(&m->hist, memory_order_acquire);
  if (h != NULL) return h;
  grpcr_latency_hist *fresh = calloc(1, sizeof(*fresh));
  if (fresh == NULL) return NULL;
  if (!atomic_compare_exchange_strong_explicit(&m->hist, &h, fresh,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    free(fresh);
    return h;
  }
  return fresh;
}

void grpcr_method_stats_on_hedged_ok(grpcr_method_stats *m, int64_t now_ns,
                                     int64_t latency_ns) {
  if (m == NULL || is_other(m)) return;
  grpcr_latency_hist *h = hist_of(m);
  if (h != NULL) grpcr_hist_add(h, now_ns, latency_ns);
}

#define HEDGE_DELAY_REFRESH_NS (100LL * 1000000LL)

bool grpcr_method_stats_latency_quantile(grpcr_method_stats *m,
                                         int64_t now_ns, double q,
                                         uint32_t min_samples, int64_t *out) {
  *out = 0;
  if (m == NULL || is_other(m)) return false;
  const int64_t at =
      atomic_load_explicit(&m->hedge_delay_at_ns, memory_order_acquire);
  if (at != 0 && now_ns >= at && now_ns - at < HEDGE_DELAY_REFRESH_NS) {
    const int64_t d =
        atomic_load_explicit(&m->hedge_delay_ns, memory_order_relaxed);
    if (d <= 0) return false;
    *out = d;
    return true;
  }
  grpcr_latency_hist *h = atomic_load_explicit(&m->hist, memory_order_acquire);
  uint64_t samples = 0;
  int64_t d = 0;
  const bool known =
      h != NULL && grpcr_hist_quantile(h, now_ns, q, min_samples, &d, &samples);
  atomic_store_explicit(&m->hedge_delay_ns, known ? d : -1,
                        memory_order_relaxed);
  atomic_store_explicit(&m->hedge_delay_samples, samples,
                        memory_order_relaxed);
  atomic_store_explicit(&m->hedge_delay_at_ns, now_ns != 0 ? now_ns : 1,
                        memory_order_release);
  *out = known ? d : 0;
  return known;
}

/* Read in the reverse of the order on_final writes (its status last), so
 * every counted call has its attempts and histograms counted; requests is
 * the status counts' sum, so the two always agree. Entries with no calls
 * are left out. */
int grpcr_stats_snapshot_methods(grpcr_channel_stats *s,
                                 grpcr_channel_snapshot *o) {
  size_t n = atomic_load_explicit(&s->method_count, memory_order_acquire);
  if (n == 0) return GRPCR_OK;
  o->methods = calloc(n, sizeof(*o->methods));
  if (o->methods == NULL) return GRPCR_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    grpcr_method_stats *m = method_at(s, i);
    grpcr_method_snapshot *q = &o->methods[o->method_count];
    q->requests = 0;
    for (size_t k = 0; k < GRPCR_STATUS_COUNT; k++) {
      q->status_counts[k] = load(&m->status_counts[k]);
      q->requests += q->status_counts[k];
    }
    if (q->requests == 0) continue;
    q->attempts = load(&m->attempts);
    q->retries = load(&m->retries);
    q->retries_sum = load(&m->retries_sum);
    q->retried_calls = 0;
    for (size_t k = 0; k < GRPCR_STATS_RETRIES_BUCKETS; k++) {
      q->retries_buckets[k] = load(&m->retries_buckets[k]);
      q->retried_calls += q->retries_buckets[k];
    }
    q->delay_sum_s = (double)load(&m->delay_sum_ns) / 1e9;
    q->retries_skipped_deadline = load(&m->retries_skipped_deadline);
    q->attempt_timeouts = load(&m->attempt_timeouts);
    q->hedges_sum = load(&m->hedges_sum);
    q->hedged_calls = 0;
    for (size_t k = 0; k < GRPCR_STATS_RETRIES_BUCKETS; k++) {
      q->hedges_buckets[k] = load(&m->hedges_buckets[k]);
      q->hedged_calls += q->hedges_buckets[k];
    }
    q->hedges_won = load(&m->hedges_won);
    q->hedges_denied = load(&m->hedges_denied);
    q->hedges_cancelled = load(&m->hedges_cancelled);
    q->hedges = load(&m->hedges);
    const int64_t delay =
        atomic_load_explicit(&m->hedge_delay_ns, memory_order_relaxed);
    q->hedge_delay_s = delay > 0 ? (double)delay / 1e9 : 0.0;
    q->hedge_delay_samples =
        atomic_load_explicit(&m->hedge_delay_samples, memory_order_relaxed);
    int64_t median = 0;
    grpcr_latency_median(&m->latency, &median, &q->latency_samples);
    q->median_attempt_s = (double)median / 1e9;
    for (size_t k = 0; k < GRPCR_STATS_WAIT_BUCKETS; k++)
      q->delay_buckets[k] = load(&m->delay_buckets[k]);
    q->method = strdup(m->method);
    if (q->method == NULL) return GRPCR_ENOMEM;
    o->method_count++;
  }
  if (o->method_count == 0) {
    free(o->methods);
    o->methods = NULL;
  }
  return GRPCR_OK;
}

