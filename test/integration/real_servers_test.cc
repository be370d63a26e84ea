// The filter against real gRPC servers nobody on this team wrote: grpc-js
// (Node), Python's grpcio, Ruby's GRPC::RpcServer (test/realservers/), and
// gRPC's own Ruby interop server as Debian's ruby-grpc ships it. Each runs
// as a child process on 127.0.0.1 and fails a call in one of two ways:
//   fail          UNAVAILABLE with no response headers of its own
//   fail-headers  response headers (initial metadata) first, THEN UNAVAILABLE
// For each server and way, a channel with the filter (3 attempts, a breaker
// that opens at 50% of 5 calls for 1 s, a budget that never refuses) must
// retry every failed call and open its breaker after the 5th, then close it
// again on one successful probe. Two sanity tests per server and way, on
// channels without the filter, prove the way is what it claims: the
// response headers the application sees, and whether gRPC's own
// retryPolicy (which retries only Trailers-Only failures) retries it.
// Ruby's servers never fail Trailers-Only: see ServerKind.
//
// A server that cannot start (node_modules missing, no python3-grpcio, ...)
// fails the test: scripts/bootstrap.sh installs everything.
#include <gtest/gtest.h>

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

#ifndef GRPCR_REALSERVERS_DIR
#error "GRPCR_REALSERVERS_DIR (the test/realservers directory) must be defined"
#endif

extern char** environ;

namespace grpcr_test {
namespace {

constexpr int kStartTimeoutMs = 30000;  // a cold ruby or node start
constexpr int kCallTimeoutMs = 5000;

// ---- child processes -------------------------------------------------------

// A server process whose stdin and stdout+stderr are pipes to us. It prints
// "PORT <n>" once listening and exits when its stdin closes (so it also
// goes when this process dies).
class ServerProcess {
 public:
  ~ServerProcess() { Stop(); }

  // Starts argv (argv[0] looked up on PATH) and waits for its PORT line.
  // false, with *error saying why and what the process printed, if it
  // could not be run, exited, or printed no PORT line in time.
  bool Start(const std::vector<std::string>& argv, std::string* error) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      *error = std::string("pipe2: ") + std::strerror(errno);
      return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      *error = "cannot run " + argv[0] + ": " + std::strerror(rc);
      return false;
    }
    // Read until the PORT line; anything before it (warnings) is kept.
    std::string text;
    const int64_t deadline = NowNs() + int64_t{kStartTimeoutMs} * 1000000;
    for (;;) {
      size_t at = text.rfind("PORT ", 0) == 0 ? 0 : text.find("\nPORT ");
      if (at != std::string::npos && at > 0) at++;  // past the newline
      size_t eol = at == std::string::npos ? at : text.find('\n', at);
      if (eol != std::string::npos) {
        port_ = std::atoi(text.c_str() + at + 5);
        output_ = text.substr(0, at) + text.substr(eol + 1);
        break;
      }
      int left_ms = static_cast<int>((deadline - NowNs()) / 1000000);
      if (left_ms <= 0) {
        *error = "no PORT line within " + std::to_string(kStartTimeoutMs) +
                 " ms; it printed:\n" + text;
        return false;
      }
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, left_ms) <= 0) continue;
      char buf[4096];
      ssize_t n = read(stdout_fd_, buf, sizeof(buf));
      if (n <= 0) {
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        std::ostringstream why;
        why << "exited (";
        if (WIFEXITED(status)) why << "status " << WEXITSTATUS(status);
        if (WIFSIGNALED(status)) why << "signal " << WTERMSIG(status);
        why << ") before printing its PORT line; it printed:\n" << text;
        *error = why.str();
        return false;
      }
      text.append(buf, static_cast<size_t>(n));
    }
    // Keep reading what it prints, so a chatty server never blocks on a
    // full pipe.
    drain_ = std::thread([this] {
      char buf[4096];
      for (;;) {
        ssize_t n = read(stdout_fd_, buf, sizeof(buf));
        if (n <= 0) break;
        std::lock_guard<std::mutex> lock(mu_);
        output_.append(buf, static_cast<size_t>(n));
      }
    });
    return port_ > 0;
  }

  // Closes its stdin and waits up to 3 s for it to exit; then SIGTERM,
  // 2 s, SIGKILL. Always reaps it.
  void Stop() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    stdin_fd_ = -1;
    if (pid_ > 0) {
      if (!Reap(3000)) {
        kill(pid_, SIGTERM);
        if (!Reap(2000)) {
          kill(pid_, SIGKILL);
          waitpid(pid_, nullptr, 0);
        }
      }
      pid_ = -1;
    }
    if (drain_.joinable()) drain_.join();  // its stdout closed with it
    if (stdout_fd_ >= 0) close(stdout_fd_);
    stdout_fd_ = -1;
  }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string output() {
    std::lock_guard<std::mutex> lock(mu_);
    return output_;
  }

 private:
  bool Reap(int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return true;
      SleepMs(10);
    }
    return false;
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::thread drain_;
  std::mutex mu_;
  std::string output_;  // what it printed, but the PORT line
};

// ---- the servers -----------------------------------------------------------

enum class Kind { kGrpcJs, kPython, kRuby, kRubyInterop };
enum class Mode { kFail, kFailHeaders };

const char* ModeName(Mode m) {
  return m == Mode::kFail ? "fail" : "fail-headers";
}
const char* KindName(Kind k) {
  static const char* const kNames[] = {"GrpcJs", "Python", "Ruby",
                                       "RubyInterop"};
  return kNames[static_cast<int>(k)];
}
// For GoogleTest's messages.
void PrintTo(Kind k, std::ostream* os) { *os << KindName(k); }
void PrintTo(Mode m, std::ostream* os) { *os << ModeName(m); }

// One kind of server: how to run it and how to ask it for each behaviour.
struct ServerKind {
  const char* name = "";
  std::vector<std::string> argv;
  std::string needs;            // a file that must exist first ("" none)
  std::string needs_hint;       // how to get it
  std::string service, method;  // the method the tests call
  bool counts = true;           // has /echo.Echo/Count
  std::string details;          // the details of its UNAVAILABLE
  std::string header;           // the response header fail-headers sends
  // Whether its `fail` is a Trailers-Only response. Ruby's RpcServer sends
  // a failing status after the call's initial metadata, in a batch of its
  // own (ActiveCall#send_status calls send_initial_metadata first), so the
  // client gets empty response headers, then the status: never
  // Trailers-Only, whatever the handler does.
  bool fail_is_trailers_only = true;
};

std::string Dir() { return GRPCR_REALSERVERS_DIR; }

ServerKind MakeKind(Kind k) {
  ServerKind s;
  s.service = "echo.Echo";
  s.method = "Say";
  s.counts = true;
  s.header = "x-request-id";
  s.fail_is_trailers_only = true;
  switch (k) {
    case Kind::kGrpcJs:
      s.name = "grpc-js";
      s.argv = {"node", Dir() + "/server.js", "0"};
      s.needs = Dir() + "/node_modules/@grpc/grpc-js/package.json";
      s.needs_hint = "run scripts/bootstrap.sh (npm ci in test/realservers)";
      s.details = "grpc-js says no";
      break;
    case Kind::kPython:
      s.name = "python";
      // Debian's interpreter: a python3 earlier on PATH (pyenv) has no grpc.
      s.argv = {"/usr/bin/python3", Dir() + "/server.py", "0"};
      s.details = "python says no";
      break;
    case Kind::kRuby:
      s.name = "ruby";
      s.argv = {"ruby", Dir() + "/server.rb", "0"};
      s.details = "ruby says no";
      s.fail_is_trailers_only = false;
      break;
    case Kind::kRubyInterop:
      // Runs the gem's src/ruby/pb/test/server.rb (see the wrapper).
      s.name = "ruby-interop";
      s.argv = {"ruby", Dir() + "/interop_server.rb"};
      s.service = "grpc.testing.TestService";
      s.method = "UnaryCall";
      s.counts = false;
      s.details = "interop says no";  // it fails with the status we ask for
      // Its one response header: it echoes this client header back.
      s.header = "x-grpc-test-echo-initial";
      s.fail_is_trailers_only = false;
      break;
  }
  return s;
}

const ServerKind& KindOf(Kind k) {
  static const std::map<Kind, ServerKind>* kinds =
      new std::map<Kind, ServerKind>{
          {Kind::kGrpcJs, MakeKind(Kind::kGrpcJs)},
          {Kind::kPython, MakeKind(Kind::kPython)},
          {Kind::kRuby, MakeKind(Kind::kRuby)},
          {Kind::kRubyInterop, MakeKind(Kind::kRubyInterop)},
      };
  return kinds->at(k);
}

// A protobuf field: tag, then a varint or length-delimited bytes.
std::string Varint(uint64_t v) {
  std::string s;
  for (; v >= 0x80; v >>= 7) s += static_cast<char>((v & 0x7f) | 0x80);
  return s + static_cast<char>(v);
}
std::string VarintField(int field, uint64_t v) {
  return Varint(static_cast<uint64_t>(field) << 3) + Varint(v);
}
std::string BytesField(int field, const std::string& bytes) {
  return Varint((static_cast<uint64_t>(field) << 3) | 2) +
         Varint(bytes.size()) + bytes;
}

// grpc.testing.SimpleRequest{response_size: 4}, and one whose
// response_status (7) is EchoStatus{code (1), message (2)}.
std::string InteropOkRequest() { return VarintField(2, 4); }
std::string InteropFailingRequest(int code, const std::string& message) {
  return BytesField(7, VarintField(1, static_cast<uint64_t>(code)) +
                           BytesField(2, message));
}
// SimpleResponse{payload: Payload{body: 4 zero bytes}}: what it answers.
std::string InteropOkResponse() {
  return BytesField(1, BytesField(2, std::string(4, '\0')));
}

// A request: the method, its payload and the client's metadata.
struct Request {
  std::string method;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> metadata;
};

Request FailingRequest(Kind k, Mode m, const std::string& tag) {
  const ServerKind& s = KindOf(k);
  Request r;
  r.method = "/" + s.service + "/" + s.method;
  if (k == Kind::kRubyInterop) {
    r.payload = InteropFailingRequest(GRPC_STATUS_UNAVAILABLE, s.details);
    if (m == Mode::kFailHeaders) r.metadata = {{s.header, "interop-" + tag}};
  } else {
    r.payload = std::string(ModeName(m)) + ":" + tag;
  }
  return r;
}

Request OkRequest(Kind k, const std::string& tag) {
  const ServerKind& s = KindOf(k);
  Request r;
  r.method = "/" + s.service + "/" + s.method;
  r.payload = k == Kind::kRubyInterop ? InteropOkRequest() : "ok:" + tag;
  return r;
}

std::string ExpectedOkResponse(Kind k, const Request& ok) {
  return k == Kind::kRubyInterop ? InteropOkResponse() : ok.payload;
}

CallResult Call(grpc_channel* ch, const Request& r) {
  return UnaryCall(ch, r.method, r.payload, kCallTimeoutMs, r.metadata);
}

std::string Dump(const std::multimap<std::string, std::string>& md) {
  std::string s = "{";
  for (const auto& kv : md) s += " " + kv.first + ": " + kv.second + ";";
  return s + " }";
}

// ---- gRPC's own count of attempts (channelz) --------------------------------

// The first `"key":"<digits>"` at or after pos in json, as a number; npos in
// *end if none.
long long JsonNumberAfter(const std::string& json, const std::string& key,
                          size_t pos, size_t* end) {
  const std::string k = "\"" + key + "\":\"";
  size_t at = json.find(k, pos);
  *end = at;
  if (at == std::string::npos) return -1;
  return std::atoll(json.c_str() + at + k.size());
}

std::string TakeJson(char* json) {
  std::string s = json != nullptr ? json : "";
  gpr_free(json);
  return s;
}

// The calls that the subchannels of the newest channel with this target
// started: gRPC's own count of attempts, from channelz (no retry layer of
// ours involved). -1 if channelz has no such channel.
long long GrpcAttempts(const std::string& target) {
  std::string top = TakeJson(grpc_channelz_get_top_channels(0));
  // Channels come in id order, each {"data":{..."target":...},"ref":...}.
  size_t at = top.rfind("\"target\":\"" + target + "\"");
  if (at == std::string::npos) return -1;
  size_t end;
  long long id = JsonNumberAfter(top, "channelId", at, &end);
  if (end == std::string::npos) return -1;
  std::string channel = TakeJson(grpc_channelz_get_channel(id));
  long long calls = 0;
  std::vector<long long> seen;
  for (size_t pos = 0;; pos = end + 1) {
    long long sub = JsonNumberAfter(channel, "subchannelId", pos, &end);
    if (end == std::string::npos) break;
    if (std::find(seen.begin(), seen.end(), sub) != seen.end()) continue;
    seen.push_back(sub);
    std::string json = TakeJson(grpc_channelz_get_subchannel(sub));
    long long n = JsonNumberAfter(json, "callsStarted", 0, &end);
    if (end != std::string::npos) calls += n;  // absent: none started
  }
  return calls;
}

// One process of each kind for the whole suite, started on first use; a
// start that failed is not tried again (every test of that kind fails with
// its message).
struct Started {
  std::unique_ptr<ServerProcess> process;
  std::string error;
};
std::map<Kind, Started>& Servers() {
  static std::map<Kind, Started>* servers = new std::map<Kind, Started>;
  return *servers;
}

// ---- the tests -------------------------------------------------------------

class RealServerTest
    : public ::testing::TestWithParam<std::tuple<Kind, Mode>> {
 protected:
  static void TearDownTestSuite() { Servers().clear(); }

  void SetUp() override {
    kind_ = std::get<0>(GetParam());
    mode_ = std::get<1>(GetParam());
    server_ = StartedServer(kind_);
    ASSERT_NE(nullptr, server_)
        << KindOf(kind_).name << " server did not start (scripts/bootstrap.sh "
        << "installs what each needs): " << Servers()[kind_].error;
    tag_ = UniqueName(ModeName(mode_));
    // A channel without the filter, for Count and the sanity checks.
    control_.reset(MakeChannel(server_->address(), "",
                               {IntArg(GRPCR_ARG_ENABLE, 0)}));
    ASSERT_TRUE(WaitForReady(control_.get(), 10000))
        << KindOf(kind_).name << " at " << server_->address()
        << " never got READY; it printed:\n" << server_->output();
  }

  static ServerProcess* StartedServer(Kind k) {
    Started& s = Servers()[k];
    if (s.process == nullptr && s.error.empty()) {
      const ServerKind& kind = KindOf(k);
      struct stat st;
      if (!kind.needs.empty() && stat(kind.needs.c_str(), &st) != 0) {
        s.error = kind.needs + " is missing: " + kind.needs_hint;
        return nullptr;
      }
      auto p = std::make_unique<ServerProcess>();
      if (p->Start(kind.argv, &s.error)) {
        s.process = std::move(p);
      } else if (s.error.empty()) {
        s.error = "bad PORT line";
      }
    }
    return s.process.get();
  }

  // A channel with the filter: 3 attempts 10 ms apart on UNAVAILABLE, a
  // breaker that opens when half of at least 5 calls failed, for 1 s, with
  // one probe, and a budget that never refuses a retry here.
  ChannelPtr FilterChannel() {
    RetrySpec spec;
    spec.max_attempts = 3;
    spec.initial_backoff = "0.01s";
    spec.max_backoff = "0.01s";
    spec.jitter = "NONE";
    spec.codes = {"UNAVAILABLE"};
    spec.service = KindOf(kind_).service;
    spec.method = KindOf(kind_).method;
    spec.top_level =
        "\"circuitBreaker\": {\"failureRateThreshold\": 0.5, "
        "\"minimumCalls\": 5, \"openDuration\": \"1s\", "
        "\"halfOpenMaxCalls\": 1}, "
        "\"retryBudget\": {\"ratio\": 1, \"minRetriesPerSecond\": 100}";
    std::string config = ServiceConfig(spec);
    char* errors = nullptr;
    EXPECT_EQ(0, grpcr_validate_service_config(config.c_str(), &errors))
        << config << "\n" << (errors != nullptr ? errors : "");
    if (errors != nullptr) grpcr_free(errors);
    name_ = UniqueName(KindOf(kind_).name);
    ChannelPtr ch(MakeChannel(server_->address(), config,
                              {StringArg(GRPCR_ARG_NAME, name_.c_str())}));
    EXPECT_TRUE(WaitForReady(ch.get(), 10000));
    return ch;
  }

  // Say arrivals with tag_ so far, as the server counted them.
  int ServerCount(const std::string& tag) {
    CallResult r = UnaryCall(control_.get(), "/echo.Echo/Count", tag,
                             kCallTimeoutMs);
    EXPECT_EQ(GRPC_STATUS_OK, r.status) << "Count: " << r.details;
    return std::atoi(r.response.c_str());
  }

  // 20 failing calls in a row on ch, each answered UNAVAILABLE; returns how
  // many carried the server's own details (the others the breaker failed).
  int TwentyFailingCalls(grpc_channel* ch) {
    Request req = FailingRequest(kind_, mode_, tag_);
    int from_server = 0;
    for (int i = 0; i < 20; i++) {
      CallResult r = Call(ch, req);
      EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status)
          << "call " << i << ": " << r.details;
      if (r.details == KindOf(kind_).details) from_server++;
    }
    return from_server;
  }

  Kind kind_;
  Mode mode_;
  ServerProcess* server_ = nullptr;
  ChannelPtr control_;
  std::string tag_;
  std::string name_;
};

// Every failed call is retried (3 attempts), and the 5th failed call opens
// the breaker, which then fails the other 15 calls without sending them.
TEST_P(RealServerTest, RetriesThreeTimesAndOpensTheBreakerAfterFiveCalls) {
  ChannelPtr ch = FilterChannel();
  EXPECT_EQ(5, TwentyFailingCalls(ch.get()));
  if (KindOf(kind_).counts) {
    EXPECT_EQ(15, ServerCount(tag_)) << "attempts the server received";
  }
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(20u, s.requests);
  EXPECT_EQ(15u, s.attempts);
  EXPECT_EQ(10u, s.retries);
  EXPECT_EQ(15u, s.breaker_rejected);
  EXPECT_EQ(20u, s.status_counts[GRPC_STATUS_UNAVAILABLE]);
  ASSERT_TRUE(s.has_breaker);
  EXPECT_STREQ("OPEN", grpcr_breaker_state_name(s.breaker.state));
}

// Once openDuration has passed, the next call is the one probe; it
// succeeds and the breaker closes, and calls go through again.
TEST_P(RealServerTest, OpenBreakerClosesOnOneSuccessfulProbe) {
  ChannelPtr ch = FilterChannel();
  TwentyFailingCalls(ch.get());
  grpcr_channel_snapshot s = StatsFor(name_);
  ASSERT_TRUE(s.has_breaker);
  ASSERT_STREQ("OPEN", grpcr_breaker_state_name(s.breaker.state))
      << "the breaker must be open first; attempts " << s.attempts
      << ", rejected " << s.breaker_rejected;
  SleepMs(1100);
  Request ok = OkRequest(kind_, tag_);
  for (int i = 0; i < 3; i++) {
    CallResult r = Call(ch.get(), ok);
    EXPECT_EQ(GRPC_STATUS_OK, r.status) << "call " << i << ": " << r.details;
    EXPECT_EQ(ExpectedOkResponse(kind_, ok), r.response) << "call " << i;
    s = StatsFor(name_);
    EXPECT_STREQ("CLOSED", grpcr_breaker_state_name(s.breaker.state))
        << "after ok call " << i;
  }
  if (KindOf(kind_).counts) {
    EXPECT_EQ(3, ServerCount(tag_) - 15) << "ok calls the server received";
  }
  EXPECT_EQ(15u, s.breaker_rejected);
  EXPECT_EQ(3u, s.status_counts[GRPC_STATUS_OK]);
}

// Without the filter, so independent of our code: `fail-headers` really
// delivers response headers (with the server's header) before the
// UNAVAILABLE status, and `fail` delivers none the application can see
// (whether it is Trailers-Only on the wire is the next test's job).
TEST_P(RealServerTest, ResponseHeadersWithoutTheFilterMatchTheMode) {
  CallResult r = Call(control_.get(), FailingRequest(kind_, mode_, tag_));
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_EQ(KindOf(kind_).details, r.details);
  if (mode_ == Mode::kFailHeaders) {
    EXPECT_TRUE(r.got_initial_metadata) << Dump(r.initial);
    auto it = r.initial.find(KindOf(kind_).header);
    ASSERT_NE(r.initial.end(), it) << Dump(r.initial);
    EXPECT_FALSE(it->second.empty());
  } else {
    EXPECT_FALSE(r.got_initial_metadata) << Dump(r.initial);
    EXPECT_TRUE(r.initial.empty()) << Dump(r.initial);
  }
  if (KindOf(kind_).counts) {
    EXPECT_EQ(1, ServerCount(tag_));
  }
}

// Also independent of our code: gRPC's own retryPolicy (gRFC A6) retries a
// failure only if it came as a Trailers-Only response, so the attempts it
// makes (3, or 1) tell whether `fail` and `fail-headers` are Trailers-Only
// on the wire; empty response headers look like none to the application,
// but not to a retry layer.
TEST_P(RealServerTest, GrpcRetryPolicyRetriesOnlyTrailersOnlyFailures) {
  const ServerKind& k = KindOf(kind_);
  const std::string config =
      "{\"methodConfig\": [{\"name\": [{\"service\": \"" + k.service +
      "\", \"method\": \"" + k.method +
      "\"}], \"retryPolicy\": {\"maxAttempts\": 3, \"initialBackoff\": "
      "\"0.01s\", \"maxBackoff\": \"0.01s\", \"backoffMultiplier\": 1, "
      "\"retryableStatusCodes\": [\"UNAVAILABLE\"]}}]}";
  // A target only this channel has, to find it in channelz.
  const std::string target = "ipv4:" + server_->address();
  ChannelPtr ch(MakeChannel(target, config, {IntArg(GRPCR_ARG_ENABLE, 0)}));
  ASSERT_TRUE(WaitForReady(ch.get(), 10000));
  CallResult r = Call(ch.get(), FailingRequest(kind_, mode_, tag_));
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_EQ(k.details, r.details);
  const bool trailers_only = mode_ == Mode::kFail && k.fail_is_trailers_only;
  const int attempts = trailers_only ? 3 : 1;
  EXPECT_EQ(attempts, GrpcAttempts(target))
      << (trailers_only ? "expected a Trailers-Only response"
                        : "expected response headers before the status");
  if (k.counts) {
    EXPECT_EQ(attempts, ServerCount(tag_));
  }
}

// A channel hedging the server's method with this hedging block, and a
// budget that never refuses a hedge here.
ChannelPtr HedgingChannel(Kind kind, const std::string& address,
                          const std::string& name, const std::string& hedging) {
  const ServerKind& k = KindOf(kind);
  const std::string config =
      "{\"resilience\": {\"retryBudget\": {\"ratio\": 1, "
      "\"minRetriesPerSecond\": 100}}, \"methodConfig\": [{\"name\": "
      "[{\"service\": \"" + k.service + "\", \"method\": \"" + k.method +
      "\"}], \"resilience\": {\"hedging\": {" + hedging + "}}}]}";
  char* errors = nullptr;
  EXPECT_EQ(0, grpcr_validate_service_config(config.c_str(), &errors))
      << config << "\n" << (errors != nullptr ? errors : "");
  if (errors != nullptr) grpcr_free(errors);
  ChannelPtr ch(
      MakeChannel(address, config, {StringArg(GRPCR_ARG_NAME, name.c_str())}));
  EXPECT_TRUE(WaitForReady(ch.get(), 10000));
  return ch;
}

// Hedging against a server nobody on the team wrote: every attempt fails
// UNAVAILABLE, listed as non-fatal, so each sends the next hedge at once
// (the 10 s delay never runs out), response headers first or not: 3
// arrivals, and the call ends with the server's own status and details.
TEST_P(RealServerTest, NonFatalFailuresSendEveryHedgeAtOnce) {
  name_ = UniqueName(KindOf(kind_).name);
  ChannelPtr ch = HedgingChannel(
      kind_, server_->address(), name_,
      "\"maxAttempts\": 3, \"hedgingDelay\": \"10s\", "
      "\"nonFatalStatusCodes\": [\"UNAVAILABLE\"]");
  const int64_t start = NowNs();
  CallResult r = Call(ch.get(), FailingRequest(kind_, mode_, tag_));
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, r.status);
  EXPECT_EQ(KindOf(kind_).details, r.details);
  EXPECT_LT(NowNs() - start, INT64_C(3000000000)) << "not after the delay";
  if (KindOf(kind_).counts) {
    EXPECT_EQ(3, ServerCount(tag_));
  }
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(1u, s.requests);
  EXPECT_EQ(3u, s.attempts);
  EXPECT_EQ(2u, s.hedges);
}

// The servers that can hold a first attempt (not gRPC's interop server).
class RealServerHedgeTest : public RealServerTest {};

// The first attempt's answer takes 3 s; the hedge, 100 ms later, is
// answered at once and wins; the server sees the first attempt cancelled
// (HTTP/2 RST_STREAM) and keeps serving.
TEST_P(RealServerHedgeTest, AHedgeOvertakesASlowFirstAttempt) {
  name_ = UniqueName(KindOf(kind_).name);
  ChannelPtr ch = HedgingChannel(kind_, server_->address(), name_,
                                 "\"maxAttempts\": 2, \"hedgingDelay\": \"0.1s\"");
  Request req = OkRequest(kind_, tag_);
  req.payload = "slow-first:" + tag_;
  const int64_t start = NowNs();
  CallResult r = Call(ch.get(), req);
  const int64_t took = NowNs() - start;
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_EQ(req.payload, r.response);
  EXPECT_GE(took, INT64_C(100000000)) << "not before the delay";
  EXPECT_LT(took, INT64_C(2000000000)) << "the hedge's answer, not the first's";
  EXPECT_EQ(2, ServerCount(tag_));
  grpcr_channel_snapshot s = StatsFor(name_);
  EXPECT_EQ(2u, s.attempts);
  EXPECT_EQ(1u, s.hedges);
  // The server still answers (the cancelled handler did not break it).
  EXPECT_EQ(GRPC_STATUS_OK, Call(ch.get(), OkRequest(kind_, tag_)).status);
}

std::string ParamName(
    const ::testing::TestParamInfo<std::tuple<Kind, Mode>>& info) {
  return std::string(KindName(std::get<0>(info.param))) +
         (std::get<1>(info.param) == Mode::kFail ? "_Fail" : "_FailHeaders");
}

INSTANTIATE_TEST_SUITE_P(
    Servers, RealServerTest,
    ::testing::Combine(::testing::Values(Kind::kGrpcJs, Kind::kPython,
                                         Kind::kRuby, Kind::kRubyInterop),
                       ::testing::Values(Mode::kFail, Mode::kFailHeaders)),
    ParamName);

INSTANTIATE_TEST_SUITE_P(
    HedgeServers, RealServerHedgeTest,
    ::testing::Combine(::testing::Values(Kind::kGrpcJs, Kind::kPython,
                                         Kind::kRuby),
                       ::testing::Values(Mode::kFail)),
    ParamName);

}  // namespace
}  // namespace grpcr_test
