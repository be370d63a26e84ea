// What the channel's policy says about one call: may it start (the
// breaker's gate), what its method's config applies to it, and the one
// verdict it gives the breaker.
#include "call.h"

#include "absl/strings/match.h"

namespace grpcr {

int64_t ToMonotonicNs(Timestamp t) {
  if (t == Timestamp::InfFuture()) return GRPCR_NO_DEADLINE;
  gpr_timespec ts = t.as_timespec(GPR_CLOCK_MONOTONIC);
  return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

namespace {

const char* kBreakerOpenPrefix = "circuit breaker open";
const char* kThrottledPrefix = "circuit breaker throttling";

}  // namespace

// ---------------------------------------------------------------------------
// The breaker's gate.

// Asks the breaker (if the channel has one) whether the call may start.
// Returns OK if admitted, else the UNAVAILABLE error the call must fail with.
grpc_error_handle AdmitToBreaker(CallData* calld, int64_t now) {
  ChannelData* chand = calld->chand;
  grpcr_breaker* breaker = calld->policy != nullptr
                               ? grpcr_policy_breaker(calld->policy.get())
                               : nullptr;
  if (breaker == nullptr || calld->local) return absl::OkStatus();
  grpcr_breaker_transition tr = {};
  const grpcr_admission admission =
      grpcr_breaker_acquire(breaker, now, &calld->ticket, &tr);
  chand->OnTransition(tr);
  if (admission == GRPCR_ADMITTED) {
    calld->breaker_admitted = true;
    calld->admitted_ns = now;
    calld->slow_rule = grpcr_policy_config(calld->policy.get())
                           ->breaker.slow_call_duration_ns > 0;
    return absl::OkStatus();
  }
  grpcr_breaker_snapshot snap;
  grpcr_breaker_snapshot_get(breaker, now, &snap);
  std::string msg;
  if (admission == GRPCR_REJECTED_THROTTLED) {
    grpcr_stats_on_throttled(chand->stats);
    msg = absl::StrFormat(
        "%s: %s accepted %" PRIu64 " of the last %" PRIu64
        " calls in %gs; this call is rejected locally (adaptive throttling, "
        "k %g)",
        kThrottledPrefix, chand->name, snap.throttle_accepts_in_window,
        snap.throttle_requests_in_window,
        static_cast<double>(snap.throttle_window_ns) / 1e9, snap.throttle_k);
  } else {
    chand->breaker_not_closed.store(true, std::memory_order_relaxed);
    grpcr_stats_on_rejected(chand->stats);
    msg = snap.state == GRPCR_BREAKER_OPEN
              ? absl::StrFormat(
                    "%s: %s has failed too often; calls fail fast for another "
                    "%" PRId64 " ms",
                    kBreakerOpenPrefix, chand->name,
                    (snap.open_period_ns - snap.time_in_state_ns) / 1000000)
              : absl::StrFormat(
                    "%s (half-open): %s is being probed; calls fail fast "
                    "until the probes succeed",
                    kBreakerOpenPrefix, chand->name);
  }
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO, "resilience[%s] call=%p: rejected: %s",
            chand->name.c_str(), calld, msg.c_str());
  }
  return StatusError(GRPC_STATUS_UNAVAILABLE, msg);
}

// Where a call's final status came from: the application's cancel, the
// client's own deadline (or per-method timeout), or the dependency.
constexpr int64_t kDeadlineSlackNs = 5 * 1000000;

grpcr_status_origin OriginOf(const CallData* calld, int status) {
  if (calld->local) return GRPCR_ORIGIN_LOCAL;
  // Its last attempt was cancelled by perAttemptTimeout: a deadline the
  // client enforced on an attempt at the server (slow, under a slow-call
  // rule; not accepted, for the throttle).
  if (calld->final_attempt != nullptr && calld->final_attempt->timed_out) {
    return GRPCR_ORIGIN_DEADLINE;
  }
  if (calld->app_cancelled || !calld->cancel_error.ok()) {
    return GRPCR_ORIGIN_CANCELLED;
  }
  // The real clock, not the exec_ctx's cached one (which can lag behind
  // the deadline timer that just fired), with the timers' millisecond
  // granularity as slack.
  if (status == GRPC_STATUS_DEADLINE_EXCEEDED &&
      grpcr_internal_now_ns() + kDeadlineSlackNs >=
          ToMonotonicNs(calld->effective_deadline)) {
    return GRPCR_ORIGIN_DEADLINE;
  }
  return GRPCR_ORIGIN_REMOTE;
}

// The call's one verdict for the breaker (if it holds a ticket): from its
// first answer, or its final status.
void GiveVerdict(CallData* calld, int status, grpcr_status_origin origin) {
  if (!calld->breaker_admitted) return;
  calld->breaker_admitted = false;
  const int64_t now = grpcr_internal_now_ns();
  grpcr_call_result result = {};
  result.status_code = status;
  result.origin = origin;
  result.duration_ns = now - calld->admitted_ns;
  // At the server when the client's deadline ended it: a pass-through call
  // whose request went out, or an attempt that was sent (a call in backoff
  // never ends with the deadline: no retry is scheduled past it).
  result.deadline_in_flight =
      calld->mode == Mode::kActive
          ? calld->final_attempt != nullptr && calld->final_attempt->sent
          : calld->sent;
  grpcr_breaker_transition tr = {};
  grpcr_breaker_record_result(grpcr_policy_breaker(calld->policy.get()),
                              &calld->ticket, &result, now, &tr);
  calld->chand->OnTransition(tr);
}

// The server served the call (a pass-through call's first response message,
// or the response headers of a call that streams requests): the dependency
// is up, whatever the call does next.
void GiveAnsweredVerdict(CallData* calld) {
  GiveVerdict(calld, GRPC_STATUS_OK, GRPCR_ORIGIN_REMOTE);
}

// The call's final status in the channel's and its method's stats, with the
// attempts it made (0 if the breaker rejected it). A call cancelled before
// its first batch has no method entry yet: it counts as "other".
void RecordFinal(CallData* calld, int status, uint32_t attempts) {
  calld->recorded = true;
  grpcr_channel_stats* stats = calld->chand->stats;
  grpcr_stats_on_final(stats, status);
  grpcr_method_stats* m = calld->method_stats != nullptr
                              ? calld->method_stats
                              : grpcr_stats_method(stats, nullptr, 0);
  if (calld->hedged) {
    grpcr_method_stats_on_hedged_final(
        m, attempts, status,
        calld->winner != nullptr ? calld->winner->number : 0);
  } else {
    grpcr_method_stats_on_final(m, attempts, status, calld->retry_delay_ns);
  }
}

// Gives the ticket back with no verdict: the call ended without one (the
// library shut down under it) or is destroyed before its status was read.
void ReleaseTicket(CallData* calld) {
  if (!calld->breaker_admitted) return;
  calld->breaker_admitted = false;
  grpcr_breaker_release(grpcr_policy_breaker(calld->policy.get()),
                        &calld->ticket, grpcr_internal_now_ns());
}

// The service config client-channel attached to this call, if it is not
// the one the call started with, may be newer than the channel's: the
// channel learns it only if client-channel holds it now (never an older
// one, nor a per-call one such as an xDS route's method config).
void LearnFromContext(CallData* calld, grpc_call_context_element* context) {
  auto* scd = static_cast<ServiceConfigCallData*>(
      context[GRPC_CONTEXT_SERVICE_CONFIG_CALL_DATA].value);
  if (scd == nullptr || scd->service_config() == nullptr ||
      scd->service_config() == calld->method_source.get()) {
    return;
  }
  calld->chand->LearnIfCurrent(scd->service_config());
}

bool IsClientLimitError(const grpc_error_handle& error) {
  if (error.ok()) return false;
  grpc_status_code code = GRPC_STATUS_OK;
  std::string message;
  grpc_error_get_status(error, Timestamp::InfFuture(), &code, &message,
                        nullptr, nullptr);
  // The texts of gRPC 1.51's message-size filter (docs/GRPC_CORE_NOTES.md).
  // Callers pass a receive op's own error, which a server's status never
  // is (its status arrives as trailing metadata).
  return code == GRPC_STATUS_RESOURCE_EXHAUSTED &&
         (absl::StartsWith(message, "Sent message larger than max") ||
          absl::StartsWith(message, "Received message larger than max"));
}

void MarkLocal(CallData* calld) {
  if (calld->local) return;
  calld->local = true;
  grpcr_stats_on_local_error(calld->chand->stats);
}

bool OverLocalLimit(const CallData* calld,
                    const grpc_transport_stream_op_batch* batch) {
  return batch->send_message && calld->max_send.has_value() &&
         batch->payload->send_message.send_message->Length() >
             *calld->max_send;
}

// Client-channel bounds each attempt by a per-method "timeout" from the
// call's start (with the same arithmetic, so we agree with it): no retry may
// be scheduled past that either, and a DEADLINE_EXCEEDED after it is the
// client's own.
void ApplyMethodTimeout(
    CallData* calld,
    const grpc_core::internal::ClientChannelMethodParsedConfig* cc) {
  if (cc == nullptr || cc->timeout() == grpc_core::Duration::Zero()) return;
  Timestamp per_method =
      Timestamp::FromCycleCounterRoundUp(calld->start_time) + cc->timeout();
  if (per_method < calld->effective_deadline) {
    calld->effective_deadline = per_method;
  }
}

// What the channel's known config says about the call's method, applied to
// the call: client-channel's per-method timeout and the request size limit.
void ApplyMethodConfig(
    CallData* calld, const grpc_core::ServiceConfigParser::ParsedConfigVector* vec,
    absl::optional<uint32_t>* max_send) {
  *max_send = calld->chand->max_send_size;
  if (vec == nullptr) return;
  ApplyMethodTimeout(
      calld,
      static_cast<const grpc_core::internal::ClientChannelMethodParsedConfig*>(
          (*vec)[ClientChannelParserIndex()].get()));
  const auto* size = static_cast<const grpc_core::MessageSizeParsedConfig*>(
      (*vec)[MessageSizeParserIndex()].get());
  if (size != nullptr && size->max_send_size().has_value() &&
      (!max_send->has_value() || *size->max_send_size() < **max_send)) {
    *max_send = size->max_send_size();
  }
}

}  // namespace grpcr
