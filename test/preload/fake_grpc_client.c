/* Links the fake libgrpc (fake_grpc.c) and asks it for its configuration. */
#include <stdio.h>

const void *fake_grpc_get(void);

int main(void) {
  printf("%s\n", fake_grpc_get() ? "configured" : "none");
  return 0;
}
