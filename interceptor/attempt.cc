// Attempts: the first runs on the application's own call stack, each retry
// on a child call stack sharing the call's arena and call combiner. An
// attempt's receive callbacks decide (through the core) whether to retry,
// after how long (the retry timer, timers.cc), or to finish.
#include "call.h"

namespace grpcr {

// Set around grpc_call_stack_init of an attempt, so that this filter's own
// element in the child stack knows it must stay out of the way.
// initial-exec: a plain TLS read, not a __tls_get_addr call on every call's
// init (one bool fits the static TLS glibc keeps for dlopen'ed libraries).
__attribute__((tls_model("initial-exec"))) thread_local bool tls_init_attempt =
    false;

void AttemptCallbackDone(Attempt* attempt) {
  if (--attempt->pending != 0) return;
  // Below us nothing refers to the attempt's ops any more.
  if (attempt->retried) DropAttemptData(attempt);
  if (!attempt->on_parent) {
    GRPC_CALL_STACK_UNREF(attempt->stack, "resilience: attempt done");
  } else {
    // The destroy this may start is scheduled on the exec_ctx: the caller
    // may still use the call until it returns.
    GRPC_CALL_STACK_UNREF(attempt->calld->owning_call,
                          "resilience: parent attempt");
  }
}

namespace {

void AttemptCancelDone(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  AttemptCallbackDone(attempt);
  StopCombiner(calld, "resilience: attempt cancel done");
}

void AttemptCancelStart(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  grpc_call_next_op(attempt->elem0,
                    &attempt->cancel_batch);
}

}  // namespace

// Prepares the cancel batch for an attempt; its start consumes one hold of
// the combiner.
grpc_closure* PrepareAttemptCancel(Attempt* attempt, grpc_error_handle error) {
  GPR_ASSERT(!attempt->cancel_sent);
  attempt->cancel_sent = true;
  attempt->pending++;
  attempt->cancel_batch.cancel_stream = true;
  attempt->cancel_payload.emplace(attempt->context);
  attempt->cancel_batch.payload = &*attempt->cancel_payload;
  attempt->cancel_payload->cancel_stream.cancel_error = error;
  GRPC_CLOSURE_INIT(&attempt->cancel_on_complete, AttemptCancelDone, attempt,
                    nullptr);
  attempt->cancel_batch.on_complete = &attempt->cancel_on_complete;
  GRPC_CLOSURE_INIT(&attempt->cancel_start, AttemptCancelStart, attempt,
                    nullptr);
  return &attempt->cancel_start;
}

void DiscardAttempt(Attempt* a) {
  if (a->direct) ClearDirectResults(a);
  a->retried = true;
  if (a->pending == 0) DropAttemptData(a);
}

namespace {

// Learns the channel's and the method's config from the context that
// client-channel filled in for this attempt.
void LearnConfig(CallData* calld, Attempt* attempt) {
  auto* scd = static_cast<ServiceConfigCallData*>(
      attempt->context[GRPC_CONTEXT_SERVICE_CONFIG_CALL_DATA].value);
  if (scd == nullptr || scd->service_config() == nullptr) return;
  // The call keeps the policy it started with; the channel follows a new
  // config (a resolver update) from here on.
  LearnFromContext(calld, attempt->context);
  ApplyMethodTimeout(
      calld,
      static_cast<const grpc_core::internal::ClientChannelMethodParsedConfig*>(
          scd->GetMethodParsedConfig(ClientChannelParserIndex())));
}

// The transport's peer string dies with the attempt's stream (a retry's
// child stack is released once its callbacks are done, and the transport
// with it when the connection is gone): the call keeps a copy in its
// arena, taken when the attempt is decided.
void SavePeer(CallData* calld, Attempt* attempt) {
  const char* peer =
      reinterpret_cast<const char*>(gpr_atm_acq_load(&attempt->peer));
  if (peer != nullptr && calld->peer_string != nullptr) {
    size_t n = strlen(peer) + 1;
    char* copy = static_cast<char*>(calld->arena->Alloc(n));
    memcpy(copy, peer, n);
    gpr_atm_rel_store(calld->peer_string, reinterpret_cast<gpr_atm>(copy));
  }
}

// Runs once the attempt's receive callbacks have all arrived: retry or
// finish. Called holding the combiner; adds what must run to closures.
void Decide(CallData* calld, Attempt* attempt,
            Closures* closures) {
  attempt->decided = true;
  StopAttemptTimer(attempt);
  calld->current = nullptr;
  int status = StatusFrom(attempt->recv_trailing_md_error,
                          attempt->to.trailing_md, calld->deadline);
  if (calld->hedged) {
    // A loser, or an attempt that ended after the call, says nothing about
    // the call, its config or its peer.
    if (!calld->finished &&
        (calld->winner == nullptr || calld->winner == attempt)) {
      LearnConfig(calld, attempt);
      SavePeer(calld, attempt);
    }
    DecideHedged(calld, attempt, status, closures);
    return;
  }
  LearnConfig(calld, attempt);
  SavePeer(calld, attempt);
  if (attempt->timed_out) {
    // The timer's cancel may have lost a race with the answer (the
    // transport held it, its callbacks queued behind the timer's): only an
    // attempt that ended as the cancel ends it timed out. It ended on a
    // deadline of ours, whatever the transport made of the cancel.
    if (attempt->committed || (status != GRPC_STATUS_DEADLINE_EXCEEDED &&
                               status != GRPC_STATUS_CANCELLED)) {
      attempt->timed_out = false;
    } else {
      status = GRPC_STATUS_DEADLINE_EXCEEDED;
      grpcr_method_stats_on_attempt_timeout(calld->method_stats);
    }
  }
  const char* name = calld->chand->name.c_str();
  if (IsClientLimitError(attempt->recv_message_error) ||
      IsClientLimitError(attempt->recv_trailing_md_error)) {
    // A response over the client's own limits: no retry would get another.
    // (The surface may have cancelled the call for it already: it is still
    // local, not the application's cancel.)
    MarkLocal(calld);
    calld->final_attempt = attempt;
    Finish(calld, status, closures);
    return;
  }
  if (!calld->cancel_error.ok()) {
    // The application cancelled: its receive ops fail with its own error,
    // as they would without the filter.
    FinishWithFailure(calld, calld->cancel_error, closures);
    return;
  }
  if (calld->method_policy == nullptr || status == GRPC_STATUS_OK) {
    // Success needs no retry decision (nor a backoff seeded from the OS);
    // its latency is what a later retry of the method must fit.
    if (status == GRPC_STATUS_OK) {
      grpcr_method_stats_on_attempt_ok(
          calld->method_stats, grpcr_internal_now_ns() - attempt->start_ns);
    }
    calld->final_attempt = attempt;
    Finish(calld, status, closures);
    return;
  }
  grpcr_attempt_outcome outcome = {};
  outcome.status = status;
  outcome.attempts_done = calld->attempts;
  outcome.committed = attempt->committed;
  outcome.attempt_timed_out = attempt->timed_out;
  if (calld->breaker_admitted) {
    outcome.breaker = grpcr_policy_breaker(calld->policy.get());
    outcome.ticket = &calld->ticket;
  }
  grpcr_method_stats_median_ok_ns(calld->method_stats,
                                  &outcome.median_attempt_ns);
  absl::optional<grpc_core::Duration> pushback =
      attempt->to.trailing_md->get(grpc_core::GrpcRetryPushbackMsMetadata());
  if (pushback.has_value()) {
    // gRPC parsed the header; a malformed one reads as negative (stop).
    outcome.pushback =
        grpcr_pushback_from_ms(pushback->millis(), &outcome.pushback_ns);
  }
  if (!calld->backoff_ready) {
    grpcr_backoff_init(&calld->backoff, &calld->method_policy->backoff,
                       grpcr_rng_os_seed());
    calld->backoff_ready = true;
  }
  const int64_t now = grpcr_internal_now_ns();
  int64_t delay_ns = 0;
  grpcr_retry_verdict verdict = grpcr_retry_decide(
      calld->method_policy, &calld->backoff,
      calld->policy != nullptr ? grpcr_policy_budget(calld->policy.get())
                               : nullptr,
      &outcome,
      now, ToMonotonicNs(calld->effective_deadline), &delay_ns);
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO,
            "resilience[%s] call=%p: attempt %u ended %s%s: %s, delay %" PRId64
            "ms",
            name, calld, attempt->number, grpcr_status_name(status),
            attempt->committed ? " (committed)" : "",
            grpcr_retry_verdict_name(verdict), delay_ns / 1000000);
  }
  if (verdict == GRPCR_RETRY_YES) {
    // Kept until the retry starts (DiscardBackoffAttempt): the breaker may
    // still stop it then.
    calld->backoff_attempt = attempt;
    calld->backoff_status = status;
    calld->backoff_delay_ns = delay_ns;
    StartRetryTimer(calld, delay_ns);
    return;
  }
  if (verdict == GRPCR_RETRY_NO_BUDGET) {
    grpcr_stats_on_budget_denied(calld->chand->stats);
  } else if (verdict == GRPCR_RETRY_NO_BREAKER) {
    grpcr_stats_on_breaker_stopped_retry(calld->chand->stats);
  } else if (verdict == GRPCR_RETRY_NO_DEADLINE ||
             verdict == GRPCR_RETRY_NO_TIME) {
    // Ends now with this status, not in a backoff that runs into the
    // deadline.
    grpcr_method_stats_on_retry_skipped_deadline(calld->method_stats);
  }
  calld->final_attempt = attempt;
  Finish(calld, status, closures);
}

void MaybeDecide(Attempt* attempt, Closures* closures) {
  if (attempt->decided || !attempt->got_initial || !attempt->got_message ||
      !attempt->got_trailing) {
    return;
  }
  Decide(attempt->calld, attempt, closures);
}

// The common tail of the attempt's receive callbacks: a committed attempt
// hands over what it has, a complete one is decided; then the combiner is
// handed on.
void AfterAttemptReceive(Attempt* attempt) {
  CallData* calld = attempt->calld;
  Closures closures;
  if (attempt->committed && !attempt->got_trailing &&
      calld->cancel_error.ok() &&
      (!calld->hedged || CommitHedged(calld, attempt, &closures))) {
    calld->streaming = attempt;
    DeliverStreaming(calld, &closures);
  }
  MaybeDecide(attempt, &closures);
  AttemptCallbackDone(attempt);
  closures.RunFromCallback(calld->call_combiner);
}

// Response headers commit nothing: servers send them before an error
// status (Ruby always; grpc-go, grpc-js and Python whenever a handler sends
// metadata first), and the attempt's status still decides. The application
// gets the headers of the attempt that is delivered, never a discarded one's.
void AttemptRecvInitialMdReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->got_initial = true;
  attempt->recv_initial_md_error = error;
  AfterAttemptReceive(attempt);
}

void AttemptRecvMessageReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->got_message = true;
  attempt->recv_message_error = error;
  // Before a committed attempt hands this error to the application (whose
  // surface then cancels the call with it).
  if (IsClientLimitError(error) && !attempt->lost && !attempt->calld->finished) {
    MarkLocal(attempt->calld);
  }
  if (attempt->to.message->has_value()) {
    attempt->committed = true;
    StopAttemptTimer(attempt);  // the server answered: the clock stops
  }
  AfterAttemptReceive(attempt);
}

void AttemptRecvTrailingMdReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->got_trailing = true;
  attempt->recv_trailing_md_error = error;
  StopAttemptTimer(attempt);
  AfterAttemptReceive(attempt);
}

void AttemptOnComplete(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  if (error.ok()) attempt->sent = true;
  Closures closures;
  if (error.ok() && calld->app_send_on_complete != nullptr) {
    // The request is on the wire: let the application have its send batch
    // back, keeping our own copy for retries.
    calld->owned_send_initial_md =
        calld->arena->ManagedNew<grpc_metadata_batch>(
            calld->send_initial_md->Copy());
    calld->send_initial_md = calld->owned_send_initial_md;
    calld->owned_send_message = calld->send_message->Copy();
    calld->send_message = &calld->owned_send_message;
    closures.AddToApp(calld->app_send_on_complete, absl::OkStatus(),
                      "resilience: send ops done");
    calld->app_send_on_complete = nullptr;
  }
  AttemptCallbackDone(attempt);
  closures.RunFromCallback(calld->call_combiner);
}

void AttemptAfterDestroy(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  grpc_call_stack* owning_call = attempt->calld->owning_call;
  // Entries the child set (client-channel's service-config call data); the
  // copies of the parent's entries carry no destroy function.
  for (size_t i = 0; i < GRPC_CONTEXT_COUNT; i++) {
    if (attempt->child_context[i].destroy != nullptr) {
      attempt->child_context[i].destroy(attempt->child_context[i].value);
      attempt->child_context[i].destroy = nullptr;
    }
  }
  GRPC_CALL_STACK_UNREF(owning_call, "resilience: attempt");
}

void AttemptDestroy(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->final_info.final_status =
      static_cast<grpc_status_code>(attempt->calld->final_status);
  GRPC_CLOSURE_INIT(&attempt->after_destroy, AttemptAfterDestroy, attempt,
                    nullptr);
  grpc_call_stack_destroy(attempt->stack, &attempt->final_info,
                          &attempt->after_destroy);
}

}  // namespace

Attempt::Attempt(CallData* c, uint32_t n, bool parent)
    : calld(c),
      number(n),
      on_parent(parent),
      elem0(parent ? c->elem : nullptr),
      context(parent ? c->context : child_context),
      payload(context),
      send_initial_md(c->arena),
      send_trailing_md(c->arena),
      to{nullptr,        &trailing_md_available,
         &recv_message,  &recv_message_flags,
         &call_failed_before_recv_message,
         nullptr,        &stats} {}

Attempt::~Attempt() = default;

namespace {

void AttemptBatchAfterCancel(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  grpc_call_next_op(attempt->elem0, &attempt->batch);
}

void AttemptStartInCombiner(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  attempt->started = true;
  if (attempt->cancel_pending) {
    // Cancelled while this start hopped the exec_ctx (the application's
    // cancel, the attempt's own timeout, or a hedge that lost before it
    // left): the cancel goes down first, so that client-channel fails the
    // batch queued behind it and the request is never sent. (Sent first,
    // the batch could reach the server before its cancel.)
    GRPC_CLOSURE_INIT(&attempt->batch_after_cancel, AttemptBatchAfterCancel,
                      attempt, nullptr);
    GRPC_CALL_COMBINER_START(calld->call_combiner,
                             &attempt->batch_after_cancel, absl::OkStatus(),
                             "resilience: attempt batch after its cancel");
    grpc_closure* cancel = PrepareAttemptCancel(
        attempt, calld->cancel_error.ok() ? attempt->cancel_error
                                          : calld->cancel_error);
    grpc_core::Closure::Run(DEBUG_LOCATION, cancel, absl::OkStatus());
    return;
  }
  grpc_call_next_op(attempt->elem0, &attempt->batch);
}

// Client-channel's deadline filter queues the start of an attempt's deadline
// timer on the exec_ctx when the child stack is initialised, and asserts if
// the attempt's first batch (which may re-arm it for a per-method timeout)
// gets there first. So the batch hops the exec_ctx behind that closure,
// then takes the combiner behind the timer start.
void AttemptStartHop(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  GRPC_CLOSURE_INIT(&attempt->start_in_combiner, AttemptStartInCombiner,
                    attempt, nullptr);
  GRPC_CALL_COMBINER_START(attempt->calld->call_combiner,
                           &attempt->start_in_combiner, absl::OkStatus(),
                           "resilience: start attempt");
}

// Makes an attempt's child call stack; returns the error of its filters'
// init (if any).
grpc_error_handle InitChildStack(CallData* calld, Attempt* attempt) {
  ChannelData* chand = calld->chand;
  // The client auth filter stores the connection's auth context in the
  // security context it finds, creating one if there is none. Have one on
  // the application's call, so that the attempts share it and
  // grpc_call_auth_context() sees the peer's identity.
  if (calld->context[GRPC_CONTEXT_SECURITY].value == nullptr) {
    calld->context[GRPC_CONTEXT_SECURITY].value =
        grpc_client_security_context_create(calld->arena, nullptr);
    calld->context[GRPC_CONTEXT_SECURITY].destroy =
        grpc_client_security_context_destroy;
  }
  for (size_t i = 0; i < GRPC_CONTEXT_COUNT; i++) {
    attempt->child_context[i].value = calld->context[i].value;
    attempt->child_context[i].destroy = nullptr;
  }
  // Filters may assume zeroed call data (the surface call zeroes its own).
  void* mem = calld->arena->Alloc(chand->stack->call_stack_size);
  memset(mem, 0, chand->stack->call_stack_size);
  attempt->stack = static_cast<grpc_call_stack*>(mem);
  const grpc_call_element_args args = {
      attempt->stack,   nullptr,          attempt->child_context,
      calld->path.c_slice(), calld->start_time, calld->deadline,
      calld->arena,     calld->call_combiner};
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: attempt");
  tls_init_attempt = true;
  grpc_error_handle error = grpc_call_stack_init(chand->stack, 1, AttemptDestroy,
                                                 attempt, &args);
  tls_init_attempt = false;
  attempt->elem0 = grpc_call_stack_element(attempt->stack, 0);
  if (calld->pollent != nullptr) {
    grpc_call_stack_set_pollset_or_pollset_set(attempt->stack, calld->pollent);
  }
  return error;
}

}  // namespace

void StartAttempt(CallData* calld, int64_t now) {
  ChannelData* chand = calld->chand;
  const uint32_t number = ++calld->attempts;
  const bool on_parent = number == 1;
  auto* attempt = calld->arena->ManagedNew<Attempt>(calld, number, on_parent);
  calld->current = attempt;
  if (calld->hedged) {
    attempt->prev = calld->newest;
    calld->newest = attempt;
    calld->inflight++;
  }
  attempt->start_ns = now;
  grpc_error_handle error;
  if (!on_parent) error = InitChildStack(calld, attempt);
  grpcr_stats_on_attempt(chand->stats, number);

  // The first attempt sends the application's own metadata where gRPC's
  // retry filter (below client-channel) copies it for each of its attempts,
  // so nothing below alters it (docs/GRPC_CORE_NOTES.md); otherwise, and
  // for every retry, the attempt sends a copy. The message is always
  // copied: the retry filter moves it out of the batch.
  grpc_metadata_batch* send_md = calld->send_initial_md;
  if (!on_parent || !chand->retry_filter_below) {
    attempt->send_initial_md = calld->send_initial_md->Copy();
    // gRPC's retry filter removes this header from what it sends as its
    // first attempt: it reaches the server only without that filter.
    if (number > 1) {
      attempt->send_initial_md.Set(
          grpc_core::GrpcPreviousRpcAttemptsMetadata(), number - 1);
    }
    send_md = &attempt->send_initial_md;
  }
  attempt->send_message = calld->send_message->Copy();

  grpc_transport_stream_op_batch& b = attempt->batch;
  grpc_transport_stream_op_batch_payload& p = attempt->payload;
  b.payload = &p;
  b.send_initial_metadata = true;
  p.send_initial_metadata.send_initial_metadata = send_md;
  p.send_initial_metadata.peer_string = &attempt->peer;
  b.send_message = true;
  p.send_message.send_message = &attempt->send_message;
  p.send_message.flags = calld->send_message_flags;
  b.send_trailing_metadata = true;
  p.send_trailing_metadata.send_trailing_metadata = &attempt->send_trailing_md;
  b.recv_initial_metadata = true;
  // A hedged call's attempts all write into their own buffers: a loser must
  // never have written into the application's.
  if (on_parent && !calld->hedged &&
      calld->app_recv_initial_md_ready != nullptr &&
      calld->app_recv_message_ready != nullptr &&
      calld->app_recv_trailing_md_ready != nullptr) {
    attempt->direct = true;
    attempt->to = Merge(calld->app, attempt->to);
  } else {
    attempt->recv_initial_md.emplace(calld->arena);
    attempt->recv_trailing_md.emplace(calld->arena);
    attempt->to.initial_md = &*attempt->recv_initial_md;
    attempt->to.trailing_md = &*attempt->recv_trailing_md;
  }
  p.recv_initial_metadata.recv_initial_metadata = attempt->to.initial_md;
  p.recv_initial_metadata.trailing_metadata_available = attempt->to.trailing_md_available;
  p.recv_initial_metadata.peer_string = &attempt->peer;
  GRPC_CLOSURE_INIT(&attempt->recv_initial_md_ready, AttemptRecvInitialMdReady,
                    attempt, nullptr);
  p.recv_initial_metadata.recv_initial_metadata_ready =
      &attempt->recv_initial_md_ready;
  b.recv_message = true;
  p.recv_message.recv_message = attempt->to.message;
  p.recv_message.flags = attempt->to.message_flags;
  p.recv_message.call_failed_before_recv_message = attempt->to.call_failed_before_message;
  GRPC_CLOSURE_INIT(&attempt->recv_message_ready, AttemptRecvMessageReady,
                    attempt, nullptr);
  p.recv_message.recv_message_ready = &attempt->recv_message_ready;
  b.recv_trailing_metadata = true;
  p.recv_trailing_metadata.recv_trailing_metadata = attempt->to.trailing_md;
  p.recv_trailing_metadata.collect_stats = attempt->to.stats;
  GRPC_CLOSURE_INIT(&attempt->recv_trailing_md_ready,
                    AttemptRecvTrailingMdReady, attempt, nullptr);
  p.recv_trailing_metadata.recv_trailing_metadata_ready =
      &attempt->recv_trailing_md_ready;
  GRPC_CLOSURE_INIT(&attempt->on_complete, AttemptOnComplete, attempt,
                    nullptr);
  b.on_complete = &attempt->on_complete;

  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO, "resilience[%s] call=%p: starting attempt %u",
            chand->name.c_str(), calld, number);
  }
  if (calld->method_policy != nullptr &&
      calld->method_policy->per_attempt_timeout_ns > 0) {
    ArmAttemptTimer(calld, attempt);
  }
  if (calld->hedged) ArmNextHedge(calld, now);
  if (on_parent) {
    // The application's own stack: its first batch goes down as it would
    // without the filter (client-channel's deadline timer started long ago).
    // The attempt's ops are ours, not the application's, so the call is
    // kept alive until their last callback: a callback can come after the
    // application has its status and drops the call (a cancelled attempt's
    // on_complete did, freeing the arena under it).
    GRPC_CALL_STACK_REF(calld->owning_call, "resilience: parent attempt");
    attempt->started = true;
    grpc_call_next_op(attempt->elem0, &attempt->batch);
    return;
  }
  if (!error.ok()) {
    // A filter refused the child call: fail the attempt's batch like a
    // transport would; the callbacks then decide as for any failed attempt.
    attempt->started = true;
    // This yields the combiner (through RunClosures).
    grpc_transport_stream_op_batch_finish_with_failure(&attempt->batch, error,
                                                       calld->call_combiner);
    return;
  }
  GRPC_CLOSURE_INIT(&attempt->start_hop, AttemptStartHop, attempt,
                    grpc_schedule_on_exec_ctx);
  ExecCtx::Run(DEBUG_LOCATION, &attempt->start_hop, absl::OkStatus());
  StopCombiner(calld, "resilience: attempt start queued");
}

void StartFirstActiveBatch(CallData* calld,
                           grpc_transport_stream_op_batch* batch) {
  ChannelData* chand = calld->chand;
  auto* p = batch->payload;
  calld->send_initial_md = p->send_initial_metadata.send_initial_metadata;
  calld->peer_string = p->send_initial_metadata.peer_string;
  calld->send_message = p->send_message.send_message;
  calld->send_message_flags = p->send_message.flags;
  if (!batch->recv_trailing_metadata && batch->on_complete != nullptr) {
    calld->app_send_on_complete = batch->on_complete;
    batch->on_complete = nullptr;  // not among those held to the end
  }
  StoreAppRecvOps(calld, batch);
  grpcr_stats_on_request(chand->stats);
  const int64_t now = grpcr_internal_now_ns();
  grpcr_budget_on_request(grpcr_policy_budget(calld->policy.get()), now);
  grpc_error_handle rejected = AdmitToBreaker(calld, now);
  if (!rejected.ok()) {
    Closures closures;
    FinishWithFailure(calld, rejected, &closures);
    closures.RunClosures(calld->call_combiner);
    return;
  }
  calld->hedged = calld->method_policy->hedging.enabled;
  StartAttempt(calld, now);
}

}  // namespace grpcr
