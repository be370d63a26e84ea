// The metastable-failure experiment (after "Metastable Failures in the
// Wild", OSDI 2022): a server with a fixed worker pool, an open-loop client
// at a load the server handles easily, and a temporary trigger (the service
// time rises for T seconds). With naive retries the retried load keeps the
// server saturated after the trigger ends: the system stays failed although
// the trigger is gone. The run prints whether, and how fast, the client
// recovers.
//
// The model. One process, two halves talking over 127.0.0.1:
//   server  a C-core server whose handler occupies one of W workers for the
//           service time s (a sleep: capacity C = W / s calls/s is exact and
//           independent of the CPU). Requests wait in a FIFO queue. The
//           handler has an internal limit L (a downstream timeout): a request
//           whose queue wait + service exceeded L is answered UNAVAILABLE,
//           after its work is done. The server never checks whether the
//           client still waits: work for abandoned calls is wasted.
//   client  Poisson arrivals at load x C, each call with deadline D, on one
//           channel configured as --mode says:
//             grpc     gRPC's own retryPolicy (the filter off: channel arg
//                      grpc.resilience.enabled = 0)
//             grpcr    grpc-resilience with its defaults: a method
//                      resilience block (same maxAttempts, UNAVAILABLE), the
//                      default budget, a circuitBreaker block with defaults
//             budget   grpc-resilience without the breaker (budget only)
//             none     no retries at all (the filter off, no retryPolicy)
//   trigger from --warmup seconds on, for --trigger seconds, the service
//           time is --factor times s; then it is s again. With --blackhole
//           the server instead takes every request that arrives during the
//           trigger and never answers it (a black-holed dependency).
//
// Why it stays failed. During the trigger the queue grows until waits
// exceed L, and every answer is UNAVAILABLE. Each call then makes as many
// attempts as fit in its deadline, so the arrival rate becomes k x load x C
// with k up to maxAttempts: above C whenever k > 1 / load. The queue grows
// until waits approach D (then a call has time for one attempt only, k = 1,
// and the queue shrinks again): the wait settles near D - s - backoff, far
// above L, after the trigger is gone. Every answer stays UNAVAILABLE.
//
// Output: --timeline FILE gets one CSV row per 100 ms bucket; the summary
// (one CSV row, with a header if --header) goes to stdout. Times in the
// timeline are seconds since the load started; the trigger starts at
// --warmup.
//
// usage: grpcr_metastable --mode grpc|grpcr|budget|none [--load X]
//          [--trigger T] [--factor F] [--warmup S] [--after S] [--workers W]
//          [--service-ms S] [--limit-ms L] [--deadline-ms D]
//          [--max-attempts N] [--seed N] [--timeline FILE] [--header]
//          [--tag TEXT] [--breaker MEMBERS] [--blackhole]
// --breaker: the grpcr mode's circuitBreaker members as JSON text, to
// compare settings against the defaults (e.g. '"openDuration":"2s"').
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "experiment_util.h"
#include "grpcr/grpcr.h"

namespace {

using namespace grpcr_exp;  // the programs' shared toolbox (experiment_util.h)

constexpr const char* kMethod = "/echo.Echo/Say";
constexpr int64_t kBucketNs = 100 * 1000 * 1000;  // timeline resolution
constexpr int kRequestsPosted = 64;  // request_call tags kept outstanding

struct Options {
  std::string mode = "grpc";
  double load = 0.8;        // offered load as a fraction of capacity
  double trigger_s = 10;    // how long the service time is raised
  double factor = 3;        // by how much
  double warmup_s = 3;      // normal operation before the trigger
  double after_s = 40;      // observation after the trigger ends
  int workers = 10;         // W
  double service_ms = 50;   // s: capacity C = W / s = 200 calls/s
  double limit_ms = 500;    // L: the handler's internal limit
  double deadline_ms = 1500;  // D: the client's per-call deadline
  int max_attempts = 5;
  uint64_t seed = 1;
  std::string timeline_path;
  bool header = false;
  std::string tag;
  // The circuitBreaker block's members for mode grpcr ("" : the defaults),
  // to compare settings (e.g. "\"openDuration\":\"2s\"").
  std::string breaker;
  bool blackhole = false;  // the trigger holds requests unanswered
};

// ---- the timeline ----------------------------------------------------------

// Per-100-ms counters, written by the server, the client and the sampler
// (relaxed atomics: only their totals matter, read after the run).
struct Bucket {
  std::atomic<int64_t> offered{0};     // calls the client started
  std::atomic<int64_t> arrivals{0};    // attempts that reached the server
  std::atomic<int64_t> retry_arrivals{0};  // of those, retries
  std::atomic<int64_t> ok{0};          // calls finished OK (goodput)
  std::atomic<int64_t> failed{0};      // calls finished otherwise
  std::atomic<int64_t> unavailable{0};  // of those: UNAVAILABLE from server
  std::atomic<int64_t> rejected{0};    // failed fast by the breaker
  std::atomic<int64_t> throttled{0};   // failed fast by adaptive throttling
  std::atomic<int64_t> deadline{0};    // DEADLINE_EXCEEDED
  std::atomic<int64_t> busy_ns{0};     // worker time spent serving
  std::atomic<int64_t> queue{-1};      // FIFO length sampled in the bucket
  std::atomic<int> breaker{0};  // 0 none, 1 CLOSED, 2 OPEN, 3 HALF_OPEN
};

class Timeline {
 public:
  explicit Timeline(double seconds)
      : buckets_(static_cast<size_t>(seconds * 1e9 / kBucketNs) + 1) {}
  // Until Begin, every count goes to a scratch bucket (the warm-up).
  void Begin(int64_t start_ns) { start_ns_.store(start_ns); }
  // The bucket holding time t: a scratch bucket before the start, the
  // last one after the end.
  Bucket& At(int64_t t_ns) {
    const int64_t start = start_ns_.load();
    if (t_ns < start) return before_;
    int64_t i = (t_ns - start) / kBucketNs;
    i = std::min<int64_t>(i, static_cast<int64_t>(buckets_.size()) - 1);
    return buckets_[static_cast<size_t>(i)];
  }
  // Adds the busy interval [from, to) to the buckets it overlaps.
  void AddBusy(int64_t from, int64_t to) {
    const int64_t start = start_ns_.load();
    from = std::max(from, start);
    while (from < to) {
      const int64_t edge = start + ((from - start) / kBucketNs + 1) * kBucketNs;
      const int64_t end = std::min(to, edge);
      At(from).busy_ns.fetch_add(end - from, std::memory_order_relaxed);
      from = end;
    }
  }
  size_t size() const { return buckets_.size(); }
  const Bucket& operator[](size_t i) const { return buckets_[i]; }

 private:
  std::atomic<int64_t> start_ns_{INT64_MAX};
  std::vector<Bucket> buckets_;
  Bucket before_;  // the warm-up call, not reported
};

// ---- the server --------------------------------------------------------------

class Server;

// One server call: request_call, read the request, wait in the queue, be
// served by a worker, send the answer.
struct ServerCall : Tagged, IncomingCall {
  enum Phase { kRequested, kReading, kAnswering };
  explicit ServerCall(Server* s);
  void* tag() { return static_cast<Tagged*>(this); }
  bool Proceed(bool ok) override;
  void Answer(bool ok_status);

  Server* server;
  Phase phase = kRequested;
  int64_t arrived_ns = 0;
};

class Server {
 public:
  Server(const Options& o, Timeline* tl) : opt_(o), tl_(tl) {
    std::vector<int> ports;
    server_ = StartLoopbackServer(queue_.cq(), nullptr, 1, &ports);
    port_ = ports[0];
    for (int i = 0; i < kRequestsPosted; i++) PostRequest();
    queue_.Start();
    for (int i = 0; i < o.workers; i++) workers_.emplace_back([this] { Work(); });
  }

  int port() const { return port_; }
  // The service time is factor x s in [from, to).
  void SetTrigger(int64_t from_ns, int64_t to_ns) {
    trigger_from_.store(from_ns);
    trigger_to_.store(to_ns);
  }

  // Posts one request_call (a no-op once shutting down).
  void PostRequest() {
    if (stopping_.load()) return;
    auto* c = new ServerCall(this);
    if (c->RequestCall(server_, queue_.cq(), c->tag()) != GRPC_CALL_OK) {
      delete c;
    }
  }

  // A request has been read: it joins the FIFO.
  void Enqueue(ServerCall* c) {
    c->arrived_ns = NowNs();
    Bucket& b = tl_->At(c->arrived_ns);
    b.arrivals.fetch_add(1, std::memory_order_relaxed);
    if (IsRetryAttempt(c->md)) {
      b.retry_arrivals.fetch_add(1, std::memory_order_relaxed);
      retry_arrivals_total_++;
    }
    arrivals_total_++;
    std::lock_guard<std::mutex> lock(mu_);
    if (opt_.blackhole && c->arrived_ns >= trigger_from_ &&
        c->arrived_ns < trigger_to_) {
      held_.push_back(c);  // answered only at shutdown
      return;
    }
    fifo_.push_back(c);
    cv_.notify_one();
  }

  size_t QueueLength() {
    std::lock_guard<std::mutex> lock(mu_);
    return fifo_.size();
  }

  // A worker: takes the oldest request, holds it for the service time in
  // force when it starts, then answers OK, or UNAVAILABLE if the request
  // spent more than L in the server. Once stopping, answers at once.
  //
  // Service runs on the worker's own clock: a request starts when the
  // worker became free (or when it arrived, if later), not when its thread
  // happened to wake up. On a loaded machine a sleeping thread wakes late
  // by milliseconds; measured from the wake-up, every call would take
  // s + lateness and the capacity would drop below W / s. On this clock the
  // lateness delays an answer but never accumulates, so the capacity stays
  // exactly W / s.
  void Work() {
    int64_t free_at = 0;  // when this worker finished its last request
    for (;;) {
      ServerCall* c;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !fifo_.empty() || stopping_.load(); });
        if (fifo_.empty()) return;
        c = fifo_.front();
        fifo_.pop_front();
      }
      if (stopping_.load()) {
        c->Answer(false);
        continue;
      }
      const int64_t start = std::max(free_at, c->arrived_ns);
      const bool slow = start >= trigger_from_ && start < trigger_to_;
      const int64_t end = start + static_cast<int64_t>(
          opt_.service_ms * 1e6 * (slow ? opt_.factor : 1.0));
      SleepUntilNs(end);
      free_at = end;
      tl_->AddBusy(start, end);
      busy_ns_total_ += end - start;
      const bool in_time =
          end - c->arrived_ns <= static_cast<int64_t>(opt_.limit_ms * 1e6);
      (in_time ? answered_ok_ : answered_unavailable_)++;
      c->Answer(in_time);
    }
  }

  // Counts an answer the client was no longer waiting for.
  void OnAnswered(bool client_gone) {
    if (client_gone) wasted_++;
  }
  LiveCount* live() { return &live_; }

  // Stops accepting, answers what is queued, waits for every call object.
  void Shutdown() {
    stopping_.store(true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    for (auto& w : workers_) w.join();
    for (ServerCall* c : held_) c->Answer(false);
    held_.clear();
    ShutdownServer(server_);
    live_.WaitForZero();
    grpc_server_destroy(server_);
    queue_.Shutdown();
  }

  std::atomic<int64_t> arrivals_total_{0}, retry_arrivals_total_{0};
  std::atomic<int64_t> answered_ok_{0}, answered_unavailable_{0};
  std::atomic<int64_t> wasted_{0}, busy_ns_total_{0};

 private:
  const Options opt_;
  Timeline* tl_;
  std::atomic<int64_t> trigger_from_{INT64_MAX}, trigger_to_{INT64_MAX};
  PolledQueue queue_;
  grpc_server* server_;
  int port_ = 0;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ServerCall*> fifo_;  // guarded by mu_
  std::vector<ServerCall*> held_;  // black-holed requests, guarded by mu_
  LiveCount live_;  // ServerCall objects alive
  std::atomic<bool> stopping_{false};
};

ServerCall::ServerCall(Server* s) : IncomingCall(s->live()), server(s) {}

bool ServerCall::Proceed(bool ok) {
  switch (phase) {
    case kRequested: {
      if (!ok) return false;  // the server is shutting down
      server->PostRequest();
      phase = kReading;
      return StartRead(tag()) == GRPC_CALL_OK;
    }
    case kReading:
      if (!ok) return false;  // cancelled before its request arrived
      server->Enqueue(this);
      return true;  // a worker owns it now
    case kAnswering:
      server->OnAnswered(cancelled != 0);
      return false;
  }
  return false;
}

// OK: headers, the echo and the status. UNAVAILABLE: headers and status
// with no message, a Trailers-Only answer the client may retry (see
// IncomingCall::StartAnswer).
void ServerCall::Answer(bool ok_status) {
  phase = kAnswering;
  if (StartAnswer(ok_status ? GRPC_STATUS_OK : GRPC_STATUS_UNAVAILABLE,
                  ok_status,
                  ok_status ? "" : "metastable: over the internal limit",
                  tag()) != GRPC_CALL_OK) {
    delete this;
  }
}

// ---- the client ----------------------------------------------------------------

// The channel's service config for each mode. The base backoff sequence is
// the same in both retry layers (0.1 s, x2); gRPC jitters it by +-20%,
// grpc-resilience by its default FULL jitter.
std::string ServiceConfig(const Options& o) {
  const std::string n = std::to_string(o.max_attempts);
  const std::string name = "\"name\":[{\"service\":\"echo.Echo\"}]";
  if (o.mode == "grpc") {
    return "{\"methodConfig\":[{" + name + ",\"retryPolicy\":{\"maxAttempts\":" +
           n + ",\"initialBackoff\":\"0.1s\",\"maxBackoff\":\"10s\","
           "\"backoffMultiplier\":2,\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
  }
  const std::string method =
      "\"methodConfig\":[{" + name + ",\"resilience\":{\"maxAttempts\":" + n +
      ",\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]";
  if (o.mode == "grpcr") {
    return "{\"resilience\":{\"circuitBreaker\":{" + o.breaker + "}}," +
           method + "}";
  }
  if (o.mode == "budget") return "{" + method + "}";
  return "{}";  // none
}

class Client;

// One call of the open-loop client, from start to its final status.
struct ClientCall : Tagged, OutgoingCall {
  ClientCall(Client* c, grpc_call* k) : client(c) { call = k; }
  bool Proceed(bool ok) override;

  Client* client;
};

class Client {
 public:
  Client(const Options& o, int port, Timeline* tl) : opt_(o), tl_(tl) {
    config_ = ServiceConfig(o);
    const bool filter = o.mode == "grpcr" || o.mode == "budget";
    channel_ = CreateChannel(LoopbackTarget(port),
                             {StringArg(GRPC_ARG_SERVICE_CONFIG, config_.c_str()),
                              IntArg(GRPCR_ARG_ENABLE, filter ? 1 : 0),
                              StringArg(GRPCR_ARG_NAME, "metastable")});
    queue_.Start();
  }

  // Starts one call; its completion lands on the poller.
  void Start() {
    const int64_t now = NowNs();
    tl_->At(now).offered.fetch_add(1, std::memory_order_relaxed);
    grpc_call* k = grpc_channel_create_call(
        channel_, nullptr, 0, queue_.cq(), grpc_slice_from_static_string(kMethod),
        nullptr,
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_micros(
                         static_cast<int64_t>(opt_.deadline_ms * 1e3),
                         GPR_TIMESPAN)),
        nullptr);
    auto* c = new ClientCall(this, k);
    c->SetRequest("0123456789abcdef");
    in_flight_++;
    if (c->Start(static_cast<Tagged*>(c)) != GRPC_CALL_OK) {
      fprintf(stderr, "grpcr_metastable: start_batch failed\n");
      abort();
    }
  }

  // A call has its final status.
  void Finish(const ClientCall& c) {
    Bucket& b = tl_->At(NowNs());
    if (c.status == GRPC_STATUS_OK) {
      b.ok.fetch_add(1, std::memory_order_relaxed);
    } else {
      b.failed.fetch_add(1, std::memory_order_relaxed);
      if (c.status == GRPC_STATUS_DEADLINE_EXCEEDED) {
        b.deadline.fetch_add(1, std::memory_order_relaxed);
      } else if (c.status == GRPC_STATUS_UNAVAILABLE) {
        // The breaker's fast failures say so in their details.
        auto starts = [&c](const char* prefix) {
          const size_t n = strlen(prefix);
          return GRPC_SLICE_LENGTH(c.details) >= n &&
                 memcmp(GRPC_SLICE_START_PTR(c.details), prefix, n) == 0;
        };
        (starts("circuit breaker open")         ? b.rejected
         : starts("circuit breaker throttling") ? b.throttled
                                                : b.unavailable)
            .fetch_add(1, std::memory_order_relaxed);
      }
    }
    in_flight_--;
  }

  // Waits (at most the deadline and a margin) for every call to finish.
  void Drain() {
    const int64_t until = NowNs() + static_cast<int64_t>(opt_.deadline_ms * 1e6) +
                          INT64_C(5000000000);
    while (in_flight_.load() > 0 && NowNs() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void Shutdown() {
    grpc_channel_destroy(channel_);
    queue_.Shutdown();
  }

 private:
  const Options opt_;
  Timeline* tl_;
  std::string config_;
  grpc_channel* channel_;
  PolledQueue queue_;
  std::atomic<int64_t> in_flight_{0};
};

bool ClientCall::Proceed(bool /*ok*/) {
  client->Finish(*this);
  return false;
}

// ---- the report ------------------------------------------------------------

// One second of the timeline, summed from its ten buckets.
struct Second {
  int64_t offered = 0, arrivals = 0, ok = 0;
};

// Recovery: the first whole second after the trigger ends from which three
// consecutive seconds each have goodput >= 90% of the calls offered in
// them (three, so that one lucky second between breaker openings is not a
// recovery). Returns seconds after the trigger end, or -1.
double RecoveryTime(const std::vector<Second>& s, int first) {
  auto good = [&](size_t i) {
    return i < s.size() && s[i].offered > 0 &&
           static_cast<double>(s[i].ok) >= 0.9 * static_cast<double>(s[i].offered);
  };
  for (size_t i = static_cast<size_t>(first); i + 2 < s.size(); i++) {
    if (good(i) && good(i + 1) && good(i + 2)) return static_cast<double>(i - first);
  }
  return -1;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  const bool parsed =
      ParseFlags(argc, argv, {"--header", "--blackhole"}, [o](const std::string& a, const char* v) {
        if (a == "--header") o->header = true;
        else if (a == "--blackhole") o->blackhole = true;
        else if (a == "--mode") o->mode = v;
        else if (a == "--load") o->load = atof(v);
        else if (a == "--trigger") o->trigger_s = atof(v);
        else if (a == "--factor") o->factor = atof(v);
        else if (a == "--warmup") o->warmup_s = atof(v);
        else if (a == "--after") o->after_s = atof(v);
        else if (a == "--workers") o->workers = atoi(v);
        else if (a == "--service-ms") o->service_ms = atof(v);
        else if (a == "--limit-ms") o->limit_ms = atof(v);
        else if (a == "--deadline-ms") o->deadline_ms = atof(v);
        else if (a == "--max-attempts") o->max_attempts = atoi(v);
        else if (a == "--seed") o->seed = strtoull(v, nullptr, 10);
        else if (a == "--timeline") o->timeline_path = v;
        else if (a == "--tag") o->tag = v;
        else if (a == "--breaker") o->breaker = v;
        else return false;
        return true;
      });
  return parsed && (o->mode == "grpc" || o->mode == "grpcr" || o->mode == "budget" ||
         o->mode == "none");
}

const char* StateName(int s) {
  static const char* names[] = {"-", "CLOSED", "OPEN", "HALF_OPEN"};
  return s >= 0 && s <= 3 ? names[s] : "?";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    fprintf(stderr,
            "usage: grpcr_metastable --mode grpc|grpcr|budget|none [--load X] "
            "[--trigger T] [--factor F] [--warmup S] [--after S] [--workers W] "
            "[--service-ms S] [--limit-ms L] [--deadline-ms D] "
            "[--max-attempts N] [--seed N] [--timeline FILE] [--header] "
            "[--tag TEXT] [--breaker MEMBERS] [--blackhole]\n");
    return 2;
  }
  if (!RegisterAndInit()) return 1;
  const double capacity = opt.workers * 1000.0 / opt.service_ms;
  const double rate = opt.load * capacity;
  const double run_s = opt.warmup_s + opt.trigger_s + opt.after_s;
  // A first call resolves and connects the channel, which is not what is
  // measured: its counts fall before the timeline begins.
  Timeline timeline(run_s + opt.deadline_ms / 1e3 + 1);
  Server srv(opt, &timeline);
  Client client(opt, srv.port(), &timeline);
  client.Start();
  client.Drain();
  const int64_t t0 = NowNs() + INT64_C(100000000);
  const int64_t trigger_from = t0 + static_cast<int64_t>(opt.warmup_s * 1e9);
  const int64_t trigger_to =
      trigger_from + static_cast<int64_t>(opt.trigger_s * 1e9);
  timeline.Begin(t0);
  srv.SetTrigger(trigger_from, trigger_to);
  std::unique_ptr<StatsReader> stats;
  if (opt.mode == "grpcr" || opt.mode == "budget") stats.reset(new StatsReader());

  // The sampler: queue length and breaker state, once per bucket.
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    for (int64_t t = t0; !done.load(); t += kBucketNs) {
      SleepUntilNs(t + kBucketNs / 2);
      Bucket& b = timeline.At(NowNs());
      b.queue.store(static_cast<int64_t>(srv.QueueLength()));
      ChannelStats cs;
      if (stats && stats->ReadFirst(&cs)) b.breaker.store(cs.breaker_state);
    }
  });

  // Open loop: Poisson arrivals, whatever the calls in flight are doing.
  std::mt19937_64 rng(opt.seed);
  std::exponential_distribution<double> gap(rate);
  SleepUntilNs(t0);
  const int64_t end = t0 + static_cast<int64_t>(run_s * 1e9);
  for (double t = static_cast<double>(t0);;) {
    t += gap(rng) * 1e9;
    if (t >= static_cast<double>(end)) break;
    SleepUntilNs(static_cast<int64_t>(t));
    client.Start();
  }
  client.Drain();
  done.store(true);
  sampler.join();
  ChannelStats cs;
  const bool have_stats = stats && stats->ReadFirst(&cs);
  stats.reset();
  client.Shutdown();
  srv.Shutdown();

  // Per-second view of the run, from the 100 ms buckets.
  const size_t run_buckets = static_cast<size_t>(run_s * 1e9 / kBucketNs);
  std::vector<Second> secs(run_buckets / 10);
  int64_t offered = 0, ok_total = 0, ok_after = 0, offered_after = 0;
  int64_t ok_from_trigger = 0, offered_from_trigger = 0;  // the goodput
  const size_t trigger_bucket = static_cast<size_t>(opt.warmup_s * 1e9 / kBucketNs);
  const size_t after_bucket =
      static_cast<size_t>((opt.warmup_s + opt.trigger_s) * 1e9 / kBucketNs);
  std::vector<int> breaker_path;  // sampled states, deduplicated
  for (size_t i = 0; i < run_buckets; i++) {
    const Bucket& b = timeline[i];
    if (i / 10 < secs.size()) {
      secs[i / 10].offered += b.offered.load();
      secs[i / 10].arrivals += b.arrivals.load();
      secs[i / 10].ok += b.ok.load();
    }
    offered += b.offered.load();
    ok_total += b.ok.load();
    if (i >= trigger_bucket) {
      ok_from_trigger += b.ok.load();
      offered_from_trigger += b.offered.load();
    }
    if (i >= after_bucket) {
      ok_after += b.ok.load();
      offered_after += b.offered.load();
    }
    const int st = b.breaker.load();
    if (st != 0 && (breaker_path.empty() || breaker_path.back() != st)) {
      breaker_path.push_back(st);
    }
  }
  // The trigger seen through the breaker's sampled states: when it first
  // read OPEN (seconds after the trigger started), the server arrivals
  // during the trigger from then on, the calls offered before; and how long
  // after the trigger ended it was CLOSED for good.
  double first_open_s = -1, closed_after_s = 0;
  int64_t trigger_arrivals = 0, arrivals_after_open = 0, offered_before_open = 0;
  int64_t queue_max = 0;
  for (size_t i = 0; i < run_buckets; i++) {
    const Bucket& b = timeline[i];
    queue_max = std::max<int64_t>(queue_max, b.queue.load());
    if (i < trigger_bucket || i >= after_bucket) continue;
    trigger_arrivals += b.arrivals.load();
    if (first_open_s < 0 && b.breaker.load() == 2) {
      first_open_s = static_cast<double>(i - trigger_bucket) * kBucketNs / 1e9;
    }
    if (first_open_s >= 0) {
      arrivals_after_open += b.arrivals.load();
    } else {
      offered_before_open += b.offered.load();
    }
  }
  for (size_t i = run_buckets; i-- > after_bucket;) {
    const int st = timeline[i].breaker.load();
    if (st == 2 || st == 3) {
      closed_after_s = static_cast<double>(i + 1 - after_bucket) * kBucketNs / 1e9;
      if (i + 1 == run_buckets) closed_after_s = -1;  // never closed again
      break;
    }
  }
  int64_t throttled_calls = 0;
  for (size_t i = 0; i < run_buckets; i++) throttled_calls += timeline[i].throttled.load();
  const int first_after = static_cast<int>(opt.warmup_s + opt.trigger_s + 0.999);
  const double recovery = RecoveryTime(secs, first_after);
  // The last 10 s of the run: the state the system settled in.
  int64_t ok_tail = 0, offered_tail = 0, arrivals_tail = 0;
  for (size_t i = secs.size() >= 10 ? secs.size() - 10 : 0; i < secs.size(); i++) {
    ok_tail += secs[i].ok;
    offered_tail += secs[i].offered;
    arrivals_tail += secs[i].arrivals;
  }
  const double busy_after_s =
      [&] {
        int64_t ns = 0;
        for (size_t i = after_bucket; i < run_buckets; i++) ns += timeline[i].busy_ns.load();
        return static_cast<double>(ns) / 1e9;
      }();
  std::string path;
  for (int st : breaker_path) path += std::string(path.empty() ? "" : ">") + StateName(st);

  if (!opt.timeline_path.empty()) {
    FILE* f = fopen(opt.timeline_path.c_str(), "w");
    if (f == nullptr) {
      perror(opt.timeline_path.c_str());
      return 1;
    }
    fprintf(f, "t_s,offered,arrivals,retry_arrivals,goodput,failed,unavailable,"
               "breaker_rejected,deadline_exceeded,queue,utilisation,"
               "service_ms,breaker_state,throttled\n");
    for (size_t i = 0; i < run_buckets; i++) {
      const Bucket& b = timeline[i];
      const int64_t mid = t0 + static_cast<int64_t>(i) * kBucketNs + kBucketNs / 2;
      const bool slow = mid >= trigger_from && mid < trigger_to;
      fprintf(f, "%.1f,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%.3f,%.0f,%d,%lld\n",
              static_cast<double>(i) * kBucketNs / 1e9,
              static_cast<long long>(b.offered.load()),
              static_cast<long long>(b.arrivals.load()),
              static_cast<long long>(b.retry_arrivals.load()),
              static_cast<long long>(b.ok.load()),
              static_cast<long long>(b.failed.load()),
              static_cast<long long>(b.unavailable.load()),
              static_cast<long long>(b.rejected.load()),
              static_cast<long long>(b.deadline.load()),
              static_cast<long long>(std::max<int64_t>(b.queue.load(), 0)),
              static_cast<double>(b.busy_ns.load()) / (kBucketNs * opt.workers),
              opt.service_ms * (slow ? opt.factor : 1.0), b.breaker.load(),
              static_cast<long long>(b.throttled.load()));
    }
    fclose(f);
  }

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const double after_s = opt.after_s;
  // The filter's counters (empty where the mode has no filter or breaker).
  const auto count = CountOrEmpty;
  const bool breaker = have_stats && opt.mode == "grpcr";
  const std::string retries = count(have_stats, cs.retries);
  const std::string denied = count(have_stats, cs.budget_denied);
  const std::string rejected = count(have_stats, cs.breaker_rejected);
  const std::string transitions = count(breaker, cs.transitions);
  const std::string opened = count(breaker, cs.opened);
  if (opt.header) {
    printf("tag,mode,load,trigger_s,seed,capacity,rate,offered,goodput_total,"
           "recovery_s,goodput_after,offered_after,goodput_ratio_after,"
           "goodput_ratio_tail,arrivals_per_s_tail,utilisation_after,"
           "server_arrivals,server_retry_arrivals,answered_ok,answered_unavailable,"
           "wasted_answers,retries,budget_denied,breaker_rejected,"
           "breaker_transitions,breaker_opened,breaker_path,cpu_s,"
           "goodput_ratio_from_trigger,throttled,queue_max,first_open_s,"
           "offered_before_open,trigger_arrivals,arrivals_after_open,"
           "closed_after_s,open_period_s\n");
  }
  printf("%s,%s,%.2f,%.1f,%llu,%.0f,%.0f,%lld,%lld,%.0f,%lld,%lld,%.3f,%.3f,"
         "%.0f,%.3f,%lld,%lld,%lld,%lld,%lld,%s,%s,%s,%s,%s,%s,%.1f,%.3f,%lld,"
         "%lld,%.1f,%lld,%lld,%lld,%.1f,%s\n",
         opt.tag.empty() ? "-" : opt.tag.c_str(), opt.mode.c_str(), opt.load,
         opt.trigger_s, static_cast<unsigned long long>(opt.seed), capacity, rate,
         static_cast<long long>(offered), static_cast<long long>(ok_total),
         recovery, static_cast<long long>(ok_after),
         static_cast<long long>(offered_after),
         offered_after > 0 ? static_cast<double>(ok_after) / offered_after : 0.0,
         offered_tail > 0 ? static_cast<double>(ok_tail) / offered_tail : 0.0,
         static_cast<double>(arrivals_tail) / 10.0,
         busy_after_s / (after_s * opt.workers),
         static_cast<long long>(srv.arrivals_total_.load()),
         static_cast<long long>(srv.retry_arrivals_total_.load()),
         static_cast<long long>(srv.answered_ok_.load()),
         static_cast<long long>(srv.answered_unavailable_.load()),
         static_cast<long long>(srv.wasted_.load()),
         retries.c_str(), denied.c_str(), rejected.c_str(), transitions.c_str(),
         opened.c_str(),
         path.empty() ? "-" : path.c_str(), cpu_s,
         offered_from_trigger > 0
             ? static_cast<double>(ok_from_trigger) / offered_from_trigger
             : 0.0,
         static_cast<long long>(throttled_calls), static_cast<long long>(queue_max),
         first_open_s, static_cast<long long>(offered_before_open),
         static_cast<long long>(trigger_arrivals),
         static_cast<long long>(arrivals_after_open), closed_after_s,
         breaker ? std::to_string(cs.open_period_s).c_str() : "");
  grpc_shutdown();
  return 0;
}
