/* The "resilience" blocks of a service config, as C structs, with their
 * defaults and validation. Parsing never stops at the first problem: every
 * error is collected with the JSON path it concerns. Thread-safe (no shared
 * state). The parse and validate functions also return GRPCR_EINVAL for a
 * NULL argument and GRPCR_ENOMEM if memory runs out. */
#ifndef GRPCR_CONFIG_H
#define GRPCR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpcr/backoff.h"
#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/common.h"
#include "grpcr/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds that validation enforces (inclusive unless said otherwise). */
#define GRPCR_MAX_ATTEMPTS_LIMIT 100
#define GRPCR_MAX_BACKOFF_NS_LIMIT (3600LL * 1000000000LL)      /* 1 h */
#define GRPCR_MULTIPLIER_LIMIT 100.0
#define GRPCR_BUDGET_RATIO_LIMIT 10.0
#define GRPCR_MIN_RETRIES_PER_SECOND_LIMIT 1000000.0
#define GRPCR_WINDOW_NS_MIN (1000000000LL)                     /* 1 s */
#define GRPCR_WINDOW_NS_MAX (3600LL * 1000000000LL)            /* 1 h */
#define GRPCR_OPEN_DURATION_NS_MIN (1000000LL)                 /* 1 ms */
#define GRPCR_OPEN_DURATION_NS_MAX (24LL * 3600LL * 1000000000LL) /* 1 day */
#define GRPCR_PROBE_TIMEOUT_NS_MIN (1000000LL)                 /* 1 ms */
#define GRPCR_PROBE_TIMEOUT_NS_MAX (24LL * 3600LL * 1000000000LL) /* 1 day */
#define GRPCR_SLOW_CALL_NS_MIN (1000000LL)                     /* 1 ms */
#define GRPCR_SLOW_CALL_NS_MAX (3600LL * 1000000000LL)         /* 1 h */
#define GRPCR_PER_ATTEMPT_TIMEOUT_NS_MIN (1000000LL)           /* 1 ms */
#define GRPCR_PER_ATTEMPT_TIMEOUT_NS_MAX (3600LL * 1000000000LL) /* 1 h */
#define GRPCR_HEDGING_DELAY_NS_MAX (3600LL * 1000000000LL)     /* 1 h */
#define GRPCR_MINIMUM_CALLS_LIMIT 1000000u
#define GRPCR_HALF_OPEN_MAX_CALLS_LIMIT 1000u

/* methodConfig[].resilience.hedging (gRFC A6's hedgingPolicy, with
 * maxExtraLoad for an adaptive delay). */
typedef struct {
  bool enabled; /* a hedging block: the method hedges and never retries */
  /* hedgingDelay: attempt k+1 starts this long after attempt k; 0 (the
   * default, as in A6) starts every attempt at once. */
  int64_t delay_ns;
  /* maxExtraLoad (0 < r < 1), in place of hedgingDelay: the delay is the
   * method's recent latency at quantile 1 - r (include/grpcr/hedging.h);
   * 0: the fixed delay above. */
  double max_extra_load;
  /* nonFatalStatusCodes: such a status sends the next hedge at once; any
   * other (OK included) ends the call. Default: none. */
  grpcr_code_set non_fatal_codes;
} grpcr_hedging_policy;

/* methodConfig[].resilience */
typedef struct {
  uint32_t max_attempts;          /* required, 1..100; 1 = never retry */
  grpcr_backoff_policy backoff;   /* initialBackoff 0.1s, maxBackoff 10s,
                                     backoffMultiplier 2, jitter FULL */
  grpcr_code_set retryable_codes; /* default {UNAVAILABLE}; never OK */
  /* perAttemptTimeout: an attempt with no response message or status this
   * long after it started is cancelled and retried as a retryable failure;
   * 0: none (GRPCR_PER_ATTEMPT_TIMEOUT_NS_MIN..MAX). */
  int64_t per_attempt_timeout_ns;
  /* The hedging block instead of the fields above: then max_attempts is
   * hedging.maxAttempts (2..100) and the others keep their defaults. */
  grpcr_hedging_policy hedging;
} grpcr_retry_policy;

/* The top-level "resilience" block. */
typedef struct {
  bool has_budget; /* a retryBudget block was given */
  grpcr_budget_config budget;
  grpcr_budget_scope budget_scope;
  bool has_breaker; /* a circuitBreaker block was given */
  grpcr_breaker_config breaker;
} grpcr_channel_config;

typedef struct {
  char *field;   /* JSON path, e.g. "methodConfig[0].resilience.maxAttempts" */
  char *message; /* e.g. "must be between 1 and 100" */
} grpcr_config_error;

typedef struct {
  grpcr_config_error *items;
  size_t count;
  size_t cap;
} grpcr_config_errors;

/* Frees the items and zeroes *errs; safe on a zeroed or freed list. */
GRPCR_API void grpcr_config_errors_free(grpcr_config_errors *errs);
/* "field:<f> error:<m>" lines joined by '\n' (no trailing newline); free
 * with grpcr_free. NULL on ENOMEM; "" for an empty list. */
GRPCR_API char *grpcr_config_errors_format(const grpcr_config_errors *errs);

/* Parses the top-level "resilience" of a whole service config (JSON text of
 * len bytes). No block: *out is the default (no budget block, no breaker).
 * Returns 0, or GRPCR_ECONFIG with the problems appended to errs. */
GRPCR_API int grpcr_config_parse_channel(const char *json, size_t len,
                                         grpcr_channel_config *out,
                                         grpcr_config_errors *errs);

/* Parses one methodConfig entry (JSON text of len bytes); path is its JSON
 * path for errors ("methodConfig[2]"; "" to leave field names relative).
 * *has_policy says whether it has a "resilience" block. An entry with both
 * "retryPolicy" and "resilience" is an error: no call may be retried by two
 * layers. Returns 0 or GRPCR_ECONFIG with errors appended. */
GRPCR_API int grpcr_config_parse_method(const char *json, size_t len,
                                        const char *path,
                                        grpcr_retry_policy *out,
                                        bool *has_policy,
                                        grpcr_config_errors *errs);

/* Whole service config: JSON syntax, the top-level block and every
 * methodConfig entry. Returns 0 or GRPCR_ECONFIG with errors appended. */
GRPCR_API int grpcr_config_validate(const char *json, size_t len,
                                    grpcr_config_errors *errs);

/* A process policy (GRPCR_CONFIG, GRPCR_CONFIG_FILE, grpcr-run --config):
 * a JSON object with at most a top-level "resilience" block and a
 * "methodConfig" array whose entries have only "name" (gRPC's method names:
 * {"service", "method"}, a method only with a service, no name twice) and
 * "resilience" (required). Every other field is an error naming it: gRPC's
 * own settings belong in the application's service config. The blocks are
 * checked as grpcr_config_validate checks them. Returns 0, GRPCR_ECONFIG
 * with errors appended, or GRPCR_ENOMEM. */
GRPCR_API int grpcr_config_validate_process(const char *json, size_t len,
                                            grpcr_config_errors *errs);

/* Parses a duration in the proto3 JSON form gRPC uses ("0.1s", "30s",
 * up to 9 fractional digits). Returns 0 and sets *ns, or GRPCR_EINVAL. */
GRPCR_API int grpcr_duration_parse(const char *s, int64_t *ns);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_CONFIG_H */
