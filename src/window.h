/* A sliding window of GRPCR_WINDOW_BUCKETS time buckets, each holding
 * GRPCR_WINDOW_COUNTERS counters, with running sums: the one ring that both
 * the retry budget (requests, retries) and the breaker (calls, failures,
 * slow calls) count in.
 *
 * A bucket covers bucket_ns = window_ns / BUCKETS of time and expires as a
 * whole once it is older than the window. The window's head only moves
 * forward: a time older than the newest one seen counts in the newest
 * bucket (two threads that read the clock and lock in the other order),
 * one bucket off, never lost. All arithmetic is overflow-safe for any
 * int64_t time, clock jumps included.
 *
 * Not thread-safe: the owner (budget, breaker) holds its own mutex. Private
 * to the core. */
#ifndef GRPCR_SRC_WINDOW_H
#define GRPCR_SRC_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRPCR_WINDOW_BUCKETS 20
#define GRPCR_WINDOW_COUNTERS 3

typedef struct {
  int64_t epoch; /* floor(time / bucket_ns) of the interval it counts */
  uint64_t n[GRPCR_WINDOW_COUNTERS];
} grpcr_window_bucket;

typedef struct {
  int64_t window_ns;
  int64_t bucket_ns;
  /* The newest epoch, where it starts (a compare instead of a division
   * while time stays in one bucket), and its slot. Every bucket with counts
   * belongs to an epoch in (head - BUCKETS, head]. */
  int64_t head;
  int64_t head_start_ns;
  size_t head_slot;
  uint64_t sum[GRPCR_WINDOW_COUNTERS];
  grpcr_window_bucket ring[GRPCR_WINDOW_BUCKETS];
} grpcr_window;

/* An empty window whose head is the bucket of now_ns. window_ns > 0. */
void grpcr_window_init(grpcr_window *w, int64_t window_ns, int64_t now_ns);
/* Expires what is older than the window ending at now_ns. */
void grpcr_window_advance(grpcr_window *w, int64_t now_ns);
/* Advances to now_ns, then adds to the head bucket and the sums (counter 2
 * unchanged). */
void grpcr_window_add(grpcr_window *w, int64_t now_ns, uint64_t n0,
                      uint64_t n1);
/* The same for all three counters. */
void grpcr_window_add3(grpcr_window *w, int64_t now_ns, uint64_t n0,
                       uint64_t n1, uint64_t n2);
/* Advances to now_ns, then takes one back from counter i (0 or 1) of the
 * newest bucket that has any. false if the window holds none. */
bool grpcr_window_take(grpcr_window *w, int64_t now_ns, int i);
/* Zeroes every count; the head stays. */
void grpcr_window_clear(grpcr_window *w);
/* The sums of the buckets inside the window ending at now_ns, without
 * moving the window (for readers that must not change later decisions). */
void grpcr_window_sum_at(const grpcr_window *w, int64_t now_ns, uint64_t *n0,
                         uint64_t *n1);
/* The same for every counter, into out[GRPCR_WINDOW_COUNTERS]. */
void grpcr_window_sums_at(const grpcr_window *w, int64_t now_ns,
                          uint64_t out[GRPCR_WINDOW_COUNTERS]);
/* Changes the window's length, keeping the counts that fall inside the new
 * window: each old bucket's counts move to the new bucket holding its start
 * time, and those older than the new window are dropped. */
void grpcr_window_resize(grpcr_window *w, int64_t window_ns, int64_t now_ns);
/* Adds the counts of src (advanced to now_ns, a copy) to w, each bucket by
 * its start time, as resize does. */
void grpcr_window_merge(grpcr_window *w, const grpcr_window *src,
                        int64_t now_ns);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_SRC_WINDOW_H */
