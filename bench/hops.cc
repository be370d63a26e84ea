// Retry amplification across hops: a client calls S1, whose handler calls
// S2, whose handler calls S3, which always fails UNAVAILABLE. S1 and S2
// return the status they got from below (a Trailers-Only answer), so the
// hop above may retry it. Every hop's channel (client -> S1 "hop1",
// S1 -> S2 "hop2", S2 -> S3 "hop3") carries the same retry configuration:
//   grpc     gRPC's own retryPolicy, maxAttempts 5 (the filter off on every
//            channel): each hop multiplies the attempts of the hop above by
//            up to 5, so S3 sees up to 5^3 = 125 attempts per client call
//   grpcr    grpc-resilience, maxAttempts 5 and the default retry budget
//            (ratio 0.1, floor 10 retries/s, window 10 s), per channel
//   breaker  the same plus a circuitBreaker block with its defaults
// The three servers run in this process, on 127.0.0.1. The client is an
// open loop: --rate calls/s for --duration seconds, each with a 60 s
// deadline that the hops propagate.
//
// The bound for grpcr: a channel's budget allows, over its requests N, at
// most ratio x N retries plus the floor, minRetriesPerSecond x window, once
// for each time its window can empty (see FloorAllowance). The requests of hop k are the attempts
// of hop k-1 (each attempt that reaches S(k-1) makes one call below), so
//   A(0) = N (client calls),  A(k) <= (1 + ratio) A(k-1) + floor(span)
// and S3's arrivals per client call stay within A(3) / N, about
// (1 + ratio)^3 plus the floor's share.
//
// Output: one CSV row per hop on stdout (with a header if --header); a
// summary on stderr.
//
// usage: grpcr_hops --mode grpc|grpcr|breaker [--rate R] [--duration S]
//          [--seed N] [--header] [--tag TEXT]
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "experiment_util.h"
#include "grpcr/grpcr.h"

namespace {

using namespace grpcr_exp;  // the programs' shared toolbox (experiment_util.h)

constexpr const char* kMethod = "/echo.Echo/Say";
constexpr int kHops = 3;
constexpr int kRequestsPosted = 64;
constexpr double kRatio = 0.1;         // the budget's defaults
constexpr double kFloorPerS = 10;
constexpr double kWindowS = 10;

struct Options {
  std::string mode = "grpc";
  double rate = 50;       // client calls per second
  double duration_s = 10;
  uint64_t seed = 1;
  bool header = false;
  std::string tag;
};

// Every hop's channel has the same retry configuration (see the top).
std::string ServiceConfig(const std::string& mode) {
  const std::string name = "\"name\":[{\"service\":\"echo.Echo\"}]";
  const std::string backoff =
      "\"initialBackoff\":\"0.01s\",\"maxBackoff\":\"0.05s\","
      "\"backoffMultiplier\":2,\"retryableStatusCodes\":[\"UNAVAILABLE\"]";
  if (mode == "grpc") {
    return "{\"methodConfig\":[{" + name +
           ",\"retryPolicy\":{\"maxAttempts\":5," + backoff + "}}]}";
  }
  const std::string method = "\"methodConfig\":[{" + name +
                             ",\"resilience\":{\"maxAttempts\":5," + backoff +
                             "}}]";
  if (mode == "breaker") {
    return "{\"resilience\":{\"circuitBreaker\":{}}," + method + "}";
  }
  return "{" + method + "}";
}

grpc_channel* MakeChannel(int port, const std::string& config, bool filter,
                          const std::string& name) {
  return CreateChannel(LoopbackTarget(port),
                       {StringArg(GRPC_ARG_SERVICE_CONFIG, config.c_str()),
                        IntArg(GRPCR_ARG_ENABLE, filter ? 1 : 0),
                        StringArg(GRPCR_ARG_NAME, name.c_str())});
}

// The client side of one unary call, started on any queue; `done` runs
// with the final status when it completes.
struct OutboundCall : Tagged, OutgoingCall {
  using Done = void (*)(void* arg, grpc_status_code status);
  OutboundCall(grpc_channel* ch, grpc_call* parent, grpc_completion_queue* cq,
               gpr_timespec deadline, Done d, void* a)
      : done(d), arg(a) {
    call = grpc_channel_create_call(
        ch, parent, parent != nullptr ? GRPC_PROPAGATE_DEFAULTS : 0, cq,
        grpc_slice_from_static_string(kMethod), nullptr, deadline, nullptr);
    SetRequest("0123456789abcdef");
    if (Start(static_cast<Tagged*>(this)) != GRPC_CALL_OK) {
      fprintf(stderr, "grpcr_hops: start_batch failed\n");
      abort();
    }
  }
  bool Proceed(bool /*ok*/) override {
    done(arg, status);
    return false;
  }

  Done done;
  void* arg;
};

// One server of the chain. With a `next` channel its handler calls the next
// hop and answers with that call's status; without one (S3) it answers
// UNAVAILABLE at once.
class Hop {
 public:
  Hop() {
    std::vector<int> ports;
    server_ = StartLoopbackServer(queue_.cq(), nullptr, 1, &ports);
    port_ = ports[0];
    for (int i = 0; i < kRequestsPosted; i++) PostRequest();
    queue_.Start();
  }
  int port() const { return port_; }
  void SetNext(grpc_channel* next) { next_ = next; }
  int64_t arrivals() const { return arrivals_.load(); }
  int64_t retry_arrivals() const { return retry_arrivals_.load(); }

  void Shutdown() {
    stopping_.store(true);
    ShutdownServer(server_);
    live_.WaitForZero();
    grpc_server_destroy(server_);
    queue_.Shutdown();
  }

 private:
  // request_call, read the request, (call below), answer.
  struct Call : Tagged, IncomingCall {
    enum Phase { kRequested, kReading, kCallingNext, kAnswering };
    explicit Call(Hop* h) : IncomingCall(&h->live_), hop(h) {}
    void* tag() { return static_cast<Tagged*>(this); }
    bool Proceed(bool ok) override {
      switch (phase) {
        case kRequested: {
          if (!ok) return false;
          hop->PostRequest();
          hop->CountArrival(md);
          phase = kReading;
          return StartRead(tag()) == GRPC_CALL_OK;
        }
        case kReading:
          if (!ok) return false;
          if (hop->next_ == nullptr) {
            Answer(GRPC_STATUS_UNAVAILABLE);
          } else {
            phase = kCallingNext;
            // The hop below gets this call's deadline and cancellation.
            new OutboundCall(hop->next_, call, hop->queue_.cq(),
                             gpr_inf_future(GPR_CLOCK_REALTIME), &Call::OnNext,
                             this);
          }
          return true;
        case kCallingNext:
        case kAnswering:
          return false;
      }
      return false;
    }
    static void OnNext(void* arg, grpc_status_code status) {
      static_cast<Call*>(arg)->Answer(status);
    }
    // Headers and status in one batch, no message: a Trailers-Only answer
    // that the hop above may retry.
    void Answer(grpc_status_code status) {
      phase = kAnswering;
      if (StartAnswer(status, false, "hops: failed below", tag()) !=
          GRPC_CALL_OK) {
        delete this;
      }
    }

    Hop* hop;
    Phase phase = kRequested;
  };

  void PostRequest() {
    if (stopping_.load()) return;
    auto* c = new Call(this);
    if (c->RequestCall(server_, queue_.cq(), c->tag()) != GRPC_CALL_OK) {
      delete c;
    }
  }
  void CountArrival(const grpc_metadata_array& md) {
    arrivals_++;
    if (IsRetryAttempt(md)) retry_arrivals_++;
  }

  PolledQueue queue_;
  grpc_server* server_;
  int port_ = 0;
  grpc_channel* next_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> arrivals_{0}, retry_arrivals_{0};
  LiveCount live_;  // Call objects alive
};

// ---- the client ------------------------------------------------------------------

struct ClientState {
  std::atomic<int64_t> in_flight{0}, ok{0}, failed{0};
  std::atomic<int64_t> last_done_ns{0};
};

void OnClientDone(void* arg, grpc_status_code status) {
  auto* s = static_cast<ClientState*>(arg);
  (status == GRPC_STATUS_OK ? s->ok : s->failed)++;
  s->last_done_ns.store(NowNs());
  s->in_flight--;
}

// The floor a channel's budget adds over a span of traffic. The window is
// 20 buckets of window / 20 aligned to the clock, so a retry leaves it
// between 19/20 and 20/20 of a window after it was spent; the floor
// (minRetriesPerSecond x window) is therefore granted once at the start
// and once more every 19/20 window at most.
double FloorAllowance(double span_s) {
  const double min_window_s = kWindowS * 19.0 / 20.0;
  return kFloorPerS * kWindowS * (floor(span_s / min_window_s) + 1);
}

bool ParseArgs(int argc, char** argv, Options* o) {
  const bool parsed =
      ParseFlags(argc, argv, {"--header"}, [o](const std::string& a, const char* v) {
        if (a == "--header") o->header = true;
        else if (a == "--mode") o->mode = v;
        else if (a == "--rate") o->rate = atof(v);
        else if (a == "--duration") o->duration_s = atof(v);
        else if (a == "--seed") o->seed = strtoull(v, nullptr, 10);
        else if (a == "--tag") o->tag = v;
        else return false;
        return true;
      });
  return parsed && (o->mode == "grpc" || o->mode == "grpcr" || o->mode == "breaker") &&
         o->rate > 0 && o->duration_s > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    fprintf(stderr,
            "usage: grpcr_hops --mode grpc|grpcr|breaker [--rate R] "
            "[--duration S] [--seed N] [--header] [--tag TEXT]\n");
    return 2;
  }
  if (!RegisterAndInit()) return 1;
  const bool filter = opt.mode != "grpc";
  const std::string config = ServiceConfig(opt.mode);
  // hops[0] is S1 .. hops[2] is S3; channels[k] leads to hops[k], named
  // "hop<k+1>"; channels[0] is the client's.
  std::vector<std::unique_ptr<Hop>> hops;
  for (int k = 0; k < kHops; k++) hops.emplace_back(new Hop());
  std::vector<grpc_channel*> channels;
  for (int k = 0; k < kHops; k++) {
    channels.push_back(MakeChannel(hops[k]->port(), config, filter,
                                   "hop" + std::to_string(k + 1)));
  }
  for (int k = 0; k + 1 < kHops; k++) hops[k]->SetNext(channels[k + 1]);

  // Open loop at a fixed rate; the client's queue has its own poller.
  PolledQueue client_queue;
  client_queue.Start();
  ClientState state;
  const int64_t start = NowNs();
  const int64_t calls = static_cast<int64_t>(opt.rate * opt.duration_s);
  for (int64_t i = 0; i < calls; i++) {
    SleepUntilNs(start + static_cast<int64_t>(static_cast<double>(i) * 1e9 / opt.rate));
    state.in_flight++;
    new OutboundCall(channels[0], nullptr, client_queue.cq(),
                     gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                  gpr_time_from_seconds(60, GPR_TIMESPAN)),
                     &OnClientDone, &state);
  }
  while (state.in_flight.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double span_s = static_cast<double>(state.last_done_ns.load() - start) / 1e9;

  std::vector<ChannelStats> stats;
  bool have_stats = false;
  if (filter) {
    StatsReader reader;
    have_stats = reader.Read(&stats);
  }

  // The bound, hop by hop, for the budget's defaults over this run.
  const double floor = FloorAllowance(span_s);
  double bound = static_cast<double>(calls);
  if (opt.header) {
    printf("tag,mode,rate,duration_s,seed,calls,span_s,hop,arrivals,"
           "arrivals_per_call,retry_arrivals,requests,retries,budget_denied,"
           "breaker_rejected,breaker_opened,breaker_transitions,bound_arrivals,"
           "bound_per_call,grpc_max_per_call,client_ok,client_failed\n");
  }
  for (int k = 0; k < kHops; k++) {
    bound = (1 + kRatio) * bound + floor;
    const std::string name = "hop" + std::to_string(k + 1);
    const ChannelStats* found = have_stats ? FindChannel(stats, name) : nullptr;
    const bool has = found != nullptr;
    const ChannelStats s = has ? *found : ChannelStats();
    auto field = [&](uint64_t v) { return CountOrEmpty(has, v); };
    const bool breaker = has && opt.mode == "breaker";
    printf("%s,%s,%.0f,%.0f,%llu,%lld,%.2f,%d,%lld,%.3f,%lld,%s,%s,%s,%s,%s,%s,"
           "%.0f,%.3f,%.0f,%lld,%lld\n",
           opt.tag.empty() ? "-" : opt.tag.c_str(), opt.mode.c_str(), opt.rate,
           opt.duration_s, static_cast<unsigned long long>(opt.seed),
           static_cast<long long>(calls), span_s, k + 1,
           static_cast<long long>(hops[k]->arrivals()),
           static_cast<double>(hops[k]->arrivals()) / static_cast<double>(calls),
           static_cast<long long>(hops[k]->retry_arrivals()),
           field(s.requests).c_str(), field(s.retries).c_str(),
           field(s.budget_denied).c_str(), field(s.breaker_rejected).c_str(),
           breaker ? field(s.opened).c_str() : "",
           breaker ? field(s.transitions).c_str() : "", bound,
           bound / static_cast<double>(calls), pow(5.0, k + 1),
           static_cast<long long>(state.ok.load()),
           static_cast<long long>(state.failed.load()));
  }
  fprintf(stderr,
          "grpcr_hops %s: %lld calls at %.0f/s, span %.1f s; S3 arrivals %lld "
          "(%.2f per call); (1+%.1f)^3 = %.3f, floor %.0f per channel, "
          "bound %.0f (%.3f per call)\n",
          opt.mode.c_str(), static_cast<long long>(calls), opt.rate, span_s,
          static_cast<long long>(hops[kHops - 1]->arrivals()),
          static_cast<double>(hops[kHops - 1]->arrivals()) / static_cast<double>(calls),
          kRatio, pow(1 + kRatio, 3), floor, bound, bound / static_cast<double>(calls));

  // Shut down from the top: the client, then each hop and the channel to it.
  grpc_channel_destroy(channels[0]);
  client_queue.Shutdown();
  for (int k = 0; k < kHops; k++) {
    hops[k]->Shutdown();
    if (k + 1 < kHops) grpc_channel_destroy(channels[k + 1]);
  }
  grpc_shutdown();
  return 0;
}
