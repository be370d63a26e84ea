/* A stand-in for libgrpc.so.29 with the two symbols the preload looks at,
 * whose own call to BuildNewAndMaybeSet binds inside the library when it is
 * linked with -Bsymbolic-functions (as Ubuntu links packages by default):
 * the preload must then say it cannot act. */
#include <stddef.h>

__attribute__((visibility("default"))) void *_ZN9grpc_core17CoreConfiguration7config_E = NULL;

__attribute__((visibility("default"), noinline)) const void *
_ZN9grpc_core17CoreConfiguration19BuildNewAndMaybeSetEv(void) {
  static int config;
  return &config;
}

/* A caller inside the library, as CoreConfiguration::Get() is. */
__attribute__((visibility("default"))) const void *fake_grpc_get(void) {
  return _ZN9grpc_core17CoreConfiguration19BuildNewAndMaybeSetEv();
}
