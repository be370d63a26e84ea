/* gRPC status codes as the core sees them (same numbers as grpc_status_code,
 * without including gRPC), and their canonical upper-case names. */
#ifndef GRPCR_STATUS_H
#define GRPCR_STATUS_H

#include <stdint.h>

#include "grpcr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRPCR_STATUS_MAP(XX)  \
  XX(OK, 0)                   \
  XX(CANCELLED, 1)            \
  XX(UNKNOWN, 2)              \
  XX(INVALID_ARGUMENT, 3)     \
  XX(DEADLINE_EXCEEDED, 4)    \
  XX(NOT_FOUND, 5)            \
  XX(ALREADY_EXISTS, 6)       \
  XX(PERMISSION_DENIED, 7)    \
  XX(RESOURCE_EXHAUSTED, 8)   \
  XX(FAILED_PRECONDITION, 9)  \
  XX(ABORTED, 10)             \
  XX(OUT_OF_RANGE, 11)        \
  XX(UNIMPLEMENTED, 12)       \
  XX(INTERNAL, 13)            \
  XX(UNAVAILABLE, 14)         \
  XX(DATA_LOSS, 15)           \
  XX(UNAUTHENTICATED, 16)

#define GRPCR_STATUS_COUNT 17

/* GRPCR_STATUS_OK, GRPCR_STATUS_UNAVAILABLE, ...: named codes for the core,
 * which does not include gRPC. */
typedef enum {
#define GRPCR_XX(name, value) GRPCR_STATUS_##name = (value),
  GRPCR_STATUS_MAP(GRPCR_XX)
#undef GRPCR_XX
} grpcr_status_code;

/* A set of status codes: bit c is code c. */
typedef uint32_t grpcr_code_set;
#define GRPCR_CODE_BIT(c) ((grpcr_code_set)1u << (unsigned)(c))

/* "UNAVAILABLE" for 14; NULL for codes outside 0..16. */
GRPCR_API const char *grpcr_status_name(int code);
/* The code for an upper-case name, or -1 if it is not one. */
GRPCR_API int grpcr_status_from_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_STATUS_H */
