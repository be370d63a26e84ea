/* Core functions shared between the core's own files (policy.c, stats.c,
 * json.c, text.c) and not part of the public API. */
#ifndef GRPCR_SRC_CORE_INTERNAL_H
#define GRPCR_SRC_CORE_INTERNAL_H

#include <locale.h>
#include <stdbool.h>
#include <stdint.h>

#include "grpcr/breaker.h"
#include "grpcr/budget.h"

#ifdef __cplusplus
extern "C" {
#endif

/* grpcr_budget_acquire that also says whether this call created the
 * budget (*created may be NULL). */
grpcr_budget *grpcr_budget_acquire_created(const char *key,
                                           const grpcr_budget_config *cfg,
                                           int64_t now_ns, bool *created);
/* Adds src's window counts (as of now_ns) to dst's, each bucket by its
 * start time; totals are not moved. For a channel that moves to a new
 * budget object. */
void grpcr_budget_absorb(grpcr_budget *dst, const grpcr_budget *src,
                         int64_t now_ns);

/* The "C" LC_NUMERIC locale, created once for the process, so that numbers
 * are read and written with a '.' whatever locale the application set;
 * (locale_t)0 if it could not be created. Thread-safe. */
locale_t grpcr_internal_c_numeric_locale(void);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_SRC_CORE_INTERNAL_H */
