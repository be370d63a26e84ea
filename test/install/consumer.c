/* A consumer of an installed grpc-resilience: built by test/install/run.sh
 * with CMake (find_package(grpcr)) and with pkg-config, from the installed
 * prefix only. Exits 0 only if every check holds. */
#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpcr/grpcr.h>

static int failures = 0;

static void check(int ok, const char *what) {
  printf("consumer: %s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) failures++;
}

static const char kValidConfig[] =
    "{\"methodConfig\":[{\"name\":[{\"service\":\"echo.Echo\"}],"
    "\"resilience\":{\"maxAttempts\":3,\"initialBackoff\":\"0.1s\","
    "\"maxBackoff\":\"1s\",\"backoffMultiplier\":2,"
    "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
static const char kInvalidConfig[] =
    "{\"methodConfig\":[{\"name\":[{\"service\":\"echo.Echo\"}],"
    "\"resilience\":{\"maxAttempts\":0,\"initialBackoff\":\"0.1s\","
    "\"maxBackoff\":\"1s\",\"backoffMultiplier\":2,"
    "\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]}";
static const char kInvalidError[] =
    "field:methodConfig[0].resilience.maxAttempts error:must be between 1 and 100";

int main(void) {
  int rc = grpcr_register();
  if (rc != 0) fprintf(stderr, "consumer: grpcr_register: %s\n", grpcr_strerror(rc));
  check(rc == 0, "grpcr_register() before grpc_init() returns 0");

  grpc_init();

  grpc_arg args[2];
  args[0].type = GRPC_ARG_STRING;
  args[0].key = (char *)GRPC_ARG_SERVICE_CONFIG;
  args[0].value.string = (char *)kValidConfig;
  args[1].type = GRPC_ARG_STRING;
  args[1].key = (char *)GRPCR_ARG_NAME;
  args[1].value.string = (char *)"install-consumer";
  grpc_channel_args channel_args = {2, args};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *channel = grpc_channel_create("127.0.0.1:1", creds, &channel_args);
  grpc_channel_credentials_release(creds);
  check(channel != NULL, "insecure channel to 127.0.0.1:1 created");
  if (channel != NULL) {
    grpc_connectivity_state state = grpc_channel_check_connectivity_state(channel, 0);
    check(state == GRPC_CHANNEL_IDLE, "new channel is IDLE (no connection attempted)");
  }

  char *errors = NULL;
  rc = grpcr_validate_service_config(kValidConfig, &errors);
  if (rc != 0) fprintf(stderr, "consumer: valid config rejected (%d): %s\n", rc, errors ? errors : "");
  check(rc == 0, "valid service config accepted");
  check(errors == NULL || errors[0] == '\0', "valid service config lists no error");
  grpcr_free(errors);

  errors = NULL;
  rc = grpcr_validate_service_config(kInvalidConfig, &errors);
  check(rc == GRPCR_ECONFIG, "invalid service config returns GRPCR_ECONFIG");
  /* The list is one "field:... error:..." per line; accept one trailing
   * newline after the only line. */
  size_t n = errors != NULL ? strlen(errors) : 0;
  if (n > 0 && errors[n - 1] == '\n') n--;
  int exact = errors != NULL && n == strlen(kInvalidError) &&
              strncmp(errors, kInvalidError, n) == 0;
  if (!exact) fprintf(stderr, "consumer: got errors [%s]\n", errors ? errors : "(null)");
  check(exact, "invalid service config error is exactly \"field:methodConfig[0]."
               "resilience.maxAttempts error:must be between 1 and 100\"");
  grpcr_free(errors);

  if (channel != NULL) grpc_channel_destroy(channel);
  grpc_shutdown();

  printf("consumer: %s\n", failures == 0 ? "all checks passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
