// Integration-test fixture: a scripted gRPC C-core server on 127.0.0.1 and
// client helpers, all through gRPC's public C API, so tests see the filter
// exactly as an application does.
//
// Process set-up: a ::testing::Environment registered from fixture.cc calls
// grpcr_register() and then grpc_init() once before the first test, and
// grpc_shutdown() after the last. Every helper below also makes sure that
// has happened (EnsureGrpcInitialized), so nothing can init gRPC first.
#ifndef GRPCR_TEST_INTEGRATION_SUPPORT_FIXTURE_H
#define GRPCR_TEST_INTEGRATION_SUPPORT_FIXTURE_H

#include <grpc/grpc.h>
#include <grpc/status.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "grpcr/stats.h"

namespace grpcr_test {

// Runs grpcr_register() then grpc_init() once per process; returns what
// grpcr_register() returned. Thread-safe.
int EnsureGrpcInitialized();

// gpr_now(GPR_CLOCK_MONOTONIC) in ns: the clock of Arrival::t_ns, of the
// filter's stats and of gRPC's deadlines.
int64_t NowNs();
void SleepMs(int ms);

// What the server does with one unary call.
//   - A message is sent when status is OK or message_before_status is set:
//     the request payload if echo, else `response` (may be empty).
//   - A failing status without message_before_status and without
//     initial_metadata_first goes out in one batch with default initial
//     metadata, which chttp2 turns into a Trailers-Only response (retryable).
//   - initial_metadata_first sends initial metadata {"x-initial-md":
//     initial_metadata_value} in its own batch first (response headers
//     before the status or message, as Ruby servers always do).
//   - message_before_status sends the message in its own batch before the
//     status (the client then has a message: committed).
//   - pushback_ms adds trailing metadata grpc-retry-pushback-ms: <value>
//     (C-core parses it on the server: a non-integer goes out as a negative
//     number).
//   - delay_ms waits before answering (on a timer thread; other calls go on).
//   - hold never answers: the call ends when the client cancels it or the
//     server stops. With initial_metadata_first it sends its initial
//     metadata first and then holds (a server-streaming watch with nothing
//     to say yet).
struct Reply {
  grpc_status_code status = GRPC_STATUS_OK;
  std::string details;
  bool echo = true;
  std::string response;
  bool initial_metadata_first = false;
  std::string initial_metadata_value = "1";
  bool message_before_status = false;
  std::optional<std::string> pushback_ms;
  int delay_ms = 0;
  bool hold = false;
};

// A helper for the common case: a failing status with details.
Reply Fail(grpc_status_code status, const std::string& details = "");

struct Arrival {
  int64_t t_ns = 0;  // monotonic, when the server got the call
  std::string method;
  std::string payload;  // the request message ("" for streams)
  std::multimap<std::string, std::string> metadata;  // client's initial md
};

// The method that ScriptedServer treats as a bidi echo stream: every message
// is echoed until the client half-closes, then OK. Every other method is
// unary and answered by the script.
constexpr const char kStreamMethod[] = "/echo.Echo/Stream";
constexpr const char kSayMethod[] = "/echo.Echo/Say";

// A real C-core server on 127.0.0.1 with its own completion queue and
// thread, answering unregistered methods. Arrival i (0-based, counted across
// Stop/Start, streams included) gets the handler's reply if a handler is
// set, else script[i], else the default reply (OK, echo).
// Thread-safe, except that Start() and Stop() must not race each other.
class ScriptedServer {
 public:
  explicit ScriptedServer(int port = 0);  // starts at once
  ~ScriptedServer();                       // Stop()s
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"

  void Script(std::vector<Reply> replies);
  void SetDefault(Reply reply);
  // Called on the server thread for every unary arrival (not under a lock:
  // it may call this server's getters).
  void SetHandler(std::function<Reply(const Arrival&, int index)> handler);

  // Arrivals whose request message has been read, in arrival order.
  std::vector<Arrival> arrivals();
  int arrival_count();
  // Waits until at least n arrivals are recorded; false on timeout.
  bool WaitForArrivals(int n, int timeout_ms);
  // Calls that ended cancelled (recv_close_on_server cancelled=1), e.g.
  // because the client cancelled an attempt. Stop() cancels held calls, and
  // those count too.
  int cancelled_count();
  bool WaitForCancelled(int n, int timeout_ms);
  // Calls currently open on the server (received, not yet completed).
  int open_calls();

  // Shuts the server down (cancels every open call, completes them all, and
  // closes the port). No-op if stopped.
  void Stop();
  // Starts again on the same port. No-op if running.
  void Start();
  bool running();

 private:
  struct Call;
  struct RequestSlot;
  class Timers;

  void StartLocked();
  void Loop(grpc_completion_queue* cq);
  void RequestCall(RequestSlot* slot);
  void OnRequest(RequestSlot* slot, bool ok);
  void StartBatch(Call* c, const grpc_op* ops, size_t n,
                  std::function<void(bool)> done);
  void Unref(Call* c);
  void OnUnaryMessage(Call* c, grpc_byte_buffer* msg);
  void SendReply(Call* c, std::shared_ptr<const Reply> r, int step);
  void StreamRecv(Call* c);
  void StreamSend(Call* c, grpc_byte_buffer* msg);
  Reply ReplyFor(const Arrival& a, int index);

  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  // Per server generation (one per Start()):
  grpc_server* server_ = nullptr;
  grpc_completion_queue* cq_ = nullptr;
  std::thread thread_;
  bool running_ = false;
  bool stopping_ = false;
  bool shutdown_done_ = false;
  int outstanding_requests_ = 0;
  int live_calls_ = 0;
  std::vector<std::unique_ptr<RequestSlot>> slots_;
  // Across generations:
  int next_index_ = 0;
  std::vector<Arrival> arrivals_;  // by index
  std::vector<bool> ready_;        // arrival i's message read
  int ready_count_ = 0;
  int cancelled_count_ = 0;
  std::vector<Reply> script_;
  Reply default_;
  std::function<Reply(const Arrival&, int)> handler_;
  std::unique_ptr<Timers> timers_;
};

// A port on 127.0.0.1 that is bound but not listening: connecting to it is
// refused at once, and no server can take it while this object lives.
class ClosedPort {
 public:
  ClosedPort();
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  int port() const { return port_; }
  std::string address() const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A service config with one methodConfig entry carrying a "resilience"
// block, and optionally the top-level "resilience" block.
struct RetrySpec {
  int max_attempts = 3;
  std::string initial_backoff = "0.05s";
  std::string max_backoff = "1s";
  double multiplier = 1;
  std::string jitter = "NONE";
  std::vector<std::string> codes = {"UNAVAILABLE"};
  std::string service = "echo.Echo";
  std::string method = "Say";  // "" names the whole service
  std::string timeout;         // the method's "timeout" if not empty
  std::string per_attempt_timeout;  // resilience.perAttemptTimeout if set
  // Members of the top-level "resilience" object, as JSON text, e.g.
  // "\"retryBudget\": {\"ratio\": 0.1}"; empty: no top-level block.
  std::string top_level;
  // Extra members of the methodConfig entry, as JSON text (e.g. a
  // "retryPolicy" to make the config invalid); empty: none.
  std::string method_extra;
};
std::string ServiceConfig(const RetrySpec& spec);

// Channel arguments. The key and string value must outlive MakeChannel
// (gRPC copies them when the channel is created).
grpc_arg IntArg(const char* key, int value);
grpc_arg StringArg(const char* key, const char* value);

// A unique channel name for the current test, for GRPCR_ARG_NAME:
// "<Suite>.<Test>/<tag>#<n>".
std::string UniqueName(const std::string& tag = "");

// An insecure channel to target. service_config_json "" means none. The
// fixture adds: a local subchannel pool (no connection shared between test
// channels), reconnect backoff 100 ms initial / 300 ms max, and a 2 s
// connect timeout ("grpc.min_reconnect_backoff_ms" is gRPC's minimum
// connect timeout, not a backoff, and must not be tiny under valgrind).
// Any of these given in extra wins. Release with grpc_channel_destroy.
grpc_channel* MakeChannel(const std::string& target,
                          const std::string& service_config_json,
                          std::vector<grpc_arg> extra = {});

// Owns a channel: destroys it when it goes out of scope.
struct ChannelDeleter {
  void operator()(grpc_channel* ch) const;
};
using ChannelPtr = std::unique_ptr<grpc_channel, ChannelDeleter>;

// Waits until the channel is READY (asking it to connect); false on timeout.
// Connectivity does not go through call filters.
bool WaitForReady(grpc_channel* ch, int timeout_ms);

struct CallResult {
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  std::string details;
  std::string response;  // the message received ("" if none)
  bool got_response = false;  // a message was received
  int64_t elapsed_ns = 0;     // call creation -> status received
  int64_t done_ns = 0;        // monotonic time the status was received
  bool got_initial_metadata = false;  // non-empty initial metadata received
  std::multimap<std::string, std::string> initial;
  std::multimap<std::string, std::string> trailing;
  bool completed = false;  // every started batch completed in time
};

// One client call on its own completion queue, driven op by op, so tests can
// split the ops into batches, cancel mid-call, or unref before finishing.
// Send metadata and the request message are released as soon as the batch
// that sent them completes (the filter must keep its own copies).
// Not thread-safe, except Cancel*() which may be called from any thread.
class PendingCall {
 public:
  enum Op : unsigned {
    kSendInitialMetadata = 1u << 0,
    kSendMessage = 1u << 1,
    kSendClose = 1u << 2,
    kRecvInitialMetadata = 1u << 3,
    kRecvMessage = 1u << 4,
    kRecvStatus = 1u << 5,
    kSendOps = kSendInitialMetadata | kSendMessage | kSendClose,
    kRecvOps = kRecvInitialMetadata | kRecvMessage | kRecvStatus,
    kAllOps = kSendOps | kRecvOps,
  };

  // Creates the call (deadline now + timeout_ms) but starts nothing.
  // wait_for_ready: the call waits for a connection instead of failing
  // while the channel has none (GRPC_INITIAL_METADATA_WAIT_FOR_READY).
  PendingCall(grpc_channel* ch, const std::string& method,
              const std::string& payload, int timeout_ms,
              std::vector<std::pair<std::string, std::string>> metadata = {},
              bool wait_for_ready = false);
  // Cancels the call if it has not finished, unrefs it, waits for every
  // started batch and destroys the completion queue.
  ~PendingCall();
  PendingCall(const PendingCall&) = delete;
  PendingCall& operator=(const PendingCall&) = delete;

  // Starts one batch with the given ops (each op at most once per call).
  // Returns the batch id (>= 1), or -1 (with a test failure) if gRPC
  // refused the batch.
  int StartBatch(unsigned ops);
  // All six ops in one batch.
  int Start() { return StartBatch(kAllOps); }

  // Waits for batch id; true if it completed within timeout_ms, and then
  // *ok (if not null) is the batch's success.
  bool WaitBatch(int id, int timeout_ms, bool* ok = nullptr);
  // Waits for every started batch, then returns the result of the recv ops.
  CallResult Wait(int timeout_ms = 30000);

  void Cancel();
  void CancelWithStatus(grpc_status_code status, const std::string& details);
  // Drops the application's reference without finishing the call (which
  // cancels it, as grpc_call_unref does). Completions are still awaited.
  void Unref();

  int64_t start_ns() const { return start_ns_; }
  // Monotonic time batch id completed (0 if not yet).
  int64_t batch_done_ns(int id) const;

 private:
  bool Poll(int64_t deadline_ns);  // one CQ event; false on timeout

  grpc_completion_queue* cq_ = nullptr;
  grpc_call* call_ = nullptr;
  int64_t start_ns_ = 0;
  unsigned started_ops_ = 0;
  std::vector<grpc_metadata> send_md_;
  bool wait_for_ready_ = false;
  grpc_byte_buffer* send_msg_ = nullptr;
  grpc_metadata_array initial_md_;
  grpc_metadata_array trailing_md_;
  grpc_byte_buffer* recv_msg_ = nullptr;
  grpc_status_code status_ = GRPC_STATUS_UNKNOWN;
  grpc_slice details_;
  int status_batch_ = 0;
  int message_batch_ = 0;
  int initial_md_batch_ = 0;
  struct Batch {
    unsigned ops = 0;
    bool done = false;
    bool ok = false;
    int64_t done_ns = 0;
  };
  std::vector<Batch> batches_;  // index id - 1
};

// Blocking unary call: one batch with all six ops on its own CQ.
CallResult UnaryCall(
    grpc_channel* ch, const std::string& method, const std::string& payload,
    int timeout_ms,
    std::vector<std::pair<std::string, std::string>> metadata = {});

// A bidi echo stream: sends each message in turn and waits for its echo
// (ping-pong), then half-closes and reads the status.
struct StreamResult {
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  std::string details;
  std::vector<std::string> responses;
  bool all_batches_ok = false;
};
StreamResult EchoStream(grpc_channel* ch, const std::string& method,
                        const std::vector<std::string>& messages,
                        int timeout_ms);

// The channel's counters from the shim's registry (by GRPCR_ARG_NAME). The
// entry exists from channel creation until the channel is destroyed, so read
// it before destroying the channel. name/target and the per-method entries
// are not copied (nullptr).
// FindStats returns false (and leaves *out zeroed) if there is no entry;
// StatsFor then returns all zeros.
bool FindStats(const std::string& channel_name, grpcr_channel_snapshot* out);
grpcr_channel_snapshot StatsFor(const std::string& channel_name);

// Reads a whole byte buffer (nullptr gives "").
std::string ByteBufferToString(grpc_byte_buffer* bb);

}  // namespace grpcr_test

#endif  // GRPCR_TEST_INTEGRATION_SUPPORT_FIXTURE_H
