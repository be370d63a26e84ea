/* The retry budget: a ring of time buckets with running sums, so a decision
 * is a few adds under a mutex and memory does not depend on the request
 * rate. */
#include "grpcr/budget.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t epoch; /* now_ns / bucket_ns of the interval this bucket counts */
  uint64_t requests;
  uint64_t retries;
} bucket;

struct grpcr_budget {
  pthread_mutex_t mu;
  grpcr_budget_config cfg;
  int64_t bucket_ns;
  double floor_total; /* min_retries_per_second * window seconds */
  /* The newest epoch seen. Buckets hold the epochs (latest - BUCKETS,
   * latest]; the sums below are theirs, kept so no decision loops. */
  int64_t latest;
  /* Where the latest bucket starts, so that the common case (now_ns still
   * inside it) costs a compare instead of a 64-bit division. */
  int64_t latest_start_ns;
  size_t latest_slot;
  uint64_t requests_in_window;
  uint64_t retries_in_window;
  uint64_t requests_total;
  uint64_t retries_total;
  uint64_t denied_total;
  bucket ring[GRPCR_BUDGET_BUCKETS];

  /* Set for budgets made by grpcr_budget_acquire; the fields below are
   * guarded by registry_mu, shared is immutable. */
  bool shared;
  char *key;
  uint64_t refs;
  struct grpcr_budget *next;
};

grpcr_budget_config grpcr_budget_config_default(void) {
  grpcr_budget_config c = {
      .ratio = 0.1,
      .min_retries_per_second = 10.0,
      .window_ns = 10LL * 1000000000LL,
  };
  return c;
}

/* isfinite also rejects NaN; an infinite ratio or floor would make the
 * budget meaningless, so it is refused like a negative one. */
static bool config_valid(const grpcr_budget_config *c) {
  return c != NULL && isfinite(c->ratio) && c->ratio >= 0 &&
         isfinite(c->min_retries_per_second) &&
         c->min_retries_per_second >= 0 && c->window_ns > 0;
}

/* Floor division, so that a fake clock may start below zero. */
static int64_t epoch_of(const grpcr_budget *b, int64_t now_ns) {
  int64_t q = now_ns / b->bucket_ns;
  if (now_ns % b->bucket_ns < 0) q--;
  return q;
}

static size_t slot_of(int64_t epoch) {
  int64_t r = epoch % GRPCR_BUDGET_BUCKETS;
  return (size_t)(r < 0 ? r + GRPCR_BUDGET_BUCKETS : r);
}

/* Epoch e contains now_ns. Its start is computed from now_ns rather than as
 * e * bucket_ns, which may not fit; within a bucket of INT64_MIN it is
 * clamped there, at worst counting a call of the next bucket in this one. */
static void set_latest(grpcr_budget *b, int64_t e, int64_t now_ns) {
  int64_t rem = now_ns % b->bucket_ns;
  if (rem < 0) rem += b->bucket_ns;
  b->latest = e;
  b->latest_slot = slot_of(e);
  b->latest_start_ns = now_ns >= INT64_MIN + rem ? now_ns - rem : INT64_MIN;
}

/* Moves the window to now_ns, clearing the buckets it leaves behind, and
 * returns the current bucket. A now_ns older than the newest one seen (two
 * threads reading the clock and locking in the other order) counts in the
 * newest bucket: one bucket off, never lost. Called with mu held. */
static bucket *advance(grpcr_budget *b, int64_t now_ns) {
  /* Unsigned difference: exact whenever now_ns >= latest_start_ns, and
   * latest_start_ns may be far from now_ns after a clock jump. */
  if (now_ns < b->latest_start_ns ||
      (uint64_t)now_ns - (uint64_t)b->latest_start_ns <
          (uint64_t)b->bucket_ns) {
    return &b->ring[b->latest_slot];
  }
  const int64_t e = epoch_of(b, now_ns);
  if (e > b->latest) {
    /* Unsigned: the gap may exceed INT64_MAX after a huge clock jump. */
    uint64_t steps = (uint64_t)e - (uint64_t)b->latest;
    if (steps > GRPCR_BUDGET_BUCKETS) steps = GRPCR_BUDGET_BUCKETS;
    for (uint64_t i = steps; i >= 1; i--) {
      const int64_t ep = e - (int64_t)(i - 1);
      bucket *k = &b->ring[slot_of(ep)];
      b->requests_in_window -= k->requests;
      b->retries_in_window -= k->retries;
      k->epoch = ep;
      k->requests = 0;
      k->retries = 0;
    }
    set_latest(b, e, now_ns);
  }
  return &b->ring[b->latest_slot];
}

static double allowed(const grpcr_budget *b) {
  return b->cfg.ratio * (double)b->requests_in_window + b->floor_total;
}

static grpcr_budget *budget_new(const grpcr_budget_config *cfg,
                                int64_t now_ns) {
  if (!config_valid(cfg)) return NULL;
  grpcr_budget *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  if (pthread_mutex_init(&b->mu, NULL) != 0) {
    free(b);
    return NULL;
  }
  b->cfg = *cfg;
  /* Windows shorter than BUCKETS ns are nonsense but must not divide by
   * zero. */
  b->bucket_ns = cfg->window_ns / GRPCR_BUDGET_BUCKETS;
  if (b->bucket_ns == 0) b->bucket_ns = 1;
  b->floor_total = cfg->min_retries_per_second * ((double)cfg->window_ns / 1e9);
  set_latest(b, epoch_of(b, now_ns), now_ns);
  for (int i = 0; i < GRPCR_BUDGET_BUCKETS; i++) {
    b->ring[slot_of(b->latest - i)].epoch = b->latest - i;
  }
  return b;
}

static void budget_free(grpcr_budget *b) {
  pthread_mutex_destroy(&b->mu);
  free(b->key);
  free(b);
}

grpcr_budget *grpcr_budget_create(const grpcr_budget_config *cfg,
                                  int64_t now_ns) {
  return budget_new(cfg, now_ns);
}

/* On a budget from grpcr_budget_acquire this drops one reference, exactly
 * like grpcr_budget_release: destroying a shared budget outright would free
 * it under the other channels. NULL is a no-op. */
void grpcr_budget_destroy(grpcr_budget *b) {
  if (b == NULL) return;
  if (b->shared) {
    grpcr_budget_release(b);
    return;
  }
  budget_free(b);
}

void grpcr_budget_on_request(grpcr_budget *b, int64_t now_ns) {
  pthread_mutex_lock(&b->mu);
  advance(b, now_ns)->requests++;
  b->requests_in_window++;
  b->requests_total++;
  pthread_mutex_unlock(&b->mu);
}

bool grpcr_budget_try_retry(grpcr_budget *b, int64_t now_ns) {
  pthread_mutex_lock(&b->mu);
  bucket *cur = advance(b, now_ns);
  const bool ok = (double)(b->retries_in_window + 1) <= allowed(b);
  if (ok) {
    cur->retries++;
    b->retries_in_window++;
    b->retries_total++;
  } else {
    b->denied_total++;
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

void grpcr_budget_snapshot_get(grpcr_budget *b, int64_t now_ns,
                               grpcr_budget_snapshot *out) {
  pthread_mutex_lock(&b->mu);
  advance(b, now_ns);
  const double a = allowed(b);
  out->requests_in_window = b->requests_in_window;
  out->retries_in_window = b->retries_in_window;
  out->allowed_in_window = a;
  if (a <= 0) {
    out->utilisation = b->retries_in_window > 0 ? 1.0 : 0.0;
  } else {
    const double u = (double)b->retries_in_window / a;
    out->utilisation = u > 1.0 ? 1.0 : u;
  }
  out->requests_total = b->requests_total;
  out->retries_total = b->retries_total;
  out->denied_total = b->denied_total;
  pthread_mutex_unlock(&b->mu);
}

/* Shared budgets. A process has a handful (one per target and config), so a
 * list is enough; only channel creation and teardown take this lock. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static grpcr_budget *registry_head;

static bool same_config(const grpcr_budget_config *a,
                        const grpcr_budget_config *b) {
  return a->ratio == b->ratio &&
         a->min_retries_per_second == b->min_retries_per_second &&
         a->window_ns == b->window_ns;
}

/* Also NULL if key is NULL or cfg is invalid. now_ns only matters to the
 * call that creates the budget. */
grpcr_budget *grpcr_budget_acquire(const char *key,
                                   const grpcr_budget_config *cfg,
                                   int64_t now_ns) {
  if (key == NULL || !config_valid(cfg)) return NULL;
  pthread_mutex_lock(&registry_mu);
  grpcr_budget *b = registry_head;
  while (b != NULL && !(strcmp(b->key, key) == 0 && same_config(&b->cfg, cfg))) {
    b = b->next;
  }
  if (b != NULL) {
    b->refs++;
  } else {
    b = budget_new(cfg, now_ns);
    char *k = b != NULL ? strdup(key) : NULL;
    if (k == NULL) {
      if (b != NULL) budget_free(b);
      b = NULL;
    } else {
      b->shared = true;
      b->key = k;
      b->refs = 1;
      b->next = registry_head;
      registry_head = b;
    }
  }
  pthread_mutex_unlock(&registry_mu);
  return b;
}

/* On a budget from grpcr_budget_create (one owner, so one reference) this
 * is grpcr_budget_destroy. NULL is a no-op. */
void grpcr_budget_release(grpcr_budget *b) {
  if (b == NULL) return;
  if (!b->shared) {
    budget_free(b);
    return;
  }
  pthread_mutex_lock(&registry_mu);
  const bool last = --b->refs == 0;
  if (last) {
    grpcr_budget **p = &registry_head;
    while (*p != b) p = &(*p)->next;
    *p = b->next;
  }
  pthread_mutex_unlock(&registry_mu);
  if (last) budget_free(b);
}
