/* load_client: drives a steady, open-loop load of unary calls
 * ("/echo.Echo/Say") at a target and reports what the callers saw.
 *
 * Open loop on purpose: each thread starts its calls on a fixed schedule
 * (rate / threads per second) whether or not earlier calls have finished,
 * through its own completion queue, the way independent users keep arriving
 * at a service while it is down. A closed loop (a thread waits for each
 * call) would slow down by itself during an outage and hide the storm.
 *
 * With --plugin on, grpcr_register() runs before grpc_init(): that single
 * call is all an application adds to get grpc-resilience; the behaviour
 * comes from the service config (--config).
 *
 * Output: a JSON summary on stdout at the end (calls, status counts, latency
 * percentiles overall, for failed calls and for calls the circuit breaker
 * failed fast, and a per-second timeline of the calls started in each
 * second by final status). --log FILE gets one line per call:
 * "<start CLOCK_MONOTONIC ms> <end ms> <status code> <B if the breaker
 * rejected it, else -> <x-call-id>"; every call sends a unique x-call-id
 * header, which flaky_server logs per arrival. --stats-port serves grpcr.v1.ResilienceStats so
 * that grpcr-stats can watch the channels live. */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
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
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "grpcr/grpcr.h"
#include "cli_util.h"

#define PROG "load_client"
#define METHOD "/echo.Echo/Say"
#define BREAKER_PREFIX "circuit breaker open"
#define MAX_THREADS 64
#define MAX_CHANNELS 64

static struct {
  const char *target;
  int threads;
  double rate;
  double duration_s;
  int deadline_ms;
  const char *config_path;
  bool plugin;
  int stats_port; /* -1: none */
  const char *name;
  int channels;
  int payload;
  const char *log_path;
  int linger_ms;
  int max_reconnect_backoff_ms; /* 0: gRPC's default */
  bool progress;
} opt = {.threads = 4, .rate = 100, .duration_s = 10, .deadline_ms = 1000,
         .plugin = true, .stats_port = -1, .channels = 1, .payload = 16};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *code_name(int code) {
  static const char *names[17] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
      "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "UNKNOWN";
}

/* What one finished call left behind. */
typedef struct {
  double start_ms, end_ms;
  int code;
  bool breaker; /* failed fast by the circuit breaker */
  char id[40];  /* the x-call-id it sent */
} record;

typedef struct {
  record *items;
  size_t n, cap;
} records;

static bool records_push(records *r, record rec) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 1024;
    record *p = realloc(r->items, cap * sizeof(*p));
    if (p == NULL) return false;
    r->items = p;
    r->cap = cap;
  }
  r->items[r->n++] = rec;
  return true;
}

/* One call in flight: everything its single batch points at. */
typedef struct {
  grpc_call *call;
  grpc_metadata call_id;
  char call_id_buf[40];
  grpc_byte_buffer *request, *response;
  grpc_metadata_array initial_md, trailing_md;
  grpc_status_code status;
  grpc_slice details;
  double start_ms;
} call_state;

typedef struct {
  int index;
  grpc_channel *channel;
  grpc_completion_queue *cq;
  double t0_ms, end_ms;
  records recs;
  long in_flight;
  long start_failures;
  unsigned long seq;
} worker;

static grpc_slice g_payload;
static grpc_slice g_method;
static double g_t0_ms;

/* For --progress: calls finished per second since t0, by outcome. */
#define PROGRESS_SECONDS 3600
enum { P_OK, P_FAILED, P_FAST, P_N };
static atomic_uint g_progress[PROGRESS_SECONDS][P_N];

static void start_call(worker *w) {
  call_state *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    w->start_failures++;
    return;
  }
  c->start_ms = now_ms();
  gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_millis(opt.deadline_ms, GPR_TIMESPAN));
  c->call = grpc_channel_create_call(w->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                     w->cq, g_method, NULL, deadline, NULL);
  c->request = grpc_raw_byte_buffer_create(&g_payload, 1);
  grpc_metadata_array_init(&c->initial_md);
  grpc_metadata_array_init(&c->trailing_md);
  /* All six ops in one batch: the shape of a unary call, which is what the
   * resilience filter retries. */
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  /* x-call-id lets the server tell a retry (same id again) from a new
   * call; every retry layer replays the initial metadata. */
  int id_len = snprintf(c->call_id_buf, sizeof(c->call_id_buf), "%d-%lu",
                        w->index, w->seq++);
  c->call_id.key = grpc_slice_from_static_string("x-call-id");
  c->call_id.value = grpc_slice_from_copied_buffer(c->call_id_buf, (size_t)id_len);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = 1;
  ops[0].data.send_initial_metadata.metadata = &c->call_id;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = c->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &c->response;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  ops[5].data.recv_status_on_client.status = &c->status;
  ops[5].data.recv_status_on_client.status_details = &c->details;
  if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK) {
    w->start_failures++;
    grpc_slice_unref(c->call_id.value);
    grpc_call_unref(c->call);
    grpc_byte_buffer_destroy(c->request);
    grpc_metadata_array_destroy(&c->initial_md);
    grpc_metadata_array_destroy(&c->trailing_md);
    free(c);
    return;
  }
  w->in_flight++;
}

static void finish_call(worker *w, call_state *c) {
  record rec = {c->start_ms, now_ms(), (int)c->status, false, {0}};
  memcpy(rec.id, c->call_id_buf, sizeof(rec.id));
  size_t plen = strlen(BREAKER_PREFIX);
  rec.breaker = c->status == GRPC_STATUS_UNAVAILABLE &&
                GRPC_SLICE_LENGTH(c->details) >= plen &&
                memcmp(GRPC_SLICE_START_PTR(c->details), BREAKER_PREFIX, plen) == 0;
  records_push(&w->recs, rec);
  w->in_flight--;
  int s = (int)((rec.end_ms - g_t0_ms) / 1e3);
  if (s >= 0 && s < PROGRESS_SECONDS)
    atomic_fetch_add(&g_progress[s][rec.code == 0 ? P_OK : rec.breaker ? P_FAST : P_FAILED], 1);
  grpc_slice_unref(c->details);
  grpc_slice_unref(c->call_id.value);
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  grpc_byte_buffer_destroy(c->request);
  if (c->response) grpc_byte_buffer_destroy(c->response);
  grpc_call_unref(c->call);
  free(c);
}

static gpr_timespec mono_ms_to_timespec(double ms) {
  double delta = ms - now_ms();
  if (delta < 0) delta = 0;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_micros((int64_t)(delta * 1e3), GPR_TIMESPAN));
}

static void *worker_main(void *arg) {
  worker *w = arg;
  /* Spread the threads' schedules evenly over one interval. */
  double interval_ms = 1e3 * opt.threads / opt.rate;
  double offset_ms = interval_ms * w->index / opt.threads;
  long k = 0;
  double next = w->t0_ms + offset_ms;
  double give_up = w->end_ms + opt.deadline_ms + 10000.0; /* safety net */
  for (;;) {
    double now = now_ms();
    while (next <= now && next < w->end_ms) {
      start_call(w);
      k++;
      next = w->t0_ms + offset_ms + (double)k * interval_ms;
    }
    if (next >= w->end_ms && w->in_flight == 0) break;
    if (now > give_up) {
      fprintf(stderr, PROG ": %ld calls still unfinished; giving up\n", w->in_flight);
      break;
    }
    double wake = next < w->end_ms ? next : now + 200.0;
    grpc_event ev = grpc_completion_queue_next(w->cq, mono_ms_to_timespec(wake), NULL);
    if (ev.type == GRPC_OP_COMPLETE) finish_call(w, (call_state *)ev.tag);
  }
  return NULL;
}

/* ---- summary ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of a sorted array; 0 when empty. */
static double quantile(const double *v, size_t n, double q) {
  if (n == 0) return 0;
  size_t i = (size_t)ceil(q * (double)n);
  if (i < 1) i = 1;
  return v[i - 1];
}

static void print_latency(const char *key, double *v, size_t n, bool comma) {
  qsort(v, n, sizeof(*v), cmp_double);
  printf("  \"%s\": {\"count\": %zu, \"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}%s\n",
         key, n, quantile(v, n, 0.5), quantile(v, n, 0.99), n ? v[n - 1] : 0.0,
         comma ? "," : "");
}

static void print_summary(worker *ws, double t0_ms, double end_ms, int stats_port) {
  size_t total = 0;
  for (int i = 0; i < opt.threads; i++) total += ws[i].recs.n;
  record *all = malloc((total ? total : 1) * sizeof(*all));
  double *lat = malloc((total ? total : 1) * sizeof(double));
  double *lat_failed = malloc((total ? total : 1) * sizeof(double));
  double *lat_fast = malloc((total ? total : 1) * sizeof(double));
  if (!all || !lat || !lat_failed || !lat_fast) {
    fprintf(stderr, PROG ": out of memory\n");
    exit(1);
  }
  size_t n = 0, nf = 0, nb = 0;
  unsigned long long by_code[17] = {0};
  long start_failures = 0;
  for (int i = 0; i < opt.threads; i++) {
    memcpy(all + n, ws[i].recs.items, ws[i].recs.n * sizeof(*all));
    n += ws[i].recs.n;
    start_failures += ws[i].start_failures;
  }
  int seconds = (int)ceil(opt.duration_s);
  unsigned (*timeline)[17] = calloc((size_t)seconds + 1, sizeof(*timeline));
  if (timeline == NULL) exit(1);
  for (size_t i = 0; i < n; i++) {
    const record *r = &all[i];
    int code = r->code >= 0 && r->code <= 16 ? r->code : 2;
    double ms = r->end_ms - r->start_ms;
    by_code[code]++;
    lat[i] = ms;
    if (code != GRPC_STATUS_OK) lat_failed[nf++] = ms;
    if (r->breaker) lat_fast[nb++] = ms;
    int s = (int)((r->start_ms - t0_ms) / 1e3);
    if (s < 0) s = 0;
    if (s > seconds) s = seconds;
    timeline[s][code]++;
  }
  printf("{\n  \"target\": \"%s\",\n  \"plugin\": %s,\n", opt.target,
         opt.plugin ? "true" : "false");
  printf("  \"config\": \"%s\",\n", opt.config_path ? opt.config_path : "");
  printf("  \"threads\": %d,\n  \"channels\": %d,\n  \"rate\": %g,\n", opt.threads,
         opt.channels, opt.rate);
  printf("  \"duration_s\": %g,\n  \"deadline_ms\": %d,\n", opt.duration_s,
         opt.deadline_ms);
  printf("  \"stats_port\": %d,\n", stats_port);
  printf("  \"start_mono_ms\": %.3f,\n  \"end_mono_ms\": %.3f,\n", t0_ms, end_ms);
  printf("  \"calls\": %zu,\n  \"calls_not_started\": %ld,\n", n, start_failures);
  printf("  \"status_counts\": {");
  bool first = true;
  for (int c = 0; c <= 16; c++) {
    if (by_code[c] == 0) continue;
    printf("%s\"%s\": %llu", first ? "" : ", ", code_name(c), by_code[c]);
    first = false;
  }
  printf("},\n  \"breaker_rejected\": %zu,\n", nb);
  print_latency("latency_ms", lat, n, true);
  print_latency("failed_latency_ms", lat_failed, nf, true);
  print_latency("breaker_rejected_latency_ms", lat_fast, nb, true);
  printf("  \"timeline\": [");
  for (int s = 0; s <= seconds; s++) {
    unsigned sum = 0;
    for (int c = 0; c <= 16; c++) sum += timeline[s][c];
    if (s == seconds && sum == 0) break;
    printf("%s\n    {\"t\": %d, \"calls\": %u", s ? "," : "", s, sum);
    for (int c = 0; c <= 16; c++)
      if (timeline[s][c]) printf(", \"%s\": %u", code_name(c), timeline[s][c]);
    printf("}");
  }
  printf("\n  ]\n}\n");
  fflush(stdout);
  if (opt.log_path) {
    FILE *f = fopen(opt.log_path, "w");
    if (f == NULL) {
      fprintf(stderr, PROG ": cannot write %s: %s\n", opt.log_path, strerror(errno));
    } else {
      for (size_t i = 0; i < n; i++)
        fprintf(f, "%.3f %.3f %d %s %s\n", all[i].start_ms, all[i].end_ms, all[i].code,
                all[i].breaker ? "B" : "-", all[i].id);
      fclose(f);
    }
  }
  free(timeline);
  free(all);
  free(lat);
  free(lat_failed);
  free(lat_fast);
}

/* ---- options ----------------------------------------------------------- */

static const char kUsage[] =
    "usage: " PROG " --target ADDR [--threads T] [--rate R] [--duration S]\n"
    "                   [--deadline-ms D] [--config FILE] [--plugin on|off]\n"
    "                   [--stats-port N] [--name NAME] [--channels N]\n"
    "                   [--payload BYTES] [--log FILE] [--linger-ms N]\n"
    "                   [--max-reconnect-backoff-ms N] [--progress]\n"
    "\n"
    "Calls " METHOD " on ADDR at R calls/s in total (open loop) from T threads\n"
    "for S seconds, each call with a deadline of D ms.\n"
    "  --threads T      threads, each with its own completion queue (default 4)\n"
    "  --rate R         calls per second, all threads together (default 100)\n"
    "  --duration S     seconds of load (default 10)\n"
    "  --deadline-ms D  deadline of every call (default 1000)\n"
    "  --config FILE    service config JSON for the channels (retryPolicy or\n"
    "                   resilience blocks)\n"
    "  --plugin on|off  call grpcr_register() before grpc_init() (default on)\n"
    "  --stats-port N   serve grpcr.v1.ResilienceStats on 127.0.0.1:N (0: any\n"
    "                   port); prints \"stats on 127.0.0.1:PORT\" to stderr\n"
    "  --name NAME      the channels' name in stats (grpc.resilience.name;\n"
    "                   NAME#0, NAME#1... with several channels)\n"
    "  --channels N     channels, shared round-robin by the threads (default 1)\n"
    "  --payload BYTES  request size (default 16)\n"
    "  --log FILE       one line per call: start_ms end_ms code B|- call-id\n"
    "  --linger-ms N    after the summary, keep serving stats N ms (or until\n"
    "                   SIGINT/SIGTERM), so a last grpcr-stats can read them\n"
    "  --max-reconnect-backoff-ms N  cap gRPC's reconnect backoff (channel arg)\n"
    "  --progress       one line per second on stderr: calls finished in that\n"
    "                   second, ok / failed / failed fast by the breaker\n";

static int usage(const char *msg, const char *arg) {
  return cli_usage(PROG, kUsage, msg, arg);
}


static int parse_args(int argc, char **argv) {
  enum { O_TARGET = 1, O_THREADS, O_RATE, O_DUR, O_DEADLINE, O_CONFIG, O_PLUGIN,
         O_STATS, O_NAME, O_CHANNELS, O_PAYLOAD, O_LOG, O_LINGER, O_RECONNECT,
         O_PROGRESS, O_HELP };
  static const struct option longs[] = {
      {"target", required_argument, 0, O_TARGET},
      {"threads", required_argument, 0, O_THREADS},
      {"rate", required_argument, 0, O_RATE},
      {"duration", required_argument, 0, O_DUR},
      {"deadline-ms", required_argument, 0, O_DEADLINE},
      {"config", required_argument, 0, O_CONFIG},
      {"plugin", required_argument, 0, O_PLUGIN},
      {"stats-port", required_argument, 0, O_STATS},
      {"name", required_argument, 0, O_NAME},
      {"channels", required_argument, 0, O_CHANNELS},
      {"payload", required_argument, 0, O_PAYLOAD},
      {"log", required_argument, 0, O_LOG},
      {"linger-ms", required_argument, 0, O_LINGER},
      {"max-reconnect-backoff-ms", required_argument, 0, O_RECONNECT},
      {"progress", no_argument, 0, O_PROGRESS},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  int c;
  double v;
  while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    switch (c) {
      case O_TARGET: opt.target = optarg; break;
      case O_THREADS:
        if (!cli_parse_number(optarg, 1, MAX_THREADS, &v)) return usage("bad --threads '%s'", optarg);
        opt.threads = (int)v;
        break;
      case O_RATE:
        if (!cli_parse_number(optarg, 0.1, 100000, &opt.rate)) return usage("bad --rate '%s'", optarg);
        break;
      case O_DUR:
        if (!cli_parse_number(optarg, 0.1, 86400, &opt.duration_s))
          return usage("bad --duration '%s'", optarg);
        break;
      case O_DEADLINE:
        if (!cli_parse_number(optarg, 1, 3600000, &v)) return usage("bad --deadline-ms '%s'", optarg);
        opt.deadline_ms = (int)v;
        break;
      case O_CONFIG: opt.config_path = optarg; break;
      case O_PLUGIN:
        if (strcmp(optarg, "on") == 0) opt.plugin = true;
        else if (strcmp(optarg, "off") == 0) opt.plugin = false;
        else return usage("bad --plugin '%s' (on|off)", optarg);
        break;
      case O_STATS:
        if (!cli_parse_number(optarg, 0, 65535, &v)) return usage("bad --stats-port '%s'", optarg);
        opt.stats_port = (int)v;
        break;
      case O_NAME: opt.name = optarg; break;
      case O_CHANNELS:
        if (!cli_parse_number(optarg, 1, MAX_CHANNELS, &v)) return usage("bad --channels '%s'", optarg);
        opt.channels = (int)v;
        break;
      case O_PAYLOAD:
        if (!cli_parse_number(optarg, 0, 4 << 20, &v)) return usage("bad --payload '%s'", optarg);
        opt.payload = (int)v;
        break;
      case O_LOG: opt.log_path = optarg; break;
      case O_LINGER:
        if (!cli_parse_number(optarg, 0, 3600000, &v)) return usage("bad --linger-ms '%s'", optarg);
        opt.linger_ms = (int)v;
        break;
      case O_RECONNECT:
        if (!cli_parse_number(optarg, 1, 3600000, &v))
          return usage("bad --max-reconnect-backoff-ms '%s'", optarg);
        opt.max_reconnect_backoff_ms = (int)v;
        break;
      case O_PROGRESS: opt.progress = true; break;
      case O_HELP:
      case 'h':
        usage(NULL, NULL);
        exit(0);
      default:
        return usage("unknown option", "");
    }
  }
  if (optind < argc) return usage("unexpected argument '%s'", argv[optind]);
  if (opt.target == NULL) return usage("%s is required", "--target");
  return 0;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) {
      char *p = realloc(buf, cap * 2);
      if (p == NULL) free(buf);
      buf = p;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

int main(int argc, char **argv) {
  int rc = parse_args(argc, argv);
  if (rc != 0) return rc;

  char *config = NULL;
  if (opt.config_path) {
    config = read_file(opt.config_path);
    if (config == NULL) {
      fprintf(stderr, PROG ": cannot read %s: %s\n", opt.config_path, strerror(errno));
      return 1;
    }
    /* Channel creation only logs a bad config and then fails every call;
     * say exactly what is wrong instead. */
    char *errors = NULL;
    if (opt.plugin && grpcr_validate_service_config(config, &errors) != 0) {
      fprintf(stderr, PROG ": invalid service config %s:\n%s\n", opt.config_path,
              errors ? errors : "");
      grpcr_free(errors);
      return 2;
    }
  }

  /* The one line an application adds: before grpc_init(), before any
   * channel exists. */
  if (opt.plugin) {
    int err = grpcr_register();
    if (err != 0) {
      fprintf(stderr, PROG ": grpcr_register: %s\n", grpcr_strerror(err));
      return 1;
    }
  }
  grpc_init();

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  int stats_port = -1;
  if (opt.stats_port >= 0) {
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", opt.stats_port);
    int err = grpcr_stats_server_start(addr, &stats_port);
    if (err != 0) {
      fprintf(stderr, PROG ": stats server on %s: %s\n", addr, grpcr_strerror(err));
      return 1;
    }
    fprintf(stderr, "stats on 127.0.0.1:%d\n", stats_port);
  }

  grpc_arg args[4];
  size_t nargs = 0;
  if (config) {
    args[nargs].type = GRPC_ARG_STRING;
    args[nargs].key = GRPC_ARG_SERVICE_CONFIG;
    args[nargs].value.string = config;
    nargs++;
  }
  size_t name_arg = 0;
  if (opt.name) {
    name_arg = nargs;
    args[nargs].type = GRPC_ARG_STRING;
    args[nargs].key = GRPCR_ARG_NAME;
    args[nargs].value.string = (char *)opt.name;
    nargs++;
  }
  if (opt.max_reconnect_backoff_ms > 0) {
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[nargs].value.integer = opt.max_reconnect_backoff_ms;
    nargs++;
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[nargs].value.integer = opt.max_reconnect_backoff_ms < 1000
                                    ? opt.max_reconnect_backoff_ms : 1000;
    nargs++;
  }
  grpc_channel_args ch_args = {nargs, args};
  grpc_channel *channels[MAX_CHANNELS];
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  char name[256];
  for (int i = 0; i < opt.channels; i++) {
    /* Several channels with --name: "NAME#0", "NAME#1"... in the stats. */
    if (opt.name && opt.channels > 1) {
      snprintf(name, sizeof(name), "%s#%d", opt.name, i);
      args[name_arg].value.string = name; /* gRPC copies the args */
    }
    channels[i] = grpc_channel_create(opt.target, creds, &ch_args);
  }
  grpc_channel_credentials_release(creds);

  char *payload = malloc((size_t)opt.payload + 1);
  memset(payload, 'x', (size_t)opt.payload);
  g_payload = grpc_slice_from_copied_buffer(payload, (size_t)opt.payload);
  free(payload);
  g_method = grpc_slice_from_static_string(METHOD);

  /* Connect first, so the run measures calls, not the first handshake. */
  for (int i = 0; i < opt.channels; i++) {
    grpc_channel_check_connectivity_state(channels[i], 1);
  }
  usleep(200 * 1000);

  worker ws[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  double t0 = now_ms() + 20.0, end = t0 + opt.duration_s * 1e3;
  g_t0_ms = t0;
  for (int i = 0; i < opt.threads; i++) {
    memset(&ws[i], 0, sizeof(ws[i]));
    ws[i].index = i;
    ws[i].channel = channels[i % opt.channels];
    ws[i].cq = grpc_completion_queue_create_for_next(NULL);
    ws[i].t0_ms = t0;
    ws[i].end_ms = end;
    pthread_create(&th[i], NULL, worker_main, &ws[i]);
  }
  if (opt.progress) {
    for (int s = 1; s <= (int)ceil(opt.duration_s) && s < PROGRESS_SECONDS; s++) {
      double wake = t0 + s * 1e3 + 50.0;
      while (now_ms() < wake) usleep(20000);
      fprintf(stderr, "t=%ds client finished: ok=%u failed=%u failed_fast_by_breaker=%u\n",
              s - 1, atomic_load(&g_progress[s - 1][P_OK]),
              atomic_load(&g_progress[s - 1][P_FAILED]),
              atomic_load(&g_progress[s - 1][P_FAST]));
    }
  }
  for (int i = 0; i < opt.threads; i++) pthread_join(th[i], NULL);
  double finished = now_ms();
  print_summary(ws, t0, finished, stats_port);

  if (opt.linger_ms > 0 && stats_port > 0) {
    struct timespec ts = {opt.linger_ms / 1000, (long)(opt.linger_ms % 1000) * 1000000L};
    sigtimedwait(&stop, NULL, &ts);
  }
  for (int i = 0; i < opt.threads; i++) {
    grpc_completion_queue_shutdown(ws[i].cq);
    while (grpc_completion_queue_next(ws[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(ws[i].cq);
    free(ws[i].recs.items);
  }
  for (int i = 0; i < opt.channels; i++) grpc_channel_destroy(channels[i]);
  if (stats_port > 0) grpcr_stats_server_stop();
  grpc_slice_unref(g_payload);
  free(config);
  grpc_shutdown();
  return 0;
}
