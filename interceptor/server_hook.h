/* A hook into a C-core server's start and shutdown, for services that the
 * library serves on an application's grpc_server (the stats service).
 *
 * Why: in gRPC 1.51 a call may be requested only after grpc_server_start()
 * (before it the server's request matchers do not exist and
 * grpc_server_request_registered_call dereferences NULL), and the public C
 * API says nothing when the server starts. Server::AddListener does: the
 * server calls every listener's Start() from grpc_server_start(), after it
 * has created the matchers, and orphans every listener from
 * grpc_server_shutdown_and_notify(), after it has failed the pending call
 * requests; its shutdown completes only when each listener has reported
 * itself destroyed. So a listener that binds no port tells the service when
 * to start requesting calls, and holds the server's shutdown notification
 * back until the service's thread has drained its completion queue. Never
 * installed. */
#ifndef GRPCR_INTERCEPTOR_SERVER_HOOK_H
#define GRPCR_INTERCEPTOR_SERVER_HOOK_H

#include <grpc/grpc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Handed to on_stop; the server's shutdown completes once it is passed to
 * grpcr_internal_server_stop_done(). */
typedef struct grpcr_server_stop grpcr_server_stop;

typedef struct {
  /* From grpc_server_start(), on its thread: calls may be requested from
   * now on. Must not block. */
  void (*on_start)(void *arg);
  /* From grpc_server_shutdown_and_notify(), whether or not the server
   * started: every call request made before has failed by then, later ones
   * fail at once. Must not block; call grpcr_internal_server_stop_done(stop)
   * exactly once, from here or later from any thread. */
  void (*on_stop)(void *arg, grpcr_server_stop *stop);
  void *arg;
} grpcr_server_hook;

/* Installs hook on server; call before grpc_server_start(). Such a server
 * must be shut down before grpc_server_destroy() even if it never started
 * (gRPC asserts this of any server with a listener). Returns 0 or
 * GRPCR_ENOMEM. Not thread-safe against other calls on the same server. */
int grpcr_internal_server_hook(grpc_server *server,
                               const grpcr_server_hook *hook);

/* Lets the server's shutdown complete (its shutdown tag may be delivered
 * before this returns). Thread-safe; callable with or without a gRPC
 * ExecCtx on the thread. */
void grpcr_internal_server_stop_done(grpcr_server_stop *stop);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_INTERCEPTOR_SERVER_HOOK_H */
