/* A retry budget: over a sliding window, retries may be at most
 *   ratio * requests + min_retries_per_second * window_seconds.
 * The window is a ring of GRPCR_BUDGET_BUCKETS time buckets, so memory is
 * O(1) whatever the request rate; a bucket expires as a whole once it is
 * older than the window. Every function is thread-safe: each takes a short
 * mutex-protected critical section (a few adds and compares), because the
 * check and the spend must be one atomic step across several counters. */
#ifndef GRPCR_BUDGET_H
#define GRPCR_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "grpcr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRPCR_BUDGET_BUCKETS 20

typedef enum {
  GRPCR_BUDGET_SCOPE_CHANNEL = 0, /* one budget per channel */
  GRPCR_BUDGET_SCOPE_TARGET,      /* shared by channels with the same key */
} grpcr_budget_scope;

typedef struct {
  double ratio;                  /* retries per request, >= 0 */
  double min_retries_per_second; /* the floor, >= 0 */
  int64_t window_ns;             /* > 0 */
} grpcr_budget_config;

/* ratio 0.1, 10 retries/s, 10 s: what applies when a method has a retry
 * policy but the service config has no retryBudget block. */
GRPCR_API grpcr_budget_config grpcr_budget_config_default(void);
/* true if cfg is valid: finite ratio and floor >= 0, window > 0. */
GRPCR_API bool grpcr_budget_config_valid(const grpcr_budget_config *cfg);
/* true if every setting is the same. */
GRPCR_API bool grpcr_budget_config_equal(const grpcr_budget_config *a,
                                         const grpcr_budget_config *b);

typedef struct grpcr_budget grpcr_budget;

/* A budget with one reference, the caller's. NULL if cfg is invalid or
 * memory runs out. */
GRPCR_API grpcr_budget *grpcr_budget_create(const grpcr_budget_config *cfg,
                                            int64_t now_ns);
/* Ownership is shared by reference: grpcr_budget_ref adds one, and
 * grpcr_budget_destroy and grpcr_budget_release (the same function) drop
 * one; the last drop frees the budget (and takes a shared one off the
 * process list). NULL is a no-op for destroy and release. Thread-safe. */
GRPCR_API void grpcr_budget_ref(grpcr_budget *b);
GRPCR_API void grpcr_budget_destroy(grpcr_budget *b);

/* Applies new settings in place, keeping the window's counts: with the same
 * window length every bucket carries over; with another length each
 * bucket's counts move to the new bucket holding its start time and those
 * older than the new window are dropped. Totals carry on. Returns 0, or
 * GRPCR_EINVAL for an invalid cfg or a shared budget (its settings are its
 * identity: see grpcr_budget_acquire). */
GRPCR_API int grpcr_budget_reconfigure(grpcr_budget *b,
                                       const grpcr_budget_config *cfg,
                                       int64_t now_ns);

/* Counts one request (one application call, not an attempt). */
GRPCR_API void grpcr_budget_on_request(grpcr_budget *b, int64_t now_ns);
/* Asks for one retry. true: allowed and spent. false: denied, nothing
 * spent, and the denial counted. */
GRPCR_API bool grpcr_budget_try_retry(grpcr_budget *b, int64_t now_ns);
/* Gives back a retry that try_retry allowed but that never started (its
 * call was cancelled in the backoff, or the breaker stopped it): it leaves
 * the window (the newest bucket holding one, if it is still inside) and
 * retries_total. Thread-safe. */
GRPCR_API void grpcr_budget_refund_retry(grpcr_budget *b, int64_t now_ns);

typedef struct {
  uint64_t requests_in_window;
  uint64_t retries_in_window;
  double allowed_in_window;   /* ratio * requests + floor */
  double utilisation;         /* retries / allowed, clamped to 0..1 */
  uint64_t requests_total;    /* since create; only increase */
  uint64_t retries_total;
  uint64_t denied_total;
  uint64_t reconfigured_total; /* settings changed in place */
} grpcr_budget_snapshot;

GRPCR_API void grpcr_budget_snapshot_get(grpcr_budget *b, int64_t now_ns,
                                         grpcr_budget_snapshot *out);

/* Shared budgets (scope TARGET): the one registered under key with this very
 * config, created on first use; every acquire takes a reference. Budgets
 * under the same key with different configs are distinct. NULL on ENOMEM. */
GRPCR_API grpcr_budget *grpcr_budget_acquire(const char *key,
                                             const grpcr_budget_config *cfg,
                                             int64_t now_ns);
GRPCR_API void grpcr_budget_release(grpcr_budget *b);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_BUDGET_H */
