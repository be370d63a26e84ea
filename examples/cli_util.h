/* Command-line helpers shared by the example programs. */
#ifndef GRPCR_EXAMPLES_CLI_UTIL_H
#define GRPCR_EXAMPLES_CLI_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* With msg (a format taking arg): the error and the usage on stderr, 64.
 * Without: the usage on stdout, 0. */
static inline int cli_usage(const char *prog, const char *usage_text,
                            const char *msg, const char *arg) {
  if (msg) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, msg, arg);
    fprintf(stderr, "\n\n");
  }
  fputs(usage_text, msg ? stderr : stdout);
  return msg ? 64 : 0;
}

/* A whole-string number in [lo, hi]; false (and *out untouched) if not. */
static inline bool cli_parse_number(const char *s, double lo, double hi,
                                    double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

#endif /* GRPCR_EXAMPLES_CLI_UTIL_H */
