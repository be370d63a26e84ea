/* Hedging (methodConfig[].resilience.hedging): while an attempt runs, may
 * the call start another? The shim asks this when a hedge is due (its delay
 * passed, or an attempt failed with a non-fatal status) and does exactly
 * what it says. Every hedge spends the channel's retry budget, so hedging
 * adds at most the load the budget allows, and a breaker that is not
 * CLOSED starts none. Thread-safe as the budget and breaker are. */
#ifndef GRPCR_HEDGING_H
#define GRPCR_HEDGING_H

#include <stdbool.h>
#include <stdint.h>

#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/common.h"
#include "grpcr/config.h"
#include "grpcr/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  GRPCR_HEDGE_YES = 0,
  GRPCR_HEDGE_NO_ATTEMPTS, /* maxAttempts attempts started already */
  GRPCR_HEDGE_NO_PUSHBACK, /* a server's pushback stopped hedging */
  GRPCR_HEDGE_NO_DEADLINE, /* the call's deadline has passed */
  /* The time left before the deadline is less than the method's median
   * successful-attempt latency (the deadline rule of retries). */
  GRPCR_HEDGE_NO_TIME,
  GRPCR_HEDGE_NO_BREAKER, /* the breaker is not CLOSED for this call */
  GRPCR_HEDGE_NO_BUDGET,  /* the retry budget denied it */
} grpcr_hedge_verdict;

/* "YES", "NO_ATTEMPTS", ...; NULL outside the enum. */
GRPCR_API const char *grpcr_hedge_verdict_name(grpcr_hedge_verdict v);

typedef struct {
  uint32_t attempts_started; /* attempts the call has started so far */
  bool stopped;              /* a pushback said: no further hedge */
  /* The channel's breaker and the call's ticket, or NULL for none. A hedge
   * starts only while the breaker is CLOSED and the call was admitted in
   * CLOSED: a half-open probe never hedges. */
  grpcr_breaker *breaker;
  const grpcr_breaker_ticket *ticket;
  int64_t median_attempt_ns; /* 0: not known, no hedge refused for it */
} grpcr_hedge_request;

/* Checks, in this order: attempts, pushback, deadline (now > deadline_ns),
 * time (deadline_ns - now < median), breaker, budget; the budget last, so
 * only a hedge that would otherwise start spends or is denied. budget may
 * be NULL (unlimited). */
GRPCR_API grpcr_hedge_verdict grpcr_hedge_decide(
    const grpcr_retry_policy *policy, grpcr_budget *budget,
    const grpcr_hedge_request *req, int64_t now_ns, int64_t deadline_ns);

/* Whether a hedge due delay_ns (>= 0) from now_ns would start by the
 * deadline: now + delay <= deadline_ns, computed without overflow. The
 * shim asks it before it waits out a server's pushback, so that no call
 * waits past its deadline for a hedge that could not start. INT64_MAX
 * (no deadline) always fits. */
GRPCR_API bool grpcr_hedge_fits(int64_t now_ns, int64_t delay_ns,
                                int64_t deadline_ns);

/* Whether an attempt's status ends the call (fatal: OK, or any status not
 * in nonFatalStatusCodes) or lets the next hedge start at once. */
GRPCR_API bool grpcr_hedge_is_fatal(const grpcr_retry_policy *policy,
                                    int status);

/* The adaptive delay (maxExtraLoad r): the method's latency at quantile
 * 1 - r over the last GRPCR_HEDGE_WINDOW_NS, once the window holds at
 * least grpcr_hedge_min_samples(r) calls; until then no delayed hedge
 * starts. The latency recorded is a hedged call's time from its first
 * attempt's start to its answer (grpcr_method_stats_on_hedged_ok), so
 * hedges that win do not pull the quantile below the delay. */
#define GRPCR_HEDGE_WINDOW_NS (10LL * 1000000000LL)
#define GRPCR_HEDGE_SLICES 5
/* ceil(10 / r), at least 20: ten calls above the quantile. */
GRPCR_API uint32_t grpcr_hedge_min_samples(double max_extra_load);

/* The delay before attempt k+1 of a hedged call: true and *delay_ns for a
 * fixed hedgingDelay, or an adaptive delay the method's stats can give now;
 * false (no delayed hedge) while they cannot. m may be NULL (then an
 * adaptive delay is never known). */
GRPCR_API bool grpcr_hedge_delay(const grpcr_retry_policy *policy,
                                 grpcr_method_stats *m, int64_t now_ns,
                                 int64_t *delay_ns);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_HEDGING_H */
