// Success-path overhead of the filter: unary echo over loopback, in one
// process and one run, on three channels to the same server:
//   baseline   GRPCR_ARG_ENABLE=0 (the filter is not in the stack)
//   no-config  filter present, service config without "resilience"
//   full       filter with a method policy, budget and breaker
// Rounds alternate between the channels so that drift on a shared machine
// hits all three alike; the report gives ratios against the baseline.
//
// usage: grpcr_filter_bench [--calls N] [--rounds R] [--threads T] [--only V]
// --only V runs variant V (0, 1, 2) alone, for a profiler or callgrind.
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
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
void ServeEcho(grpc_server* server, grpc_completion_queue* cq) {
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
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[2].data.send_status_from_server.status_details = &details_slice;
    ops[3].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[3].data.recv_close_on_server.cancelled = &cancelled;
    grpc_call_start_batch(call, ops, req != nullptr ? 4 : 3, Tag(3), nullptr);
    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    if (req != nullptr) grpc_byte_buffer_destroy(req);
    grpc_call_unref(call);
  }
}

bool Call(grpc_channel* ch, grpc_completion_queue* cq, grpc_slice payload) {
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
  return status == GRPC_STATUS_OK;
}

struct Variant {
  const char* name;
  grpc_channel* channel;
  std::vector<int64_t> latencies_ns;
  int64_t busy_ns = 0;
  int64_t calls = 0;
  int failures = 0;
};

grpc_channel* MakeChannel(const std::string& target, const char* config,
                          int enable) {
  grpc_arg args[2];
  args[0].type = GRPC_ARG_STRING;
  args[0].key = const_cast<char*>(GRPC_ARG_SERVICE_CONFIG);
  args[0].value.string = const_cast<char*>(config);
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = const_cast<char*>(GRPCR_ARG_ENABLE);
  args[1].value.integer = enable;
  grpc_channel_args channel_args = {2, args};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(target.c_str(), creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return ch;
}

// Runs `calls` unary calls on `threads` threads; returns wall time.
int64_t RunRound(Variant* v, int calls, int threads) {
  std::vector<std::thread> workers;
  std::vector<std::vector<int64_t>> lat(threads);
  std::atomic<int> failures{0};
  const int64_t start = NowNs();
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
      grpc_slice payload = grpc_slice_from_static_string("0123456789abcdef");
      for (int i = t; i < calls; i += threads) {
        const int64_t t0 = NowNs();
        if (!Call(v->channel, cq, payload)) failures++;
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
  const int64_t wall = NowNs() - start;
  for (auto& l : lat) {
    v->latencies_ns.insert(v->latencies_ns.end(), l.begin(), l.end());
  }
  v->failures += failures.load();
  v->busy_ns += wall;
  v->calls += calls;
  return wall;
}

double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1));
  return static_cast<double>(v[i]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 2000, rounds = 6, threads = 1, only = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--calls") == 0) calls = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--only") == 0) only = atoi(argv[i + 1]);
  }
  if (grpcr_register() != 0) {
    fprintf(stderr, "grpcr_register failed\n");
    return 1;
  }
  grpc_init();
  grpc_server* server = grpc_server_create(nullptr, nullptr);
  std::vector<grpc_completion_queue*> server_cqs;
  const int server_threads = 4;
  for (int i = 0; i < server_threads; i++) {
    server_cqs.push_back(grpc_completion_queue_create_for_next(nullptr));
    grpc_server_register_completion_queue(server, server_cqs.back(), nullptr);
  }
  grpc_server_credentials* screds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(server, "127.0.0.1:0", screds);
  grpc_server_credentials_release(screds);
  grpc_server_start(server);
  std::vector<std::thread> servers;
  for (int i = 0; i < server_threads; i++) {
    servers.emplace_back(ServeEcho, server, server_cqs[i]);
  }
  const std::string target = "127.0.0.1:" + std::to_string(port);
  const char* plain = "{}";
  const char* full =
      "{\"resilience\":{\"retryBudget\":{\"ratio\":0.1},"
      "\"circuitBreaker\":{\"minimumCalls\":20}},"
      "\"methodConfig\":[{\"name\":[{\"service\":\"echo.Echo\"}],"
      "\"resilience\":{\"maxAttempts\":4,\"initialBackoff\":\"0.01s\","
      "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
  Variant variants[3] = {{"no filter", MakeChannel(target, plain, 0), {}},
                         {"filter, no config", MakeChannel(target, plain, 1), {}},
                         {"filter, full config", MakeChannel(target, full, 1), {}}};
  // Warm-up: connect, learn the service config.
  for (Variant& v : variants) {
    RunRound(&v, 200, threads);
    v.latencies_ns.clear();
    v.busy_ns = 0;
    v.calls = 0;
  }
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 3; k++) {
      const int v = (r + k) % 3;
      if (only < 0 || v == only) RunRound(&variants[v], calls, threads);
    }
  }
  if (only >= 0) {
    const Variant& v = variants[only];
    printf("%s: %lld calls, %.0f calls/s, p50 %.1f us\n", v.name,
           static_cast<long long>(v.calls),
           static_cast<double>(v.calls) * 1e9 / static_cast<double>(v.busy_ns),
           Percentile(v.latencies_ns, 0.5));
    for (Variant& x : variants) grpc_channel_destroy(x.channel);
    grpc_server_shutdown_and_notify(server, server_cqs[0], Tag(99));
    grpc_server_cancel_all_calls(server);
    for (auto& t : servers) t.detach();
    return 0;
  }
  const double base_tput = static_cast<double>(variants[0].calls) * 1e9 /
                           static_cast<double>(variants[0].busy_ns);
  const double base_p50 = Percentile(variants[0].latencies_ns, 0.5);
  const double base_p99 = Percentile(variants[0].latencies_ns, 0.99);
  printf("grpcr_filter_bench: unary echo on 127.0.0.1, %d client thread(s), "
         "%d rounds x %d calls per variant, interleaved\n\n",
         threads, rounds, calls);
  printf("| variant             | calls/s | vs base | p50 us | vs base | p99 us | vs base | failed |\n");
  printf("|---------------------|--------:|--------:|-------:|--------:|-------:|--------:|-------:|\n");
  for (Variant& v : variants) {
    const double tput = static_cast<double>(v.calls) * 1e9 /
                        static_cast<double>(v.busy_ns);
    const double p50 = Percentile(v.latencies_ns, 0.5);
    const double p99 = Percentile(v.latencies_ns, 0.99);
    printf("| %-19s | %7.0f | %6.3fx | %6.1f | %6.3fx | %6.1f | %6.3fx | %6d |\n",
           v.name, tput, tput / base_tput, p50, p50 / base_p50, p99,
           p99 / base_p99, v.failures);
  }
  int failed = 0;
  for (Variant& v : variants) {
    failed += v.failures;
    grpc_channel_destroy(v.channel);
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
  return failed == 0 ? 0 : 1;
}
