// Handing results to the application: its receive ops are held until the
// call's final attempt ends (or, once the server commits a call, handed
// over as they arrive), then completed exactly once; the call's one final
// status is recorded here.
#include "call.h"

namespace grpcr {

// ---------------------------------------------------------------------------
// Small helpers.

int StatusFrom(grpc_error_handle error, grpc_metadata_batch* md,
               Timestamp deadline) {
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  if (!error.ok()) {
    grpc_error_get_status(error, deadline, &status, nullptr, nullptr, nullptr);
  } else if (md != nullptr) {
    status = md->get(grpc_core::GrpcStatusMetadata())
                 .value_or(GRPC_STATUS_UNKNOWN);
  }
  return status;
}

grpc_error_handle StatusError(grpc_status_code code, const std::string& msg) {
  return grpc_error_set_str(
      grpc_error_set_int(GRPC_ERROR_CREATE(msg),
                         grpc_core::StatusIntProperty::kRpcStatus, code),
      grpc_core::StatusStrProperty::kGrpcMessage, msg);
}

void StopCombiner(CallData* calld, const char* reason) {
  GRPC_CALL_COMBINER_STOP(calld->call_combiner, reason);
}

// ---------------------------------------------------------------------------
// Closures.

void Closures::AddFailedBatch(grpc_transport_stream_op_batch* batch,
                              const grpc_error_handle& error) {
  auto* p = batch->payload;
  if (batch->recv_initial_metadata) {
    AddToApp(p->recv_initial_metadata.recv_initial_metadata_ready, error,
             "failing recv_initial_metadata_ready");
  }
  if (batch->recv_message) {
    AddToApp(p->recv_message.recv_message_ready, error,
             "failing recv_message_ready");
  }
  if (batch->recv_trailing_metadata) {
    AddToApp(p->recv_trailing_metadata.recv_trailing_metadata_ready, error,
             "failing recv_trailing_metadata_ready");
  }
  if (batch->on_complete != nullptr) {
    AddToApp(batch->on_complete, error, "failing on_complete");
  }
}

void Closures::QueueAllButFirst(CallCombiner* call_combiner) {
  for (size_t i = 1; i < entries_.size(); i++) {
    GRPC_CALL_COMBINER_START(call_combiner, entries_[i].closure,
                             std::move(entries_[i].error), entries_[i].reason);
  }
}

void Closures::RunClosures(CallCombiner* call_combiner) {
  if (entries_.empty()) {
    GRPC_CALL_COMBINER_STOP(call_combiner, "resilience: nothing to run");
    return;
  }
  QueueAllButFirst(call_combiner);
  ExecCtx::Run(DEBUG_LOCATION, entries_[0].closure,
               std::move(entries_[0].error));
  entries_.clear();
}

void Closures::RunFromCallback(CallCombiner* call_combiner) {
  if (entries_.empty() || !entries_[0].app) {
    RunClosures(call_combiner);
    return;
  }
  QueueAllButFirst(call_combiner);
  grpc_closure* first = entries_[0].closure;
  grpc_error_handle error = std::move(entries_[0].error);
  entries_.clear();
  grpc_core::Closure::Run(DEBUG_LOCATION, first, std::move(error));
}

namespace {

// ---------------------------------------------------------------------------
// Delivering the result.

void AddAppOnComplete(CallData* calld, grpc_transport_stream_op_batch* batch) {
  if (batch->on_complete == nullptr) return;
  GPR_ASSERT(calld->n_app_on_complete < 4);
  calld->app_on_complete[calld->n_app_on_complete++] = batch->on_complete;
}

}  // namespace

void StoreAppRecvOps(CallData* calld, grpc_transport_stream_op_batch* batch) {
  auto* p = batch->payload;
  if (batch->recv_initial_metadata) {
    calld->app.initial_md = p->recv_initial_metadata.recv_initial_metadata;
    calld->app.trailing_md_available =
        p->recv_initial_metadata.trailing_metadata_available;
    calld->app_recv_initial_md_ready =
        p->recv_initial_metadata.recv_initial_metadata_ready;
  }
  if (batch->recv_message) {
    calld->app.message = p->recv_message.recv_message;
    calld->app.message_flags = p->recv_message.flags;
    calld->app.call_failed_before_message =
        p->recv_message.call_failed_before_recv_message;
    calld->app_recv_message_ready = p->recv_message.recv_message_ready;
  }
  if (batch->recv_trailing_metadata) {
    calld->app.trailing_md =
        p->recv_trailing_metadata.recv_trailing_metadata;
    calld->app_recv_trailing_md_ready =
        p->recv_trailing_metadata.recv_trailing_metadata_ready;
    calld->app.stats = p->recv_trailing_metadata.collect_stats;
  }
  AddAppOnComplete(calld, batch);
}

namespace {

// An attempt's results, given to the application's receive buffers (a
// direct attempt wrote there already: nothing moves).
void GiveInitialMd(CallData* calld, Attempt* a) {
  if (calld->app.initial_md != a->to.initial_md) {
    *calld->app.initial_md = std::move(*a->to.initial_md);
  }
  if (calld->app.trailing_md_available != nullptr &&
      calld->app.trailing_md_available != a->to.trailing_md_available) {
    *calld->app.trailing_md_available = *a->to.trailing_md_available;
  }
}

// After it, the attempt holds no message, so a further read by the
// application gets end-of-stream. (A moved-from optional stays engaged,
// hence the reset.)
void GiveMessage(CallData* calld, Attempt* a) {
  if (calld->app.message != a->to.message) {
    *calld->app.message = std::move(*a->to.message);
    a->to.message->reset();
    *calld->app.message_flags = *a->to.message_flags;
  }
  if (calld->app.call_failed_before_message != nullptr &&
      calld->app.call_failed_before_message != a->to.call_failed_before_message) {
    *calld->app.call_failed_before_message = *a->to.call_failed_before_message;
  }
  a->recv_message.reset();
  a->to.message = &a->recv_message;
  a->to.message_flags = &a->recv_message_flags;
  a->to.call_failed_before_message = &a->call_failed_before_recv_message;
}

void GiveTrailingMd(CallData* calld, Attempt* a) {
  if (calld->app.trailing_md != a->to.trailing_md) {
    *calld->app.trailing_md = std::move(*a->to.trailing_md);
  }
  if (calld->app.stats != nullptr &&
      calld->app.stats != a->to.stats) {
    *calld->app.stats = *a->to.stats;
  }
}

}  // namespace

// A direct attempt that will be retried: its results must not reach the
// application, so its buffers are emptied for the final attempt's.
void ClearDirectResults(Attempt* a) {
  a->to.initial_md->Clear();
  *a->to.trailing_md_available = false;
  a->to.message->reset();
  *a->to.message_flags = 0;
  *a->to.call_failed_before_message = false;
  a->to.trailing_md->Clear();
}

// Releases a finished attempt's copies of the request and what it
// received (its slices; the arena keeps only the structs).
void DropAttemptData(Attempt* a) {
  a->send_initial_md.Clear();
  a->send_message.Clear();
  if (!a->direct) {
    a->recv_initial_md->Clear();
    a->recv_message.reset();
    a->recv_trailing_md->Clear();
  }
}

// The application's receive target, with the attempt's own buffers where the
// application gave none (optional outputs).
ReceiveTarget Merge(const ReceiveTarget& app, const ReceiveTarget& own) {
  ReceiveTarget t = app;
  if (t.trailing_md_available == nullptr) {
    t.trailing_md_available = own.trailing_md_available;
  }
  if (t.call_failed_before_message == nullptr) {
    t.call_failed_before_message = own.call_failed_before_message;
  }
  if (t.stats == nullptr) t.stats = own.stats;
  return t;
}

// Hands the final result to whichever application ops are waiting for it.
void DeliverPending(CallData* calld, Closures* closures) {
  if (!calld->finished) return;
  Attempt* a = calld->final_attempt;
  const bool from_attempt = a != nullptr;
  if (calld->app_recv_initial_md_ready != nullptr) {
    grpc_error_handle err = calld->failure;
    if (from_attempt) {
      GiveInitialMd(calld, a);
      err = a->recv_initial_md_error;
    } else if (calld->app.trailing_md_available != nullptr) {
      *calld->app.trailing_md_available = true;
    }
    closures->AddToApp(calld->app_recv_initial_md_ready, err,
                  "resilience: recv_initial_metadata_ready");
    calld->app_recv_initial_md_ready = nullptr;
  }
  if (calld->app_recv_message_ready != nullptr) {
    grpc_error_handle err = calld->failure;
    if (from_attempt) {
      GiveMessage(calld, a);
      err = a->recv_message_error;
    } else {
      calld->app.message->reset();
      if (calld->app.call_failed_before_message != nullptr) {
        *calld->app.call_failed_before_message = true;
      }
    }
    closures->AddToApp(calld->app_recv_message_ready, err,
                  "resilience: recv_message_ready");
    calld->app_recv_message_ready = nullptr;
  }
  if (calld->app_recv_trailing_md_ready != nullptr) {
    grpc_error_handle err = calld->failure;
    if (from_attempt) {
      GiveTrailingMd(calld, a);
      err = a->recv_trailing_md_error;
    }
    closures->AddToApp(calld->app_recv_trailing_md_ready, err,
                  "resilience: recv_trailing_metadata_ready");
    calld->app_recv_trailing_md_ready = nullptr;
  }
  if (calld->app_send_on_complete != nullptr) {
    closures->AddToApp(calld->app_send_on_complete,
                  from_attempt ? absl::OkStatus() : calld->failure,
                  "resilience: send on_complete");
    calld->app_send_on_complete = nullptr;
  }
  for (size_t i = 0; i < calld->n_app_on_complete; i++) {
    // A request that some attempt sent completes its send ops; one that never
    // left (breaker, early cancel) fails them, as a transport would.
    closures->AddToApp(calld->app_on_complete[i],
                  from_attempt ? absl::OkStatus() : calld->failure,
                  "resilience: on_complete");
  }
  calld->n_app_on_complete = 0;
}

namespace {

void ParentCancelDone(void* arg, grpc_error_handle) {
  auto* calld = static_cast<CallData*>(arg);
  grpc_call_stack* owning_call = calld->owning_call;
  StopCombiner(calld, "resilience: parent cancel done");
  GRPC_CALL_STACK_UNREF(owning_call, "resilience: parent cancel");
}

void ParentCancelStart(void* arg, grpc_error_handle) {
  auto* calld = static_cast<CallData*>(arg);
  grpc_call_next_op(calld->elem, &calld->parent_cancel_batch);
}

}  // namespace

void AddParentCancel(CallData* calld, Closures* closures) {
  if (calld->parent_cancel_sent) return;
  calld->parent_cancel_sent = true;
  // The application may drop the call as soon as its closures have run; the
  // cancel, queued behind them, must not outlive it.
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: parent cancel");
  calld->parent_cancel_batch.cancel_stream = true;
  calld->parent_cancel_payload.emplace(calld->context);
  calld->parent_cancel_batch.payload = &*calld->parent_cancel_payload;
  // The error is never seen by anyone: the plain one costs no allocation.
  calld->parent_cancel_payload->cancel_stream.cancel_error =
      absl::CancelledError();
  GRPC_CLOSURE_INIT(&calld->parent_cancel_done, ParentCancelDone, calld,
                    nullptr);
  calld->parent_cancel_batch.on_complete = &calld->parent_cancel_done;
  GRPC_CLOSURE_INIT(&calld->parent_cancel_start, ParentCancelStart, calld,
                    nullptr);
  closures->Add(&calld->parent_cancel_start, absl::OkStatus(),
                "resilience: cancel parent");
}

// The call's one final status: records it with the breaker and the stats and
// returns the result to the application.
void Finish(CallData* calld, int status, Closures* closures) {
  GPR_ASSERT(!calld->finished);
  calld->finished = true;
  calld->final_status = status;
  GiveVerdict(calld, status, OriginOf(calld, status));
  RecordFinal(calld, status, calld->attempts);
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO,
            "resilience[%s] call=%p: final status %s after %u attempt(s): %s",
            calld->chand->name.c_str(), calld, grpcr_status_name(status),
            calld->attempts,
            grpc_core::StatusToString(calld->final_attempt != nullptr
                                          ? calld->final_attempt->recv_trailing_md_error
                                          : calld->failure)
                .c_str());
  }
  DeliverPending(calld, closures);
  // A parent stack that carried the first attempt finished with it; one
  // that carried none needs a cancel to release client-channel's call.
  if (calld->attempts == 0) AddParentCancel(calld, closures);
}

void FinishWithFailure(CallData* calld, grpc_error_handle error,
                       Closures* closures) {
  calld->failure = error;
  Finish(calld, StatusFrom(error, nullptr, calld->deadline), closures);
}

namespace {

void FwdRecvMessageReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  Closures closures;
  closures.AddToApp(attempt->app_fwd_ready, error, "resilience: forwarded read");
  attempt->app_fwd_ready = nullptr;
  AttemptCallbackDone(attempt);
  closures.RunFromCallback(calld->call_combiner);
}

void FwdStart(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  grpc_call_next_op(attempt->elem0,
                    &attempt->fwd_batch);
}

}  // namespace

// A committed attempt still running: the application gets what the server
// sent so far, and its further reads go straight to the attempt.
void DeliverStreaming(CallData* calld, Closures* closures) {
  Attempt* a = calld->streaming;
  if (a == nullptr || a->decided) return;
  if (calld->app_recv_initial_md_ready != nullptr && a->got_initial) {
    GiveInitialMd(calld, a);
    closures->AddToApp(calld->app_recv_initial_md_ready, a->recv_initial_md_error,
                  "resilience: recv_initial_metadata_ready (committed)");
    calld->app_recv_initial_md_ready = nullptr;
  }
  if (calld->app_recv_message_ready == nullptr) return;
  if (!calld->first_message_delivered) {
    if (!a->got_message) return;
    calld->first_message_delivered = true;
    GiveMessage(calld, a);
    closures->AddToApp(calld->app_recv_message_ready, a->recv_message_error,
                  "resilience: recv_message_ready (committed)");
    calld->app_recv_message_ready = nullptr;
    return;
  }
  if (a->app_fwd_ready != nullptr) return;  // one read at a time
  a->fwd_batch = grpc_transport_stream_op_batch();
  a->fwd_payload.emplace(a->context);
  a->fwd_batch.payload = &*a->fwd_payload;
  a->fwd_batch.recv_message = true;
  auto& rm = a->fwd_payload->recv_message;
  rm.recv_message = calld->app.message;
  rm.flags = calld->app.message_flags;
  rm.call_failed_before_recv_message = calld->app.call_failed_before_message;
  GRPC_CLOSURE_INIT(&a->fwd_ready, FwdRecvMessageReady, a, nullptr);
  rm.recv_message_ready = &a->fwd_ready;
  a->app_fwd_ready = calld->app_recv_message_ready;
  calld->app_recv_message_ready = nullptr;
  a->pending++;
  GRPC_CLOSURE_INIT(&a->fwd_start, FwdStart, a, nullptr);
  closures->Add(&a->fwd_start, absl::OkStatus(), "resilience: forward read");
}

}  // namespace grpcr
