// The resilience filter: element 0 of every client channel stack.
//
// A unary call (its first batch carries initial metadata, the one message
// and the half-close) is buffered and run as one or more attempts. Each
// attempt is a CHILD call stack on this same channel stack, allocated from
// the parent call's arena and sharing its call combiner; the child's element
// 0 (this filter) is transparent, so an attempt's batch starts at
// client-channel. Nothing reaches the application until the call's final
// attempt ends, so a retry is invisible to it. The policy core (src/)
// decides everything: may the call start (breaker), may it retry and after
// how long (retry policy, backoff, pushback, deadline, budget).
//
// Calls that are not unary-shaped, and calls on channels whose service config
// has no resilience at all, pass through; they are only counted.
//
// Call combiner protocol: every callback from below arrives holding the
// combiner, and each hands it on exactly once: it starts a batch, returns the
// application's closures (CallCombinerClosureList::RunClosures), or stops.
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
#include "absl/synchronization/mutex.h"

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

namespace grpcr {

grpc_core::TraceFlag trace(false, "resilience");

namespace {

using grpc_core::Arena;
using grpc_core::CallCombiner;
using grpc_core::CallCombinerClosureList;
using grpc_core::ExecCtx;
using grpc_core::RefCountedPtr;
using grpc_core::ServiceConfig;
using grpc_core::ServiceConfigCallData;
using grpc_core::SliceBuffer;
using grpc_core::Timestamp;

// Set around grpc_call_stack_init of an attempt, so that this filter's own
// element in the child stack knows it must stay out of the way.
thread_local bool tls_init_attempt = false;

const char* kBreakerOpenPrefix = "circuit breaker open";

int64_t ToMonotonicNs(Timestamp t) {
  if (t == Timestamp::InfFuture()) return GRPCR_NO_DEADLINE;
  gpr_timespec ts = t.as_timespec(GPR_CLOCK_MONOTONIC);
  return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}


// A reference on a core policy (include/grpcr/policy.h): the channel holds
// its current one, each call the one it started with.
struct PolicyUnref {
  void operator()(grpcr_policy* p) const { grpcr_policy_unref(p); }
};
using PolicyPtr = std::unique_ptr<grpcr_policy, PolicyUnref>;

PolicyPtr RefPolicy(grpcr_policy* p) {
  if (p != nullptr) grpcr_policy_ref(p);
  return PolicyPtr(p);
}

// Client-channel's limit on request messages, from the channel's args (the
// message-size filter's rule): none with a minimal stack or a negative
// value.
absl::optional<uint32_t> MaxSendSize(const grpc_core::ChannelArgs& args) {
  if (args.WantMinimalStack()) return absl::nullopt;
  int size = args.GetInt(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH)
                 .value_or(GRPC_DEFAULT_MAX_SEND_MESSAGE_LENGTH);
  if (size < 0) return absl::nullopt;
  return static_cast<uint32_t>(size);
}

// gRPC's per-RPC retry buffer (GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE), with
// its default and bounds.
size_t RetryBufferSize(const grpc_core::ChannelArgs& args) {
  constexpr int kDefault = 256 << 10;
  int size = args.GetInt(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE).value_or(kDefault);
  return static_cast<size_t>(size < 0 ? 0 : size);
}

// After a rejection, how soon a call may ask client-channel whether the
// service config changed (no call reaches it to carry the change while the
// breaker rejects everything).
constexpr int64_t kRecheckAfterRejectNs = 100 * 1000000;

struct ChannelData {
  grpc_channel_stack* stack;
  std::string name;
  std::string target;
  grpcr_channel_stats* stats;
  grpc_core::ChannelArgs args;
  size_t retry_buffer_size = 0;
  absl::optional<uint32_t> max_send_size;

  // Set once a service config is known (from the channel args, a call, or
  // client-channel): until then every call's first batch asks
  // client-channel.
  std::atomic<bool> config_known{false};
  // Set while the breaker is not CLOSED (it may reject calls, and then no
  // call reaches client-channel to carry a config update): calls ask
  // client-channel for a new config, at most every kRecheckAfterRejectNs.
  std::atomic<bool> breaker_not_closed{false};
  std::atomic<int64_t> next_recheck_ns{0};

  absl::Mutex mu;
  PolicyPtr policy ABSL_GUARDED_BY(mu);
  // The config the policy was last confirmed against: while calls report the
  // same one, the policy is reused without comparing values.
  RefCountedPtr<ServiceConfig> policy_source ABSL_GUARDED_BY(mu);
  // The service config text client-channel reported last.
  std::string client_channel_json ABSL_GUARDED_BY(mu);

  // The channel's policy and the service config it came from (null until a
  // config is known).
  void Current(PolicyPtr* p, RefCountedPtr<ServiceConfig>* source) {
    absl::MutexLock lock(&mu);
    *p = RefPolicy(policy.get());
    *source = policy_source;
  }

  // Learns a service config: the policy is replaced only if the resilience
  // settings changed, and then only in the parts that changed. A policy
  // that cannot be built (out of memory) leaves the old one in place.
  void Learn(ServiceConfig* sc) {
    const auto* global =
        static_cast<const GlobalConfig*>(sc->GetGlobalParsedConfig(ParserIndex()));
    absl::MutexLock lock(&mu);
    if (policy != nullptr && policy_source.get() == sc) return;
    grpcr_channel_config cfg = {};
    cfg.budget = grpcr_budget_config_default();
    if (global != nullptr) cfg = global->cfg;
    policy_source = sc->Ref();
    config_known.store(true, std::memory_order_release);
    if (policy != nullptr &&
        grpcr_channel_config_equal(grpcr_policy_config(policy.get()), &cfg)) {
      return;
    }
    grpcr_policy_change change;
    grpcr_policy* fresh = grpcr_policy_create(
        &cfg, target.c_str(), policy.get(), grpcr_internal_now_ns(), &change);
    if (fresh == nullptr) {
      gpr_log(GPR_ERROR,
              "resilience[%s]: out of memory applying a new service config; "
              "the previous policy stays",
              name.c_str());
      return;
    }
    grpcr_registry_attach(grpcr_internal_registry(), stats,
                          grpcr_policy_breaker(fresh),
                          grpcr_policy_budget(fresh));
    if (policy != nullptr) grpcr_stats_on_config_update(stats);
    OnTransition(change.transition);
    if (GRPC_TRACE_FLAG_ENABLED(trace)) {
      const grpcr_channel_config* c = grpcr_policy_config(fresh);
      gpr_log(GPR_INFO,
              "resilience[%s]: policy from service config: budget ratio=%g "
              "floor=%g/s window=%" PRId64 "ms (%s), breaker %s (%s)",
              name.c_str(), c->budget.ratio, c->budget.min_retries_per_second,
              c->budget.window_ns / 1000000,
              policy == nullptr      ? "new"
              : change.budget_kept   ? "kept"
              : change.budget_carried ? "counts carried over"
                                      : "new",
              c->has_breaker ? "on" : "off",
              !c->has_breaker          ? "-"
              : policy == nullptr      ? "new"
              : change.breaker_kept    ? "kept"
              : change.breaker_carried ? "state carried over"
                                       : "new");
    }
    policy.reset(fresh);
  }

  // Asks client-channel for the service config it uses now (the resolver's,
  // or the default) and learns it if its text changed.
  void LearnFromClientChannel() {
    // Client-channel is the stack's last element (it was not initialised
    // yet when this element was, hence the look-up here).
    grpc_channel_element* client_channel = grpc_channel_stack_last_element(stack);
    if (strcmp(client_channel->filter->name, "client-channel") != 0) return;
    char* json = nullptr;
    grpc_channel_info info = {};
    info.service_config_json = &json;
    client_channel->filter->get_channel_info(client_channel, &info);
    if (json == nullptr) return;
    std::string text(json);
    gpr_free(json);
    if (text.empty()) return;  // no resolver result yet
    {
      absl::MutexLock lock(&mu);
      if (text == client_channel_json) return;
      client_channel_json = text;
    }
    auto sc = grpc_core::ServiceConfigImpl::Create(args, text);
    if (sc.ok() && *sc != nullptr) Learn(sc->get());
  }

  // Every breaker transition the shim sees: traced, and tracked for
  // MaybeLearnFromClientChannel.
  void OnTransition(const grpcr_breaker_transition& tr) {
    if (!tr.happened) return;
    breaker_not_closed.store(tr.to != GRPCR_BREAKER_CLOSED,
                             std::memory_order_relaxed);
    if (GRPC_TRACE_FLAG_ENABLED(trace)) {
      gpr_log(GPR_INFO, "resilience[%s]: breaker %s -> %s", name.c_str(),
              grpcr_breaker_state_name(tr.from),
              grpcr_breaker_state_name(tr.to));
    }
  }

  // Called at each call's start: asks client-channel while no config is
  // known, and (rate-limited) while the breaker is not CLOSED.
  void MaybeLearnFromClientChannel() {
    if (!config_known.load(std::memory_order_acquire)) {
      LearnFromClientChannel();
      return;
    }
    if (!breaker_not_closed.load(std::memory_order_relaxed)) return;
    const int64_t now = grpcr_internal_now_ns();
    int64_t due = next_recheck_ns.load(std::memory_order_relaxed);
    if (now < due || !next_recheck_ns.compare_exchange_strong(
                         due, now + kRecheckAfterRejectNs,
                         std::memory_order_relaxed)) {
      return;
    }
    LearnFromClientChannel();
  }
};

struct CallData;

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
  grpc_metadata_batch recv_initial_md;
  bool trailing_md_available = false;
  absl::optional<SliceBuffer> recv_message;
  uint32_t recv_message_flags = 0;
  bool call_failed_before_recv_message = false;
  grpc_metadata_batch recv_trailing_md;
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
  bool committed = false;  // the server delivered initial metadata or data
  bool retried = false;    // another attempt follows: drop its data when done

  // Callbacks still to come; the child's initial ref goes with the last.
  int pending = 4;
  bool started = false;
  bool cancel_pending = false;
  bool cancel_sent = false;
  grpc_error_handle cancel_error;
  grpc_transport_stream_op_batch cancel_batch;
  grpc_transport_stream_op_batch_payload cancel_payload;
  grpc_closure cancel_on_complete;
  grpc_closure cancel_start;

  // The transport writes the peer's address here; the call gets a copy.
  gpr_atm peer = 0;

  // A read forwarded to a committed streaming attempt.
  grpc_transport_stream_op_batch fwd_batch;
  grpc_transport_stream_op_batch_payload fwd_payload;
  grpc_closure fwd_ready;
  grpc_closure* app_fwd_ready = nullptr;
  grpc_closure fwd_start;

  grpc_closure start_hop;
  grpc_closure start_in_combiner;
  grpc_closure after_destroy;
  grpc_call_final_info final_info;
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
  // The request breaks a local limit (a message over the max send size):
  // it is sent as without the filter, never retried, and the breaker
  // neither gates it nor hears of it.
  bool local = false;
  // The application cancelled (pass-through calls; active ones keep the
  // error in cancel_error).
  bool app_cancelled = false;
  grpcr_backoff backoff;
  bool backoff_ready = false;
  uint32_t attempts = 0;
  Attempt* current = nullptr;

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
  Attempt* final_attempt = nullptr;
  grpc_error_handle failure;
  int final_status = GRPC_STATUS_OK;

  grpc_error_handle cancel_error;

  grpc_timer retry_timer;
  bool retry_timer_pending = false;
  grpc_closure retry_timer_fired;
  grpc_closure retry_in_combiner;

  // Pass-through calls: a verdict at their first answer (response headers),
  // counted at their recv_trailing_metadata.
  grpc_closure* passthrough_original_ready = nullptr;
  grpc_metadata_batch* passthrough_trailing_md = nullptr;
  grpc_closure passthrough_ready;
  grpc_closure* passthrough_original_initial_ready = nullptr;
  bool* passthrough_trailing_md_available = nullptr;
  grpc_closure passthrough_initial_ready;

  // One cancel down the parent stack when an active call ends, so that
  // client-channel's deadline timer on the parent releases the call.
  bool parent_cancel_sent = false;
  grpc_transport_stream_op_batch parent_cancel_batch;
  grpc_transport_stream_op_batch_payload parent_cancel_payload;
  grpc_closure parent_cancel_start;
  grpc_closure parent_cancel_done;
};

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
  const bool admitted =
      grpcr_breaker_try_acquire(breaker, now, &calld->ticket, &tr);
  chand->OnTransition(tr);
  if (admitted) {
    calld->breaker_admitted = true;
    return absl::OkStatus();
  }
  chand->breaker_not_closed.store(true, std::memory_order_relaxed);
  grpcr_stats_on_rejected(chand->stats);
  grpcr_breaker_snapshot snap;
  grpcr_breaker_snapshot_get(breaker, now, &snap);
  std::string msg =
      snap.state == GRPCR_BREAKER_OPEN
          ? absl::StrFormat(
                "%s: %s has failed too often; calls fail fast for another "
                "%" PRId64 " ms",
                kBreakerOpenPrefix, chand->name,
                (snap.open_duration_ns - snap.time_in_state_ns) / 1000000)
          : absl::StrFormat(
                "%s (half-open): %s is being probed; calls fail fast until "
                "the probes succeed",
                kBreakerOpenPrefix, chand->name);
  if (GRPC_TRACE_FLAG_ENABLED(trace)) {
    gpr_log(GPR_INFO, "resilience[%s] call=%p: rejected: %s",
            chand->name.c_str(), calld, msg.c_str());
  }
  return StatusError(GRPC_STATUS_UNAVAILABLE, msg);
}

// Where a call's final status came from: the application's cancel, the
// client's own deadline (or per-method timeout), or the dependency.
grpcr_status_origin OriginOf(const CallData* calld, int status) {
  if (calld->local) return GRPCR_ORIGIN_LOCAL;
  if (calld->app_cancelled || !calld->cancel_error.ok()) {
    return GRPCR_ORIGIN_CANCELLED;
  }
  if (status == GRPC_STATUS_DEADLINE_EXCEEDED &&
      Timestamp::Now() >= calld->effective_deadline) {
    return GRPCR_ORIGIN_DEADLINE;
  }
  return GRPCR_ORIGIN_REMOTE;
}

// The call's one verdict for the breaker (if it holds a ticket): from its
// first answer, or its final status.
void GiveVerdict(CallData* calld, int status, grpcr_status_origin origin) {
  if (!calld->breaker_admitted) return;
  calld->breaker_admitted = false;
  grpcr_breaker_transition tr = {};
  grpcr_breaker_record_outcome(grpcr_policy_breaker(calld->policy.get()),
                               &calld->ticket, status, origin,
                               grpcr_internal_now_ns(), &tr);
  calld->chand->OnTransition(tr);
}

// The server answered with response headers (not Trailers-Only): the
// dependency is up, whatever the call does next. A stream or a watch gives
// its verdict here, so it never holds a half-open probe slot while it lives.
void GiveAnsweredVerdict(CallData* calld) {
  GiveVerdict(calld, GRPC_STATUS_OK, GRPCR_ORIGIN_REMOTE);
}

// Gives the ticket back with no verdict: the call ended without one (the
// library shut down under it) or is destroyed before its status was read.
void ReleaseTicket(CallData* calld) {
  if (!calld->breaker_admitted) return;
  calld->breaker_admitted = false;
  grpcr_breaker_release(grpcr_policy_breaker(calld->policy.get()),
                        &calld->ticket, grpcr_internal_now_ns());
}

// Learns the service config client-channel attached to this call (the
// resolver's, possibly newer than the channel's): nothing to do while calls
// report the config the channel already knows.
void LearnFromContext(CallData* calld, grpc_call_context_element* context) {
  auto* scd = static_cast<ServiceConfigCallData*>(
      context[GRPC_CONTEXT_SERVICE_CONFIG_CALL_DATA].value);
  if (scd == nullptr || scd->service_config() == nullptr ||
      scd->service_config() == calld->method_source.get()) {
    return;
  }
  calld->chand->Learn(scd->service_config());
}

// ---------------------------------------------------------------------------
// Delivering the result.

void AddAppOnComplete(CallData* calld, grpc_transport_stream_op_batch* batch) {
  if (batch->on_complete == nullptr) return;
  GPR_ASSERT(calld->n_app_on_complete < 4);
  calld->app_on_complete[calld->n_app_on_complete++] = batch->on_complete;
}

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
    a->recv_initial_md.Clear();
    a->recv_message.reset();
    a->recv_trailing_md.Clear();
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
void DeliverPending(CallData* calld, CallCombinerClosureList* closures) {
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
    closures->Add(calld->app_recv_initial_md_ready, err,
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
    closures->Add(calld->app_recv_message_ready, err,
                  "resilience: recv_message_ready");
    calld->app_recv_message_ready = nullptr;
  }
  if (calld->app_recv_trailing_md_ready != nullptr) {
    grpc_error_handle err = calld->failure;
    if (from_attempt) {
      GiveTrailingMd(calld, a);
      err = a->recv_trailing_md_error;
    }
    closures->Add(calld->app_recv_trailing_md_ready, err,
                  "resilience: recv_trailing_metadata_ready");
    calld->app_recv_trailing_md_ready = nullptr;
  }
  if (calld->app_send_on_complete != nullptr) {
    closures->Add(calld->app_send_on_complete,
                  from_attempt ? absl::OkStatus() : calld->failure,
                  "resilience: send on_complete");
    calld->app_send_on_complete = nullptr;
  }
  for (size_t i = 0; i < calld->n_app_on_complete; i++) {
    // A request that some attempt sent completes its send ops; one that never
    // left (breaker, early cancel) fails them, as a transport would.
    closures->Add(calld->app_on_complete[i],
                  from_attempt ? absl::OkStatus() : calld->failure,
                  "resilience: on_complete");
  }
  calld->n_app_on_complete = 0;
}

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

void AddParentCancel(CallData* calld, CallCombinerClosureList* closures) {
  if (calld->parent_cancel_sent) return;
  calld->parent_cancel_sent = true;
  // The application may drop the call as soon as its closures have run; the
  // cancel, queued behind them, must not outlive it.
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: parent cancel");
  calld->parent_cancel_batch.cancel_stream = true;
  calld->parent_cancel_batch.payload = &calld->parent_cancel_payload;
  // The error is never seen by anyone: the plain one costs no allocation.
  calld->parent_cancel_payload.cancel_stream.cancel_error =
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
void Finish(CallData* calld, int status, CallCombinerClosureList* closures) {
  GPR_ASSERT(!calld->finished);
  calld->finished = true;
  calld->final_status = status;
  GiveVerdict(calld, status, OriginOf(calld, status));
  grpcr_stats_on_final(calld->chand->stats, status);
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
                       CallCombinerClosureList* closures) {
  calld->failure = error;
  Finish(calld, StatusFrom(error, nullptr, calld->deadline), closures);
}

// ---------------------------------------------------------------------------
// Attempts.

void StartAttempt(CallData* calld);

void AttemptCallbackDone(Attempt* attempt) {
  if (--attempt->pending != 0) return;
  // Below us nothing refers to the attempt's ops any more.
  if (attempt->retried) DropAttemptData(attempt);
  if (!attempt->on_parent) {
    GRPC_CALL_STACK_UNREF(attempt->stack, "resilience: attempt done");
  }
}

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

// Prepares the cancel batch for an attempt; its start consumes one hold of
// the combiner.
grpc_closure* PrepareAttemptCancel(Attempt* attempt, grpc_error_handle error) {
  GPR_ASSERT(!attempt->cancel_sent);
  attempt->cancel_sent = true;
  attempt->pending++;
  attempt->cancel_batch.cancel_stream = true;
  attempt->cancel_batch.payload = &attempt->cancel_payload;
  attempt->cancel_payload.cancel_stream.cancel_error = error;
  GRPC_CLOSURE_INIT(&attempt->cancel_on_complete, AttemptCancelDone, attempt,
                    nullptr);
  attempt->cancel_batch.on_complete = &attempt->cancel_on_complete;
  GRPC_CLOSURE_INIT(&attempt->cancel_start, AttemptCancelStart, attempt,
                    nullptr);
  return &attempt->cancel_start;
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
          scd->GetMethodParsedConfig(grpc_core::internal::
                                         ClientChannelServiceConfigParser::
                                             ParserIndex())));
}

void SaveResult(CallData* calld, Attempt* attempt) {
  calld->final_attempt = attempt;
  // The transport's peer string dies with the attempt's stream; the call
  // keeps a copy in its arena.
  const char* peer =
      reinterpret_cast<const char*>(gpr_atm_acq_load(&attempt->peer));
  if (peer != nullptr && calld->peer_string != nullptr) {
    size_t n = strlen(peer) + 1;
    char* copy = static_cast<char*>(calld->arena->Alloc(n));
    memcpy(copy, peer, n);
    gpr_atm_rel_store(calld->peer_string, reinterpret_cast<gpr_atm>(copy));
  }
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
    CallCombinerClosureList closures;
    FinishWithFailure(
        calld,
        StatusError(GRPC_STATUS_UNAVAILABLE,
                    "resilience: retry timer failed: " +
                        grpc_core::StatusToString(error)),
        &closures);
    closures.RunClosures(calld->call_combiner);
  } else {
    StartAttempt(calld);  // yields the combiner
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

void StartRetryTimer(CallData* calld, int64_t delay_ns) {
  GRPC_CALL_STACK_REF(calld->owning_call, "resilience: retry timer");
  calld->retry_timer_pending = true;
  GRPC_CLOSURE_INIT(&calld->retry_timer_fired, RetryTimerFired, calld,
                    nullptr);
  Timestamp when =
      Timestamp::Now() + grpc_core::Duration::NanosecondsRoundUp(delay_ns);
  grpc_timer_init(&calld->retry_timer, when, &calld->retry_timer_fired);
}

// Runs once the attempt's receive callbacks have all arrived: retry or
// finish. Called holding the combiner; adds what must run to closures.
void Decide(CallData* calld, Attempt* attempt,
            CallCombinerClosureList* closures) {
  attempt->decided = true;
  calld->current = nullptr;
  LearnConfig(calld, attempt);
  const int status = StatusFrom(attempt->recv_trailing_md_error,
                                attempt->to.trailing_md, calld->deadline);
  const char* name = calld->chand->name.c_str();
  if (!calld->cancel_error.ok()) {
    // The application cancelled: its receive ops fail with its own error,
    // as they would without the filter.
    FinishWithFailure(calld, calld->cancel_error, closures);
    return;
  }
  if (calld->method_policy == nullptr) {
    SaveResult(calld, attempt);
    Finish(calld, status, closures);
    return;
  }
  grpcr_attempt_outcome outcome = {};
  outcome.status = status;
  outcome.attempts_done = calld->attempts;
  outcome.committed = attempt->committed;
  absl::optional<grpc_core::Duration> pushback =
      attempt->to.trailing_md->get(grpc_core::GrpcRetryPushbackMsMetadata());
  if (pushback.has_value()) {
    std::string text = std::to_string(pushback->millis());
    outcome.pushback =
        grpcr_pushback_parse(text.data(), text.size(), &outcome.pushback_ns);
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
    // Nothing of a retried attempt is needed again: only the call's one
    // copy of the request stays.
    if (attempt->direct) ClearDirectResults(attempt);
    attempt->retried = true;
    grpcr_stats_on_retry(calld->chand->stats, delay_ns);
    StartRetryTimer(calld, delay_ns);
    return;
  }
  if (verdict == GRPCR_RETRY_NO_BUDGET) {
    grpcr_stats_on_budget_denied(calld->chand->stats);
  }
  SaveResult(calld, attempt);
  Finish(calld, status, closures);
}

void MaybeDecide(Attempt* attempt, CallCombinerClosureList* closures) {
  if (attempt->decided || !attempt->got_initial || !attempt->got_message ||
      !attempt->got_trailing) {
    return;
  }
  Decide(attempt->calld, attempt, closures);
}

void FwdRecvMessageReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  CallCombinerClosureList closures;
  closures.Add(attempt->app_fwd_ready, error, "resilience: forwarded read");
  attempt->app_fwd_ready = nullptr;
  AttemptCallbackDone(attempt);
  closures.RunClosures(calld->call_combiner);
}

void FwdStart(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  grpc_call_next_op(attempt->elem0,
                    &attempt->fwd_batch);
}

// A committed attempt still running: the application gets what the server
// sent so far, and its further reads go straight to the attempt.
void DeliverStreaming(CallData* calld, CallCombinerClosureList* closures) {
  Attempt* a = calld->streaming;
  if (a == nullptr || a->decided) return;
  if (calld->app_recv_initial_md_ready != nullptr && a->got_initial) {
    GiveInitialMd(calld, a);
    closures->Add(calld->app_recv_initial_md_ready, a->recv_initial_md_error,
                  "resilience: recv_initial_metadata_ready (committed)");
    calld->app_recv_initial_md_ready = nullptr;
  }
  if (calld->app_recv_message_ready == nullptr) return;
  if (!calld->first_message_delivered) {
    if (!a->got_message) return;
    calld->first_message_delivered = true;
    GiveMessage(calld, a);
    closures->Add(calld->app_recv_message_ready, a->recv_message_error,
                  "resilience: recv_message_ready (committed)");
    calld->app_recv_message_ready = nullptr;
    return;
  }
  if (a->app_fwd_ready != nullptr) return;  // one read at a time
  a->fwd_batch = grpc_transport_stream_op_batch();
  a->fwd_batch.payload = &a->fwd_payload;
  a->fwd_batch.recv_message = true;
  auto& rm = a->fwd_payload.recv_message;
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

// The common tail of the attempt's receive callbacks: a committed attempt
// hands over what it has, a complete one is decided; then the combiner is
// handed on.
void AfterAttemptReceive(Attempt* attempt) {
  CallData* calld = attempt->calld;
  CallCombinerClosureList closures;
  if (attempt->committed && !attempt->got_trailing &&
      calld->cancel_error.ok()) {
    calld->streaming = attempt;
    DeliverStreaming(calld, &closures);
  }
  MaybeDecide(attempt, &closures);
  AttemptCallbackDone(attempt);
  closures.RunClosures(calld->call_combiner);
}

void AttemptRecvInitialMdReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->got_initial = true;
  attempt->recv_initial_md_error = error;
  if (error.ok() && !*attempt->to.trailing_md_available) {
    attempt->committed = true;
    GiveAnsweredVerdict(attempt->calld);
  }
  AfterAttemptReceive(attempt);
}

void AttemptRecvMessageReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->got_message = true;
  attempt->recv_message_error = error;
  if (attempt->to.message->has_value()) attempt->committed = true;
  AfterAttemptReceive(attempt);
}

void AttemptRecvTrailingMdReady(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  attempt->got_trailing = true;
  attempt->recv_trailing_md_error = error;
  AfterAttemptReceive(attempt);
}

void AttemptOnComplete(void* arg, grpc_error_handle error) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  CallCombinerClosureList closures;
  if (error.ok() && calld->app_send_on_complete != nullptr) {
    // The request is on the wire: let the application have its send batch
    // back, keeping our own copy for retries.
    calld->owned_send_initial_md =
        calld->arena->ManagedNew<grpc_metadata_batch>(
            calld->send_initial_md->Copy());
    calld->send_initial_md = calld->owned_send_initial_md;
    calld->owned_send_message = calld->send_message->Copy();
    calld->send_message = &calld->owned_send_message;
    closures.Add(calld->app_send_on_complete, absl::OkStatus(),
                 "resilience: send ops done");
    calld->app_send_on_complete = nullptr;
  }
  AttemptCallbackDone(attempt);
  closures.RunClosures(calld->call_combiner);
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

Attempt::Attempt(CallData* c, uint32_t n, bool parent)
    : calld(c),
      number(n),
      on_parent(parent),
      elem0(parent ? c->elem : nullptr),
      context(parent ? c->context : child_context),
      payload(context),
      send_initial_md(c->arena),
      send_trailing_md(c->arena),
      recv_initial_md(c->arena),
      recv_trailing_md(c->arena),
      to{&recv_initial_md, &trailing_md_available,
         &recv_message,    &recv_message_flags,
         &call_failed_before_recv_message,
         &recv_trailing_md, &stats},
      cancel_payload(context),
      fwd_payload(context) {}

Attempt::~Attempt() = default;

void AttemptStartInCombiner(void* arg, grpc_error_handle) {
  auto* attempt = static_cast<Attempt*>(arg);
  CallData* calld = attempt->calld;
  attempt->started = true;
  if (attempt->cancel_pending) {
    // Cancelled while this start hopped the exec_ctx: queue the cancel
    // behind the batch (we hold the combiner, so it waits its turn).
    GRPC_CALL_COMBINER_START(calld->call_combiner,
                             PrepareAttemptCancel(attempt, calld->cancel_error),
                             absl::OkStatus(), "resilience: cancel attempt");
  }
  grpc_call_next_op(attempt->elem0,
                    &attempt->batch);
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

// Starts the next attempt. Called holding the combiner; yields it.
void StartAttempt(CallData* calld) {
  ChannelData* chand = calld->chand;
  const uint32_t number = ++calld->attempts;
  const bool on_parent = number == 1;
  auto* attempt = calld->arena->ManagedNew<Attempt>(calld, number, on_parent);
  calld->current = attempt;
  grpc_error_handle error;
  if (!on_parent) error = InitChildStack(calld, attempt);
  grpcr_stats_on_attempt(chand->stats, number);

  attempt->send_initial_md = calld->send_initial_md->Copy();
  if (number > 1) {
    attempt->send_initial_md.Set(grpc_core::GrpcPreviousRpcAttemptsMetadata(),
                                 number - 1);
  }
  attempt->send_message = calld->send_message->Copy();

  grpc_transport_stream_op_batch& b = attempt->batch;
  grpc_transport_stream_op_batch_payload& p = attempt->payload;
  b.payload = &p;
  b.send_initial_metadata = true;
  p.send_initial_metadata.send_initial_metadata = &attempt->send_initial_md;
  p.send_initial_metadata.peer_string = &attempt->peer;
  b.send_message = true;
  p.send_message.send_message = &attempt->send_message;
  p.send_message.flags = calld->send_message_flags;
  b.send_trailing_metadata = true;
  p.send_trailing_metadata.send_trailing_metadata = &attempt->send_trailing_md;
  b.recv_initial_metadata = true;
  if (on_parent && calld->app_recv_initial_md_ready != nullptr &&
      calld->app_recv_message_ready != nullptr &&
      calld->app_recv_trailing_md_ready != nullptr) {
    attempt->direct = true;
    attempt->to = Merge(calld->app, attempt->to);
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
  if (on_parent) {
    // The application's own stack: its first batch goes down as it would
    // without the filter (client-channel's deadline timer started long ago).
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
  grpcr_stats_on_final(calld->chand->stats, status);
  GiveVerdict(calld, status, OriginOf(calld, status));
  LearnFromContext(calld, calld->context);
  grpc_core::Closure::Run(DEBUG_LOCATION, calld->passthrough_original_ready,
                          error);
}

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

// ---------------------------------------------------------------------------
// The application's batches.

bool IsUnaryRequest(const grpc_transport_stream_op_batch* batch) {
  return batch->send_initial_metadata && batch->send_message &&
         batch->send_trailing_metadata;
}

void HandleCancel(CallData* calld, grpc_transport_stream_op_batch* batch) {
  grpc_error_handle error = batch->payload->cancel_stream.cancel_error;
  if (calld->mode != Mode::kActive) {
    calld->app_cancelled = true;
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
  CallCombinerClosureList closures;
  if (calld->cancel_error.ok()) calld->cancel_error = error;
  if (!calld->finished) {
    if (GRPC_TRACE_FLAG_ENABLED(trace)) {
      gpr_log(GPR_INFO, "resilience[%s] call=%p: cancelled: %s",
              calld->chand->name.c_str(), calld,
              grpc_core::StatusToString(error).c_str());
    }
    if (calld->current != nullptr) {
      Attempt* attempt = calld->current;
      if (!attempt->started) {
        attempt->cancel_pending = true;
      } else if (!attempt->cancel_sent) {
        closures.Add(PrepareAttemptCancel(attempt, error), absl::OkStatus(),
                     "resilience: cancel attempt");
      }
    } else if (calld->retry_timer_pending) {
      // In backoff: no attempt will report, so the call ends here. The timer
      // callback sees `finished` and does nothing.
      grpc_timer_cancel(&calld->retry_timer);
      FinishWithFailure(calld, error, &closures);
    }
  }
  if (batch->on_complete != nullptr) {
    closures.Add(batch->on_complete, absl::OkStatus(),
                 "resilience: cancel on_complete");
  }
  closures.RunClosures(calld->call_combiner);
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
    CallCombinerClosureList closures;
    FinishWithFailure(calld, rejected, &closures);
    closures.RunClosures(calld->call_combiner);
    return;
  }
  StartAttempt(calld);
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
  grpcr_stats_on_final(chand->stats, GRPC_STATUS_UNAVAILABLE);
  CallCombinerClosureList closures;
  AddParentCancel(calld, &closures);
  grpc_transport_stream_op_batch_queue_finish_with_failure(batch, rejected,
                                                           &closures);
  closures.RunClosures(calld->call_combiner);
}

// What the channel's known config says about the call's method: its retry
// policy (null if none), and, applied to the call, client-channel's
// per-method timeout and the request size limit.
const MethodConfig* ApplyMethodConfig(CallData* calld, ServiceConfig* source,
                                      absl::optional<uint32_t>* max_send) {
  *max_send = calld->chand->max_send_size;
  if (source == nullptr) return nullptr;
  const auto* vec = source->GetMethodParsedConfigVector(calld->path.c_slice());
  if (vec == nullptr) return nullptr;
  ApplyMethodTimeout(
      calld,
      static_cast<const grpc_core::internal::ClientChannelMethodParsedConfig*>(
          (*vec)[grpc_core::internal::ClientChannelServiceConfigParser::
                     ParserIndex()]
              .get()));
  const auto* size = static_cast<const grpc_core::MessageSizeParsedConfig*>(
      (*vec)[grpc_core::MessageSizeParser::ParserIndex()].get());
  if (size != nullptr && size->max_send_size().has_value() &&
      (!max_send->has_value() || *size->max_send_size() < **max_send)) {
    *max_send = size->max_send_size();
  }
  return static_cast<const MethodConfig*>((*vec)[ParserIndex()].get());
}

// The first batch decides how the call runs. Only a unary request of a
// method with a retry policy, within the retry buffer and the local size
// limit, is run as attempts; everything else passes through.
void StartFirstBatch(CallData* calld, grpc_transport_stream_op_batch* batch) {
  ChannelData* chand = calld->chand;
  chand->MaybeLearnFromClientChannel();
  RefCountedPtr<ServiceConfig> source;
  chand->Current(&calld->policy, &source);
  absl::optional<uint32_t> max_send;
  const MethodConfig* method = ApplyMethodConfig(calld, source.get(), &max_send);
  calld->method_source = std::move(source);
  if (batch->send_message && max_send.has_value() &&
      batch->payload->send_message.send_message->Length() > *max_send) {
    // gRPC's message-size filter fails it in the client: not the
    // dependency's doing, and nothing to retry.
    calld->local = true;
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
  CallCombinerClosureList closures;
  if (calld->finished) {
    DeliverPending(calld, &closures);
  } else {
    DeliverStreaming(calld, &closures);
  }
  closures.RunClosures(calld->call_combiner);
}

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
      effective_deadline(args->deadline),

      parent_cancel_payload(args->context) {}

CallData::~CallData() = default;

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
  chand->max_send_size = MaxSendSize(channel_args);
  // A service config given as a channel argument is known now: parse it, so
  // that the breaker and the budget see the channel's very first call. (One
  // from the resolver is asked of client-channel at the next call's start,
  // and learnt from calls as they are answered.)
  absl::optional<absl::string_view> json =
      channel_args.GetString(GRPC_ARG_SERVICE_CONFIG);
  if (json.has_value()) {
    auto sc = grpc_core::ServiceConfigImpl::Create(channel_args, *json);
    if (sc.ok() && *sc != nullptr) chand->Learn(sc->get());
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
