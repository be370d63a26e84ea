/* The circuit breaker of include/grpcr/breaker.h: a CLOSED window (the
 * shared sliding window of window.h, calls and failures), an OPEN timer,
 * HALF_OPEN probe slots with leases, and a generation number that lets late
 * results from an earlier state be recognised and dropped. */
#include "grpcr/breaker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/backoff.h"
#include "grpcr/common.h"
#include "throttle.h"
#include "window.h"

/* A HALF_OPEN probe slot. seq names the lease: a ticket whose seq is not
 * the slot's current one lost the slot (timed out, or the slot was freed
 * by a reconfiguration) and its verdict is stale. */
typedef struct {
  bool busy;
  int64_t since_ns;
  uint64_t seq;
} probe_slot;

struct grpcr_breaker {
  pthread_mutex_t mu;
  _Atomic uint64_t refs;
  grpcr_breaker_config cfg;

  grpcr_breaker_state state;
  uint64_t generation;
  int64_t state_since_ns;
  /* Callers read the clock before taking the lock, so two threads can arrive
   * slightly out of order; time inside the breaker never goes backwards. */
  int64_t latest_ns;

  /* HALF_OPEN: cfg.half_open_max_calls slots. */
  probe_slot *probes;
  uint32_t n_probes;
  uint32_t probes_busy;
  uint32_t half_open_succeeded;
  uint64_t lease_seq;
  /* No busy slot expires before this (INT64_MAX when none is busy), so an
   * acquire only scans the slots when one may have expired. */
  int64_t next_expiry_ns;

  grpcr_window window; /* n[0] calls, n[1] failures, n[2] slow calls */
  grpcr_throttle throttle;

  uint64_t rejected_total;
  uint64_t transitions_total;
  uint64_t opened_total;
  uint64_t stale_results_total;
  uint64_t no_verdict_total;
  uint64_t probes_freed_total;
  uint64_t probes_expired_total;
  uint64_t reconfigured_total;
  uint64_t slow_calls_total;
  int64_t open_ns_closed_periods; /* OPEN time of periods already ended */

  /* The open period: the nominal one (open_duration, grown by reopenings)
   * and the jittered one in force. */
  int64_t open_nominal_ns;
  int64_t open_period_ns;
  grpcr_rng rng;
};

const char *grpcr_breaker_state_name(grpcr_breaker_state s) {
  switch (s) {
    case GRPCR_BREAKER_CLOSED:
      return "CLOSED";
    case GRPCR_BREAKER_OPEN:
      return "OPEN";
    case GRPCR_BREAKER_HALF_OPEN:
      return "HALF_OPEN";
  }
  return NULL;
}

grpcr_breaker_config grpcr_breaker_config_default(void) {
  grpcr_breaker_config c;
  memset(&c, 0, sizeof(c));
  c.failure_rate_threshold = 0.5;
  c.minimum_calls = 20;
  c.window_ns = 10LL * 1000000000LL;
  c.open_duration_ns = 30LL * 1000000000LL;
  c.half_open_max_calls = 1;
  c.trip_codes = GRPCR_CODE_BIT(GRPCR_STATUS_UNAVAILABLE) |
                 GRPCR_CODE_BIT(GRPCR_STATUS_RESOURCE_EXHAUSTED);
  c.probe_timeout_ns = 10LL * 1000000000LL;
  c.slow_call_duration_ns = 0;
  c.slow_call_rate_threshold = 1.0;
  c.open_duration_multiplier = 2.0;
  c.max_open_duration_ns = 300LL * 1000000000LL;
  c.open_duration_jitter = 0.2;
  c.throttle_k = 3.0;
  c.throttle_window_ns = 2LL * 1000000000LL;
  return c;
}

bool grpcr_breaker_config_equal(const grpcr_breaker_config *a,
                                const grpcr_breaker_config *b) {
  return a->failure_rate_threshold == b->failure_rate_threshold &&
         a->minimum_calls == b->minimum_calls && a->window_ns == b->window_ns &&
         a->open_duration_ns == b->open_duration_ns &&
         a->half_open_max_calls == b->half_open_max_calls &&
         a->trip_codes == b->trip_codes &&
         a->probe_timeout_ns == b->probe_timeout_ns &&
         a->slow_call_duration_ns == b->slow_call_duration_ns &&
         a->slow_call_rate_threshold == b->slow_call_rate_threshold &&
         a->open_duration_multiplier == b->open_duration_multiplier &&
         a->max_open_duration_ns == b->max_open_duration_ns &&
         a->open_duration_jitter == b->open_duration_jitter &&
         a->throttle_k == b->throttle_k &&
         a->throttle_window_ns == b->throttle_window_ns;
}

/* Time spans inside the breaker: `later` is never before `earlier` (its
 * clock only moves forward), but the two may be further apart than
 * INT64_MAX after a clock jump, so spans are unsigned and sums saturate. */
static uint64_t span(int64_t later, int64_t earlier) {
  return (uint64_t)later - (uint64_t)earlier;
}

static int64_t add_sat(int64_t t, int64_t d) {
  return t > INT64_MAX - d ? INT64_MAX : t + d;
}

static int64_t span_i64(int64_t later, int64_t earlier) {
  const uint64_t d = span(later, earlier);
  return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

bool grpcr_breaker_config_valid(const grpcr_breaker_config *c) {
  const grpcr_code_set all = GRPCR_CODE_BIT(GRPCR_STATUS_COUNT) - 1u;
  if (c == NULL) return false;
  /* Written so that a NaN threshold fails too. */
  if (!(c->failure_rate_threshold > 0.0 && c->failure_rate_threshold <= 1.0))
    return false;
  if (c->minimum_calls == 0 || c->half_open_max_calls == 0) return false;
  if (c->window_ns <= 0 || c->open_duration_ns <= 0) return false;
  if (c->probe_timeout_ns <= 0) return false;
  if (c->slow_call_duration_ns < 0) return false;
  if (!(c->slow_call_rate_threshold > 0.0 &&
        c->slow_call_rate_threshold <= 1.0))
    return false;
  if (!(c->open_duration_multiplier >= 1.0 &&
        c->open_duration_multiplier <= 10.0))
    return false;
  if (c->max_open_duration_ns < c->open_duration_ns) return false;
  if (!(c->open_duration_jitter >= 0.0 && c->open_duration_jitter <= 0.5))
    return false;
  if (!(c->throttle_k == 0.0 || (c->throttle_k >= 1.0 && c->throttle_k <= 10.0)))
    return false;
  if (c->throttle_window_ns <= 0) return false;
  if (c->trip_codes == 0 ||
      (c->trip_codes & GRPCR_CODE_BIT(GRPCR_STATUS_OK)) != 0)
    return false;
  /* Bits beyond the last status code name no status: a caller bug. */
  if ((c->trip_codes & ~all) != 0) return false;
  return true;
}

static bool is_trip_code(const grpcr_breaker_config *cfg, int status_code) {
  /* Out-of-range codes are UNKNOWN, as in stats. */
  if (status_code < 0 || status_code >= GRPCR_STATUS_COUNT)
    status_code = GRPCR_STATUS_UNKNOWN;
  return (cfg->trip_codes & GRPCR_CODE_BIT(status_code)) != 0;
}

grpcr_verdict grpcr_breaker_verdict(const grpcr_breaker_config *cfg,
                                    int status_code,
                                    grpcr_status_origin origin) {
  const bool trip = is_trip_code(cfg, status_code);
  switch (origin) {
    case GRPCR_ORIGIN_REMOTE:
      return trip ? GRPCR_VERDICT_FAILURE : GRPCR_VERDICT_SUCCESS;
    /* The status such a call carries is the application's or the client's
     * word, not the dependency's: only the code that names the origin
     * (CANCELLED, DEADLINE_EXCEEDED) in trip_codes makes it a failure. */
    case GRPCR_ORIGIN_CANCELLED:
      return is_trip_code(cfg, GRPCR_STATUS_CANCELLED) ? GRPCR_VERDICT_FAILURE
                                                       : GRPCR_VERDICT_NONE;
    case GRPCR_ORIGIN_DEADLINE:
      return is_trip_code(cfg, GRPCR_STATUS_DEADLINE_EXCEEDED)
                 ? GRPCR_VERDICT_FAILURE
                 : GRPCR_VERDICT_NONE;
    case GRPCR_ORIGIN_LOCAL:
      return GRPCR_VERDICT_NONE;
  }
  return GRPCR_VERDICT_NONE;
}

/* Returns now_ns, or the latest time already seen if now_ns is older. */
static int64_t advance_clock(grpcr_breaker *b, int64_t now_ns) {
  if (now_ns > b->latest_ns) b->latest_ns = now_ns;
  return b->latest_ns;
}

static void free_all_probes(grpcr_breaker *b) {
  for (uint32_t i = 0; i < b->n_probes; i++) b->probes[i].busy = false;
  b->probes_busy = 0;
  b->next_expiry_ns = INT64_MAX;
}

/* The next open period: open_duration from CLOSED; the last nominal one
 * times the multiplier (capped) from HALF_OPEN; shortened by the jitter. */
static void next_open_period(grpcr_breaker *b, grpcr_breaker_state from) {
  if (from == GRPCR_BREAKER_HALF_OPEN && b->open_nominal_ns > 0) {
    const double grown =
        (double)b->open_nominal_ns * b->cfg.open_duration_multiplier;
    b->open_nominal_ns = grown >= (double)b->cfg.max_open_duration_ns
                             ? b->cfg.max_open_duration_ns
                             : (int64_t)grown;
  } else {
    b->open_nominal_ns = b->cfg.open_duration_ns;
  }
  const double cut = b->cfg.open_duration_jitter * grpcr_rng_uniform(&b->rng);
  int64_t period = (int64_t)((double)b->open_nominal_ns * (1.0 - cut));
  b->open_period_ns = period > 0 ? period : 1;
}

static void transition(grpcr_breaker *b, grpcr_breaker_state to,
                       int64_t now_ns, grpcr_breaker_transition *tr) {
  grpcr_breaker_state from = b->state;
  if (from == GRPCR_BREAKER_OPEN)
    b->open_ns_closed_periods =
        add_sat(b->open_ns_closed_periods, span_i64(now_ns, b->state_since_ns));
  b->state = to;
  b->state_since_ns = now_ns;
  b->generation++;
  b->transitions_total++;
  /* Tickets of the old generation are stale from here on, so their slots
   * are free. */
  free_all_probes(b);
  b->half_open_succeeded = 0;
  if (to == GRPCR_BREAKER_OPEN) {
    b->opened_total++;
    next_open_period(b, from);
  }
  if (to == GRPCR_BREAKER_CLOSED) {
    /* The probes said the dependency is back: both windows start afresh. */
    grpcr_window_clear(&b->window);
    grpcr_window_clear(&b->throttle.window);
    b->open_nominal_ns = 0; /* the sequence starts again */
  }
  if (tr != NULL) {
    tr->happened = true;
    tr->from = from;
    tr->to = to;
  }
}

/* Division, not failures >= threshold * calls: the product can round up
 * (0.07 * 100 is 7.000000000000001), whereas failures / calls is the nearest
 * double to the exact rate, so a rate equal to the configured decimal
 * compares equal to it. calls >= minimum_calls >= 1 here. */
static bool should_open(const grpcr_breaker *b) {
  const uint64_t calls = b->window.sum[0], failures = b->window.sum[1];
  if (calls < b->cfg.minimum_calls) return false;
  if ((double)failures / (double)calls >= b->cfg.failure_rate_threshold)
    return true;
  return b->cfg.slow_call_duration_ns > 0 &&
         (double)b->window.sum[2] / (double)calls >=
             b->cfg.slow_call_rate_threshold;
}

/* Under a slow-call rule: the call took longer than the threshold, or the
 * client's deadline ended it at the server. */
static bool is_slow(const grpcr_breaker_config *cfg,
                    const grpcr_call_result *r) {
  if (cfg->slow_call_duration_ns <= 0) return false;
  if (r->duration_ns > cfg->slow_call_duration_ns) return true;
  return r->origin == GRPCR_ORIGIN_DEADLINE && r->deadline_in_flight;
}

/* OPEN lasts exactly its open period: once it has passed, the breaker is
 * HALF_OPEN from that moment, whoever notices first (a call or a snapshot).
 * Placing the transition at its due time, not at the noticing, keeps the
 * state, time in state and time spent open the same either way. */
static void maybe_half_open(grpcr_breaker *b, int64_t now_ns,
                            grpcr_breaker_transition *tr) {
  if (b->state != GRPCR_BREAKER_OPEN) return;
  if (span(now_ns, b->state_since_ns) < (uint64_t)b->open_period_ns) return;
  transition(b, GRPCR_BREAKER_HALF_OPEN,
             add_sat(b->state_since_ns, b->open_period_ns), tr);
}

/* Frees the probe slots held for probe_timeout or longer. */
static void expire_probes(grpcr_breaker *b, int64_t now_ns) {
  if (now_ns < b->next_expiry_ns) return;
  int64_t next = INT64_MAX;
  for (uint32_t i = 0; i < b->n_probes; i++) {
    probe_slot *p = &b->probes[i];
    if (!p->busy) continue;
    const int64_t due = add_sat(p->since_ns, b->cfg.probe_timeout_ns);
    if (span(now_ns, p->since_ns) >= (uint64_t)b->cfg.probe_timeout_ns) {
      p->busy = false;
      b->probes_busy--;
      b->probes_expired_total++;
    } else if (due < next) {
      next = due;
    }
  }
  b->next_expiry_ns = next;
}

/* Takes a free probe slot (the caller checked that one is free). */
static void lease_probe(grpcr_breaker *b, int64_t now_ns,
                        grpcr_breaker_ticket *ticket) {
  for (uint32_t i = 0; i < b->n_probes; i++) {
    probe_slot *p = &b->probes[i];
    if (p->busy) continue;
    p->busy = true;
    p->since_ns = now_ns;
    p->seq = ++b->lease_seq;
    b->probes_busy++;
    const int64_t due = add_sat(now_ns, b->cfg.probe_timeout_ns);
    if (due < b->next_expiry_ns) b->next_expiry_ns = due;
    ticket->slot = i;
    ticket->seq = p->seq;
    return;
  }
}

/* The slot a HALF_OPEN ticket still holds, or NULL if its lease is gone. */
static probe_slot *held_slot(grpcr_breaker *b,
                             const grpcr_breaker_ticket *ticket) {
  if (ticket->slot >= b->n_probes) return NULL;
  probe_slot *p = &b->probes[ticket->slot];
  return p->busy && p->seq == ticket->seq ? p : NULL;
}

grpcr_breaker *grpcr_breaker_create(const grpcr_breaker_config *cfg,
                                    int64_t now_ns) {
  return grpcr_breaker_create_seeded(cfg, now_ns, grpcr_rng_os_seed());
}

grpcr_breaker *grpcr_breaker_create_seeded(const grpcr_breaker_config *cfg,
                                           int64_t now_ns, uint64_t seed) {
  if (!grpcr_breaker_config_valid(cfg)) return NULL;
  grpcr_breaker *b = calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  b->probes = calloc(cfg->half_open_max_calls, sizeof(*b->probes));
  if (b->probes == NULL || pthread_mutex_init(&b->mu, NULL) != 0) {
    free(b->probes);
    free(b);
    return NULL;
  }
  atomic_init(&b->refs, 1);
  b->cfg = *cfg;
  b->n_probes = cfg->half_open_max_calls;
  b->next_expiry_ns = INT64_MAX;
  b->state = GRPCR_BREAKER_CLOSED;
  b->state_since_ns = now_ns;
  b->latest_ns = now_ns;
  b->open_period_ns = cfg->open_duration_ns;
  grpcr_rng_seed(&b->rng, seed);
  grpcr_window_init(&b->window, cfg->window_ns, now_ns);
  grpcr_throttle_init(&b->throttle, cfg->throttle_k, cfg->throttle_window_ns,
                      cfg->minimum_calls, now_ns);
  return b;
}

void grpcr_breaker_ref(grpcr_breaker *b) {
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void grpcr_breaker_destroy(grpcr_breaker *b) {
  if (b == NULL) return;
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
    return;
  pthread_mutex_destroy(&b->mu);
  free(b->probes);
  free(b);
}

/* Resizes the probe slots, keeping slot i for i below the new count (so
 * tickets stay valid) and freeing the rest. false on ENOMEM. */
static bool resize_probes(grpcr_breaker *b, uint32_t n) {
  if (n == b->n_probes) return true;
  probe_slot *p = calloc(n, sizeof(*p));
  if (p == NULL) return false;
  const uint32_t keep = n < b->n_probes ? n : b->n_probes;
  memcpy(p, b->probes, keep * sizeof(*p));
  for (uint32_t i = keep; i < b->n_probes; i++) {
    if (!b->probes[i].busy) continue;
    b->probes_busy--;
    b->no_verdict_total++;
    b->probes_freed_total++;
  }
  free(b->probes);
  b->probes = p;
  b->n_probes = n;
  return true;
}

int grpcr_breaker_reconfigure(grpcr_breaker *b,
                              const grpcr_breaker_config *cfg, int64_t now_ns,
                              grpcr_breaker_transition *tr) {
  if (tr != NULL) tr->happened = false;
  if (b == NULL || !grpcr_breaker_config_valid(cfg)) return GRPCR_EINVAL;
  pthread_mutex_lock(&b->mu);
  int rc = 0;
  now_ns = advance_clock(b, now_ns);
  if (!grpcr_breaker_config_equal(&b->cfg, cfg)) {
    if (!resize_probes(b, cfg->half_open_max_calls)) {
      rc = GRPCR_ENOMEM;
    } else {
      grpcr_window_resize(&b->window, cfg->window_ns, now_ns);
      grpcr_throttle_configure(&b->throttle, cfg->throttle_k,
                               cfg->throttle_window_ns, cfg->minimum_calls,
                               now_ns);
      b->cfg = *cfg;
      /* Leases keep their start; a shorter timeout applies to them now. */
      b->next_expiry_ns = INT64_MIN;
      b->reconfigured_total++;
      /* New settings start the open-period sequence again: an OPEN breaker
       * is open for the new open_duration from when it opened. */
      b->open_nominal_ns = b->state == GRPCR_BREAKER_CLOSED
                               ? 0
                               : cfg->open_duration_ns;
      b->open_period_ns = cfg->open_duration_ns;
      if (b->state == GRPCR_BREAKER_OPEN &&
          span(now_ns, b->state_since_ns) >= (uint64_t)cfg->open_duration_ns) {
        /* Never placed before now: until this moment it was rejecting. */
        transition(b, GRPCR_BREAKER_HALF_OPEN, now_ns, tr);
      } else if (b->state == GRPCR_BREAKER_HALF_OPEN &&
                 b->half_open_succeeded >= cfg->half_open_max_calls) {
        /* Fewer probes needed than have already succeeded. */
        transition(b, GRPCR_BREAKER_CLOSED, now_ns, tr);
      }
    }
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

/* CLOSED: the throttle's decision (a draw only when it may reject, so a
 * healthy channel never touches the generator). */
static bool throttle_admits(grpcr_breaker *b, int64_t now_ns) {
  const double p = grpcr_throttle_probability_now(&b->throttle, now_ns);
  return grpcr_throttle_admit(&b->throttle, now_ns, p,
                              p > 0.0 ? grpcr_rng_uniform(&b->rng) : 1.0);
}

grpcr_admission grpcr_breaker_acquire(grpcr_breaker *b, int64_t now_ns,
                                      grpcr_breaker_ticket *ticket,
                                      grpcr_breaker_transition *tr) {
  bool admitted = false;
  if (tr != NULL) tr->happened = false;
  pthread_mutex_lock(&b->mu);
  now_ns = advance_clock(b, now_ns);
  maybe_half_open(b, now_ns, tr);
  ticket->slot = UINT32_MAX;
  ticket->seq = 0;
  switch (b->state) {
    case GRPCR_BREAKER_CLOSED:
      if (!throttle_admits(b, now_ns)) {
        pthread_mutex_unlock(&b->mu);
        return GRPCR_REJECTED_THROTTLED;
      }
      admitted = true;
      break;
    case GRPCR_BREAKER_OPEN:
      admitted = false;
      break;
    case GRPCR_BREAKER_HALF_OPEN:
      expire_probes(b, now_ns);
      admitted = b->probes_busy + b->half_open_succeeded <
                 b->cfg.half_open_max_calls;
      if (admitted) lease_probe(b, now_ns, ticket);
      break;
  }
  if (admitted) {
    ticket->generation = b->generation;
    ticket->admitted_in = b->state;
  } else {
    b->rejected_total++;
  }
  pthread_mutex_unlock(&b->mu);
  return admitted ? GRPCR_ADMITTED : GRPCR_REJECTED_OPEN;
}

bool grpcr_breaker_try_acquire(grpcr_breaker *b, int64_t now_ns,
                               grpcr_breaker_ticket *ticket,
                               grpcr_breaker_transition *tr) {
  return grpcr_breaker_acquire(b, now_ns, ticket, tr) == GRPCR_ADMITTED;
}

static void record_verdict(grpcr_breaker *b,
                           const grpcr_breaker_ticket *ticket,
                           grpcr_verdict verdict, bool slow, int64_t now_ns,
                           grpcr_breaker_transition *tr) {
  now_ns = advance_clock(b, now_ns);
  /* OPEN never hands out tickets, so a current-generation ticket there can
   * only be a caller bug; it is dropped like a stale one. */
  if (ticket->generation != b->generation || b->state == GRPCR_BREAKER_OPEN) {
    b->stale_results_total++;
    return;
  }
  if (slow) b->slow_calls_total++;
  if (b->state == GRPCR_BREAKER_CLOSED) {
    if (verdict == GRPCR_VERDICT_NONE && !slow) {
      b->no_verdict_total++;
      return;
    }
    grpcr_window_add3(&b->window, now_ns, 1,
                      verdict == GRPCR_VERDICT_FAILURE ? 1 : 0, slow ? 1 : 0);
    if (should_open(b)) transition(b, GRPCR_BREAKER_OPEN, now_ns, tr);
    return;
  }
  /* A lease past probe_timeout is over whether or not an acquire has
   * noticed yet: its late verdict is stale, as grpcr_breaker_admits_retry
   * already said. */
  expire_probes(b, now_ns);
  probe_slot *slot = held_slot(b, ticket);
  if (slot == NULL) {
    /* Its lease ran out (and may have gone to another probe). */
    b->stale_results_total++;
    return;
  }
  slot->busy = false;
  b->probes_busy--;
  if (verdict == GRPCR_VERDICT_NONE && !slow) {
    b->no_verdict_total++;
    b->probes_freed_total++;
  } else if (verdict == GRPCR_VERDICT_FAILURE || slow) {
    transition(b, GRPCR_BREAKER_OPEN, now_ns, tr);
  } else if (++b->half_open_succeeded >= b->cfg.half_open_max_calls) {
    transition(b, GRPCR_BREAKER_CLOSED, now_ns, tr);
  }
}

void grpcr_breaker_record_result(grpcr_breaker *b,
                                 const grpcr_breaker_ticket *ticket,
                                 const grpcr_call_result *result,
                                 int64_t now_ns,
                                 grpcr_breaker_transition *tr) {
  if (tr != NULL) tr->happened = false;
  pthread_mutex_lock(&b->mu);
  const grpcr_verdict verdict =
      grpcr_breaker_verdict(&b->cfg, result->status_code, result->origin);
  /* The throttle hears every result about the dependency, from any state
   * and generation: a stale verdict is still an answer it gave. */
  if (verdict != GRPCR_VERDICT_NONE ||
      (result->origin == GRPCR_ORIGIN_DEADLINE && result->deadline_in_flight)) {
    grpcr_throttle_record(&b->throttle, advance_clock(b, now_ns),
                          verdict == GRPCR_VERDICT_SUCCESS);
  }
  record_verdict(b, ticket, verdict, is_slow(&b->cfg, result), now_ns, tr);
  pthread_mutex_unlock(&b->mu);
}

void grpcr_breaker_record_outcome(grpcr_breaker *b,
                                  const grpcr_breaker_ticket *ticket,
                                  int status_code, grpcr_status_origin origin,
                                  int64_t now_ns,
                                  grpcr_breaker_transition *tr) {
  const grpcr_call_result r = {status_code, origin, 0, false};
  grpcr_breaker_record_result(b, ticket, &r, now_ns, tr);
}

void grpcr_breaker_record(grpcr_breaker *b, const grpcr_breaker_ticket *ticket,
                          int status_code, int64_t now_ns,
                          grpcr_breaker_transition *tr) {
  grpcr_breaker_record_outcome(b, ticket, status_code, GRPCR_ORIGIN_REMOTE,
                               now_ns, tr);
}

bool grpcr_breaker_admits_retry(grpcr_breaker *b,
                                const grpcr_breaker_ticket *ticket,
                                int64_t now_ns) {
  bool admits = false;
  pthread_mutex_lock(&b->mu);
  now_ns = advance_clock(b, now_ns);
  switch (b->state) {
    case GRPCR_BREAKER_CLOSED:
      admits = true;
      break;
    case GRPCR_BREAKER_OPEN:
      /* Still OPEN, or due to be HALF_OPEN in a generation this ticket
       * holds no slot of: no retry either way. */
      break;
    case GRPCR_BREAKER_HALF_OPEN: {
      const probe_slot *p =
          ticket->generation == b->generation ? held_slot(b, ticket) : NULL;
      admits = p != NULL && span(now_ns, p->since_ns) <
                                (uint64_t)b->cfg.probe_timeout_ns;
      break;
    }
  }
  pthread_mutex_unlock(&b->mu);
  return admits;
}

void grpcr_breaker_release(grpcr_breaker *b,
                           const grpcr_breaker_ticket *ticket,
                           int64_t now_ns) {
  pthread_mutex_lock(&b->mu);
  record_verdict(b, ticket, GRPCR_VERDICT_NONE, false, now_ns, NULL);
  pthread_mutex_unlock(&b->mu);
}

void grpcr_breaker_snapshot_get(grpcr_breaker *b, int64_t now_ns,
                                grpcr_breaker_snapshot *out) {
  pthread_mutex_lock(&b->mu);
  /* A snapshot does not move the breaker's clock: a stats reader with a
   * later timestamp must not change how later calls are judged. */
  if (now_ns < b->latest_ns) now_ns = b->latest_ns;
  /* An idle channel's breaker must not read OPEN forever. */
  maybe_half_open(b, now_ns, NULL);
  memset(out, 0, sizeof(*out));
  out->state = b->state;
  out->time_in_state_ns = span_i64(now_ns, b->state_since_ns);
  uint64_t sums[GRPCR_WINDOW_COUNTERS];
  grpcr_window_sums_at(&b->window, now_ns, sums);
  out->calls_in_window = sums[0];
  out->failures_in_window = sums[1];
  out->slow_calls_in_window = sums[2];
  out->slow_calls_total = b->slow_calls_total;
  out->slow_call_duration_ns = b->cfg.slow_call_duration_ns;
  out->slow_call_rate_threshold = b->cfg.slow_call_rate_threshold;
  out->rejected_total = b->rejected_total;
  out->transitions_total = b->transitions_total;
  out->opened_total = b->opened_total;
  out->stale_results_total = b->stale_results_total;
  out->open_ns_total = b->open_ns_closed_periods;
  if (b->state == GRPCR_BREAKER_OPEN)
    out->open_ns_total = add_sat(out->open_ns_total, out->time_in_state_ns);
  out->open_duration_ns = b->cfg.open_duration_ns;
  out->open_period_ns = b->open_period_ns;
  out->no_verdict_total = b->no_verdict_total;
  out->probes_freed_total = b->probes_freed_total;
  out->probes_expired_total = b->probes_expired_total;
  out->probes_in_flight = b->probes_busy;
  out->probe_timeout_ns = b->cfg.probe_timeout_ns;
  out->reconfigured_total = b->reconfigured_total;
  out->throttled_total = b->throttle.throttled_total;
  grpcr_window_sum_at(&b->throttle.window, now_ns,
                      &out->throttle_requests_in_window,
                      &out->throttle_accepts_in_window);
  /* From the sums just read: a snapshot does not move the window. */
  out->throttle_probability =
      b->state == GRPCR_BREAKER_CLOSED
          ? grpcr_throttle_probability_of(&b->throttle,
                                          out->throttle_requests_in_window,
                                          out->throttle_accepts_in_window)
          : 0.0;
  out->throttle_k = b->cfg.throttle_k;
  out->throttle_window_ns = b->cfg.throttle_window_ns;
  pthread_mutex_unlock(&b->mu);
}
