// Internal to the filter: the call's state (CallData), its attempts
// (Attempt) and where receive ops land (ReceiveTarget), and the functions
// the filter's files share. One call's state is touched only under its call
// combiner.
#ifndef GRPCR_INTERCEPTOR_CALL_H
#define GRPCR_INTERCEPTOR_CALL_H

#include "shim.h"

#include <inttypes.h>
#include <string.h>

#include <atomic>
#include <memory>
#include <string>

#include <grpc/impl/codegen/grpc_types.h>
#include <grpc/status.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "absl/strings/str_format.h"
#include "absl/container/inlined_vector.h"

#include "src/core/ext/filters/client_channel/client_channel.h"
#include "src/core/ext/filters/client_channel/client_channel_service_config.h"
#include "src/core/ext/filters/message_size/message_size_filter.h"
#include "src/core/lib/channel/channel_args.h"
#include "src/core/lib/channel/context.h"
#include "src/core/lib/gprpp/ref_counted.h"
#include "src/core/lib/gprpp/ref_counted_ptr.h"
#include "src/core/lib/iomgr/call_combiner.h"
#include "src/core/lib/iomgr/closure.h"
#include "src/core/lib/iomgr/error.h"
#include "src/core/lib/iomgr/exec_ctx.h"
#include "src/core/lib/iomgr/polling_entity.h"
#include "src/core/lib/iomgr/timer.h"
#include "src/core/lib/resource_quota/arena.h"
#include "src/core/lib/security/context/security_context.h"
#include "src/core/lib/service_config/service_config.h"
#include "src/core/lib/service_config/service_config_call_data.h"
#include "src/core/lib/service_config/service_config_impl.h"
#include "src/core/lib/slice/slice.h"
#include "src/core/lib/slice/slice_buffer.h"
#include "src/core/lib/transport/error_utils.h"
#include "src/core/lib/transport/metadata_batch.h"
#include "src/core/lib/transport/transport.h"

#include "grpcr/backoff.h"
#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/grpcr.h"
#include "grpcr/policy.h"
#include "grpcr/retry.h"
#include "grpcr/stats.h"
#include "internal.h"
#include "channel_policy.h"

namespace grpcr {

using grpc_core::Arena;
using grpc_core::CallCombiner;
using grpc_core::ExecCtx;
using grpc_core::RefCountedPtr;
using grpc_core::ServiceConfig;
using grpc_core::ServiceConfigCallData;
using grpc_core::SliceBuffer;
using grpc_core::Timestamp;

struct CallData;

// The closures a batch or a callback hands on while it holds the call
// combiner, and how it yields it: as gRPC's CallCombinerClosureList (every
// closure but the first queued on the combiner, the first run from the
// exec_ctx), plus RunFromCallback for the callbacks from below, which run
// an application closure at once, as gRPC's filters run the callbacks they
// intercept, instead of a hop through the exec_ctx.
class Closures {
 public:
  void Add(grpc_closure* closure, grpc_error_handle error, const char* reason) {
    entries_.push_back({closure, std::move(error), reason, false});
  }
  // One of the application's own closures (a receive op's or on_complete).
  void AddToApp(grpc_closure* closure, grpc_error_handle error,
                const char* reason) {
    entries_.push_back({closure, std::move(error), reason, true});
  }
  // gRPC's own rule for a batch failed before it went down.
  void AddFailedBatch(grpc_transport_stream_op_batch* batch,
                      const grpc_error_handle& error);
  size_t size() const { return entries_.size(); }

  // Yields the combiner. Safe anywhere the combiner is held.
  void RunClosures(CallCombiner* call_combiner);
  // Yields the combiner; for a callback from below only, as its last act
  // (the application may be done with the call once its closure has run).
  void RunFromCallback(CallCombiner* call_combiner);

 private:
  struct Entry {
    grpc_closure* closure;
    grpc_error_handle error;
    const char* reason;
    bool app;
  };
  void QueueAllButFirst(CallCombiner* call_combiner);

  absl::InlinedVector<Entry, 6> entries_;
};

// Where the receive ops of a batch put what arrives: an attempt's own
// buffers, or the application's. Any pointer but initial_md, message,
// message_flags and trailing_md may be null in the application's.
struct ReceiveTarget {
  grpc_metadata_batch* initial_md = nullptr;
  bool* trailing_md_available = nullptr;  // a Trailers-Only response
  absl::optional<SliceBuffer>* message = nullptr;
  uint32_t* message_flags = nullptr;
  bool* call_failed_before_message = nullptr;
  grpc_metadata_batch* trailing_md = nullptr;
  grpc_transport_stream_stats* stats = nullptr;
};

// One attempt: a child call stack and the one batch it runs.
struct Attempt {
  Attempt(CallData* calld, uint32_t number, bool on_parent);
  ~Attempt();

  CallData* calld;
  uint32_t number;
  // The first attempt runs on the application's own call stack (below this
  // filter): a call that succeeds at once costs no child stack. Retries run
  // on child stacks.
  bool on_parent;
  grpc_call_stack* stack = nullptr;  // the child's; null on the parent
  grpc_call_element* elem0;          // batches start below this element
  grpc_call_context_element child_context[GRPC_CONTEXT_COUNT] = {};
  grpc_call_context_element* context;  // the parent's, or child_context

  grpc_transport_stream_op_batch batch;
  grpc_transport_stream_op_batch_payload payload;
  grpc_metadata_batch send_initial_md;
  SliceBuffer send_message;
  grpc_metadata_batch send_trailing_md;
  // An attempt's own receive buffers, made only for an attempt that is not
  // direct (below): a call that succeeds at once never builds them.
  absl::optional<grpc_metadata_batch> recv_initial_md;
  bool trailing_md_available = false;
  absl::optional<SliceBuffer> recv_message;
  uint32_t recv_message_flags = 0;
  bool call_failed_before_recv_message = false;
  absl::optional<grpc_metadata_batch> recv_trailing_md;
  grpc_transport_stream_stats stats = {};
  // Where this attempt's results land: its own fields above, or, for a
  // first attempt whose batch carried all the application's receive ops,
  // the application's own buffers ("direct": nothing to move on success).
  bool direct = false;
  ReceiveTarget to;

  grpc_closure recv_initial_md_ready;
  grpc_closure recv_message_ready;
  grpc_closure recv_trailing_md_ready;
  grpc_closure on_complete;
  grpc_error_handle recv_initial_md_error;
  grpc_error_handle recv_message_error;
  grpc_error_handle recv_trailing_md_error;
  bool got_initial = false;
  bool got_message = false;
  bool got_trailing = false;
  bool decided = false;
  // The server delivered a message: no retry can follow. Response headers
  // alone commit nothing (a server may send them before an error status).
  bool committed = false;
  bool retried = false;    // another attempt follows: drop its data when done
  bool sent = false;       // its request was written: it is at the server
  int64_t start_ns = 0;    // when it started (its latency, if it ends OK)
  // perAttemptTimeout: the timer, armed until a response message, the
  // status or the decision stops it; and whether it cancelled the attempt.
  grpc_timer timeout_timer;
  bool timeout_armed = false;
  bool timed_out = false;
  grpc_closure timeout_fired;
  grpc_closure timeout_in_combiner;

  // Callbacks still to come; the child's initial ref goes with the last.
  int pending = 4;
  bool started = false;
  bool cancel_pending = false;
  bool cancel_sent = false;
  grpc_error_handle cancel_error;
  grpc_transport_stream_op_batch cancel_batch;
  // Made when the batch is (payloads are large, and seldom needed).
  absl::optional<grpc_transport_stream_op_batch_payload> cancel_payload;
  grpc_closure cancel_on_complete;
  grpc_closure cancel_start;

  // Hedged calls: the attempt started before this one (the call's attempts
  // are linked newest first), and whether another attempt's answer
  // cancelled this one.
  Attempt* prev = nullptr;
  bool lost = false;

  // The transport writes the peer's address here; the call gets a copy.
  gpr_atm peer = 0;

  // A read forwarded to a committed streaming attempt.
  grpc_transport_stream_op_batch fwd_batch;
  absl::optional<grpc_transport_stream_op_batch_payload> fwd_payload;
  grpc_closure fwd_ready;
  grpc_closure* app_fwd_ready = nullptr;
  grpc_closure fwd_start;

  grpc_closure start_hop;
  grpc_closure start_in_combiner;
  grpc_closure batch_after_cancel;
  grpc_closure after_destroy;
  grpc_call_final_info final_info;
};

// A hedged call's timer for its next hedge. Re-arming it (at once for a
// non-fatal status, or at a pushback's delay) cancels the one armed before, whose
// callback then finds itself no longer `live` and does nothing.
struct HedgeTimer {
  CallData* calld;
  bool live = true;
  grpc_timer timer;
  grpc_closure fired;
  grpc_closure in_combiner;
};

// kActive: a unary call of a method with a retry policy, run as attempts.
// kPassthrough: anything else, forwarded (breaker-gated where configured).
// kRejected: a pass-through call the breaker refused; every batch fails.
enum class Mode : uint8_t { kUndecided, kPassthrough, kActive, kRejected };

struct CallData {
  CallData(grpc_call_element* elem, const grpc_call_element_args* args);
  ~CallData();

  grpc_call_element* elem;
  ChannelData* chand;
  grpc_call_stack* owning_call;
  CallCombiner* call_combiner;
  Arena* arena;
  grpc_call_context_element* context;
  grpc_core::Slice path;
  gpr_cycle_counter start_time;
  Timestamp deadline;
  // The deadline attempts run to: the call's, or a shorter per-method
  // "timeout" that client-channel applies to each attempt.
  Timestamp effective_deadline;
  grpc_polling_entity* pollent = nullptr;
  Mode mode = Mode::kUndecided;

  PolicyPtr policy;
  // The channel's config when the call started; keeps method_policy alive.
  RefCountedPtr<ServiceConfig> method_source;
  const grpcr_retry_policy* method_policy = nullptr;
  // Holding a breaker ticket, until the call's verdict (or its end).
  bool breaker_admitted = false;
  grpcr_breaker_ticket ticket = {};
  // When the breaker admitted the call (a verdict later than its
  // slowCallDurationThreshold is slow), and whether the breaker has that
  // rule (then a pass-through call notes when its request was sent).
  int64_t admitted_ns = 0;
  bool slow_rule = false;
  bool sent = false;  // pass-through: the request went out
  // The call broke a local limit (MarkLocal): a request message over the
  // max send size (known at the first batch: sent as without the filter,
  // never retried, not gated by the breaker), or a later message, or a
  // response over the client's receive limits. The breaker hears nothing.
  bool local = false;
  // The smaller of the channel's and the method's max send size: a message
  // over it is failed by gRPC in the client (any batch of the call).
  absl::optional<uint32_t> max_send;
  // The first batch carried no half-close: the call streams requests
  // (client or bidi streaming), and a pass-through call then gives its
  // verdict at its first response headers.
  bool streams_requests = false;
  // The application cancelled (pass-through calls; active ones keep the
  // error in cancel_error).
  bool app_cancelled = false;
  // An op of this pass-through call failed below us (watched while it holds
  // a breaker ticket): the surface then cancels the whole call with that
  // error itself, and that cancel is not the application's.
  bool failed_below = false;
  grpcr_backoff backoff;
  bool backoff_ready = false;
  uint32_t attempts = 0;
  // The backoff delays waited so far, and where the call's figures go when
  // it ends (its method's entry, or "other").
  int64_t retry_delay_ns = 0;
  grpcr_method_stats* method_stats = nullptr;
  Attempt* current = nullptr;
  // In backoff: the attempt a retry will follow, kept (with its status)
  // until the retry starts, since the breaker may stop the retry when it is
  // due and the call then ends with this attempt's result; and the delay
  // being waited (a retry is counted when it starts).
  Attempt* backoff_attempt = nullptr;
  int backoff_status = GRPC_STATUS_OK;
  int64_t backoff_delay_ns = 0;

  // The request. While the application's send batch is held back, its own
  // buffers stay valid and each attempt copies from them; a send batch
  // without the receive ops is completed once the first attempt has sent the
  // request (as a transport would), after moving a copy into `owned_*`.
  grpc_metadata_batch* send_initial_md = nullptr;
  SliceBuffer* send_message = nullptr;
  uint32_t send_message_flags = 0;
  grpc_closure* app_send_on_complete = nullptr;
  grpc_metadata_batch* owned_send_initial_md = nullptr;
  SliceBuffer owned_send_message;
  gpr_atm* peer_string = nullptr;

  // The application's receive ops, until the call's result is known.
  ReceiveTarget app;
  grpc_closure* app_recv_initial_md_ready = nullptr;
  grpc_closure* app_recv_message_ready = nullptr;
  grpc_closure* app_recv_trailing_md_ready = nullptr;
  grpc_closure* app_on_complete[4] = {};
  size_t n_app_on_complete = 0;

  // A call the server committed by sending a message: no retry can follow,
  // so the message goes to the application at once and further reads are
  // forwarded to this attempt (a method configured for retries that turns
  // out to be server-streaming keeps working).
  Attempt* streaming = nullptr;
  bool first_message_delivered = false;

  // The result, once the call has finished: the last attempt's (it lives in
  // the arena until the call is destroyed), or `failure` for a call that
  // ended without one (breaker, cancel in backoff).
  bool finished = false;
  // The call's final status was counted (RecordFinal): every request is,
  // exactly once, by the time the call is destroyed.
  bool recorded = false;
  Attempt* final_attempt = nullptr;
  grpc_error_handle failure;
  int final_status = GRPC_STATUS_OK;

  grpc_error_handle cancel_error;

  grpc_timer retry_timer;
  bool retry_timer_pending = false;
  grpc_closure retry_timer_fired;
  grpc_closure retry_in_combiner;

  // Pass-through calls: a verdict at their first response message (or, for
  // a call that streams requests, its response headers) or their status,
  // counted at their recv_trailing_metadata.
  grpc_closure* passthrough_original_ready = nullptr;
  grpc_metadata_batch* passthrough_trailing_md = nullptr;
  grpc_closure passthrough_ready;
  grpc_closure* passthrough_original_initial_ready = nullptr;
  bool* passthrough_trailing_md_available = nullptr;
  grpc_closure passthrough_initial_ready;
  grpc_closure* passthrough_original_message_ready = nullptr;
  absl::optional<SliceBuffer>* passthrough_message = nullptr;
  grpc_closure passthrough_message_ready;

  // Hedged calls (a method with a hedging block): several attempts in
  // flight at once, all linked from `newest` (Attempt::prev); the call
  // commits to the first that delivers a message or a fatal status
  // (`winner`), and the others are cancelled.
  bool hedged = false;
  Attempt* newest = nullptr;
  uint32_t inflight = 0;  // attempts started and not yet decided
  Attempt* winner = nullptr;
  bool hedge_stopped = false;  // a pushback said: no further hedge
  HedgeTimer* hedge_timer = nullptr;  // armed, or null
  // The last attempt that failed with a non-fatal status: the call ends
  // with it if no other attempt answers and no hedge can start.
  Attempt* hedge_failed = nullptr;
  int hedge_failed_status = GRPC_STATUS_OK;

  // One cancel down the parent stack when an active call ends, so that
  // client-channel's deadline timer on the parent releases the call.
  bool parent_cancel_sent = false;
  grpc_transport_stream_op_batch parent_cancel_batch;
  absl::optional<grpc_transport_stream_op_batch_payload> parent_cancel_payload;
  grpc_closure parent_cancel_start;
  grpc_closure parent_cancel_done;
};

// The breaker's gate and the call's verdict (call_policy.cc).
// Asks the breaker (if the channel has one) whether the call may start.
// Returns OK if admitted, else the UNAVAILABLE error the call must fail with.
grpc_error_handle AdmitToBreaker(CallData* calld, int64_t now);

// A Timestamp as gpr_now(GPR_CLOCK_MONOTONIC) nanoseconds (the core's
// clock); GRPCR_NO_DEADLINE for the infinite future.
int64_t ToMonotonicNs(Timestamp t);

// Where a call's final status came from: the application's cancel, the
// client's own deadline (or per-method timeout), or the dependency.
grpcr_status_origin OriginOf(const CallData* calld, int status);

// The call's one verdict for the breaker (if it holds a ticket): from its
// first answer, or its final status.
void GiveVerdict(CallData* calld, int status, grpcr_status_origin origin);

// The server served the call (a pass-through call's first response message,
// or the response headers of a call that streams requests): the dependency
// is up, whatever the call does next. Such a call gives its verdict here, so
// a long-lived stream never holds a half-open probe slot while it lives.
void GiveAnsweredVerdict(CallData* calld);

// The call's final status in the channel's and its method's stats, with the
// attempts it made (0 if the breaker rejected it). Once per call.
void RecordFinal(CallData* calld, int status, uint32_t attempts);

// Gives the ticket back with no verdict: the call ended without one (the
// library shut down under it) or is destroyed before its status was read.
void ReleaseTicket(CallData* calld);

// The service config client-channel attached to this call, if it is not
// the one the call started with, may be newer than the channel's: the
// channel learns it only if client-channel holds it now (never an older
// one, nor a per-call one such as an xDS route's method config).
void LearnFromContext(CallData* calld, grpc_call_context_element* context);

// Whether a batch's message is over the call's local size limit (gRPC
// fails it in the client, before the dependency sees it).
bool OverLocalLimit(const CallData* calld,
                    const grpc_transport_stream_op_batch* batch);

// Whether a receive op's error is one of gRPC's own checks in the client
// (a message over the max send or receive size): not the dependency's
// status.
bool IsClientLimitError(const grpc_error_handle& error);

// The call broke a local limit: it gives the breaker no verdict, is never
// retried, and is counted once in local_errors.
void MarkLocal(CallData* calld);

// Client-channel bounds each attempt by a per-method "timeout" from the
// call's start (with the same arithmetic, so we agree with it): no retry may
// be scheduled past that either, and a DEADLINE_EXCEEDED after it is the
// client's own.
void ApplyMethodTimeout(
    CallData* calld,
    const grpc_core::internal::ClientChannelMethodParsedConfig* cc);

// What the channel's known config says about the call's method, applied to
// the call: client-channel's per-method timeout and the request size limit.
void ApplyMethodConfig(
    CallData* calld, const grpc_core::ServiceConfigParser::ParsedConfigVector* vec,
    absl::optional<uint32_t>* max_send);

// Statuses and results (delivery.cc).
int StatusFrom(grpc_error_handle error, grpc_metadata_batch* md,
               Timestamp deadline);

grpc_error_handle StatusError(grpc_status_code code, const std::string& msg);

void StopCombiner(CallData* calld, const char* reason);

void StoreAppRecvOps(CallData* calld, grpc_transport_stream_op_batch* batch);

// A direct attempt that will be retried: its results must not reach the
// application, so its buffers are emptied for the final attempt's.
void ClearDirectResults(Attempt* a);

// Releases a finished attempt's copies of the request and what it
// received (its slices; the arena keeps only the structs).
void DropAttemptData(Attempt* a);

// The application's receive target, with the attempt's own buffers where the
// application gave none (optional outputs).
ReceiveTarget Merge(const ReceiveTarget& app, const ReceiveTarget& own);

// Hands the final result to whichever application ops are waiting for it.
void DeliverPending(CallData* calld, Closures* closures);

void AddParentCancel(CallData* calld, Closures* closures);

// The call's one final status: records it with the breaker and the stats and
// returns the result to the application.
void Finish(CallData* calld, int status, Closures* closures);

void FinishWithFailure(CallData* calld, grpc_error_handle error,
                       Closures* closures);

// A committed attempt still running: the application gets what the server
// sent so far, and its further reads go straight to the attempt.
void DeliverStreaming(CallData* calld, Closures* closures);

// Attempts (attempt.cc).

// Set around grpc_call_stack_init of an attempt, so that this filter's own
// element in the child stack knows it must stay out of the way.
extern __attribute__((tls_model("initial-exec"))) thread_local bool
    tls_init_attempt;

void AttemptCallbackDone(Attempt* attempt);

// Prepares the cancel batch for an attempt; its start consumes one hold of
// the combiner.
grpc_closure* PrepareAttemptCancel(Attempt* attempt, grpc_error_handle error);

void StartFirstActiveBatch(CallData* calld,
                           grpc_transport_stream_op_batch* batch);

// Starts the next attempt at now (the caller's clock reading). Called
// holding the combiner; yields it.
void StartAttempt(CallData* calld, int64_t now);

// The attempt's results are given up: they never reach the application, and
// its copies are released once nothing below refers to them.
void DiscardAttempt(Attempt* a);

// Hedged calls (hedge.cc).

// After attempt k of a hedged call started: arms the timer for attempt k+1
// (hedgingDelay, or the adaptive delay once known).
void ArmNextHedge(CallData* calld, int64_t now);

// A hedged call's attempt ended (Decide's part for hedged calls): commit to
// it, or go on with the others and perhaps a hedge at once.
void DecideHedged(CallData* calld, Attempt* attempt, int status,
                  Closures* closures);

// An attempt of a hedged call delivered a message: it commits the call
// unless another did first. Returns whether the call is this attempt's.
bool CommitHedged(CallData* calld, Attempt* attempt, Closures* closures);

// The application cancelled a hedged call: every attempt in flight is
// cancelled, the timer with them; a call with none in flight ends now.
void CancelHedged(CallData* calld, grpc_error_handle error,
                  Closures* closures);

// Timers (timers.cc). The deadline of a grpc_timer that must not fire
// before delay_ns from now (gRPC's timers count whole milliseconds); a
// delay of 0 or less fires at once, from the exec_ctx.
Timestamp DeadlineAfter(int64_t delay_ns);

// The retry timer: the call waits delay_ns for its
// next attempt (calld->backoff_attempt, kept until then).
void StartRetryTimer(CallData* calld, int64_t delay_ns);

// perAttemptTimeout: armed when an attempt starts; stopped when it answers
// (a message or its status) or is decided (its callback then does nothing).
void ArmAttemptTimer(CallData* calld, Attempt* attempt);
void StopAttemptTimer(Attempt* attempt);

// The application cancelled while the call waits for a retry: the retry
// timer is cancelled and the call ends now with the cancel's error.
void CancelInBackoff(CallData* calld, grpc_error_handle error,
                     Closures* closures);

// Pass-through calls (passthrough.cc).

void StartPassthrough(CallData* calld, grpc_transport_stream_op_batch* batch);

// A pass-through call's first batch: counted (for the budget too), and
// gated by the breaker unless its request breaks a local limit.
void StartFirstPassthroughBatch(CallData* calld,
                                grpc_transport_stream_op_batch* batch);

}  // namespace grpcr

#endif  // GRPCR_INTERCEPTOR_CALL_H
