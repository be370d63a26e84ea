/* Per-channel counters and the process registry the stats RPC reads.
 *
 * Counters are C11 atomics (release adds, acquire loads): the call path only
 * ever adds, so no lock is taken on it. A snapshot reads each counter once;
 * it is consistent in the sense operators need (every counter only
 * increases, and counters are read in an order that keeps
 * requests >= finished calls and attempts + rejected >= finished calls at
 * all times). The registry's list is guarded by a mutex taken only to add,
 * remove and snapshot. */
#ifndef GRPCR_STATS_H
#define GRPCR_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpcr/breaker.h"
#include "grpcr/budget.h"
#include "grpcr/common.h"
#include "grpcr/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* attempts_by_number[i] counts attempts number i + 1; the last slot counts
 * attempt GRPCR_STATS_ATTEMPT_SLOTS and every later one. */
#define GRPCR_STATS_ATTEMPT_SLOTS 10

/* Retry-wait histogram: upper bounds in seconds, then +Inf. */
#define GRPCR_STATS_WAIT_BOUNDS                                              \
  {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,   \
   10.0, 30.0, 60.0}
#define GRPCR_STATS_WAIT_FINITE_BUCKETS 15
#define GRPCR_STATS_WAIT_BUCKETS (GRPCR_STATS_WAIT_FINITE_BUCKETS + 1)

/* The finite upper bound of bucket i in seconds (i < FINITE_BUCKETS). */
GRPCR_API double grpcr_stats_wait_bound(size_t i);

typedef struct grpcr_channel_stats grpcr_channel_stats;
typedef struct grpcr_registry grpcr_registry;

GRPCR_API grpcr_registry *grpcr_registry_create(void);
/* Frees the registry and every entry still in it. */
GRPCR_API void grpcr_registry_destroy(grpcr_registry *r);

/* A new entry for one channel (name and target are copied). NULL on ENOMEM.
 * The entry's instance number is the lowest that no live entry with the
 * same name and target holds (1 for the first), and never changes while
 * it lives: the channel's labels are stable whatever channels come and go.
 * Thread-safe. */
GRPCR_API grpcr_channel_stats *grpcr_registry_add(grpcr_registry *r,
                                                  const char *name,
                                                  const char *target);
/* fork() without exec: a child inherits the registry's mutex as it was. A
 * process that may fork while another thread reads or changes the registry
 * registers these with pthread_atfork (the shim does for its registry):
 * prepare takes the mutex, so that no snapshot (and no breaker or budget
 * lock a snapshot takes) is half-done at the fork; parent and child give it
 * back. */
GRPCR_API void grpcr_registry_fork_prepare(grpcr_registry *r);
GRPCR_API void grpcr_registry_fork_parent(grpcr_registry *r);
GRPCR_API void grpcr_registry_fork_child(grpcr_registry *r);

/* Removes and frees the entry, dropping its references on the breaker and
 * budget attached. */
GRPCR_API void grpcr_registry_remove(grpcr_registry *r,
                                     grpcr_channel_stats *s);
/* Attaches (or, with NULL, detaches) the channel's current breaker and
 * budget, whose state the snapshots then include. The entry takes a
 * reference on each and drops those of the pair it replaces. Thread-safe
 * against snapshots: a snapshot sees the old pair or the new one. */
GRPCR_API void grpcr_registry_attach(grpcr_registry *r,
                                     grpcr_channel_stats *s,
                                     grpcr_breaker *breaker,
                                     grpcr_budget *budget);

/* The call path. All thread-safe and lock-free. */
GRPCR_API void grpcr_stats_on_request(grpcr_channel_stats *s);
/* attempt_number is 1 for the first attempt. */
GRPCR_API void grpcr_stats_on_attempt(grpcr_channel_stats *s,
                                      uint32_t attempt_number);
/* A hedge started: an attempt after the first that is not a retry. It
 * counts in retries (every attempt after the first) and in hedges. */
GRPCR_API void grpcr_stats_on_hedge(grpcr_channel_stats *s);
/* A retry was scheduled after waiting wait_ns. */
GRPCR_API void grpcr_stats_on_retry(grpcr_channel_stats *s, int64_t wait_ns);
GRPCR_API void grpcr_stats_on_budget_denied(grpcr_channel_stats *s);
/* A retry not made because the breaker admitted no further attempt of its
 * call (OPEN, or HALF_OPEN and the call holds no probe slot). */
GRPCR_API void grpcr_stats_on_breaker_stopped_retry(grpcr_channel_stats *s);
GRPCR_API void grpcr_stats_on_rejected(grpcr_channel_stats *s);
/* A call the breaker's adaptive throttling failed fast. */
GRPCR_API void grpcr_stats_on_throttled(grpcr_channel_stats *s);
/* A call whose request broke a local limit (sent as without the filter,
 * never retried, no breaker verdict). */
GRPCR_API void grpcr_stats_on_local_error(grpcr_channel_stats *s);
/* A call whose request exceeded the per-RPC retry buffer: sent once. */
GRPCR_API void grpcr_stats_on_committed_too_large(grpcr_channel_stats *s);
/* A service-config change that replaced the channel's policy. */
GRPCR_API void grpcr_stats_on_config_update(grpcr_channel_stats *s);
/* The call's one final status. Codes outside 0..16 count as UNKNOWN. */
GRPCR_API void grpcr_stats_on_final(grpcr_channel_stats *s, int code);

/* Per-method figures, recorded when a call ends. A channel keeps its own
 * entry for at most GRPCR_METHOD_STATS_MAX methods (the shim asks only for
 * methods its service config names); every other call, and every call past
 * that bound, is recorded under GRPCR_METHOD_OTHER, so the number of series
 * a channel exports is bounded whatever methods are called. */
#define GRPCR_METHOD_STATS_MAX 64
#define GRPCR_METHOD_OTHER "other"
/* Bucket bounds of the retries-per-call histogram (gRFC A96's
 * grpc.client.call.retries), upper-inclusive; one +Inf bucket follows. */
#define GRPCR_STATS_RETRIES_BOUNDS {1, 2, 3, 4, 5, 10, 20, 50, 100}
#define GRPCR_STATS_RETRIES_FINITE_BUCKETS 9
#define GRPCR_STATS_RETRIES_BUCKETS (GRPCR_STATS_RETRIES_FINITE_BUCKETS + 1)
GRPCR_API double grpcr_stats_retries_bound(size_t i);

typedef struct grpcr_method_stats grpcr_method_stats;

/* The retry decision's view of a method's latency: the median of its last
 * GRPCR_LATENCY_SAMPLES successful attempts (start to OK status) on the
 * channel, once GRPCR_LATENCY_MIN_SAMPLES exist. */
#define GRPCR_LATENCY_SAMPLES 64
#define GRPCR_LATENCY_MIN_SAMPLES 10

/* The entry of method (a full path, "/pkg.Service/Method", len bytes) on
 * the channel, created if new; the GRPCR_METHOD_OTHER entry if method is
 * NULL, if the channel already has GRPCR_METHOD_STATS_MAX methods, or on
 * ENOMEM (then NULL if even that one cannot be made). Lives as long as the
 * channel's stats. Thread-safe; lock-free once the entry exists. */
GRPCR_API grpcr_method_stats *grpcr_stats_method(grpcr_channel_stats *s,
                                                 const char *method,
                                                 size_t len);
/* One finished call: its attempts (0 for a call the breaker rejected), its
 * final status, and the backoff delays it waited in all. A call with
 * retries (attempts > 1) is also recorded in the retries and retry-delay
 * histograms, as A96 records them. NULL m is a no-op. */
GRPCR_API void grpcr_method_stats_on_final(grpcr_method_stats *m,
                                           uint32_t attempts, int code,
                                           int64_t retry_delay_ns);
/* An attempt of the method ended OK latency_ns after it started. NULL m,
 * and the GRPCR_METHOD_OTHER entry (which mixes methods), are no-ops. */
GRPCR_API void grpcr_method_stats_on_attempt_ok(grpcr_method_stats *m,
                                                int64_t latency_ns);
/* The median of the method's recent successful attempts: false (and *out
 * 0) with fewer than GRPCR_LATENCY_MIN_SAMPLES, for NULL m, and always for
 * the GRPCR_METHOD_OTHER entry. */
GRPCR_API bool grpcr_method_stats_median_ok_ns(grpcr_method_stats *m,
                                               int64_t *out);
/* A retry not made because the call's deadline could not fit it (the
 * backoff alone passes it, or what would be left is less than the median
 * above). NULL m is a no-op. */
GRPCR_API void grpcr_method_stats_on_retry_skipped_deadline(
    grpcr_method_stats *m);
/* An attempt cancelled by perAttemptTimeout. NULL m is a no-op. */
GRPCR_API void grpcr_method_stats_on_attempt_timeout(grpcr_method_stats *m);

/* Hedging (include/grpcr/hedging.h). NULL m is a no-op for each. */
/* A hedge started (an attempt after the first of a hedged call). */
GRPCR_API void grpcr_method_stats_on_hedge(grpcr_method_stats *m);
/* A hedge the retry budget refused. */
GRPCR_API void grpcr_method_stats_on_hedge_denied(grpcr_method_stats *m);
/* An attempt of a hedged call cancelled because another committed it. */
GRPCR_API void grpcr_method_stats_on_hedge_cancelled(grpcr_method_stats *m);
/* A hedged call ended: its attempts, its status, and the number of the
 * attempt it took its result from (0: none, as for a cancel). Its hedges
 * (attempts - 1) go to the hedges histogram (gRFC A96's
 * grpc.client.call.hedges, only when there were some), never to the
 * retries; a result from an attempt after the first is a hedge that won. */
GRPCR_API void grpcr_method_stats_on_hedged_final(grpcr_method_stats *m,
                                                  uint32_t attempts, int code,
                                                  uint32_t winner);
/* A hedged call of a method with an adaptive delay answered OK latency_ns
 * after its first attempt started, at now_ns: recorded in the window the
 * delay is read from. */
GRPCR_API void grpcr_method_stats_on_hedged_ok(grpcr_method_stats *m,
                                               int64_t now_ns,
                                               int64_t latency_ns);
/* The method's latency at quantile q (0 < q < 1) over the window ending at
 * now_ns, once it holds min_samples calls: true and *out; false (*out 0)
 * before, and always for the GRPCR_METHOD_OTHER entry. Read at most every
 * 100 ms; the value read is the one the stats report as the delay. */
GRPCR_API bool grpcr_method_stats_latency_quantile(grpcr_method_stats *m,
                                                   int64_t now_ns, double q,
                                                   uint32_t min_samples,
                                                   int64_t *out);

typedef struct {
  char *method; /* "/pkg.Service/Method" or GRPCR_METHOD_OTHER */
  uint64_t requests; /* calls ended */
  uint64_t attempts;
  uint64_t retries;
  uint64_t status_counts[GRPCR_STATUS_COUNT];
  /* Calls that retried: retries per call, and the delay they waited. */
  uint64_t retries_buckets[GRPCR_STATS_RETRIES_BUCKETS]; /* not cumulative */
  uint64_t retried_calls;
  uint64_t retries_sum;
  uint64_t delay_buckets[GRPCR_STATS_WAIT_BUCKETS]; /* not cumulative */
  double delay_sum_s;
  uint64_t retries_skipped_deadline; /* grpcr_method_stats_on_retry_... */
  uint64_t attempt_timeouts; /* attempts cancelled by perAttemptTimeout */
  double median_attempt_s;  /* 0 until GRPCR_LATENCY_MIN_SAMPLES */
  uint32_t latency_samples; /* successful attempts the median is over */
  /* Hedging: hedges started, won (the call's result came from one),
   * cancelled (attempts that lost to another), denied by the budget; the
   * hedges-per-call histogram of calls that hedged; the adaptive delay last
   * read (0 while unknown) and the calls in its window then. */
  uint64_t hedges;
  uint64_t hedges_won;
  uint64_t hedges_cancelled;
  uint64_t hedges_denied;
  uint64_t hedges_buckets[GRPCR_STATS_RETRIES_BUCKETS]; /* not cumulative */
  uint64_t hedged_calls;
  uint64_t hedges_sum;
  double hedge_delay_s;
  uint64_t hedge_delay_samples;
} grpcr_method_snapshot;

typedef struct {
  char *name;
  char *target;
  /* Which live channel of this name and target (1 for the first): the
   * exposition labels instance n > 1 channel="name#n". Fixed at creation. */
  uint32_t instance;
  uint64_t requests;         /* calls started by the application */
  uint64_t attempts;         /* attempts sent (rejected calls make none) */
  uint64_t retries;          /* attempts after the first, hedges included */
  uint64_t hedges;           /* of those, hedges (hedged methods) */
  uint64_t budget_denied;    /* retries the budget refused */
  uint64_t breaker_stopped_retries; /* retries the breaker stopped */
  uint64_t breaker_rejected; /* calls failed fast by the breaker */
  uint64_t throttled;        /* calls failed fast by adaptive throttling */
  uint64_t finished;         /* calls with a final status */
  uint64_t attempts_by_number[GRPCR_STATS_ATTEMPT_SLOTS];
  uint64_t retry_wait_buckets[GRPCR_STATS_WAIT_BUCKETS]; /* not cumulative */
  uint64_t retry_wait_count;
  double retry_wait_sum_s;
  double retry_wait_p50_s; /* 0 when there were no retries */
  double retry_wait_p99_s;
  uint64_t status_counts[GRPCR_STATUS_COUNT];
  uint64_t local_errors;        /* requests over a local limit: no verdict */
  uint64_t committed_too_large; /* requests over the retry buffer: sent once */
  uint64_t config_updates;      /* policy changes from the service config */
  bool has_breaker;
  grpcr_breaker_snapshot breaker;
  bool has_budget;
  grpcr_budget_snapshot budget;
  /* Per method, in the order the methods were first seen (other first,
   * when it has calls); freed with the snapshot. */
  grpcr_method_snapshot *methods;
  size_t method_count;
} grpcr_channel_snapshot;

/* Snapshots every entry (or only those named name_filter, if not NULL or
 * empty) into a new array; free with grpcr_channel_snapshots_free. Returns 0
 * or GRPCR_ENOMEM. Thread-safe. */
GRPCR_API int grpcr_registry_snapshot(grpcr_registry *r, int64_t now_ns,
                                      const char *name_filter,
                                      grpcr_channel_snapshot **out,
                                      size_t *count);
GRPCR_API void grpcr_channel_snapshots_free(grpcr_channel_snapshot *snaps,
                                            size_t count);

/* The q-quantile (0 < q < 1) of a wait histogram, interpolated linearly
 * inside its bucket; the +Inf bucket reports its lower bound. 0 if empty. */
GRPCR_API double grpcr_stats_wait_quantile(
    const uint64_t buckets[GRPCR_STATS_WAIT_BUCKETS], double q);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_STATS_H */
