/* Per-channel counters, the retry-wait histogram and the registry the stats
 * RPC reads (include/grpcr/stats.h). */
#include "grpcr/stats.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>


#include "stats_internal.h"

struct grpcr_registry {
  pthread_mutex_t mu;
  grpcr_channel_stats *head;
};

static const double kWaitBounds[] = GRPCR_STATS_WAIT_BOUNDS;
static const double kRetriesBounds[] = GRPCR_STATS_RETRIES_BOUNDS;

_Static_assert(sizeof(kRetriesBounds) / sizeof(kRetriesBounds[0]) ==
                   GRPCR_STATS_RETRIES_FINITE_BUCKETS,
               "GRPCR_STATS_RETRIES_BOUNDS and FINITE_BUCKETS disagree");

double grpcr_stats_retries_bound(size_t i) {
  if (i >= GRPCR_STATS_RETRIES_FINITE_BUCKETS) return 0.0;
  return kRetriesBounds[i];
}

_Static_assert(sizeof(kWaitBounds) / sizeof(kWaitBounds[0]) ==
                   GRPCR_STATS_WAIT_FINITE_BUCKETS,
               "GRPCR_STATS_WAIT_BOUNDS and FINITE_BUCKETS disagree");

double grpcr_stats_wait_bound(size_t i) {
  if (i >= GRPCR_STATS_WAIT_FINITE_BUCKETS) return 0.0;
  return kWaitBounds[i];
}

static char *dup_or_empty(const char *s) {
  return strdup(s != NULL ? s : "");
}

grpcr_registry *grpcr_registry_create(void) {
  grpcr_registry *r = calloc(1, sizeof(*r));
  if (r == NULL) return NULL;
  if (pthread_mutex_init(&r->mu, NULL) != 0) {
    free(r);
    return NULL;
  }
  return r;
}

static void entry_free(grpcr_channel_stats *s) {
  size_t n = atomic_load_explicit(&s->method_count, memory_order_acquire);
  for (size_t i = 0; i < n; i++) {
    grpcr_method_stats_free(
        atomic_load_explicit(&s->methods[i], memory_order_relaxed));
  }
  pthread_mutex_destroy(&s->methods_mu);
  grpcr_breaker_destroy(s->breaker);
  grpcr_budget_release(s->budget);
  free(s->name);
  free(s->target);
  free(s);
}

void grpcr_registry_destroy(grpcr_registry *r) {
  if (r == NULL) return;
  grpcr_channel_stats *s = r->head;
  while (s != NULL) {
    grpcr_channel_stats *next = s->next;
    entry_free(s);
    s = next;
  }
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* The lowest instance number no live entry with this name and target holds
 * (1 for the first). Under the registry mutex: one pass over the entries,
 * marking the numbers taken up to their count (a larger one cannot be the
 * lowest free), so a process with many channels of one name pays O(n). On
 * ENOMEM, one more than the largest taken. */
static uint32_t free_instance(const grpcr_registry *r, const char *name,
                              const char *target) {
  size_t same = 0;
  uint32_t largest = 0;
  for (const grpcr_channel_stats *e = r->head; e != NULL; e = e->next) {
    if (strcmp(e->name, name) != 0 || strcmp(e->target, target) != 0)
      continue;
    same++;
    if (e->instance > largest) largest = e->instance;
  }
  if (same == 0) return 1;
  bool *taken = calloc(same + 1, sizeof(bool));
  if (taken == NULL) return largest + 1;
  for (const grpcr_channel_stats *e = r->head; e != NULL; e = e->next)
    if (e->instance <= same && strcmp(e->name, name) == 0 &&
        strcmp(e->target, target) == 0)
      taken[e->instance] = true;
  uint32_t n = 1;
  while (n <= same && taken[n]) n++;
  free(taken);
  return n;
}

grpcr_channel_stats *grpcr_registry_add(grpcr_registry *r, const char *name,
                                        const char *target) {
  grpcr_channel_stats *s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  if (pthread_mutex_init(&s->methods_mu, NULL) != 0) {
    free(s);
    return NULL;
  }
  s->name = dup_or_empty(name);
  s->target = dup_or_empty(target);
  if (s->name == NULL || s->target == NULL) {
    entry_free(s);
    return NULL;
  }
  pthread_mutex_lock(&r->mu);
  s->instance = free_instance(r, s->name, s->target);
  s->next = r->head;
  if (r->head != NULL) r->head->prev = s;
  r->head = s;
  pthread_mutex_unlock(&r->mu);
  return s;
}

void grpcr_registry_fork_prepare(grpcr_registry *r) {
  pthread_mutex_lock(&r->mu);
}

void grpcr_registry_fork_parent(grpcr_registry *r) {
  pthread_mutex_unlock(&r->mu);
}

/* The child's one thread is the one that forked, which holds the mutex. */
void grpcr_registry_fork_child(grpcr_registry *r) {
  pthread_mutex_unlock(&r->mu);
}

void grpcr_registry_remove(grpcr_registry *r, grpcr_channel_stats *s) {
  if (s == NULL) return;
  pthread_mutex_lock(&r->mu);
  if (s->prev != NULL)
    s->prev->next = s->next;
  else
    r->head = s->next;
  if (s->next != NULL) s->next->prev = s->prev;
  pthread_mutex_unlock(&r->mu);
  entry_free(s);
}

void grpcr_registry_attach(grpcr_registry *r, grpcr_channel_stats *s,
                           grpcr_breaker *breaker, grpcr_budget *budget) {
  if (breaker != NULL) grpcr_breaker_ref(breaker);
  if (budget != NULL) grpcr_budget_ref(budget);
  pthread_mutex_lock(&r->mu);
  grpcr_breaker *old_breaker = s->breaker;
  grpcr_budget *old_budget = s->budget;
  s->breaker = breaker;
  s->budget = budget;
  pthread_mutex_unlock(&r->mu);
  /* Outside the lock: a last release may take the budget registry's. */
  grpcr_breaker_destroy(old_breaker);
  grpcr_budget_release(old_budget);
}

void grpcr_stats_on_request(grpcr_channel_stats *s) { inc(&s->requests); }

void grpcr_stats_on_attempt(grpcr_channel_stats *s, uint32_t attempt_number) {
  uint32_t slot = attempt_number == 0 ? 0 : attempt_number - 1;
  if (slot >= GRPCR_STATS_ATTEMPT_SLOTS) slot = GRPCR_STATS_ATTEMPT_SLOTS - 1;
  inc(&s->attempts_by_number[slot]);
  inc(&s->attempts);
}

/* The bucket a wait falls in, with Prometheus "le" semantics: the first
 * bound >= the wait. wait_ns / 1e9 is the nearest double to the exact
 * seconds, so a wait of exactly a bound compares equal to that bound's
 * literal. */
size_t grpcr_stats_wait_bucket(int64_t wait_ns) {
  double s = (double)wait_ns / 1e9;
  size_t i = 0;
  while (i < GRPCR_STATS_WAIT_FINITE_BUCKETS && s > kWaitBounds[i]) i++;
  return i;
}

void grpcr_stats_on_retry(grpcr_channel_stats *s, int64_t wait_ns) {
  if (wait_ns < 0) wait_ns = 0;
  inc(&s->wait_buckets[grpcr_stats_wait_bucket(wait_ns)]);
  atomic_fetch_add_explicit(&s->wait_sum_ns, (uint64_t)wait_ns,
                            memory_order_release);
  inc(&s->retries);
}

void grpcr_stats_on_hedge(grpcr_channel_stats *s) {
  inc(&s->retries);
  inc(&s->hedges); /* after retries: a snapshot reads it first */
}

void grpcr_stats_on_budget_denied(grpcr_channel_stats *s) {
  inc(&s->budget_denied);
}

void grpcr_stats_on_breaker_stopped_retry(grpcr_channel_stats *s) {
  inc(&s->breaker_stopped_retries);
}

void grpcr_stats_on_rejected(grpcr_channel_stats *s) {
  inc(&s->breaker_rejected);
}

void grpcr_stats_on_throttled(grpcr_channel_stats *s) {
  inc(&s->throttled);
}

void grpcr_stats_on_local_error(grpcr_channel_stats *s) {
  inc(&s->local_errors);
}

void grpcr_stats_on_committed_too_large(grpcr_channel_stats *s) {
  inc(&s->committed_too_large);
}

void grpcr_stats_on_config_update(grpcr_channel_stats *s) {
  inc(&s->config_updates);
}

void grpcr_stats_on_final(grpcr_channel_stats *s, int code) {
  if (code < 0 || code >= GRPCR_STATUS_COUNT) code = GRPCR_STATUS_UNKNOWN;
  inc(&s->status_counts[code]);
}

double grpcr_stats_wait_quantile(
    const uint64_t buckets[GRPCR_STATS_WAIT_BUCKETS], double q) {
  uint64_t total = 0;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) total += buckets[i];
  if (total == 0 || isnan(q)) return 0.0;
  if (q < 0.0) q = 0.0;
  if (q > 1.0) q = 1.0;
  double rank = q * (double)total;
  uint64_t below = 0;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) {
    if (buckets[i] == 0) continue;
    if ((double)(below + buckets[i]) >= rank) {
      if (i == GRPCR_STATS_WAIT_FINITE_BUCKETS)
        return kWaitBounds[GRPCR_STATS_WAIT_FINITE_BUCKETS - 1];
      double lo = i == 0 ? 0.0 : kWaitBounds[i - 1];
      double hi = kWaitBounds[i];
      return lo + (hi - lo) * ((rank - (double)below) / (double)buckets[i]);
    }
    below += buckets[i];
  }
  /* Unreachable: rank <= total, so the last non-empty bucket answers. */
  return kWaitBounds[GRPCR_STATS_WAIT_FINITE_BUCKETS - 1];
}

/* Reads the counters in the reverse of the order a call produces them
 * (final status, budget denial, retry, attempt, rejection, request), so
 * every event counted here has its earlier events counted too: finished
 * <= requests, retries <= attempts, finished <= attempts + rejected
 * + throttled.
 * finished is the status counts' sum, not a counter of its own: read
 * apart, the two could disagree by a call that ended between the reads. */
static void snapshot_counters(grpcr_channel_stats *s,
                              grpcr_channel_snapshot *o) {
  o->local_errors = load(&s->local_errors);
  o->committed_too_large = load(&s->committed_too_large);
  o->config_updates = load(&s->config_updates);
  o->finished = 0;
  for (size_t i = 0; i < GRPCR_STATUS_COUNT; i++) {
    o->status_counts[i] = load(&s->status_counts[i]);
    o->finished += o->status_counts[i];
  }
  o->budget_denied = load(&s->budget_denied);
  o->breaker_stopped_retries = load(&s->breaker_stopped_retries);
  o->hedges = load(&s->hedges);
  o->retries = load(&s->retries);
  o->retry_wait_sum_s = (double)load(&s->wait_sum_ns) / 1e9;
  /* The count is the buckets' sum, so a histogram read while retries run
   * still has its +Inf bucket equal to its count (Prometheus requires it). */
  o->retry_wait_count = 0;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) {
    o->retry_wait_buckets[i] = load(&s->wait_buckets[i]);
    o->retry_wait_count += o->retry_wait_buckets[i];
  }
  o->attempts = load(&s->attempts);
  for (size_t i = 0; i < GRPCR_STATS_ATTEMPT_SLOTS; i++)
    o->attempts_by_number[i] = load(&s->attempts_by_number[i]);
  o->breaker_rejected = load(&s->breaker_rejected);
  o->throttled = load(&s->throttled);
  o->requests = load(&s->requests);
  o->retry_wait_p50_s = grpcr_stats_wait_quantile(o->retry_wait_buckets, 0.5);
  o->retry_wait_p99_s = grpcr_stats_wait_quantile(o->retry_wait_buckets, 0.99);
}

static bool matches(const grpcr_channel_stats *s, const char *filter) {
  return filter == NULL || filter[0] == '\0' || strcmp(s->name, filter) == 0;
}

/* With no matching entry, *out is NULL and *count 0. On ENOMEM nothing is
 * returned and nothing leaks. The breaker and budget are read under the
 * registry mutex, which is what lets remove() promise that no snapshot reads
 * them afterwards; they never take this mutex, so the order is safe. */
int grpcr_registry_snapshot(grpcr_registry *r, int64_t now_ns,
                            const char *name_filter,
                            grpcr_channel_snapshot **out, size_t *count) {
  *out = NULL;
  *count = 0;
  pthread_mutex_lock(&r->mu);
  size_t n = 0;
  for (grpcr_channel_stats *s = r->head; s != NULL; s = s->next)
    if (matches(s, name_filter)) n++;
  if (n == 0) {
    pthread_mutex_unlock(&r->mu);
    return GRPCR_OK;
  }
  grpcr_channel_snapshot *snaps = calloc(n, sizeof(*snaps));
  if (snaps == NULL) {
    pthread_mutex_unlock(&r->mu);
    return GRPCR_ENOMEM;
  }
  size_t k = 0;
  for (grpcr_channel_stats *s = r->head; s != NULL; s = s->next) {
    if (!matches(s, name_filter)) continue;
    grpcr_channel_snapshot *o = &snaps[k++];
    o->name = strdup(s->name);
    o->target = strdup(s->target);
    o->instance = s->instance;
    if (o->name == NULL || o->target == NULL) {
      pthread_mutex_unlock(&r->mu);
      grpcr_channel_snapshots_free(snaps, k);
      return GRPCR_ENOMEM;
    }
    snapshot_counters(s, o);
    if (grpcr_stats_snapshot_methods(s, o) != GRPCR_OK) {
      pthread_mutex_unlock(&r->mu);
      grpcr_channel_snapshots_free(snaps, k);
      return GRPCR_ENOMEM;
    }
    if (s->breaker != NULL) {
      o->has_breaker = true;
      grpcr_breaker_snapshot_get(s->breaker, now_ns, &o->breaker);
    }
    if (s->budget != NULL) {
      o->has_budget = true;
      grpcr_budget_snapshot_get(s->budget, now_ns, &o->budget);
    }
  }
  pthread_mutex_unlock(&r->mu);
  *out = snaps;
  *count = n;
  return GRPCR_OK;
}

void grpcr_channel_snapshots_free(grpcr_channel_snapshot *snaps,
                                  size_t count) {
  if (snaps == NULL) return;
  for (size_t i = 0; i < count; i++) {
    free(snaps[i].name);
    free(snaps[i].target);
    for (size_t k = 0; k < snaps[i].method_count; k++)
      free(snaps[i].methods[k].method);
    free(snaps[i].methods);
  }
  free(snaps);
}
