// The resilience filter: element 0 of every client channel stack.
//
// A unary call (its first batch carries initial metadata, the one message
// and the half-close) of a method with a retry policy is buffered and run
// as one or more attempts (attempt.cc); nothing reaches the application
// until the call's final attempt ends (delivery.cc), so a retry is
// invisible to it. Every other call passes through (passthrough.cc). The
// policy core (src/) decides everything: may the call start (breaker), may
// it retry and after how long (retry policy, backoff, pushback, deadline,
// budget); call_policy.cc asks it, channel_policy.cc keeps the channel's
// policy in step with its service config.
//
// This file: the filter table, the call element's life, and the entry
// point for the application's batches.
//
// Call combiner protocol: every callback from below arrives holding the
// combiner, and each hands it on exactly once: it starts a batch, returns the
// application's closures (Closures, call.h), or stops.
#include "call.h"
#include "process_policy.h"

namespace grpcr {

grpc_core::TraceFlag trace(false, "resilience");

namespace {

// ---------------------------------------------------------------------------
// The application's batches.

bool IsUnaryRequest(const grpc_transport_stream_op_batch* batch) {
  return batch->send_initial_metadata && batch->send_message &&
         batch->send_trailing_metadata;
}

void HandleCancel(CallData* calld, grpc_transport_stream_op_batch* batch) {
  grpc_error_handle error = batch->payload->cancel_stream.cancel_error;
  if (calld->mode != Mode::kActive) {
    // A cancel that follows a failure below is the surface's reaction to
    // it: the call ends with the dependency's status.
    if (!calld->failed_below) calld->app_cancelled = true;
    if (calld->mode == Mode::kUndecided) {
      // Cancelled before its first batch: still a request with one status.
      grpcr_stats_on_request(calld->chand->stats);
      grpcr_stats_on_attempt(calld->chand->stats, 1);
      calld->mode = Mode::kPassthrough;
    }
    calld->parent_cancel_sent = true;
    StartPassthrough(calld, batch);
    return;
  }
  Closures closures;
  if (calld->cancel_error.ok()) calld->cancel_error = error;
  if (!calld->finished) {
    if (GRPC_TRACE_FLAG_ENABLED(trace)) {
      gpr_log(GPR_INFO, "resilience[%s] call=%p: cancelled: %s",
              calld->chand->name.c_str(), calld,
              grpc_core::StatusToString(error).c_str());
    }
    if (calld->hedged) {
      CancelHedged(calld, error, &closures);
    } else if (calld->current != nullptr) {
      Attempt* attempt = calld->current;
      if (!attempt->started) {
        attempt->cancel_pending = true;
      } else if (!attempt->cancel_sent) {
        closures.Add(PrepareAttemptCancel(attempt, error), absl::OkStatus(),
                     "resilience: cancel attempt");
      }
    } else if (calld->retry_timer_pending) {
      // In backoff: no attempt will report, so the call ends here.
      CancelInBackoff(calld, error, &closures);
    }
  }
  if (batch->on_complete != nullptr) {
    closures.Add(batch->on_complete, absl::OkStatus(),
                 "resilience: cancel on_complete");
  }
  closures.RunClosures(calld->call_combiner);
}

// The first batch decides how the call runs. Only a unary request of a
// method with a retry policy, within the retry buffer and the local size
// limit, is run as attempts; everything else passes through.
void StartFirstBatch(CallData* calld, grpc_transport_stream_op_batch* batch) {
  ChannelData* chand = calld->chand;
  chand->MaybeLearnFromClientChannel();
  RefCountedPtr<ServiceConfig> source;
  const grpc_core::ServiceConfigParser::ParsedConfigVector* vec;
  const MethodConfig* method;
  chand->Current(calld->path.c_slice(), &calld->policy, &source, &vec, &method,
                 &calld->method_stats);
  ApplyMethodConfig(calld, vec, &calld->max_send);
  calld->method_source = std::move(source);
  calld->streams_requests = !batch->send_trailing_metadata;
  if (OverLocalLimit(calld, batch)) {
    // gRPC's message-size filter fails it in the client: not the
    // dependency's doing, and nothing to retry.
    MarkLocal(calld);
    method = nullptr;
  }
  if (method != nullptr && !IsUnaryRequest(batch)) method = nullptr;
  if (method != nullptr) {
    // gRPC's retry filter rule: metadata and message together.
    auto* p = batch->payload;
    const size_t bytes =
        p->send_initial_metadata.send_initial_metadata->TransportSize() +
        p->send_message.send_message->Length();
    if (bytes > chand->retry_buffer_size) {
      grpcr_stats_on_committed_too_large(chand->stats);
      if (GRPC_TRACE_FLAG_ENABLED(trace)) {
        gpr_log(GPR_INFO,
                "resilience[%s] call=%p: request of %zu bytes exceeds the "
                "retry buffer (%zu): sent once",
                chand->name.c_str(), calld, bytes, chand->retry_buffer_size);
      }
      method = nullptr;
    }
  }
  if (method != nullptr) {
    calld->mode = Mode::kActive;
    calld->method_policy = &method->policy;
    StartFirstActiveBatch(calld, batch);
  } else {
    calld->mode = Mode::kPassthrough;
    StartFirstPassthroughBatch(calld, batch);
  }
}

void StartTransportStreamOpBatch(grpc_call_element* elem,
                                 grpc_transport_stream_op_batch* batch) {
  auto* calld = static_cast<CallData*>(elem->call_data);
  if (batch->cancel_stream) {
    HandleCancel(calld, batch);
    return;
  }
  if (calld->mode == Mode::kUndecided) {
    StartFirstBatch(calld, batch);
    return;
  }
  if (calld->mode == Mode::kPassthrough) {
    StartPassthrough(calld, batch);
    return;
  }
  if (calld->mode == Mode::kRejected) {
    grpc_transport_stream_op_batch_finish_with_failure(batch, calld->failure,
                                                       calld->call_combiner);
    return;
  }
  // An active call's later batches carry receive ops only.
  if (batch->send_initial_metadata || batch->send_message ||
      batch->send_trailing_metadata) {
    grpc_transport_stream_op_batch_finish_with_failure(
        batch,
        StatusError(GRPC_STATUS_INTERNAL,
                    "resilience: send op after the unary request"),
        calld->call_combiner);
    return;
  }
  StoreAppRecvOps(calld, batch);
  Closures closures;
  if (calld->finished) {
    DeliverPending(calld, &closures);
  } else {
    DeliverStreaming(calld, &closures);
  }
  closures.RunClosures(calld->call_combiner);
}

}  // namespace

CallData::CallData(grpc_call_element* e, const grpc_call_element_args* args)
    : elem(e),
      chand(static_cast<ChannelData*>(e->channel_data)),
      owning_call(args->call_stack),
      call_combiner(args->call_combiner),
      arena(args->arena),
      context(args->context),
      path(grpc_core::CSliceRef(args->path)),
      start_time(args->start_time),
      deadline(args->deadline),
      effective_deadline(args->deadline) {}

CallData::~CallData() = default;

namespace {

// In an attempt's child stack this element stays out of the way: its
// call_data is left zeroed and nothing is ever started on it.
grpc_error_handle InitCallElem(grpc_call_element* elem,
                               const grpc_call_element_args* args) {
  if (tls_init_attempt) return absl::OkStatus();
  new (elem->call_data) CallData(elem, args);
  return absl::OkStatus();
}

void SetPollent(grpc_call_element* elem, grpc_polling_entity* pollent) {
  auto* calld = static_cast<CallData*>(elem->call_data);
  if (calld->elem == elem) calld->pollent = pollent;
}

void DestroyCallElem(grpc_call_element* elem, const grpc_call_final_info*,
                     grpc_closure*) {
  auto* calld = static_cast<CallData*>(elem->call_data);
  if (calld->elem != elem) return;  // an attempt's transparent element
  // A call the application dropped before its verdict: no call may keep a
  // breaker's ticket (a half-open probe slot) beyond its life.
  ReleaseTicket(calld);
  // A pass-through call whose status the application never read (an
  // abandoned stream: cancel and unref) is still a request that ended: the
  // surface cancelled it, so it counts as CANCELLED.
  if (calld->mode != Mode::kUndecided && !calld->recorded) {
    RecordFinal(calld, GRPC_STATUS_CANCELLED, 1);
  }
  calld->~CallData();
}

grpc_error_handle InitChannelElem(grpc_channel_element* elem,
                                  grpc_channel_element_args* args) {
  GPR_ASSERT(args->is_first);
  auto* chand = new (elem->channel_data) ChannelData();
  chand->stack = args->channel_stack;
  grpc_core::ChannelArgs channel_args =
      grpc_core::ChannelArgs::FromC(args->channel_args);
  chand->target = std::string(
      channel_args.GetString(GRPC_ARG_SERVER_URI).value_or("unknown"));
  chand->name = std::string(
      channel_args.GetString(GRPCR_ARG_NAME).value_or(chand->target));
  chand->stats = grpcr_registry_add(grpcr_internal_registry(),
                                    chand->name.c_str(), chand->target.c_str());
  if (chand->stats == nullptr) {
    // The stack builder destroys the element (DestroyChannelElem) for us.
    return GRPC_ERROR_CREATE("resilience: out of memory");
  }
  chand->args = channel_args;
  chand->retry_buffer_size = RetryBufferSize(channel_args);
  chand->retry_filter_below =
      !channel_args.WantMinimalStack() &&
      channel_args.GetBool(GRPC_ARG_ENABLE_RETRIES).value_or(true);
  chand->max_send_size = MaxSendSize(channel_args);
  chand->process = PreloadActive() ? ProcessServiceConfig() : nullptr;
  // A service config given as a channel argument is known now: parse it, so
  // that the breaker and the budget see the channel's very first call. (One
  // from the resolver is asked of client-channel at the next call's start,
  // and learnt from calls as they are answered.) Without one, a process
  // policy applies until a config is known.
  absl::optional<absl::string_view> json =
      channel_args.GetString(GRPC_ARG_SERVICE_CONFIG);
  if (json.has_value()) {
    auto sc = grpc_core::ServiceConfigImpl::Create(channel_args, *json);
    if (sc.ok() && *sc != nullptr) chand->Learn(sc->get());
  } else if (chand->process != nullptr) {
    chand->Learn(nullptr);
  }
  return absl::OkStatus();
}

void DestroyChannelElem(grpc_channel_element* elem) {
  auto* chand = static_cast<ChannelData*>(elem->channel_data);
  grpcr_registry_remove(grpcr_internal_registry(), chand->stats);
  chand->~ChannelData();
}

}  // namespace

const grpc_channel_filter kFilter = {
    StartTransportStreamOpBatch,
    nullptr,  // make_call_promise: this filter is batch-based
    grpc_channel_next_op,
    sizeof(CallData),
    InitCallElem,
    SetPollent,
    DestroyCallElem,
    sizeof(ChannelData),
    InitChannelElem,
    grpc_channel_stack_no_post_init,
    DestroyChannelElem,
    grpc_channel_next_get_info,
    "resilience",
};

}  // namespace grpcr
