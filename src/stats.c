/* Per-channel counters, the retry-wait histogram and the registry the stats
 * RPC reads (include/grpcr/stats.h). */
#include "grpcr/stats.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "latency.h"

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
};

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

static void inc(_Atomic uint64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_release);
}

static uint64_t load(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_acquire);
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
    grpcr_method_stats *m = atomic_load_explicit(&s->methods[i],
                                                 memory_order_relaxed);
    if (m != NULL) free(m->method);
    free(m);
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
static size_t wait_bucket(int64_t wait_ns) {
  double s = (double)wait_ns / 1e9;
  size_t i = 0;
  while (i < GRPCR_STATS_WAIT_FINITE_BUCKETS && s > kWaitBounds[i]) i++;
  return i;
}

void grpcr_stats_on_retry(grpcr_channel_stats *s, int64_t wait_ns) {
  if (wait_ns < 0) wait_ns = 0;
  inc(&s->wait_buckets[wait_bucket(wait_ns)]);
  atomic_fetch_add_explicit(&s->wait_sum_ns, (uint64_t)wait_ns,
                            memory_order_release);
  inc(&s->retries);
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

static grpcr_method_stats *method_new(const char *name, size_t len) {
  grpcr_method_stats *m = calloc(1, sizeof(*m));
  if (m == NULL) return NULL;
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
    inc(&m->delay_buckets[wait_bucket(retry_delay_ns)]);
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

/* Read in the reverse of the order on_final writes (its status last), so
 * every counted call has its attempts and histograms counted; requests is
 * the status counts' sum, so the two always agree. Entries with no calls
 * are left out. */
static int snapshot_methods(grpcr_channel_stats *s,
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
    if (snapshot_methods(s, o) != GRPCR_OK) {
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
