/* Exponential backoff with jitter, and the per-instance seedable PRNG it
 * draws from. A grpcr_backoff is small per-call state owned by the caller:
 * _init it, no destroy. Not thread-safe: one call owns one sequence. */
#ifndef GRPCR_BACKOFF_H
#define GRPCR_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "grpcr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xoshiro256** state. Seed it; never share one between threads. */
typedef struct {
  uint64_t s[4];
} grpcr_rng;

/* Seeds through splitmix64, so any seed (0 too) gives a good state. */
GRPCR_API void grpcr_rng_seed(grpcr_rng *rng, uint64_t seed);
GRPCR_API uint64_t grpcr_rng_next(grpcr_rng *rng);
/* Uniform in [0, 1), 53 bits. */
GRPCR_API double grpcr_rng_uniform(grpcr_rng *rng);
/* A seed from the OS (getrandom); mixes the address of a local and a counter
 * if that fails. For production; tests pass their own seeds. Thread-safe. */
GRPCR_API uint64_t grpcr_rng_os_seed(void);

typedef enum {
  GRPCR_JITTER_NONE = 0,     /* d */
  GRPCR_JITTER_FULL,         /* U(0, d) */
  GRPCR_JITTER_EQUAL,        /* d/2 + U(0, d/2) */
  GRPCR_JITTER_DECORRELATED, /* min(max, U(initial, 3 * previous)) */
} grpcr_jitter;

/* "NONE", "FULL", ...; NULL for values outside the enum. */
GRPCR_API const char *grpcr_jitter_name(grpcr_jitter j);
/* The jitter for an upper-case name, or -1. */
GRPCR_API int grpcr_jitter_from_name(const char *name);

typedef struct {
  int64_t initial_backoff_ns; /* > 0 */
  int64_t max_backoff_ns;     /* >= initial_backoff_ns */
  double multiplier;          /* >= 1 */
  grpcr_jitter jitter;
} grpcr_backoff_policy;

typedef struct {
  grpcr_backoff_policy policy;
  grpcr_rng rng;
  uint32_t retries; /* delays handed out since init or the last reset */
  int64_t prev_ns;  /* the previous delay, for DECORRELATED */
} grpcr_backoff;

/* min(initial * multiplier^n, max) for retry n (0-based), exact for any n:
 * it saturates at max instead of overflowing. */
GRPCR_API int64_t grpcr_backoff_base_ns(const grpcr_backoff_policy *p,
                                        uint32_t n);

GRPCR_API void grpcr_backoff_init(grpcr_backoff *b,
                                  const grpcr_backoff_policy *p,
                                  uint64_t seed);
/* The jittered delay before the next retry, in [0, max_backoff_ns]; advances
 * the sequence. */
GRPCR_API int64_t grpcr_backoff_next_ns(grpcr_backoff *b);
/* Server pushback: the next delay is pushback_ns instead of a drawn one, and
 * the exponential sequence starts again from initial_backoff (as gRPC's own
 * retry filter does). Returns pushback_ns. */
GRPCR_API int64_t grpcr_backoff_pushback_ns(grpcr_backoff *b,
                                            int64_t pushback_ns);

typedef enum {
  GRPCR_PUSHBACK_NONE = 0, /* no header: use the backoff */
  GRPCR_PUSHBACK_DELAY,    /* a non-negative number of ms: use it */
  GRPCR_PUSHBACK_STOP,     /* negative or malformed: do not retry */
} grpcr_pushback;

/* Parses a grpc-retry-pushback-ms value (len bytes, not NUL-terminated).
 * value == NULL means the header was absent. On DELAY, *delay_ns is set. */
GRPCR_API grpcr_pushback grpcr_pushback_parse(const char *value, size_t len,
                                              int64_t *delay_ns);
/* The same rule for a value already read as milliseconds (gRPC parses the
 * header itself): negative, or too large for int64 nanoseconds, is STOP;
 * otherwise DELAY with *delay_ns set. */
GRPCR_API grpcr_pushback grpcr_pushback_from_ms(int64_t ms,
                                                int64_t *delay_ns);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_BACKOFF_H */
