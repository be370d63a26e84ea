/* Client-side adaptive throttling (Google SRE book, "Handling Overload"):
 * over a sliding window the client counts its requests and how many of
 * them the dependency accepted, and rejects a new call locally with
 * probability
 *
 *   max(0, (requests - k * accepts) / (requests + 1))
 *
 * so the dependency is sent about k times what it accepts. Both counts
 * move at a call's end: a request is a call that gave the breaker a verdict,
 * one the client's deadline ended at the server, or one the throttle itself
 * rejected; an accept is a success verdict. Calls without either (the
 * application's cancel, a local error, a deadline in backoff) count in
 * neither. Nothing is rejected while the window holds fewer than minimum
 * requests.
 *
 * Owned by the breaker, under its mutex: not thread-safe. Private to the
 * core. */
#ifndef GRPCR_SRC_THROTTLE_H
#define GRPCR_SRC_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "window.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  double k;         /* 0: off */
  uint32_t minimum; /* requests in the window before it rejects anything */
  grpcr_window window; /* n[0] requests, n[1] accepts */
  uint64_t throttled_total;
} grpcr_throttle;

/* An empty throttle. k == 0 turns it off; window_ns > 0. */
void grpcr_throttle_init(grpcr_throttle *t, double k, int64_t window_ns,
                         uint32_t minimum, int64_t now_ns);
/* New settings; the counts that fall inside the new window stay. */
void grpcr_throttle_configure(grpcr_throttle *t, double k, int64_t window_ns,
                              uint32_t minimum, int64_t now_ns);
/* The probability that a call is rejected, given the window's requests and
 * accepts (0 when off, or below the minimum). */
double grpcr_throttle_probability_of(const grpcr_throttle *t,
                                     uint64_t requests, uint64_t accepts);
/* The same for a call starting now: moves the window to now_ns and reads
 * its running sums (no pass over the buckets: the call path). */
double grpcr_throttle_probability_now(grpcr_throttle *t, int64_t now_ns);
/* Decides a call given p, grpcr_throttle_probability_now at now_ns, and u, a
 * uniform draw in [0, 1) (the caller draws only when p > 0): rejected when
 * u < p. A rejected call counts as a request, and in throttled_total.
 * true: admitted. */
bool grpcr_throttle_admit(grpcr_throttle *t, int64_t now_ns, double p,
                          double u);
/* A call's end: one request, and an accept if accepted. */
void grpcr_throttle_record(grpcr_throttle *t, int64_t now_ns, bool accepted);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_SRC_THROTTLE_H */
