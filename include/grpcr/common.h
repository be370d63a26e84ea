/* Export macro, error codes and small helpers shared by every grpcr header. */
#ifndef GRPCR_COMMON_H
#define GRPCR_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GRPCR_API __attribute__((visibility("default")))
#else
#define GRPCR_API
#endif

/* Errors are negative; 0 is success. A policy "no" (retry denied, breaker
 * open) is a result of the function that decides, never one of these. */
#define GRPCR_ERRNO_MAP(XX)                                                   \
  XX(EINVAL, -1, "invalid argument")                                          \
  XX(ENOMEM, -2, "out of memory")                                             \
  XX(EINITIALIZED, -3, "gRPC is already initialised: call grpcr_register() "  \
                       "before grpc_init()")                                  \
  XX(EVERSION, -4, "the running libgrpc is not the version grpc-resilience "  \
                   "was built for (1.51.1)")                                  \
  XX(ECONFIG, -5, "invalid resilience configuration")                         \
  XX(EBUSY, -6, "already running")                                            \
  XX(EBIND, -7, "cannot bind the address")                                    \
  XX(ESHUTDOWN, -8, "shut down")                                              \
  XX(ENOTFOUND, -9, "not found")                                              \
  XX(EINSECURE, -10, "an insecure listener must be on loopback: pass "      \
                     "server credentials for any other address")           \
  XX(EDUPLICATE, -11, "another copy of grpc-resilience in this process "     \
                      "(a libgrpcr at another path, or grpcr_static) has "   \
                      "already installed the filter")

typedef enum {
  GRPCR_OK = 0,
#define GRPCR_XX(name, value, msg) GRPCR_##name = (value),
  GRPCR_ERRNO_MAP(GRPCR_XX)
#undef GRPCR_XX
} grpcr_error;

/* A static message for err; "unknown error" for values not in the map. */
GRPCR_API const char *grpcr_strerror(int err);
/* The code's name ("GRPCR_EINVAL"); "GRPCR_UNKNOWN" for unknown values. */
GRPCR_API const char *grpcr_err_name(int err);

/* Frees memory the library returned (error lists, snapshots' strings). */
GRPCR_API void grpcr_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_COMMON_H */
