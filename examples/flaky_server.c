/* flaky_server: an echo server ("/echo.Echo/Say") that misbehaves on cue, for
 * the demo and for trying grpc-resilience by hand. gRPC C-core, public C API
 * only: one completion queue, a few worker threads and a timer thread, so it
 * holds many calls in flight without a thread per call.
 *
 * Misbehaviour (combinable):
 *   --fail-rate p    every call fails UNAVAILABLE with probability p (seeded)
 *   --outage A:B,..  from A to B seconds after start the server is DOWN: the
 *                    listening port is closed (connections are refused) and
 *                    every connection is dropped; at B a new grpc_server binds
 *                    the same port again. --outage-kind unavailable keeps it
 *                    up instead and answers every call UNAVAILABLE (what a
 *                    proxy with no healthy backend does).
 *   --capacity K     RESOURCE_EXHAUSTED when more than K calls are in flight
 *   --latency-ms N   successful calls are answered after N ms
 *
 * Output: "listening on 127.0.0.1:PORT" as the first line of stdout; one line
 * per second on stderr ("t=12s arrivals=345 ok=300 failed=45"); at the end
 * (--duration, SIGINT or SIGTERM) a JSON summary on stdout. --log FILE gets
 * one line per arrival: "<CLOCK_MONOTONIC ms> <ms since start> <answer>
 * <x-call-id>", where answer is the status the server decided to send and
 * x-call-id the request header of that name ("-" if absent): load_client
 * sends one per call, so an id seen twice is a retry that reached us. */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/time.h>
#include "cli_util.h"

#define PROG "flaky_server"
#define METHOD "/echo.Echo/Say"
#define MAX_OUTAGES 16
#define MAX_WORKERS 16
#define REQUESTS_POSTED 64 /* request_call tags kept outstanding */

typedef enum { MODE_HEALTHY, MODE_FAIL, MODE_OUTAGE, MODE_CAPACITY } server_mode;
typedef enum { KIND_REFUSE, KIND_UNAVAILABLE } outage_kind;

typedef struct {
  double start_s, end_s;
  /* What really happened (CLOCK_MONOTONIC ms; 0 if not reached). */
  double down_ms, up_ms;
} outage;

static struct {
  server_mode mode;
  int port;
  double fail_rate;
  uint64_t seed;
  outage outages[MAX_OUTAGES];
  int n_outages;
  outage_kind kind;
  int capacity; /* 0: unlimited */
  int latency_ms;
  double duration_s; /* 0: until a signal */
  int workers;
  const char *log_path;
} opt = {.mode = MODE_HEALTHY, .seed = 1, .workers = 2};

static double g_start_ms;
static FILE *g_log;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

/* Per-second counters, indexed by whole seconds since start. */
#define MAX_SECONDS 86400
static atomic_uint *g_arrivals_s, *g_ok_s, *g_failed_s;
static atomic_ullong g_arrivals, g_ok, g_failed, g_cancelled;
static atomic_ullong g_by_code[17];
static atomic_int g_inflight;     /* admitted calls not finished yet */
static atomic_bool g_unavailable; /* an outage of kind "unavailable" is on */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int second_index(double ms) {
  double s = (ms - g_start_ms) / 1e3;
  if (s < 0) return 0;
  return s >= MAX_SECONDS ? MAX_SECONDS - 1 : (int)s;
}

static const char *code_name(int code) {
  static const char *names[17] = {
      "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "UNKNOWN";
}

/* splitmix64: one generator per worker thread, seeded from --seed. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static double rand_unit(uint64_t *s) {
  return (double)(next_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- one server incarnation ------------------------------------------- */

typedef struct instance {
  grpc_server *server;
  grpc_completion_queue *cq;
  pthread_t workers[MAX_WORKERS];
  int n_workers;
  atomic_bool shutting_down;
  int shutdown_tag; /* its address is the tag */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool shutdown_seen;
  /* call_ctx objects alive (requests posted, calls in progress, answers
   * waiting on the timer): each may still start a batch on cq, so cq is
   * shut down only when this is 0. Guarded by mu. */
  int live;
} instance;

typedef enum { PH_REQUEST, PH_READ, PH_DONE } phase;

typedef struct call_ctx {
  phase ph;
  instance *inst;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_byte_buffer *recv;
  int code;
  bool admitted; /* counts against --capacity */
  int cancelled; /* set by RECV_CLOSE_ON_SERVER */
  double due_ms; /* when the answer goes out (--latency-ms) */
} call_ctx;

static void post_request(instance *in);

static void free_ctx(call_ctx *c) {
  instance *in = c->inst;
  if (c->recv) grpc_byte_buffer_destroy(c->recv);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  if (c->call) grpc_call_unref(c->call);
  free(c);
  pthread_mutex_lock(&in->mu);
  if (--in->live == 0) pthread_cond_broadcast(&in->cv);
  pthread_mutex_unlock(&in->mu);
}

static void send_answer(call_ctx *c) {
  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  n++;
  if (c->code == GRPC_STATUS_OK && c->recv != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->recv;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)c->code;
  grpc_slice details = grpc_slice_from_static_string(
      c->code == GRPC_STATUS_OK                   ? ""
      : c->code == GRPC_STATUS_RESOURCE_EXHAUSTED ? "flaky_server: over capacity"
      : c->code == GRPC_STATUS_UNIMPLEMENTED      ? "flaky_server: only " METHOD
                                                  : "flaky_server: injected failure");
  ops[n].data.send_status_from_server.status_details = &details;
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
  n++;
  c->ph = PH_DONE;
  if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
    if (c->admitted) atomic_fetch_sub(&g_inflight, 1);
    atomic_fetch_add(&g_cancelled, 1);
    free_ctx(c);
  }
}

/* ---- timer thread: answers delayed by --latency-ms -------------------- */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  call_ctx **heap; /* min-heap on due_ms */
  size_t n, cap;
  bool stop;
} g_timers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0,
              false};

static void timer_push(call_ctx *c) {
  pthread_mutex_lock(&g_timers.mu);
  if (g_timers.n == g_timers.cap) {
    size_t cap = g_timers.cap ? g_timers.cap * 2 : 256;
    call_ctx **h = realloc(g_timers.heap, cap * sizeof(*h));
    if (h == NULL) { /* no memory: answer now rather than never */
      pthread_mutex_unlock(&g_timers.mu);
      send_answer(c);
      return;
    }
    g_timers.heap = h;
    g_timers.cap = cap;
  }
  size_t i = g_timers.n++;
  while (i > 0 && g_timers.heap[(i - 1) / 2]->due_ms > c->due_ms) {
    g_timers.heap[i] = g_timers.heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  g_timers.heap[i] = c;
  if (i == 0) pthread_cond_signal(&g_timers.cv);
  pthread_mutex_unlock(&g_timers.mu);
}

static call_ctx *timer_pop_locked(void) {
  call_ctx *top = g_timers.heap[0];
  call_ctx *last = g_timers.heap[--g_timers.n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    double mv = last->due_ms;
    if (l < g_timers.n && g_timers.heap[l]->due_ms < mv) m = l, mv = g_timers.heap[l]->due_ms;
    if (r < g_timers.n && g_timers.heap[r]->due_ms < mv) m = r;
    if (m == i) break;
    g_timers.heap[i] = g_timers.heap[m];
    i = m;
  }
  if (g_timers.n > 0) g_timers.heap[i] = last;
  return top;
}

static void *timer_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_timers.mu);
  while (!g_timers.stop || g_timers.n > 0) {
    if (g_timers.n == 0) {
      pthread_cond_wait(&g_timers.cv, &g_timers.mu);
      continue;
    }
    double due = g_timers.heap[0]->due_ms, now = now_ms();
    if (due > now && !g_timers.stop) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts); /* condvar clock */
      double wait_ns = (due - now) * 1e6 + (double)ts.tv_nsec;
      ts.tv_sec += (time_t)(wait_ns / 1e9);
      ts.tv_nsec = (long)fmod(wait_ns, 1e9);
      pthread_cond_timedwait(&g_timers.cv, &g_timers.mu, &ts);
      continue;
    }
    call_ctx *c = timer_pop_locked();
    pthread_mutex_unlock(&g_timers.mu);
    send_answer(c);
    pthread_mutex_lock(&g_timers.mu);
  }
  pthread_mutex_unlock(&g_timers.mu);
  return NULL;
}

/* ---- the call path ------------------------------------------------------ */

static int decide(uint64_t *rng, bool *admitted) {
  *admitted = false;
  if (atomic_load(&g_unavailable)) return GRPC_STATUS_UNAVAILABLE;
  if (opt.fail_rate > 0 && rand_unit(rng) < opt.fail_rate)
    return GRPC_STATUS_UNAVAILABLE;
  int inflight = atomic_fetch_add(&g_inflight, 1) + 1;
  if (opt.capacity > 0 && inflight > opt.capacity) {
    atomic_fetch_sub(&g_inflight, 1);
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
  *admitted = true;
  return GRPC_STATUS_OK;
}

static void on_arrival(call_ctx *c, uint64_t *rng) {
  double t = now_ms();
  if (!atomic_load(&c->inst->shutting_down)) post_request(c->inst);
  bool is_echo = grpc_slice_str_cmp(c->details.method, METHOD) == 0;
  c->code = is_echo ? decide(rng, &c->admitted) : GRPC_STATUS_UNIMPLEMENTED;
  atomic_fetch_add(&g_arrivals, 1);
  atomic_fetch_add(&g_arrivals_s[second_index(t)], 1);
  if (g_log) {
    const grpc_slice *id = NULL;
    for (size_t i = 0; i < c->md.count; i++)
      if (grpc_slice_str_cmp(c->md.metadata[i].key, "x-call-id") == 0)
        id = &c->md.metadata[i].value;
    int id_len = id ? (int)GRPC_SLICE_LENGTH(*id) : 1;
    const char *id_str = id ? (const char *)GRPC_SLICE_START_PTR(*id) : "-";
    pthread_mutex_lock(&g_log_mu);
    fprintf(g_log, "%.3f %.3f %s %.*s\n", t, t - g_start_ms, code_name(c->code),
            id_len, id_str);
    pthread_mutex_unlock(&g_log_mu);
  }
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv;
  c->ph = PH_READ;
  if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
    if (c->admitted) atomic_fetch_sub(&g_inflight, 1);
    atomic_fetch_add(&g_cancelled, 1);
    free_ctx(c);
  }
}

static void on_done(call_ctx *c, bool ok) {
  if (c->admitted) atomic_fetch_sub(&g_inflight, 1);
  int s = second_index(now_ms());
  if (!ok || c->cancelled) {
    atomic_fetch_add(&g_cancelled, 1); /* the client gave up, or shutdown */
    atomic_fetch_add(&g_failed_s[s], 1);
  } else if (c->code == GRPC_STATUS_OK) {
    atomic_fetch_add(&g_ok, 1);
    atomic_fetch_add(&g_ok_s[s], 1);
    atomic_fetch_add(&g_by_code[0], 1);
  } else {
    atomic_fetch_add(&g_failed, 1);
    atomic_fetch_add(&g_failed_s[s], 1);
    atomic_fetch_add(&g_by_code[c->code], 1);
  }
  free_ctx(c);
}

static void handle(call_ctx *c, bool ok, uint64_t *rng) {
  switch (c->ph) {
    case PH_REQUEST:
      if (!ok) { /* the server is shutting down: the request is void */
        free_ctx(c);
        return;
      }
      on_arrival(c, rng);
      return;
    case PH_READ:
      if (!ok) {
        on_done(c, false);
        return;
      }
      if (c->code == GRPC_STATUS_OK && opt.latency_ms > 0) {
        c->due_ms = now_ms() + opt.latency_ms;
        timer_push(c);
      } else {
        send_answer(c);
      }
      return;
    case PH_DONE:
      on_done(c, ok);
      return;
  }
}

static void post_request(instance *in) {
  call_ctx *c = calloc(1, sizeof(*c));
  if (c == NULL) return;
  c->ph = PH_REQUEST;
  c->inst = in;
  pthread_mutex_lock(&in->mu);
  in->live++;
  pthread_mutex_unlock(&in->mu);
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  if (grpc_server_request_call(in->server, &c->call, &c->details, &c->md,
                               in->cq, in->cq, c) != GRPC_CALL_OK) {
    free_ctx(c);
  }
}

typedef struct {
  instance *in;
  uint64_t rng;
} worker_arg;

static void *worker_main(void *arg) {
  worker_arg w = *(worker_arg *)arg;
  free(arg);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        w.in->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    if (ev.tag == &w.in->shutdown_tag) {
      pthread_mutex_lock(&w.in->mu);
      w.in->shutdown_seen = true;
      pthread_cond_broadcast(&w.in->cv);
      pthread_mutex_unlock(&w.in->mu);
      continue;
    }
    handle((call_ctx *)ev.tag, ev.success != 0, &w.rng);
  }
  return NULL;
}

/* Binds 127.0.0.1:port (0 = any) and starts serving. Returns NULL if the
 * port cannot be bound within about two seconds. */
static instance *instance_start(int port, int *bound_port) {
  static unsigned generation;
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  grpc_arg args[1];
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_ALLOW_REUSEPORT; /* a stale listener must not share it */
  args[0].value.integer = 0;
  grpc_channel_args ch_args = {1, args};
  instance *in = calloc(1, sizeof(*in));
  if (in == NULL) return NULL;
  pthread_mutex_init(&in->mu, NULL);
  pthread_cond_init(&in->cv, NULL);
  for (int attempt = 0; attempt < 40; attempt++) {
    in->cq = grpc_completion_queue_create_for_next(NULL);
    in->server = grpc_server_create(&ch_args, NULL);
    grpc_server_register_completion_queue(in->server, in->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    *bound_port = grpc_server_add_http2_port(in->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (*bound_port > 0) break;
    /* Never started: destroy needs no shutdown. */
    grpc_server_destroy(in->server);
    in->server = NULL;
    grpc_completion_queue_shutdown(in->cq);
    while (grpc_completion_queue_next(in->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(in->cq);
    usleep(50 * 1000);
  }
  if (in->server == NULL) {
    free(in);
    return NULL;
  }
  grpc_server_start(in->server);
  in->n_workers = opt.workers;
  generation++;
  for (int i = 0; i < in->n_workers; i++) {
    worker_arg *w = malloc(sizeof(*w));
    w->in = in;
    w->rng = opt.seed * 1000003u + generation * 101u + (uint64_t)i;
    pthread_create(&in->workers[i], NULL, worker_main, w);
  }
  for (int i = 0; i < REQUESTS_POSTED; i++) post_request(in);
  return in;
}

/* Really goes down: stops listening, cancels the calls in flight, closes
 * every connection and waits for the workers. The shutdown tag alone is not
 * enough: another worker may still be handling an arrival, or the timer
 * thread holding an answer, and a batch started on a shut-down queue
 * aborts the process. */
static void instance_stop(instance *in) {
  atomic_store(&in->shutting_down, true);
  grpc_server_shutdown_and_notify(in->server, in->cq, &in->shutdown_tag);
  grpc_server_cancel_all_calls(in->server);
  pthread_mutex_lock(&in->mu);
  while (!in->shutdown_seen || in->live > 0) pthread_cond_wait(&in->cv, &in->mu);
  pthread_mutex_unlock(&in->mu);
  grpc_server_destroy(in->server);
  grpc_completion_queue_shutdown(in->cq);
  for (int i = 0; i < in->n_workers; i++) pthread_join(in->workers[i], NULL);
  grpc_completion_queue_destroy(in->cq);
  pthread_mutex_destroy(&in->mu);
  pthread_cond_destroy(&in->cv);
  free(in);
}

/* ---- options ------------------------------------------------------------ */

static const char kUsage[] =
    "usage: " PROG " [--port N] [--mode healthy|fail|outage|capacity]\n"
    "                    [--fail-rate P] [--seed N] [--outage A:B[,A:B...]]\n"
    "                    [--outage-kind refuse|unavailable] [--capacity K]\n"
    "                    [--latency-ms N] [--duration S] [--threads N] [--log FILE]\n"
    "\n"
    "Serves " METHOD " (echoes the request) on 127.0.0.1.\n"
    "  --port N         port (0: any free one; default 0)\n"
    "  --mode M         healthy (default); fail: --fail-rate defaults to 0.5;\n"
    "                   outage: --outage defaults to 5:12; capacity:\n"
    "                   --capacity defaults to 10. The flags combine freely.\n"
    "  --fail-rate P    UNAVAILABLE with probability P (0..1)\n"
    "  --seed N         seed of the failure draws (default 1)\n"
    "  --outage A:B,..  down from A to B seconds after start (refused\n"
    "                   connections), back up on the same port at B\n"
    "  --outage-kind K  refuse (default): really down; unavailable: up, but\n"
    "                   every call fails UNAVAILABLE during the windows\n"
    "  --capacity K     RESOURCE_EXHAUSTED above K calls in flight\n"
    "  --latency-ms N   answer successful calls after N ms\n"
    "  --duration S     stop after S seconds (default: at SIGINT/SIGTERM)\n"
    "  --threads N      completion-queue worker threads (default 2)\n"
    "  --log FILE       one line per arrival: mono_ms rel_ms answer x-call-id\n";

static int usage(const char *msg, const char *arg) {
  return cli_usage(PROG, kUsage, msg, arg);
}


static bool parse_outages(const char *s) {
  char *copy = strdup(s), *save = NULL;
  bool ok = copy != NULL;
  opt.n_outages = 0;
  for (char *tok = ok ? strtok_r(copy, ",", &save) : NULL; tok && ok;
       tok = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(tok, ':');
    if (colon == NULL || opt.n_outages == MAX_OUTAGES) {
      ok = false;
      break;
    }
    *colon = '\0';
    outage *o = &opt.outages[opt.n_outages];
    memset(o, 0, sizeof(*o));
    ok = cli_parse_number(tok, 0, 1e6, &o->start_s) &&
         cli_parse_number(colon + 1, 0, 1e6, &o->end_s) && o->end_s > o->start_s &&
         (opt.n_outages == 0 || o->start_s >= opt.outages[opt.n_outages - 1].end_s);
    opt.n_outages++;
  }
  free(copy);
  return ok && opt.n_outages > 0;
}

static int parse_args(int argc, char **argv) {
  enum { O_PORT = 1, O_MODE, O_FAIL, O_SEED, O_OUTAGE, O_KIND, O_CAP, O_LAT,
         O_DUR, O_THREADS, O_LOG, O_HELP };
  static const struct option longs[] = {
      {"port", required_argument, 0, O_PORT},
      {"mode", required_argument, 0, O_MODE},
      {"fail-rate", required_argument, 0, O_FAIL},
      {"seed", required_argument, 0, O_SEED},
      {"outage", required_argument, 0, O_OUTAGE},
      {"outage-kind", required_argument, 0, O_KIND},
      {"capacity", required_argument, 0, O_CAP},
      {"latency-ms", required_argument, 0, O_LAT},
      {"duration", required_argument, 0, O_DUR},
      {"threads", required_argument, 0, O_THREADS},
      {"log", required_argument, 0, O_LOG},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  bool fail_set = false, outage_set = false, cap_set = false;
  int c;
  double v;
  while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    switch (c) {
      case O_PORT:
        if (!cli_parse_number(optarg, 0, 65535, &v)) return usage("bad --port '%s'", optarg);
        opt.port = (int)v;
        break;
      case O_MODE:
        if (strcmp(optarg, "healthy") == 0) opt.mode = MODE_HEALTHY;
        else if (strcmp(optarg, "fail") == 0) opt.mode = MODE_FAIL;
        else if (strcmp(optarg, "outage") == 0) opt.mode = MODE_OUTAGE;
        else if (strcmp(optarg, "capacity") == 0) opt.mode = MODE_CAPACITY;
        else return usage("bad --mode '%s'", optarg);
        break;
      case O_FAIL:
        if (!cli_parse_number(optarg, 0, 1, &opt.fail_rate))
          return usage("bad --fail-rate '%s' (0..1)", optarg);
        fail_set = true;
        break;
      case O_SEED:
        if (!cli_parse_number(optarg, 0, 1e18, &v)) return usage("bad --seed '%s'", optarg);
        opt.seed = (uint64_t)v;
        break;
      case O_OUTAGE:
        if (!parse_outages(optarg))
          return usage("bad --outage '%s' (START:END[,START:END...], seconds, "
                       "increasing)", optarg);
        outage_set = true;
        break;
      case O_KIND:
        if (strcmp(optarg, "refuse") == 0) opt.kind = KIND_REFUSE;
        else if (strcmp(optarg, "unavailable") == 0) opt.kind = KIND_UNAVAILABLE;
        else return usage("bad --outage-kind '%s'", optarg);
        break;
      case O_CAP:
        if (!cli_parse_number(optarg, 1, 1e6, &v)) return usage("bad --capacity '%s'", optarg);
        opt.capacity = (int)v;
        cap_set = true;
        break;
      case O_LAT:
        if (!cli_parse_number(optarg, 0, 600000, &v)) return usage("bad --latency-ms '%s'", optarg);
        opt.latency_ms = (int)v;
        break;
      case O_DUR:
        if (!cli_parse_number(optarg, 0.1, MAX_SECONDS - 1, &opt.duration_s))
          return usage("bad --duration '%s'", optarg);
        break;
      case O_THREADS:
        if (!cli_parse_number(optarg, 1, MAX_WORKERS, &v)) return usage("bad --threads '%s'", optarg);
        opt.workers = (int)v;
        break;
      case O_LOG:
        opt.log_path = optarg;
        break;
      case O_HELP:
      case 'h':
        usage(NULL, NULL);
        exit(0);
      default:
        return usage("unknown option", "");
    }
  }
  if (optind < argc) return usage("unexpected argument '%s'", argv[optind]);
  if (opt.mode == MODE_FAIL && !fail_set) opt.fail_rate = 0.5;
  if (opt.mode == MODE_OUTAGE && !outage_set) parse_outages("5:12");
  if (opt.mode == MODE_CAPACITY && !cap_set) opt.capacity = 10;
  return 0;
}

/* ---- reporting ---------------------------------------------------------- */

static void print_array(const char *key, atomic_uint *a, int n, bool comma) {
  printf("  \"%s\": [", key);
  for (int i = 0; i < n; i++) printf("%s%u", i ? ", " : "", atomic_load(&a[i]));
  printf("]%s\n", comma ? "," : "");
}

/* Largest per-second arrival count over the whole seconds that overlap
 * [from_s, to_s). */
static unsigned peak_between(double from_s, double to_s, int n_seconds) {
  unsigned peak = 0;
  for (int i = (int)floor(from_s); i < (int)ceil(to_s) && i < n_seconds; i++) {
    unsigned v = atomic_load(&g_arrivals_s[i]);
    if (v > peak) peak = v;
  }
  return peak;
}

static void print_summary(double end_ms) {
  int n = second_index(end_ms) + 1;
  if ((end_ms - g_start_ms) / 1e3 == (double)(n - 1)) n--;
  static const char *modes[] = {"healthy", "fail", "outage", "capacity"};
  printf("{\n  \"port\": %d,\n  \"mode\": \"%s\",\n", opt.port, modes[opt.mode]);
  printf("  \"outage_kind\": \"%s\",\n",
         opt.kind == KIND_REFUSE ? "refuse" : "unavailable");
  printf("  \"fail_rate\": %g,\n  \"capacity\": %d,\n  \"latency_ms\": %d,\n",
         opt.fail_rate, opt.capacity, opt.latency_ms);
  printf("  \"start_mono_ms\": %.3f,\n  \"duration_s\": %.3f,\n", g_start_ms,
         (end_ms - g_start_ms) / 1e3);
  printf("  \"arrivals\": %llu,\n  \"ok\": %llu,\n  \"failed\": %llu,\n"
         "  \"cancelled\": %llu,\n",
         atomic_load(&g_arrivals), atomic_load(&g_ok), atomic_load(&g_failed),
         atomic_load(&g_cancelled));
  printf("  \"failed_by_code\": {");
  bool first = true;
  for (int i = 1; i <= 16; i++) {
    unsigned long long v = atomic_load(&g_by_code[i]);
    if (v == 0) continue;
    printf("%s\"%s\": %llu", first ? "" : ", ", code_name(i), v);
    first = false;
  }
  printf("},\n");
  print_array("arrivals_per_second", g_arrivals_s, n, true);
  print_array("ok_per_second", g_ok_s, n, true);
  print_array("failed_per_second", g_failed_s, n, true);
  unsigned peak_all = 0;
  printf("  \"outages\": [");
  for (int i = 0; i < opt.n_outages; i++) {
    const outage *o = &opt.outages[i];
    unsigned peak = peak_between(o->start_s, o->end_s, n);
    if (peak > peak_all) peak_all = peak;
    printf("%s\n    {\"start_s\": %g, \"end_s\": %g, \"down_mono_ms\": %.3f, "
           "\"up_mono_ms\": %.3f, \"peak_arrivals_per_s\": %u}",
           i ? "," : "", o->start_s, o->end_s, o->down_ms, o->up_ms, peak);
  }
  printf("%s],\n", opt.n_outages ? "\n  " : "");
  printf("  \"peak_arrivals_per_s_during_outages\": %u,\n", peak_all);
  printf("  \"peak_arrivals_per_s\": %u\n}\n", peak_between(0, n, n));
  fflush(stdout);
}

/* ---- main: the schedule ------------------------------------------------- */

int main(int argc, char **argv) {
  int rc = parse_args(argc, argv);
  if (rc != 0) return rc;
  if (opt.log_path) {
    g_log = fopen(opt.log_path, "w");
    if (g_log == NULL) {
      fprintf(stderr, PROG ": cannot open %s: %s\n", opt.log_path, strerror(errno));
      return 1;
    }
  }
  g_arrivals_s = calloc(MAX_SECONDS, sizeof(atomic_uint));
  g_ok_s = calloc(MAX_SECONDS, sizeof(atomic_uint));
  g_failed_s = calloc(MAX_SECONDS, sizeof(atomic_uint));
  if (!g_arrivals_s || !g_ok_s || !g_failed_s) return 1;

  /* Signals are taken synchronously by the main thread only. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  grpc_init();
  pthread_t timer;
  pthread_create(&timer, NULL, timer_main, NULL);

  g_start_ms = now_ms();
  int bound = 0;
  instance *in = instance_start(opt.port, &bound);
  if (in == NULL) {
    fprintf(stderr, PROG ": cannot listen on 127.0.0.1:%d\n", opt.port);
    return 1;
  }
  opt.port = bound;
  printf("listening on 127.0.0.1:%d\n", bound);
  fflush(stdout);

  int next_tick = 1; /* next per-second report, seconds since start */
  unsigned long long last_ok = 0, last_failed = 0;
  double end_ms = 0;
  for (;;) {
    double now = now_ms(), t = (now - g_start_ms) / 1e3;
    /* Report the seconds that have ended, in the state they ended in. */
    while (t >= next_tick) {
      unsigned long long ok = atomic_load(&g_ok);
      unsigned long long failed = atomic_load(&g_failed) + atomic_load(&g_cancelled);
      fprintf(stderr, "t=%ds arrivals=%u ok=%llu failed=%llu%s\n", next_tick - 1,
              atomic_load(&g_arrivals_s[next_tick - 1]), ok - last_ok,
              failed - last_failed,
              (opt.kind == KIND_REFUSE ? in == NULL : atomic_load(&g_unavailable))
                  ? " [down]" : "");
      last_ok = ok;
      last_failed = failed;
      next_tick++;
      if (g_log) {
        pthread_mutex_lock(&g_log_mu);
        fflush(g_log);
        pthread_mutex_unlock(&g_log_mu);
      }
    }
    /* Where the schedule says we should be. */
    int want = -1; /* index of the outage window we are in */
    for (int i = 0; i < opt.n_outages; i++)
      if (t >= opt.outages[i].start_s && t < opt.outages[i].end_s) want = i;
    bool is_down = opt.kind == KIND_REFUSE ? in == NULL
                                           : atomic_load(&g_unavailable);
    if (want >= 0 && !is_down) {
      opt.outages[want].down_ms = now_ms();
      if (opt.kind == KIND_REFUSE) {
        instance_stop(in);
        in = NULL;
      } else {
        atomic_store(&g_unavailable, true);
      }
      fprintf(stderr, "t=%.1fs server DOWN (%s)\n", t,
              opt.kind == KIND_REFUSE ? "port closed, connections refused"
                                      : "answering UNAVAILABLE");
    } else if (want < 0 && is_down) {
      if (opt.kind == KIND_REFUSE) {
        in = instance_start(opt.port, &bound);
        if (in == NULL) {
          fprintf(stderr, PROG ": cannot listen on 127.0.0.1:%d again\n", opt.port);
          return 1;
        }
      } else {
        atomic_store(&g_unavailable, false);
      }
      for (int i = 0; i < opt.n_outages; i++)
        if (opt.outages[i].down_ms > 0 && opt.outages[i].up_ms == 0)
          opt.outages[i].up_ms = now_ms();
      fprintf(stderr, "t=%.1fs server UP again on 127.0.0.1:%d\n", t, opt.port);
    }
    now = now_ms();
    t = (now - g_start_ms) / 1e3;
    if (opt.duration_s > 0 && t >= opt.duration_s) {
      end_ms = now;
      break;
    }
    /* Sleep until the next tick, window edge or end, or a signal. */
    double next = next_tick;
    for (int i = 0; i < opt.n_outages; i++) {
      if (opt.outages[i].start_s > t && opt.outages[i].start_s < next) next = opt.outages[i].start_s;
      if (opt.outages[i].end_s > t && opt.outages[i].end_s < next) next = opt.outages[i].end_s;
    }
    if (opt.duration_s > 0 && opt.duration_s < next) next = opt.duration_s;
    double wait_ms = (next - t) * 1e3;
    if (wait_ms < 1) wait_ms = 1;
    struct timespec ts = {(time_t)(wait_ms / 1e3), (long)(fmod(wait_ms, 1e3) * 1e6)};
    int sig = sigtimedwait(&stop, NULL, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      end_ms = now_ms();
      break;
    }
  }

  if (in != NULL) instance_stop(in);
  pthread_mutex_lock(&g_timers.mu);
  g_timers.stop = true;
  pthread_cond_signal(&g_timers.cv);
  pthread_mutex_unlock(&g_timers.mu);
  pthread_join(timer, NULL);
  if (g_log) fclose(g_log);
  print_summary(end_ms);
  grpc_shutdown();
  return 0;
}
