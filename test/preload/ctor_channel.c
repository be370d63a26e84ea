/* A library that creates a gRPC channel in its own ELF constructor (to
 * CTOR_TARGET), as some libraries do: glibc runs it before the preload's
 * constructor, so only the hook on gRPC's configuration build can install
 * the filter in time. Built without grpc-resilience. */
#include <stdlib.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "unary_call.h"

static grpc_channel *g_channel;

__attribute__((constructor)) static void create_channel(void) {
  const char *target = getenv("CTOR_TARGET");
  if (!target) return;
  grpc_init();
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  g_channel = grpc_channel_create(target, creds, NULL);
  grpc_channel_credentials_release(creds);
}

/* CALLS calls on the constructor's channel; -1 if it has none. */
__attribute__((visibility("default"))) int ctor_channel_calls(int calls) {
  return g_channel ? call_many(g_channel, calls) : -1;
}
