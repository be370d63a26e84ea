/* Client-side adaptive throttling: see throttle.h. */
#include "throttle.h"

void grpcr_throttle_init(grpcr_throttle *t, double k, int64_t window_ns,
                         uint32_t minimum, int64_t now_ns) {
  t->k = k;
  t->minimum = minimum;
  t->throttled_total = 0;
  grpcr_window_init(&t->window, window_ns, now_ns);
}

void grpcr_throttle_configure(grpcr_throttle *t, double k, int64_t window_ns,
                              uint32_t minimum, int64_t now_ns) {
  t->k = k;
  t->minimum = minimum;
  if (window_ns != t->window.window_ns)
    grpcr_window_resize(&t->window, window_ns, now_ns);
}

double grpcr_throttle_probability_of(const grpcr_throttle *t,
                                     uint64_t requests, uint64_t accepts) {
  if (t->k <= 0.0 || requests < t->minimum) return 0.0;
  const double excess = (double)requests - t->k * (double)accepts;
  return excess > 0.0 ? excess / ((double)requests + 1.0) : 0.0;
}

double grpcr_throttle_probability_now(grpcr_throttle *t, int64_t now_ns) {
  if (t->k <= 0.0) return 0.0;
  grpcr_window_advance(&t->window, now_ns);
  return grpcr_throttle_probability_of(t, t->window.sum[0], t->window.sum[1]);
}

bool grpcr_throttle_admit(grpcr_throttle *t, int64_t now_ns, double p,
                          double u) {
  if (p <= 0.0 || u >= p) return true;
  grpcr_window_add(&t->window, now_ns, 1, 0);
  t->throttled_total++;
  return false;
}

void grpcr_throttle_record(grpcr_throttle *t, int64_t now_ns, bool accepted) {
  if (t->k <= 0.0) return;
  grpcr_window_add(&t->window, now_ns, 1, accepted ? 1 : 0);
}
