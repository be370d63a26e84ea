/* The retry decision: after an attempt ends, may the call try again, and
 * after how long? The shim asks this for every failed attempt and does
 * exactly what it says. Not thread-safe per call (it advances the call's
 * backoff); the budget it consults is thread-safe. */
#ifndef GRPCR_RETRY_H
#define GRPCR_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "grpcr/backoff.h"
#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/common.h"
#include "grpcr/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRPCR_NO_DEADLINE INT64_MAX

typedef enum {
  GRPCR_RETRY_YES = 0,
  GRPCR_RETRY_NO_SUCCESS,   /* the attempt ended OK */
  GRPCR_RETRY_NO_STATUS,    /* its status is not retryable */
  GRPCR_RETRY_NO_COMMITTED, /* the server already delivered data */
  GRPCR_RETRY_NO_ATTEMPTS,  /* max_attempts reached */
  GRPCR_RETRY_NO_PUSHBACK,  /* the server's pushback said stop */
  GRPCR_RETRY_NO_DEADLINE,  /* the retry would start after the deadline */
  GRPCR_RETRY_NO_BUDGET,    /* the retry budget denied it (counted there) */
  GRPCR_RETRY_NO_BREAKER,   /* the breaker admits no attempt of this call */
  /* The time the retry would have before the deadline is less than the
   * method's median successful-attempt latency: it would most likely
   * end on the deadline. */
  GRPCR_RETRY_NO_TIME,
} grpcr_retry_verdict;

/* "YES", "NO_SUCCESS", ...; NULL outside the enum. */
GRPCR_API const char *grpcr_retry_verdict_name(grpcr_retry_verdict v);

typedef struct {
  int status;             /* the attempt's final status code */
  uint32_t attempts_done; /* attempts made so far, this one included */
  bool committed;         /* initial metadata or a message was delivered */
  grpcr_pushback pushback;
  int64_t pushback_ns;    /* with GRPCR_PUSHBACK_DELAY */
  /* The channel's breaker and the call's ticket, or NULL for none: a
   * retry is an attempt, and the breaker gates every attempt
   * (grpcr_breaker_admits_retry). */
  grpcr_breaker *breaker;
  const grpcr_breaker_ticket *ticket;
  /* The method's median successful-attempt latency; 0: not known yet (too
   * few samples), and then no retry is refused for it. */
  int64_t median_attempt_ns;
  /* The attempt was cancelled by the policy's perAttemptTimeout: a
   * retryable failure whatever retryable_codes says. */
  bool attempt_timed_out;
} grpcr_attempt_outcome;

/* Checks, in this order: success, retryable status (an attempt timeout
 * always is), committed, attempts,
 * pushback, deadline (now + delay > deadline_ns: no), time (deadline_ns -
 * (now + delay) < median_attempt_ns: no), breaker, budget. The
 * budget is asked last, so only a retry that would otherwise happen spends
 * or is denied. budget may be NULL (unlimited). On YES, *delay_ns is the
 * wait; the shim asks grpcr_breaker_admits_retry again when it is due. */
GRPCR_API grpcr_retry_verdict grpcr_retry_decide(
    const grpcr_retry_policy *policy, grpcr_backoff *backoff,
    grpcr_budget *budget, const grpcr_attempt_outcome *outcome,
    int64_t now_ns, int64_t deadline_ns, int64_t *delay_ns);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_RETRY_H */
