// The herd experiment: Marc Brooker's "Exponential Backoff And Jitter"
// (AWS Architecture Blog, 2015) on real gRPC instead of a simulation.
//
// One C-core server on 127.0.0.1, in this process, has capacity K: a call
// that arrives while K calls are in flight is answered RESOURCE_EXHAUSTED at
// once; any other call is held for the service time (a timer, not a busy
// CPU) and answered OK. N clients, each with its own channel (so its own
// retry budget and its own gRPC retry-throttle bucket, as N independent
// processes would have), are connected first and then all start one unary
// call at the same moment (the barrier). Each call retries according to the
// strategy in its channel's service config until it gets through, gives up,
// or hits its deadline; a run is also cut at a wall-clock cap (its calls are
// then cancelled and counted as failed).
//
// Strategies: grpc-resilience's retry policy with jitter NONE (fixed and
// exponential), FULL, EQUAL and DECORRELATED, each with the default retry
// budget and with the budget effectively off; and gRPC's own retryPolicy,
// with and without retryThrottling (our filter switched off on those
// channels with GRPCR_ARG_ENABLE=0).
//
// Per run it measures, from the server's side: arrivals (attempts that
// reached the server: the work), the peak arrivals in a 10 ms bucket, and
// arrivals per client; from the clients' side: every call's final status
// and latency, and the time from the barrier until the last call finished.
// Each cell (strategy x N) is repeated; the summary gives the median and
// the min-max spread over the repeats.
//
// usage: grpcr_herd [--clients 10,25,50,100,200] [--repeats 5]
//                   [--strategies a,b,..] [--capacity 5] [--service-ms 10]
//                   [--deadline-s 30] [--max-run-s 30]
//                   [--runs-csv F] [--summary-csv F] [--md F]
// --list prints the strategies and their service configs.
#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "experiment_util.h"
#include "grpcr/grpcr.h"

namespace {

using namespace grpcr_exp;  // the programs' shared toolbox (experiment_util.h)

constexpr const char* kMethod = "/herd.Herd/Update";
constexpr const char* kClientHeader = "x-herd-client";
constexpr int64_t kBucketNs = 10 * INT64_C(1000000);  // peak-rate bucket
constexpr int kOurMaxAttempts = 100;  // grpc-resilience's maximum
constexpr int kGrpcMaxAttempts = 5;   // gRPC clamps retryPolicy to 5

// ---- strategies -------------------------------------------------------------

enum class Layer { kResilience, kGrpc };

struct Strategy {
  const char* name;   // CSV key
  const char* label;  // for tables and plots (no commas: it goes into CSV)
  Layer layer;
  const char* jitter;  // kResilience: NONE, FULL, EQUAL, DECORRELATED
  int multiplier;      // kResilience: backoffMultiplier
  bool limited;        // kResilience: default budget; kGrpc: retryThrottling
};

// Base 5 ms, cap 2 s everywhere (Brooker's parameters); retries on
// RESOURCE_EXHAUSTED only.
const Strategy kStrategies[] = {
    {"fixed", "fixed 5 ms (NONE x1) + budget", Layer::kResilience, "NONE", 1, true},
    {"fixed-nobudget", "fixed 5 ms (NONE x1) no budget", Layer::kResilience, "NONE", 1, false},
    {"expo", "exponential (NONE x2) + budget", Layer::kResilience, "NONE", 2, true},
    {"expo-nobudget", "exponential (NONE x2) no budget", Layer::kResilience, "NONE", 2, false},
    {"full", "FULL jitter + budget", Layer::kResilience, "FULL", 2, true},
    {"full-nobudget", "FULL jitter no budget", Layer::kResilience, "FULL", 2, false},
    {"equal", "EQUAL jitter + budget", Layer::kResilience, "EQUAL", 2, true},
    {"equal-nobudget", "EQUAL jitter no budget", Layer::kResilience, "EQUAL", 2, false},
    {"decorr", "DECORRELATED jitter + budget", Layer::kResilience, "DECORRELATED", 2, true},
    {"decorr-nobudget", "DECORRELATED jitter no budget", Layer::kResilience, "DECORRELATED", 2, false},
    {"grpc", "gRPC retryPolicy (5 attempts)", Layer::kGrpc, nullptr, 2, false},
    {"grpc-throttle", "gRPC retryPolicy + retryThrottling", Layer::kGrpc, nullptr, 2, true},
};

// The channel's service config. The budget ON case omits retryBudget (our
// defaults: ratio 0.1, 10 retries/s, 10 s window); OFF is the largest
// budget the parser accepts. No circuitBreaker block: no breaker.
std::string ServiceConfig(const Strategy& s) {
  const std::string name = "\"name\":[{\"service\":\"herd.Herd\"}]";
  if (s.layer == Layer::kGrpc) {
    std::string c = "{\"methodConfig\":[{" + name +
                    ",\"retryPolicy\":{\"maxAttempts\":" +
                    std::to_string(kGrpcMaxAttempts) +
                    ",\"initialBackoff\":\"0.005s\",\"maxBackoff\":\"2s\","
                    "\"backoffMultiplier\":2,"
                    "\"retryableStatusCodes\":[\"RESOURCE_EXHAUSTED\"]}}]";
    if (s.limited) {
      c += ",\"retryThrottling\":{\"maxTokens\":10,\"tokenRatio\":0.1}";
    }
    return c + "}";
  }
  std::string c = "{";
  if (!s.limited) {
    c += "\"resilience\":{\"retryBudget\":{\"ratio\":10,"
         "\"minRetriesPerSecond\":1000000}},";
  }
  c += "\"methodConfig\":[{" + name + ",\"resilience\":{\"maxAttempts\":" +
       std::to_string(kOurMaxAttempts) +
       ",\"initialBackoff\":\"0.005s\",\"maxBackoff\":\"2s\","
       "\"backoffMultiplier\":" +
       std::to_string(s.multiplier) + ",\"jitter\":\"" + s.jitter +
       "\",\"retryableStatusCodes\":[\"RESOURCE_EXHAUSTED\"]}}]}";
  return c;
}

int MaxAttempts(const Strategy& s) {
  return s.layer == Layer::kGrpc ? kGrpcMaxAttempts : kOurMaxAttempts;
}

// ---- the server -------------------------------------------------------------

// What the server saw during one run.
struct ServerCounts {
  int64_t arrivals = 0;
  int64_t ok = 0;        // answered OK
  int64_t rejected = 0;  // answered RESOURCE_EXHAUSTED
  int64_t stray = 0;     // arrivals without a valid client header
  int peak_per_bucket = 0;
  int max_per_client = 0;
  int64_t per_client_sum = 0;
};

// A capacity-K server: one completion queue, a few worker threads, and a
// timer thread that answers admitted calls when their service time is up.
// It listens on one port per client (see ClientTarget) and lives for the
// whole experiment; BeginRun/EndRun reset and read its counters.
class HerdServer {
 public:
  HerdServer(int ports, int capacity, int64_t service_ns, int64_t max_run_ns)
      : capacity_(capacity),
        service_ns_(service_ns),
        buckets_(static_cast<size_t>(max_run_ns / kBucketNs) + 2),
        per_client_(static_cast<size_t>(ports)) {
    grpc_arg arg = IntArg(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1 << 20);
    grpc_channel_args args = {1, &arg};
    cq_ = grpc_completion_queue_create_for_next(nullptr);
    server_ = StartLoopbackServer(cq_, &args, ports, &ports_);
    for (int port : ports_) GPR_ASSERT(port > 0);
    for (int i = 0; i < kRequestsPosted; i++) PostRequest();
    for (int i = 0; i < kWorkers; i++) workers_.emplace_back([this] { Work(); });
    timer_ = std::thread([this] { Timers(); });
  }

  ~HerdServer() {
    grpc_server_shutdown_and_notify(server_, cq_, Tag(0));
    grpc_server_cancel_all_calls(server_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
      // Workers free every call; the shutdown tag comes back on cq_.
      cv_.wait(lock, [this] { return shutdown_seen_ && live_ == 0; });
    }
    timer_.join();
    grpc_server_destroy(server_);
    grpc_completion_queue_shutdown(cq_);
    for (auto& w : workers_) w.join();
    grpc_completion_queue_destroy(cq_);
  }

  int port(int client) const { return ports_[static_cast<size_t>(client)]; }

  // Resets the counters; the run's clock starts at t0_ns. Only between runs.
  void BeginRun(int64_t t0_ns) {
    t0_ns_.store(t0_ns);
    arrivals_ = ok_ = rejected_ = stray_ = 0;
    for (auto& b : buckets_) b.store(0);
    for (auto& c : per_client_) c.store(0);
  }

  // Waits until no call is held or being answered, then returns the run's
  // counters.
  ServerCounts EndRun() {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return busy_ == 0; });
    }
    ServerCounts c;
    c.arrivals = arrivals_.load();
    c.ok = ok_.load();
    c.rejected = rejected_.load();
    c.stray = stray_.load();
    for (auto& b : buckets_) c.peak_per_bucket = std::max<int>(c.peak_per_bucket, b.load());
    for (auto& n : per_client_) {
      c.max_per_client = std::max<int>(c.max_per_client, n.load());
      c.per_client_sum += n.load();
    }
    return c;
  }

 private:
  static constexpr int kWorkers = 2;
  static constexpr int kRequestsPosted = 64;  // request_call tags outstanding

  // One server-side call: requested, read, then answered.
  struct Call : IncomingCall {
    enum Phase { kRequested, kRead, kAnswered } phase = kRequested;
    bool admitted = false;  // holds one of the K slots until answered
  };

  void PostRequest() {
    Call* c = new Call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_++;
    }
    if (c->RequestCall(server_, cq_, c) != GRPC_CALL_OK) Free(c);
  }

  void Free(Call* c) {
    delete c;
    std::lock_guard<std::mutex> lock(mu_);
    live_--;
    cv_.notify_all();
  }

  void Work() {
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(
          cq_, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) return;
      if (ev.type != GRPC_OP_COMPLETE) continue;
      if (ev.tag == Tag(0)) {
        std::lock_guard<std::mutex> lock(mu_);
        shutdown_seen_ = true;
        cv_.notify_all();
        continue;
      }
      Handle(static_cast<Call*>(ev.tag), ev.success != 0);
    }
  }

  void Handle(Call* c, bool ok) {
    switch (c->phase) {
      case Call::kRequested:
        if (!ok) {  // shutting down
          Free(c);
          return;
        }
        OnArrival(c);
        return;
      case Call::kRead:
        if (!ok) {  // the client went away before we read the request
          Finish(c);
          return;
        }
        if (c->admitted) {
          std::lock_guard<std::mutex> lock(mu_);
          timers_.push({NowNs() + service_ns_, c});
          cv_.notify_all();
        } else {
          Answer(c, GRPC_STATUS_RESOURCE_EXHAUSTED);
        }
        return;
      case Call::kAnswered:
        Finish(c);
        return;
    }
  }

  // Admission is decided the moment the call arrives, as a real overloaded
  // server's admission control would.
  void OnArrival(Call* c) {
    const int64_t now = NowNs();
    PostRequest();  // keep kRequestsPosted outstanding
    {
      std::lock_guard<std::mutex> lock(mu_);
      busy_++;  // until the answer's batch completes
      if (in_flight_ < capacity_) {
        in_flight_++;
        c->admitted = true;
      }
    }
    arrivals_++;
    const int64_t since = std::max<int64_t>(0, now - t0_ns_.load());
    const size_t b = std::min(buckets_.size() - 1, static_cast<size_t>(since / kBucketNs));
    buckets_[b]++;
    int client = -1;
    if (const grpc_slice* v = FindMetadata(c->md, kClientHeader)) {
      client = atoi(SliceString(*v).c_str());
    }
    if (client >= 0 && static_cast<size_t>(client) < per_client_.size()) {
      per_client_[static_cast<size_t>(client)]++;
    } else {
      stray_++;
    }
    c->phase = Call::kRead;
    if (c->StartRead(c) != GRPC_CALL_OK) Finish(c);
  }

  // Sends the status (with the request echoed if OK). An error goes out with
  // no message, which C-core sends as a Trailers-Only response: retryable.
  void Answer(Call* c, grpc_status_code code) {
    if (c->admitted) {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_--;  // the slot frees when the service time is up
    }
    const bool ok = code == GRPC_STATUS_OK;
    (ok ? ok_ : rejected_)++;
    c->phase = Call::kAnswered;
    if (c->StartAnswer(code, ok, ok ? "" : "herd: over capacity", c) !=
        GRPC_CALL_OK) {
      Finish(c);
    }
  }

  // The call is over (answered, or failed before its answer).
  void Finish(Call* c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (c->admitted && c->phase != Call::kAnswered) in_flight_--;
      busy_--;
    }
    Free(c);
  }

  // Answers admitted calls when their service time is up.
  void Timers() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (timers_.empty()) {
        if (stop_) return;
        cv_.wait(lock);
        continue;
      }
      const int64_t due = timers_.top().first;
      const int64_t now = NowNs();
      if (due > now && !stop_) {
        cv_.wait_for(lock, std::chrono::nanoseconds(due - now));
        continue;
      }
      Call* c = timers_.top().second;
      timers_.pop();
      lock.unlock();
      Answer(c, GRPC_STATUS_OK);
      lock.lock();
    }
  }

  const int capacity_;
  const int64_t service_ns_;
  grpc_server* server_ = nullptr;
  grpc_completion_queue* cq_ = nullptr;
  std::vector<int> ports_;
  std::vector<std::thread> workers_;
  std::thread timer_;

  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;  // admitted calls not answered yet (<= capacity_)
  int busy_ = 0;       // arrived calls whose answer has not completed
  int live_ = 0;       // Call objects alive
  bool stop_ = false;
  bool shutdown_seen_ = false;
  using Timer = std::pair<int64_t, Call*>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;

  // Run counters (reset by BeginRun).
  std::atomic<int64_t> t0_ns_{0};
  std::atomic<int64_t> arrivals_{0}, ok_{0}, rejected_{0}, stray_{0};
  std::vector<std::atomic<int>> buckets_;     // arrivals per 10 ms since t0
  std::vector<std::atomic<int>> per_client_;  // arrivals per client
};

// ---- the clients ------------------------------------------------------------

// Each client has its own port, hence its own target. gRPC keys the
// retryThrottling token bucket by the target's name in a process-wide map
// that keeps every bucket for the life of the process: channels to one
// target would share a bucket, and a later run would inherit the tokens an
// earlier one spent. Separate, fresh processes would have neither. So the
// name is unique per client (its port) and per run: run r spells the port
// with r leading zeros ("127.0.0.1:0050123"), which gRPC's address parser
// (sscanf "%d") reads as the same port.
std::string ClientTarget(const HerdServer& server, int client, int run) {
  return "ipv4:127.0.0.1:" + std::string(static_cast<size_t>(run), '0') +
         std::to_string(server.port(client));
}

grpc_channel* MakeChannel(const std::string& target, const std::string& config,
                          bool filter) {
  return CreateChannel(target,
                       {StringArg(GRPC_ARG_SERVICE_CONFIG, config.c_str()),
                        IntArg(GRPCR_ARG_ENABLE, filter ? 1 : 0),
                        // Its own connection, as a separate process would have.
                        IntArg(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1)});
}

// Connects every channel (before the barrier, so that the run measures
// retries, not TCP handshakes). Returns false if one is not READY in 10 s.
bool ConnectAll(const std::vector<grpc_channel*>& channels) {
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  const gpr_timespec deadline = AfterNs(10 * INT64_C(1000000000));
  int pending = 0;
  for (size_t i = 0; i < channels.size(); i++) {
    grpc_connectivity_state s = grpc_channel_check_connectivity_state(channels[i], 1);
    if (s != GRPC_CHANNEL_READY) {
      grpc_channel_watch_connectivity_state(channels[i], s, deadline, cq,
                                            Tag(static_cast<intptr_t>(i)));
      pending++;
    }
  }
  bool ok = true;
  while (pending > 0) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    pending--;
    grpc_channel* ch = channels[reinterpret_cast<intptr_t>(ev.tag)];
    grpc_connectivity_state s = grpc_channel_check_connectivity_state(ch, 1);
    if (s == GRPC_CHANNEL_READY) continue;
    if (!ev.success) {  // timed out
      ok = false;
      continue;
    }
    grpc_channel_watch_connectivity_state(ch, s, deadline, cq, ev.tag);
    pending++;
  }
  DrainAndDestroyQueue(cq);
  return ok;
}

// One client's call: what it sends and what it got back.
struct ClientCall : OutgoingCall {
  ClientCall() { memset(&header, 0, sizeof header); }
  ~ClientCall() override { grpc_slice_unref(header.value); }

  grpc_metadata header;  // kClientHeader: id
  std::string id;
  bool done = false;
  bool cut = false;  // cancelled at the run's wall-clock cap
  int64_t start_ns = 0, end_ns = 0;
};

// Creates the call and its request; StartCall sends it. Split so that the
// barrier only has to start batches, which keeps the start spread small.
void PrepareCall(grpc_channel* ch, grpc_completion_queue* cq, ClientCall* c,
                 int64_t deadline_ns) {
  c->call = grpc_channel_create_call(
      ch, nullptr, 0, cq, grpc_slice_from_static_string(kMethod), nullptr,
      AfterNs(deadline_ns), nullptr);
  c->SetRequest("update");
  c->header.key = grpc_slice_from_static_string(kClientHeader);
  c->header.value = grpc_slice_from_copied_string(c->id.c_str());
}

void StartCall(ClientCall* c) {
  c->start_ns = NowNs();
  GPR_ASSERT(c->Start(c, &c->header, 1) == GRPC_CALL_OK);
}

// ---- one run ------------------------------------------------------------------

struct Params {
  std::vector<int> clients = {10, 25, 50, 100, 200};
  int repeats = 5;
  int capacity = 5;
  double service_ms = 10;
  double deadline_s = 30;
  double max_run_s = 30;
};

struct RunResult {
  const Strategy* strategy;
  int n, repeat;
  ServerCounts server;
  int ok = 0, failed = 0;
  int failed_exhausted = 0, failed_deadline = 0, failed_cut = 0, failed_other = 0;
  double completion_s = 0;  // barrier -> the last call's final status
  double last_ok_s = 0;     // barrier -> the last success
  double p50_ms = 0, p99_ms = 0;  // call latency, every call
  double start_spread_ms = 0;     // barrier -> the last call started
  double wall_s = 0;              // the whole run, set-up included
  std::vector<std::string> problems;  // failed sanity checks
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

RunResult RunOnce(HerdServer* server, const Strategy& s, int n, int repeat,
                  const Params& p) {
  RunResult r;
  r.strategy = &s;
  r.n = n;
  r.repeat = repeat;
  const int64_t wall0 = NowNs();
  const std::string config = ServiceConfig(s);
  static int runs_started = 0;  // for fresh target names (ClientTarget)
  const int run = ++runs_started;
  std::vector<grpc_channel*> channels;
  for (int i = 0; i < n; i++) {
    channels.push_back(MakeChannel(ClientTarget(*server, i, run), config,
                                   s.layer == Layer::kResilience));
  }
  if (!ConnectAll(channels)) r.problems.push_back("a channel did not connect");

  // The barrier: every call starts now, back to back from one thread. (The
  // deadlines run from a few ms earlier, when the calls were created.)
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  std::vector<ClientCall> calls(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) {
    ClientCall* c = &calls[static_cast<size_t>(i)];
    c->id = std::to_string(i);
    PrepareCall(channels[static_cast<size_t>(i)], cq, c,
                static_cast<int64_t>(p.deadline_s * 1e9));
  }
  const int64_t t0 = NowNs();
  server->BeginRun(t0);
  for (ClientCall& c : calls) StartCall(&c);
  r.start_spread_ms = static_cast<double>(calls.back().start_ns - t0) / 1e6;

  // Collect every final status; at the cap, cancel what is left.
  const int64_t cap_ns = t0 + static_cast<int64_t>(p.max_run_s * 1e9);
  int pending = n;
  bool cut = false;
  while (pending > 0) {
    const int64_t wait = cut ? INT64_C(1000000000) : std::max<int64_t>(0, cap_ns - NowNs());
    grpc_event ev = grpc_completion_queue_next(cq, AfterNs(wait), nullptr);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      if (cut) continue;  // cancellations on their way
      cut = true;
      for (ClientCall& c : calls) {
        if (!c.done) {
          c.cut = true;
          grpc_call_cancel(c.call, nullptr);
        }
      }
      continue;
    }
    GPR_ASSERT(ev.type == GRPC_OP_COMPLETE);
    ClientCall* c = static_cast<ClientCall*>(ev.tag);
    c->end_ns = NowNs();
    c->done = true;
    pending--;
  }

  std::vector<double> latencies_ms;
  for (ClientCall& c : calls) {
    const double end_s = static_cast<double>(c.end_ns - t0) / 1e9;
    latencies_ms.push_back(static_cast<double>(c.end_ns - c.start_ns) / 1e6);
    r.completion_s = std::max(r.completion_s, end_s);
    if (c.status == GRPC_STATUS_OK) {
      r.ok++;
      r.last_ok_s = std::max(r.last_ok_s, end_s);
    } else {
      r.failed++;
      if (c.cut) {
        r.failed_cut++;
      } else if (c.status == GRPC_STATUS_RESOURCE_EXHAUSTED) {
        r.failed_exhausted++;
      } else if (c.status == GRPC_STATUS_DEADLINE_EXCEEDED) {
        r.failed_deadline++;
      } else {
        r.failed_other++;
      }
    }
  }
  r.p50_ms = Quantile(latencies_ms, 0.5);
  r.p99_ms = Quantile(latencies_ms, 0.99);

  calls.clear();  // frees every call
  for (grpc_channel* ch : channels) grpc_channel_destroy(ch);
  DrainAndDestroyQueue(cq);
  r.server = server->EndRun();
  r.wall_s = static_cast<double>(NowNs() - wall0) / 1e9;

  // Sanity: every client accounted for, every attempt attributed, no call
  // over its attempt limit, and each success answered by the server once.
  const ServerCounts& sc = r.server;
  if (r.ok + r.failed != n) r.problems.push_back("clients unaccounted for");
  if (sc.arrivals < n) r.problems.push_back("fewer arrivals than clients");
  if (sc.stray != 0 || sc.per_client_sum != sc.arrivals) {
    r.problems.push_back("arrivals not attributed to a client");
  }
  if (sc.max_per_client > MaxAttempts(s)) r.problems.push_back("a call over maxAttempts");
  if (sc.ok + sc.rejected != sc.arrivals && r.failed_cut == 0) {
    r.problems.push_back("arrivals not answered");
  }
  if (r.failed_cut == 0 && sc.ok != r.ok) r.problems.push_back("server OKs != client OKs");
  if (r.failed_other != 0) r.problems.push_back("unexpected final status");
  return r;
}

// ---- reporting ------------------------------------------------------------------

struct Spread {
  double median = 0, min = 0, max = 0;
};

Spread SpreadOf(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  s.median = v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

// The metrics summarised per cell, in CSV and table order.
struct Metric {
  const char* key;
  const char* title;
  const char* fmt;  // printf format of one value
  std::function<double(const RunResult&)> get;
};

const std::vector<Metric>& Metrics() {
  static const std::vector<Metric> m = {
      {"arrivals", "server arrivals (work)", "%.0f",
       [](const RunResult& r) { return static_cast<double>(r.server.arrivals); }},
      {"completion_s", "time until the last call ended, s", "%.2f",
       [](const RunResult& r) { return r.completion_s; }},
      {"p50_ms", "call latency p50, ms", "%.0f", [](const RunResult& r) { return r.p50_ms; }},
      {"p99_ms", "call latency p99, ms", "%.0f", [](const RunResult& r) { return r.p99_ms; }},
      {"failed", "clients whose call failed", "%.0f",
       [](const RunResult& r) { return static_cast<double>(r.failed); }},
      {"peak_10ms", "peak arrivals per 10 ms", "%.0f",
       [](const RunResult& r) { return static_cast<double>(r.server.peak_per_bucket); }},
      {"start_spread_ms", "barrier to the last call started, ms", "%.0f",
       [](const RunResult& r) { return r.start_spread_ms; }},
  };
  return m;
}

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// "median (min–max)", or just the median when all repeats agree.
std::string CellText(const Metric& m, const Spread& s) {
  std::string med = Fmt(m.fmt, s.median);
  std::string lo = Fmt(m.fmt, s.min), hi = Fmt(m.fmt, s.max);
  if (lo == hi) return med;
  return med + " (" + lo + "–" + hi + ")";
}

void WriteRunsHeader(FILE* f) {
  fprintf(f,
          "strategy,n,repeat,arrivals,completion_s,last_ok_s,p50_ms,p99_ms,ok,"
          "failed,failed_exhausted,failed_deadline,failed_cut,peak_10ms,"
          "max_attempts_per_client,server_ok,server_rejected,start_spread_ms,"
          "wall_s,problems\n");
}

void WriteRun(FILE* f, const RunResult& r) {
  std::string problems;
  for (const std::string& p : r.problems) problems += (problems.empty() ? "" : ";") + p;
  fprintf(f, "%s,%d,%d,%lld,%.4f,%.4f,%.2f,%.2f,%d,%d,%d,%d,%d,%d,%d,%lld,%lld,%.2f,%.2f,%s\n",
          r.strategy->name, r.n, r.repeat, static_cast<long long>(r.server.arrivals),
          r.completion_s, r.last_ok_s, r.p50_ms, r.p99_ms, r.ok, r.failed,
          r.failed_exhausted, r.failed_deadline, r.failed_cut,
          r.server.peak_per_bucket, r.server.max_per_client,
          static_cast<long long>(r.server.ok), static_cast<long long>(r.server.rejected),
          r.start_spread_ms, r.wall_s, problems.c_str());
  fflush(f);
}

// The results of one cell (strategy x N).
using Cell = std::vector<RunResult>;

void WriteSummary(FILE* f, const std::vector<const Strategy*>& strategies,
                  const std::vector<int>& clients,
                  const std::map<std::pair<int, int>, Cell>& cells) {
  fprintf(f, "strategy,label,n,repeats");
  for (const Metric& m : Metrics()) fprintf(f, ",%s_med,%s_min,%s_max", m.key, m.key, m.key);
  fprintf(f, "\n");
  for (size_t si = 0; si < strategies.size(); si++) {
    for (int n : clients) {
      const Cell& cell = cells.at({static_cast<int>(si), n});
      fprintf(f, "%s,%s,%d,%zu", strategies[si]->name, strategies[si]->label, n,
              cell.size());
      for (const Metric& m : Metrics()) {
        std::vector<double> v;
        for (const RunResult& r : cell) v.push_back(m.get(r));
        Spread s = SpreadOf(v);
        fprintf(f, ",%g,%g,%g", s.median, s.min, s.max);
      }
      fprintf(f, "\n");
    }
  }
}

// Brooker's model at N = 50 (a re-run of aws-samples/aws-arch-backoff-
// simulator: server writes, mean completion time in seconds), keyed by the
// strategy that corresponds to it here.
struct ModelPoint {
  const char* model;
  const char* strategy;
  double writes, time_s;
};
const ModelPoint kModel[] = {
    {"none (no delay)", "fixed-nobudget", 689, 1.14},
    {"exponential", "expo-nobudget", 625, 36.7},
    {"equal jitter", "equal-nobudget", 348, 4.3},
    {"full jitter", "full-nobudget", 333, 2.9},
    {"decorrelated", "decorr-nobudget", 376, 2.2},
};

void WriteMarkdown(FILE* f, const std::vector<const Strategy*>& strategies,
                   const std::vector<int>& clients,
                   const std::map<std::pair<int, int>, Cell>& cells) {
  auto spread = [&](int si, int n, const Metric& m) {
    std::vector<double> v;
    for (const RunResult& r : cells.at({si, n})) v.push_back(m.get(r));
    return SpreadOf(v);
  };
  for (const Metric& m : Metrics()) {
    fprintf(f, "\n**%s**, median (min–max) over the repeats\n\n| strategy |", m.title);
    for (int n : clients) fprintf(f, " N=%d |", n);
    fprintf(f, "\n|---|");
    for (size_t i = 0; i < clients.size(); i++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (size_t si = 0; si < strategies.size(); si++) {
      fprintf(f, "| %s |", strategies[si]->label);
      for (int n : clients) {
        fprintf(f, " %s |", CellText(m, spread(static_cast<int>(si), n, m)).c_str());
      }
      fprintf(f, "\n");
    }
  }
  // Side by side with the model, where N = 50 was run.
  if (std::find(clients.begin(), clients.end(), 50) == clients.end()) return;
  fprintf(f,
          "\n**N = 50 against the model** (model: mean of 100 runs; here: "
          "median of the repeats)\n\n"
          "| model strategy | model writes | model time s | here | arrivals | "
          "time until the last call ended, s | failed |\n"
          "|---|---:|---:|---|---:|---:|---:|\n");
  for (const ModelPoint& mp : kModel) {
    for (size_t si = 0; si < strategies.size(); si++) {
      if (strcmp(strategies[si]->name, mp.strategy) != 0) continue;
      const int i = static_cast<int>(si);
      fprintf(f, "| %s | %.0f | %.2f | %s | %s | %s | %s |\n", mp.model, mp.writes,
              mp.time_s, strategies[si]->label,
              CellText(Metrics()[0], spread(i, 50, Metrics()[0])).c_str(),
              CellText(Metrics()[1], spread(i, 50, Metrics()[1])).c_str(),
              CellText(Metrics()[4], spread(i, 50, Metrics()[4])).c_str());
    }
  }
}

std::vector<std::string> Split(const char* s) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* p = s;; p++) {
    if (*p == ',' || *p == '\0') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  return out;
}

FILE* OpenOrDie(const std::string& path) {
  FILE* f = fopen(path.c_str(), "w");
  if (f == nullptr) {
    fprintf(stderr, "grpcr_herd: cannot write %s\n", path.c_str());
    exit(2);
  }
  return f;
}

int Usage() {
  fprintf(stderr,
          "usage: grpcr_herd [--clients 10,25,50,100,200] [--repeats 5]\n"
          "                  [--strategies a,b,..] [--capacity 5] [--service-ms 10]\n"
          "                  [--deadline-s 30] [--max-run-s 30]\n"
          "                  [--runs-csv F] [--summary-csv F] [--md F] [--list]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  std::vector<const Strategy*> strategies;
  for (const Strategy& s : kStrategies) strategies.push_back(&s);
  std::string runs_path, summary_path, md_path;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--list") == 0) {
      for (const Strategy& s : kStrategies) {
        printf("%-16s %s\n  %s\n", s.name, s.label, ServiceConfig(s).c_str());
      }
      return 0;
    }
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (strcmp(a, "--clients") == 0) {
      p.clients.clear();
      for (const std::string& x : Split(v)) p.clients.push_back(atoi(x.c_str()));
    } else if (strcmp(a, "--repeats") == 0) {
      p.repeats = atoi(v);
    } else if (strcmp(a, "--strategies") == 0) {
      strategies.clear();
      for (const std::string& x : Split(v)) {
        const Strategy* found = nullptr;
        for (const Strategy& s : kStrategies) {
          if (x == s.name) found = &s;
        }
        if (found == nullptr) {
          fprintf(stderr, "grpcr_herd: unknown strategy %s (see --list)\n", x.c_str());
          return 2;
        }
        strategies.push_back(found);
      }
    } else if (strcmp(a, "--capacity") == 0) {
      p.capacity = atoi(v);
    } else if (strcmp(a, "--service-ms") == 0) {
      p.service_ms = atof(v);
    } else if (strcmp(a, "--deadline-s") == 0) {
      p.deadline_s = atof(v);
    } else if (strcmp(a, "--max-run-s") == 0) {
      p.max_run_s = atof(v);
    } else if (strcmp(a, "--runs-csv") == 0) {
      runs_path = v;
    } else if (strcmp(a, "--summary-csv") == 0) {
      summary_path = v;
    } else if (strcmp(a, "--md") == 0) {
      md_path = v;
    } else {
      return Usage();
    }
  }
  if (p.clients.empty() || p.repeats < 1 || p.capacity < 1 || p.service_ms <= 0 ||
      p.deadline_s <= 0 || p.max_run_s <= 0 || strategies.empty()) {
    return Usage();
  }
  for (int n : p.clients) {
    if (n < 1 || n > 10000) return Usage();
  }
  // A config the channel would refuse would fail every call: check first.
  for (const Strategy* s : strategies) {
    char* errors = nullptr;
    if (s->layer == Layer::kResilience &&
        grpcr_validate_service_config(ServiceConfig(*s).c_str(), &errors) != 0) {
      fprintf(stderr, "grpcr_herd: %s: invalid config:\n%s\n", s->name, errors);
      grpcr_free(errors);
      return 1;
    }
  }

  if (!RegisterAndInit()) return 1;
  const int max_n = *std::max_element(p.clients.begin(), p.clients.end());
  int failures = 0;
  {
    HerdServer server(max_n, p.capacity, static_cast<int64_t>(p.service_ms * 1e6),
                      static_cast<int64_t>(p.max_run_s * 1e9));
    fprintf(stderr,
            "grpcr_herd: capacity K=%d, service %.1f ms, deadline %.0f s, run cap "
            "%.0f s, N=",
            p.capacity, p.service_ms, p.deadline_s, p.max_run_s);
    for (int n : p.clients) fprintf(stderr, "%d ", n);
    fprintf(stderr, "x %zu strategies x %d repeats\n", strategies.size(), p.repeats);

    // A discarded run first: the process's first calls pay one-time costs
    // (threads, allocator, lazy initialisation) that would skew the first cell.
    RunOnce(&server, *strategies[0], std::min(10, max_n), -1, p);

    FILE* runs = runs_path.empty() ? nullptr : OpenOrDie(runs_path);
    if (runs != nullptr) WriteRunsHeader(runs);
    // Repeats are the outer loop, so that drift on a shared machine is
    // spread over every cell rather than hitting one.
    std::map<std::pair<int, int>, Cell> cells;
    const int total = p.repeats * static_cast<int>(strategies.size() * p.clients.size());
    int done = 0;
    for (int rep = 0; rep < p.repeats; rep++) {
      for (size_t si = 0; si < strategies.size(); si++) {
        for (int n : p.clients) {
          RunResult r = RunOnce(&server, *strategies[si], n, rep, p);
          done++;
          fprintf(stderr,
                  "[%d/%d] %-16s N=%-3d rep %d: arrivals %lld, last call %.2f s, "
                  "failed %d, peak/10ms %d%s\n",
                  done, total, strategies[si]->name, n, rep,
                  static_cast<long long>(r.server.arrivals), r.completion_s, r.failed,
                  r.server.peak_per_bucket, r.problems.empty() ? "" : "  CHECK FAILED");
          for (const std::string& pr : r.problems) {
            fprintf(stderr, "    check failed: %s\n", pr.c_str());
            failures++;
          }
          if (runs != nullptr) WriteRun(runs, r);
          cells[{static_cast<int>(si), n}].push_back(std::move(r));
        }
      }
    }
    if (runs != nullptr) fclose(runs);
    if (!summary_path.empty()) {
      FILE* f = OpenOrDie(summary_path);
      WriteSummary(f, strategies, p.clients, cells);
      fclose(f);
    }
    FILE* md = md_path.empty() ? stdout : OpenOrDie(md_path);
    WriteMarkdown(md, strategies, p.clients, cells);
    if (md != stdout) fclose(md);
  }
  grpc_shutdown();
  if (failures > 0) fprintf(stderr, "grpcr_herd: %d sanity check(s) failed\n", failures);
  return failures == 0 ? 0 : 1;
}
