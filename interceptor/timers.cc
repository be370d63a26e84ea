// The call's timers outside hedging: the retry timer (a backoff, and what
// happens when it is due: the breaker is asked again, the retry starts or
// the call ends) and each attempt's perAttemptTimeout timer. A timer's
// callback takes the call combiner before it touches the call.
#include "call.h"

namespace grpcr {

namespace {

// A retry the budget allowed that will never start (the call ends in its
// backoff): the budget gets it back, so it counts only retries made.
void RefundRetry(CallData* calld) {
  if (calld->backoff_attempt == nullptr || calld->policy == nullptr) return;
  grpcr_budget_refund_retry(grpcr_policy_budget(calld->policy.get()),
                            grpcr_internal_now_ns());
}

// The attempt a retry follows is given up.
void DiscardBackoffAttempt(CallData* calld) {
  Attempt* a = calld->backoff_attempt;
  if (a == nullptr) return;
  calld->backoff_attempt = nullptr;
  DiscardAttempt(a);
}

// The breaker gates every attempt: a retry that is due starts only if the
// breaker admits it now (CLOSED, or the call's own half-open probe slot).
bool BreakerAdmitsRetry(CallData* calld) {
  if (!calld->breaker_admitted) return true;
  return grpcr_breaker_admits_retry(grpcr_policy_breaker(calld->policy.get()),
                                    &calld->ticket, grpcr_internal_now_ns());
}

void RetryTimerInCombiner(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  calld->retry_timer_pending = false;
  if (calld->finished) {
    StopCombiner(calld, "resilience: retry timer after finish");
  } else if (!error.ok()) {
    // The timer list shut down (grpc_shutdown) with the call in backoff: it
    // still gets its one final status, and the breaker no verdict.
    ReleaseTicket(calld);
    RefundRetry(calld);
    DiscardBackoffAttempt(calld);
    Closures closures;
    FinishWithFailure(
        calld,
        StatusError(GRPC_STATUS_UNAVAILABLE,
                    "resilience: retry timer failed: " +
                        grpc_core::StatusToString(error)),
        &closures);
    closures.RunClosures(calld->call_combiner);
  } else if (!BreakerAdmitsRetry(calld)) {
    // The breaker opened during the backoff: the call ends as if this had
    // been its last attempt.
    grpcr_stats_on_breaker_stopped_retry(calld->chand->stats);
    RefundRetry(calld);
    if (GRPC_TRACE_FLAG_ENABLED(trace)) {
      gpr_log(GPR_INFO,
              "resilience[%s] call=%p: retry due, but the breaker admits no "
              "further attempt: ending with attempt %u's status",
              calld->chand->name.c_str(), calld,
              calld->backoff_attempt->number);
    }
    Attempt* last = calld->backoff_attempt;
    calld->backoff_attempt = nullptr;
    calld->final_attempt = last;
    Closures closures;
    Finish(calld, calld->backoff_status, &closures);
    closures.RunClosures(calld->call_combiner);
  } else {
    DiscardBackoffAttempt(calld);
    // Counted when it starts: a retry cancelled or stopped in its backoff
    // never happened.
    grpcr_stats_on_retry(calld->chand->stats, calld->backoff_delay_ns);
    calld->retry_delay_ns += calld->backoff_delay_ns;
    StartAttempt(calld, grpcr_internal_now_ns());  // yields the combiner
  }
  GRPC_CALL_STACK_UNREF(calld->owning_call, "resilience: retry timer");
}

void RetryTimerFired(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  GRPC_CLOSURE_INIT(&calld->retry_in_combiner, RetryTimerInCombiner, calld,
                    nullptr);
  GRPC_CALL_COMBINER_START(calld->call_combiner, &calld->retry_in_combiner,
                           error, "resilience: retry timer");
}

}  // namespace

Timestamp DeadlineAfter(int64_t delay_ns) {
  // From the real clock: the exec_ctx's cached time can lag it.
  ExecCtx::Get()->InvalidateNow();
  if (delay_ns <= 0) return Timestamp::Now();  // fires from the exec_ctx
  // Timestamp::Now() is the clock rounded down to a millisecond, so
  // Now() + delay would fire up to 1 ms early: a 1.5 ms hedging delay
  // after 1 ms. The precise clock plus the delay, rounded up, never is.
  return Timestamp::FromTimespecRoundUp(
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_nanos(delay_ns, GPR_TIMESPAN)));
}

void StartRetryTimer(CallData* calld, int64_t delay_ns) {
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: retry timer");
  calld->retry_timer_pending = true;
  GRPC_CLOSURE_INIT(&calld->retry_timer_fired, RetryTimerFired, calld,
                    nullptr);
  grpc_timer_init(&calld->retry_timer, DeadlineAfter(delay_ns),
                  &calld->retry_timer_fired);
}

// ---- perAttemptTimeout ------------------------------------------------------

void StopAttemptTimer(Attempt* attempt) {
  if (!attempt->timeout_armed) return;
  attempt->timeout_armed = false;
  grpc_timer_cancel(&attempt->timeout_timer);
}

namespace {

void AttemptTimeoutInCombiner(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  // Still armed: nothing answered, and the attempt is not decided.
  const bool due = error.ok() && attempt->timeout_armed;
  attempt->timeout_armed = false;
  Closures closures;
  // Not if the application's cancel got there first (sent, or waiting for
  // the attempt's start): the call ends with that.
  if (due && !attempt->decided && !attempt->committed &&
      !attempt->got_trailing && !attempt->cancel_sent &&
      !attempt->cancel_pending && calld->cancel_error.ok() &&
      !calld->finished) {
    attempt->timed_out = true;  // confirmed, and counted, by Decide
    const int64_t ms = calld->method_policy->per_attempt_timeout_ns / 1000000;
    grpc_error_handle timeout = StatusError(
        GRPC_STATUS_DEADLINE_EXCEEDED,
        absl::StrFormat("resilience: attempt timeout: attempt %u had no "
                        "response within the perAttemptTimeout of %" PRId64
                        " ms",
                        attempt->number, ms));
    if (GRPC_TRACE_FLAG_ENABLED(trace)) {
      gpr_log(GPR_INFO, "resilience[%s] call=%p: attempt %u timed out",
              calld->chand->name.c_str(), calld, attempt->number);
    }
    if (!attempt->started) {
      attempt->cancel_pending = true;  // sent behind its batch
      attempt->cancel_error = timeout;
    } else {
      closures.Add(PrepareAttemptCancel(attempt, timeout), absl::OkStatus(),
                   "resilience: attempt timeout");
    }
  }
  closures.RunClosures(calld->call_combiner);
  GRPC_CALL_STACK_UNREF(calld->owning_call, "resilience: attempt timeout");
}

void AttemptTimeoutFired(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  GRPC_CLOSURE_INIT(&attempt->timeout_in_combiner, AttemptTimeoutInCombiner,
                    attempt, nullptr);
  GRPC_CALL_COMBINER_START(attempt->calld->call_combiner,
                           &attempt->timeout_in_combiner, error,
                           "resilience: attempt timeout");
}

}  // namespace

void ArmAttemptTimer(CallData* calld, Attempt* attempt) {
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: attempt timeout");
  attempt->timeout_armed = true;
  GRPC_CLOSURE_INIT(&attempt->timeout_fired, AttemptTimeoutFired, attempt,
                    nullptr);
  grpc_timer_init(&attempt->timeout_timer,
                  DeadlineAfter(calld->method_policy->per_attempt_timeout_ns),
                  &attempt->timeout_fired);
}

void CancelInBackoff(CallData* calld, grpc_error_handle error,
                     Closures* closures) {
  // The timer callback sees `finished` and does nothing.
  grpc_timer_cancel(&calld->retry_timer);
  RefundRetry(calld);
  DiscardBackoffAttempt(calld);
  FinishWithFailure(calld, error, closures);
}

}  // namespace grpcr
