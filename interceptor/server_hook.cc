// A listener that binds nothing: it only relays Server::Start() and the
// server's shutdown to a C hook (see server_hook.h for why).
#include "server_hook.h"

#ifdef NDEBUG
#error "Never build the shim with NDEBUG: it changes gRPC 1.51's internal struct layouts (see docs/GRPC_CORE_NOTES.md)"
#endif

#include <new>
#include <vector>

#include "grpcr/common.h"
#include "src/core/lib/iomgr/closure.h"
#include "src/core/lib/iomgr/exec_ctx.h"
#include "src/core/lib/surface/server.h"

struct grpcr_server_stop {
  grpc_closure *on_destroy_done;  // the server's; null if it never asked
};

namespace {

class HookListener final : public grpc_core::Server::ListenerInterface {
 public:
  explicit HookListener(const grpcr_server_hook &hook) : hook_(hook) {}

  void Start(grpc_core::Server *, const std::vector<grpc_pollset *> *) override {
    hook_.on_start(hook_.arg);
  }

  grpc_core::channelz::ListenSocketNode *channelz_listen_socket_node()
      const override {
    return nullptr;
  }

  void SetOnDestroyDone(grpc_closure *on_destroy_done) override {
    on_destroy_done_ = on_destroy_done;
  }

  // Called by StopListening() during shutdown. (~Server would call it too,
  // but Server::Orphan() refuses to destroy a server that has a listener and
  // was never shut down.) The hook may finish after this listener is gone,
  // so it gets the closure in its own allocation; like gRPC, treat running
  // out of memory here as fatal.
  void Orphan() override {
    hook_.on_stop(hook_.arg, new grpcr_server_stop{on_destroy_done_});
    delete this;
  }

  static void RunDone(grpc_closure *c) {
    if (c == nullptr) return;
    // A fresh ExecCtx runs the closure when it goes out of scope; nesting
    // one inside the caller's (if any) is allowed.
    grpc_core::ExecCtx exec_ctx;
    grpc_core::ExecCtx::Run(DEBUG_LOCATION, c, absl::OkStatus());
  }

 private:
  grpcr_server_hook hook_;
  grpc_closure *on_destroy_done_ = nullptr;
};

}  // namespace

extern "C" int grpcr_internal_server_hook(grpc_server *server,
                                          const grpcr_server_hook *hook) {
  auto *l = new (std::nothrow) HookListener(*hook);
  if (l == nullptr) return GRPCR_ENOMEM;
  grpc_core::ExecCtx exec_ctx;
  grpc_core::Server::FromC(server)->AddListener(
      grpc_core::OrphanablePtr<grpc_core::Server::ListenerInterface>(l));
  return 0;
}

extern "C" void grpcr_internal_server_stop_done(grpcr_server_stop *stop) {
  if (stop == nullptr) return;
  grpc_closure *c = stop->on_destroy_done;
  delete stop;
  HookListener::RunDone(c);
}
