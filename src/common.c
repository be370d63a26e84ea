/* Error names and messages, generated from GRPCR_ERRNO_MAP so the table and
 * the enum can never disagree. */
#include "grpcr/common.h"

#include <stdlib.h>

const char *grpcr_strerror(int err) {
  switch (err) {
    /* 0 is not in the map, but callers print whatever they got back. */
    case GRPCR_OK:
      return "success";
#define GRPCR_XX(name, value, msg) \
  case GRPCR_##name:               \
    return msg;
      GRPCR_ERRNO_MAP(GRPCR_XX)
#undef GRPCR_XX
    default:
      return "unknown error";
  }
}

const char *grpcr_err_name(int err) {
  switch (err) {
    case GRPCR_OK:
      return "GRPCR_OK";
#define GRPCR_XX(name, value, msg) \
  case GRPCR_##name:               \
    return "GRPCR_" #name;
      GRPCR_ERRNO_MAP(GRPCR_XX)
#undef GRPCR_XX
    default:
      return "GRPCR_UNKNOWN";
  }
}

void grpcr_free(void *p) { free(p); }
