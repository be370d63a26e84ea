/* The retry decision. Pure apart from advancing the call's backoff and
 * asking the budget, which it does last so that only a retry that would
 * otherwise happen spends or is denied budget. */
#include "grpcr/retry.h"

#include <stddef.h>

static const char *const verdict_names[] = {
    [GRPCR_RETRY_YES] = "YES",
    [GRPCR_RETRY_NO_SUCCESS] = "NO_SUCCESS",
    [GRPCR_RETRY_NO_STATUS] = "NO_STATUS",
    [GRPCR_RETRY_NO_COMMITTED] = "NO_COMMITTED",
    [GRPCR_RETRY_NO_ATTEMPTS] = "NO_ATTEMPTS",
    [GRPCR_RETRY_NO_PUSHBACK] = "NO_PUSHBACK",
    [GRPCR_RETRY_NO_DEADLINE] = "NO_DEADLINE",
    [GRPCR_RETRY_NO_BUDGET] = "NO_BUDGET",
    [GRPCR_RETRY_NO_BREAKER] = "NO_BREAKER",
    [GRPCR_RETRY_NO_TIME] = "NO_TIME",
};

const char *grpcr_retry_verdict_name(grpcr_retry_verdict v) {
  if ((int)v < 0 ||
      (size_t)v >= sizeof verdict_names / sizeof verdict_names[0]) {
    return NULL;
  }
  return verdict_names[v];
}

static bool retryable(const grpcr_retry_policy *policy, int status) {
  /* Guards the shift: a code outside the set's 32 bits is never in it. */
  if (status < 0 || status >= 32) return false;
  return (policy->retryable_codes & GRPCR_CODE_BIT(status)) != 0;
}

/* now + delay > deadline, without computing a sum that may overflow. */
static bool past_deadline(int64_t now_ns, int64_t delay_ns,
                          int64_t deadline_ns) {
  if (deadline_ns == GRPCR_NO_DEADLINE) return false;
  if (now_ns > deadline_ns) return true;
  /* now <= deadline here, so deadline - now is in [0, INT64_MAX] unless now
   * is negative, where the subtraction could overflow: compare the other
   * way round then. */
  if (now_ns >= 0) return delay_ns > deadline_ns - now_ns;
  return now_ns + delay_ns > deadline_ns;
}

/* policy, backoff and outcome must not be NULL; delay_ns may be. *delay_ns
 * is 0 for every verdict but YES. A DELAY pushback with a negative
 * pushback_ns is treated as STOP, as a negative header value is. */
grpcr_retry_verdict grpcr_retry_decide(const grpcr_retry_policy *policy,
                                       grpcr_backoff *backoff,
                                       grpcr_budget *budget,
                                       const grpcr_attempt_outcome *outcome,
                                       int64_t now_ns, int64_t deadline_ns,
                                       int64_t *delay_ns) {
  if (delay_ns != NULL) *delay_ns = 0;
  if (outcome->status == 0) return GRPCR_RETRY_NO_SUCCESS;
  if (!outcome->attempt_timed_out && !retryable(policy, outcome->status)) {
    return GRPCR_RETRY_NO_STATUS;
  }
  if (outcome->committed) return GRPCR_RETRY_NO_COMMITTED;
  if (outcome->attempts_done >= policy->max_attempts) {
    return GRPCR_RETRY_NO_ATTEMPTS;
  }
  if (outcome->pushback == GRPCR_PUSHBACK_STOP ||
      (outcome->pushback == GRPCR_PUSHBACK_DELAY && outcome->pushback_ns < 0)) {
    return GRPCR_RETRY_NO_PUSHBACK;
  }
  const int64_t delay =
      outcome->pushback == GRPCR_PUSHBACK_DELAY
          ? grpcr_backoff_pushback_ns(backoff, outcome->pushback_ns)
          : grpcr_backoff_next_ns(backoff);
  if (past_deadline(now_ns, delay, deadline_ns)) return GRPCR_RETRY_NO_DEADLINE;
  /* The retry starts at now + delay <= deadline: would a typical attempt
   * still fit? (now + delay + median may overflow; the subtraction from the
   * deadline cannot, past_deadline having passed.) */
  if (outcome->median_attempt_ns > 0 && deadline_ns != GRPCR_NO_DEADLINE &&
      (deadline_ns < INT64_MIN + outcome->median_attempt_ns ||
       past_deadline(now_ns, delay, deadline_ns - outcome->median_attempt_ns))) {
    return GRPCR_RETRY_NO_TIME;
  }
  if (outcome->breaker != NULL &&
      !grpcr_breaker_admits_retry(outcome->breaker, outcome->ticket, now_ns)) {
    return GRPCR_RETRY_NO_BREAKER;
  }
  if (budget != NULL && !grpcr_budget_try_retry(budget, now_ns)) {
    return GRPCR_RETRY_NO_BUDGET;
  }
  if (delay_ns != NULL) *delay_ns = delay;
  return GRPCR_RETRY_YES;
}
