// Helpers shared by the stats tests (stats_service_test.cc,
// stats_cli_test.cc, metrics_http_test.cc, ...): a C-core client for
// GetStats (decoded with protobuf-c), registry entries that clean up after
// themselves, the standalone stats server and an application server, all
// through gRPC's public C API, and shell commands (the CLI, promtool).
// Header-only, so the support library stays as it is.
#ifndef GRPCR_TEST_INTEGRATION_STATS_TEST_UTIL_H
#define GRPCR_TEST_INTEGRATION_STATS_TEST_UTIL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/grpcr.h"
#include "grpcr/stats.h"
#include "grpcr/v1/stats.pb-c.h"
#include "internal.h"

namespace grpcr_stats_test {

inline constexpr char kGetStats[] = "/grpcr.v1.ResilienceStats/GetStats";
inline constexpr char kAppMethod[] = "/app.Echo/Say";
inline constexpr int64_t kSec = 1000000000;

// gRPC initialised once for the whole binary (the service and the
// standalone server take their own references on top). Add it with
// ::testing::AddGlobalTestEnvironment.
class GrpcEnv : public ::testing::Environment {
 public:
  void SetUp() override { grpc_init(); }
  void TearDown() override { grpc_shutdown(); }
};

inline void DrainAndDestroy(grpc_completion_queue* cq) {
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    nullptr)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

struct ResponseDeleter {
  void operator()(Grpcr__V1__GetStatsResponse* r) const {
    grpcr__v1__get_stats_response__free_unpacked(r, nullptr);
  }
};
using Response = std::unique_ptr<Grpcr__V1__GetStatsResponse, ResponseDeleter>;

struct CallResult {
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  std::string details;
  bool has_message = false;
  std::string message;
};

inline std::string ByteBufferToString(grpc_byte_buffer* bb) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) return "";
  grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  std::string out(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)),
                  GRPC_SLICE_LENGTH(s));
  grpc_slice_unref(s);
  return out;
}

// One unary call with a raw request message on a fresh insecure channel.
inline CallResult UnaryCall(const std::string& addr, const char* method,
                            const std::string& request,
                            int timeout_ms = 5000) {
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(addr.c_str(), creds, nullptr);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  grpc_call* call = grpc_channel_create_call(
      ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
      grpc_slice_from_static_string(method), nullptr, deadline, nullptr);
  grpc_slice req = grpc_slice_from_copied_buffer(request.data(), request.size());
  grpc_byte_buffer* send = grpc_raw_byte_buffer_create(&req, 1);
  grpc_slice_unref(req);
  grpc_metadata_array initial_md, trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_byte_buffer* recv = nullptr;
  grpc_slice details = grpc_empty_slice();
  CallResult result;
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[5].data.recv_status_on_client.status = &result.status;
  ops[5].data.recv_status_on_client.status_details = &details;
  EXPECT_EQ(GRPC_CALL_OK, grpc_call_start_batch(call, ops, 6, call, nullptr));
  grpc_event ev = grpc_completion_queue_next(
      cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  EXPECT_EQ(GRPC_OP_COMPLETE, ev.type);
  char* d = grpc_slice_to_c_string(details);
  result.details = d;
  gpr_free(d);
  if (recv != nullptr) {
    result.has_message = true;
    result.message = ByteBufferToString(recv);
    grpc_byte_buffer_destroy(recv);
  }
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  grpc_byte_buffer_destroy(send);
  grpc_call_unref(call);
  grpc_channel_destroy(ch);
  DrainAndDestroy(cq);
  return result;
}

// GetStats for the channels named filter ("" = all). Null, with a test
// failure, unless the call succeeds and the answer decodes.
inline Response GetStats(const std::string& addr,
                         const std::string& filter = "") {
  Grpcr__V1__GetStatsRequest req = GRPCR__V1__GET_STATS_REQUEST__INIT;
  req.channel_name = const_cast<char*>(filter.c_str());
  std::string bytes(grpcr__v1__get_stats_request__get_packed_size(&req), '\0');
  grpcr__v1__get_stats_request__pack(
      &req, reinterpret_cast<uint8_t*>(bytes.data()));
  CallResult r = UnaryCall(addr, kGetStats, bytes);
  EXPECT_EQ(GRPC_STATUS_OK, r.status) << r.details;
  EXPECT_TRUE(r.has_message);
  if (r.status != GRPC_STATUS_OK || !r.has_message) return nullptr;
  Response resp(grpcr__v1__get_stats_response__unpack(
      nullptr, r.message.size(),
      reinterpret_cast<const uint8_t*>(r.message.data())));
  EXPECT_NE(nullptr, resp);
  return resp;
}

inline std::vector<const Grpcr__V1__ChannelStats*> Named(
    const Grpcr__V1__GetStatsResponse& r, const std::string& name) {
  std::vector<const Grpcr__V1__ChannelStats*> out;
  for (size_t i = 0; i < r.n_channels; i++)
    if (name == r.channels[i]->name) out.push_back(r.channels[i]);
  return out;
}

// A name no other test in the process uses (the registry is process-wide).
inline std::string Unique(const char* base) {
  static std::atomic<int> n{0};
  return std::string(base) + "-" + std::to_string(++n);
}

// An entry in the shim's registry, as a channel with the filter makes one;
// removed at the end of the test, and then what it had attached destroyed.
class Entry {
 public:
  Entry(const std::string& name, const std::string& target)
      : s_(grpcr_registry_add(grpcr_internal_registry(), name.c_str(),
                              target.c_str())) {}
  ~Entry() {
    grpcr_registry_remove(grpcr_internal_registry(), s_);
    grpcr_breaker_destroy(breaker_);
    grpcr_budget_destroy(budget_);
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  grpcr_channel_stats* get() const { return s_; }
  void Attach(grpcr_breaker* b, grpcr_budget* g) {
    breaker_ = b;
    budget_ = g;
    grpcr_registry_attach(grpcr_internal_registry(), s_, b, g);
  }

 private:
  grpcr_channel_stats* s_;
  grpcr_breaker* breaker_ = nullptr;
  grpcr_budget* budget_ = nullptr;
};

// The library's standalone stats server on 127.0.0.1, for one scope.
class StandaloneServer {
 public:
  StandaloneServer() {
    EXPECT_EQ(0, grpcr_stats_server_start("127.0.0.1:0", &port_));
    addr_ = "127.0.0.1:" + std::to_string(port_);
  }
  ~StandaloneServer() { grpcr_stats_server_stop(); }
  StandaloneServer(const StandaloneServer&) = delete;
  StandaloneServer& operator=(const StandaloneServer&) = delete;
  const std::string& addr() const { return addr_; }
  int port() const { return port_; }

 private:
  int port_ = 0;
  std::string addr_;
};

// An application's own server on 127.0.0.1 with its own completion queue
// and thread: kAppMethod answers "pong", every other method it is asked for
// UNIMPLEMENTED (as a grpc++ server would), and the stats service is added
// if with_stats.
class AppServer {
 public:
  explicit AppServer(bool with_stats, bool start = true) {
    cq_ = grpc_completion_queue_create_for_next(nullptr);
    server_ = grpc_server_create(nullptr, nullptr);
    grpc_server_register_completion_queue(server_, cq_, nullptr);
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    port_ = grpc_server_add_http2_port(server_, "127.0.0.1:0", creds);
    grpc_server_credentials_release(creds);
    EXPECT_GT(port_, 0);
    addr_ = "127.0.0.1:" + std::to_string(port_);
    if (with_stats) register_rc_ = grpcr_stats_register_service(server_);
    if (start) Start();
  }
  ~AppServer() {
    if (server_ != nullptr) Shutdown();
  }
  AppServer(const AppServer&) = delete;
  AppServer& operator=(const AppServer&) = delete;

  void Start() {
    grpc_server_start(server_);
    started_ = true;
    RequestCall();
    thread_ = std::thread([this] { Serve(); });
  }

  // Shuts the server down and destroys it; true if the shutdown tag came
  // within 10 s.
  bool Shutdown() {
    grpc_server_shutdown_and_notify(server_, cq_, &shutdown_tag_);
    bool done;
    if (started_) {
      for (int i = 0; i < 2000 && !shutdown_seen_; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      done = shutdown_seen_;
      if (!done) grpc_server_cancel_all_calls(server_);
      thread_.join();
    } else {
      grpc_event ev = grpc_completion_queue_next(
          cq_, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_seconds(10, GPR_TIMESPAN)),
          nullptr);
      done = ev.type == GRPC_OP_COMPLETE && ev.tag == &shutdown_tag_;
    }
    grpc_server_destroy(server_);
    server_ = nullptr;
    DrainAndDestroy(cq_);
    return done;
  }

  const std::string& addr() const { return addr_; }
  int register_rc() const { return register_rc_; }
  grpc_server* server() const { return server_; }
  int answered() const { return answered_; }

 private:
  // What one answer needs until its batch completes; the batch's tag.
  struct Answer {
    grpc_call* call = nullptr;
    grpc_byte_buffer* msg = nullptr;
    grpc_slice details = grpc_empty_slice();
    int cancelled = 0;
  };

  void RequestCall() {
    grpc_call_details_init(&details_);
    grpc_metadata_array_init(&request_md_);
    EXPECT_EQ(GRPC_CALL_OK,
              grpc_server_request_call(server_, &call_, &details_,
                                       &request_md_, cq_, cq_, &request_tag_));
  }

  void StartAnswer() {
    auto* a = new Answer;
    a->call = call_;
    bool known = grpc_slice_str_cmp(details_.method, kAppMethod) == 0;
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (known) {
      grpc_slice pong = grpc_slice_from_static_string("pong");
      a->msg = grpc_raw_byte_buffer_create(&pong, 1);
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n++].data.send_message.send_message = a->msg;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status =
        known ? GRPC_STATUS_OK : GRPC_STATUS_UNIMPLEMENTED;
    ops[n++].data.send_status_from_server.status_details = &a->details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &a->cancelled;
    // Counted before the answer can reach the client, which checks it.
    if (known) answered_++;
    EXPECT_EQ(GRPC_CALL_OK, grpc_call_start_batch(a->call, ops, n, a, nullptr));
  }

  // Runs until the shutdown tag, the failed request and every answer have
  // come back.
  void Serve() {
    bool requesting = true;
    int answers = 0;
    while (requesting || answers > 0 || !shutdown_seen_) {
      grpc_event ev = grpc_completion_queue_next(
          cq_, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
      if (ev.tag == &shutdown_tag_) {
        shutdown_seen_ = true;
      } else if (ev.tag == &request_tag_) {
        if (ev.success) {
          StartAnswer();
          answers++;
        }
        grpc_call_details_destroy(&details_);
        grpc_metadata_array_destroy(&request_md_);
        if (ev.success)
          RequestCall();
        else
          requesting = false;
      } else {
        auto* a = static_cast<Answer*>(ev.tag);
        if (a->msg != nullptr) grpc_byte_buffer_destroy(a->msg);
        grpc_call_unref(a->call);
        delete a;
        answers--;
      }
    }
  }

  grpc_completion_queue* cq_ = nullptr;
  grpc_server* server_ = nullptr;
  int port_ = 0;
  std::string addr_;
  int register_rc_ = 0;
  bool started_ = false;
  std::thread thread_;
  std::atomic<bool> shutdown_seen_{false};
  std::atomic<int> answered_{0};
  int shutdown_tag_ = 0;
  int request_tag_ = 0;
  grpc_call* call_ = nullptr;
  grpc_call_details details_;
  grpc_metadata_array request_md_;
};

// ---- shell commands ---------------------------------------------------------

struct ShellRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Single-quoted for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

// Runs `command` with sh; stdout and stderr captured apart.
inline ShellRun Shell(const std::string& command) {
  char out_path[] = "/tmp/grpcr_test_out_XXXXXX";
  char err_path[] = "/tmp/grpcr_test_err_XXXXXX";
  int out_fd = mkstemp(out_path);
  int err_fd = mkstemp(err_path);
  close(out_fd);
  close(err_fd);
  std::string full = "(" + command + ") >" + out_path + " 2>" + err_path;
  int status = std::system(full.c_str());
  ShellRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  unlink(out_path);
  unlink(err_path);
  return r;
}

inline bool HaveCommand(const char* name) {
  return Shell(std::string("command -v ") + name).exit_code == 0;
}

// Writes text to a temporary file and returns its path.
inline std::string TempFile(const std::string& text) {
  char path[] = "/tmp/grpcr_test_in_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_EQ(static_cast<ssize_t>(text.size()),
            write(fd, text.data(), text.size()));
  close(fd);
  return path;
}

// `promtool check metrics` on an exposition (it lints text format 0.0.4):
// exit code 0 and no output when it has nothing to say. Check
// HaveCommand("promtool") first.
inline ShellRun PromtoolCheckMetrics(const std::string& exposition) {
  std::string path = TempFile(exposition);
  ShellRun r = Shell("promtool check metrics < " + path);
  unlink(path.c_str());
  return r;
}

}  // namespace grpcr_stats_test

#endif  // GRPCR_TEST_INTEGRATION_STATS_TEST_UTIL_H
