/* The retry budget: the shared sliding window (window.h) of requests and
 * retries, so a decision is a few adds under a mutex and memory does not
 * depend on the request rate. */
#include "grpcr/budget.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "window.h"

struct grpcr_budget {
  pthread_mutex_t mu;
  grpcr_budget_config cfg;
  double floor_total; /* min_retries_per_second * window seconds */
  grpcr_window window; /* n[0] requests, n[1] retries */
  uint64_t requests_total;
  uint64_t retries_total;
  uint64_t denied_total;
  uint64_t reconfigured_total;

  /* References: the creator's, then one per grpcr_budget_ref or acquire.
   * A shared budget's last release takes registry_mu to leave the list, so
   * an acquire (which adds under registry_mu) never finds a dying one. */
  _Atomic uint64_t refs;
  /* Set for budgets made by grpcr_budget_acquire; key and next are guarded
   * by registry_mu, shared is immutable. */
  bool shared;
  char *key;
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
bool grpcr_budget_config_valid(const grpcr_budget_config *c) {
  return c != NULL && isfinite(c->ratio) && c->ratio >= 0 &&
         isfinite(c->min_retries_per_second) &&
         c->min_retries_per_second >= 0 && c->window_ns > 0;
}

static double allowed(const grpcr_budget *b) {
  return b->cfg.ratio * (double)b->window.sum[0] + b->floor_total;
}

static double floor_of(const grpcr_budget_config *cfg) {
  return cfg->min_retries_per_second * ((double)cfg->window_ns / 1e9);
}

static grpcr_budget *budget_new(const grpcr_budget_config *cfg,
                                int64_t now_ns) {
  if (!grpcr_budget_config_valid(cfg)) return NULL;
  grpcr_budget *b = calloc(1, sizeof *b);
  if (b == NULL) return NULL;
  if (pthread_mutex_init(&b->mu, NULL) != 0) {
    free(b);
    return NULL;
  }
  b->cfg = *cfg;
  b->floor_total = floor_of(cfg);
  grpcr_window_init(&b->window, cfg->window_ns, now_ns);
  atomic_init(&b->refs, 1);
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

void grpcr_budget_destroy(grpcr_budget *b) { grpcr_budget_release(b); }

void grpcr_budget_ref(grpcr_budget *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

int grpcr_budget_reconfigure(grpcr_budget *b, const grpcr_budget_config *cfg,
                             int64_t now_ns) {
  if (b == NULL || b->shared || !grpcr_budget_config_valid(cfg)) return GRPCR_EINVAL;
  pthread_mutex_lock(&b->mu);
  if (!grpcr_budget_config_equal(&b->cfg, cfg)) {
    b->cfg = *cfg;
    b->floor_total = floor_of(cfg);
    grpcr_window_resize(&b->window, cfg->window_ns, now_ns);
    b->reconfigured_total++;
  }
  pthread_mutex_unlock(&b->mu);
  return 0;
}

void grpcr_budget_absorb(grpcr_budget *dst, const grpcr_budget *src,
                         int64_t now_ns) {
  if (dst == NULL || src == NULL || dst == src) return;
  /* One lock at a time (a copy of src's window), so two absorbs in
   * opposite directions cannot deadlock. */
  grpcr_budget *s = (grpcr_budget *)src;
  pthread_mutex_lock(&s->mu);
  grpcr_window from = s->window;
  pthread_mutex_unlock(&s->mu);
  pthread_mutex_lock(&dst->mu);
  grpcr_window_merge(&dst->window, &from, now_ns);
  pthread_mutex_unlock(&dst->mu);
}

void grpcr_budget_on_request(grpcr_budget *b, int64_t now_ns) {
  pthread_mutex_lock(&b->mu);
  grpcr_window_add(&b->window, now_ns, 1, 0);
  b->requests_total++;
  pthread_mutex_unlock(&b->mu);
}

bool grpcr_budget_try_retry(grpcr_budget *b, int64_t now_ns) {
  pthread_mutex_lock(&b->mu);
  grpcr_window_advance(&b->window, now_ns);
  const bool ok = (double)(b->window.sum[1] + 1) <= allowed(b);
  if (ok) {
    grpcr_window_add(&b->window, now_ns, 0, 1);
    b->retries_total++;
  } else {
    b->denied_total++;
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

void grpcr_budget_refund_retry(grpcr_budget *b, int64_t now_ns) {
  pthread_mutex_lock(&b->mu);
  grpcr_window_take(&b->window, now_ns, 1);
  if (b->retries_total > 0) b->retries_total--;
  pthread_mutex_unlock(&b->mu);
}

void grpcr_budget_snapshot_get(grpcr_budget *b, int64_t now_ns,
                               grpcr_budget_snapshot *out) {
  pthread_mutex_lock(&b->mu);
  grpcr_window_advance(&b->window, now_ns);
  const double a = allowed(b);
  const uint64_t retries = b->window.sum[1];
  out->requests_in_window = b->window.sum[0];
  out->retries_in_window = retries;
  out->allowed_in_window = a;
  if (a <= 0) {
    out->utilisation = retries > 0 ? 1.0 : 0.0;
  } else {
    const double u = (double)retries / a;
    out->utilisation = u > 1.0 ? 1.0 : u;
  }
  out->requests_total = b->requests_total;
  out->retries_total = b->retries_total;
  out->denied_total = b->denied_total;
  out->reconfigured_total = b->reconfigured_total;
  pthread_mutex_unlock(&b->mu);
}

/* Shared budgets. A process has a handful (one per target and config), so a
 * list is enough; only channel creation and teardown take this lock. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static grpcr_budget *registry_head;

bool grpcr_budget_config_equal(const grpcr_budget_config *a,
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
  return grpcr_budget_acquire_created(key, cfg, now_ns, NULL);
}

grpcr_budget *grpcr_budget_acquire_created(const char *key,
                                           const grpcr_budget_config *cfg,
                                           int64_t now_ns, bool *created) {
  if (created != NULL) *created = false;
  if (key == NULL || !grpcr_budget_config_valid(cfg)) return NULL;
  pthread_mutex_lock(&registry_mu);
  grpcr_budget *b = registry_head;
  while (b != NULL && !(strcmp(b->key, key) == 0 && grpcr_budget_config_equal(&b->cfg, cfg))) {
    b = b->next;
  }
  if (b != NULL) {
    grpcr_budget_ref(b);
  } else {
    b = budget_new(cfg, now_ns);
    char *k = b != NULL ? strdup(key) : NULL;
    if (k == NULL) {
      if (b != NULL) budget_free(b);
      b = NULL;
    } else {
      b->shared = true;
      b->key = k;
      b->next = registry_head;
      registry_head = b;
      if (created != NULL) *created = true;
    }
  }
  pthread_mutex_unlock(&registry_mu);
  return b;
}

void grpcr_budget_release(grpcr_budget *b) {
  if (b == NULL) return;
  if (!b->shared) {
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
      budget_free(b);
    return;
  }
  pthread_mutex_lock(&registry_mu);
  const bool last =
      atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1;
  if (last) {
    grpcr_budget **p = &registry_head;
    while (*p != b) p = &(*p)->next;
    *p = b->next;
  }
  pthread_mutex_unlock(&registry_mu);
  if (last) budget_free(b);
}
