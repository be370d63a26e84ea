/* grpcr-run: runs a program with grpc-resilience preloaded.
 *
 *   grpcr-run [--config FILE | --config-json JSON] [--stats ADDR]
 *             [--targets LIST] [--] program [args...]
 *
 * It checks the policy and the target list first (field-level errors, exit
 * 2, the program is not started), then sets LD_PRELOAD and the GRPCR_*
 * variables and execs the program. It links only the policy core. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpcr/config.h"
#include "grpcr/targets.h"

#ifndef GRPCR_PRELOAD_FILE
#define GRPCR_PRELOAD_FILE "libgrpcr_preload.so"
#endif
#ifndef GRPCR_LIBDIR_FROM_BINDIR
#define GRPCR_LIBDIR_FROM_BINDIR "../lib"
#endif

#define POLICY_MAX (1 << 20)

static const char usage[] =
    "usage: grpcr-run [--config FILE | --config-json JSON] [--stats ADDR]\n"
    "                 [--targets LIST] [--] program [args...]\n"
    "\n"
    "Runs program with grpc-resilience preloaded (" GRPCR_PRELOAD_FILE "):\n"
    "every gRPC client channel it creates gets the policy, without a rebuild.\n"
    "\n"
    "  --config FILE       the process policy, a JSON file (GRPCR_CONFIG_FILE)\n"
    "  --config-json JSON  the process policy inline (GRPCR_CONFIG)\n"
    "  --stats ADDR        serve grpcr.v1.ResilienceStats on ADDR, a loopback\n"
    "                      address or unix:PATH (GRPCR_STATS_ADDR)\n"
    "  --targets LIST      the channels the policy applies to: comma-separated\n"
    "                      globs, '!' to exclude (GRPCR_TARGETS)\n"
    "  -h, --help          this text\n"
    "\n"
    "The policy is checked before the program starts: an invalid one is\n"
    "reported field by field and the program is not run (exit 2).\n";

static int fail_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "grpcr-run: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

/* The file's bytes in a new buffer, or NULL with the error printed. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "grpcr-run: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(POLICY_MAX + 1);
  size_t n = buf ? fread(buf, 1, POLICY_MAX + 1, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (!buf || err || n > POLICY_MAX) {
    fprintf(stderr, "grpcr-run: %s: %s\n", path,
            !buf  ? "out of memory"
            : err ? "read error"
                  : "larger than 1 MiB");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* 0 if the policy is valid; else its errors printed, one per line. */
static int check_policy(const char *what, const char *json, size_t len) {
  grpcr_config_errors errs = {0};
  int rc = grpcr_config_validate_process(json, len, &errs);
  if (rc == 0) return 0;
  fprintf(stderr, "grpcr-run: %s: invalid policy:\n", what);
  for (size_t i = 0; i < errs.count; i++) {
    fprintf(stderr, "  %s: %s\n",
            errs.items[i].field[0] ? errs.items[i].field : "(top level)",
            errs.items[i].message);
  }
  if (rc == GRPCR_ENOMEM) fprintf(stderr, "  out of memory\n");
  grpcr_config_errors_free(&errs);
  return 2;
}

static int check_policy_file(const char *path) {
  size_t len = 0;
  char *json = read_file(path, &len);
  if (!json) return 2;
  int rc = check_policy(path, json, len);
  free(json);
  return rc;
}

/* libgrpcr_preload.so next to this program (the build tree) or in the
 * library directory of its install prefix. */
static int find_preload(char *out, size_t cap) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return -1;
  *slash = '\0';
  const char *candidates[] = {"", "/" GRPCR_LIBDIR_FROM_BINDIR};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
    if (snprintf(out, cap, "%s%s/%s", exe, candidates[i],
                 GRPCR_PRELOAD_FILE) >= (int)cap) {
      continue;
    }
    char real[PATH_MAX];
    if (access(out, R_OK) == 0 && realpath(out, real)) {
      snprintf(out, cap, "%s", real);
      return 0;
    }
  }
  return -1;
}

int main(int argc, char **argv) {
  const char *config = NULL, *config_json = NULL, *stats = NULL,
             *targets = NULL;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    const char **slot = strcmp(a, "--config") == 0        ? &config
                        : strcmp(a, "--config-json") == 0 ? &config_json
                        : strcmp(a, "--stats") == 0       ? &stats
                        : strcmp(a, "--targets") == 0     ? &targets
                                                          : NULL;
    if (!slot) {
      if (a[0] == '-') return fail_usage("unknown option %s", a);
      break; /* the program */
    }
    if (i + 1 >= argc) return fail_usage("%s needs a value", a);
    *slot = argv[++i];
  }
  if (i >= argc) return fail_usage("%s", "no program to run");
  if (config && config_json) {
    return fail_usage("%s", "--config and --config-json are exclusive");
  }

  if (config) {
    if (check_policy_file(config)) return 2;
    char abs[PATH_MAX];
    if (!realpath(config, abs)) {
      fprintf(stderr, "grpcr-run: %s: %s\n", config, strerror(errno));
      return 2;
    }
    setenv("GRPCR_CONFIG_FILE", abs, 1);
    unsetenv("GRPCR_CONFIG");
  } else if (config_json) {
    if (check_policy("--config-json", config_json, strlen(config_json))) {
      return 2;
    }
    setenv("GRPCR_CONFIG", config_json, 1);
    unsetenv("GRPCR_CONFIG_FILE");
  } else {
    /* Inherited: checked all the same, so that no program starts with a
     * policy that will be refused. */
    const char *env_json = getenv("GRPCR_CONFIG");
    const char *env_file = getenv("GRPCR_CONFIG_FILE");
    if (env_json && *env_json && env_file && *env_file) {
      fprintf(stderr,
              "grpcr-run: GRPCR_CONFIG and GRPCR_CONFIG_FILE are both set\n");
      return 2;
    }
    if (env_json && *env_json &&
        check_policy("GRPCR_CONFIG", env_json, strlen(env_json))) {
      return 2;
    }
    if (env_file && *env_file && check_policy_file(env_file)) return 2;
  }
  if (targets) {
    grpcr_target_filter *f = NULL;
    char *error = NULL;
    if (grpcr_target_filter_parse(targets, &f, &error) != 0) {
      fprintf(stderr, "grpcr-run: --targets %s: %s\n", targets,
              error ? error : "out of memory");
      free(error);
      return 2;
    }
    grpcr_target_filter_free(f);
    setenv("GRPCR_TARGETS", targets, 1);
  }
  if (stats) setenv("GRPCR_STATS_ADDR", stats, 1);
  /* The addresses are this process's (the program keeps its pid across
   * exec), not those of a grpcr-run or preloaded process above it. */
  if (getenv("GRPCR_STATS_ADDR") != NULL || getenv("GRPCR_METRICS_ADDR") != NULL) {
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("GRPCR_SERVE_PID", pid, 1);
  } else {
    unsetenv("GRPCR_SERVE_PID");
  }

  char preload[PATH_MAX];
  if (find_preload(preload, sizeof preload) != 0) {
    fprintf(stderr, "grpcr-run: cannot find %s next to grpcr-run or in %s\n",
            GRPCR_PRELOAD_FILE, GRPCR_LIBDIR_FROM_BINDIR);
    return 2;
  }
  const char *old = getenv("LD_PRELOAD");
  char *value = NULL;
  if (asprintf(&value, "%s%s%s", preload, old && *old ? ":" : "",
               old && *old ? old : "") < 0) {
    fprintf(stderr, "grpcr-run: out of memory\n");
    return 2;
  }
  setenv("LD_PRELOAD", value, 1);
  free(value);
  execvp(argv[i], argv + i);
  fprintf(stderr, "grpcr-run: cannot run %s: %s\n", argv[i], strerror(errno));
  return 127;
}
