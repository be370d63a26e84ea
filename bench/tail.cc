// The tail-latency experiment: what perAttemptTimeout, hedging and the
// deadline rule do to a call's latency and to the server's load.
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
//                      --budget-floor set its retry budget. With
//                      --hedge-delay-ms D (a fixed hedgingDelay) or
//                      --max-extra-load R (the adaptive delay) the method
//                      hedges instead, --max-attempts being hedging's
//                      maxAttempts; every hedge spends the same budget.
//           The first --warm calls, one after another, are not measured:
//           they connect and teach the filter the method's latency (the
//           median of the deadline rule, and the window the adaptive delay
//           is read from, which needs ceil(10/R) (>= 20) calls first).
//
// Output: one CSV row (a header first with --header): the calls, their
// statuses, latency percentiles of every call (start to final status), the
// server's arrivals per call (1 + the extra load the client caused), and
// the filter's counts over the measured calls (the warm-up's subtracted):
// attempt timeouts, retries skipped for the deadline, hedges started, won,
// cancelled (lost to another attempt) and denied by the budget, and the
// hedge delay in force (the adaptive one last read, else hedgingDelay).
//
// usage: grpcr_tail --mode none|grpc|grpcr [--rate R] [--seconds S]
//          [--deadline-ms D] [--base-ms B] [--tail-frac F] [--tail-ms T]
//          [--fail-frac F] [--fail-ms M] [--max-attempts N]
//          [--backoff-ms B] [--attempt-timeout-ms A] [--hedge-delay-ms D]
//          [--max-extra-load R] [--budget-ratio X] [--budget-floor Y]
//          [--warm N] [--seed N] [--tag TEXT] [--header]
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
#include <utility>
#include <vector>

#include "experiment_util.h"
#include "grpcr/grpcr.h"
#include "grpcr/hedging.h"

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
  double hedge_delay_ms = -1;  // >= 0: hedging with this fixed delay
  double max_extra_load = 0;   // > 0: hedging with the adaptive delay
  double budget_ratio = 0.1;
  double budget_floor = 10;
  int warm = 50;
  uint64_t seed = 1;
  std::string tag = "-";
  bool header = false;
  bool hedging() const { return hedge_delay_ms >= 0 || max_extra_load > 0; }
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
    char budget[160];
    snprintf(budget, sizeof budget,
             "\"retryBudget\":{\"ratio\":%g,\"minRetriesPerSecond\":%g}",
             o.budget_ratio, o.budget_floor);
    const std::string channel = "{\"resilience\":{" + std::string(budget) +
                                "},\"methodConfig\":[{" + name;
    if (o.hedging()) {
      char delay[96];
      if (o.max_extra_load > 0) {
        snprintf(delay, sizeof delay, "\"maxExtraLoad\":%g", o.max_extra_load);
      } else {
        snprintf(delay, sizeof delay, "\"hedgingDelay\":\"%.6fs\"",
                 o.hedge_delay_ms / 1e3);
      }
      return channel + ",\"resilience\":{\"hedging\":{\"maxAttempts\":" + n +
             "," + delay + "}}}]}";
    }
    char extra[128] = "";
    if (o.attempt_timeout_ms > 0) {
      snprintf(extra, sizeof extra, ",\"perAttemptTimeout\":\"%.6fs\"",
               o.attempt_timeout_ms / 1e3);
    }
    return channel + ",\"resilience\":{\"maxAttempts\":" + n +
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

// The filter's counts for the channel (summed over its methods).
struct FilterCounts {
  uint64_t timeouts = 0, skipped = 0, hedges = 0, won = 0, cancelled = 0,
           denied = 0;
  double median_s = 0, hedge_delay_s = 0;
  uint64_t delay_samples = 0;  // calls in the delay's window when last read
};

FilterCounts ReadFilterCounts() {
  FilterCounts c;
  grpcr_channel_snapshot* snaps = nullptr;
  size_t n = 0;
  if (grpcr_stats_get("tail", &snaps, &n) != 0) return c;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < snaps[i].method_count; k++) {
      const grpcr_method_snapshot& m = snaps[i].methods[k];
      c.timeouts += m.attempt_timeouts;
      c.skipped += m.retries_skipped_deadline;
      c.hedges += m.hedges;
      c.won += m.hedges_won;
      c.cancelled += m.hedges_cancelled;
      c.denied += m.hedges_denied;
      if (m.median_attempt_s > 0) c.median_s = m.median_attempt_s;
      if (m.hedge_delay_s > 0) c.hedge_delay_s = m.hedge_delay_s;
      if (m.hedge_delay_samples > 0) c.delay_samples = m.hedge_delay_samples;
    }
  }
  grpcr_channel_snapshots_free(snaps, n);
  return c;
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
        else if (a == "--hedge-delay-ms") o->hedge_delay_ms = atof(v);
        else if (a == "--max-extra-load") o->max_extra_load = atof(v);
        else if (a == "--budget-ratio") o->budget_ratio = atof(v);
        else if (a == "--budget-floor") o->budget_floor = atof(v);
        else if (a == "--warm") o->warm = atoi(v);
        else if (a == "--seed") o->seed = strtoull(v, nullptr, 10);
        else if (a == "--tag") o->tag = v;
        else return false;
        return true;
      });
  if (!parsed) return false;
  if (o->hedging() && (o->mode != "grpcr" || o->attempt_timeout_ms > 0 ||
                       (o->hedge_delay_ms >= 0 && o->max_extra_load > 0))) {
    fprintf(stderr, "grpcr_tail: hedging needs --mode grpcr, no "
                    "--attempt-timeout-ms, and one of --hedge-delay-ms and "
                    "--max-extra-load\n");
    return false;
  }
  return o->mode == "none" || o->mode == "grpc" || o->mode == "grpcr";
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!ParseArgs(argc, argv, &opt)) {
    fprintf(stderr,
            "usage: grpcr_tail --mode none|grpc|grpcr [--rate R] [--seconds S] "
            "[--deadline-ms D] [--base-ms B] [--tail-frac F] [--tail-ms T] "
            "[--fail-frac F] [--fail-ms M] [--max-attempts N] [--backoff-ms B] "
            "[--attempt-timeout-ms A] [--hedge-delay-ms D] "
            "[--max-extra-load R] [--budget-ratio X] [--budget-floor Y] "
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
    const FilterCounts warm = ReadFilterCounts();
    if (opt.max_extra_load > 0 && warm.hedge_delay_s <= 0) {
      fprintf(stderr,
              "grpcr_tail %s: the adaptive hedge delay is not known after the "
              "%d warm-up calls (its window held %llu calls when last read; "
              "it needs %u)\n",
              opt.tag.c_str(), opt.warm,
              static_cast<unsigned long long>(warm.delay_samples),
              grpcr_hedge_min_samples(opt.max_extra_load));
    }
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
    const FilterCounts end_counts = ReadFilterCounts();
    const double hedge_delay_ms =
        opt.max_extra_load > 0 ? end_counts.hedge_delay_s * 1e3
        : opt.hedge_delay_ms >= 0 ? opt.hedge_delay_ms
                                  : 0.0;
    std::vector<int64_t> lat;
    {
      std::lock_guard<std::mutex> lock(client.mu_);
      lat = client.latencies_ns_;
    }
    const double p50 = QuantileMs(lat, 0.5), p99 = QuantileMs(lat, 0.99),
                 p999 = QuantileMs(lat, 0.999);
    // One list of (column, value): the header and the row cannot drift
    // apart. New columns go at the end, so old ones keep their place.
    auto d = [](double v, const char* fmt) {
      char buf[64];
      snprintf(buf, sizeof buf, fmt, v);
      return std::string(buf);
    };
    auto u = [](uint64_t v) { return std::to_string(v); };
    const std::vector<std::pair<const char*, std::string>> cols = {
        {"tag", opt.tag},
        {"mode", opt.mode},
        {"seed", u(opt.seed)},
        {"calls", std::to_string(calls)},
        {"ok", std::to_string(client.ok_)},
        {"deadline_exceeded", std::to_string(client.deadline_)},
        {"unavailable", std::to_string(client.unavailable_)},
        {"other", std::to_string(client.other_)},
        {"server_arrivals", std::to_string(arrivals)},
        {"arrivals_per_call",
         d(calls > 0 ? static_cast<double>(arrivals) / static_cast<double>(calls)
                     : 0.0,
           "%.4f")},
        {"p50_ms", d(p50, "%.2f")},
        {"p99_ms", d(p99, "%.2f")},
        {"p999_ms", d(p999, "%.2f")},
        {"attempt_timeouts", u(end_counts.timeouts - warm.timeouts)},
        {"retries_skipped_deadline", u(end_counts.skipped - warm.skipped)},
        {"median_attempt_ms", d(end_counts.median_s * 1e3, "%.2f")},
        {"attempt_timeout_ms", d(opt.attempt_timeout_ms, "%g")},
        {"max_attempts", std::to_string(opt.max_attempts)},
        {"deadline_ms", d(opt.deadline_ms, "%g")},
        {"hedges", u(end_counts.hedges - warm.hedges)},
        {"hedges_won", u(end_counts.won - warm.won)},
        {"hedges_cancelled", u(end_counts.cancelled - warm.cancelled)},
        {"hedges_denied", u(end_counts.denied - warm.denied)},
        {"hedge_delay_ms", d(hedge_delay_ms, "%.3f")},
    };
    std::string header, row;
    for (const auto& c : cols) {
      header += (header.empty() ? "" : ",") + std::string(c.first);
      row += (row.empty() ? "" : ",") + c.second;
    }
    if (opt.header) printf("%s\n", header.c_str());
    printf("%s\n", row.c_str());
    client.Shutdown();
    srv.Shutdown();
  }
  grpc_shutdown();
  return 0;
}
