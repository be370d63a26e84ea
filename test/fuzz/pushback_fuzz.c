/* Fuzz target: the server-pushback parser (grpcr_pushback_parse,
 * include/grpcr/backoff.h, src/backoff.c).
 *
 * The input is the raw value of a grpc-retry-pushback-ms header: any bytes,
 * not NUL-terminated (libFuzzer's buffer is exactly size bytes, so ASan sees
 * a read past the end). Checked against a reference of the documented rule:
 * strictly [0-9]+ whose milliseconds fit in int64 nanoseconds is DELAY with
 * *delay_ns = ms * 1e6; anything else (empty, a sign, spaces, a fraction,
 * too large) is STOP, and *delay_ns is then left alone; a NULL value
 * (header absent) is NONE. The parsed value is cross-checked with
 * grpcr_pushback_from_ms, and then used as the retry code uses it: a backoff
 * sequence (every jitter, seeded from the input) takes the pushback and its
 * next delays stay within [0, max_backoff] and restart from
 * initial_backoff. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/backoff.h"
#include "fuzz_checks.h"

/* The documented rule, written independently of src/backoff.c. */
static grpcr_pushback reference(const uint8_t *s, size_t n, int64_t *ns) {
  if (n == 0) return GRPCR_PUSHBACK_STOP;
  const int64_t limit_ms = INT64_MAX / 1000000;
  int64_t ms = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return GRPCR_PUSHBACK_STOP;
    int d = s[i] - '0';
    if (ms > limit_ms / 10 || ms * 10 > limit_ms - d) return GRPCR_PUSHBACK_STOP;
    ms = ms * 10 + d;
  }
  *ns = ms * 1000000;
  return GRPCR_PUSHBACK_DELAY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const int64_t sentinel = -424242;
  int64_t ns = sentinel, want_ns = sentinel;
  grpcr_pushback got = grpcr_pushback_parse((const char *)data, size, &ns);
  grpcr_pushback want = reference(data, size, &want_ns);
  CHECK(got == want);
  CHECK(ns == want_ns);
  /* A NULL delay pointer is allowed and changes nothing else. */
  CHECK(grpcr_pushback_parse((const char *)data, size, NULL) == got);
  /* Header absent. */
  int64_t untouched = sentinel;
  CHECK(grpcr_pushback_parse(NULL, size, &untouched) == GRPCR_PUSHBACK_NONE);
  CHECK(untouched == sentinel);

  if (got != GRPCR_PUSHBACK_DELAY) return 0;
  CHECK(ns >= 0 && ns % 1000000 == 0);
  int64_t from_ms = sentinel;
  CHECK(grpcr_pushback_from_ms(ns / 1000000, &from_ms) == GRPCR_PUSHBACK_DELAY);
  CHECK(from_ms == ns);

  /* The retry path: pushback replaces one delay and restarts the sequence. */
  uint64_t seed = 0;
  for (size_t i = 0; i < size; i++) seed = seed * 131 + data[i];
  for (int j = GRPCR_JITTER_NONE; j <= GRPCR_JITTER_DECORRELATED; j++) {
    grpcr_backoff_policy p = {
        .initial_backoff_ns = 100000000,   /* 0.1 s */
        .max_backoff_ns = 10000000000LL,   /* 10 s */
        .multiplier = 2.0,
        .jitter = (grpcr_jitter)j,
    };
    grpcr_backoff b;
    grpcr_backoff_init(&b, &p, seed);
    for (int k = 0; k < 3; k++) {
      int64_t d = grpcr_backoff_next_ns(&b);
      CHECK(d >= 0 && d <= p.max_backoff_ns);
    }
    CHECK(grpcr_backoff_pushback_ns(&b, ns) == ns);
    CHECK(b.retries == 0);
    int64_t d = grpcr_backoff_next_ns(&b);
    CHECK(d >= 0 && d <= p.max_backoff_ns);
    if (j == GRPCR_JITTER_NONE) CHECK(d == p.initial_backoff_ns);
  }
  return 0;
}
