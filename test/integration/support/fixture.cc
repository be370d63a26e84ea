// The scripted server and client helpers of fixture.h, on gRPC's public C
// API only.
#include "support/fixture.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "grpcr/grpcr.h"
#include "internal.h"

namespace grpcr_test {

namespace {

std::once_flag g_init_once;
int g_register_rc = 0;
std::atomic<bool> g_grpc_initialized{false};

// grpcr_register() must run before grpc_init(): the environment's SetUp
// does both, before any test (and before any helper, which also calls
// EnsureGrpcInitialized()).
class GrpcEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    int rc = EnsureGrpcInitialized();
    ASSERT_EQ(rc, 0) << "grpcr_register() failed: " << grpcr_strerror(rc);
  }
  void TearDown() override {
    if (g_grpc_initialized.exchange(false)) grpc_shutdown();
  }
};

[[maybe_unused]] ::testing::Environment* const g_environment =
    ::testing::AddGlobalTestEnvironment(new GrpcEnvironment);

// A completion-queue tag: runs fn with the event's success, then is freed.
struct Completion {
  std::function<void(bool)> fn;
};

std::string SliceToString(grpc_slice s) {
  return std::string(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)),
                     GRPC_SLICE_LENGTH(s));
}

std::multimap<std::string, std::string> ToMap(const grpc_metadata_array& a) {
  std::multimap<std::string, std::string> m;
  for (size_t i = 0; i < a.count; ++i) {
    m.emplace(SliceToString(a.metadata[i].key),
              SliceToString(a.metadata[i].value));
  }
  return m;
}

gpr_timespec MonotonicDeadlineNs(int64_t deadline_ns) {
  gpr_timespec t;
  t.tv_sec = deadline_ns / 1000000000;
  t.tv_nsec = static_cast<int32_t>(deadline_ns % 1000000000);
  t.clock_type = GPR_CLOCK_MONOTONIC;
  return t;
}

gpr_timespec MsFromNow(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

// Shuts a completion queue down, drains it and destroys it.
void DestroyCq(grpc_completion_queue* cq) {
  grpc_completion_queue_shutdown(cq);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), nullptr);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
  }
  grpc_completion_queue_destroy(cq);
}

grpc_byte_buffer* MakeByteBuffer(const std::string& s) {
  grpc_slice slice = grpc_slice_from_copied_buffer(s.data(), s.size());
  grpc_byte_buffer* bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

grpc_metadata MakeMetadata(const std::string& key, const std::string& value) {
  grpc_metadata md;
  std::memset(&md, 0, sizeof(md));
  md.key = grpc_slice_from_copied_buffer(key.data(), key.size());
  md.value = grpc_slice_from_copied_buffer(value.data(), value.size());
  return md;
}

void ReleaseMetadata(grpc_metadata* md) {
  grpc_slice_unref(md->key);
  grpc_slice_unref(md->value);
}

}  // namespace

int EnsureGrpcInitialized() {
  std::call_once(g_init_once, [] {
    g_register_rc = grpcr_register();
    grpc_init();
    g_grpc_initialized = true;
  });
  return g_register_rc;
}

int64_t NowNs() {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

void SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

Reply Fail(grpc_status_code status, const std::string& details) {
  Reply r;
  r.status = status;
  r.details = details;
  return r;
}

std::string ByteBufferToString(grpc_byte_buffer* bb) {
  if (bb == nullptr) return "";
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) return "";
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  std::string s = SliceToString(all);
  grpc_slice_unref(all);
  grpc_byte_buffer_reader_destroy(&reader);
  return s;
}

// ---------------------------------------------------------------------------
// ScriptedServer

// Runs callbacks after a delay on one thread; FlushAll makes every pending
// and later callback due at once (used while stopping).
class ScriptedServer::Timers {
 public:
  Timers() : thread_([this] { Run(); }) {}
  ~Timers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
      flush_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Schedule(int delay_ms, std::function<void()> fn) {
    std::lock_guard<std::mutex> lk(mu_);
    q_.emplace(std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(delay_ms),
               std::move(fn));
    cv_.notify_all();
  }
  void SetFlush(bool flush) {
    std::lock_guard<std::mutex> lk(mu_);
    flush_ = flush;
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (q_.empty()) {
        if (quit_) return;
        cv_.wait(lk);
        continue;
      }
      auto it = q_.begin();
      if (!flush_ && it->first > std::chrono::steady_clock::now()) {
        cv_.wait_until(lk, it->first);
        continue;
      }
      std::function<void()> fn = std::move(it->second);
      q_.erase(it);
      lk.unlock();
      fn();
      lk.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>>
      q_;
  bool flush_ = false;
  bool quit_ = false;
  std::thread thread_;
};

struct ScriptedServer::RequestSlot {
  grpc_call* call = nullptr;
  grpc_call_details details;
  grpc_metadata_array metadata;
};

// One server call. refs counts started batches and pending timers; the last
// Unref releases the grpc_call.
struct ScriptedServer::Call {
  grpc_call* call = nullptr;
  int index = 0;
  std::string payload;
  std::mutex mu;  // start_batch on one call is serialised
  int refs = 0;
  int cancelled = 0;          // written by recv_close_on_server
  bool initial_sent = false;  // server thread and timer thread, under mu
};

namespace {
constexpr int kRequestSlots = 16;
}

ScriptedServer::ScriptedServer(int port)
    : port_(port), timers_(std::make_unique<Timers>()) {
  EnsureGrpcInitialized();
  Start();
}

ScriptedServer::~ScriptedServer() {
  Stop();
  timers_.reset();
}

std::string ScriptedServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

void ScriptedServer::Script(std::vector<Reply> replies) {
  std::lock_guard<std::mutex> lk(mu_);
  script_ = std::move(replies);
}

void ScriptedServer::SetDefault(Reply reply) {
  std::lock_guard<std::mutex> lk(mu_);
  default_ = std::move(reply);
}

void ScriptedServer::SetHandler(
    std::function<Reply(const Arrival&, int index)> handler) {
  std::lock_guard<std::mutex> lk(mu_);
  handler_ = std::move(handler);
}

std::vector<Arrival> ScriptedServer::arrivals() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<Arrival> out;
  out.reserve(arrivals_.size());
  for (size_t i = 0; i < arrivals_.size(); ++i) {
    if (ready_[i]) out.push_back(arrivals_[i]);
  }
  return out;
}

int ScriptedServer::arrival_count() {
  std::lock_guard<std::mutex> lk(mu_);
  return ready_count_;
}

bool ScriptedServer::WaitForArrivals(int n, int timeout_ms) {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                      [&] { return ready_count_ >= n; });
}

int ScriptedServer::cancelled_count() {
  std::lock_guard<std::mutex> lk(mu_);
  return cancelled_count_;
}

bool ScriptedServer::WaitForCancelled(int n, int timeout_ms) {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                      [&] { return cancelled_count_ >= n; });
}

int ScriptedServer::open_calls() {
  std::lock_guard<std::mutex> lk(mu_);
  return live_calls_;
}

bool ScriptedServer::running() {
  std::lock_guard<std::mutex> lk(mu_);
  return running_;
}

void ScriptedServer::Start() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (running_) return;
  }
  grpc_server* server = nullptr;
  grpc_completion_queue* cq = nullptr;
  int bound = 0;
  // On a restart the old listener may take a moment to go away.
  for (int tries = 0;; ++tries) {
    cq = grpc_completion_queue_create_for_next(nullptr);
    server = grpc_server_create(nullptr, nullptr);
    grpc_server_register_completion_queue(server, cq, nullptr);
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    std::string addr = "127.0.0.1:" + std::to_string(port_);
    bound = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    if (bound > 0) break;
    grpc_server_destroy(server);
    DestroyCq(cq);
    if (tries >= 100) {
      ADD_FAILURE() << "ScriptedServer: cannot bind " << addr;
      return;
    }
    SleepMs(20);
  }
  grpc_server_start(server);
  timers_->SetFlush(false);
  {
    std::lock_guard<std::mutex> lk(mu_);
    port_ = bound;
    server_ = server;
    cq_ = cq;
    running_ = true;
    stopping_ = false;
    shutdown_done_ = false;
    live_calls_ = 0;
    outstanding_requests_ = kRequestSlots;
    slots_.clear();
    for (int i = 0; i < kRequestSlots; ++i) {
      slots_.push_back(std::make_unique<RequestSlot>());
    }
  }
  thread_ = std::thread([this, cq] { Loop(cq); });
  for (auto& slot : slots_) RequestCall(slot.get());
}

void ScriptedServer::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!running_ || stopping_) return;
    stopping_ = true;
  }
  // Delayed replies still pending are dropped (their calls get cancelled).
  timers_->SetFlush(true);
  grpc_server_shutdown_and_notify(server_, cq_, new Completion{[this](bool) {
                                    std::lock_guard<std::mutex> lk(mu_);
                                    shutdown_done_ = true;
                                    cv_.notify_all();
                                  }});
  grpc_server_cancel_all_calls(server_);
  {
    std::unique_lock<std::mutex> lk(mu_);
    auto done = [&] {
      return shutdown_done_ && live_calls_ == 0 && outstanding_requests_ == 0;
    };
    if (!cv_.wait_for(lk, std::chrono::seconds(20), done)) {
      ADD_FAILURE() << "ScriptedServer::Stop: still waiting after 20 s: "
                    << "shutdown_done=" << shutdown_done_
                    << " live_calls=" << live_calls_
                    << " outstanding_requests=" << outstanding_requests_;
      cv_.wait(lk, done);
    }
  }
  grpc_server_destroy(server_);
  grpc_completion_queue_shutdown(cq_);
  thread_.join();
  grpc_completion_queue_destroy(cq_);
  std::lock_guard<std::mutex> lk(mu_);
  server_ = nullptr;
  cq_ = nullptr;
  slots_.clear();
  running_ = false;
  stopping_ = false;
}

void ScriptedServer::Loop(grpc_completion_queue* cq) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), nullptr);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) return;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    auto* c = static_cast<Completion*>(ev.tag);
    c->fn(ev.success != 0);
    delete c;
  }
}

void ScriptedServer::RequestCall(RequestSlot* slot) {
  slot->call = nullptr;
  grpc_call_details_init(&slot->details);
  grpc_metadata_array_init(&slot->metadata);
  auto* tag = new Completion{[this, slot](bool ok) { OnRequest(slot, ok); }};
  grpc_call_error err =
      grpc_server_request_call(server_, &slot->call, &slot->details,
                               &slot->metadata, cq_, cq_, tag);
  if (err != GRPC_CALL_OK) {
    delete tag;
    grpc_call_details_destroy(&slot->details);
    grpc_metadata_array_destroy(&slot->metadata);
    std::lock_guard<std::mutex> lk(mu_);
    --outstanding_requests_;
    cv_.notify_all();
  }
}

void ScriptedServer::OnRequest(RequestSlot* slot, bool ok) {
  if (!ok) {
    grpc_call_details_destroy(&slot->details);
    grpc_metadata_array_destroy(&slot->metadata);
    std::lock_guard<std::mutex> lk(mu_);
    --outstanding_requests_;
    cv_.notify_all();
    return;
  }
  Arrival a;
  a.t_ns = NowNs();
  a.method = SliceToString(slot->details.method);
  a.metadata = ToMap(slot->metadata);
  grpc_call_details_destroy(&slot->details);
  grpc_metadata_array_destroy(&slot->metadata);
  const bool stream = a.method == kStreamMethod;

  auto* c = new Call;
  c->call = slot->call;
  bool rearm;
  {
    std::lock_guard<std::mutex> lk(mu_);
    c->index = next_index_++;
    arrivals_.push_back(std::move(a));
    ready_.push_back(stream);  // a stream's arrival has no payload to wait for
    if (stream) ++ready_count_;
    ++live_calls_;
    rearm = !stopping_;
    if (!rearm) --outstanding_requests_;
    cv_.notify_all();
  }
  if (rearm) RequestCall(slot);

  grpc_op close_op;
  std::memset(&close_op, 0, sizeof(close_op));
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &c->cancelled;
  StartBatch(c, &close_op, 1, [this, c](bool) {
    if (c->cancelled) {
      std::lock_guard<std::mutex> lk(mu_);
      ++cancelled_count_;
      cv_.notify_all();
    }
  });

  if (stream) {
    grpc_op op;
    std::memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    {
      std::lock_guard<std::mutex> lk(c->mu);
      c->initial_sent = true;
    }
    StartBatch(c, &op, 1, [](bool) {});
    StreamRecv(c);
    return;
  }
  auto* msg = new grpc_byte_buffer*(nullptr);
  grpc_op op;
  std::memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = msg;
  StartBatch(c, &op, 1, [this, c, msg](bool) {
    grpc_byte_buffer* m = *msg;
    delete msg;
    OnUnaryMessage(c, m);
  });
}

void ScriptedServer::StartBatch(Call* c, const grpc_op* ops, size_t n,
                                std::function<void(bool)> done) {
  auto* tag = new Completion{[this, c, done = std::move(done)](bool ok) {
    done(ok);
    Unref(c);
  }};
  grpc_call_error err;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    ++c->refs;
    err = grpc_call_start_batch(c->call, ops, n, tag, nullptr);
  }
  if (err != GRPC_CALL_OK) {
    ADD_FAILURE() << "ScriptedServer: grpc_call_start_batch: "
                  << grpc_call_error_to_string(err);
    tag->fn(false);
    delete tag;
  }
}

void ScriptedServer::Unref(Call* c) {
  {
    std::lock_guard<std::mutex> lk(c->mu);
    if (--c->refs > 0) return;
  }
  grpc_call_unref(c->call);
  delete c;
  std::lock_guard<std::mutex> lk(mu_);
  --live_calls_;
  cv_.notify_all();
}

Reply ScriptedServer::ReplyFor(const Arrival& a, int index) {
  std::function<Reply(const Arrival&, int)> handler;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!handler_) {
      return static_cast<size_t>(index) < script_.size() ? script_[index]
                                                         : default_;
    }
    handler = handler_;
  }
  return handler(a, index);
}

void ScriptedServer::OnUnaryMessage(Call* c, grpc_byte_buffer* m) {
  c->payload = ByteBufferToString(m);
  if (m != nullptr) grpc_byte_buffer_destroy(m);
  Arrival a;
  {
    std::lock_guard<std::mutex> lk(mu_);
    arrivals_[c->index].payload = c->payload;
    ready_[c->index] = true;
    ++ready_count_;
    a = arrivals_[c->index];
    cv_.notify_all();
  }
  auto r = std::make_shared<const Reply>(ReplyFor(a, c->index));
  if (r->hold) {
    // Ends when the client cancels or the server stops; with
    // initial_metadata_first the server answers with headers first, as a
    // server-streaming "watch" that has nothing to send yet does.
    if (r->initial_metadata_first) SendReply(c, r, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    if (r->delay_ms > 0) {
      {
        std::lock_guard<std::mutex> clk(c->mu);
        ++c->refs;
      }
      // Scheduled under mu_: Stop() sets stopping_ under mu_ before it
      // flushes the timers, so this timer is either flushed or never added.
      timers_->Schedule(r->delay_ms, [this, c, r] {
        bool stopping;
        {
          std::lock_guard<std::mutex> lk2(mu_);
          stopping = stopping_;
        }
        if (!stopping) SendReply(c, r, 0);
        Unref(c);
      });
      return;
    }
  }
  SendReply(c, r, 0);
}

namespace {

// The data a server batch points at, freed when it completes.
struct ReplyBatch {
  grpc_op ops[3];
  size_t n = 0;
  grpc_metadata initial_md;
  bool has_initial_md = false;
  grpc_byte_buffer* message = nullptr;
  grpc_slice details;
  bool has_details = false;
  grpc_metadata trailing_md;
  bool has_trailing_md = false;

  ReplyBatch() { std::memset(ops, 0, sizeof(ops)); }
  ~ReplyBatch() {
    if (has_initial_md) ReleaseMetadata(&initial_md);
    if (message != nullptr) grpc_byte_buffer_destroy(message);
    if (has_details) grpc_slice_unref(details);
    if (has_trailing_md) ReleaseMetadata(&trailing_md);
  }
  void SendInitial(const std::string* custom) {
    grpc_op& op = ops[n++];
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    if (custom != nullptr) {
      initial_md = MakeMetadata("x-initial-md", *custom);
      has_initial_md = true;
      op.data.send_initial_metadata.count = 1;
      op.data.send_initial_metadata.metadata = &initial_md;
    }
  }
  void SendMessage(const std::string& s) {
    message = MakeByteBuffer(s);
    grpc_op& op = ops[n++];
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = message;
  }
  void SendStatus(const Reply& r) {
    details = grpc_slice_from_copied_buffer(r.details.data(), r.details.size());
    has_details = true;
    grpc_op& op = ops[n++];
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = r.status;
    op.data.send_status_from_server.status_details = &details;
    if (r.pushback_ms.has_value()) {
      trailing_md = MakeMetadata("grpc-retry-pushback-ms", *r.pushback_ms);
      has_trailing_md = true;
      op.data.send_status_from_server.trailing_metadata_count = 1;
      op.data.send_status_from_server.trailing_metadata = &trailing_md;
    }
  }
};

}  // namespace

// step 0: initial metadata on its own (initial_metadata_first);
// step 1: the message on its own (message_before_status);
// step 2: whatever is left, with the status.
void ScriptedServer::SendReply(Call* c, std::shared_ptr<const Reply> r,
                               int step) {
  const bool send_message =
      r->status == GRPC_STATUS_OK || r->message_before_status;
  const std::string message = r->echo ? c->payload : r->response;
  bool initial_sent;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    initial_sent = c->initial_sent;
    c->initial_sent = true;
  }
  auto* b = new ReplyBatch;
  int next_step = -1;
  if (step == 0 && r->initial_metadata_first) {
    b->SendInitial(&r->initial_metadata_value);
    next_step = 1;
  } else if (step <= 1 && r->message_before_status && send_message) {
    if (!initial_sent) b->SendInitial(nullptr);
    b->SendMessage(message);
    next_step = 2;
  } else {
    if (!initial_sent) b->SendInitial(nullptr);
    if (send_message && !r->message_before_status) b->SendMessage(message);
    b->SendStatus(*r);
  }
  if (r->hold) next_step = -1;  // headers only, then nothing
  StartBatch(c, b->ops, b->n, [this, c, r, b, next_step](bool ok) {
    delete b;
    if (ok && next_step >= 0) SendReply(c, r, next_step);
  });
}

void ScriptedServer::StreamRecv(Call* c) {
  auto* msg = new grpc_byte_buffer*(nullptr);
  grpc_op op;
  std::memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = msg;
  StartBatch(c, &op, 1, [this, c, msg](bool ok) {
    grpc_byte_buffer* m = *msg;
    delete msg;
    if (!ok) {
      if (m != nullptr) grpc_byte_buffer_destroy(m);
      return;
    }
    if (m != nullptr) {
      StreamSend(c, m);
      return;
    }
    // The client half-closed: finish with OK.
    auto* b = new ReplyBatch;
    Reply ok_reply;
    b->SendStatus(ok_reply);
    StartBatch(c, b->ops, b->n, [b](bool) { delete b; });
  });
}

void ScriptedServer::StreamSend(Call* c, grpc_byte_buffer* m) {
  grpc_op op;
  std::memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = m;
  StartBatch(c, &op, 1, [this, c, m](bool ok) {
    grpc_byte_buffer_destroy(m);
    if (ok) StreamRecv(c);
  });
}

// ---------------------------------------------------------------------------
// ClosedPort

ClosedPort::ClosedPort() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return;
  }
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "bind: " << std::strerror(errno);
    return;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
}

ClosedPort::~ClosedPort() {
  if (fd_ >= 0) close(fd_);
}

std::string ClosedPort::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

// ---------------------------------------------------------------------------
// Channels

grpc_arg IntArg(const char* key, int value) {
  grpc_arg a;
  std::memset(&a, 0, sizeof(a));
  a.type = GRPC_ARG_INTEGER;
  a.key = const_cast<char*>(key);
  a.value.integer = value;
  return a;
}

grpc_arg StringArg(const char* key, const char* value) {
  grpc_arg a;
  std::memset(&a, 0, sizeof(a));
  a.type = GRPC_ARG_STRING;
  a.key = const_cast<char*>(key);
  a.value.string = const_cast<char*>(value);
  return a;
}

std::string UniqueName(const std::string& tag) {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr ? std::string(info->test_suite_name()) +
                                           "." + info->name()
                                     : std::string("no-test");
  if (!tag.empty()) name += "/" + tag;
  return name + "#" + std::to_string(counter.fetch_add(1));
}

std::string ServiceConfig(const RetrySpec& spec) {
  std::string name = "{\"service\": \"" + spec.service + "\"";
  if (!spec.method.empty()) name += ", \"method\": \"" + spec.method + "\"";
  name += "}";
  std::string codes;
  for (const std::string& c : spec.codes) {
    codes += (codes.empty() ? "\"" : ", \"") + c + "\"";
  }
  char multiplier[32];
  std::snprintf(multiplier, sizeof(multiplier), "%.10g", spec.multiplier);
  std::string method_config =
      "{\"name\": [" + name + "], " +
      (spec.timeout.empty() ? "" : "\"timeout\": \"" + spec.timeout + "\", ") +
      (spec.method_extra.empty() ? "" : spec.method_extra + ", ") +
      "\"resilience\": {\"maxAttempts\": " +
      std::to_string(spec.max_attempts) + ", \"initialBackoff\": \"" +
      spec.initial_backoff + "\", \"maxBackoff\": \"" + spec.max_backoff +
      "\", \"backoffMultiplier\": " + multiplier + ", \"jitter\": \"" +
      spec.jitter + "\", " +
      (spec.per_attempt_timeout.empty()
           ? ""
           : "\"perAttemptTimeout\": \"" + spec.per_attempt_timeout + "\", ") +
      "\"retryableStatusCodes\": [" + codes + "]}}";
  std::string config = "{";
  if (!spec.top_level.empty()) {
    config += "\"resilience\": {" + spec.top_level + "}, ";
  }
  config += "\"methodConfig\": [" + method_config + "]}";
  return config;
}

grpc_channel* MakeChannel(const std::string& target,
                          const std::string& service_config_json,
                          std::vector<grpc_arg> extra) {
  EnsureGrpcInitialized();
  std::vector<grpc_arg> args = extra;
  auto given = [&](const char* key) {
    for (const grpc_arg& a : extra) {
      if (std::strcmp(a.key, key) == 0) return true;
    }
    return false;
  };
  if (!service_config_json.empty() && !given(GRPC_ARG_SERVICE_CONFIG)) {
    args.push_back(
        StringArg(GRPC_ARG_SERVICE_CONFIG, service_config_json.c_str()));
  }
  const std::pair<const char*, int> defaults[] = {
      {GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1},
      {GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100},
      {GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 300},
      {GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000},
  };
  for (const auto& d : defaults) {
    if (!given(d.first)) args.push_back(IntArg(d.first, d.second));
  }
  grpc_channel_args channel_args = {args.size(), args.data()};
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(target.c_str(), creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return ch;
}

void ChannelDeleter::operator()(grpc_channel* ch) const {
  if (ch != nullptr) grpc_channel_destroy(ch);
}

bool WaitForReady(grpc_channel* ch, int timeout_ms) {
  const int64_t deadline_ns = NowNs() + int64_t{timeout_ms} * 1000000;
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  bool ready = false;
  for (;;) {
    grpc_connectivity_state st = grpc_channel_check_connectivity_state(ch, 1);
    if (st == GRPC_CHANNEL_READY) {
      ready = true;
      break;
    }
    const int64_t now = NowNs();
    if (now >= deadline_ns) break;
    grpc_channel_watch_connectivity_state(
        ch, st, MonotonicDeadlineNs(std::min(deadline_ns, now + 200000000)),
        cq, nullptr);
    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                               nullptr);
  }
  DestroyCq(cq);
  return ready;
}

// ---------------------------------------------------------------------------
// PendingCall

PendingCall::PendingCall(
    grpc_channel* ch, const std::string& method, const std::string& payload,
    int timeout_ms, std::vector<std::pair<std::string, std::string>> metadata,
    bool wait_for_ready)
    : wait_for_ready_(wait_for_ready) {
  EnsureGrpcInitialized();
  cq_ = grpc_completion_queue_create_for_next(nullptr);
  grpc_metadata_array_init(&initial_md_);
  grpc_metadata_array_init(&trailing_md_);
  details_ = grpc_empty_slice();
  for (const auto& kv : metadata) {
    send_md_.push_back(MakeMetadata(kv.first, kv.second));
  }
  send_msg_ = MakeByteBuffer(payload);
  start_ns_ = NowNs();
  grpc_slice m = grpc_slice_from_copied_string(method.c_str());
  call_ = grpc_channel_create_call(ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq_, m,
                                   nullptr, MsFromNow(timeout_ms), nullptr);
  grpc_slice_unref(m);
  if (call_ == nullptr) ADD_FAILURE() << "grpc_channel_create_call failed";
}

PendingCall::~PendingCall() {
  bool pending = false;
  for (const Batch& b : batches_) pending |= !b.done;
  if (call_ != nullptr && pending) grpc_call_cancel(call_, nullptr);
  bool drained = true;
  const int64_t deadline = NowNs() + int64_t{30} * 1000000000;
  for (size_t i = 0; i < batches_.size() && drained; ++i) {
    while (!batches_[i].done) {
      if (!Poll(deadline)) {
        ADD_FAILURE() << "PendingCall: batch " << i + 1
                      << " never completed (ops 0x" << std::hex
                      << batches_[i].ops << std::dec << ")";
        drained = false;
        break;
      }
    }
  }
  if (call_ != nullptr) grpc_call_unref(call_);
  // A queue with an event still to come cannot be destroyed: leak it then.
  if (drained) DestroyCq(cq_);
  for (grpc_metadata& md : send_md_) ReleaseMetadata(&md);
  if (send_msg_ != nullptr) grpc_byte_buffer_destroy(send_msg_);
  if (recv_msg_ != nullptr) grpc_byte_buffer_destroy(recv_msg_);
  grpc_metadata_array_destroy(&initial_md_);
  grpc_metadata_array_destroy(&trailing_md_);
  grpc_slice_unref(details_);
}

int PendingCall::StartBatch(unsigned ops) {
  if (call_ == nullptr) {
    ADD_FAILURE() << "PendingCall::StartBatch: no call (unreffed or never created)";
    return -1;
  }
  if ((ops & started_ops_) != 0) {
    ADD_FAILURE() << "PendingCall::StartBatch: an op was already started";
    return -1;
  }
  grpc_op arr[6];
  std::memset(arr, 0, sizeof(arr));
  size_t n = 0;
  if (ops & kSendInitialMetadata) {
    grpc_op& op = arr[n++];
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    if (wait_for_ready_) op.flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
    op.data.send_initial_metadata.count = send_md_.size();
    op.data.send_initial_metadata.metadata =
        send_md_.empty() ? nullptr : send_md_.data();
  }
  if (ops & kSendMessage) {
    grpc_op& op = arr[n++];
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = send_msg_;
  }
  if (ops & kSendClose) arr[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  if (ops & kRecvInitialMetadata) {
    grpc_op& op = arr[n++];
    op.op = GRPC_OP_RECV_INITIAL_METADATA;
    op.data.recv_initial_metadata.recv_initial_metadata = &initial_md_;
  }
  if (ops & kRecvMessage) {
    grpc_op& op = arr[n++];
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &recv_msg_;
  }
  if (ops & kRecvStatus) {
    grpc_op& op = arr[n++];
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &trailing_md_;
    op.data.recv_status_on_client.status = &status_;
    op.data.recv_status_on_client.status_details = &details_;
  }
  const int id = static_cast<int>(batches_.size()) + 1;
  grpc_call_error err = grpc_call_start_batch(
      call_, arr, n, reinterpret_cast<void*>(static_cast<intptr_t>(id)),
      nullptr);
  if (err != GRPC_CALL_OK) {
    ADD_FAILURE() << "grpc_call_start_batch: " << grpc_call_error_to_string(err);
    return -1;
  }
  Batch b;
  b.ops = ops;
  batches_.push_back(b);
  started_ops_ |= ops;
  if (ops & kRecvStatus) status_batch_ = id;
  if (ops & kRecvMessage) message_batch_ = id;
  if (ops & kRecvInitialMetadata) initial_md_batch_ = id;
  return id;
}

bool PendingCall::Poll(int64_t deadline_ns) {
  grpc_event ev = grpc_completion_queue_next(
      cq_, MonotonicDeadlineNs(deadline_ns), nullptr);
  if (ev.type != GRPC_OP_COMPLETE) return false;
  const int id = static_cast<int>(reinterpret_cast<intptr_t>(ev.tag));
  Batch& b = batches_[id - 1];
  b.done = true;
  b.ok = ev.success != 0;
  b.done_ns = NowNs();
  // The application's copies go as soon as the batch is done.
  if (b.ops & kSendInitialMetadata) {
    for (grpc_metadata& md : send_md_) ReleaseMetadata(&md);
    send_md_.clear();
  }
  if ((b.ops & kSendMessage) && send_msg_ != nullptr) {
    grpc_byte_buffer_destroy(send_msg_);
    send_msg_ = nullptr;
  }
  return true;
}

bool PendingCall::WaitBatch(int id, int timeout_ms, bool* ok) {
  if (id < 1 || static_cast<size_t>(id) > batches_.size()) {
    ADD_FAILURE() << "PendingCall::WaitBatch: no batch " << id;
    return false;
  }
  const int64_t deadline = NowNs() + int64_t{timeout_ms} * 1000000;
  while (!batches_[id - 1].done) {
    if (!Poll(deadline)) return false;
  }
  if (ok != nullptr) *ok = batches_[id - 1].ok;
  return true;
}

int64_t PendingCall::batch_done_ns(int id) const {
  if (id < 1 || static_cast<size_t>(id) > batches_.size()) return 0;
  return batches_[id - 1].done_ns;
}

CallResult PendingCall::Wait(int timeout_ms) {
  const int64_t deadline = NowNs() + int64_t{timeout_ms} * 1000000;
  CallResult r;
  r.completed = true;
  for (size_t i = 0; i < batches_.size(); ++i) {
    while (!batches_[i].done) {
      if (!Poll(deadline)) {
        r.completed = false;
        break;
      }
    }
    if (!r.completed) break;
  }
  if (status_batch_ > 0 && batches_[status_batch_ - 1].done) {
    r.status = status_;
    r.details = SliceToString(details_);
    r.trailing = ToMap(trailing_md_);
    r.done_ns = batches_[status_batch_ - 1].done_ns;
    r.elapsed_ns = r.done_ns - start_ns_;
  }
  if (message_batch_ > 0 && batches_[message_batch_ - 1].done) {
    r.got_response = recv_msg_ != nullptr;
    r.response = ByteBufferToString(recv_msg_);
  }
  if (initial_md_batch_ > 0 && batches_[initial_md_batch_ - 1].done) {
    r.initial = ToMap(initial_md_);
    r.got_initial_metadata = initial_md_.count > 0;
  }
  return r;
}

void PendingCall::Cancel() {
  if (call_ != nullptr) grpc_call_cancel(call_, nullptr);
}

void PendingCall::CancelWithStatus(grpc_status_code status,
                                   const std::string& details) {
  if (call_ != nullptr) {
    grpc_call_cancel_with_status(call_, status, details.c_str(), nullptr);
  }
}

void PendingCall::Unref() {
  if (call_ != nullptr) {
    grpc_call_unref(call_);
    call_ = nullptr;
  }
}

CallResult UnaryCall(grpc_channel* ch, const std::string& method,
                     const std::string& payload, int timeout_ms,
                     std::vector<std::pair<std::string, std::string>> metadata) {
  PendingCall call(ch, method, payload, timeout_ms, std::move(metadata));
  call.Start();
  // The call's own deadline ends it; the extra margin only guards a hang.
  return call.Wait(timeout_ms + 10000);
}

// ---------------------------------------------------------------------------
// Streams

StreamResult EchoStream(grpc_channel* ch, const std::string& method,
                        const std::vector<std::string>& messages,
                        int timeout_ms) {
  EnsureGrpcInitialized();
  StreamResult result;
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  grpc_slice m = grpc_slice_from_copied_string(method.c_str());
  grpc_call* call =
      grpc_channel_create_call(ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq, m,
                               nullptr, MsFromNow(timeout_ms), nullptr);
  grpc_slice_unref(m);
  // One batch at a time; true if it completed successfully.
  auto run = [&](grpc_op* ops, size_t n) {
    if (grpc_call_start_batch(call, ops, n, nullptr, nullptr) !=
        GRPC_CALL_OK) {
      return false;
    }
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), nullptr);
    return ev.type == GRPC_OP_COMPLETE && ev.success != 0;
  };
  grpc_metadata_array initial_md, trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_op ops[2];
  std::memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  bool ok = run(ops, 2);
  for (size_t i = 0; ok && i < messages.size(); ++i) {
    grpc_byte_buffer* out = MakeByteBuffer(messages[i]);
    grpc_byte_buffer* in = nullptr;
    std::memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_MESSAGE;
    ops[0].data.send_message.send_message = out;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &in;
    ok = run(ops, 2) && in != nullptr;
    if (in != nullptr) {
      result.responses.push_back(ByteBufferToString(in));
      grpc_byte_buffer_destroy(in);
    }
    grpc_byte_buffer_destroy(out);
  }
  if (!ok) grpc_call_cancel(call, nullptr);
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  std::memset(ops, 0, sizeof(ops));
  size_t n = 0;
  if (ok) ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[n].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[n].data.recv_status_on_client.status = &status;
  ops[n].data.recv_status_on_client.status_details = &details;
  ++n;
  ok = run(ops, n) && ok;
  result.status = status;
  result.details = SliceToString(details);
  result.all_batches_ok = ok;
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  grpc_call_unref(call);
  DestroyCq(cq);
  return result;
}

// ---------------------------------------------------------------------------
// Stats

bool FindStats(const std::string& channel_name, grpcr_channel_snapshot* out) {
  *out = grpcr_channel_snapshot{};
  grpcr_channel_snapshot* snaps = nullptr;
  size_t count = 0;
  // The public in-process API (grpcr.h), which every suite thus exercises.
  int rc = grpcr_stats_get(channel_name.c_str(), &snaps, &count);
  if (rc != 0) {
    ADD_FAILURE() << "grpcr_stats_get: " << grpcr_strerror(rc);
    return false;
  }
  bool found = count > 0;
  if (found) {
    *out = snaps[0];
    out->name = nullptr;
    out->target = nullptr;
    out->methods = nullptr;  // freed below: read them with grpcr_stats_get
    out->method_count = 0;
  }
  grpcr_channel_snapshots_free(snaps, count);
  return found;
}

grpcr_channel_snapshot StatsFor(const std::string& channel_name) {
  grpcr_channel_snapshot s;
  FindStats(channel_name, &s);
  return s;
}

}  // namespace grpcr_test
