/* Shared by the files of the shim (interceptor/): process-wide state that the
 * filter writes and the stats service reads. Never installed. */
#ifndef GRPCR_INTERCEPTOR_INTERNAL_H
#define GRPCR_INTERCEPTOR_INTERNAL_H

#include <stdint.h>

#include "grpcr/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The registry every channel with the filter adds itself to. Created on
 * first use, lives until the process exits. Thread-safe. */
grpcr_registry *grpcr_internal_registry(void);

/* Monotonic time in ns: the one clock the shim reads and hands to the core
 * (gpr_now(GPR_CLOCK_MONOTONIC), so it agrees with gRPC's deadlines). */
int64_t grpcr_internal_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_INTERCEPTOR_INTERNAL_H */
