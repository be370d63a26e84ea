/* Durations in the proto3 JSON form gRPC uses ("0.1s", "30s", up to 9
 * fractional digits): parsed exactly into int64 nanoseconds, and printed
 * back for messages. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

int duration_parse(const char *s, size_t len, int64_t *ns) {
  size_t i = 0;
  if (i == len || s[i] < '0' || s[i] > '9') return -1;
  int64_t secs = 0;
  bool overflow = false;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    if (secs > (INT64_MAX - 9) / 10) {
      overflow = true;
    } else {
      secs = secs * 10 + (s[i] - '0');
    }
  }
  int64_t nanos = 0;
  if (i < len && s[i] == '.') {
    i++;
    int digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      if (++digits > 9) return -1;
      nanos = nanos * 10 + (s[i] - '0');
    }
    if (digits == 0) return -1;
    for (int d = digits; d < 9; d++) nanos *= 10;
  }
  if (i + 1 != len || s[i] != 's') return -1;
  if (overflow || secs > (INT64_MAX - nanos) / NS_PER_S) return -2;
  *ns = secs * NS_PER_S + nanos;
  return 0;
}

int grpcr_duration_parse(const char *s, int64_t *ns) {
  if (!s || !ns) return GRPCR_EINVAL;
  int64_t v;
  if (duration_parse(s, strlen(s), &v) != 0) return GRPCR_EINVAL;
  *ns = v;
  return 0;
}

void format_duration(int64_t ns, char *buf, size_t n) {
  long long secs = (long long)(ns / NS_PER_S);
  long frac = (long)(ns % NS_PER_S);
  if (frac == 0) {
    snprintf(buf, n, "%llds", secs);
    return;
  }
  int digits = 9;
  while (frac % 10 == 0) {
    frac /= 10;
    digits--;
  }
  snprintf(buf, n, "%lld.%0*lds", secs, digits, frac);
}
