// The chaos test's server, a process of its own so the test can SIGKILL it:
//   grpcr_chaos_server PORT MODE LOG
// MODE: ok (echo), slow:MS (echo after MS), reset (cancel every call after
// reading its request: RST_STREAM mid-call). Every arrival is appended to
// LOG at once (O_APPEND, one write per line, so a kill loses nothing
// written): "<arrival unix ms> <client deadline unix ms>", the deadline
// from the client's x-deadline-unix-ms metadata. Runs until killed.
#include <fcntl.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

int64_t NowUnixMs() {
  gpr_timespec t = gpr_now(GPR_CLOCK_REALTIME);
  return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

struct Call {
  grpc_call* call = nullptr;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer* request = nullptr;
  grpc_slice status_details;
  int cancelled = 0;
  int stage = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT ok|slow:MS|reset LOG\n", argv[0]);
    return 64;
  }
  const std::string mode = argv[2];
  const int delay_ms =
      mode.rfind("slow:", 0) == 0 ? std::atoi(mode.c_str() + 5) : 0;
  const bool reset = mode == "reset";
  int log = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) return 66;
  grpc_init();
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  grpc_server* server = grpc_server_create(nullptr, nullptr);
  grpc_server_register_completion_queue(server, cq, nullptr);
  grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
  const std::string addr = std::string("127.0.0.1:") + argv[1];
  if (grpc_server_add_http2_port(server, addr.c_str(), creds) == 0) return 69;
  grpc_server_credentials_release(creds);
  grpc_server_start(server);
  std::printf("ready\n");
  std::fflush(stdout);
  auto request = [&] {
    Call* c = new Call;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    c->status_details = grpc_empty_slice();
    grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, c);
  };
  request();
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
    if (ev.type != GRPC_OP_COMPLETE) continue;
    Call* c = static_cast<Call*>(ev.tag);
    if (c->stage == 0) {
      request();
      if (!ev.success) continue;
      int64_t deadline = -1;
      for (size_t i = 0; i < c->md.count; i++) {
        if (grpc_slice_str_cmp(c->md.metadata[i].key, "x-deadline-unix-ms") ==
            0) {
          char* v = grpc_slice_to_c_string(c->md.metadata[i].value);
          deadline = std::atoll(v);
          gpr_free(v);
        }
      }
      char line[64];
      int n = std::snprintf(line, sizeof(line), "%lld %lld\n",
                            static_cast<long long>(NowUnixMs()),
                            static_cast<long long>(deadline));
      if (write(log, line, static_cast<size_t>(n)) != n) return 74;
      c->stage = 1;
      grpc_op op;
      std::memset(&op, 0, sizeof(op));
      op.op = GRPC_OP_RECV_MESSAGE;
      op.data.recv_message.recv_message = &c->request;
      grpc_call_start_batch(c->call, &op, 1, c, nullptr);
    } else if (c->stage == 1) {
      c->stage = 2;
      if (reset) {
        grpc_call_cancel(c->call, nullptr);
        grpc_op op;
        std::memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &c->cancelled;
        grpc_call_start_batch(c->call, &op, 1, c, nullptr);
        continue;
      }
      auto answer = [c] {
        grpc_op ops[4];
        std::memset(ops, 0, sizeof(ops));
        size_t n = 0;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (c->request != nullptr) {
          ops[n].op = GRPC_OP_SEND_MESSAGE;
          ops[n++].data.send_message.send_message = c->request;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
        ops[n++].data.send_status_from_server.status_details =
            &c->status_details;
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
        grpc_call_start_batch(c->call, ops, n, c, nullptr);
      };
      if (delay_ms > 0) {
        std::thread([answer, delay_ms] {
          gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_millis(delay_ms,
                                                            GPR_TIMESPAN)));
          answer();
        }).detach();
      } else {
        answer();
      }
    } else {
      if (c->request != nullptr) grpc_byte_buffer_destroy(c->request);
      grpc_slice_unref(c->status_details);
      grpc_call_details_destroy(&c->details);
      grpc_metadata_array_destroy(&c->md);
      grpc_call_unref(c->call);
      delete c;
    }
  }
}
