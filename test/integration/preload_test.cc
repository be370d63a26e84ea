// Zero-code adoption: programs built without grpc-resilience (a C-core
// client, the grpc++ example, a Ruby client on Debian's ruby-grpc, a
// library that creates its channel in its constructor) run under
// libgrpcr_preload.so or grpcr-run against a scripted server in this
// process, which counts what reaches it.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/fixture.h"

extern char** environ;

namespace {

using grpcr_test::Fail;
using grpcr_test::Reply;
using grpcr_test::ScriptedServer;

using Env = std::vector<std::pair<std::string, std::string>>;

// A retry policy for echo.Echo: 3 attempts, 10 ms apart at most.
const char kPolicy[] =
    R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],)"
    R"("resilience":{"maxAttempts":3,"initialBackoff":"0.01s",)"
    R"("maxBackoff":"0.01s"}}]})";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with the test's environment minus anything of ours
// (LD_PRELOAD, GRPCR_*, GRPC_TRACE, GRPC_VERBOSITY), plus `env`; its
// output goes to files.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const Env& env) {
    static int seq = 0;
    const std::string base = ::testing::TempDir() + "preload_" +
                             std::to_string(getpid()) + "_" +
                             std::to_string(seq++);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    std::vector<std::string> vars;
    for (char** e = environ; *e != nullptr; e++) {
      std::string v(*e);
      if (v.rfind("LD_PRELOAD=", 0) == 0 || v.rfind("GRPCR_", 0) == 0 ||
          v.rfind("GRPC_TRACE=", 0) == 0 || v.rfind("GRPC_VERBOSITY=", 0) == 0) {
        continue;
      }
      vars.push_back(v);
    }
    for (const auto& kv : env) vars.push_back(kv.first + "=" + kv.second);
    std::vector<char*> cenv, cargv;
    for (auto& v : vars) cenv.push_back(&v[0]);
    cenv.push_back(nullptr);
    std::vector<std::string> args = argv;
    for (auto& a : args) cargv.push_back(&a[0]);
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawnp(&pid_, cargv[0], &fa, nullptr, cargv.data(),
                     cenv.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait(5000);
    }
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
  }

  // The exit code, or -1 if it did not exit within timeout_ms (it is then
  // killed).
  int Wait(int timeout_ms) {
    if (pid_ <= 0) return -1;
    for (int waited = 0; !exited_; waited += 10) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (waited >= timeout_ms) {
        kill(pid_, SIGKILL);
        timeout_ms = 1 << 30;
      }
      grpcr_test::SleepMs(10);
    }
    return code_;
  }

  // Waits until stdout contains `text`; false after timeout_ms.
  bool WaitForOutput(const std::string& text, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
      if (out().find(text) != std::string::npos) return true;
      grpcr_test::SleepMs(20);
    }
    return false;
  }

  std::string out() const { return ReadAll(out_path_); }
  std::string err() const { return ReadAll(err_path_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string out_path_, err_path_;
};

struct Result {
  int code;
  std::string out, err;
};

Result RunChild(const std::vector<std::string>& argv, const Env& env,
           int timeout_ms = 60000) {
  Child c(argv, env);
  int code = c.Wait(timeout_ms);
  return {code, c.out(), c.err()};
}

Env Preload(const std::string& policy = kPolicy) {
  return {{"LD_PRELOAD", GRPCR_PRELOAD_LIB}, {"GRPCR_CONFIG", policy}};
}

// Lines of `text` that contain `needle`.
int CountLines(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    n += line.find(needle) != std::string::npos;
  }
  return n;
}

// A port nothing listens on (bound, then closed).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// GET path from 127.0.0.1:port; the whole response ("" if it cannot
// connect).
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path +
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Connection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
    }
  }
  close(fd);
  return out;
}

// The server fails the first `failures` arrivals with UNAVAILABLE.
void FailFirst(ScriptedServer* server, int failures) {
  std::vector<Reply> script(failures, Fail(GRPC_STATUS_UNAVAILABLE, "down"));
  server->Script(script);
}

std::vector<std::string> PlainClient(const ScriptedServer& s, int calls,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {PLAIN_CLIENT_BIN, s.address(),
                                   std::to_string(calls)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// ---------------------------------------------------------------------------
// Unmodified clients: retried with the preload, not without.

TEST(PreloadTest, CClientIsRetriedOnlyUnderThePreload) {
  ScriptedServer without;
  FailFirst(&without, 2);
  Result r = RunChild(PlainClient(without, 1), {});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(without.arrival_count(), 1);

  ScriptedServer with;
  FailFirst(&with, 2);
  r = RunChild(PlainClient(with, 1), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(with.arrival_count(), 3);
  EXPECT_EQ(CountLines(r.err, "grpc-resilience"), 0) << r.err;
}

TEST(PreloadTest, GrpcrRunRetriesTheCClient) {
  ScriptedServer server;
  FailFirst(&server, 2);
  Result r = RunChild({GRPCR_RUN_BIN, "--config-json", kPolicy, "--",
                  PLAIN_CLIENT_BIN, server.address(), "1"},
                 {});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(server.arrival_count(), 3);
}

TEST(PreloadTest, GrpcrRunRetriesTheGrpcppExampleBuiltWithoutThePlugin) {
  ScriptedServer without;
  FailFirst(&without, 2);
  Result r = RunChild({CPP_CLIENT_BIN, "--target", without.address(), "--calls",
                  "1"},
                 {});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0 of 1 calls OK"), std::string::npos) << r.out;
  EXPECT_EQ(without.arrival_count(), 1);

  ScriptedServer with;
  FailFirst(&with, 2);
  std::string file = ::testing::TempDir() + "preload_policy.json";
  std::ofstream(file) << kPolicy;
  r = RunChild({GRPCR_RUN_BIN, "--config", file, CPP_CLIENT_BIN, "--target",
           with.address(), "--calls", "1"},
          {});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 of 1 calls OK"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(with.arrival_count(), 3);
}

TEST(PreloadTest, GrpcrRunRetriesARubyClient) {
  ScriptedServer without;
  FailFirst(&without, 2);
  Result r = RunChild({"ruby", RUBY_CLIENT, without.address(), "1"}, {});
  ASSERT_EQ(r.code, 0) << "ruby-grpc must be installed (bootstrap): " << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(without.arrival_count(), 1);

  ScriptedServer with;
  FailFirst(&with, 2);
  r = RunChild({GRPCR_RUN_BIN, "--config-json", kPolicy, "ruby", RUBY_CLIENT,
           with.address(), "1"},
          {});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(with.arrival_count(), 3);
}

// Before: a program that installs grpc-resilience itself (grpcr_static, or
// a libgrpcr at another path) and runs under the preload had two copies of
// the library; both registered a "resilience" parser and gRPC aborted the
// process at its first channel. Now the program's copy, registered first,
// rules with its own config; the preload's stays out with one log line.
TEST(PreloadTest, ProgramThatRegistersItselfKeepsItsOwnCopyUnderThePreload) {
  ScriptedServer server;
  FailFirst(&server, 2);
  // The program's own config: 3 attempts. The preload's policy would allow
  // only 2, so the arrivals tell which copy rules.
  const std::string own =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],)"
      R"("resilience":{"maxAttempts":3,"initialBackoff":"0.01s",)"
      R"("maxBackoff":"0.01s"}}]})";
  const std::string preload_policy =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],)"
      R"("resilience":{"maxAttempts":2,"initialBackoff":"0.01s",)"
      R"("maxBackoff":"0.01s"}}]})";
  Result r = RunChild({REGISTERING_CLIENT_BIN, server.address(), "1", own},
                      Preload(preload_policy));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("register: 0 ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(server.arrival_count(), 3);
  EXPECT_EQ(CountLines(r.err, "grpc-resilience"), 1) << r.err;
  EXPECT_EQ(CountLines(r.err, "the program installed grpc-resilience itself"),
            1)
      << r.err;
}

// glibc runs the library's constructor (which creates the channel) before
// the preload's: only the hook on gRPC's configuration build is in time.
TEST(PreloadTest, ChannelCreatedInALibraryConstructorIsRetried) {
  ScriptedServer server;
  FailFirst(&server, 2);
  Env env = Preload();
  env.push_back({"CTOR_TARGET", server.address()});
  Result r = RunChild({CTOR_CLIENT_BIN, "1"}, env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(server.arrival_count(), 3);
  EXPECT_EQ(CountLines(r.err, "grpc-resilience"), 0) << r.err;
}

// ---------------------------------------------------------------------------
// The breaker and the stats, as for a rebuilt program.

TEST(PreloadTest, BreakerOpensAgainstADownServer) {
  const std::string policy =
      R"({"resilience":{"circuitBreaker":{"minimumCalls":4,)"
      R"("failureRateThreshold":0.5,"openDuration":"30s"}}})";
  const std::string target = "127.0.0.1:" + std::to_string(FreePort());
  Result r = RunChild({PLAIN_CLIENT_BIN, target, "10"}, Preload(policy));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 10"), std::string::npos) << r.out;
  // 4 calls fail on the closed port and open the breaker; the other 6 fail
  // fast without a connection attempt.
  EXPECT_EQ(CountLines(r.out, "circuit breaker open"), 6) << r.out;
  EXPECT_EQ(CountLines(r.out, ": 14 "), 10) << r.out;
}

TEST(PreloadTest, StatsServerShowsTheChannel) {
  ScriptedServer server;
  FailFirst(&server, 2);
  const std::string stats = "127.0.0.1:" + std::to_string(FreePort());
  Env env = Preload();
  env.push_back({"GRPCR_STATS_ADDR", stats});
  env.push_back({"PLAIN_CLIENT_HOLD_MS", "20000"});
  Child client(PlainClient(server, 2), env);
  ASSERT_TRUE(client.WaitForOutput("ok 2 of 2", 20000))
      << client.out() << client.err();
  Result r = RunChild({GRPCR_STATS_BIN, "--prometheus", stats}, {});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string channel = "channel=\"dns:///" + server.address() + "\"";
  EXPECT_NE(r.out.find("grpcr_requests_total{" + channel + ",target=\"dns:///" +
                       server.address() + "\"} 2"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("grpcr_attempts_total{" + channel), std::string::npos);
  EXPECT_NE(r.out.find("grpcr_retries_total{" + channel + ",target=\"dns:///" +
                       server.address() + "\"} 2"),
            std::string::npos)
      << r.out;
}

TEST(PreloadTest, MetricsEndpointServesTheChannel) {
  ScriptedServer server;
  FailFirst(&server, 2);
  const int port = FreePort();
  Env env = Preload();
  env.push_back({"GRPCR_METRICS_ADDR", "127.0.0.1:" + std::to_string(port)});
  env.push_back({"PLAIN_CLIENT_HOLD_MS", "20000"});
  Child client(PlainClient(server, 2), env);
  ASSERT_TRUE(client.WaitForOutput("ok 2 of 2", 20000))
      << client.out() << client.err();
  const std::string body = HttpGet(port, "/metrics");
  const std::string labels = "{channel=\"dns:///" + server.address() +
                             "\",target=\"dns:///" + server.address() + "\"}";
  EXPECT_EQ(body.rfind("HTTP/1.1 200", 0), 0u) << body;
  EXPECT_NE(body.find("grpcr_requests_total" + labels + " 2\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("grpcr_retries_total" + labels + " 2\n"),
            std::string::npos)
      << body;
  EXPECT_EQ(HttpGet(port, "/other").rfind("HTTP/1.1 404", 0), 0u);
}

// ---------------------------------------------------------------------------
// The stats and /metrics addresses belong to one process.

// The requests the stats server at addr reports for the server's channel
// (-1 if it cannot be read).
int StatsRequests(const std::string& addr, const ScriptedServer& server) {
  Result r = RunChild({GRPCR_STATS_BIN, "--prometheus", addr}, {});
  if (r.code != 0) return -1;
  const std::string key = "grpcr_requests_total{channel=\"dns:///" +
                          server.address() + "\",target=\"dns:///" +
                          server.address() + "\"} ";
  size_t at = r.out.find(key);
  return at == std::string::npos ? -1 : std::stoi(r.out.substr(at + key.size()));
}

// Before: a program the service ran (a helper tool, an exec'd worker)
// inherited GRPCR_STATS_ADDR and, at its first channel, took the Unix
// socket over (gRPC unlinks the path before binding): the parent's server
// was orphaned and, once the child exited, the path was gone. Now the
// address is the parent's alone; the child serves nothing.
TEST(PreloadTest, ExecdChildNeverTakesTheParentsStatsSocket) {
  ScriptedServer server;
  const std::string sock = ::testing::TempDir() + "grpcr-parent-" +
                           std::to_string(getpid()) + ".sock";
  unlink(sock.c_str());
  Env env = Preload();
  env.push_back({"GRPCR_STATS_ADDR", "unix:" + sock});
  env.push_back({"PLAIN_CLIENT_CHILD", "exec"});
  env.push_back({"PLAIN_CLIENT_HOLD_MS", "20000"});
  env.push_back({"GRPC_VERBOSITY", "info"});
  Child parent(PlainClient(server, 2), env);
  ASSERT_TRUE(parent.WaitForOutput("child exited 0", 20000))
      << parent.out() << parent.err();
  EXPECT_NE(parent.out().find("ok 5 of 5"), std::string::npos) << parent.out();
  EXPECT_EQ(server.arrival_count(), 7);
  // After the child is gone, the parent still serves its own numbers.
  EXPECT_EQ(2, StatsRequests("unix:" + sock, server)) << parent.err();
  EXPECT_EQ(CountLines(parent.err(), "stats server on"), 1) << parent.err();
  EXPECT_EQ(CountLines(parent.err(), "serves nothing there"), 1)
      << parent.err();
  unlink(sock.c_str());
}

// With "%p" in the address every process serves its own, at its own path.
TEST(PreloadTest, PercentPGivesEachProcessItsOwnStatsSocket) {
  ScriptedServer server;
  const std::string dir = ::testing::TempDir();
  const std::string pattern = "unix:" + dir + "grpcr-%p.sock";
  Env env = Preload();
  env.push_back({"GRPCR_STATS_ADDR", pattern});
  env.push_back({"PLAIN_CLIENT_CHILD", "exec"});
  env.push_back({"PLAIN_CLIENT_HOLD_MS", "20000"});
  env.push_back({"GRPC_VERBOSITY", "info"});
  Child parent(PlainClient(server, 2), env);
  ASSERT_TRUE(parent.WaitForOutput("child exited 0", 20000))
      << parent.out() << parent.err();
  // One line from each process, with its own pid in the path.
  EXPECT_EQ(CountLines(parent.err(), "stats server on unix:" + dir + "grpcr-"),
            2)
      << parent.err();
  EXPECT_EQ(CountLines(parent.err(), "%p"), 0) << parent.err();
  const std::string mine = "unix:" + dir + "grpcr-" +
                           std::to_string(parent.pid()) + ".sock";
  EXPECT_EQ(2, StatsRequests(mine, server)) << parent.err();
  unlink(mine.substr(5).c_str());
}

// Before: a worker forked before the parent's first channel bound
// GRPCR_METRICS_ADDR first; the parent got EBIND and, once the worker
// exited, nobody served /metrics. Now only the parent binds it.
TEST(PreloadTest, ForkedWorkerNeverTakesTheParentsMetricsPort) {
  ScriptedServer server;
  const int port = FreePort();
  Env env = Preload();
  env.push_back({"GRPCR_METRICS_ADDR", "127.0.0.1:" + std::to_string(port)});
  env.push_back({"PLAIN_CLIENT_CHILD", "fork-first"});
  env.push_back({"PLAIN_CLIENT_CHILD_HOLD_MS", "1500"});
  env.push_back({"PLAIN_CLIENT_HOLD_MS", "20000"});
  Child parent(PlainClient(server, 2), env);
  ASSERT_TRUE(parent.WaitForOutput("child exited 0", 20000))
      << parent.out() << parent.err();
  EXPECT_EQ(server.arrival_count(), 4);
  const std::string body = HttpGet(port, "/metrics");
  const std::string labels = "{channel=\"dns:///" + server.address() +
                             "\",target=\"dns:///" + server.address() + "\"}";
  EXPECT_NE(body.find("grpcr_requests_total" + labels + " 2\n"),
            std::string::npos)
      << body << parent.err();
  EXPECT_EQ(CountLines(parent.err(), "did not start"), 0) << parent.err();
}

TEST(PreloadTest, TraceLogsDecisions) {
  ScriptedServer server;
  FailFirst(&server, 1);
  Env env = Preload();
  env.push_back({"GRPC_TRACE", "resilience"});
  env.push_back({"GRPC_VERBOSITY", "info"});
  Result r = RunChild(PlainClient(server, 1), env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(CountLines(r.err, "policy from the process policy"), 1) << r.err;
  EXPECT_EQ(CountLines(r.err, "starting attempt 2"), 1) << r.err;
  EXPECT_EQ(server.arrival_count(), 2);
}

// ---------------------------------------------------------------------------
// The application's and the resolver's own service configs.

TEST(PreloadTest, PolicyAppliesUnderAConfigWithoutResilience) {
  ScriptedServer server;
  FailFirst(&server, 2);
  const std::string own =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],"timeout":"5s"}]})";
  Result r = RunChild(PlainClient(server, 1, {own}), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(server.arrival_count(), 3);
}

TEST(PreloadTest, AConfigWithResilienceWins) {
  ScriptedServer server;
  FailFirst(&server, 3);
  const std::string own =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],)"
      R"("resilience":{"maxAttempts":2,"initialBackoff":"0.01s"}}]})";
  Result r = RunChild(PlainClient(server, 1, {own}), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(server.arrival_count(), 2);  // the app's 2, not the policy's 3
}

TEST(PreloadTest, AConfigWithOnlyAChannelBlockWinsForEveryMethod) {
  ScriptedServer server;
  FailFirst(&server, 2);
  const std::string own = R"({"resilience":{}})";
  Result r = RunChild(PlainClient(server, 1, {own}), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(server.arrival_count(), 1);
}

TEST(PreloadTest, AMethodWithGrpcsRetryPolicyIsNotRetriedTwice) {
  ScriptedServer server;
  FailFirst(&server, 4);
  const std::string own =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],"retryPolicy":{)"
      R"("maxAttempts":2,"initialBackoff":"0.01s","maxBackoff":"0.01s",)"
      R"("backoffMultiplier":1,"retryableStatusCodes":["UNAVAILABLE"]}}]})";
  Result r = RunChild(PlainClient(server, 1, {own}), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(server.arrival_count(), 2);  // gRPC's 2; 5 if both retried
}

// With GRPC_ARG_ENABLE_RETRIES 0 gRPC ignores its retryPolicy: the process
// policy is then the only layer and applies.
TEST(PreloadTest, AnInertRetryPolicyLeavesTheMethodToThePolicy) {
  ScriptedServer server;
  FailFirst(&server, 2);
  const std::string own =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],"retryPolicy":{)"
      R"("maxAttempts":2,"initialBackoff":"0.01s","maxBackoff":"0.01s",)"
      R"("backoffMultiplier":1,"retryableStatusCodes":["UNAVAILABLE"]}}]})";
  Result r = RunChild(PlainClient(server, 1, {own, "0"}), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 1 of 1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(server.arrival_count(), 3);
}

TEST(PreloadTest, ChannelArgumentOptsAChannelOut) {
  ScriptedServer server;
  FailFirst(&server, 2);
  Result r = RunChild(PlainClient(server, 1, {"", "-", "0"}), Preload());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(server.arrival_count(), 1);
}

// ---------------------------------------------------------------------------
// Which channels: GRPCR_TARGETS and gRPC's own channels.

TEST(PreloadTest, TargetsListIncludesAndExcludes) {
  ScriptedServer excluded;
  FailFirst(&excluded, 2);
  Env env = Preload();
  env.push_back({"GRPCR_TARGETS", "dns:///127.0.0.1:*,!*:" +
                                      std::to_string(excluded.port())});
  Result r = RunChild(PlainClient(excluded, 1), env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(excluded.arrival_count(), 1);

  ScriptedServer included;
  FailFirst(&included, 2);
  r = RunChild(PlainClient(included, 1), env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(included.arrival_count(), 3) << r.err;

  ScriptedServer other;
  FailFirst(&other, 2);
  env.back().second = "dns:///payments.*";
  r = RunChild(PlainClient(other, 1), env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(other.arrival_count(), 1);
}

// A channel to an xDS server named in gRPC's bootstrap is gRPC's own.
TEST(PreloadTest, XdsControlPlaneChannelsAreExcluded) {
  ScriptedServer server;
  FailFirst(&server, 2);
  Env env = Preload();
  env.push_back({"GRPC_XDS_BOOTSTRAP_CONFIG",
                 R"({"xds_servers":[{"server_uri":")" + server.address() +
                     R"(","channel_creds":[{"type":"insecure"}]}],"node":{}})"});
  Result r = RunChild(PlainClient(server, 1), env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server.arrival_count(), 1);

  ScriptedServer included;
  FailFirst(&included, 2);
  env.push_back({"GRPCR_INCLUDE_INTERNAL", "1"});
  env[2].second = R"({"xds_servers":[{"server_uri":")" + included.address() +
                  R"(","channel_creds":[{"type":"insecure"}]}],"node":{}})";
  r = RunChild(PlainClient(included, 1), env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(included.arrival_count(), 3);
}

// ---------------------------------------------------------------------------
// Fail-open: every refusal is one log line and a process as without.

void ExpectInstalledNothing(const Result& r, ScriptedServer& server,
                            const std::string& reason) {
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok 0 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(server.arrival_count(), 1);
  EXPECT_EQ(CountLines(r.err, "grpc-resilience"), 1) << r.err;
  EXPECT_EQ(CountLines(r.err, reason), 1) << r.err;
}

TEST(PreloadTest, InvalidPolicyIsLoggedOnceAndInstallsNothing) {
  ScriptedServer server;
  FailFirst(&server, 2);
  const std::string bad =
      R"({"methodConfig":[{"name":[{"service":"echo.Echo"}],)"
      R"("resilience":{"maxAttempts":0}}],"loadBalancingConfig":[]})";
  Result r = RunChild(PlainClient(server, 1), Preload(bad));
  ExpectInstalledNothing(
      r, server,
      "GRPCR_CONFIG: invalid policy: field:loadBalancingConfig error:is not "
      "allowed in a process policy");
  EXPECT_EQ(CountLines(r.err, "methodConfig[0].resilience.maxAttempts"), 1)
      << r.err;
}

TEST(PreloadTest, UnreadablePolicyFileInstallsNothing) {
  ScriptedServer server;
  FailFirst(&server, 2);
  Result r = RunChild(PlainClient(server, 1),
                 {{"LD_PRELOAD", GRPCR_PRELOAD_LIB},
                  {"GRPCR_CONFIG_FILE", "/nonexistent/policy.json"}});
  ExpectInstalledNothing(r, server,
                         "GRPCR_CONFIG_FILE=/nonexistent/policy.json: cannot "
                         "open: No such file or directory");
}

TEST(PreloadTest, InvalidTargetsListInstallsNothing) {
  ScriptedServer server;
  FailFirst(&server, 2);
  Env env = Preload();
  env.push_back({"GRPCR_TARGETS", "dns:///a,,b"});
  ExpectInstalledNothing(RunChild(PlainClient(server, 1), env), server,
                         "GRPCR_TARGETS=dns:///a,,b: item 2 is empty");
}

TEST(PreloadTest, AnotherLibgrpcBuildInstallsNothing) {
  ScriptedServer server;
  FailFirst(&server, 2);
  ExpectInstalledNothing(
      RunChild(PlainClient(server, 1), {{"LD_PRELOAD", GRPCR_PRELOAD_WRONG_ID_LIB},
                                   {"GRPCR_CONFIG", kPolicy}}),
      server,
      "this build was made for 0123456789abcdef0123456789abcdef01234567; "
      "nothing is installed");
}

TEST(PreloadTest, LoadedAfterTheConfigurationWasBuiltInstallsNothing) {
  ScriptedServer server;
  FailFirst(&server, 2);
  ExpectInstalledNothing(
      RunChild(PlainClient(server, 1), {{"PLAIN_CLIENT_LATE_DLOPEN", GRPCR_PRELOAD_LIB},
                                   {"GRPCR_CONFIG", kPolicy}}),
      server, "gRPC's configuration was built before the preload could act");
}

// Ubuntu links packages with -Bsymbolic-functions by default: a libgrpc
// linked so binds its own calls and never reaches the hook. The preload
// must say so rather than do nothing silently (a fake libgrpc.so.29 stands
// in for both builds).
TEST(PreloadTest, ALibgrpcThatBindsItsOwnCallsIsReported) {
  Env env = {{"LD_PRELOAD", GRPCR_PRELOAD_FAKE_LIB}, {"GRPCR_CONFIG", kPolicy}};
  Result bsym = RunChild({FAKE_CLIENT_BSYM_BIN}, env);
  ASSERT_EQ(bsym.code, 0) << bsym.err;
  EXPECT_EQ(bsym.out, "configured\n");
  EXPECT_EQ(CountLines(bsym.err, "grpc-resilience preload"), 1) << bsym.err;
  EXPECT_EQ(CountLines(bsym.err, "binds its own calls to gRPC's configuration "
                                 "build (linked with -Bsymbolic-functions?)"),
            1)
      << bsym.err;

  // Through the PLT the hook runs (and its gate refuses the fake: no
  // version), and forwards: the program still gets its configuration.
  Result plt = RunChild({FAKE_CLIENT_PLT_BIN}, env);
  ASSERT_EQ(plt.code, 0) << plt.err;
  EXPECT_EQ(plt.out, "configured\n");
  EXPECT_EQ(CountLines(plt.err, "grpc-resilience preload"), 1) << plt.err;
  EXPECT_EQ(CountLines(plt.err, "is gRPC core (unknown), this build needs "
                                "29.0.0"),
            1)
      << plt.err;
}

// A process that never uses gRPC maps the preload and nothing else of ours
// or gRPC's.
TEST(PreloadTest, ProcessWithoutGrpcLoadsOnlyTheShim) {
  Result plain = RunChild({NO_GRPC_BIN}, {});
  Result pre = RunChild({NO_GRPC_BIN}, Preload());
  ASSERT_EQ(plain.code, 0);
  ASSERT_EQ(pre.code, 0);
  EXPECT_EQ(CountLines(pre.out, ".so"), CountLines(plain.out, ".so") + 1)
      << plain.out << "---\n" << pre.out;
  EXPECT_EQ(CountLines(pre.out, "libgrpcr_preload.so"), 1) << pre.out;
  EXPECT_EQ(CountLines(pre.out, "libgrpc"), 1) << pre.out;  // the preload
  EXPECT_EQ(pre.err, "");
}

// ---------------------------------------------------------------------------
// grpcr-run's own contract.

TEST(PreloadTest, GrpcrRunRefusesAnInvalidPolicyWithoutStartingTheProgram) {
  const std::string marker = ::testing::TempDir() + "preload_marker";
  unlink(marker.c_str());
  Result r = RunChild({GRPCR_RUN_BIN, "--config-json",
                  R"({"methodConfig":[{"name":[{"service":"a"}],"resilience":{}}]})",
                  "touch", marker},
                 {});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("methodConfig[0].resilience.maxAttempts: is required"),
            std::string::npos)
      << r.err;
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the program was started";

  r = RunChild({GRPCR_RUN_BIN, "--config", "/nonexistent.json", "touch", marker},
          {});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent.json: No such file or directory"),
            std::string::npos)
      << r.err;
  r = RunChild({GRPCR_RUN_BIN, "touch", marker}, {{"GRPCR_CONFIG", "{"}});
  EXPECT_EQ(r.code, 2) << r.err;
  r = RunChild({GRPCR_RUN_BIN, "--targets", "a,!", "touch", marker}, {});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("item 2 is a '!' without a pattern"), std::string::npos)
      << r.err;
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the program was started";
}

TEST(PreloadTest, GrpcrRunUsageAndErrors) {
  Result r = RunChild({GRPCR_RUN_BIN, "--help"}, {});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("usage: grpcr-run", 0), 0u) << r.out;
  r = RunChild({GRPCR_RUN_BIN}, {});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no program to run"), std::string::npos) << r.err;
  r = RunChild({GRPCR_RUN_BIN, "--bogus", "true"}, {});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown option --bogus"), std::string::npos) << r.err;
  r = RunChild({GRPCR_RUN_BIN, "--config"}, {});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--config needs a value"), std::string::npos) << r.err;
  r = RunChild({GRPCR_RUN_BIN, "/nonexistent/program"}, {});
  EXPECT_EQ(r.code, 127);
  EXPECT_NE(r.err.find("cannot run /nonexistent/program"), std::string::npos)
      << r.err;
  r = RunChild({GRPCR_RUN_BIN, "--stats", "127.0.0.1:1", "--targets", "x*", "sh",
           "-c", "echo \"$LD_PRELOAD|$GRPCR_STATS_ADDR|$GRPCR_TARGETS\""},
          {{"LD_PRELOAD", "/other.so"}});
  EXPECT_EQ(r.code, 0) << r.err;
  char real[PATH_MAX];
  ASSERT_NE(realpath(GRPCR_PRELOAD_LIB, real), nullptr);
  EXPECT_EQ(r.out, std::string(real) + ":/other.so|127.0.0.1:1|x*\n");
}

}  // namespace
