/* The circuit breaker of include/grpcr/breaker.h: a CLOSED window of time
 * buckets, an OPEN timer, a HALF_OPEN probe count, and a generation number
 * that lets late results from an earlier state be recognised and dropped. */
#include "grpcr/breaker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t epoch; /* now / bucket_ns at the time this slot was last reset */
  uint64_t calls;
  uint64_t failures;
} bucket;

struct grpcr_breaker {
  pthread_mutex_t mu;
  grpcr_breaker_config cfg;
  int64_t bucket_ns;

  grpcr_breaker_state state;
  uint64_t generation;
  int64_t state_since_ns;
  /* Callers read the clock before taking the lock, so two threads can arrive
   * slightly out of order; time inside the breaker never goes backwards. */
  int64_t latest_ns;

  uint32_t half_open_admitted;
  uint32_t half_open_succeeded;

  bucket ring[GRPCR_BREAKER_BUCKETS];
  /* The newest bucket and the window's running sums, so that a record
   * costs O(1) (no re-summing, no division while time stays in one
   * bucket). Every slot with counts belongs to an epoch in
   * (cur_epoch - BUCKETS, cur_epoch]. */
  bool have_epoch;
  int64_t cur_epoch;
  int64_t cur_start_ns;
  size_t cur_slot;
  uint64_t sum_calls;
  uint64_t sum_failures;

  uint64_t rejected_total;
  uint64_t transitions_total;
  uint64_t opened_total;
  uint64_t stale_results_total;
  int64_t open_ns_closed_periods; /* OPEN time of periods already ended */
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
  c.failure_rate_threshold = 0.5;
  c.minimum_calls = 20;
  c.window_ns = 10LL * 1000000000LL;
  c.open_duration_ns = 30LL * 1000000000LL;
  c.half_open_max_calls = 1;
  c.trip_codes = GRPCR_CODE_BIT(14) | GRPCR_CODE_BIT(8); /* UNAVAILABLE,
                                                           RESOURCE_EXHAUSTED */
  return c;
}

static bool config_valid(const grpcr_breaker_config *c) {
  const grpcr_code_set all = GRPCR_CODE_BIT(GRPCR_STATUS_COUNT) - 1u;
  /* Written so that a NaN threshold fails too. */
  if (!(c->failure_rate_threshold > 0.0 && c->failure_rate_threshold <= 1.0))
    return false;
  if (c->minimum_calls == 0 || c->half_open_max_calls == 0) return false;
  if (c->window_ns <= 0 || c->open_duration_ns <= 0) return false;
  if (c->trip_codes == 0 || (c->trip_codes & GRPCR_CODE_BIT(0)) != 0)
    return false;
  /* Bits beyond the last status code name no status: a caller bug. */
  if ((c->trip_codes & ~all) != 0) return false;
  return true;
}

/* Floor division, so that bucket epochs stay contiguous across 0 even if a
 * caller's clock starts at a negative offset. */
static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

static size_t slot_of(int64_t epoch) {
  int64_t m = epoch % GRPCR_BREAKER_BUCKETS;
  if (m < 0) m += GRPCR_BREAKER_BUCKETS;
  return (size_t)m;
}

static void window_clear(grpcr_breaker *b) {
  for (size_t i = 0; i < GRPCR_BREAKER_BUCKETS; i++) {
    b->ring[i].calls = 0;
    b->ring[i].failures = 0;
  }
  b->sum_calls = 0;
  b->sum_failures = 0;
}

/* Moves the window's head to the bucket of now_ns (never older than the
 * head: the breaker's clock does not go back), expiring the buckets it
 * passes from the running sums. */
static void window_advance(grpcr_breaker *b, int64_t now_ns) {
  if (b->have_epoch && now_ns >= b->cur_start_ns &&
      now_ns - b->cur_start_ns < b->bucket_ns)
    return;
  int64_t e = floor_div(now_ns, b->bucket_ns);
  if (b->have_epoch && e <= b->cur_epoch) return;
  if (!b->have_epoch || e - b->cur_epoch >= GRPCR_BREAKER_BUCKETS) {
    window_clear(b);
  } else {
    for (int64_t x = b->cur_epoch + 1; x <= e; x++) {
      bucket *k = &b->ring[slot_of(x)];
      b->sum_calls -= k->calls;
      b->sum_failures -= k->failures;
      k->calls = 0;
      k->failures = 0;
      k->epoch = x;
    }
  }
  b->have_epoch = true;
  b->cur_epoch = e;
  b->cur_start_ns = e * b->bucket_ns;
  b->cur_slot = slot_of(e);
  b->ring[b->cur_slot].epoch = e;
}

/* Sums the buckets still inside the window ending at now_ns, for snapshots:
 * read-only, so a reader never moves the window. */
static void window_sum(const grpcr_breaker *b, int64_t now_ns,
                       uint64_t *calls, uint64_t *failures) {
  int64_t cur = floor_div(now_ns, b->bucket_ns);
  uint64_t c = 0, f = 0;
  for (size_t i = 0; i < GRPCR_BREAKER_BUCKETS; i++) {
    const bucket *k = &b->ring[i];
    if (k->epoch > cur - GRPCR_BREAKER_BUCKETS && k->epoch <= cur) {
      c += k->calls;
      f += k->failures;
    }
  }
  *calls = c;
  *failures = f;
}

static void window_add(grpcr_breaker *b, int64_t now_ns, bool failure) {
  window_advance(b, now_ns);
  bucket *k = &b->ring[b->cur_slot];
  k->calls++;
  b->sum_calls++;
  if (failure) {
    k->failures++;
    b->sum_failures++;
  }
}

/* Returns now_ns, or the latest time already seen if now_ns is older. */
static int64_t advance_clock(grpcr_breaker *b, int64_t now_ns) {
  if (now_ns > b->latest_ns) b->latest_ns = now_ns;
  return b->latest_ns;
}

static void transition(grpcr_breaker *b, grpcr_breaker_state to,
                       int64_t now_ns, grpcr_breaker_transition *tr) {
  grpcr_breaker_state from = b->state;
  if (from == GRPCR_BREAKER_OPEN)
    b->open_ns_closed_periods += now_ns - b->state_since_ns;
  b->state = to;
  b->state_since_ns = now_ns;
  b->generation++;
  b->transitions_total++;
  b->half_open_admitted = 0;
  b->half_open_succeeded = 0;
  if (to == GRPCR_BREAKER_OPEN) b->opened_total++;
  if (to == GRPCR_BREAKER_CLOSED) window_clear(b);
  if (tr != NULL) {
    tr->happened = true;
    tr->from = from;
    tr->to = to;
  }
}

static bool is_failure(const grpcr_breaker *b, int status_code) {
  /* Out-of-range codes are UNKNOWN, as in stats. */
  if (status_code < 0 || status_code >= GRPCR_STATUS_COUNT) status_code = 2;
  return (b->cfg.trip_codes & GRPCR_CODE_BIT(status_code)) != 0;
}

/* Division, not failures >= threshold * calls: the product can round up
 * (0.07 * 100 is 7.000000000000001), whereas failures / calls is the nearest
 * double to the exact rate, so a rate equal to the configured decimal
 * compares equal to it. calls >= minimum_calls >= 1 here. */
static bool should_open(const grpcr_breaker *b, uint64_t calls,
                        uint64_t failures) {
  if (calls < b->cfg.minimum_calls) return false;
  return (double)failures / (double)calls >= b->cfg.failure_rate_threshold;
}

/* OPEN lasts exactly open_duration: once it has passed, the breaker is
 * HALF_OPEN from that moment, whoever notices first (a call or a snapshot).
 * Placing the transition at its due time, not at the noticing, keeps the
 * state, time in state and time spent open the same either way. */
static void maybe_half_open(grpcr_breaker *b, int64_t now_ns,
                            grpcr_breaker_transition *tr) {
  if (b->state != GRPCR_BREAKER_OPEN) return;
  if (now_ns - b->state_since_ns < b->cfg.open_duration_ns) return;
  transition(b, GRPCR_BREAKER_HALF_OPEN,
             b->state_since_ns + b->cfg.open_duration_ns, tr);
}

grpcr_breaker *grpcr_breaker_create(const grpcr_breaker_config *cfg,
                                    int64_t now_ns) {
  if (cfg == NULL || !config_valid(cfg)) return NULL;
  grpcr_breaker *b = calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  if (pthread_mutex_init(&b->mu, NULL) != 0) {
    free(b);
    return NULL;
  }
  b->cfg = *cfg;
  b->bucket_ns = cfg->window_ns / GRPCR_BREAKER_BUCKETS;
  if (b->bucket_ns == 0) b->bucket_ns = 1;
  b->state = GRPCR_BREAKER_CLOSED;
  b->state_since_ns = now_ns;
  b->latest_ns = now_ns;
  return b;
}

void grpcr_breaker_destroy(grpcr_breaker *b) {
  if (b == NULL) return;
  pthread_mutex_destroy(&b->mu);
  free(b);
}

bool grpcr_breaker_try_acquire(grpcr_breaker *b, int64_t now_ns,
                               grpcr_breaker_ticket *ticket,
                               grpcr_breaker_transition *tr) {
  bool admitted = false;
  if (tr != NULL) tr->happened = false;
  pthread_mutex_lock(&b->mu);
  now_ns = advance_clock(b, now_ns);
  maybe_half_open(b, now_ns, tr);
  switch (b->state) {
    case GRPCR_BREAKER_CLOSED:
      admitted = true;
      break;
    case GRPCR_BREAKER_OPEN:
      admitted = false;
      break;
    case GRPCR_BREAKER_HALF_OPEN:
      admitted = b->half_open_admitted < b->cfg.half_open_max_calls;
      if (admitted) b->half_open_admitted++;
      break;
  }
  if (admitted) {
    ticket->generation = b->generation;
    ticket->admitted_in = b->state;
  } else {
    b->rejected_total++;
  }
  pthread_mutex_unlock(&b->mu);
  return admitted;
}

void grpcr_breaker_record(grpcr_breaker *b, const grpcr_breaker_ticket *ticket,
                          int status_code, int64_t now_ns,
                          grpcr_breaker_transition *tr) {
  if (tr != NULL) tr->happened = false;
  pthread_mutex_lock(&b->mu);
  now_ns = advance_clock(b, now_ns);
  bool failure = is_failure(b, status_code);
  /* OPEN never hands out tickets, so a current-generation ticket there can
   * only be a caller bug; it is dropped like a stale one. */
  if (ticket->generation != b->generation || b->state == GRPCR_BREAKER_OPEN) {
    b->stale_results_total++;
  } else if (b->state == GRPCR_BREAKER_CLOSED) {
    window_add(b, now_ns, failure);
    if (should_open(b, b->sum_calls, b->sum_failures))
      transition(b, GRPCR_BREAKER_OPEN, now_ns, tr);
  } else if (failure) {
    transition(b, GRPCR_BREAKER_OPEN, now_ns, tr);
  } else if (++b->half_open_succeeded >= b->cfg.half_open_max_calls) {
    transition(b, GRPCR_BREAKER_CLOSED, now_ns, tr);
  }
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
  out->time_in_state_ns = now_ns - b->state_since_ns;
  window_sum(b, now_ns, &out->calls_in_window, &out->failures_in_window);
  out->rejected_total = b->rejected_total;
  out->transitions_total = b->transitions_total;
  out->opened_total = b->opened_total;
  out->stale_results_total = b->stale_results_total;
  out->open_ns_total = b->open_ns_closed_periods;
  if (b->state == GRPCR_BREAKER_OPEN) out->open_ns_total += out->time_in_state_ns;
  out->open_duration_ns = b->cfg.open_duration_ns;
  pthread_mutex_unlock(&b->mu);
}
