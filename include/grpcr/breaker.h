/* A circuit breaker: CLOSED / OPEN / HALF_OPEN.
 *
 * CLOSED counts finished calls in a window (a ring of GRPCR_BREAKER_BUCKETS
 * time buckets). A call that ended with a trip code is a failure, any other
 * finished call a success. It opens when calls >= minimum_calls and
 * failures / calls >= failure_rate_threshold (inclusive).
 * OPEN rejects every call for exactly open_duration, then is HALF_OPEN from
 * that moment (applied by the next acquire or snapshot, whichever is first).
 * HALF_OPEN admits exactly half_open_max_calls calls and rejects the rest;
 * when all of them have succeeded it closes with the window cleared, the
 * first failure reopens it for a fresh open_duration.
 * Each transition starts a new generation; a result recorded with a ticket
 * from an older generation is ignored. Rejected calls are not failures.
 *
 * Thread-safe: a short mutex-protected critical section per call, since a
 * decision reads and moves several fields at once. */
#ifndef GRPCR_BREAKER_H
#define GRPCR_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "grpcr/common.h"
#include "grpcr/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRPCR_BREAKER_BUCKETS 20

typedef enum {
  GRPCR_BREAKER_CLOSED = 0,
  GRPCR_BREAKER_OPEN = 1,
  GRPCR_BREAKER_HALF_OPEN = 2,
} grpcr_breaker_state;

/* "CLOSED", "OPEN", "HALF_OPEN"; NULL outside the enum. */
GRPCR_API const char *grpcr_breaker_state_name(grpcr_breaker_state s);

typedef struct {
  double failure_rate_threshold; /* (0, 1] */
  uint32_t minimum_calls;        /* >= 1 */
  int64_t window_ns;             /* > 0 */
  int64_t open_duration_ns;      /* > 0 */
  uint32_t half_open_max_calls;  /* >= 1 */
  grpcr_code_set trip_codes;     /* non-empty, never OK */
} grpcr_breaker_config;

/* 0.5, 20 calls, 10 s window, 30 s open, 1 probe, UNAVAILABLE and
 * RESOURCE_EXHAUSTED. */
GRPCR_API grpcr_breaker_config grpcr_breaker_config_default(void);

typedef struct grpcr_breaker grpcr_breaker;

/* NULL if cfg is invalid or memory runs out. */
GRPCR_API grpcr_breaker *grpcr_breaker_create(const grpcr_breaker_config *cfg,
                                              int64_t now_ns);
GRPCR_API void grpcr_breaker_destroy(grpcr_breaker *b);

/* What an admitted call carries to its grpcr_breaker_record(). */
typedef struct {
  uint64_t generation;
  grpcr_breaker_state admitted_in;
} grpcr_breaker_ticket;

/* A state change, reported to the caller for tracing. */
typedef struct {
  bool happened;
  grpcr_breaker_state from, to;
} grpcr_breaker_transition;

/* May a call start now? true: admitted, *ticket filled. false: rejected and
 * counted. May move OPEN -> HALF_OPEN (reported in *tr if tr is not NULL). */
GRPCR_API bool grpcr_breaker_try_acquire(grpcr_breaker *b, int64_t now_ns,
                                         grpcr_breaker_ticket *ticket,
                                         grpcr_breaker_transition *tr);
/* Records the final status of an admitted call. Every ticket must be
 * recorded exactly once. tr may be NULL. */
GRPCR_API void grpcr_breaker_record(grpcr_breaker *b,
                                    const grpcr_breaker_ticket *ticket,
                                    int status_code, int64_t now_ns,
                                    grpcr_breaker_transition *tr);

typedef struct {
  grpcr_breaker_state state;
  int64_t time_in_state_ns;
  uint64_t calls_in_window;
  uint64_t failures_in_window;
  uint64_t rejected_total;    /* calls refused while OPEN or HALF_OPEN */
  uint64_t transitions_total; /* every state change */
  uint64_t opened_total;      /* transitions into OPEN */
  uint64_t stale_results_total; /* results ignored: older generation */
  int64_t open_ns_total;      /* time spent OPEN, including the current */
  int64_t open_duration_ns;   /* configured */
} grpcr_breaker_snapshot;

/* Applies a due OPEN -> HALF_OPEN transition first, so an idle breaker does
 * not read OPEN forever; it never moves the breaker's clock. */
GRPCR_API void grpcr_breaker_snapshot_get(grpcr_breaker *b, int64_t now_ns,
                                          grpcr_breaker_snapshot *out);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_BREAKER_H */
