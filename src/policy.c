/* The channel policy of include/grpcr/policy.h. */
#include "grpcr/policy.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "core_internal.h"

struct grpcr_policy {
  _Atomic uint64_t refs;
  grpcr_channel_config cfg;
  grpcr_budget *budget;
  grpcr_breaker *breaker;
};

/* The budget settings a config stands for: its block, or the default. */
static grpcr_budget_config budget_of(const grpcr_channel_config *c) {
  return c->has_budget ? c->budget : grpcr_budget_config_default();
}

static grpcr_budget_scope scope_of(const grpcr_channel_config *c) {
  return c->has_budget ? c->budget_scope : GRPCR_BUDGET_SCOPE_CHANNEL;
}

bool grpcr_channel_config_equal(const grpcr_channel_config *a,
                                const grpcr_channel_config *b) {
  const grpcr_budget_config ba = budget_of(a), bb = budget_of(b);
  if (scope_of(a) != scope_of(b) || !grpcr_budget_config_equal(&ba, &bb))
    return false;
  if (a->has_breaker != b->has_breaker) return false;
  return !a->has_breaker ||
         grpcr_breaker_config_equal(&a->breaker, &b->breaker);
}

/* The budget for cfg: from's, kept or reconfigured, or a new one. */
static grpcr_budget *make_budget(const grpcr_channel_config *cfg,
                                 const char *target, const grpcr_policy *from,
                                 int64_t now_ns, grpcr_policy_change *ch) {
  const grpcr_budget_config want = budget_of(cfg);
  const grpcr_budget_scope scope = scope_of(cfg);
  grpcr_budget *old = from != NULL ? from->budget : NULL;
  if (old != NULL && scope_of(&from->cfg) == scope) {
    const grpcr_budget_config had = budget_of(&from->cfg);
    if (grpcr_budget_config_equal(&had, &want)) {
      grpcr_budget_ref(old);
      ch->budget_kept = true;
      return old;
    }
    if (scope == GRPCR_BUDGET_SCOPE_CHANNEL &&
        grpcr_budget_reconfigure(old, &want, now_ns) == 0) {
      grpcr_budget_ref(old);
      ch->budget_carried = true;
      return old;
    }
  }
  bool created = true;
  grpcr_budget *b =
      scope == GRPCR_BUDGET_SCOPE_TARGET
          ? grpcr_budget_acquire_created(target != NULL ? target : "", &want,
                                         now_ns, &created)
          : grpcr_budget_create(&want, now_ns);
  if (b != NULL && old != NULL && created) {
    grpcr_budget_absorb(b, old, now_ns);
    ch->budget_carried = true;
  }
  return b;
}

static grpcr_breaker *make_breaker(const grpcr_channel_config *cfg,
                                   const grpcr_policy *from, int64_t now_ns,
                                   grpcr_policy_change *ch, bool *failed) {
  *failed = false;
  if (!cfg->has_breaker) return NULL;
  grpcr_breaker *old = from != NULL ? from->breaker : NULL;
  if (old != NULL) {
    if (grpcr_breaker_config_equal(&from->cfg.breaker, &cfg->breaker)) {
      ch->breaker_kept = true;
    } else if (grpcr_breaker_reconfigure(old, &cfg->breaker, now_ns,
                                         &ch->transition) == 0) {
      ch->breaker_carried = true;
    } else {
      *failed = true;
      return NULL;
    }
    grpcr_breaker_ref(old);
    return old;
  }
  grpcr_breaker *b = grpcr_breaker_create(&cfg->breaker, now_ns);
  if (b == NULL) *failed = true;
  return b;
}

grpcr_policy *grpcr_policy_create(const grpcr_channel_config *cfg,
                                  const char *target, grpcr_policy *from,
                                  int64_t now_ns, grpcr_policy_change *change) {
  grpcr_policy_change ignored;
  grpcr_policy_change *ch = change != NULL ? change : &ignored;
  *ch = (grpcr_policy_change){0};
  if (cfg == NULL) return NULL;
  /* Checked before anything is touched, so an invalid config leaves from's
   * parts exactly as they were. */
  const grpcr_budget_config want = budget_of(cfg);
  if (!grpcr_budget_config_valid(&want) ||
      (cfg->has_breaker && !grpcr_breaker_config_valid(&cfg->breaker)))
    return NULL;
  grpcr_policy *p = calloc(1, sizeof(*p));
  if (p == NULL) return NULL;
  atomic_init(&p->refs, 1);
  p->cfg = *cfg;
  bool breaker_failed = false;
  p->budget = make_budget(cfg, target, from, now_ns, ch);
  p->breaker = make_breaker(cfg, from, now_ns, ch, &breaker_failed);
  if (p->budget == NULL || breaker_failed) {
    grpcr_policy_unref(p);
    return NULL;
  }
  return p;
}

void grpcr_policy_ref(grpcr_policy *p) {
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void grpcr_policy_unref(grpcr_policy *p) {
  if (p == NULL) return;
  if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
    return;
  grpcr_budget_release(p->budget);
  grpcr_breaker_destroy(p->breaker);
  free(p);
}

const grpcr_channel_config *grpcr_policy_config(const grpcr_policy *p) {
  return &p->cfg;
}

grpcr_budget *grpcr_policy_budget(const grpcr_policy *p) { return p->budget; }

grpcr_breaker *grpcr_policy_breaker(const grpcr_policy *p) {
  return p->breaker;
}
