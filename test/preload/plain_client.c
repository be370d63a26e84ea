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
 * Built with PLAIN_CLIENT_REGISTERS (and linked with grpcr_static), it is a
 * program that installs grpc-resilience itself: it calls grpcr_register()
 * before grpc_init() and prints "register: <rc> <message>". */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "unary_call.h"

#ifdef PLAIN_CLIENT_REGISTERS
#include <grpcr/grpcr.h>
#endif

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: plain_client TARGET CALLS [SERVICE_CONFIG [ENABLE_RETRIES]]\n");
    return 2;
  }
  int calls = atoi(argv[2]);
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
  const char *hold = getenv("PLAIN_CLIENT_HOLD_MS");
  if (hold) gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(atoi(hold), GPR_TIMESPAN)));
  grpc_channel_destroy(ch);
  grpc_shutdown();
  return 0;
}
