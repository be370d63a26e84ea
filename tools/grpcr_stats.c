/* grpcr-stats: asks a process for its grpcr.v1.ResilienceStats and prints
 * them as a table, JSON or Prometheus text, once or every few seconds. This
 * file: the arguments, one render, --watch and main (stats_cli.h lists the
 * other parts).
 *
 * Exit codes: 0 printed (or --watch ended by SIGINT/SIGTERM), 1 a local
 * failure (out of memory, cannot write stdout), 2 no stats from the address
 * (unreachable, not serving the service, timeout, any non-OK status, an
 * undecodable answer), 64 usage error (as sysexits' EX_USAGE). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include "grpcr/common.h"
#include "grpcr/grpcr.h"
#include "grpcr/metrics.h"
#include "stats_cli.h"

#define EXIT_LOCAL 1
#define EXIT_NO_STATS 2
#define EXIT_USAGE 64

static const char kUsage[] =
    "usage: " PROG " [--table [--by-method]|--json|--prometheus]\n"
    "                   [--watch SECONDS] [--channel NAME] [--timeout-ms N]\n"
    "                   ADDR\n"
    "\n"
    "Asks ADDR (host:port or any gRPC target) for grpcr.v1.ResilienceStats\n"
    "over an insecure channel and prints every channel's retry, budget and\n"
    "circuit-breaker state.\n"
    "\n"
    "  --table          aligned table, one row per channel (default)\n"
    "  --by-method      the table with one row per channel and method (the\n"
    "                   methods the service config names; \"other\" for the\n"
    "                   rest), counting calls that have ended: requests,\n"
    "                   attempts, retries, retries/call (retries / requests),\n"
    "                   OK and non-OK final statuses, the p50 and p99 of\n"
    "                   the time a retried call waited before its retries,\n"
    "                   and hedges started, won, cancelled and denied, and\n"
    "                   the adaptive hedging delay\n"
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
  bool by_method; /* with FMT_TABLE */
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
    } else if (strcmp(a, "--by-method") == 0) {
      o->by_method = true;
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
  if (o->by_method && o->fmt != FMT_TABLE)
    return usage_error("%s: only with the table (not --json or --prometheus)",
                       "--by-method");
  if (o->addr == NULL || o->addr[0] == '\0')
    return usage_error("%s", "missing ADDR");
  return 0;
}

/* ---- main --------------------------------------------------------------- */

/* The tables or the Prometheus text: all read the core's snapshots. */
static bool print_snapshots(FILE *f, const options *o,
                            const stats_response *r) {
  grpcr_channel_snapshot *snaps = stats_snapshots_from_response(r);
  if (snaps == NULL) return false;
  size_t n = r->n_channels;
  bool ok;
  if (o->fmt == FMT_PROMETHEUS)
    ok = grpcr_metrics_write_prometheus(f, snaps, n) == GRPCR_OK;
  else if (o->by_method)
    ok = stats_table_write_by_method(f, snaps, n);
  else
    ok = stats_table_write(f, snaps, n);
  grpcr_channel_snapshots_free(snaps, n);
  return ok;
}

/* Renders r into one buffer, so a --watch refresh is one write. */
static bool render(const options *o, const stats_response *r, char **out,
                   size_t *len) {
  FILE *m = open_memstream(out, len);
  if (m == NULL) return false;
  bool ok = true;
  if (o->fmt == FMT_JSON)
    stats_json_write(m, &r->base);
  else
    ok = print_snapshots(m, o, r);
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

/* One GetStats for the options' address and channel. */
static stats_response *fetch(stats_client *c, const options *o, char *err,
                             size_t err_len) {
  return stats_fetch(c, o->addr, o->channel, o->timeout_ms, err, err_len);
}

static int run_once(stats_client *c, const options *o) {
  char err[1024];
  stats_response *r = fetch(c, o, err, sizeof(err));
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
  stats_response_free(r);
  return rc;
}

/* Refreshes until SIGINT or SIGTERM, which main blocks in every thread
 * (gRPC's included) so that only sigtimedwait here takes them: that is the
 * wait between refreshes, and a signal during a request is taken as soon as
 * the request ends (within --timeout-ms). */
static int run_watch(stats_client *c, const options *o,
                     const sigset_t *stop) {
  bool tty = isatty(STDOUT_FILENO) == 1;
  struct timespec wait;
  wait.tv_sec = (time_t)o->watch_s;
  wait.tv_nsec = (long)((o->watch_s - (double)wait.tv_sec) * 1e9);
  for (;;) {
    char err[1024];
    stats_response *r = fetch(c, o, err, sizeof(err));
    char *out = NULL;
    size_t len = 0;
    bool rendered = r != NULL && render(o, r, &out, &len);
    if (r != NULL) stats_response_free(r);
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
  stats_client c;
  stats_client_init(&c, o.addr);
  rc = o.watch_s > 0 ? run_watch(&c, &o, &stop) : run_once(&c, &o);
  stats_client_destroy(&c);
  grpc_shutdown();
  return rc;
}
