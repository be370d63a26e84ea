// Success-path cost of the filter: unary echo over 127.0.0.1, one variant
// per process, so that variant (a) is gRPC exactly as without us
// (grpcr_register() is never called):
//   a  plain gRPC
//   b  grpcr_register(), a service config without "resilience"
//   c  grpcr_register(), a retry policy, the budget and a breaker
//   d  grpcr_register() with our filter off on the channel
//      (GRPCR_ARG_ENABLE=0), gRPC's own retryPolicy
//   e  as d, plus retryThrottling
// bench/success_path.sh runs the variants interleaved, counts instructions
// with callgrind and computes the ratios; this program runs one of them.
//
// usage: grpcr_filter_bench --variant V [--calls N] [--warmup N]
//            [--threads T] [--server-threads S] [--latencies FILE]
//            [--scrape-hz H] [--scrapes K] [--report-cpu]
//        grpcr_filter_bench --fast-fail V [--against closed|failing]
//            [--calls N] [--latencies FILE]
// Prints one CSV line: variant,threads,calls,wall_ns,failures.
// --latencies writes every call's latency in nanoseconds, one per line.
// --report-cpu adds the process's CPU time (user + system) over the measured
// calls: variant,threads,calls,wall_ns,failures,cpu_ns.
// --scrape-hz H (registered variants): serves /metrics
// (grpcr_metrics_http_start) and, while the measured calls run, a thread
// scrapes it H times a second, each on a new connection, as a Prometheus
// server would; the line then ends with
// ,scrapes,scrape_failures,scrape_p50_ns,scrape_max_ns,scrape_bytes
// (bench/scrape_cost.sh).
// --scrapes K (registered variants): serves /metrics, and after the measured
// calls makes K scrapes of it in a row (for callgrind: the instructions of
// one scrape are the difference between two values of K).
// --fast-fail: calls that fail, with gRPC alone (V=a) or with an OPEN
// breaker failing them fast (V=c), against a port nothing listens on
// (--against closed, the default) or a server that answers every call
// UNAVAILABLE (--against failing); every call must fail UNAVAILABLE.
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"

namespace {

void* Tag(intptr_t t) { return reinterpret_cast<void*>(t); }

int64_t NowNs() {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return t.tv_sec * INT64_C(1000000000) + t.tv_nsec;
}

// One blocking echo loop per server thread, each with its own queue.
void ServeEcho(grpc_server* server, grpc_completion_queue* cq,
               grpc_status_code answer) {
  for (;;) {
    grpc_call* call = nullptr;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    if (grpc_server_request_call(server, &call, &details, &md, cq, cq,
                                 Tag(1)) != GRPC_CALL_OK) {
      break;
    }
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) break;
    grpc_byte_buffer* req = nullptr;
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_MESSAGE;
    ops[0].data.recv_message.recv_message = &req;
    grpc_call_start_batch(call, ops, 1, Tag(2), nullptr);
    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    int cancelled = 0;
    grpc_slice details_slice = grpc_empty_slice();
    // A failure goes out without a message: initial metadata and status in
    // one batch, which chttp2 sends as a Trailers-Only response.
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (answer == GRPC_STATUS_OK && req != nullptr) {
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n++].data.send_message.send_message = req;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = answer;
    ops[n++].data.send_status_from_server.status_details = &details_slice;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &cancelled;
    grpc_call_start_batch(call, ops, n, Tag(3), nullptr);
    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    if (req != nullptr) grpc_byte_buffer_destroy(req);
    grpc_call_unref(call);
  }
}

grpc_status_code Call(grpc_channel* ch, grpc_completion_queue* cq,
                      grpc_slice payload) {
  grpc_call* call = grpc_channel_create_call(
      ch, nullptr, 0, cq, grpc_slice_from_static_string("/echo.Echo/Say"),
      nullptr,
      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                   gpr_time_from_seconds(10, GPR_TIMESPAN)),
      nullptr);
  grpc_byte_buffer* req = grpc_raw_byte_buffer_create(&payload, 1);
  grpc_byte_buffer* resp = nullptr;
  grpc_metadata_array im, tm;
  grpc_metadata_array_init(&im);
  grpc_metadata_array_init(&tm);
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details;
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = req;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &im;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &resp;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &details;
  ops[5].data.recv_status_on_client.trailing_metadata = &tm;
  GPR_ASSERT(grpc_call_start_batch(call, ops, 6, Tag(9), nullptr) ==
             GRPC_CALL_OK);
  grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  grpc_slice_unref(details);
  if (resp != nullptr) grpc_byte_buffer_destroy(resp);
  grpc_byte_buffer_destroy(req);
  grpc_metadata_array_destroy(&im);
  grpc_metadata_array_destroy(&tm);
  grpc_call_unref(call);
  return status;
}


// The service configs of the variants.
const char* kPlainConfig = "{}";
const char* kFullConfig =
    "{\"resilience\":{\"retryBudget\":{\"ratio\":0.1},"
    "\"circuitBreaker\":{\"minimumCalls\":20}},"
    "\"methodConfig\":[{\"name\":[{\"service\":\"echo.Echo\"}],"
    "\"resilience\":{\"maxAttempts\":4,\"initialBackoff\":\"0.01s\","
    "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
const char* kGrpcRetryConfig =
    "{\"methodConfig\":[{\"name\":[{\"service\":\"echo.Echo\"}],"
    "\"retryPolicy\":{\"maxAttempts\":4,\"initialBackoff\":\"0.01s\","
    "\"maxBackoff\":\"1s\",\"backoffMultiplier\":2,"
    "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
const char* kGrpcThrottledConfig =
    "{\"retryThrottling\":{\"maxTokens\":10,\"tokenRatio\":0.1},"
    "\"methodConfig\":[{\"name\":[{\"service\":\"echo.Echo\"}],"
    "\"retryPolicy\":{\"maxAttempts\":4,\"initialBackoff\":\"0.01s\","
    "\"maxBackoff\":\"1s\",\"backoffMultiplier\":2,"
    "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";

struct VariantSpec {
  char id;
  const char* config;
  bool registered;
  int enable;  // GRPCR_ARG_ENABLE on the channel (registered variants)
};

const VariantSpec kVariants[] = {
    {'a', kPlainConfig, false, 1},        {'b', kPlainConfig, true, 1},
    {'c', kFullConfig, true, 1},          {'d', kGrpcRetryConfig, true, 0},
    {'e', kGrpcThrottledConfig, true, 0},
};

const VariantSpec* FindVariant(const char* name) {
  if (name == nullptr || strlen(name) != 1) return nullptr;
  for (const VariantSpec& v : kVariants) {
    if (v.id == name[0]) return &v;
  }
  return nullptr;
}

grpc_channel* MakeChannel(const std::string& target, const VariantSpec& v) {
  grpc_arg args[2];
  args[0].type = GRPC_ARG_STRING;
  args[0].key = const_cast<char*>(GRPC_ARG_SERVICE_CONFIG);
  args[0].value.string = const_cast<char*>(v.config);
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = const_cast<char*>(GRPCR_ARG_ENABLE);
  args[1].value.integer = v.enable;
  // An unregistered process knows nothing of our argument; leave it out.
  grpc_channel_args channel_args = {v.registered ? 2u : 1u, args};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(target.c_str(), creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return ch;
}

struct RoundResult {
  int64_t wall_ns = 0;
  int failures = 0;  // calls that did not end with the expected status
  std::vector<int64_t> latencies_ns;
};

// Runs `calls` unary calls on `threads` threads, each with its own queue;
// counts the calls that did not end with `expected`.
RoundResult RunCalls(grpc_channel* ch, int calls, int threads,
                     grpc_status_code expected) {
  std::vector<std::thread> workers;
  std::vector<std::vector<int64_t>> lat(threads);
  std::atomic<int> failures{0};
  const int64_t start = NowNs();
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
      grpc_slice payload = grpc_slice_from_static_string("0123456789abcdef");
      lat[t].reserve(static_cast<size_t>(calls / threads + 1));
      for (int i = t; i < calls; i += threads) {
        const int64_t t0 = NowNs();
        if (Call(ch, cq, payload) != expected) failures++;
        lat[t].push_back(NowNs() - t0);
      }
      grpc_completion_queue_shutdown(cq);
      while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                        nullptr)
                 .type != GRPC_QUEUE_SHUTDOWN) {
      }
      grpc_completion_queue_destroy(cq);
    });
  }
  for (auto& w : workers) w.join();
  RoundResult r;
  r.wall_ns = NowNs() - start;
  r.failures = failures.load();
  for (auto& l : lat) {
    r.latencies_ns.insert(r.latencies_ns.end(), l.begin(), l.end());
  }
  return r;
}

bool WriteLatencies(const char* path, const std::vector<int64_t>& ns) {
  if (path == nullptr) return true;
  FILE* f = fopen(path, "w");
  if (f == nullptr) {
    fprintf(stderr, "grpcr_filter_bench: cannot write %s\n", path);
    return false;
  }
  for (int64_t v : ns) fprintf(f, "%lld\n", static_cast<long long>(v));
  return fclose(f) == 0;
}

// A port on 127.0.0.1 that nothing listens on: bound, then closed.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  GPR_ASSERT(fd >= 0);
  GPR_ASSERT(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  GPR_ASSERT(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// GET /metrics on a new connection to 127.0.0.1:port; the body's size, or
// -1 unless the answer is a 200 that arrives whole within 5 s.
long ScrapeOnce(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  static const char kRequest[] =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
      "application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n"
      "Connection: close\r\n\r\n";
  if (send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) !=
      static_cast<ssize_t>(sizeof kRequest - 1)) {
    close(fd);
    return -1;
  }
  std::string got;
  const int64_t deadline = NowNs() + INT64_C(5000000000);
  for (;;) {
    pollfd p = {fd, POLLIN, 0};
    int64_t left_ms = (deadline - NowNs()) / 1000000;
    if (left_ms <= 0 || poll(&p, 1, static_cast<int>(left_ms)) <= 0) break;
    char buf[16384];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t body = got.find("\r\n\r\n");
  if (got.compare(0, 12, "HTTP/1.1 200") != 0 || body == std::string::npos)
    return -1;
  return static_cast<long>(got.size() - body - 4);
}

// Scrapes /metrics hz times a second until stop, on a fixed schedule.
struct Scraper {
  std::atomic<bool> stop{false};
  std::vector<int64_t> latencies_ns;
  int failures = 0;
  long bytes = 0;
  std::thread thread;

  void Start(int port, int hz) {
    thread = std::thread([this, port, hz] {
      const int64_t period = INT64_C(1000000000) / hz;
      int64_t next = NowNs();
      while (!stop.load()) {
        const int64_t t0 = NowNs();
        long n = ScrapeOnce(port);
        latencies_ns.push_back(NowNs() - t0);
        if (n < 0) {
          failures++;
        } else {
          bytes = n;
        }
        next += period;
        while (!stop.load() && NowNs() < next)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  void Stop() {
    stop = true;
    thread.join();
  }
};

struct Options {
  const VariantSpec* variant = nullptr;
  bool fast_fail = false;
  int calls = 2000;
  int warmup = 200;
  int threads = 1;
  int server_threads = 4;
  const char* latencies = nullptr;
  bool against_failing = false;  // --fast-fail: a server answering UNAVAILABLE
  int scrape_hz = 0;             // --scrape-hz: scrapes of /metrics a second
  bool report_cpu = false;       // --report-cpu
  int scrapes = -1;              // --scrapes: scrapes in a row after the calls
};

// The process's CPU time so far, user and system, in ns.
int64_t CpuNs() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * INT64_C(1000000000) +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * INT64_C(1000);
}

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; i++) {
    const char* flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    auto number = [&](int* out, int min) {
      char* end = nullptr;
      long n = value != nullptr ? strtol(value, &end, 10) : 0;
      if (value == nullptr || *end != '\0' || n < min || n > 100000000) {
        fprintf(stderr, "grpcr_filter_bench: %s needs an integer >= %d\n",
                flag, min);
        return false;
      }
      *out = static_cast<int>(n);
      return true;
    };
    bool ok = true;
    if (strcmp(flag, "--variant") == 0 || strcmp(flag, "--fast-fail") == 0) {
      o->fast_fail = strcmp(flag, "--fast-fail") == 0;
      o->variant = FindVariant(value);
      if (o->variant == nullptr) {
        fprintf(stderr, "grpcr_filter_bench: %s needs a, b, c, d or e\n", flag);
        return false;
      }
    } else if (strcmp(flag, "--calls") == 0) {
      ok = number(&o->calls, 1);
    } else if (strcmp(flag, "--warmup") == 0) {
      ok = number(&o->warmup, 0);
    } else if (strcmp(flag, "--threads") == 0) {
      ok = number(&o->threads, 1);
    } else if (strcmp(flag, "--server-threads") == 0) {
      ok = number(&o->server_threads, 1);
    } else if (strcmp(flag, "--scrape-hz") == 0) {
      ok = number(&o->scrape_hz, 1);
    } else if (strcmp(flag, "--scrapes") == 0) {
      ok = number(&o->scrapes, 0);
    } else if (strcmp(flag, "--report-cpu") == 0) {
      o->report_cpu = true;
      continue;  // takes no value
    } else if (strcmp(flag, "--against") == 0 && value != nullptr &&
               (strcmp(value, "closed") == 0 || strcmp(value, "failing") == 0)) {
      o->against_failing = strcmp(value, "failing") == 0;
    } else if (strcmp(flag, "--latencies") == 0 && value != nullptr) {
      o->latencies = value;
    } else {
      fprintf(stderr, "grpcr_filter_bench: unknown argument %s\n", flag);
      return false;
    }
    if (!ok) return false;
    i++;
  }
  if (o->variant == nullptr) {
    fprintf(stderr, "usage: grpcr_filter_bench --variant a|b|c|d|e [--calls N] "
                    "[--warmup N] [--threads T] [--server-threads S] "
                    "[--latencies FILE] [--scrape-hz H] [--scrapes K] "
                    "[--report-cpu]\n"
                    "       grpcr_filter_bench --fast-fail a|c "
                    "[--against closed|failing] [--calls N] [--latencies FILE]\n");
    return false;
  }
  if ((o->scrape_hz > 0 || o->scrapes >= 0) &&
      (o->fast_fail || !o->variant->registered)) {
    fprintf(stderr, "grpcr_filter_bench: --scrape-hz and --scrapes need a "
                    "registered variant (b, c, d or e), not --fast-fail\n");
    return false;
  }
  return true;
}

// Calls that fail: gRPC alone fails them in its channel (closed port: the
// channel is in TRANSIENT_FAILURE) or sends each to the failing server;
// with the breaker, once it has opened, they fail before reaching gRPC's
// channel. Every call must end UNAVAILABLE.
int RunFastFail(const Options& o, const std::string& target) {
  const char* breaker =
      "{\"resilience\":{\"circuitBreaker\":{\"minimumCalls\":5,"
      "\"openDuration\":\"3600s\"}}}";
  VariantSpec spec = *o.variant;
  if (spec.id == 'c') spec.config = breaker;
  grpc_channel* ch = MakeChannel(target, spec);
  RunCalls(ch, o.warmup, 1, GRPC_STATUS_UNAVAILABLE);  // opens the breaker
  RoundResult r = RunCalls(ch, o.calls, o.threads, GRPC_STATUS_UNAVAILABLE);
  printf("fast-fail-%s-%c,%d,%d,%lld,%d\n",
         o.against_failing ? "failing" : "closed", spec.id, o.threads, o.calls,
         static_cast<long long>(r.wall_ns), r.failures);
  grpc_channel_destroy(ch);
  return WriteLatencies(o.latencies, r.latencies_ns) && r.failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, &o)) return 2;
  if (o.variant->registered && grpcr_register() != 0) {
    fprintf(stderr, "grpcr_register failed\n");
    return 1;
  }
  grpc_init();
  if (o.fast_fail && !o.against_failing) {
    int rc = RunFastFail(o, "127.0.0.1:" + std::to_string(ClosedPort()));
    grpc_shutdown();
    return rc;
  }
  // The echo server; for --against failing it answers every call
  // UNAVAILABLE (up, but failing: a proxy with no healthy backend).
  const grpc_status_code answer =
      o.fast_fail ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_OK;
  grpc_server* server = grpc_server_create(nullptr, nullptr);
  std::vector<grpc_completion_queue*> server_cqs;
  for (int i = 0; i < o.server_threads; i++) {
    server_cqs.push_back(grpc_completion_queue_create_for_next(nullptr));
    grpc_server_register_completion_queue(server, server_cqs.back(), nullptr);
  }
  grpc_server_credentials* screds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(server, "127.0.0.1:0", screds);
  grpc_server_credentials_release(screds);
  grpc_server_start(server);
  std::vector<std::thread> servers;
  for (int i = 0; i < o.server_threads; i++) {
    servers.emplace_back(ServeEcho, server, server_cqs[i], answer);
  }
  const std::string target = "127.0.0.1:" + std::to_string(port);
  bool ok;
  if (o.fast_fail) {
    ok = RunFastFail(o, target) == 0;
  } else {
    grpc_channel* ch = MakeChannel(target, *o.variant);
    int metrics_port = 0;
    const bool serve_metrics = o.scrape_hz > 0 || o.scrapes >= 0;
    if (serve_metrics &&
        grpcr_metrics_http_start("127.0.0.1:0", 0, &metrics_port) != 0) {
      fprintf(stderr, "grpcr_filter_bench: cannot start /metrics\n");
      return 1;
    }
    // Warm-up: connect, learn the service config.
    RoundResult warm = RunCalls(ch, o.warmup, o.threads, GRPC_STATUS_OK);
    Scraper scraper;
    const int64_t cpu0 = CpuNs();
    if (o.scrape_hz > 0) scraper.Start(metrics_port, o.scrape_hz);
    RoundResult r = RunCalls(ch, o.calls, o.threads, GRPC_STATUS_OK);
    if (o.scrape_hz > 0) scraper.Stop();
    const int64_t cpu_ns = CpuNs() - cpu0;
    printf("%c,%d,%d,%lld,%d", o.variant->id, o.threads, o.calls,
           static_cast<long long>(r.wall_ns), r.failures + warm.failures);
    if (o.report_cpu) printf(",%lld", static_cast<long long>(cpu_ns));
    if (o.scrape_hz > 0) {
      std::vector<int64_t>& l = scraper.latencies_ns;
      std::sort(l.begin(), l.end());
      printf(",%zu,%d,%lld,%lld,%ld", l.size(), scraper.failures,
             static_cast<long long>(l.empty() ? 0 : l[l.size() / 2]),
             static_cast<long long>(l.empty() ? 0 : l.back()), scraper.bytes);
    }
    printf("\n");
    int scrape_failures = 0;
    for (int i = 0; i < o.scrapes; i++)
      scrape_failures += ScrapeOnce(metrics_port) < 0;
    if (serve_metrics) grpcr_metrics_http_stop();
    ok = WriteLatencies(o.latencies, r.latencies_ns) &&
         r.failures + warm.failures == 0 && scraper.failures == 0 &&
         scrape_failures == 0;
    grpc_channel_destroy(ch);
  }
  grpc_completion_queue* shutdown_cq =
      grpc_completion_queue_create_for_pluck(nullptr);
  grpc_server_shutdown_and_notify(server, shutdown_cq, Tag(99));
  grpc_server_cancel_all_calls(server);
  grpc_completion_queue_pluck(shutdown_cq, Tag(99),
                              gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  grpc_completion_queue_destroy(shutdown_cq);
  for (auto& t : servers) t.join();
  for (grpc_completion_queue* cq : server_cqs) {
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      nullptr)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
  }
  grpc_server_destroy(server);
  grpc_shutdown();
  return ok ? 0 : 1;
}
