// Chaos: 16 client threads call through the filter (retries, budget,
// breaker) while the server process (chaos_server.cc) is SIGKILLed and
// restarted three times, stays down past the breaker's openDuration once,
// answers slower than the calls' deadlines once, and resets every call
// mid-call once. Checked: every call gets exactly one final status and
// none outlives its deadline by more than the timer's slack; no attempt
// reaches the server after its call's deadline (kLateToleranceMs for the
// hop from client to server); every breaker transition the trace reports
// is a legal one and they chain; the counters reconcile exactly with the
// calls made. The sanitizer build runs it too (a leak or a bad access in
// the client fails it).
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

#ifndef GRPCR_CHAOS_SERVER_BIN
#error "GRPCR_CHAOS_SERVER_BIN must name the chaos server binary"
#endif

extern "C" int grpc_tracer_set_enabled(const char* name, int enabled);

namespace grpcr_test {
namespace {

constexpr int kThreads = 16;
constexpr int kDeadlineMs = 500;
constexpr int64_t kLateToleranceMs = 50;

int64_t NowUnixMs() {
  gpr_timespec t = gpr_now(GPR_CLOCK_REALTIME);
  return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a;
  std::memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// The server process: started in a mode, killed with SIGKILL.
class ServerProcess {
 public:
  ServerProcess(int port, std::string log) : port_(port), log_(std::move(log)) {}
  ~ServerProcess() { Kill(); }
  void Start(const std::string& mode) {
    int ready[2];
    ASSERT_EQ(0, pipe(ready));
    pid_ = fork();
    if (pid_ == 0) {
      dup2(ready[1], STDOUT_FILENO);
      close(ready[0]);
      const std::string port = std::to_string(port_);
      execl(GRPCR_CHAOS_SERVER_BIN, GRPCR_CHAOS_SERVER_BIN, port.c_str(),
            mode.c_str(), log_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(ready[1]);
    char buf[8] = {};
    // The port of a killed server can take a moment to be free again: the
    // server exits 69 then, and we try again.
    ssize_t n = read(ready[0], buf, sizeof(buf) - 1);
    close(ready[0]);
    if (n <= 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
      if (++bind_retries_ < 50) {
        SleepMs(20);
        Start(mode);
        return;
      }
      FAIL() << "chaos server did not start: " << status;
    }
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  int port_;
  std::string log_;
  pid_t pid_ = -1;
  int bind_retries_ = 0;
};

// The breaker transitions the resilience trace reports for one channel.
std::mutex g_log_mu;
std::string g_channel;
std::vector<std::pair<std::string, std::string>> g_transitions;

void CaptureLog(gpr_log_func_args* args) {
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    std::fprintf(stderr, "%s\n", args->message);
  }
  const char* m = args->message;
  const char* b = std::strstr(m, "]: breaker ");
  if (b == nullptr) return;
  std::lock_guard<std::mutex> lk(g_log_mu);
  const std::string prefix = "resilience[" + g_channel + "]";
  if (std::strncmp(m, prefix.c_str(), prefix.size()) != 0) return;
  char from[16] = {}, to[16] = {};
  if (std::sscanf(b, "]: breaker %15s -> %15s", from, to) == 2) {
    g_transitions.emplace_back(from, to);
  }
}

TEST(ChaosTest, SixteenThreadsThroughKillsOutagesSlownessAndResets) {
  EnsureGrpcInitialized();
  const int port = FreePort();
  char log_path[] = "/tmp/grpcr-chaos-XXXXXX";
  int log_fd = mkstemp(log_path);
  ASSERT_GE(log_fd, 0);
  close(log_fd);
  ServerProcess server(port, log_path);
  server.Start("ok");

  RetrySpec spec;
  spec.service = "chaos.S";
  spec.method = "";
  spec.max_attempts = 4;
  spec.initial_backoff = "0.05s";
  spec.max_backoff = "0.2s";
  spec.jitter = "FULL";
  spec.multiplier = 2;
  spec.top_level =
      "\"retryBudget\": {\"ratio\": 0.5, \"minRetriesPerSecond\": 50}, "
      "\"circuitBreaker\": {\"failureRateThreshold\": 0.5, \"minimumCalls\": "
      "20, \"window\": \"1s\", \"openDuration\": \"0.3s\", "
      "\"halfOpenMaxCalls\": 2, \"probeTimeout\": \"1s\"}";
  const std::string name = UniqueName();
  {
    std::lock_guard<std::mutex> lk(g_log_mu);
    g_channel = name;
    g_transitions.clear();
  }
  gpr_set_log_function(CaptureLog);
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_INFO);
  grpc_tracer_set_enabled("resilience", 1);
  ChannelPtr ch(MakeChannel("127.0.0.1:" + std::to_string(port),
                            ServiceConfig(spec),
                            {StringArg(GRPCR_ARG_NAME, name.c_str())}));

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, overran{0};
  std::mutex codes_mu;
  std::map<int, int> codes;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      std::map<int, int> mine;
      while (!stop.load()) {
        const int64_t deadline = NowUnixMs() + kDeadlineMs;
        CallResult r = UnaryCall(
            ch.get(), "/chaos.S/Echo", "chaos", kDeadlineMs,
            {{"x-deadline-unix-ms", std::to_string(deadline)}});
        calls++;
        mine[r.status]++;
        // One final status, and not long after the deadline.
        if (!r.completed || r.elapsed_ns > (kDeadlineMs + 250) * 1000000LL) {
          overran++;
        }
        if (r.details.rfind("circuit breaker open", 0) == 0) SleepMs(2);
      }
      std::lock_guard<std::mutex> lk(codes_mu);
      for (auto& kv : mine) codes[kv.first] += kv.second;
    });
  }

  SleepMs(1500);
  for (int i = 0; i < 3; i++) {  // killed and back at once
    server.Kill();
    SleepMs(150);
    server.Start("ok");
    SleepMs(600);
  }
  server.Kill();  // down past openDuration
  SleepMs(1000);
  server.Start("ok");
  SleepMs(800);
  server.Kill();  // slower than the deadline
  server.Start("slow:800");
  SleepMs(1500);
  server.Kill();
  server.Start("ok");
  SleepMs(600);
  server.Kill();  // every call reset mid-call
  server.Start("reset");
  SleepMs(1000);
  server.Kill();
  server.Start("ok");
  SleepMs(1000);
  stop = true;
  for (auto& t : threads) t.join();
  server.Kill();
  grpc_tracer_set_enabled("resilience", 0);
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
  gpr_set_log_function(nullptr);

  grpcr_channel_snapshot s = StatsFor(name);
  int64_t arrivals = 0, late = 0, worst_ms = 0;
  {
    std::ifstream in(log_path);
    long long at = 0, deadline = 0;
    while (in >> at >> deadline) {
      arrivals++;
      if (deadline > 0 && at > deadline + kLateToleranceMs) late++;
      if (deadline > 0 && at - deadline > worst_ms) worst_ms = at - deadline;
    }
  }
  unlink(log_path);
  std::vector<std::pair<std::string, std::string>> transitions;
  {
    std::lock_guard<std::mutex> lk(g_log_mu);
    transitions = g_transitions;
  }
  std::string summary;
  for (auto& kv : codes) {
    summary += std::string(grpcr_status_name(kv.first)) + "=" +
               std::to_string(kv.second) + " ";
  }
  std::printf(
      "chaos: %d calls (%s), %llu attempts, %llu retries, %llu denied, %llu "
      "rejected, %lld server arrivals (latest %lld ms past a deadline), "
      "breaker: %zu transitions, opened %llu\n",
      calls.load(), summary.c_str(),
      static_cast<unsigned long long>(s.attempts),
      static_cast<unsigned long long>(s.retries),
      static_cast<unsigned long long>(s.budget_denied),
      static_cast<unsigned long long>(s.breaker_rejected),
      static_cast<long long>(arrivals), static_cast<long long>(worst_ms),
      transitions.size(),
      static_cast<unsigned long long>(s.breaker.opened_total));
  RecordProperty("calls", calls.load());
  RecordProperty("arrivals", static_cast<int>(arrivals));

  // One final status per call, none hanging past its deadline.
  EXPECT_EQ(0, overran.load());
  EXPECT_EQ(static_cast<uint64_t>(calls.load()), s.requests);
  EXPECT_EQ(static_cast<uint64_t>(calls.load()), s.finished);
  for (auto& kv : codes) {
    EXPECT_EQ(static_cast<uint64_t>(kv.second), s.status_counts[kv.first])
        << grpcr_status_name(kv.first);
  }
  // Attempts: every call not rejected made one, plus its retries.
  EXPECT_EQ(s.attempts,
            s.requests - s.breaker_rejected - s.throttled + s.retries);
  EXPECT_LE(static_cast<uint64_t>(arrivals), s.attempts);
  // No attempt after its call's deadline.
  EXPECT_EQ(0, late);
  // The breaker opened, and every transition was a legal one, in a chain.
  EXPECT_GE(s.breaker.opened_total, 1u);
  std::string state = "CLOSED";
  for (auto& tr : transitions) {
    EXPECT_EQ(state, tr.first) << "a transition from a state it was not in";
    const bool legal =
        (tr.first == "CLOSED" && tr.second == "OPEN") ||
        (tr.first == "OPEN" && tr.second == "HALF_OPEN") ||
        (tr.first == "HALF_OPEN" && tr.second == "OPEN") ||
        (tr.first == "HALF_OPEN" && tr.second == "CLOSED");
    EXPECT_TRUE(legal) << tr.first << " -> " << tr.second;
    state = tr.second;
  }
  // The trace and the stats agree; a snapshot may itself have applied a
  // due OPEN -> HALF_OPEN (it is not traced).
  if (state == "OPEN" && s.breaker.state == GRPCR_BREAKER_HALF_OPEN) {
    EXPECT_EQ(s.breaker.transitions_total, transitions.size() + 1);
  } else {
    EXPECT_EQ(s.breaker.transitions_total, transitions.size());
    EXPECT_EQ(std::string(grpcr_breaker_state_name(s.breaker.state)), state);
  }
}

}  // namespace
}  // namespace grpcr_test
