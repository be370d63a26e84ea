#define _POSIX_C_SOURCE 200809L
/* plain_client: a C-core unary client that knows nothing of grpc-resilience
 * (no header, no library): what the preload must work on unmodified.
 *
 *   plain_client TARGET CALLS [SERVICE_CONFIG_JSON [ENABLE_RETRIES
 *                [RESILIENCE_ENABLED]]]
 *
 * Makes CALLS sequential calls of /echo.Echo/Say on one channel (see
 * unary_call.h), then "ok <n> of <CALLS>". SERVICE_CONFIG_JSON may be "";
 * ENABLE_RETRIES and RESILIENCE_ENABLED ("-" to leave unset) set
 * GRPC_ARG_ENABLE_RETRIES and the opt-out "grpc.resilience.enabled" (a
 * channel argument any program can set by its name).
 * PLAIN_CLIENT_HOLD_MS keeps the channel open that long afterwards (for a
 * stats read); PLAIN_CLIENT_LATE_DLOPEN names a library to dlopen() once
 * the channel exists (a preload loaded too late).
 *
 * PLAIN_CLIENT_CHILD makes it a parent, as a prefork server or a service
 * that runs helper programs is:
 *   fork-first  forks before gRPC is initialised; the child makes its calls
 *               at once and lives PLAIN_CLIENT_CHILD_HOLD_MS more, the
 *               parent starts 500 ms later, then waits for the child;
 *   exec        after its calls, runs itself again (same environment and
 *               target, no hold) and waits for it.
 * Either way the parent prints "child exited <code>" before its hold.
 *
 * Built with PLAIN_CLIENT_REGISTERS (and linked with grpcr_static), it is a
 * program that installs grpc-resilience itself: it calls grpcr_register()
 * before grpc_init() and prints "register: <rc> <message>". */
#include <dlfcn.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "unary_call.h"

#ifdef PLAIN_CLIENT_REGISTERS
#include <grpcr/grpcr.h>
#endif

extern char **environ;

static void sleep_ms(int ms) {
  gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                               gpr_time_from_millis(ms, GPR_TIMESPAN)));
}

/* Runs this program again on the same target, with this environment less
 * the variables that made this process a parent; its exit code. */
static int run_again(char **argv, const char *calls) {
  size_t n = 0;
  while (environ[n] != NULL) n++;
  char **env = calloc(n + 1, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(environ[i], "PLAIN_CLIENT_CHILD=", 19) == 0 ||
        strncmp(environ[i], "PLAIN_CLIENT_HOLD_MS=", 21) == 0)
      continue;
    env[k++] = environ[i];
  }
  char *child_argv[] = {argv[0], argv[1], (char *)calls, NULL};
  pid_t pid;
  int st = 0;
  if (posix_spawn(&pid, argv[0], NULL, NULL, child_argv, env) != 0) {
    free(env);
    return -1;
  }
  free(env);
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: plain_client TARGET CALLS [SERVICE_CONFIG [ENABLE_RETRIES]]\n");
    return 2;
  }
  int calls = atoi(argv[2]);
  const char *as_parent = getenv("PLAIN_CLIENT_CHILD");
  pid_t forked = -1;
  if (as_parent != NULL && strcmp(as_parent, "fork-first") == 0) {
    fflush(stdout);
    forked = fork();
    if (forked == 0) {
      unsetenv("PLAIN_CLIENT_HOLD_MS");
      const char *hold = getenv("PLAIN_CLIENT_CHILD_HOLD_MS");
      if (hold != NULL) setenv("PLAIN_CLIENT_HOLD_MS", hold, 1);
      as_parent = NULL;
    } else {
      sleep_ms(500);
    }
  }
#ifdef PLAIN_CLIENT_REGISTERS
  int rc = grpcr_register();
  printf("register: %d %s\n", rc, rc == 0 ? "ok" : grpcr_strerror(rc));
  fflush(stdout);
#endif
  grpc_init();
  grpc_arg args[3];
  size_t n = 0;
  if (argc > 3 && argv[3][0]) {
    args[n].type = GRPC_ARG_STRING;
    args[n].key = (char *)GRPC_ARG_SERVICE_CONFIG;
    args[n].value.string = argv[3];
    n++;
  }
  if (argc > 4 && strcmp(argv[4], "-") != 0) {
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_ENABLE_RETRIES;
    args[n].value.integer = atoi(argv[4]);
    n++;
  }
  if (argc > 5 && strcmp(argv[5], "-") != 0) {
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)"grpc.resilience.enabled";
    args[n].value.integer = atoi(argv[5]);
    n++;
  }
  grpc_channel_args channel_args = {n, args};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *ch = grpc_channel_create(argv[1], creds, &channel_args);
  grpc_channel_credentials_release(creds);
  const char *late = getenv("PLAIN_CLIENT_LATE_DLOPEN");
  if (late && !dlopen(late, RTLD_NOW)) fprintf(stderr, "dlopen: %s\n", dlerror());
  call_many(ch, calls);
  if (forked > 0) {
    int st = 0;
    waitpid(forked, &st, 0);
    printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    fflush(stdout);
  } else if (as_parent != NULL && strcmp(as_parent, "exec") == 0) {
    printf("child exited %d\n", run_again(argv, "5"));
    fflush(stdout);
  }
  const char *hold = getenv("PLAIN_CLIENT_HOLD_MS");
  if (hold) gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(atoi(hold), GPR_TIMESPAN)));
  grpc_channel_destroy(ch);
  grpc_shutdown();
  return 0;
}
