// Hedged calls (methodConfig[].resilience.hedging): attempt k+1 starts
// hedgingDelay (or the adaptive delay) after attempt k unless the call is
// done; a non-fatal status starts the next hedge at once; the first attempt
// to deliver a message or a fatal status (OK included) commits the call and
// every other attempt in flight is cancelled. The core decides whether each
// hedge may start (grpcr_hedge_decide: attempts, pushback, deadline, the
// median rule, a CLOSED breaker, and the retry budget, which every hedge
// spends); this file does what it says.
#include "call.h"

#include "grpcr/hedging.h"

namespace grpcr {

namespace {

const char* Name(const CallData* calld) { return calld->chand->name.c_str(); }

void StopHedgeTimer(CallData* calld) {
  HedgeTimer* t = calld->hedge_timer;
  if (t == nullptr) return;
  calld->hedge_timer = nullptr;
  t->live = false;
  grpc_timer_cancel(&t->timer);
}

void HedgeTimerFired(void* arg, grpc_error_handle error);

// Arms the timer for the next hedge at now + delay_ns, replacing one armed
// before (sooner or later). A delay of 0 runs the hedge from the exec_ctx.
void ArmHedgeTimer(CallData* calld, int64_t delay_ns) {
  StopHedgeTimer(calld);
  auto* t = calld->arena->New<HedgeTimer>();
  t->calld = calld;
  calld->hedge_timer = t;
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: hedge timer");
  GRPC_CLOSURE_INIT(&t->fired, HedgeTimerFired, t, nullptr);
  grpc_timer_init(&t->timer, DeadlineAfter(delay_ns), &t->fired);
}

// Cancels every attempt in flight but `keep` (null: all of them), with
// error; counts those that lost to `keep`.
void CancelInFlight(CallData* calld, Attempt* keep, grpc_error_handle error,
                    Closures* closures) {
  for (Attempt* a = calld->newest; a != nullptr; a = a->prev) {
    if (a == keep || a->decided || a->cancel_sent || a->cancel_pending) {
      continue;
    }
    if (keep != nullptr) {
      a->lost = true;
      grpcr_method_stats_on_hedge_cancelled(calld->method_stats);
    }
    if (!a->started) {
      a->cancel_pending = true;  // sent behind its batch
      a->cancel_error = error;
    } else {
      closures->Add(PrepareAttemptCancel(a, error), absl::OkStatus(),
                    "resilience: cancel hedge");
    }
  }
}

// The call is this attempt's: no hedge follows and the others are
// cancelled (the server sees each one cancelled).
void CommitTo(CallData* calld, Attempt* attempt, Closures* closures) {
  if (calld->winner != nullptr) return;
  calld->winner = attempt;
  StopHedgeTimer(calld);
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO, "resilience[%s] call=%p: attempt %u commits the call",
            Name(calld), calld, attempt->number);
  }
  CancelInFlight(
      calld, attempt,
      StatusError(GRPC_STATUS_CANCELLED,
                  absl::StrFormat("resilience: hedge lost: attempt %u "
                                  "answered first",
                                  attempt->number)),
      closures);
}

// The call ends with the last non-fatal failure: nothing is in flight and
// no hedge will start. (With nothing in flight and the call not finished,
// every attempt ended non-fatally, so there is one.)
void FinishWithLastFailure(CallData* calld, Closures* closures) {
  Attempt* last = calld->hedge_failed;
  calld->hedge_failed = nullptr;
  StopHedgeTimer(calld);
  calld->final_attempt = last;
  Finish(calld, calld->hedge_failed_status, closures);
}

// A hedge is due now: starts it if the core allows (yielding the combiner)
// and returns true; otherwise counts why not and returns false.
bool TryHedge(CallData* calld, int64_t now) {
  const grpcr_retry_policy* policy = calld->method_policy;
  grpcr_hedge_request req = {};
  req.attempts_started = calld->attempts;
  req.stopped = calld->hedge_stopped;
  if (calld->breaker_admitted) {
    req.breaker = grpcr_policy_breaker(calld->policy.get());
    req.ticket = &calld->ticket;
  }
  grpcr_method_stats_median_ok_ns(calld->method_stats, &req.median_attempt_ns);
  const grpcr_hedge_verdict verdict = grpcr_hedge_decide(
      policy, grpcr_policy_budget(calld->policy.get()), &req, now,
      ToMonotonicNs(calld->effective_deadline));
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO, "resilience[%s] call=%p: hedge %u due: %s", Name(calld),
            calld, calld->attempts + 1, grpcr_hedge_verdict_name(verdict));
  }
  switch (verdict) {
    case GRPCR_HEDGE_YES:
      grpcr_stats_on_hedge(calld->chand->stats);
      grpcr_method_stats_on_hedge(calld->method_stats);
      StartAttempt(calld, now);  // yields the combiner
      return true;
    case GRPCR_HEDGE_NO_BUDGET:
      grpcr_stats_on_budget_denied(calld->chand->stats);
      grpcr_method_stats_on_hedge_denied(calld->method_stats);
      break;
    case GRPCR_HEDGE_NO_BREAKER:
      grpcr_stats_on_breaker_stopped_retry(calld->chand->stats);
      break;
    case GRPCR_HEDGE_NO_DEADLINE:
    case GRPCR_HEDGE_NO_TIME:
      grpcr_method_stats_on_retry_skipped_deadline(calld->method_stats);
      break;
    default:
      break;
  }
  return false;
}

void HedgeTimerInCombiner(void* arg, grpc_error_handle error) {
  auto* t = static_cast<HedgeTimer*>(arg);
  CallData* calld = t->calld;
  grpc_call_stack* owning_call = calld->owning_call;
  Closures closures;
  if (t->live && !calld->finished && calld->winner == nullptr &&
      calld->cancel_error.ok()) {
    calld->hedge_timer = nullptr;
    if (!error.ok()) {
      // The timer list shut down (grpc_shutdown): no further hedge; a call
      // with nothing in flight still gets its one final status.
      calld->hedge_stopped = true;
      if (calld->inflight == 0) FinishWithLastFailure(calld, &closures);
    } else if (TryHedge(calld, grpcr_internal_now_ns())) {
      GRPC_CALL_STACK_UNREF(owning_call, "resilience: hedge timer");
      return;  // the attempt's start yielded the combiner
    } else if (calld->inflight == 0) {
      FinishWithLastFailure(calld, &closures);
    }
  }
  closures.RunClosures(calld->call_combiner);
  GRPC_CALL_STACK_UNREF(owning_call, "resilience: hedge timer");
}

void HedgeTimerFired(void* arg, grpc_error_handle error) {
  auto* t = static_cast<HedgeTimer*>(arg);
  GRPC_CLOSURE_INIT(&t->in_combiner, HedgeTimerInCombiner, t, nullptr);
  GRPC_CALL_COMBINER_START(t->calld->call_combiner, &t->in_combiner, error,
                           "resilience: hedge timer");
}

}  // namespace

void ArmNextHedge(CallData* calld, int64_t now) {
  if (calld->attempts >= calld->method_policy->max_attempts ||
      calld->hedge_stopped) {
    StopHedgeTimer(calld);
    return;
  }
  int64_t delay_ns = 0;
  if (grpcr_hedge_delay(calld->method_policy, calld->method_stats, now,
                        &delay_ns)) {
    ArmHedgeTimer(calld, delay_ns);
  } else {
    // The adaptive delay is not known yet: no delayed hedge (a non-fatal
    // status still starts the next one).
    StopHedgeTimer(calld);
  }
}

bool CommitHedged(CallData* calld, Attempt* attempt, Closures* closures) {
  if (calld->finished || attempt->lost) return false;
  CommitTo(calld, attempt, closures);
  return calld->winner == attempt;
}

void DecideHedged(CallData* calld, Attempt* attempt, int status,
                  Closures* closures) {
  calld->inflight--;
  if (calld->finished ||
      (calld->winner != nullptr && calld->winner != attempt)) {
    // Lost, or ended after the call did: nothing of it is used.
    DiscardAttempt(attempt);
    return;
  }
  const grpcr_retry_policy* policy = calld->method_policy;
  const int64_t now = grpcr_internal_now_ns();
  if (IsClientLimitError(attempt->recv_message_error) ||
      IsClientLimitError(attempt->recv_trailing_md_error)) {
    // A response over the client's own limits: no attempt would get
    // another, so the call ends with it.
    MarkLocal(calld);
    CommitTo(calld, attempt, closures);
    calld->final_attempt = attempt;
    Finish(calld, status, closures);
    return;
  }
  if (!calld->cancel_error.ok()) {
    // The application cancelled: every attempt was cancelled with it, and
    // the first to report ends the call with the application's error.
    StopHedgeTimer(calld);
    DiscardAttempt(attempt);
    if (calld->hedge_failed != nullptr) {
      DiscardAttempt(calld->hedge_failed);
      calld->hedge_failed = nullptr;
    }
    FinishWithFailure(calld, calld->cancel_error, closures);
    return;
  }
  if (status == GRPC_STATUS_OK || attempt->committed ||
      grpcr_hedge_is_fatal(policy, status)) {
    if (status == GRPC_STATUS_OK) {
      grpcr_method_stats_on_attempt_ok(calld->method_stats,
                                       now - attempt->start_ns);
      if (policy->hedging.max_extra_load > 0) {
        // From the first attempt's start: a hedge that wins must not pull
        // the quantile below the delay it was started after.
        const Attempt* first = attempt;
        while (first->prev != nullptr) first = first->prev;
        grpcr_method_stats_on_hedged_ok(calld->method_stats, now,
                                        now - first->start_ns);
      }
    }
    CommitTo(calld, attempt, closures);
    if (calld->hedge_failed != nullptr) {
      DiscardAttempt(calld->hedge_failed);
      calld->hedge_failed = nullptr;
    }
    calld->final_attempt = attempt;
    Finish(calld, status, closures);
    return;
  }
  // Non-fatal: the call goes on with the attempts still running, and the
  // next hedge starts at once, after the server's pushback, or never.
  if (calld->hedge_failed != nullptr) DiscardAttempt(calld->hedge_failed);
  calld->hedge_failed = attempt;
  calld->hedge_failed_status = status;
  int64_t delay_ns = 0;
  absl::optional<grpc_core::Duration> pushback =
      attempt->to.trailing_md->get(grpc_core::GrpcRetryPushbackMsMetadata());
  if (pushback.has_value()) {
    int64_t ns = 0;
    if (grpcr_pushback_from_ms(pushback->millis(), &ns) !=
            GRPCR_PUSHBACK_DELAY ||
        ns < 0) {
      calld->hedge_stopped = true;
    } else {
      delay_ns = ns;
    }
  }
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO,
            "resilience[%s] call=%p: attempt %u ended %s (non-fatal), %u in "
            "flight%s",
            Name(calld), calld, attempt->number, grpcr_status_name(status),
            calld->inflight,
            calld->hedge_stopped ? ", pushback stops hedging" : "");
  }
  if (!calld->hedge_stopped && delay_ns > 0 &&
      !grpcr_hedge_fits(now, delay_ns,
                        ToMonotonicNs(calld->effective_deadline))) {
    // The pushback's hedge would start after the deadline: none will, and
    // the call does not wait for it (nothing else ends a call that has no
    // attempt in flight).
    grpcr_method_stats_on_retry_skipped_deadline(calld->method_stats);
    calld->hedge_stopped = true;
  }
  if (calld->hedge_stopped || calld->attempts >= policy->max_attempts) {
    StopHedgeTimer(calld);
    if (calld->inflight == 0) FinishWithLastFailure(calld, closures);
    return;
  }
  // The hedge starts from the timer's callback (at once for a delay of 0),
  // which decides it and ends the call if it cannot start and nothing is
  // in flight.
  ArmHedgeTimer(calld, delay_ns);
}

void CancelHedged(CallData* calld, grpc_error_handle error,
                  Closures* closures) {
  StopHedgeTimer(calld);
  CancelInFlight(calld, nullptr, error, closures);
  if (calld->inflight == 0) {
    // Waiting for a hedge (a pushback's delay): no attempt will report.
    if (calld->hedge_failed != nullptr) {
      DiscardAttempt(calld->hedge_failed);
      calld->hedge_failed = nullptr;
    }
    FinishWithFailure(calld, error, closures);
  }
}

}  // namespace grpcr
