/* Status code names, generated from GRPCR_STATUS_MAP. */
#include "grpcr/status.h"

#include <string.h>

/* Indexed by code: the map lists 0..16 in order with no gaps. */
static const char *const status_names[GRPCR_STATUS_COUNT] = {
#define GRPCR_XX(name, value) [value] = #name,
    GRPCR_STATUS_MAP(GRPCR_XX)
#undef GRPCR_XX
};

const char *grpcr_status_name(int code) {
  if (code < 0 || code >= GRPCR_STATUS_COUNT) return NULL;
  return status_names[code];
}

int grpcr_status_from_name(const char *name) {
  if (name == NULL) return -1;
  for (int c = 0; c < GRPCR_STATUS_COUNT; c++) {
    if (strcmp(name, status_names[c]) == 0) return c;
  }
  return -1;
}
