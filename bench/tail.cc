// The tail-latency experiment: what perAttemptTimeout and the deadline rule
// do to a call's latency and to the server's load.
//
// One process, two halves over 127.0.0.1:
//   server  a C-core server that answers each request after a latency drawn
//           per request: --tail-frac of them --tail-ms, the rest --base-ms;
//           --fail-frac of them are answered UNAVAILABLE after --fail-ms
//           instead. Latency is a timer, not a busy CPU: the server has no
//           capacity limit (its load is what the client sends).
//   client  Poisson arrivals at --rate calls/s for --seconds, each call with
//           a --deadline-ms deadline, on one channel configured by --mode:
//             none     no retries (the filter off on the channel)
//             grpc     gRPC's own retryPolicy (the filter off)
//             grpcr    grpc-resilience's retry policy; --attempt-timeout-ms
//                      adds perAttemptTimeout; --budget-ratio and
//                      --budget-floor set its retry budget
//           The first --warm calls (not measured) teach the filter the
//           method's latency.
//
// Output: one CSV row (a header first with --header): the calls, their
// statuses, latency percentiles of every call (start to final status), the
// server's arrivals per call (1 + the extra load the client caused), and
// the filter's counts (attempt timeouts, retries skipped for the deadline).
//
// usage: grpcr_tail --mode none|grpc|grpcr [--rate R] [--seconds S]
//          [--deadline-ms D] [--base-ms B] [--tail-frac F] [--tail-ms T]
//          [--fail-frac F] [--fail-ms M] [--max-attempts N]
//          [--backoff-ms B] [--attempt-timeout-ms A] [--budget-ratio X]
//          [--budget-floor Y] [--warm N] [--seed N] [--tag TEXT] [--header]
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
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
constexpr int kRequestsPosted = 64;

struct Options {
  std::string mode = "none";
  double rate = 200;
  double seconds = 20;
  double deadline_ms = 1000;
  double base_ms = 1;
  double tail_frac = 0.01;
  double tail_ms = 200;
  double fail_frac = 0;
  double fail_ms = 0;
  int max_attempts = 2;
  double backoff_ms = 1;
  double attempt_timeout_ms = 0;
  double budget_ratio = 0.1;
  double budget_floor = 10;
  int warm = 50;
  uint64_t seed = 1;
  std::string tag = "-";
  bool header = false;
};

// ---- the server -------------------------------------------------------------

class Server;

struct ServerCall : Tagged, IncomingCall {
  enum Phase { kRequested, kReading, kAnswering };
  ServerCall(Server* s, LiveCount* live) : IncomingCall(live), server(s) {}
  void* tag() { return static_cast<Tagged*>(this); }
  bool Proceed(bool ok) override;

  Server* server;
  Phase phase = kRequested;
  bool fail = false;
};

class Server {
 public:
  explicit Server(const Options& o) : opt_(o), rng_(o.seed * 7919 + 1) {
    std::vector<int> ports;
    server_ = StartLoopbackServer(queue_.cq(), nullptr, 1, &ports);
    port_ = ports[0];
    for (int i = 0; i < kRequestsPosted; i++) PostRequest();
    queue_.Start();
    timer_ = std::thread([this] { Answerer(); });
  }

  int port() const { return port_; }

  void PostRequest() {
    if (stopping_.load()) return;
    auto* c = new ServerCall(this, &live_);
    if (c->RequestCall(server_, queue_.cq(), c->tag()) != GRPC_CALL_OK) delete c;
  }

  // A request has been read: its answer is due after its drawn latency.
  void Schedule(ServerCall* c) {
    arrivals_++;
    std::lock_guard<std::mutex> lock(mu_);
    std::uniform_real_distribution<double> u(0, 1);
    double ms = opt_.base_ms;
    if (u(rng_) < opt_.fail_frac) {
      c->fail = true;
      ms = opt_.fail_ms;
    } else if (u(rng_) < opt_.tail_frac) {
      ms = opt_.tail_ms;
    }
    due_.emplace(NowNs() + static_cast<int64_t>(ms * 1e6), c);
    cv_.notify_one();
  }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_.store(true);
      cv_.notify_all();
    }
    timer_.join();
    ShutdownServer(server_);
    live_.WaitForZero();
    grpc_server_destroy(server_);
    queue_.Shutdown();
  }

  std::atomic<int64_t> arrivals_{0}, cancelled_{0};

 private:
  // Answers each request when it is due (all of them at once when
  // stopping).
  void Answerer() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (stopping_.load()) {
        for (auto& d : due_) Answer(d.second);
        due_.clear();
        return;
      }
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const int64_t when = due_.begin()->first;
      if (NowNs() < when) {
        cv_.wait_for(lock, std::chrono::nanoseconds(when - NowNs()));
        continue;
      }
      ServerCall* c = due_.begin()->second;
      due_.erase(due_.begin());
      Answer(c);
    }
  }
  void Answer(ServerCall* c) {
    c->phase = ServerCall::kAnswering;
    if (c->StartAnswer(c->fail ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_OK,
                       !c->fail, c->fail ? "tail: failed" : "",
                       c->tag()) != GRPC_CALL_OK) {
      delete c;
    }
  }

  const Options opt_;
  PolledQueue queue_;
  grpc_server* server_;
  int port_ = 0;
  LiveCount live_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<int64_t, ServerCall*> due_;  // guarded by mu_
  std::mt19937_64 rng_;                      // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::thread timer_;
};

bool ServerCall::Proceed(bool ok) {
  switch (phase) {
    case kRequested:
      if (!ok) return false;
      server->PostRequest();
      phase = kReading;
      return StartRead(tag()) == GRPC_CALL_OK;
    case kReading:
      if (!ok) return false;
      server->Schedule(this);
      return true;
    case kAnswering:
      if (cancelled) server->cancelled_++;
      return false;
  }
  return false;
}

// ---- the client -------------------------------------------------------------

std::string ServiceConfig(const Options& o) {
  const std::string name = "\"name\":[{\"service\":\"echo.Echo\"}]";
  char backoff[64];
  snprintf(backoff, sizeof backoff, "%.6fs", o.backoff_ms / 1e3);
  const std::string n = std::to_string(o.max_attempts);
  if (o.mode == "grpc") {
    return "{\"methodConfig\":[{" + name + ",\"retryPolicy\":{\"maxAttempts\":" +
           n + ",\"initialBackoff\":\"" + backoff + "\",\"maxBackoff\":\"" +
           backoff + "\",\"backoffMultiplier\":1,"
           "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
  }
  if (o.mode == "grpcr") {
    char extra[128] = "";
    if (o.attempt_timeout_ms > 0) {
      snprintf(extra, sizeof extra, ",\"perAttemptTimeout\":\"%.6fs\"",
               o.attempt_timeout_ms / 1e3);
    }
    char budget[160];
    snprintf(budget, sizeof budget,
             "\"retryBudget\":{\"ratio\":%g,\"minRetriesPerSecond\":%g}",
             o.budget_ratio, o.budget_floor);
    return "{\"resilience\":{" + std::string(budget) + "},\"methodConfig\":[{" +
           name + ",\"resilience\":{\"maxAttempts\":" + n +
           ",\"initialBackoff\":\"" + backoff + "\",\"maxBackoff\":\"" +
           backoff + "\",\"jitter\":\"NONE\"" + extra + "}}]}";
  }
  return "{}";
}

class Client;

struct ClientCall : Tagged, OutgoingCall {
  ClientCall(Client* c, grpc_call* k, bool measured)
      : client(c), measured(measured) {
    call = k;
  }
  bool Proceed(bool ok) override;
  Client* client;
  bool measured;
  int64_t start_ns = NowNs();
};

class Client {
 public:
  Client(const Options& o, int port) : opt_(o) {
    config_ = ServiceConfig(o);
    channel_ = CreateChannel(
        LoopbackTarget(port),
        {StringArg(GRPC_ARG_SERVICE_CONFIG, config_.c_str()),
         IntArg(GRPCR_ARG_ENABLE, o.mode == "grpcr" ? 1 : 0),
         IntArg(GRPC_ARG_ENABLE_RETRIES, o.mode == "grpc" ? 1 : 0),
         StringArg(GRPCR_ARG_NAME, "tail")});
    queue_.Start();
  }

  void Start(bool measured) {
    grpc_call* k = grpc_channel_create_call(
        channel_, nullptr, 0, queue_.cq(),
        grpc_slice_from_static_string(kMethod), nullptr,
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_micros(
                         static_cast<int64_t>(opt_.deadline_ms * 1e3),
                         GPR_TIMESPAN)),
        nullptr);
    auto* c = new ClientCall(this, k, measured);
    c->SetRequest("0123456789abcdef");
    in_flight_++;
    if (c->Start(static_cast<Tagged*>(c)) != GRPC_CALL_OK) abort();
  }

  void Finish(const ClientCall& c) {
    if (c.measured) {
      std::lock_guard<std::mutex> lock(mu_);
      latencies_ns_.push_back(NowNs() - c.start_ns);
      if (c.status == GRPC_STATUS_OK) ok_++;
      else if (c.status == GRPC_STATUS_DEADLINE_EXCEEDED) deadline_++;
      else if (c.status == GRPC_STATUS_UNAVAILABLE) unavailable_++;
      else other_++;
    }
    in_flight_--;
  }

  void Drain() {
    const int64_t until = NowNs() + static_cast<int64_t>(opt_.deadline_ms * 1e6) +
                          INT64_C(5000000000);
    while (in_flight_.load() > 0 && NowNs() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void Shutdown() {
    grpc_channel_destroy(channel_);
    queue_.Shutdown();
  }

  std::mutex mu_;
  std::vector<int64_t> latencies_ns_;  // guarded by mu_
  int64_t ok_ = 0, deadline_ = 0, unavailable_ = 0, other_ = 0;

 private:
  const Options opt_;
  std::string config_;
  grpc_channel* channel_;
  PolledQueue queue_;
  std::atomic<int64_t> in_flight_{0};
};

bool ClientCall::Proceed(bool) {
  client->Finish(*this);
  return false;
}

double QuantileMs(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size()));
  if (i >= v.size()) i = v.size() - 1;
  return static_cast<double>(v[i]) / 1e6;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  const bool parsed = ParseFlags(
      argc, argv, {"--header"}, [o](const std::string& a, const char* v) {
        if (a == "--header") o->header = true;
        else if (a == "--mode") o->mode = v;
        else if (a == "--rate") o->rate = atof(v);
        else if (a == "--seconds") o->seconds = atof(v);
        else if (a == "--deadline-ms") o->deadline_ms = atof(v);
        else if (a == "--base-ms") o->base_ms = atof(v);
        else if (a == "--tail-frac") o->tail_frac = atof(v);
        else if (a == "--tail-ms") o->tail_ms = atof(v);
        else if (a == "--fail-frac") o->fail_frac = atof(v);
        else if (a == "--fail-ms") o->fail_ms = atof(v);
        else if (a == "--max-attempts") o->max_attempts = atoi(v);
        else if (a == "--backoff-ms") o->backoff_ms = atof(v);
        else if (a == "--attempt-timeout-ms") o->attempt_timeout_ms = atof(v);
        else if (a == "--budget-ratio") o->budget_ratio = atof(v);
        else if (a == "--budget-floor") o->budget_floor = atof(v);
        else if (a == "--warm") o->warm = atoi(v);
        else if (a == "--seed") o->seed = strtoull(v, nullptr, 10);
        else if (a == "--tag") o->tag = v;
        else return false;
        return true;
      });
  return parsed && (o->mode == "none" || o->mode == "grpc" || o->mode == "grpcr");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    fprintf(stderr,
            "usage: grpcr_tail --mode none|grpc|grpcr [--rate R] [--seconds S] "
            "[--deadline-ms D] [--base-ms B] [--tail-frac F] [--tail-ms T] "
            "[--fail-frac F] [--fail-ms M] [--max-attempts N] [--backoff-ms B] "
            "[--attempt-timeout-ms A] [--budget-ratio X] [--budget-floor Y] "
            "[--warm N] [--seed N] [--tag TEXT] [--header]\n");
    return 2;
  }
  if (!RegisterAndInit()) return 1;
  {
    Server srv(opt);
    Client client(opt, srv.port());
    // Warm-up: connects, and teaches the filter the method's latency.
    for (int i = 0; i < opt.warm; i++) {
      client.Start(false);
      client.Drain();
    }
    const int64_t warm_arrivals = srv.arrivals_.load();
    grpcr_channel_snapshot* snaps = nullptr;
    size_t n = 0;
    std::mt19937_64 rng(opt.seed);
    std::exponential_distribution<double> gap(opt.rate);
    const int64_t t0 = NowNs();
    const int64_t end = t0 + static_cast<int64_t>(opt.seconds * 1e9);
    int64_t calls = 0;
    for (double t = static_cast<double>(t0);;) {
      t += gap(rng) * 1e9;
      if (t >= static_cast<double>(end)) break;
      SleepUntilNs(static_cast<int64_t>(t));
      client.Start(true);
      calls++;
    }
    client.Drain();
    const int64_t arrivals = srv.arrivals_.load() - warm_arrivals;
    uint64_t timeouts = 0, skipped = 0;
    double median_s = 0;
    if (grpcr_stats_get("tail", &snaps, &n) == 0) {
      for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < snaps[i].method_count; k++) {
          timeouts += snaps[i].methods[k].attempt_timeouts;
          skipped += snaps[i].methods[k].retries_skipped_deadline;
          if (snaps[i].methods[k].median_attempt_s > 0)
            median_s = snaps[i].methods[k].median_attempt_s;
        }
      }
      grpcr_channel_snapshots_free(snaps, n);
    }
    std::vector<int64_t> lat;
    {
      std::lock_guard<std::mutex> lock(client.mu_);
      lat = client.latencies_ns_;
    }
    const double p50 = QuantileMs(lat, 0.5), p99 = QuantileMs(lat, 0.99),
                 p999 = QuantileMs(lat, 0.999);
    if (opt.header) {
      printf("tag,mode,seed,calls,ok,deadline_exceeded,unavailable,other,"
             "server_arrivals,arrivals_per_call,p50_ms,p99_ms,p999_ms,"
             "attempt_timeouts,retries_skipped_deadline,median_attempt_ms,"
             "attempt_timeout_ms,max_attempts,deadline_ms\n");
    }
    printf("%s,%s,%llu,%lld,%lld,%lld,%lld,%lld,%lld,%.4f,%.2f,%.2f,%.2f,"
           "%llu,%llu,%.2f,%g,%d,%g\n",
           opt.tag.c_str(), opt.mode.c_str(),
           static_cast<unsigned long long>(opt.seed),
           static_cast<long long>(calls), static_cast<long long>(client.ok_),
           static_cast<long long>(client.deadline_),
           static_cast<long long>(client.unavailable_),
           static_cast<long long>(client.other_),
           static_cast<long long>(arrivals),
           calls > 0 ? static_cast<double>(arrivals) / static_cast<double>(calls)
                     : 0.0,
           p50, p99, p999, static_cast<unsigned long long>(timeouts),
           static_cast<unsigned long long>(skipped), median_s * 1e3,
           opt.attempt_timeout_ms, opt.max_attempts, opt.deadline_ms);
    client.Shutdown();
    srv.Shutdown();
  }
  grpc_shutdown();
  return 0;
}
