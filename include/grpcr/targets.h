/* Which channels a process policy applies to (GRPCR_TARGETS): a list of
 * glob patterns (fnmatch(3), no flags: '*' also matches '/'), separated by
 * commas, each optionally prefixed with '!' to exclude. A channel is
 * included if no exclusion matches it and, when the list has inclusions,
 * one of them does. A pattern matches a channel if it matches its target as
 * the application wrote it ("payments:443") or as gRPC canonicalised it
 * ("dns:///payments:443"). Immutable once parsed: thread-safe to match. */
#ifndef GRPCR_TARGETS_H
#define GRPCR_TARGETS_H

#include <stdbool.h>

#include "grpcr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct grpcr_target_filter grpcr_target_filter;

/* Parses spec ("dns:///payments.*,!*.internal"); spaces around a pattern
 * are ignored. Returns 0 and *out; GRPCR_EINVAL and *error (if not NULL; a
 * message naming the bad item, free with grpcr_free) for an empty item or a
 * lone '!'; GRPCR_ENOMEM. */
GRPCR_API int grpcr_target_filter_parse(const char *spec,
                                        grpcr_target_filter **out,
                                        char **error);

/* Whether the channel is included; a NULL filter includes every channel.
 * canonical may be NULL. */
GRPCR_API bool grpcr_target_filter_includes(const grpcr_target_filter *f,
                                            const char *target,
                                            const char *canonical);

GRPCR_API void grpcr_target_filter_free(grpcr_target_filter *f);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_TARGETS_H */
