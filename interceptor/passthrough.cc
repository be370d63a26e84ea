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

void PassthroughInitialReady(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  if (error.ok() && calld->passthrough_trailing_md_available != nullptr &&
      !*calld->passthrough_trailing_md_available) {
    GiveAnsweredVerdict(calld);
  }
  LearnFromContext(calld, calld->context);
  grpc_core::Closure::Run(DEBUG_LOCATION,
                          calld->passthrough_original_initial_ready, error);
}

void PassthroughTrailingReady(void* arg, grpc_error_handle error) {
  auto* calld = static_cast<CallData*>(arg);
  const int status =
      StatusFrom(error, calld->passthrough_trailing_md, calld->deadline);
  RecordFinal(calld, status, 1);
  GiveVerdict(calld, status, OriginOf(calld, status));
  LearnFromContext(calld, calld->context);
  grpc_core::Closure::Run(DEBUG_LOCATION, calld->passthrough_original_ready,
                          error);
}

}  // namespace

void StartPassthrough(CallData* calld, grpc_transport_stream_op_batch* batch) {
  auto* p = batch->payload;
  // The first answer gives the verdict (while a ticket is held) and may
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
  if (calld->local) grpcr_stats_on_local_error(chand->stats);
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
