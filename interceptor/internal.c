/* The shim's process-wide state: the stats registry and the one clock. */
#include "internal.h"

#include "grpcr/grpcr.h"

#include <pthread.h>

#include <grpc/support/time.h>

static pthread_once_t g_registry_once = PTHREAD_ONCE_INIT;
static grpcr_registry *g_registry;

/* A child forked while another thread (a /metrics scrape, a stats RPC)
 * held the registry's mutex would deadlock at its first channel; these keep
 * every fork between two registry operations. */
static void fork_prepare(void) { grpcr_registry_fork_prepare(g_registry); }
static void fork_parent(void) { grpcr_registry_fork_parent(g_registry); }
static void fork_child(void) { grpcr_registry_fork_child(g_registry); }

static void registry_create_once(void) {
  g_registry = grpcr_registry_create();
  if (g_registry != NULL) pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* NULL only if the one creation ran out of memory; it is not retried, so
 * every caller sees the same answer. */
grpcr_registry *grpcr_internal_registry(void) {
  pthread_once(&g_registry_once, registry_create_once);
  return g_registry;
}

int grpcr_stats_get(const char *name_filter, grpcr_channel_snapshot **out,
                    size_t *count) {
  if (out == NULL || count == NULL) return GRPCR_EINVAL;
  return grpcr_registry_snapshot(grpcr_internal_registry(),
                                 grpcr_internal_now_ns(), name_filter, out,
                                 count);
}

int64_t grpcr_internal_now_ns(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
