/* Packing the stats service's answer (stats_encode.c); private to the
 * library and its fuzzer. */
#ifndef GRPCR_INTERCEPTOR_STATS_ENCODE_H
#define GRPCR_INTERCEPTOR_STATS_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "grpcr/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* snaps as a packed grpcr.v1.GetStatsResponse (*len bytes, malloc'd: free
 * it), stamped collected_at_unix_ms: every field of each snapshot, its
 * methods included (with the p50 and p99 of their retry delays, which the
 * snapshot does not hold). NULL on ENOMEM. Thread-safe: it reads only
 * snaps. */
uint8_t *grpcr_internal_stats_encode(const grpcr_channel_snapshot *snaps,
                                     size_t n, int64_t collected_at_unix_ms,
                                     size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_INTERCEPTOR_STATS_ENCODE_H */
