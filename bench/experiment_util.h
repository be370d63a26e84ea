// What the experiment programs (bench/herd.cc, bench/metastable.cc,
// bench/hops.cc) share: clocks, completion-queue plumbing, a loopback
// server's set-up and shutdown, the server and client halves of a unary
// call as raw C-core batches, channel creation, and a reader of the
// filter's own stats in process (grpcr_stats_get). Header-only: every program is one .cc file
// that includes this.
#ifndef GRPCR_BENCH_EXPERIMENT_UTIL_H
#define GRPCR_BENCH_EXPERIMENT_UTIL_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"

namespace grpcr_exp {

// ---- time ---------------------------------------------------------------------

// The monotonic clock, in nanoseconds (only differences mean anything).
inline int64_t NowNs() {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return t.tv_sec * INT64_C(1000000000) + t.tv_nsec;
}

// Sleeps until NowNs() reaches t_ns (returns at once if it has).
inline void SleepUntilNs(int64_t t_ns) {
  const int64_t d = t_ns - NowNs();
  if (d > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(d));
}

// A deadline ns from now, for gRPC.
inline gpr_timespec AfterNs(int64_t ns) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(ns, GPR_TIMESPAN));
}

// ---- completion queues ----------------------------------------------------------

inline void* Tag(intptr_t t) { return reinterpret_cast<void*>(t); }

// Everything a completion-queue tag can be: one virtual step per batch.
struct Tagged {
  virtual ~Tagged() = default;
  // Called by the queue's poller with the batch's success bit. Returns
  // false when the object is finished (the poller deletes it).
  virtual bool Proceed(bool ok) = 0;
};

// Runs a completion queue whose tags are all Tagged until it is shut down.
inline void Poll(grpc_completion_queue* cq) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return;
    auto* t = static_cast<Tagged*>(ev.tag);
    if (!t->Proceed(ev.success != 0)) delete t;
  }
}

// A "next" queue with a thread running Poll on it. Start the thread once the
// queue is registered where it needs to be; Shutdown once nothing will post
// to it any more.
class PolledQueue {
 public:
  PolledQueue() : cq_(grpc_completion_queue_create_for_next(nullptr)) {}
  PolledQueue(const PolledQueue&) = delete;
  PolledQueue& operator=(const PolledQueue&) = delete;

  grpc_completion_queue* cq() const { return cq_; }
  void Start() { poller_ = std::thread(Poll, cq_); }
  // Shuts the queue down, waits for the poller to drain it, destroys it.
  void Shutdown() {
    grpc_completion_queue_shutdown(cq_);
    poller_.join();
    grpc_completion_queue_destroy(cq_);
  }

 private:
  grpc_completion_queue* cq_;
  std::thread poller_;
};

// A pluck queue has no "next": with nothing pending it is shut down and
// destroyed at once.
inline void DestroyPluckQueue(grpc_completion_queue* cq) {
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
}

// Shuts down and destroys a "next" queue nobody polls, discarding whatever
// events are still on it.
inline void DrainAndDestroyQueue(grpc_completion_queue* cq) {
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    nullptr)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

// ---- slices and metadata ----------------------------------------------------------

// Both gRPC's retry filter and grpc-resilience send this header on every
// attempt after the first.
constexpr const char* kPreviousAttemptsHeader = "grpc-previous-rpc-attempts";

inline std::string SliceString(const grpc_slice& s) {
  return std::string(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)),
                     GRPC_SLICE_LENGTH(s));
}

// The value of the first `key` entry in md, or nullptr.
inline const grpc_slice* FindMetadata(const grpc_metadata_array& md,
                                      const char* key) {
  for (size_t i = 0; i < md.count; i++) {
    if (grpc_slice_str_cmp(md.metadata[i].key, key) == 0) {
      return &md.metadata[i].value;
    }
  }
  return nullptr;
}

// Whether the call that sent md is a retry (of either retry layer).
inline bool IsRetryAttempt(const grpc_metadata_array& md) {
  return FindMetadata(md, kPreviousAttemptsHeader) != nullptr;
}

// ---- channels -------------------------------------------------------------------

inline grpc_arg StringArg(const char* key, const char* value) {
  grpc_arg a;
  a.type = GRPC_ARG_STRING;
  a.key = const_cast<char*>(key);
  a.value.string = const_cast<char*>(value);
  return a;
}

inline grpc_arg IntArg(const char* key, int value) {
  grpc_arg a;
  a.type = GRPC_ARG_INTEGER;
  a.key = const_cast<char*>(key);
  a.value.integer = value;
  return a;
}

inline std::string LoopbackTarget(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

// An insecure channel to target with these arguments (the strings they
// point to need only live through the call).
inline grpc_channel* CreateChannel(const std::string& target,
                                   std::vector<grpc_arg> args) {
  grpc_channel_args channel_args = {args.size(), args.data()};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(target.c_str(), creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return ch;
}

// ---- the server side --------------------------------------------------------------

// A started server with `nports` ports on 127.0.0.1 (their numbers in
// *ports; 0 where one could not be bound), its calls on cq.
inline grpc_server* StartLoopbackServer(grpc_completion_queue* cq,
                                        const grpc_channel_args* args,
                                        int nports, std::vector<int>* ports) {
  grpc_server* server = grpc_server_create(args, nullptr);
  grpc_server_register_completion_queue(server, cq, nullptr);
  grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
  for (int i = 0; i < nports; i++) {
    ports->push_back(grpc_server_add_http2_port(server, "127.0.0.1:0", creds));
  }
  grpc_server_credentials_release(creds);
  grpc_server_start(server);
  return server;
}

// Shuts a server down and cancels its calls; returns when the shutdown is
// complete (the server itself is still to be destroyed).
inline void ShutdownServer(grpc_server* server) {
  grpc_completion_queue* sq = grpc_completion_queue_create_for_pluck(nullptr);
  grpc_server_shutdown_and_notify(server, sq, nullptr);
  grpc_server_cancel_all_calls(server);
  grpc_completion_queue_pluck(sq, nullptr, gpr_inf_future(GPR_CLOCK_REALTIME),
                              nullptr);
  DestroyPluckQueue(sq);
}

// Counts live objects so that a shutdown can wait for the last one.
class LiveCount {
 public:
  void Add(int d) {
    std::lock_guard<std::mutex> lock(mu_);
    live_ += d;
    if (live_ == 0) cv_.notify_all();
  }
  void WaitForZero() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return live_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int live_ = 0;  // guarded by mu_
};

// What a server-side call holds: from request_call to its answer. With a
// LiveCount, it counts itself in it, and counts itself out only once all
// it holds is released.
struct IncomingCall {
  explicit IncomingCall(LiveCount* live = nullptr) : live_(live) {
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    if (live_ != nullptr) live_->Add(1);
  }
  virtual ~IncomingCall() {
    if (request != nullptr) grpc_byte_buffer_destroy(request);
    if (call != nullptr) grpc_call_unref(call);
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
    if (live_ != nullptr) live_->Add(-1);
  }
  IncomingCall(const IncomingCall&) = delete;
  IncomingCall& operator=(const IncomingCall&) = delete;

  // Asks the server for the next call, to come back on cq with tag.
  grpc_call_error RequestCall(grpc_server* server, grpc_completion_queue* cq,
                              void* tag) {
    return grpc_server_request_call(server, &call, &details, &md, cq, cq, tag);
  }
  // Reads the request message into `request`.
  grpc_call_error StartRead(void* tag) {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &request;
    return grpc_call_start_batch(call, &op, 1, tag, nullptr);
  }
  // Headers, the request echoed if `echo` (and there is one), the status
  // with `text` (a static string) as its details, and the close. Without a
  // message, chttp2 sends headers and status as a Trailers-Only answer, so
  // the client may retry it (a call that received headers is committed in
  // both retry layers). A status batch without SEND_INITIAL_METADATA is
  // never sent at all on this transport: the client would see only its
  // deadline.
  grpc_call_error StartAnswer(grpc_status_code status, bool echo,
                              const char* text, void* tag) {
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    grpc_slice details_slice = grpc_slice_from_static_string(text);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (echo && request != nullptr) {
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n++].data.send_message.send_message = request;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n++].data.send_status_from_server.status_details = &details_slice;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &cancelled;
    return grpc_call_start_batch(call, ops, n, tag, nullptr);
  }

  grpc_call* call = nullptr;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer* request = nullptr;
  int cancelled = 0;

 private:
  LiveCount* live_;
};

// ---- the client side --------------------------------------------------------------

// The client half of one unary call: set `call` and `request`, then Start
// sends the request and asks for everything back in one batch. The
// destructor releases all of it.
struct OutgoingCall {
  OutgoingCall() {
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
  }
  virtual ~OutgoingCall() {
    if (request != nullptr) grpc_byte_buffer_destroy(request);
    if (response != nullptr) grpc_byte_buffer_destroy(response);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_slice_unref(details);
    if (call != nullptr) grpc_call_unref(call);
  }
  OutgoingCall(const OutgoingCall&) = delete;
  OutgoingCall& operator=(const OutgoingCall&) = delete;

  // Sets the request to a copy-free message of the static string s.
  void SetRequest(const char* s) {
    grpc_slice payload = grpc_slice_from_static_string(s);
    request = grpc_raw_byte_buffer_create(&payload, 1);
  }
  // Starts the call's one batch; `metadata` (count entries) goes with the
  // request's headers and must live until the batch completes.
  grpc_call_error Start(void* tag, grpc_metadata* metadata = nullptr,
                        size_t count = 0) {
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = count;
    ops[0].data.send_initial_metadata.metadata = metadata;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = request;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &response;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    return grpc_call_start_batch(call, ops, 6, tag, nullptr);
  }

  grpc_call* call = nullptr;
  grpc_byte_buffer* request = nullptr;
  grpc_byte_buffer* response = nullptr;
  grpc_metadata_array initial_md, trailing_md;
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
};

// ---- the filter's stats, in process ------------------------------------------------

// The counters of one channel that the experiments report.
struct ChannelStats {
  std::string name;
  uint64_t requests = 0, attempts = 0, retries = 0, budget_denied = 0;
  uint64_t breaker_rejected = 0;
  int breaker_state = 0;  // 0: no breaker, 1 CLOSED, 2 OPEN, 3 HALF_OPEN
  uint64_t transitions = 0, opened = 0;
  uint64_t throttled = 0;
  double open_period_s = 0;  // the open period in force, or the last one
};

// The stats of the channel called `name`, or nullptr.
inline const ChannelStats* FindChannel(const std::vector<ChannelStats>& all,
                                       const std::string& name) {
  const ChannelStats* found = nullptr;
  for (const ChannelStats& s : all) {
    if (s.name == name) found = &s;
  }
  return found;
}

// Reads the process's own grpc-resilience stats in process
// (grpcr_stats_get, include/grpcr/grpcr.h): every channel with the filter.
class StatsReader {
 public:
  bool Read(std::vector<ChannelStats>* out) const {
    grpcr_channel_snapshot* snaps = nullptr;
    size_t n = 0;
    if (grpcr_stats_get(nullptr, &snaps, &n) != 0) return false;
    for (size_t i = 0; i < n; i++) {
      const grpcr_channel_snapshot& c = snaps[i];
      ChannelStats s;
      s.name = c.name;
      s.requests = c.requests;
      s.attempts = c.attempts;
      s.retries = c.retries;
      s.budget_denied = c.budget_denied;
      s.breaker_rejected = c.breaker_rejected;
      s.throttled = c.throttled;
      if (c.has_breaker) {
        // As in the stats proto: 0 no breaker, then CLOSED, OPEN, HALF_OPEN.
        s.breaker_state = static_cast<int>(c.breaker.state) + 1;
        s.transitions = c.breaker.transitions_total;
        s.opened = c.breaker.opened_total;
        s.open_period_s = static_cast<double>(c.breaker.open_period_ns) / 1e9;
      }
      out->push_back(std::move(s));
    }
    grpcr_channel_snapshots_free(snaps, n);
    return true;
  }
  // The first channel with the filter (for a process that has one).
  bool ReadFirst(ChannelStats* out) const {
    std::vector<ChannelStats> all;
    if (!Read(&all) || all.empty()) return false;
    *out = all.front();
    return true;
  }
};

// ---- the programs' frame --------------------------------------------------------------

// grpcr_register() and grpc_init(); false (having said so) if the first
// fails.
inline bool RegisterAndInit() {
  if (grpcr_register() != 0) {
    fprintf(stderr, "grpcr_register failed\n");
    return false;
  }
  grpc_init();
  return true;
}

// Walks argv as "--flag value" pairs, plus the flags in `switches`, which
// take no value; calls on(flag, value) for each (value "" for a switch).
// False if a value is missing or on returns false.
template <typename OnFlag>
bool ParseFlags(int argc, char** argv,
                const std::vector<std::string>& switches, OnFlag on) {
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    bool is_switch = false;
    for (const std::string& s : switches) is_switch = is_switch || s == a;
    if (is_switch) {
      if (!on(a, "")) return false;
      continue;
    }
    if (i + 1 >= argc) return false;
    if (!on(a, argv[++i])) return false;
  }
  return true;
}

// A counter for a CSV column that is empty where it does not apply.
inline std::string CountOrEmpty(bool have, uint64_t v) {
  return have ? std::to_string(v) : std::string();
}

}  // namespace grpcr_exp

#endif  // GRPCR_BENCH_EXPERIMENT_UTIL_H
