/* The sliding window of src/window.h. */
#include "window.h"

#include <string.h>

/* Floor division (b > 0), so that epochs stay contiguous across 0 even if a
 * caller's clock starts at a negative offset. Exact for every int64_t. */
static int64_t epoch_of(const grpcr_window *w, int64_t t) {
  int64_t q = t / w->bucket_ns;
  if (t % w->bucket_ns < 0) q--;
  return q;
}

static size_t slot_of(int64_t epoch) {
  int64_t m = epoch % GRPCR_WINDOW_BUCKETS;
  return (size_t)(m < 0 ? m + GRPCR_WINDOW_BUCKETS : m);
}

/* a - b for epochs, as an unsigned distance (a >= b): exact even when the
 * signed difference would overflow after a huge clock jump. */
static uint64_t distance(int64_t a, int64_t b) {
  return (uint64_t)a - (uint64_t)b;
}

/* Where epoch e starts, saturated to the int64_t range. */
static int64_t start_of(const grpcr_window *w, int64_t e) {
  int64_t t;
  if (__builtin_mul_overflow(e, w->bucket_ns, &t))
    return e < 0 ? INT64_MIN : INT64_MAX;
  return t;
}

/* Epoch e contains now_ns. Its start is computed from now_ns rather than as
 * e * bucket_ns, which may not fit; within the bucket of INT64_MIN it is
 * clamped there. */
static void set_head(grpcr_window *w, int64_t e, int64_t now_ns) {
  int64_t rem = now_ns % w->bucket_ns;
  if (rem < 0) rem += w->bucket_ns;
  w->head = e;
  w->head_slot = slot_of(e);
  w->head_start_ns = now_ns >= INT64_MIN + rem ? now_ns - rem : INT64_MIN;
}

static bool in_window(int64_t head, int64_t epoch) {
  return epoch <= head && distance(head, epoch) < GRPCR_WINDOW_BUCKETS;
}

void grpcr_window_init(grpcr_window *w, int64_t window_ns, int64_t now_ns) {
  memset(w, 0, sizeof(*w));
  w->window_ns = window_ns > 0 ? window_ns : 1;
  /* Windows shorter than BUCKETS ns are nonsense but must not divide by
   * zero. */
  w->bucket_ns = w->window_ns / GRPCR_WINDOW_BUCKETS;
  if (w->bucket_ns == 0) w->bucket_ns = 1;
  set_head(w, epoch_of(w, now_ns), now_ns);
  for (uint64_t i = 0; i < GRPCR_WINDOW_BUCKETS; i++) {
    const int64_t e = (int64_t)((uint64_t)w->head - i);
    w->ring[slot_of(e)].epoch = e;
  }
}

void grpcr_window_advance(grpcr_window *w, int64_t now_ns) {
  /* Unsigned difference: exact whenever now_ns >= head_start_ns, which may
   * be far from now_ns after a clock jump. */
  if (now_ns < w->head_start_ns ||
      distance(now_ns, w->head_start_ns) < (uint64_t)w->bucket_ns)
    return;
  const int64_t e = epoch_of(w, now_ns);
  if (e <= w->head) return;
  uint64_t steps = distance(e, w->head);
  if (steps > GRPCR_WINDOW_BUCKETS) steps = GRPCR_WINDOW_BUCKETS;
  for (uint64_t i = steps; i >= 1; i--) {
    const int64_t ep = (int64_t)((uint64_t)e - (i - 1));
    grpcr_window_bucket *k = &w->ring[slot_of(ep)];
    for (int c = 0; c < GRPCR_WINDOW_COUNTERS; c++) {
      w->sum[c] -= k->n[c];
      k->n[c] = 0;
    }
    k->epoch = ep;
  }
  set_head(w, e, now_ns);
}

void grpcr_window_add3(grpcr_window *w, int64_t now_ns, uint64_t n0,
                       uint64_t n1, uint64_t n2) {
  grpcr_window_advance(w, now_ns);
  grpcr_window_bucket *k = &w->ring[w->head_slot];
  k->n[0] += n0;
  k->n[1] += n1;
  k->n[2] += n2;
  w->sum[0] += n0;
  w->sum[1] += n1;
  w->sum[2] += n2;
}

void grpcr_window_add(grpcr_window *w, int64_t now_ns, uint64_t n0,
                      uint64_t n1) {
  grpcr_window_add3(w, now_ns, n0, n1, 0);
}

bool grpcr_window_take(grpcr_window *w, int64_t now_ns, int i) {
  grpcr_window_advance(w, now_ns);
  if (w->sum[i] == 0) return false;
  for (size_t back = 0; back < GRPCR_WINDOW_BUCKETS; back++) {
    grpcr_window_bucket *k =
        &w->ring[(w->head_slot + GRPCR_WINDOW_BUCKETS - back) %
                 GRPCR_WINDOW_BUCKETS];
    if (k->n[i] > 0) {
      k->n[i]--;
      w->sum[i]--;
      return true;
    }
  }
  return false;
}

void grpcr_window_clear(grpcr_window *w) {
  for (size_t i = 0; i < GRPCR_WINDOW_BUCKETS; i++)
    memset(w->ring[i].n, 0, sizeof(w->ring[i].n));
  memset(w->sum, 0, sizeof(w->sum));
}

void grpcr_window_sums_at(const grpcr_window *w, int64_t now_ns,
                          uint64_t out[GRPCR_WINDOW_COUNTERS]) {
  int64_t cur = epoch_of(w, now_ns);
  if (cur < w->head) cur = w->head;
  for (int c = 0; c < GRPCR_WINDOW_COUNTERS; c++) out[c] = 0;
  for (size_t i = 0; i < GRPCR_WINDOW_BUCKETS; i++) {
    const grpcr_window_bucket *k = &w->ring[i];
    if (!in_window(cur, k->epoch)) continue;
    for (int c = 0; c < GRPCR_WINDOW_COUNTERS; c++) out[c] += k->n[c];
  }
}

void grpcr_window_sum_at(const grpcr_window *w, int64_t now_ns, uint64_t *n0,
                         uint64_t *n1) {
  uint64_t out[GRPCR_WINDOW_COUNTERS];
  grpcr_window_sums_at(w, now_ns, out);
  *n0 = out[0];
  *n1 = out[1];
}

void grpcr_window_merge(grpcr_window *w, const grpcr_window *src,
                        int64_t now_ns) {
  grpcr_window from = *src;
  grpcr_window_advance(&from, now_ns);
  grpcr_window_advance(w, now_ns);
  for (size_t i = 0; i < GRPCR_WINDOW_BUCKETS; i++) {
    const grpcr_window_bucket *k = &from.ring[i];
    if ((k->n[0] == 0 && k->n[1] == 0 && k->n[2] == 0) ||
        !in_window(from.head, k->epoch))
      continue;
    int64_t e = epoch_of(w, start_of(&from, k->epoch));
    if (e > w->head) e = w->head;
    if (!in_window(w->head, e)) continue;
    grpcr_window_bucket *to = &w->ring[slot_of(e)];
    for (int c = 0; c < GRPCR_WINDOW_COUNTERS; c++) {
      to->n[c] += k->n[c];
      w->sum[c] += k->n[c];
    }
  }
}

void grpcr_window_resize(grpcr_window *w, int64_t window_ns, int64_t now_ns) {
  if (window_ns == w->window_ns) return;
  const grpcr_window old = *w;
  /* The head never moves back, whatever the caller's clock says. */
  if (now_ns < old.head_start_ns) now_ns = old.head_start_ns;
  grpcr_window_init(w, window_ns, now_ns);
  grpcr_window_merge(w, &old, now_ns);
}
