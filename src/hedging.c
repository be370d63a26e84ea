/* The hedging decision and delay: see include/grpcr/hedging.h. */
#include "grpcr/hedging.h"

#include <math.h>
#include <stddef.h>

static const char *const verdict_names[] = {
    [GRPCR_HEDGE_YES] = "YES",
    [GRPCR_HEDGE_NO_ATTEMPTS] = "NO_ATTEMPTS",
    [GRPCR_HEDGE_NO_PUSHBACK] = "NO_PUSHBACK",
    [GRPCR_HEDGE_NO_DEADLINE] = "NO_DEADLINE",
    [GRPCR_HEDGE_NO_TIME] = "NO_TIME",
    [GRPCR_HEDGE_NO_BREAKER] = "NO_BREAKER",
    [GRPCR_HEDGE_NO_BUDGET] = "NO_BUDGET",
};

const char *grpcr_hedge_verdict_name(grpcr_hedge_verdict v) {
  if ((int)v < 0 ||
      (size_t)v >= sizeof verdict_names / sizeof verdict_names[0]) {
    return NULL;
  }
  return verdict_names[v];
}

bool grpcr_hedge_is_fatal(const grpcr_retry_policy *policy, int status) {
  if (status <= 0 || status >= 32) return true;
  return (policy->hedging.non_fatal_codes & GRPCR_CODE_BIT(status)) == 0;
}

bool grpcr_hedge_fits(int64_t now_ns, int64_t delay_ns, int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX) return true;
  if (delay_ns < 0) delay_ns = 0;
  if (now_ns > deadline_ns) return false;
  /* With now <= deadline the time left is in [0, 2^64): exact unsigned. */
  return (uint64_t)delay_ns <= (uint64_t)deadline_ns - (uint64_t)now_ns;
}

grpcr_hedge_verdict grpcr_hedge_decide(const grpcr_retry_policy *policy,
                                       grpcr_budget *budget,
                                       const grpcr_hedge_request *req,
                                       int64_t now_ns, int64_t deadline_ns) {
  if (req->attempts_started >= policy->max_attempts) {
    return GRPCR_HEDGE_NO_ATTEMPTS;
  }
  if (req->stopped) return GRPCR_HEDGE_NO_PUSHBACK;
  /* GRPCR_NO_DEADLINE (INT64_MAX) is never passed. */
  if (now_ns > deadline_ns) return GRPCR_HEDGE_NO_DEADLINE;
  /* deadline - now < median without a signed overflow: with now < 0,
   * deadline - now may pass INT64_MAX, so deadline - median is compared
   * instead, and a deadline within median of INT64_MIN (where that
   * subtraction would overflow) has less than median left. */
  if (req->median_attempt_ns > 0 && deadline_ns != INT64_MAX &&
      (now_ns < 0 ? deadline_ns < INT64_MIN + req->median_attempt_ns ||
                        deadline_ns - req->median_attempt_ns < now_ns
                  : deadline_ns - now_ns < req->median_attempt_ns)) {
    return GRPCR_HEDGE_NO_TIME;
  }
  if (req->breaker != NULL &&
      (req->ticket == NULL ||
       req->ticket->admitted_in != GRPCR_BREAKER_CLOSED ||
       !grpcr_breaker_admits_retry(req->breaker, req->ticket, now_ns))) {
    return GRPCR_HEDGE_NO_BREAKER;
  }
  if (budget != NULL && !grpcr_budget_try_retry(budget, now_ns)) {
    return GRPCR_HEDGE_NO_BUDGET;
  }
  return GRPCR_HEDGE_YES;
}

uint32_t grpcr_hedge_min_samples(double max_extra_load) {
  if (!(max_extra_load > 0)) return UINT32_MAX;
  const double n = ceil(10.0 / max_extra_load);
  if (n >= (double)UINT32_MAX) return UINT32_MAX;
  return n < 20 ? 20 : (uint32_t)n;
}

bool grpcr_hedge_delay(const grpcr_retry_policy *policy,
                       grpcr_method_stats *m, int64_t now_ns,
                       int64_t *delay_ns) {
  const double r = policy->hedging.max_extra_load;
  if (r <= 0) {
    *delay_ns = policy->hedging.delay_ns;
    return true;
  }
  return grpcr_method_stats_latency_quantile(
      m, now_ns, 1.0 - r, grpcr_hedge_min_samples(r), delay_ns);
}
