// Shutdown and misuse, each in a fresh gRPC life of this one process:
// grpcr_register() from several threads at once, a channel destroyed with
// calls pending, grpc_shutdown() while calls sit in backoff and while a
// stats read is in flight, and calls after a shutdown and a new
// grpc_init(). Every call must get exactly one final status, nothing may
// crash, and valgrind (scripts/valgrind_integration.sh runs this binary)
// must find no leak.
//
// It has its own main, not GoogleTest's environment: the integration
// fixture keeps gRPC initialised for the whole process, and these checks
// need grpc_shutdown() to be the last one. Its own minimal server answers
// every call UNAVAILABLE (so calls retry) or holds it.
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"

namespace {

int g_failed = 0;
int g_passed = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,       \
                   __LINE__, #cond);                                    \
      ok = false;                                                       \
    }                                                                   \
  } while (0)

gpr_timespec In(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

// 5 attempts, a fixed backoff of `backoff` between them.
std::string Config(const char* backoff) {
  return std::string(
             "{\"methodConfig\": [{\"name\": [{\"service\": \"s.S\"}], "
             "\"resilience\": {\"maxAttempts\": 5, \"initialBackoff\": \"") +
         backoff + "\", \"maxBackoff\": \"" + backoff +
         "\", \"backoffMultiplier\": 1, \"jitter\": \"NONE\"}}]}";
}

// A C-core server on 127.0.0.1 answering every call UNAVAILABLE, or, with
// hold, never (until it shuts down). Counts arrivals.
class Server {
 public:
  explicit Server(bool hold) : hold_(hold) {
    cq_ = grpc_completion_queue_create_for_next(nullptr);
    server_ = grpc_server_create(nullptr, nullptr);
    grpc_server_register_completion_queue(server_, cq_, nullptr);
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    port_ = grpc_server_add_http2_port(server_, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    grpc_server_start(server_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Server() {
    grpc_server_shutdown_and_notify(server_, cq_, this);
    grpc_server_cancel_all_calls(server_);
    thread_.join();
    grpc_server_destroy(server_);
    grpc_completion_queue_destroy(cq_);
    for (Call* c : calls_) Free(c);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int arrivals() const { return arrivals_.load(); }
  bool WaitForArrivals(int n, int ms) {
    gpr_timespec until = In(ms);
    while (arrivals_.load() < n) {
      if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) > 0) return false;
      gpr_sleep_until(In(5));
    }
    return true;
  }

 private:
  struct Call {
    grpc_call* call = nullptr;
    grpc_call_details details;
    grpc_metadata_array md;
    int cancelled = 0;
    bool answered = false;
  };
  void Request() {
    Call* c = new Call;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    calls_.push_back(c);
    grpc_server_request_call(server_, &c->call, &c->details, &c->md, cq_, cq_,
                             c);
  }
  static void Free(Call* c) {
    if (c->call != nullptr) grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    delete c;
  }
  void Loop() {
    Request();
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(
          cq_, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
      if (ev.type != GRPC_OP_COMPLETE) continue;
      if (ev.tag == this) break;  // shutdown done
      Call* c = static_cast<Call*>(ev.tag);
      if (!ev.success || c->answered) continue;
      arrivals_++;
      Request();
      c->answered = true;
      grpc_op ops[3];
      std::memset(ops, 0, sizeof(ops));
      size_t n = 0;
      ops[n++].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
      ops[0].data.recv_close_on_server.cancelled = &c->cancelled;
      if (!hold_) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n++].data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
      }
      grpc_call_start_batch(c->call, ops, n, c, nullptr);
    }
    grpc_completion_queue_shutdown(cq_);
    while (grpc_completion_queue_next(cq_, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      nullptr)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
  }

  bool hold_;
  grpc_completion_queue* cq_;
  grpc_server* server_;
  int port_ = 0;
  std::thread thread_;
  std::vector<Call*> calls_;
  std::atomic<int> arrivals_{0};
};

grpc_channel* Channel(const std::string& target,
                      const char* backoff = "10s") {
  const std::string config = Config(backoff);
  grpc_arg arg;
  arg.type = GRPC_ARG_STRING;
  arg.key = const_cast<char*>(GRPC_ARG_SERVICE_CONFIG);
  arg.value.string = const_cast<char*>(config.c_str());
  grpc_channel_args args = {1, &arg};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(target.c_str(), creds, &args);
  grpc_channel_credentials_release(creds);
  return ch;
}

// n unary calls started on one queue; each records its final status once.
struct Calls {
  struct One {
    grpc_call* call = nullptr;
    grpc_byte_buffer* send = nullptr;
    grpc_byte_buffer* recv = nullptr;
    grpc_metadata_array initial, trailing;
    grpc_status_code status = GRPC_STATUS_OK;
    grpc_slice details;
    int completions = 0;
  };
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  std::vector<One> calls;

  Calls(grpc_channel* ch, int n, int deadline_ms) : calls(n) {
    for (One& c : calls) {
      c.call = grpc_channel_create_call(
          ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
          grpc_slice_from_static_string("/s.S/M"), nullptr, In(deadline_ms),
          nullptr);
      grpc_slice s = grpc_slice_from_static_string("x");
      c.send = grpc_raw_byte_buffer_create(&s, 1);
      grpc_metadata_array_init(&c.initial);
      grpc_metadata_array_init(&c.trailing);
      c.details = grpc_empty_slice();
      grpc_op ops[6];
      std::memset(ops, 0, sizeof(ops));
      ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
      ops[1].op = GRPC_OP_SEND_MESSAGE;
      ops[1].data.send_message.send_message = c.send;
      ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
      ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[3].data.recv_initial_metadata.recv_initial_metadata = &c.initial;
      ops[4].op = GRPC_OP_RECV_MESSAGE;
      ops[4].data.recv_message.recv_message = &c.recv;
      ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
      ops[5].data.recv_status_on_client.trailing_metadata = &c.trailing;
      ops[5].data.recv_status_on_client.status = &c.status;
      ops[5].data.recv_status_on_client.status_details = &c.details;
      grpc_call_start_batch(c.call, ops, 6, &c, nullptr);
    }
  }
  // Waits for every call's completion; false if one is missing after ms.
  bool WaitAll(int ms) {
    int done = 0;
    for (const One& c : calls) done += c.completions;
    while (done < static_cast<int>(calls.size())) {
      grpc_event ev = grpc_completion_queue_next(cq, In(ms), nullptr);
      if (ev.type != GRPC_OP_COMPLETE) return false;
      static_cast<One*>(ev.tag)->completions++;
      done++;
    }
    return true;
  }
  bool EachExactlyOnce() const {
    for (const One& c : calls) {
      if (c.completions != 1) return false;
    }
    return true;
  }
  int Count(grpc_status_code code) const {
    int n = 0;
    for (const One& c : calls) n += c.status == code;
    return n;
  }
  ~Calls() {
    for (One& c : calls) {
      grpc_call_unref(c.call);
      grpc_byte_buffer_destroy(c.send);
      if (c.recv != nullptr) grpc_byte_buffer_destroy(c.recv);
      grpc_metadata_array_destroy(&c.initial);
      grpc_metadata_array_destroy(&c.trailing);
      grpc_slice_unref(c.details);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, In(5000), nullptr).type ==
           GRPC_OP_COMPLETE) {
    }
    grpc_completion_queue_destroy(cq);
  }
};

void Report(const char* name, bool ok) {
  std::printf("[%s] %s\n", ok ? "  PASSED  " : "  FAILED  ", name);
  (ok ? g_passed : g_failed)++;
}

// Eight threads race to register before the first grpc_init(): every one
// returns 0, and the filter is installed once (one stats entry per channel,
// retries happen).
void RegisterFromManyThreads() {
  bool ok = true;
  std::atomic<int> zero{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; i++) {
    threads.emplace_back([&] {
      if (grpcr_register() == 0) zero++;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(zero.load() == 8);
  grpc_init();
  {
    Server server(/*hold=*/false);
    grpc_channel* ch = Channel(server.address());
    {
      Calls calls(ch, 1, 3000);  // backoff 10 s > deadline: one attempt
      CHECK(calls.WaitAll(5000));
      CHECK(calls.EachExactlyOnce());
      CHECK(calls.Count(GRPC_STATUS_UNAVAILABLE) == 1);
    }
    CHECK(server.arrivals() == 1);
    grpc_channel_destroy(ch);
  }
  grpc_shutdown();
  Report("ShutdownTest.RegisterFromManyThreadsInstallsOnce", ok);
}

// The application destroys its channel while calls wait in backoff and
// while an attempt is held by the server: each call still ends once, when
// the application cancels it or its deadline passes.
void ChannelDestroyedWithCallsPending() {
  bool ok = true;
  grpc_init();
  {
    Server failing(/*hold=*/false);
    Server holding(/*hold=*/true);
    grpc_channel* to_failing = Channel(failing.address());
    grpc_channel* to_holding = Channel(holding.address());
    Calls in_backoff(to_failing, 10, 1500);
    Calls in_attempt(to_holding, 10, 1500);
    CHECK(failing.WaitForArrivals(10, 5000));
    CHECK(holding.WaitForArrivals(10, 5000));
    grpc_channel_destroy(to_failing);
    grpc_channel_destroy(to_holding);
    for (auto& c : in_attempt.calls) grpc_call_cancel(c.call, nullptr);
    CHECK(in_backoff.WaitAll(10000));
    CHECK(in_attempt.WaitAll(10000));
    CHECK(in_backoff.EachExactlyOnce());
    CHECK(in_attempt.EachExactlyOnce());
    // The backoff (10 s) outlives the deadline (1.5 s): no retry is made,
    // the call ends at once with its attempt's status.
    CHECK(in_backoff.Count(GRPC_STATUS_UNAVAILABLE) == 10);
    CHECK(in_attempt.Count(GRPC_STATUS_CANCELLED) == 10);
    CHECK(failing.arrivals() == 10);
  }
  grpc_shutdown();
  Report("ShutdownTest.ChannelDestroyedWithCallsPending", ok);
}

// grpc_shutdown() while calls wait in backoff on the filter's timer. gRPC
// waits (up to 10 s) for the application to release what it holds, and
// meanwhile runs timers as usual: the calls go on retrying. The application
// cancels half of them during the shutdown (each ends CANCELLED, once) and
// lets the others run out of attempts (each ends UNAVAILABLE after 5, once);
// then it releases everything, on another thread than the one shutting
// down, as gRPC requires, and the shutdown completes.
void ShutdownWhileCallsAreInBackoff() {
  bool ok = true;
  grpc_init();
  {
    auto* server_ptr = new Server(/*hold=*/false);
    Server& server = *server_ptr;
    grpc_channel* ch = Channel(server.address(), "0.5s");
    Calls* calls = new Calls(ch, 20, 60000);
    CHECK(server.WaitForArrivals(20, 5000));
    gpr_sleep_until(In(100));  // every call is now in its first backoff
    std::thread shutdown([] { grpc_shutdown(); });
    for (int i = 0; i < 10; i++) grpc_call_cancel(calls->calls[i].call, nullptr);
    CHECK(calls->WaitAll(20000));
    CHECK(calls->EachExactlyOnce());
    int cancelled = 0, unavailable = 0;
    for (int i = 0; i < 20; i++) {
      grpc_status_code st = calls->calls[i].status;
      if (i < 10 && st == GRPC_STATUS_CANCELLED) cancelled++;
      if (i >= 10 && st == GRPC_STATUS_UNAVAILABLE) unavailable++;
    }
    CHECK(cancelled == 10);
    CHECK(unavailable == 10);
    // Each uncancelled call made all 5 attempts; each cancelled one 1 or 2.
    CHECK(server.arrivals() >= 10 * 5 + 10);
    CHECK(server.arrivals() <= 10 * 5 + 10 * 2);
    delete calls;
    grpc_channel_destroy(ch);
    delete server_ptr;
    shutdown.join();
    // Channels and servers hold gRPC references of their own, dropped as
    // their destruction completes: then gRPC's life is over.
    gpr_timespec until = In(10000);
    while (grpc_is_initialized() &&
           gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) < 0) {
      gpr_sleep_until(In(10));
    }
    CHECK(!grpc_is_initialized());
  }
  Report("ShutdownTest.ShutdownWhileCallsAreInBackoff", ok);
}

// The standalone stats server holds its own gRPC reference: the
// application's grpc_shutdown() while reads are in flight leaves it
// serving, and its stop then ends gRPC's life.
void ShutdownWhileAStatsReadIsInFlight() {
  bool ok = true;
  grpc_init();
  int port = 0;
  CHECK(grpcr_stats_server_start("127.0.0.1:0", &port) == 0);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    const std::string target = "127.0.0.1:" + std::to_string(port);
    while (!stop.load()) {
      grpc_channel_credentials* creds = grpc_insecure_credentials_create();
      grpc_channel* ch = grpc_channel_create(target.c_str(), creds, nullptr);
      grpc_channel_credentials_release(creds);
      grpc_completion_queue* cq = grpc_completion_queue_create_for_pluck(nullptr);
      grpc_call* call = grpc_channel_create_call(
          ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
          grpc_slice_from_static_string(GRPCR_STATS_GET_STATS_METHOD), nullptr,
          In(2000), nullptr);
      grpc_slice empty = grpc_empty_slice();
      grpc_byte_buffer* send = grpc_raw_byte_buffer_create(&empty, 1);
      grpc_byte_buffer* recv = nullptr;
      grpc_metadata_array initial, trailing;
      grpc_metadata_array_init(&initial);
      grpc_metadata_array_init(&trailing);
      grpc_status_code status;
      grpc_slice details;
      grpc_op ops[6];
      std::memset(ops, 0, sizeof(ops));
      ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
      ops[1].op = GRPC_OP_SEND_MESSAGE;
      ops[1].data.send_message.send_message = send;
      ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
      ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
      ops[4].op = GRPC_OP_RECV_MESSAGE;
      ops[4].data.recv_message.recv_message = &recv;
      ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
      ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
      ops[5].data.recv_status_on_client.status = &status;
      ops[5].data.recv_status_on_client.status_details = &details;
      grpc_call_start_batch(call, ops, 6, call, nullptr);
      grpc_completion_queue_pluck(cq, call, In(5000), nullptr);
      if (status == GRPC_STATUS_OK) reads++;
      grpc_slice_unref(details);
      if (recv != nullptr) grpc_byte_buffer_destroy(recv);
      grpc_byte_buffer_destroy(send);
      grpc_metadata_array_destroy(&initial);
      grpc_metadata_array_destroy(&trailing);
      grpc_call_unref(call);
      grpc_channel_destroy(ch);
      grpc_completion_queue_shutdown(cq);
      grpc_completion_queue_pluck(cq, nullptr, In(1000), nullptr);
      grpc_completion_queue_destroy(cq);
    }
  });
  while (reads.load() < 5) gpr_sleep_until(In(5));
  grpc_shutdown();  // the application's; the stats server's reference stays
  const int before = reads.load();
  gpr_sleep_until(In(200));
  CHECK(reads.load() > before);  // still serving
  stop = true;
  reader.join();
  grpcr_stats_server_stop();
  Report("ShutdownTest.ShutdownWhileAStatsReadIsInFlight", ok);
}

// After gRPC's life ended, a new grpc_init() brings the filter back (its
// registration is part of gRPC's configuration, which lives on), and a
// second grpcr_register() is still harmless.
void CallsAfterShutdownAndReinit() {
  bool ok = true;
  CHECK(grpcr_register() == 0);
  grpc_init();
  {
    Server server(/*hold=*/false);
    grpc_channel* ch = Channel(server.address());
    {
      Calls calls(ch, 3, 3000);
      CHECK(calls.WaitAll(5000));
      CHECK(calls.EachExactlyOnce());
      CHECK(calls.Count(GRPC_STATUS_UNAVAILABLE) == 3);
    }
    grpc_channel_destroy(ch);
  }
  grpc_shutdown();
  Report("ShutdownTest.CallsAfterShutdownAndReinit", ok);
}

}  // namespace

int main() {
  // Valgrind's runner passes GoogleTest flags: there is nothing to filter.
  RegisterFromManyThreads();
  ChannelDestroyedWithCallsPending();
  ShutdownWhileCallsAreInBackoff();
  ShutdownWhileAStatsReadIsInFlight();
  CallsAfterShutdownAndReinit();
  std::printf("shutdown: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
