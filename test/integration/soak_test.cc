// Soak: GRPCR_SOAK_CALLS calls (default 200,000) from 4 threads against a
// local server that fails 30% of attempts UNAVAILABLE and has a full outage
// of 0.7 s every 2 s (the breaker opens and recovers each time), with a stats read over the stats RPC every 2,000 calls. After a
// warm-up (the first tenth), resident memory may grow by less than
// kRssBoundBytes, and open file descriptors and threads stay where they
// were. Counters reconcile exactly with what the server saw.
//
// valgrind runs it shorter (scripts/valgrind_integration.sh sets
// GRPCR_SOAK_CALLS), and so does the sanitizer build (scripts/test.sh).
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace grpcr_test {
namespace {

constexpr int64_t kRssBoundBytes = 4 << 20;  // measured: 0.3 MiB over 180,000 calls

int64_t RssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

int Entries(const char* dir) {
  DIR* d = opendir(dir);
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

// A lean C-core server: each call is answered and freed at once (the
// integration fixture's server records every arrival, which a soak cannot
// afford). Attempt i fails UNAVAILABLE when (i * 2654435761) % 10 < 3, or
// always during an outage.
class SoakServer {
 public:
  SoakServer() {
    EnsureGrpcInitialized();
    cq_ = grpc_completion_queue_create_for_next(nullptr);
    server_ = grpc_server_create(nullptr, nullptr);
    grpc_server_register_completion_queue(server_, cq_, nullptr);
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    port_ = grpc_server_add_http2_port(server_, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    grpc_server_start(server_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~SoakServer() {
    grpc_server_shutdown_and_notify(server_, cq_, this);
    grpc_server_cancel_all_calls(server_);
    thread_.join();
    grpc_server_destroy(server_);
    grpc_completion_queue_destroy(cq_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int64_t arrivals() const { return arrivals_.load(); }
  void set_outage(bool on) { outage_.store(on); }

 private:
  struct Call {
    grpc_call* call = nullptr;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer* request = nullptr;
    grpc_slice status_details;
    int cancelled = 0;
    int stage = 0;  // 0 requested, 1 message read, 2 answered
  };
  void Request() {
    Call* c = new Call;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    c->status_details = grpc_empty_slice();
    grpc_server_request_call(server_, &c->call, &c->details, &c->md, cq_, cq_,
                             c);
  }
  static void Free(Call* c) {
    if (c->call != nullptr) grpc_call_unref(c->call);
    if (c->request != nullptr) grpc_byte_buffer_destroy(c->request);
    grpc_slice_unref(c->status_details);
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
      if (ev.tag == this) break;
      Call* c = static_cast<Call*>(ev.tag);
      if (!ev.success && c->stage == 0) {  // shutting down
        Free(c);
        continue;
      }
      if (c->stage == 0) {
        Request();
        c->stage = 1;
        grpc_op op;
        std::memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &c->request;
        grpc_call_start_batch(c->call, &op, 1, c, nullptr);
      } else if (c->stage == 1) {
        const int64_t i = arrivals_++;
        const bool fail =
            outage_.load() || (static_cast<uint64_t>(i) * 2654435761u) % 10 < 3;
        c->stage = 2;
        grpc_op ops[4];
        std::memset(ops, 0, sizeof(ops));
        size_t n = 0;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (!fail && c->request != nullptr) {
          ops[n].op = GRPC_OP_SEND_MESSAGE;
          ops[n++].data.send_message.send_message = c->request;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status =
            fail ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_OK;
        ops[n++].data.send_status_from_server.status_details =
            &c->status_details;
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
        grpc_call_start_batch(c->call, ops, n, c, nullptr);
      } else {
        Free(c);
      }
    }
    grpc_completion_queue_shutdown(cq_);
    while (grpc_completion_queue_next(cq_, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      nullptr)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
  }

  grpc_completion_queue* cq_;
  grpc_server* server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int64_t> arrivals_{0};
  std::atomic<bool> outage_{false};
};

TEST(SoakTest, CallsRetriesBreakerAndStatsReadsStayBounded) {
  const char* env = std::getenv("GRPCR_SOAK_CALLS");
  const int total = env != nullptr ? std::atoi(env) : 200000;
  ASSERT_GE(total, 1000);
  SoakServer server;
  int stats_port = 0;
  ASSERT_EQ(0, grpcr_stats_server_start("127.0.0.1:0", &stats_port));
  RetrySpec spec;
  spec.service = "soak.S";
  spec.method = "";
  spec.max_attempts = 3;
  spec.initial_backoff = "0.001s";
  spec.max_backoff = "0.005s";
  spec.top_level =
      "\"retryBudget\": {\"ratio\": 0.5, \"minRetriesPerSecond\": 100}, "
      "\"circuitBreaker\": {\"failureRateThreshold\": 0.2, \"minimumCalls\": "
      "20, \"window\": \"1s\", \"openDuration\": \"0.1s\", "
      // A fixed 0.1 s open period: under valgrind the doubling periods
      // of a flapping breaker outlast the quiet end of the run.
      "\"openDurationMultiplier\": 1, \"halfOpenMaxCalls\": 2}";
  const std::string name = UniqueName();
  ChannelPtr ch(MakeChannel(server.address(), ServiceConfig(spec),
                            {StringArg(GRPCR_ARG_NAME, name.c_str())}));
  ChannelPtr stats_ch(MakeChannel("127.0.0.1:" + std::to_string(stats_port),
                                  "", {IntArg(GRPCR_ARG_ENABLE, 0)}));

  std::atomic<int> next{0}, done{0}, ok{0}, unavailable{0}, other{0};
  std::atomic<int> stats_reads{0};
  int64_t rss_warm = 0;
  int fds_warm = 0, threads_warm = 0;
  std::mutex warm_mu;
  const int warm_at = total / 10;
  std::atomic<bool> finished{false};
  std::atomic<int> outages{0};
  // Every 2 s, a 0.7 s outage (none in the last tenth of the calls, so
  // the run ends healthy): the breaker opens in each, then recovers.
  std::thread chaos([&] {
    while (!finished.load()) {
      for (int t = 0; t < 130 && !finished.load(); t++) SleepMs(10);
      if (finished.load() || next.load() >= total - total / 10) continue;
      server.set_outage(true);
      SleepMs(700);
      server.set_outage(false);
      outages++;
    }
  });
  auto worker = [&] {
    for (;;) {
      const int i = next++;
      if (i >= total) return;
      if (i % 2000 == 0) {
        CallResult s =
            UnaryCall(stats_ch.get(), GRPCR_STATS_GET_STATS_METHOD, "", 5000);
        if (s.status == GRPC_STATUS_OK && s.got_response) stats_reads++;
      }
      CallResult r = UnaryCall(ch.get(), "/soak.S/Echo", "payload", 10000);
      if (r.status == GRPC_STATUS_OK) {
        ok++;
      } else if (r.status == GRPC_STATUS_UNAVAILABLE) {
        unavailable++;
        // A failed-fast call costs microseconds: an application that
        // hammered the breaker in a loop would spend the run's calls in
        // its OPEN periods. Pace like a client with its own backoff.
        if (r.details.rfind("circuit breaker open", 0) == 0) SleepMs(1);
      } else {
        other++;
      }
      if (++done == warm_at) {
        std::lock_guard<std::mutex> lk(warm_mu);
        rss_warm = RssBytes();
        fds_warm = Entries("/proc/self/fd");
        threads_warm = Entries("/proc/self/task");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  finished = true;
  chaos.join();
  SleepMs(200);  // the last calls' own cleanup
  const int64_t rss_end = RssBytes();
  const int fds_end = Entries("/proc/self/fd");
  const int threads_end = Entries("/proc/self/task");
  grpcr_channel_snapshot s = StatsFor(name);
  grpcr_stats_server_stop();

  RecordProperty("calls", total);
  RecordProperty("outages", outages.load());
  RecordProperty("rss_warm_kb", static_cast<int>(rss_warm / 1024));
  RecordProperty("rss_end_kb", static_cast<int>(rss_end / 1024));
  RecordProperty("fds_warm", fds_warm);
  RecordProperty("fds_end", fds_end);
  RecordProperty("threads_warm", threads_warm);
  RecordProperty("threads_end", threads_end);
  RecordProperty("breaker_opened", static_cast<int>(s.breaker.opened_total));
  RecordProperty("retries", static_cast<int>(s.retries));
  RecordProperty("rejected", static_cast<int>(s.breaker_rejected));
  std::printf(
      "soak: %d calls (%d OK, %d UNAVAILABLE, %d other), %lld attempts, "
      "%llu retries, %llu denied, %llu rejected, breaker opened %llu times, "
      "%d stats reads, %d outages; RSS %lld -> %lld KiB, fds %d -> %d, threads %d -> %d\n",
      total, ok.load(), unavailable.load(), other.load(),
      static_cast<long long>(server.arrivals()),
      static_cast<unsigned long long>(s.retries),
      static_cast<unsigned long long>(s.budget_denied),
      static_cast<unsigned long long>(s.breaker_rejected),
      static_cast<unsigned long long>(s.breaker.opened_total),
      stats_reads.load(), outages.load(),
      static_cast<long long>(rss_warm / 1024),
      static_cast<long long>(rss_end / 1024), fds_warm, fds_end, threads_warm,
      threads_end);

  // Every call one final status, and the counters add up.
  EXPECT_EQ(total, ok + unavailable + other);
  EXPECT_EQ(0, other.load());
  EXPECT_EQ(static_cast<uint64_t>(total), s.requests);
  EXPECT_EQ(static_cast<uint64_t>(total), s.finished);
  EXPECT_EQ(static_cast<uint64_t>(ok.load()), s.status_counts[GRPC_STATUS_OK]);
  EXPECT_EQ(static_cast<uint64_t>(server.arrivals()), s.attempts);
  EXPECT_EQ(s.attempts - (s.requests - s.breaker_rejected - s.throttled),
            s.retries);
  // The breaker tripped in the outages and recovered after each (an outage
  // that begins while it is still open or probing adds no opening).
  EXPECT_GE(outages.load(), 1);
  EXPECT_GE(s.breaker.opened_total, static_cast<uint64_t>(outages.load() / 2));
  EXPECT_GE(s.breaker.opened_total, 1u);
  EXPECT_EQ(GRPCR_BREAKER_CLOSED, s.breaker.state);
  EXPECT_GE(stats_reads.load(), total / 2000);
  // Bounded: memory after warm-up (not under valgrind or AddressSanitizer,
  // whose own bookkeeping and quarantine of freed memory grow the process;
  // they check leaks instead), descriptors and threads.
#if defined(__SANITIZE_ADDRESS__)
  const bool rss_meaningful = false;
#else
  const char* preload = std::getenv("LD_PRELOAD");
  const bool rss_meaningful =
      preload == nullptr || std::strstr(preload, "vgpreload") == nullptr;
#endif
  if (rss_meaningful) {
    EXPECT_LT(rss_end - rss_warm, kRssBoundBytes);
  }
  EXPECT_LE(fds_end, fds_warm + 2);
  EXPECT_LE(threads_end, threads_warm + 2);
}

}  // namespace
}  // namespace grpcr_test
