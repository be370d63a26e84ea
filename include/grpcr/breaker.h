/* A circuit breaker: CLOSED / OPEN / HALF_OPEN.
 *
 * Every admitted call gives at most one verdict (grpcr_breaker_verdict):
 * failure (a trip code), success (any other status from the dependency),
 * or none (cancelled by the application, a deadline enforced by the client,
 * an error the client made about the request itself). A call without a
 * verdict only gives back what it held.
 * CLOSED counts verdicts in a window (a ring of GRPCR_BREAKER_BUCKETS time
 * buckets). It opens when calls >= minimum_calls and failures / calls >=
 * failure_rate_threshold (inclusive), or, with a slow-call rule
 * (slow_call_duration_ns > 0), slow calls / calls >= slow_call_rate_threshold.
 * A call is slow if its verdict came more than slow_call_duration_ns after
 * its admission, or if the client's deadline ended it while an attempt was
 * at the server (sent, not answered), whatever the deadline; a slow call
 * counts as a call even when its status gives no verdict, and a slow
 * failure is both slow and a failure (the two rates are separate).
 * OPEN rejects every call for one open period, then is HALF_OPEN from that
 * moment (applied by the next acquire or snapshot, whichever is first). The
 * nominal period is open_duration when it opens from CLOSED; each reopening
 * from HALF_OPEN multiplies it by open_duration_multiplier, up to
 * max_open_duration; closing starts the sequence again. Each period is the
 * nominal one shortened by a uniform random fraction of up to
 * open_duration_jitter (never lengthened), from the breaker's own seedable
 * generator, so that a fleet of clients does not probe in lockstep.
 * HALF_OPEN has half_open_max_calls probe slots; a slow probe is a failed
 * one. A call is admitted while
 * probes in flight + probes succeeded < half_open_max_calls, and holds a
 * slot until its verdict; a probe with no verdict frees its slot, and so
 * does one that has held it for probe_timeout (its late verdict is then
 * ignored as stale). When half_open_max_calls probes have succeeded it
 * closes with the window cleared; the first failure reopens it for a fresh
 * open_duration.
 * Each transition starts a new generation; a result recorded with a ticket
 * from an older generation is ignored. Rejected calls are not failures.
 *
 * CLOSED also throttles (throttle_k > 0): it rejects a call locally with
 * probability max(0, (requests - throttle_k * accepts) / (requests + 1))
 * over the last throttle_window_ns (Google SRE's adaptive throttling), once
 * that window holds minimum_calls requests. A request is a call that gave
 * a verdict or that the client's deadline ended at the server (sent, not
 * answered), counted at its end, in any state; or one the throttle
 * rejected. An accept is a success verdict. So the dependency is sent about
 * throttle_k times what it accepts: a dependency that answers nothing in
 * time gets a trickle, and the trickle grows as it answers again. Closing
 * from HALF_OPEN clears its window as well as the breaker's.
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
  int64_t probe_timeout_ns;      /* > 0: the longest a probe holds a slot */
  int64_t slow_call_duration_ns; /* 0: no slow-call rule; else > 0 */
  double slow_call_rate_threshold; /* (0, 1], used with the rule */
  double open_duration_multiplier; /* [1, 10] */
  int64_t max_open_duration_ns;    /* >= open_duration_ns */
  double open_duration_jitter;     /* [0, 0.5] */
  double throttle_k;               /* 0: no throttling; else [1, 10] */
  int64_t throttle_window_ns;      /* > 0 */
} grpcr_breaker_config;

/* 0.5, 20 calls, 10 s window, 30 s open, 1 probe, UNAVAILABLE and
 * RESOURCE_EXHAUSTED, 10 s probe timeout, no slow-call rule (rate 1), open
 * period x2 per reopening up to 300 s, jitter 0.2, throttling with k 3
 * over 2 s. */
GRPCR_API grpcr_breaker_config grpcr_breaker_config_default(void);
/* true if cfg is within the ranges above (and not NULL). */
GRPCR_API bool grpcr_breaker_config_valid(const grpcr_breaker_config *cfg);
/* true if every setting is the same. */
GRPCR_API bool grpcr_breaker_config_equal(const grpcr_breaker_config *a,
                                          const grpcr_breaker_config *b);

/* Where a call's final status came from. */
typedef enum {
  /* From the dependency or the way to it: a status the server sent, a
   * refused or broken connection, a failed pick. */
  GRPCR_ORIGIN_REMOTE = 0,
  GRPCR_ORIGIN_CANCELLED, /* the application cancelled the call */
  GRPCR_ORIGIN_DEADLINE,  /* the client enforced the call's deadline */
  GRPCR_ORIGIN_LOCAL,     /* the client failed the request itself (a local
                             size limit): the dependency never saw it */
} grpcr_status_origin;

typedef enum {
  GRPCR_VERDICT_NONE = 0,
  GRPCR_VERDICT_SUCCESS,
  GRPCR_VERDICT_FAILURE,
} grpcr_verdict;

/* REMOTE: FAILURE for a trip code, else SUCCESS. CANCELLED: FAILURE if
 * trip_codes lists CANCELLED, else NONE, whatever status_code the cancel
 * carried (an application may cancel with UNAVAILABLE). DEADLINE: FAILURE
 * if trip_codes lists DEADLINE_EXCEEDED, else NONE. LOCAL: always NONE.
 * Codes outside 0..16 are UNKNOWN. */
GRPCR_API grpcr_verdict grpcr_breaker_verdict(const grpcr_breaker_config *cfg,
                                              int status_code,
                                              grpcr_status_origin origin);

/* A state change, reported to the caller for tracing. */
typedef struct {
  bool happened;
  grpcr_breaker_state from, to;
} grpcr_breaker_transition;

typedef struct grpcr_breaker grpcr_breaker;

/* A breaker with one reference, the caller's; its jitter seeded from the
 * OS. NULL if cfg is invalid or memory runs out. */
GRPCR_API grpcr_breaker *grpcr_breaker_create(const grpcr_breaker_config *cfg,
                                              int64_t now_ns);
/* The same with the jitter's generator seeded with seed (tests). */
GRPCR_API grpcr_breaker *grpcr_breaker_create_seeded(
    const grpcr_breaker_config *cfg, int64_t now_ns, uint64_t seed);
/* Shared ownership: ref adds a reference, destroy drops one; the last drop
 * frees the breaker. Thread-safe; destroy(NULL) is a no-op. */
GRPCR_API void grpcr_breaker_ref(grpcr_breaker *b);
GRPCR_API void grpcr_breaker_destroy(grpcr_breaker *b);

/* Applies new settings in place; the state, its generation (so tickets stay
 * valid), probes in flight and every counter carry over. The window keeps
 * its counts (as grpcr_budget_reconfigure does). OPEN measures the new
 * open_duration from when it opened: if that has passed, it is HALF_OPEN at
 * once. Fewer probe slots free the probes beyond them (no verdict); if
 * no more probes are needed than have already succeeded, it closes at once.
 * The new threshold and minimum apply from the next verdict. Returns 0,
 * GRPCR_EINVAL (invalid cfg: nothing changed) or GRPCR_ENOMEM. tr may be
 * NULL. */
GRPCR_API int grpcr_breaker_reconfigure(grpcr_breaker *b,
                                        const grpcr_breaker_config *cfg,
                                        int64_t now_ns,
                                        grpcr_breaker_transition *tr);

/* What an admitted call carries to its grpcr_breaker_record(). */
typedef struct {
  uint64_t generation;
  grpcr_breaker_state admitted_in;
  uint32_t slot; /* HALF_OPEN: the probe slot held */
  uint64_t seq;  /* HALF_OPEN: that slot's lease */
} grpcr_breaker_ticket;

typedef enum {
  GRPCR_ADMITTED = 0,
  GRPCR_REJECTED_OPEN,      /* OPEN, or HALF_OPEN with every slot taken */
  GRPCR_REJECTED_THROTTLED, /* CLOSED, rejected by adaptive throttling */
} grpcr_admission;

/* May a call start now? ADMITTED: *ticket filled. Otherwise rejected and
 * counted (rejected_total or throttled_total). May move OPEN -> HALF_OPEN
 * (reported in *tr if tr is not NULL). */
GRPCR_API grpcr_admission grpcr_breaker_acquire(grpcr_breaker *b,
                                                int64_t now_ns,
                                                grpcr_breaker_ticket *ticket,
                                                grpcr_breaker_transition *tr);
/* grpcr_breaker_acquire(...) == GRPCR_ADMITTED. */
GRPCR_API bool grpcr_breaker_try_acquire(grpcr_breaker *b, int64_t now_ns,
                                         grpcr_breaker_ticket *ticket,
                                         grpcr_breaker_transition *tr);
/* An admitted call's end, as the breaker judges it. */
typedef struct {
  int status_code;
  grpcr_status_origin origin;
  int64_t duration_ns;  /* from admission to the verdict */
  /* The client's deadline ended it while an attempt was at the server
   * (sent, not answered): slow, under a slow-call rule. */
  bool deadline_in_flight;
} grpcr_call_result;

/* Records an admitted call's verdict (grpcr_breaker_verdict) and whether
 * it was slow. Every ticket must be recorded (or released) exactly once.
 * tr may be NULL. */
GRPCR_API void grpcr_breaker_record_result(grpcr_breaker *b,
                                           const grpcr_breaker_ticket *ticket,
                                           const grpcr_call_result *result,
                                           int64_t now_ns,
                                           grpcr_breaker_transition *tr);
/* Records an admitted call's verdict, from its status and where the
 * status came from (a call of no duration). Every ticket must be recorded
 * (or released) exactly once. tr may be NULL. */
GRPCR_API void grpcr_breaker_record_outcome(grpcr_breaker *b,
                                            const grpcr_breaker_ticket *ticket,
                                            int status_code,
                                            grpcr_status_origin origin,
                                            int64_t now_ns,
                                            grpcr_breaker_transition *tr);
/* grpcr_breaker_record_outcome with GRPCR_ORIGIN_REMOTE. */
GRPCR_API void grpcr_breaker_record(grpcr_breaker *b,
                                    const grpcr_breaker_ticket *ticket,
                                    int status_code, int64_t now_ns,
                                    grpcr_breaker_transition *tr);
/* May the call holding ticket make another attempt now? true while CLOSED,
 * and in HALF_OPEN for a probe that still holds its slot (within
 * probe_timeout): a probe retries within its own slot, never a second one.
 * false while OPEN (even if HALF_OPEN is due: the ticket holds no slot of
 * that generation), and in HALF_OPEN for any other ticket. Changes no
 * state and counts nothing. */
GRPCR_API bool grpcr_breaker_admits_retry(grpcr_breaker *b,
                                          const grpcr_breaker_ticket *ticket,
                                          int64_t now_ns);
/* Gives a ticket back with no verdict (a call that ended without one, or
 * was destroyed before its status was read): a probe frees its slot. */
GRPCR_API void grpcr_breaker_release(grpcr_breaker *b,
                                     const grpcr_breaker_ticket *ticket,
                                     int64_t now_ns);

typedef struct {
  grpcr_breaker_state state;
  int64_t time_in_state_ns;
  uint64_t calls_in_window;
  uint64_t failures_in_window;
  uint64_t slow_calls_in_window; /* 0 without a slow-call rule */
  uint64_t slow_calls_total;
  int64_t slow_call_duration_ns; /* configured; 0: no rule */
  double slow_call_rate_threshold;
  uint64_t rejected_total;    /* calls refused while OPEN or HALF_OPEN */
  uint64_t transitions_total; /* every state change */
  uint64_t opened_total;      /* transitions into OPEN */
  uint64_t stale_results_total; /* results ignored: older generation */
  int64_t open_ns_total;      /* time spent OPEN, including the current */
  int64_t open_duration_ns;   /* configured */
  /* The open period in force (OPEN), or the last one: jittered, grown by
   * reopenings. */
  int64_t open_period_ns;
  uint64_t no_verdict_total;  /* admitted calls that gave no verdict */
  uint64_t probes_freed_total;   /* of those, HALF_OPEN probes */
  uint64_t probes_expired_total; /* probes freed by probe_timeout */
  uint32_t probes_in_flight;     /* HALF_OPEN slots held now */
  int64_t probe_timeout_ns;      /* configured */
  uint64_t reconfigured_total;   /* settings changed in place */
  /* Adaptive throttling: calls it rejected, its window's counts, the
   * probability a call starting now is rejected, its settings. */
  uint64_t throttled_total;
  uint64_t throttle_requests_in_window;
  uint64_t throttle_accepts_in_window;
  double throttle_probability;
  double throttle_k;
  int64_t throttle_window_ns;
} grpcr_breaker_snapshot;

/* Applies a due OPEN -> HALF_OPEN transition first, so an idle breaker does
 * not read OPEN forever; it never moves the breaker's clock. */
GRPCR_API void grpcr_breaker_snapshot_get(grpcr_breaker *b, int64_t now_ns,
                                          grpcr_breaker_snapshot *out);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_BREAKER_H */
