/* grpcr.v1.ResilienceStats/GetStats on a C-core server: the application's
 * (grpcr_stats_register_service) or the library's own standalone one
 * (grpcr_stats_server_start).
 *
 * Each registration owns a completion queue and a thread that serves it.
 * gRPC 1.51 forbids requesting a call before grpc_server_start() (the
 * server's request matchers do not exist yet) and the C API does not say
 * when the server starts, so a hook listener (server_hook.h) does: from
 * grpc_server_start() it makes the first call request, and the thread makes
 * each next one as a call arrives. The thread may thus run before the server
 * starts; it simply waits on its queue.
 *
 * Shutdown: grpc_server_shutdown_and_notify() fails the pending request
 * (success=0) and then stops the hook, in that order. Once the hook has
 * stopped and no request or answer is in flight, the queue is shut down; the
 * thread drains it, destroys it, and only then lets the server's shutdown
 * complete. So when the application's shutdown tag arrives, nothing of the
 * service is left but a thread returning. The server must be shut down
 * before grpc_server_destroy(), even one that never started (gRPC asserts
 * this of any server with a listener). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "grpcr/v1/stats.pb-c.h"
#include "grpcr/grpcr.h"
#include "grpcr/stats.h"
#include "addr.h"
#include "internal.h"
#include "server_hook.h"
#include "stats_encode.h"

/* ---- the response ------------------------------------------------------- */

/* snaps as an encoded GetStatsResponse in a byte buffer; NULL on ENOMEM. */
static grpc_byte_buffer *encode_response(const grpcr_channel_snapshot *snaps,
                                         size_t n) {
  gpr_timespec wall = gpr_now(GPR_CLOCK_REALTIME);
  size_t len = 0;
  uint8_t *buf = grpcr_internal_stats_encode(
      snaps, n, (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, &len);
  if (buf == NULL) return NULL;
  grpc_slice slice = grpc_slice_new(buf, len, free); /* owns buf */
  grpc_byte_buffer *out = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return out;
}

/* The answer for the channels named filter (all if empty), or NULL with
 * *code set to why not. */
static grpc_byte_buffer *build_response(const char *filter,
                                        grpc_status_code *code) {
  grpcr_registry *reg = grpcr_internal_registry();
  if (reg == NULL) {
    *code = GRPC_STATUS_INTERNAL;
    return NULL;
  }
  grpcr_channel_snapshot *snaps = NULL;
  size_t n = 0;
  grpc_byte_buffer *out = NULL;
  if (grpcr_registry_snapshot(reg, grpcr_internal_now_ns(), filter, &snaps,
                              &n) == GRPCR_OK) {
    out = encode_response(snaps, n);
    grpcr_channel_snapshots_free(snaps, n);
  }
  if (out == NULL) *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
  return out;
}

/* ---- the service -------------------------------------------------------- */

typedef struct stats_service stats_service;

/* One requested call: first its request (REQUESTED), then its answer
 * (ANSWERED). The rpc itself is the tag. */
typedef struct {
  enum { RPC_REQUESTED, RPC_ANSWERED } phase;
  bool unknown_method; /* a call to any other method (standalone server) */
  grpc_call_details details;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array request_md;
  grpc_byte_buffer *request;
  grpc_byte_buffer *response;
  int client_cancelled;
} rpc;

struct stats_service {
  grpc_server *server;
  void *method;
  /* The standalone server: every call is ours, so calls to other methods
   * are answered UNIMPLEMENTED at once instead of waiting for their
   * deadline. */
  bool answer_unknown;
  grpc_completion_queue *cq;
  pthread_mutex_t mu;
  /* Guarded by mu: */
  size_t in_flight;          /* requests and answers the queue owes us */
  bool stopped;              /* the hook's on_stop ran */
  bool cq_shutdown;          /* grpc_completion_queue_shutdown was called */
  grpcr_server_stop *stop;   /* handed back once the queue is drained */
};

static void rpc_free(rpc *r) {
  if (r->unknown_method) grpc_call_details_destroy(&r->details);
  if (r->call != NULL) grpc_call_unref(r->call);
  grpc_metadata_array_destroy(&r->request_md);
  if (r->request != NULL) grpc_byte_buffer_destroy(r->request);
  if (r->response != NULL) grpc_byte_buffer_destroy(r->response);
  free(r);
}

/* Shuts the queue down once the server has stopped the hook and nothing is
 * in flight; called with mu held. Returns whether the caller must do it
 * (after unlocking). */
static bool cq_shutdown_due_locked(stats_service *svc) {
  if (!svc->stopped || svc->in_flight > 0 || svc->cq_shutdown) return false;
  svc->cq_shutdown = true;
  return true;
}

/* Asks the server for the next call. A refusal (out of memory, a queue in
 * trouble) is logged and ends serving; the service still shuts down cleanly
 * with the server. */
static void request_next(stats_service *svc, bool unknown_method) {
  rpc *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    gpr_log(GPR_ERROR, "grpcr stats: out of memory, no longer serving");
    return;
  }
  r->phase = RPC_REQUESTED;
  r->unknown_method = unknown_method;
  grpc_metadata_array_init(&r->request_md);
  pthread_mutex_lock(&svc->mu);
  svc->in_flight++;
  pthread_mutex_unlock(&svc->mu);
  grpc_call_error err;
  if (unknown_method) {
    grpc_call_details_init(&r->details);
    err = grpc_server_request_call(svc->server, &r->call, &r->details,
                                   &r->request_md, svc->cq, svc->cq, r);
  } else {
    err = grpc_server_request_registered_call(
        svc->server, svc->method, &r->call, &r->deadline, &r->request_md,
        &r->request, svc->cq, svc->cq, r);
  }
  if (err != GRPC_CALL_OK) {
    gpr_log(GPR_ERROR, "grpcr stats: cannot request a call (error %d)",
            (int)err);
    rpc_free(r);
    pthread_mutex_lock(&svc->mu);
    svc->in_flight--;
    bool shutdown = cq_shutdown_due_locked(svc);
    pthread_mutex_unlock(&svc->mu);
    if (shutdown) grpc_completion_queue_shutdown(svc->cq);
  }
}

/* Decodes the request into *req (free it with
 * grpcr__v1__get_stats_request__free_unpacked); false with *details set if
 * it is missing or malformed. */
static bool decode_request(grpc_byte_buffer *bb, Grpcr__V1__GetStatsRequest **req,
                           const char **details) {
  *req = NULL;
  if (bb == NULL) {
    *details = "GetStats: the request has no message";
    return false;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    *details = "GetStats: cannot read the request";
    return false;
  }
  grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  *req = grpcr__v1__get_stats_request__unpack(NULL, GRPC_SLICE_LENGTH(s),
                                              GRPC_SLICE_START_PTR(s));
  grpc_slice_unref(s);
  if (*req == NULL) {
    *details = "GetStats: cannot decode grpcr.v1.GetStatsRequest";
    return false;
  }
  return true;
}

/* Sends the answer to r in one batch: metadata, message (if OK), status, and
 * the receipt of the client's close. */
static void answer(stats_service *svc, rpc *r) {
  grpc_status_code code = GRPC_STATUS_OK;
  const char *details = "";
  Grpcr__V1__GetStatsRequest *req = NULL;
  if (r->unknown_method) {
    code = GRPC_STATUS_UNIMPLEMENTED;
    details = "this server serves only " GRPCR_STATS_GET_STATS_METHOD;
  } else if (!decode_request(r->request, &req, &details)) {
    code = GRPC_STATUS_INVALID_ARGUMENT;
  } else {
    r->response = build_response(req->channel_name, &code);
    if (r->response == NULL) details = "GetStats: cannot build the snapshot";
  }
  if (req != NULL) grpcr__v1__get_stats_request__free_unpacked(req, NULL);

  grpc_slice details_slice = grpc_slice_from_static_string(details);
  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n++].data.send_initial_metadata.count = 0;
  if (r->response != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = r->response;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n++].data.send_status_from_server.status_details = &details_slice;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n++].data.recv_close_on_server.cancelled = &r->client_cancelled;

  r->phase = RPC_ANSWERED;
  pthread_mutex_lock(&svc->mu);
  svc->in_flight++;
  pthread_mutex_unlock(&svc->mu);
  grpc_call_error err = grpc_call_start_batch(r->call, ops, n, r, NULL);
  if (err != GRPC_CALL_OK) {
    gpr_log(GPR_ERROR, "grpcr stats: cannot answer a call (error %d)",
            (int)err);
    rpc_free(r);
    pthread_mutex_lock(&svc->mu);
    svc->in_flight--;
    pthread_mutex_unlock(&svc->mu);
  }
}

static void on_event(stats_service *svc, rpc *r, bool success) {
  if (r->phase == RPC_REQUESTED && success) {
    /* Before answering, so no call waits for us. */
    request_next(svc, r->unknown_method);
    answer(svc, r);
  } else {
    /* An answer sent (or its call gone), or a request failed: the server is
     * shutting down, so no next request. */
    rpc_free(r);
  }
  pthread_mutex_lock(&svc->mu);
  svc->in_flight--;
  bool shutdown = cq_shutdown_due_locked(svc);
  pthread_mutex_unlock(&svc->mu);
  if (shutdown) grpc_completion_queue_shutdown(svc->cq);
}

static void service_free(stats_service *svc) {
  pthread_mutex_destroy(&svc->mu);
  free(svc);
}

static void *service_main(void *arg) {
  stats_service *svc = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        svc->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) on_event(svc, ev.tag, ev.success != 0);
  }
  grpc_completion_queue_destroy(svc->cq);
  /* The queue shuts down only after on_stop, so stop is set; nobody else
   * touches svc any more. The application still holds its own gRPC
   * reference (its server is not yet shut down), so ours is not the last. */
  grpcr_server_stop *stop = svc->stop;
  service_free(svc);
  grpc_shutdown();
  grpcr_internal_server_stop_done(stop);
  return NULL;
}

static void hook_on_start(void *arg) {
  stats_service *svc = arg;
  request_next(svc, false);
  if (svc->answer_unknown) request_next(svc, true);
}

static void hook_on_stop(void *arg, grpcr_server_stop *stop) {
  stats_service *svc = arg;
  pthread_mutex_lock(&svc->mu);
  svc->stopped = true;
  svc->stop = stop;
  bool shutdown = cq_shutdown_due_locked(svc);
  grpc_completion_queue *cq = svc->cq;
  pthread_mutex_unlock(&svc->mu);
  /* svc stays alive: the thread frees it only after this shutdown. */
  if (shutdown) grpc_completion_queue_shutdown(cq);
}

/* Registers the service; the thread is detached unless thread_out is given,
 * in which case the caller joins it after the server's shutdown. */
static int service_register(grpc_server *server, pthread_t *thread_out,
                            bool answer_unknown) {
  if (server == NULL) return GRPCR_EINVAL;
  stats_service *svc = calloc(1, sizeof(*svc));
  if (svc == NULL) return GRPCR_ENOMEM;
  if (pthread_mutex_init(&svc->mu, NULL) != 0) {
    free(svc);
    return GRPCR_ENOMEM;
  }
  grpc_init();
  svc->server = server;
  svc->answer_unknown = answer_unknown;
  svc->method = grpc_server_register_method(
      server, GRPCR_STATS_GET_STATS_METHOD, NULL,
      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  if (svc->method == NULL) {
    /* gRPC has logged why; the only cause here is a second registration. */
    grpc_shutdown();
    service_free(svc);
    return GRPCR_EBUSY;
  }
  /* From here on, the server knows the queue and the method; failures leave
   * them registered but unserved, which is harmless: the method's calls
   * wait for a request that never comes and end with their deadline or the
   * server's shutdown. */
  svc->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(server, svc->cq, NULL);
  pthread_attr_t attr;
  pthread_t thread;
  int rc = pthread_attr_init(&attr);
  if (rc == 0 && thread_out == NULL)
    rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (rc == 0) rc = pthread_create(&thread, &attr, service_main, svc);
  pthread_attr_destroy(&attr);
  if (rc != 0) goto fail;
  grpcr_server_hook hook = {hook_on_start, hook_on_stop, svc};
  if (grpcr_internal_server_hook(server, &hook) != 0) {
    /* The thread waits on a queue nobody will shut down: do it now. */
    pthread_mutex_lock(&svc->mu);
    svc->stopped = true;
    svc->cq_shutdown = true;
    pthread_mutex_unlock(&svc->mu);
    grpc_completion_queue_shutdown(svc->cq);
    if (thread_out != NULL) pthread_join(thread, NULL);
    return GRPCR_ENOMEM;
  }
  if (thread_out != NULL) *thread_out = thread;
  return GRPCR_OK;
fail:
  grpc_completion_queue_shutdown(svc->cq);
  grpc_completion_queue_destroy(svc->cq);
  grpc_shutdown();
  service_free(svc);
  return GRPCR_ENOMEM;
}

int grpcr_stats_register_service(grpc_server *server) {
  return service_register(server, NULL, false);
}

/* ---- the standalone server ---------------------------------------------- */

/* Start and stop hold the lock throughout, so they never interleave. */
static pthread_mutex_t g_standalone_mu = PTHREAD_MUTEX_INITIALIZER;
static grpc_server *g_standalone;
static pthread_t g_standalone_thread;

/* The standalone server's limits (grpcr.h). */
static grpc_server *new_bounded_server(void) {
  grpc_resource_quota *quota = grpc_resource_quota_create("grpcr-stats");
  grpc_resource_quota_resize(quota, GRPCR_STATS_MEMORY_BYTES);
  grpc_arg args[4];
  memset(args, 0, sizeof(args));
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = GRPCR_STATS_MAX_REQUEST_BYTES;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS;
  args[1].value.integer = GRPCR_STATS_MAX_STREAMS;
  args[2].type = GRPC_ARG_INTEGER;
  args[2].key = (char *)GRPC_ARG_MAX_CONNECTION_IDLE_MS;
  args[2].value.integer = GRPCR_STATS_IDLE_MS;
  args[3].type = GRPC_ARG_POINTER;
  args[3].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
  args[3].value.pointer.p = quota;
  args[3].value.pointer.vtable = grpc_resource_quota_arg_vtable();
  grpc_channel_args channel_args = {4, args};
  grpc_server *server = grpc_server_create(&channel_args, NULL);
  grpc_resource_quota_unref(quota);
  return server;
}

static int start_standalone(const char *addr, grpc_server_credentials *creds,
                            int *bound_port);

int grpcr_stats_server_start(const char *addr, int *bound_port) {
  if (addr == NULL) return GRPCR_EINVAL;
  if (!grpcr_internal_is_loopback_address(addr)) {
    gpr_log(GPR_ERROR,
            "grpcr stats: refusing an insecure stats server on %s: it would "
            "expose channel names and targets beyond this machine; use a "
            "loopback address or grpcr_stats_server_start_with_credentials",
            addr);
    return GRPCR_EINSECURE;
  }
  return start_standalone(addr, NULL, bound_port);
}

int grpcr_stats_server_start_with_credentials(const char *addr,
                                              grpc_server_credentials *creds,
                                              int *bound_port) {
  if (addr == NULL || creds == NULL) return GRPCR_EINVAL;
  return start_standalone(addr, creds, bound_port);
}

static int start_standalone(const char *given, grpc_server_credentials *creds,
                            int *bound_port) {
  char addr[1024];
  if (!grpcr_internal_addr_bindable(given, addr, sizeof(addr))) {
    return GRPCR_EINVAL;
  }
  pthread_mutex_lock(&g_standalone_mu);
  if (g_standalone != NULL) {
    pthread_mutex_unlock(&g_standalone_mu);
    return GRPCR_EBUSY;
  }
  grpc_init();
  int err = GRPCR_OK;
  grpc_server *server = new_bounded_server();
  /* The port first: a server without listeners may be destroyed without a
   * shutdown, which keeps the bind failure simple. */
  grpc_server_credentials *insecure =
      creds == NULL ? grpc_insecure_server_credentials_create() : NULL;
  int port = grpc_server_add_http2_port(server, addr,
                                        creds != NULL ? creds : insecure);
  if (insecure != NULL) grpc_server_credentials_release(insecure);
  if (port == 0) {
    err = GRPCR_EBIND;
    grpc_server_destroy(server);
    goto out;
  }
  err = service_register(server, &g_standalone_thread, true);
  if (err != GRPCR_OK) {
    /* The port's listener must be shut down before the server goes. */
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(server, cq, server);
    grpc_completion_queue_pluck(cq, server, gpr_inf_future(GPR_CLOCK_REALTIME),
                                NULL);
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    goto out;
  }
  grpc_server_start(server);
  g_standalone = server;
  if (bound_port != NULL) *bound_port = port;
out:
  if (err != GRPCR_OK) grpc_shutdown();
  pthread_mutex_unlock(&g_standalone_mu);
  return err;
}

void grpcr_stats_server_stop(void) {
  pthread_mutex_lock(&g_standalone_mu);
  grpc_server *server = g_standalone;
  if (server == NULL) {
    pthread_mutex_unlock(&g_standalone_mu);
    return;
  }
  /* Every call on this server is ours: cancelling the ones in flight keeps a
   * stuck client from holding the stop up. */
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_server_shutdown_and_notify(server, cq, server);
  grpc_server_cancel_all_calls(server);
  grpc_completion_queue_pluck(cq, server, gpr_inf_future(GPR_CLOCK_REALTIME),
                              NULL);
  grpc_server_destroy(server);
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  pthread_join(g_standalone_thread, NULL);
  g_standalone = NULL;
  grpc_shutdown();
  pthread_mutex_unlock(&g_standalone_mu);
}
