// Pass-through calls: everything not run as attempts (streams, methods
// without a retry policy, requests over the retry buffer or a local size
// limit). Forwarded untouched; counted, a budget request, gated by the
// breaker, and their first answer gives its verdict and may carry a new
// service config.
#include "call.h"

namespace grpcr {

namespace {

// ---------------------------------------------------------------------------
// Pass-through calls: counted, never touched.

// Response headers give the verdict only of a call that streams requests:
// a long-lived bidi or client stream must not hold a half-open probe slot.
// A call whose first batch carried the whole request waits for its first
// message or its status (a server may send headers before an error).
void PassthroughInitialReady(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  if (!error.ok()) calld->failed_below = true;
  if (error.ok() && calld->streams_requests &&
      calld->passthrough_trailing_md_available != nullptr &&
      !*calld->passthrough_trailing_md_available) {
    GiveAnsweredVerdict(calld);
  }
  LearnFromContext(calld, calld->context);
  grpc_core::Closure::Run(DEBUG_LOCATION,
                          calld->passthrough_original_initial_ready, error);
}

// The first response message: the dependency served the call.
void PassthroughMessageReady(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  if (IsClientLimitError(error)) MarkLocal(calld);
  if (!error.ok()) calld->failed_below = true;
  if (error.ok() && !calld->local && calld->passthrough_message->has_value()) {
    GiveAnsweredVerdict(calld);
  }
  grpc_core::Closure::Run(DEBUG_LOCATION,
                          calld->passthrough_original_message_ready, error);
}

// A send batch's completion, watched while the call holds a ticket: one per
// batch (several may be in flight), from the call's arena.
struct SendCompletion {
  CallData* calld;
  grpc_closure* original;
  grpc_closure closure;
  bool sends_request;  // it carried send_initial_metadata
};

void PassthroughSendDone(void* arg, grpc_error_handle error) {
  auto* c = static_cast<SendCompletion*>(arg);
  if (!error.ok()) {
    c->calld->failed_below = true;
  } else if (c->sends_request) {
    c->calld->sent = true;
  }
  grpc_core::Closure::Run(DEBUG_LOCATION, c->original, error);
}

void PassthroughTrailingReady(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  const int status =
      StatusFrom(error, calld->passthrough_trailing_md, calld->deadline);
  // The message-size filter adds a receive failure to the trailing error
  // (a later message of a stream, after the verdict's hook is gone).
  if (IsClientLimitError(error)) MarkLocal(calld);
  RecordFinal(calld, status, 1);
  GiveVerdict(calld, status, OriginOf(calld, status));
  LearnFromContext(calld, calld->context);
  grpc_core::Closure::Run(DEBUG_LOCATION, calld->passthrough_original_ready,
                          error);
}

}  // namespace

void StartPassthrough(CallData* calld, grpc_transport_stream_op_batch* batch) {
  auto* p = batch->payload;
  if (!calld->local && OverLocalLimit(calld, batch)) {
    // A later message over the local limit (a client stream's chunk): gRPC
    // fails the batch in the client and the surface cancels the call. Not
    // the dependency's doing: no verdict, and counted.
    MarkLocal(calld);
  }
  // The first answer may give the verdict (while a ticket is held) and may
  // carry a config the channel does not know yet.
  if (batch->recv_initial_metadata &&
      calld->passthrough_original_initial_ready == nullptr &&
      (calld->breaker_admitted ||
       !calld->chand->config_known.load(std::memory_order_relaxed))) {
    calld->passthrough_trailing_md_available =
        p->recv_initial_metadata.trailing_metadata_available;
    calld->passthrough_original_initial_ready =
        p->recv_initial_metadata.recv_initial_metadata_ready;
    GRPC_CLOSURE_INIT(&calld->passthrough_initial_ready,
                      PassthroughInitialReady, calld, nullptr);
    p->recv_initial_metadata.recv_initial_metadata_ready =
        &calld->passthrough_initial_ready;
  }
  if (calld->breaker_admitted && batch->on_complete != nullptr &&
      (!batch->recv_trailing_metadata ||
       (calld->slow_rule && batch->send_initial_metadata))) {
    // A failed send (a failed pick, a refused connection: the call never
    // reached the dependency's answer) makes the surface cancel the call;
    // under a slow-call rule, a request sent is at the server.
    auto* c = calld->arena->New<SendCompletion>();
    c->calld = calld;
    c->sends_request = batch->send_initial_metadata;
    c->original = batch->on_complete;
    GRPC_CLOSURE_INIT(&c->closure, PassthroughSendDone, c, nullptr);
    batch->on_complete = &c->closure;
  }
  if (batch->recv_message && calld->breaker_admitted &&
      calld->passthrough_original_message_ready == nullptr) {
    calld->passthrough_message = p->recv_message.recv_message;
    calld->passthrough_original_message_ready =
        p->recv_message.recv_message_ready;
    GRPC_CLOSURE_INIT(&calld->passthrough_message_ready,
                      PassthroughMessageReady, calld, nullptr);
    p->recv_message.recv_message_ready = &calld->passthrough_message_ready;
  }
  if (batch->recv_trailing_metadata &&
      calld->passthrough_original_ready == nullptr) {
    calld->passthrough_trailing_md =
        p->recv_trailing_metadata.recv_trailing_metadata;
    calld->passthrough_original_ready =
        p->recv_trailing_metadata.recv_trailing_metadata_ready;
    GRPC_CLOSURE_INIT(&calld->passthrough_ready, PassthroughTrailingReady,
                      calld, nullptr);
    p->recv_trailing_metadata.recv_trailing_metadata_ready =
        &calld->passthrough_ready;
  }
  grpc_call_next_op(calld->elem, batch);
}

// A pass-through call's first batch: counted (for the budget too), and
// gated by the breaker unless its request breaks a local limit.
void StartFirstPassthroughBatch(CallData* calld,
                                grpc_transport_stream_op_batch* batch) {
  ChannelData* chand = calld->chand;
  grpcr_stats_on_request(chand->stats);
  const int64_t now = grpcr_internal_now_ns();
  if (calld->policy != nullptr) {
    grpcr_budget_on_request(grpcr_policy_budget(calld->policy.get()), now);
  }
  grpc_error_handle rejected = AdmitToBreaker(calld, now);
  if (rejected.ok()) {
    grpcr_stats_on_attempt(chand->stats, 1);
    StartPassthrough(calld, batch);
    return;
  }
  // Every batch of a rejected call fails with the breaker's error; one
  // cancel down the parent stack (queued behind this batch's failure)
  // releases client-channel's call.
  calld->mode = Mode::kRejected;
  calld->failure = rejected;
  RecordFinal(calld, GRPC_STATUS_UNAVAILABLE, 0);
  Closures closures;
  AddParentCancel(calld, &closures);
  closures.AddFailedBatch(batch, rejected);
  closures.RunClosures(calld->call_combiner);
}

}  // namespace grpcr
