/* A channel's policy: its retry budget and circuit breaker, built from the
 * top-level "resilience" block of one service config.
 *
 * A policy is immutable once made, and shared by reference: the channel
 * holds its current one and every call holds the one it started with, so a
 * config update never pulls state from under a running call. An update
 * makes a new policy from the old one, replacing only what changed:
 *   - a part whose settings are unchanged is the same object;
 *   - a breaker whose settings changed is the same object reconfigured in
 *     place (grpcr_breaker_reconfigure): its state, generation, probes in
 *     flight, window and counters carry over, so an OPEN breaker stays OPEN
 *     and tickets of running calls stay valid;
 *   - a CHANNEL budget whose settings changed is reconfigured in place
 *     likewise (grpcr_budget_reconfigure);
 *   - a TARGET budget is keyed by its target and settings: the channel
 *     joins the one for its new settings, and if that budget is new it
 *     starts with the old budget's window counts;
 *   - a part the new config drops is released when the last policy that
 *     holds it goes.
 * Thread-safe: every function may be called from any thread. */
#ifndef GRPCR_POLICY_H
#define GRPCR_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/common.h"
#include "grpcr/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grpcr_policy grpcr_policy;

/* true if the two top-level blocks configure the same budget and breaker
 * (a block left out and the defaults it implies count as different only
 * where they behave differently). */
GRPCR_API bool grpcr_channel_config_equal(const grpcr_channel_config *a,
                                          const grpcr_channel_config *b);

/* What an update did, for stats and traces. */
typedef struct {
  bool budget_kept;        /* the same budget object, settings unchanged */
  bool budget_carried;     /* settings changed, counts carried over */
  bool breaker_kept;       /* the same breaker, settings unchanged */
  bool breaker_carried;    /* settings changed, state carried over */
  grpcr_breaker_transition transition; /* caused by the new settings */
} grpcr_policy_change;

/* The policy for cfg on a channel to target (the TARGET budget's key), made
 * from the channel's current policy `from` (NULL for the first). A budget
 * always exists (the default one without a retryBudget block); a breaker
 * only with a circuitBreaker block. change may be NULL. Returns a policy
 * with one reference, or NULL: for an invalid cfg nothing of from's is
 * changed; on ENOMEM a part of from's may already carry the new settings
 * (reconfigured in place), which the channel then runs with. */
GRPCR_API grpcr_policy *grpcr_policy_create(const grpcr_channel_config *cfg,
                                            const char *target,
                                            grpcr_policy *from, int64_t now_ns,
                                            grpcr_policy_change *change);
GRPCR_API void grpcr_policy_ref(grpcr_policy *p);
/* NULL is a no-op. */
GRPCR_API void grpcr_policy_unref(grpcr_policy *p);

GRPCR_API const grpcr_channel_config *grpcr_policy_config(
    const grpcr_policy *p);
/* Never NULL. */
GRPCR_API grpcr_budget *grpcr_policy_budget(const grpcr_policy *p);
/* NULL without a circuitBreaker block. */
GRPCR_API grpcr_breaker *grpcr_policy_breaker(const grpcr_policy *p);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_POLICY_H */
