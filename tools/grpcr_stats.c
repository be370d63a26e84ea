/* grpcr-stats: asks a process for its grpcr.v1.ResilienceStats and prints
 * them as a table, JSON or Prometheus text, once or every few seconds.
 *
 * Exit codes: 0 printed (or --watch ended by SIGINT/SIGTERM), 1 a local
 * failure (out of memory, cannot write stdout), 2 no stats from the address
 * (unreachable, not serving the service, timeout, any non-OK status, an
 * undecodable answer), 64 usage error (as sysexits' EX_USAGE). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "grpcr/status.h"
#include "grpcr/v1/stats.pb-c.h"

#define PROG "grpcr-stats"
#define EXIT_LOCAL 1
#define EXIT_NO_STATS 2
#define EXIT_USAGE 64

typedef Grpcr__V1__GetStatsResponse Response;
typedef Grpcr__V1__ChannelStats Channel;

static const char kUsage[] =
    "usage: " PROG " [--table|--json|--prometheus] [--watch SECONDS]\n"
    "                   [--channel NAME] [--timeout-ms N] ADDR\n"
    "\n"
    "Asks ADDR (host:port or any gRPC target) for grpcr.v1.ResilienceStats\n"
    "over an insecure channel and prints every channel's retry, budget and\n"
    "circuit-breaker state.\n"
    "\n"
    "  --table          aligned table, one row per channel (default)\n"
    "  --json           JSON, every field of the proto\n"
    "  --prometheus     Prometheus text exposition format 0.0.4\n"
    "  --watch SECONDS  refresh every SECONDS until SIGINT (exit 0); errors\n"
    "                   are shown and retried, not fatal\n"
    "  --channel NAME   only the channels with this name\n"
    "  --timeout-ms N   deadline of each request (default 5000)\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit: 0 ok, 1 local failure, 2 no stats from ADDR (unreachable, not\n"
    "serving the service, timeout), 64 usage error.\n";

typedef enum { FMT_TABLE, FMT_JSON, FMT_PROMETHEUS } format;

typedef struct {
  format fmt;
  bool fmt_set;
  double watch_s; /* 0: once */
  const char *channel;
  long timeout_ms;
  const char *addr;
} options;

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, PROG ": ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", kUsage);
  return EXIT_USAGE;
}

/* The value of option name: "--name=value" or "--name value". NULL (and
 * *i unchanged) if argv[*i] is not this option. */
static const char *option_value(int argc, char **argv, int *i,
                                const char *name, bool *missing) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  *missing = false;
  if (strncmp(a, name, n) != 0) return NULL;
  if (a[n] == '=') return a + n + 1;
  if (a[n] != '\0') return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

/* 0, or an exit code (after printing); *help set for --help. */
static int parse_args(int argc, char **argv, options *o, bool *help) {
  memset(o, 0, sizeof(*o));
  o->timeout_ms = 5000;
  *help = false;
  bool only_positional = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v;
    bool missing;
    if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
      if (o->addr != NULL) return usage_error("unexpected argument '%s'", a);
      o->addr = a;
    } else if (strcmp(a, "--") == 0) {
      only_positional = true;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      *help = true;
      return 0;
    } else if (strcmp(a, "--table") == 0 || strcmp(a, "--json") == 0 ||
               strcmp(a, "--prometheus") == 0) {
      format f = a[2] == 't' ? FMT_TABLE : a[2] == 'j' ? FMT_JSON
                                                       : FMT_PROMETHEUS;
      if (o->fmt_set && o->fmt != f)
        return usage_error("%s: choose one of --table, --json, --prometheus",
                           a);
      o->fmt = f;
      o->fmt_set = true;
    } else if ((v = option_value(argc, argv, &i, "--watch", &missing)) ||
               missing) {
      if (missing) return usage_error("%s needs a value", "--watch");
      char *end;
      errno = 0;
      double s = strtod(v, &end);
      if (end == v || *end != '\0' || errno != 0 || !(s > 0) || s > 86400)
        return usage_error("--watch: '%s' is not a number of seconds in "
                           "(0, 86400]", v);
      o->watch_s = s;
    } else if ((v = option_value(argc, argv, &i, "--channel", &missing)) ||
               missing) {
      if (missing) return usage_error("%s needs a value", "--channel");
      o->channel = v;
    } else if ((v = option_value(argc, argv, &i, "--timeout-ms", &missing)) ||
               missing) {
      if (missing) return usage_error("%s needs a value", "--timeout-ms");
      char *end;
      errno = 0;
      long ms = strtol(v, &end, 10);
      if (end == v || *end != '\0' || errno != 0 || ms < 1 ||
          ms > 24L * 3600 * 1000)
        return usage_error("--timeout-ms: '%s' is not a whole number of "
                           "milliseconds in [1, 86400000]", v);
      o->timeout_ms = ms;
    } else {
      return usage_error("unknown option '%s'", a);
    }
  }
  if (o->addr == NULL || o->addr[0] == '\0')
    return usage_error("%s", "missing ADDR");
  return 0;
}

/* ---- the RPC ------------------------------------------------------------ */

typedef struct {
  grpc_channel *channel;
  grpc_completion_queue *cq;
} client;

static void client_init(client *c, const char *addr) {
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  c->channel = grpc_channel_create(addr, creds, NULL);
  grpc_channel_credentials_release(creds);
  c->cq = grpc_completion_queue_create_for_pluck(NULL);
}

static void client_destroy(client *c) {
  grpc_channel_destroy(c->channel);
  grpc_completion_queue_shutdown(c->cq);
  while (grpc_completion_queue_pluck(c->cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(c->cq);
}

/* Replaces control characters, so that gRPC's details stay on one line. */
static void one_line(char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

/* The error line for a failed call, without the program name. */
static void describe_failure(char *buf, size_t len, const char *addr,
                             grpc_status_code code, const char *details,
                             long timeout_ms) {
  const char *name = grpcr_status_name((int)code);
  if (name == NULL) name = "UNKNOWN";
  const char *d = details[0] != '\0' ? details : "no details";
  switch (code) {
    case GRPC_STATUS_UNAVAILABLE:
      snprintf(buf, len, "cannot reach %s: %s (%s)", addr, name, d);
      break;
    case GRPC_STATUS_UNIMPLEMENTED:
      snprintf(buf, len,
               "%s does not serve grpcr.v1.ResilienceStats: %s (%s)", addr,
               name, d);
      break;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
      snprintf(buf, len, "no answer from %s within %ld ms: %s (%s)", addr,
               timeout_ms, name, d);
      break;
    default:
      snprintf(buf, len, "GetStats on %s failed: %s (%s)", addr, name, d);
      break;
  }
}

/* One GetStats call. Returns the response, or NULL with err filled. */
static Response *fetch(client *c, const options *o, char *err,
                       size_t err_len) {
  Grpcr__V1__GetStatsRequest req = GRPCR__V1__GET_STATS_REQUEST__INIT;
  if (o->channel != NULL) req.channel_name = (char *)o->channel;
  size_t req_len = grpcr__v1__get_stats_request__get_packed_size(&req);
  grpc_slice req_slice = grpc_slice_malloc(req_len);
  grpcr__v1__get_stats_request__pack(&req, GRPC_SLICE_START_PTR(req_slice));
  grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&req_slice, 1);
  grpc_slice_unref(req_slice);

  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(o->timeout_ms, GPR_TIMESPAN));
  grpc_slice method =
      grpc_slice_from_static_string("/grpcr.v1.ResilienceStats/GetStats");
  grpc_call *call =
      grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                               c->cq, method, NULL, deadline, NULL);

  grpc_metadata_array initial_md, trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_byte_buffer *recv = NULL;
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &details;

  Response *resp = NULL;
  grpc_call_error rc = grpc_call_start_batch(call, ops, 6, call, NULL);
  if (rc != GRPC_CALL_OK) {
    snprintf(err, err_len, "cannot start the call to %s (error %d)", o->addr,
             (int)rc);
  } else {
    grpc_completion_queue_pluck(c->cq, call,
                                gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (status != GRPC_STATUS_OK) {
      char *d = grpc_slice_to_c_string(details);
      one_line(d);
      describe_failure(err, err_len, o->addr, status, d, o->timeout_ms);
      gpr_free(d);
    } else if (recv == NULL) {
      snprintf(err, err_len, "%s answered GetStats without a message",
               o->addr);
    } else {
      grpc_byte_buffer_reader reader;
      if (grpc_byte_buffer_reader_init(&reader, recv)) {
        grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        resp = grpcr__v1__get_stats_response__unpack(
            NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
        grpc_slice_unref(all);
      }
      if (resp == NULL)
        snprintf(err, err_len,
                 "%s answered GetStats with an undecodable message",
                 o->addr);
    }
  }
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  if (recv != NULL) grpc_byte_buffer_destroy(recv);
  grpc_byte_buffer_destroy(send);
  grpc_call_unref(call);
  return resp;
}

/* ---- text helpers ------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length and
 * sets *cp, or returns 0 if the bytes there are not valid UTF-8 (overlong
 * forms, surrogates and values past U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t len;
  uint32_t min, c;
  if ((s[0] & 0xe0) == 0xc0) {
    len = 2, min = 0x80, c = s[0] & 0x1f;
  } else if ((s[0] & 0xf0) == 0xe0) {
    len = 3, min = 0x800, c = s[0] & 0x0f;
  } else if ((s[0] & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, c = s[0] & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return len;
}

/* Writes s as a JSON string literal: quotes, backslashes and control
 * characters escaped, invalid UTF-8 replaced by U+FFFD, so the output is
 * always valid JSON whatever bytes a channel name holds. */
static void json_string(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  fputc('"', f);
  while (n > 0) {
    uint32_t cp;
    size_t len = utf8_decode(p, n, &cp);
    if (len == 0) {
      fputs("\\ufffd", f);
      p++, n--;
      continue;
    }
    switch (cp) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      default:
        if (cp < 0x20 || cp == 0x7f)
          fprintf(f, "\\u%04x", (unsigned)cp);
        else
          fwrite(p, 1, len, f);
    }
    p += len, n -= len;
  }
  fputc('"', f);
}

/* The shortest decimal that reads back as exactly d: "0.001", "60" (not
 * %g's "6e+01"); exponents only outside [1e-4, 1e15). */
static void fmt_double(char *buf, size_t len, double d) {
  int prec = 1;
  for (; prec < 17; prec++) {
    snprintf(buf, len, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  snprintf(buf, len, "%.*g", prec, d);
  double mag = fabs(d);
  if (strchr(buf, 'e') != NULL && mag >= 1e-4 && mag < 1e15) {
    char fixed[64];
    int decimals = prec - 1 - (int)floor(log10(mag));
    snprintf(fixed, sizeof(fixed), "%.*f", decimals > 0 ? decimals : 0, d);
    if (strtod(fixed, NULL) == d && strlen(fixed) < len) strcpy(buf, fixed);
  }
}

/* A JSON number; NaN as null and infinities as the proto3 JSON strings. */
static void json_double(FILE *f, double d) {
  if (isnan(d)) {
    fputs("null", f);
  } else if (isinf(d)) {
    fputs(d > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
  } else {
    char buf[32];
    fmt_double(buf, sizeof(buf), d);
    fputs(buf, f);
  }
}

/* ---- JSON --------------------------------------------------------------- */

static const char *breaker_state_name(Grpcr__V1__BreakerState s) {
  switch (s) {
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_CLOSED: return "CLOSED";
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_OPEN: return "OPEN";
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_HALF_OPEN: return "HALF_OPEN";
    default: return "UNSPECIFIED";
  }
}

static void json_u64(FILE *f, const char *key, uint64_t v, bool comma) {
  fprintf(f, "\"%s\": %" PRIu64 "%s", key, v, comma ? ", " : "");
}

static void json_dbl(FILE *f, const char *key, double v, bool comma) {
  fprintf(f, "\"%s\": ", key);
  json_double(f, v);
  if (comma) fputs(", ", f);
}

static void json_channel(FILE *f, const Channel *c) {
  fputs("    {\n      \"name\": ", f);
  json_string(f, c->name);
  fputs(",\n      \"target\": ", f);
  json_string(f, c->target);
  fputs(",\n      ", f);
  json_u64(f, "requests", c->requests, true);
  json_u64(f, "attempts", c->attempts, true);
  json_u64(f, "retries", c->retries, true);
  json_u64(f, "budget_denied", c->budget_denied, true);
  json_u64(f, "breaker_rejected", c->breaker_rejected, true);
  json_u64(f, "local_errors", c->local_errors, true);
  json_u64(f, "committed_too_large", c->committed_too_large, true);
  json_u64(f, "config_updates", c->config_updates, true);
  json_u64(f, "finished", c->finished, false);
  fputs(",\n      \"breaker\": ", f);
  if (c->breaker == NULL) {
    fputs("null", f);
  } else {
    const Grpcr__V1__BreakerStats *b = c->breaker;
    fprintf(f, "{\"state\": \"%s\", ", breaker_state_name(b->state));
    json_dbl(f, "time_in_state_seconds", b->time_in_state_seconds, true);
    json_u64(f, "transitions_total", b->transitions_total, true);
    json_u64(f, "opened_total", b->opened_total, true);
    json_u64(f, "rejected_total", b->rejected_total, true);
    json_dbl(f, "open_seconds_total", b->open_seconds_total, true);
    json_dbl(f, "open_duration_seconds", b->open_duration_seconds, true);
    json_u64(f, "calls_in_window", b->calls_in_window, true);
    json_u64(f, "failures_in_window", b->failures_in_window, true);
    json_u64(f, "stale_results_total", b->stale_results_total, true);
    json_u64(f, "no_verdict_total", b->no_verdict_total, true);
    json_u64(f, "probes_freed_total", b->probes_freed_total, true);
    json_u64(f, "probes_expired_total", b->probes_expired_total, true);
    json_u64(f, "probes_in_flight", b->probes_in_flight, true);
    json_dbl(f, "probe_timeout_seconds", b->probe_timeout_seconds, true);
    json_u64(f, "reconfigured_total", b->reconfigured_total, false);
    fputs("}", f);
  }
  fputs(",\n      \"budget\": ", f);
  if (c->budget == NULL) {
    fputs("null", f);
  } else {
    const Grpcr__V1__BudgetStats *b = c->budget;
    fputs("{", f);
    json_dbl(f, "utilization", b->utilization, true);
    json_u64(f, "requests_in_window", b->requests_in_window, true);
    json_u64(f, "retries_in_window", b->retries_in_window, true);
    json_dbl(f, "allowed_in_window", b->allowed_in_window, true);
    json_u64(f, "requests_total", b->requests_total, true);
    json_u64(f, "retries_total", b->retries_total, true);
    json_u64(f, "denied_total", b->denied_total, true);
    json_u64(f, "reconfigured_total", b->reconfigured_total, false);
    fputs("}", f);
  }
  fputs(",\n      \"attempts_by_number\": [", f);
  for (size_t i = 0; i < c->n_attempts_by_number; i++)
    fprintf(f, "%s%" PRIu64, i > 0 ? ", " : "", c->attempts_by_number[i]);
  fputs("],\n      \"retry_wait\": {", f);
  const Grpcr__V1__RetryWaitHistogram *w = c->retry_wait;
  if (w != NULL) {
    fputs("\"buckets\": [", f);
    for (size_t i = 0; i < w->n_buckets; i++) {
      fputs(i > 0 ? ", {" : "{", f);
      json_dbl(f, "upper_bound_seconds", w->buckets[i]->upper_bound_seconds,
               true);
      json_u64(f, "count", w->buckets[i]->count, false);
      fputs("}", f);
    }
    fputs("], ", f);
    json_dbl(f, "sum_seconds", w->sum_seconds, true);
    json_u64(f, "count", w->count, true);
    json_dbl(f, "p50_seconds", w->p50_seconds, true);
    json_dbl(f, "p99_seconds", w->p99_seconds, false);
  }
  fputs("},\n      \"status_counts\": [", f);
  for (size_t i = 0; i < c->n_status_counts; i++) {
    const Grpcr__V1__StatusCount *s = c->status_counts[i];
    fputs(i > 0 ? ", {\"code_name\": " : "{\"code_name\": ", f);
    json_string(f, s->code_name);
    fprintf(f, ", \"code\": %" PRId32 ", \"count\": %" PRIu64 "}", s->code,
            s->count);
  }
  fputs("]\n    }", f);
}

/* Field names are the proto's; 64-bit counters are JSON numbers (not the
 * strings of the canonical proto3 mapping) so that jq can add them; an
 * absent breaker or budget is null. */
static void print_json(FILE *f, const Response *r) {
  fprintf(f, "{\n  \"collected_at_unix_ms\": %" PRId64 ",\n  \"channels\": [",
          r->collected_at_unix_ms);
  for (size_t i = 0; i < r->n_channels; i++) {
    fputs(i > 0 ? ",\n" : "\n", f);
    json_channel(f, r->channels[i]);
  }
  fputs(r->n_channels > 0 ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* ---- Prometheus --------------------------------------------------------- */

/* Writes s as a label value: backslash, double quote and newline escaped as
 * the exposition format requires, invalid UTF-8 replaced by U+FFFD. Returns
 * false if the stream failed. */
static bool prom_label_value(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  while (n > 0) {
    uint32_t cp;
    size_t len = utf8_decode(p, n, &cp);
    if (len == 0) {
      fputs("\xef\xbf\xbd", f);
      p++, n--;
      continue;
    }
    if (cp == '\\')
      fputs("\\\\", f);
    else if (cp == '"')
      fputs("\\\"", f);
    else if (cp == '\n')
      fputs("\\n", f);
    else
      fwrite(p, 1, len, f);
    p += len, n -= len;
  }
  return !ferror(f);
}

typedef struct {
  const Channel *c;
  char *labels; /* channel="...",target="..." */
} prom_channel;

typedef struct {
  const char *name;
  const char *type;
  const char *help;
  /* Does the channel have this metric? NULL: every channel does. */
  bool (*applies)(const Channel *c);
  void (*emit)(FILE *f, const char *name, const prom_channel *pc);
} prom_family;

static void prom_sample_u64(FILE *f, const char *name, const char *labels,
                            const char *extra, uint64_t v) {
  fprintf(f, "%s{%s%s} %" PRIu64 "\n", name, labels, extra, v);
}

static void prom_sample_dbl(FILE *f, const char *name, const char *labels,
                            double v) {
  char buf[32];
  if (isnan(v))
    strcpy(buf, "NaN");
  else if (isinf(v))
    strcpy(buf, v > 0 ? "+Inf" : "-Inf");
  else
    fmt_double(buf, sizeof(buf), v);
  fprintf(f, "%s{%s} %s\n", name, labels, buf);
}

static bool has_breaker(const Channel *c) { return c->breaker != NULL; }
static bool has_budget(const Channel *c) { return c->budget != NULL; }

#define EMIT_U64(fn, expr)                                               \
  static void fn(FILE *f, const char *name, const prom_channel *pc) {    \
    const Channel *c = pc->c;                                            \
    prom_sample_u64(f, name, pc->labels, "", (expr));                    \
  }
#define EMIT_DBL(fn, expr)                                               \
  static void fn(FILE *f, const char *name, const prom_channel *pc) {    \
    const Channel *c = pc->c;                                            \
    prom_sample_dbl(f, name, pc->labels, (expr));                        \
  }

EMIT_U64(emit_requests, c->requests)
EMIT_U64(emit_attempts, c->attempts)
EMIT_U64(emit_retries, c->retries)
EMIT_U64(emit_budget_denied, c->budget_denied)
EMIT_DBL(emit_budget_util, c->budget->utilization)
EMIT_U64(emit_budget_win_requests, c->budget->requests_in_window)
EMIT_U64(emit_budget_win_retries, c->budget->retries_in_window)
EMIT_DBL(emit_budget_win_allowed, c->budget->allowed_in_window)
EMIT_U64(emit_breaker_rejected, c->breaker_rejected)
EMIT_DBL(emit_breaker_time_in_state, c->breaker->time_in_state_seconds)
EMIT_DBL(emit_breaker_open_duration, c->breaker->open_duration_seconds)
EMIT_DBL(emit_breaker_open_seconds, c->breaker->open_seconds_total)
EMIT_U64(emit_breaker_transitions, c->breaker->transitions_total)
EMIT_U64(emit_breaker_opened, c->breaker->opened_total)
EMIT_U64(emit_breaker_win_calls, c->breaker->calls_in_window)
EMIT_U64(emit_breaker_win_failures, c->breaker->failures_in_window)
EMIT_U64(emit_breaker_no_verdict, c->breaker->no_verdict_total)
EMIT_U64(emit_breaker_probes_freed, c->breaker->probes_freed_total)
EMIT_U64(emit_breaker_probes_expired, c->breaker->probes_expired_total)
EMIT_U64(emit_breaker_probes_in_flight, c->breaker->probes_in_flight)
EMIT_U64(emit_local_errors, c->local_errors)
EMIT_U64(emit_committed_too_large, c->committed_too_large)
EMIT_U64(emit_config_updates, c->config_updates)

/* 0 closed, 1 open, 2 half-open: grpcr_breaker_state's numbers. */
static void emit_breaker_state(FILE *f, const char *name,
                               const prom_channel *pc) {
  int v = 0;
  switch (pc->c->breaker->state) {
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_OPEN: v = 1; break;
    case GRPCR__V1__BREAKER_STATE__BREAKER_STATE_HALF_OPEN: v = 2; break;
    default: v = 0; break;
  }
  fprintf(f, "%s{%s} %d\n", name, pc->labels, v);
}

static void emit_attempts_by_number(FILE *f, const char *name,
                                    const prom_channel *pc) {
  const Channel *c = pc->c;
  for (size_t i = 0; i < c->n_attempts_by_number; i++) {
    char extra[48];
    bool last = i + 1 == c->n_attempts_by_number;
    snprintf(extra, sizeof(extra), ",attempt=\"%zu%s\"", i + 1,
             last ? "+" : "");
    prom_sample_u64(f, name, pc->labels, extra, c->attempts_by_number[i]);
  }
}

static void emit_calls(FILE *f, const char *name, const prom_channel *pc) {
  const Channel *c = pc->c;
  for (size_t i = 0; i < c->n_status_counts; i++) {
    const Grpcr__V1__StatusCount *s = c->status_counts[i];
    fprintf(f, "%s{%s,code=\"", name, pc->labels);
    prom_label_value(f, s->code_name);
    fprintf(f, "\"} %" PRIu64 "\n", s->count);
  }
}

static void emit_wait_histogram(FILE *f, const char *name,
                                const prom_channel *pc) {
  const Grpcr__V1__RetryWaitHistogram *w = pc->c->retry_wait;
  uint64_t cumulative = 0;
  bool saw_inf = false;
  for (size_t i = 0; w != NULL && i < w->n_buckets; i++) {
    double ub = w->buckets[i]->upper_bound_seconds;
    char le[32];
    if (isinf(ub)) {
      strcpy(le, "+Inf");
      saw_inf = true;
    } else {
      fmt_double(le, sizeof(le), ub);
    }
    cumulative += w->buckets[i]->count;
    fprintf(f, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, pc->labels, le,
            cumulative);
  }
  /* The format requires a +Inf bucket equal to _count. */
  uint64_t count = w != NULL ? w->count : 0;
  if (!saw_inf)
    fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, pc->labels,
            count);
  char sum_name[96];
  snprintf(sum_name, sizeof(sum_name), "%s_sum", name);
  prom_sample_dbl(f, sum_name, pc->labels, w != NULL ? w->sum_seconds : 0.0);
  fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, pc->labels, count);
}

static const prom_family kFamilies[] = {
    {"grpcr_requests_total", "counter",
     "Calls the application started on the channel.", NULL, emit_requests},
    {"grpcr_attempts_total", "counter",
     "Attempts sent to the transport (calls rejected by the breaker make "
     "none).",
     NULL, emit_attempts},
    {"grpcr_retry_attempts_total", "counter",
     "Attempts by their number within the call; attempt=\"10+\" counts the "
     "tenth and every later one.",
     NULL, emit_attempts_by_number},
    {"grpcr_retries_total", "counter", "Attempts after the first of a call.",
     NULL, emit_retries},
    {"grpcr_retry_budget_denied_total", "counter",
     "Retries the retry budget refused.", NULL, emit_budget_denied},
    {"grpcr_retry_budget_utilization", "gauge",
     "Retries spent over retries allowed in the budget's window (0..1).",
     has_budget, emit_budget_util},
    {"grpcr_retry_budget_window_requests", "gauge",
     "Requests counted in the retry budget's current window.", has_budget,
     emit_budget_win_requests},
    {"grpcr_retry_budget_window_retries", "gauge",
     "Retries spent in the retry budget's current window.", has_budget,
     emit_budget_win_retries},
    {"grpcr_retry_budget_window_allowed", "gauge",
     "Retries the retry budget's current window allows.", has_budget,
     emit_budget_win_allowed},
    {"grpcr_retry_wait_duration_seconds", "histogram",
     "Time waited before each retry.", NULL, emit_wait_histogram},
    {"grpcr_circuit_breaker_state", "gauge",
     "Circuit breaker state: 0 closed, 1 open, 2 "
     "half-open.", has_breaker,
     emit_breaker_state},
    {"grpcr_circuit_breaker_time_in_state_seconds", "gauge",
     "Seconds since the circuit breaker entered its current state.",
     has_breaker, emit_breaker_time_in_state},
    {"grpcr_circuit_breaker_open_duration_seconds", "gauge",
     "The configured time the circuit breaker stays open.", has_breaker,
     emit_breaker_open_duration},
    {"grpcr_circuit_breaker_open_seconds_total", "counter",
     "Seconds the circuit breaker has spent open, including now.",
     has_breaker, emit_breaker_open_seconds},
    {"grpcr_circuit_breaker_rejected_calls_total", "counter",
     "Calls failed fast because the circuit breaker was open.", NULL,
     emit_breaker_rejected},
    {"grpcr_circuit_breaker_transitions_total", "counter",
     "Circuit breaker state changes.", has_breaker, emit_breaker_transitions},
    {"grpcr_circuit_breaker_opened_total", "counter",
     "Circuit breaker transitions into open.", has_breaker,
     emit_breaker_opened},
    {"grpcr_circuit_breaker_window_calls", "gauge",
     "Finished calls in the circuit breaker's current window.", has_breaker,
     emit_breaker_win_calls},
    {"grpcr_circuit_breaker_window_failures", "gauge",
     "Failed calls in the circuit breaker's current window.", has_breaker,
     emit_breaker_win_failures},
    {"grpcr_circuit_breaker_no_verdict_total", "counter",
     "Admitted calls that gave the circuit breaker no verdict (cancelled, "
     "out of time on the client, dropped before their status).",
     has_breaker, emit_breaker_no_verdict},
    {"grpcr_circuit_breaker_probes_freed_total", "counter",
     "Half-open probes that ended without a verdict and freed their slot.",
     has_breaker, emit_breaker_probes_freed},
    {"grpcr_circuit_breaker_probes_expired_total", "counter",
     "Half-open probes that held their slot for probeTimeout and lost it.",
     has_breaker, emit_breaker_probes_expired},
    {"grpcr_circuit_breaker_probes_in_flight", "gauge",
     "Half-open probe slots held now.", has_breaker,
     emit_breaker_probes_in_flight},
    {"grpcr_local_errors_total", "counter",
     "Calls whose request broke a local limit (max send size): never "
     "retried, not seen by the circuit breaker.",
     NULL, emit_local_errors},
    {"grpcr_committed_too_large_total", "counter",
     "Calls whose request exceeded the per-RPC retry buffer: sent once.", NULL,
     emit_committed_too_large},
    {"grpcr_config_updates_total", "counter",
     "Service-config changes applied to the channel's policy.", NULL,
     emit_config_updates},
    {"grpcr_calls_total", "counter",
     "Calls by final status code (one per call, not per attempt).", NULL,
     emit_calls},
};

/* Every series carries channel and target. Two channels with the same name
 * and target would make duplicate series, which Prometheus rejects, so the
 * second gets channel="name#2", and so on. Returns false on ENOMEM. */
static bool prom_labels(prom_channel *pcs, const Response *r) {
  for (size_t i = 0; i < r->n_channels; i++) {
    const Channel *c = r->channels[i];
    size_t dup = 1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->channels[j]->name, c->name) == 0 &&
          strcmp(r->channels[j]->target, c->target) == 0)
        dup++;
    size_t len = 0;
    FILE *m = open_memstream(&pcs[i].labels, &len);
    if (m == NULL) return false;
    fputs("channel=\"", m);
    prom_label_value(m, c->name);
    if (dup > 1) fprintf(m, "#%zu", dup);
    fputs("\",target=\"", m);
    prom_label_value(m, c->target);
    fputs("\"", m);
    bool ok = !ferror(m);
    if (fclose(m) != 0) ok = false;
    pcs[i].c = c;
    if (!ok) return false;
  }
  return true;
}

/* Text exposition format 0.0.4: each family's HELP and TYPE once, then its
 * series for every channel that has it. */
static bool print_prometheus(FILE *f, const Response *r) {
  prom_channel *pcs = calloc(r->n_channels + 1, sizeof(*pcs));
  if (pcs == NULL) return false;
  bool ok = prom_labels(pcs, r);
  for (size_t k = 0; ok && k < sizeof(kFamilies) / sizeof(kFamilies[0]);
       k++) {
    const prom_family *fam = &kFamilies[k];
    bool any = false;
    for (size_t i = 0; i < r->n_channels && !any; i++)
      any = fam->applies == NULL || fam->applies(r->channels[i]);
    if (!any) continue;
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help,
            fam->name, fam->type);
    for (size_t i = 0; i < r->n_channels; i++)
      if (fam->applies == NULL || fam->applies(r->channels[i]))
        fam->emit(f, fam->name, &pcs[i]);
  }
  for (size_t i = 0; i < r->n_channels; i++) free(pcs[i].labels);
  free(pcs);
  return ok;
}

/* ---- table -------------------------------------------------------------- */

enum {
  COL_NAME, COL_TARGET, COL_BREAKER, COL_IN_STATE, COL_REQUESTS,
  COL_ATTEMPTS, COL_RETRIES, COL_DENIED, COL_REJECTED, COL_LOCAL,
  COL_SENT_ONCE, COL_UPDATES, COL_NO_VERDICT, COL_BUDGET, COL_P50, COL_P99,
  COL_STATUS, NCOLS
};

static const char *const kHeaders[NCOLS] = {
    "CHANNEL",  "TARGET",     "BREAKER",  "IN STATE", "REQUESTS",
    "ATTEMPTS", "RETRIES",    "DENIED",   "REJECTED", "LOCAL",
    "SENT ONCE", "UPDATES",   "NO VERDICT", "BUDGET", "WAIT P50",
    "WAIT P99", "STATUS"};

/* Numbers are right-aligned; text (and the last column) left. */
static const bool kRightAlign[NCOLS] = {
    false, false, false, true, true, true, true, true, true,
    true,  true,  true,  true, true, true, true, false};

/* A copy of s fit for a terminal: control bytes become '?', so a channel
 * name cannot move the cursor or change colours. */
static char *printable(const char *s) {
  char *o = strdup(s);
  if (o != NULL)
    for (char *p = o; *p != '\0'; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  return o;
}

/* Display width: UTF-8 code points (no wide-character table). */
static size_t display_width(const char *s) {
  size_t w = 0;
  for (; *s != '\0'; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) w++;
  return w;
}

static void fmt_duration(char *buf, size_t len, double s) {
  if (s < 60)
    snprintf(buf, len, "%.1fs", s);
  else if (s < 3600)
    snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
  else if (s < 86400)
    snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
  else
    snprintf(buf, len, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
}

static void fmt_ms(char *buf, size_t len, double s) {
  double ms = s * 1000;
  if (ms < 10)
    snprintf(buf, len, "%.2fms", ms);
  else if (ms < 1000)
    snprintf(buf, len, "%.1fms", ms);
  else
    snprintf(buf, len, "%.0fms", ms);
}

/* The row's cells, each malloc'd; false on ENOMEM. */
static bool table_row(char **cells, const Channel *c) {
  char buf[64];
  cells[COL_NAME] = printable(c->name);
  cells[COL_TARGET] = printable(c->target);
  const Grpcr__V1__BreakerStats *b = c->breaker;
  cells[COL_BREAKER] = strdup(b != NULL ? breaker_state_name(b->state) : "-");
  if (b != NULL) fmt_duration(buf, sizeof(buf), b->time_in_state_seconds);
  cells[COL_IN_STATE] = strdup(b != NULL ? buf : "-");
  uint64_t nums[] = {c->requests,         c->attempts,
                     c->retries,          c->budget_denied,
                     c->breaker_rejected, c->local_errors,
                     c->committed_too_large, c->config_updates};
  for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
    snprintf(buf, sizeof(buf), "%" PRIu64, nums[i]);
    cells[COL_REQUESTS + i] = strdup(buf);
  }
  if (b != NULL) snprintf(buf, sizeof(buf), "%" PRIu64, b->no_verdict_total);
  cells[COL_NO_VERDICT] = strdup(b != NULL ? buf : "-");
  if (c->budget != NULL)
    snprintf(buf, sizeof(buf), "%.1f%%", c->budget->utilization * 100);
  cells[COL_BUDGET] = strdup(c->budget != NULL ? buf : "-");
  const Grpcr__V1__RetryWaitHistogram *w = c->retry_wait;
  bool waits = w != NULL && w->count > 0;
  if (waits) fmt_ms(buf, sizeof(buf), w->p50_seconds);
  cells[COL_P50] = strdup(waits ? buf : "-");
  if (waits) fmt_ms(buf, sizeof(buf), w->p99_seconds);
  cells[COL_P99] = strdup(waits ? buf : "-");

  size_t len = 0;
  FILE *m = open_memstream(&cells[COL_STATUS], &len);
  if (m != NULL) {
    bool any = false;
    for (size_t i = 0; i < c->n_status_counts; i++) {
      const Grpcr__V1__StatusCount *s = c->status_counts[i];
      if (s->count == 0) continue;
      fprintf(m, "%s%s=%" PRIu64, any ? " " : "", s->code_name, s->count);
      any = true;
    }
    if (!any) fputs("-", m);
    if (fclose(m) != 0) {
      free(cells[COL_STATUS]);
      cells[COL_STATUS] = NULL;
    }
  }
  for (size_t i = 0; i < NCOLS; i++)
    if (cells[i] == NULL) return false;
  return true;
}

static void table_line(FILE *f, char *const *cells, const size_t *width) {
  for (size_t i = 0; i < NCOLS; i++) {
    size_t pad = width[i] - display_width(cells[i]);
    if (i + 1 == NCOLS) {
      fputs(cells[i], f);
    } else if (kRightAlign[i]) {
      fprintf(f, "%*s%s  ", (int)pad, "", cells[i]);
    } else {
      fprintf(f, "%s%*s  ", cells[i], (int)pad, "");
    }
  }
  fputc('\n', f);
}

static bool print_table(FILE *f, const Response *r) {
  size_t n = r->n_channels;
  char **cells = calloc((n + 1) * NCOLS, sizeof(*cells));
  if (cells == NULL) return false;
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++)
    ok = table_row(&cells[(i + 1) * NCOLS], r->channels[i]);
  if (ok) {
    size_t width[NCOLS];
    for (size_t j = 0; j < NCOLS; j++) {
      cells[j] = (char *)kHeaders[j];
      width[j] = display_width(kHeaders[j]);
      for (size_t i = 1; i <= n; i++) {
        size_t w = display_width(cells[i * NCOLS + j]);
        if (w > width[j]) width[j] = w;
      }
    }
    for (size_t i = 0; i <= n; i++) table_line(f, &cells[i * NCOLS], width);
    if (n == 0) fputs("(no channels)\n", f);
  }
  for (size_t i = NCOLS; i < (n + 1) * NCOLS; i++) free(cells[i]);
  free(cells);
  return ok;
}

/* ---- main --------------------------------------------------------------- */

/* Renders r into one buffer, so a --watch refresh is one write. */
static bool render(const options *o, const Response *r, char **out,
                   size_t *len) {
  FILE *m = open_memstream(out, len);
  if (m == NULL) return false;
  bool ok = true;
  switch (o->fmt) {
    case FMT_TABLE: ok = print_table(m, r); break;
    case FMT_JSON: print_json(m, r); break;
    case FMT_PROMETHEUS: ok = print_prometheus(m, r); break;
  }
  if (ferror(m)) ok = false;
  if (fclose(m) != 0) ok = false;
  if (!ok) {
    free(*out);
    *out = NULL;
  }
  return ok;
}

static bool write_all(const char *buf, size_t len) {
  return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0;
}

/* gRPC's own logging would add lines to our one-line errors; keep it quiet
 * unless the user asks for it. */
static void quiet_log(gpr_log_func_args *args) { (void)args; }

static int run_once(client *c, const options *o) {
  char err[1024];
  Response *r = fetch(c, o, err, sizeof(err));
  if (r == NULL) {
    fprintf(stderr, PROG ": %s\n", err);
    return EXIT_NO_STATS;
  }
  char *out = NULL;
  size_t len = 0;
  int rc = 0;
  if (!render(o, r, &out, &len)) {
    fprintf(stderr, PROG ": out of memory\n");
    rc = EXIT_LOCAL;
  } else if (!write_all(out, len)) {
    fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
    rc = EXIT_LOCAL;
  }
  free(out);
  grpcr__v1__get_stats_response__free_unpacked(r, NULL);
  return rc;
}

/* Refreshes until SIGINT or SIGTERM, which main blocks in every thread
 * (gRPC's included) so that only sigtimedwait here takes them: that is the
 * wait between refreshes, and a signal during a request is taken as soon as
 * the request ends (within --timeout-ms). */
static int run_watch(client *c, const options *o, const sigset_t *stop) {
  bool tty = isatty(STDOUT_FILENO) == 1;
  struct timespec wait;
  wait.tv_sec = (time_t)o->watch_s;
  wait.tv_nsec = (long)((o->watch_s - (double)wait.tv_sec) * 1e9);
  for (;;) {
    char err[1024];
    Response *r = fetch(c, o, err, sizeof(err));
    char *out = NULL;
    size_t len = 0;
    bool rendered = r != NULL && render(o, r, &out, &len);
    if (r != NULL) grpcr__v1__get_stats_response__free_unpacked(r, NULL);
    /* On a terminal, clear and home; piped, just one snapshot after the
     * other (escape codes would corrupt JSON or Prometheus text). */
    if (tty && !write_all("\033[H\033[2J", 7)) return EXIT_LOCAL;
    if (tty) {
      char when[64];
      time_t now = time(NULL);
      struct tm tm;
      strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
      printf("Every %gs: %s  %s\n\n", o->watch_s, o->addr, when);
    }
    if (rendered) {
      bool ok = write_all(out, len);
      free(out);
      if (!ok) return EXIT_LOCAL;
    } else {
      fflush(stdout);
      fprintf(stderr, PROG ": %s\n", r == NULL ? err : "out of memory");
    }
    if (sigtimedwait(stop, NULL, &wait) > 0) return 0;
  }
}

int main(int argc, char **argv) {
  options o;
  bool help;
  int rc = parse_args(argc, argv, &o, &help);
  if (rc != 0) return rc;
  if (help) {
    fputs(kUsage, stdout);
    return 0;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  /* Before grpc_init, so gRPC's threads inherit the mask. */
  if (o.watch_s > 0) pthread_sigmask(SIG_BLOCK, &stop, NULL);
  if (getenv("GRPC_VERBOSITY") == NULL && getenv("GRPC_TRACE") == NULL)
    gpr_set_log_function(quiet_log);

  grpc_init();
  client c;
  client_init(&c, o.addr);
  rc = o.watch_s > 0 ? run_watch(&c, &o, &stop) : run_once(&c, &o);
  client_destroy(&c);
  grpc_shutdown();
  return rc;
}
