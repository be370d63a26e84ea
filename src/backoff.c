/* Exponential backoff with jitter, and the xoshiro256** generator it draws
 * from. Nothing here reads a clock or touches global state except the
 * fallback counter of grpcr_rng_os_seed. */
#include "grpcr/backoff.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void grpcr_rng_seed(grpcr_rng *rng, uint64_t seed) {
  /* splitmix64 never yields four zero words, the one state xoshiro cannot
   * leave. */
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

uint64_t grpcr_rng_next(grpcr_rng *rng) {
  uint64_t *s = rng->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double grpcr_rng_uniform(grpcr_rng *rng) {
  /* The top 53 bits fill a double's mantissa exactly: every value is a
   * multiple of 2^-53 and 1.0 is never returned. */
  return (double)(grpcr_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t grpcr_rng_os_seed(void) {
  static atomic_uint_fast64_t counter;
  uint64_t seed;
  /* GRND_NONBLOCK: early in boot we would rather take the fallback than
   * stall a call. */
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) {
    return seed;
  }
  /* The stack address differs per thread (and per process with ASLR); the
   * counter makes successive calls on one thread differ. */
  int local;
  uint64_t x = (uint64_t)(uintptr_t)&local ^
               ((uint64_t)atomic_fetch_add_explicit(&counter, 1,
                                                    memory_order_relaxed)
                << 32);
  return splitmix64(&x);
}

static const char *const jitter_names[] = {
    [GRPCR_JITTER_NONE] = "NONE",
    [GRPCR_JITTER_FULL] = "FULL",
    [GRPCR_JITTER_EQUAL] = "EQUAL",
    [GRPCR_JITTER_DECORRELATED] = "DECORRELATED",
};
#define JITTER_COUNT ((int)(sizeof jitter_names / sizeof jitter_names[0]))

const char *grpcr_jitter_name(grpcr_jitter j) {
  if ((int)j < 0 || (int)j >= JITTER_COUNT) return NULL;
  return jitter_names[j];
}

int grpcr_jitter_from_name(const char *name) {
  if (name == NULL) return -1;
  for (int j = 0; j < JITTER_COUNT; j++) {
    if (strcmp(name, jitter_names[j]) == 0) return j;
  }
  return -1;
}

static int64_t clamp_max(const grpcr_backoff_policy *p) {
  return p->max_backoff_ns > 0 ? p->max_backoff_ns : 0;
}

int64_t grpcr_backoff_base_ns(const grpcr_backoff_policy *p, uint32_t n) {
  const int64_t max = clamp_max(p);
  if (p->initial_backoff_ns <= 0) return 0;
  /* A multiplier below 1 (or NaN) is invalid config; treat it as 1 rather
   * than shrink or poison the sequence. */
  const double m = p->multiplier >= 1.0 ? p->multiplier : 1.0;
  /* In double, pow saturates to +inf instead of overflowing, so a single
   * compare against max covers every n and every multiplier. */
  const double d = (double)p->initial_backoff_ns * pow(m, (double)n);
  if (!(d < (double)max)) return max;
  /* d < max <= INT64_MAX, so the conversion is defined; rounding keeps
   * products like 100 ms * 1.6^3 from losing a nanosecond. */
  const int64_t r = llround(d);
  return r < max ? r : max;
}

void grpcr_backoff_init(grpcr_backoff *b, const grpcr_backoff_policy *p,
                        uint64_t seed) {
  b->policy = *p;
  grpcr_rng_seed(&b->rng, seed);
  b->retries = 0;
  b->prev_ns = p->initial_backoff_ns;
}

/* u * span for u in [0, 1), computed in double so that no span overflows;
 * the result is in [0, span]. */
static int64_t scale(double u, int64_t span) {
  if (span <= 0) return 0;
  const double v = u * (double)span;
  if (!(v < (double)span)) return span;
  return (int64_t)v;
}

static int64_t decorrelated(grpcr_backoff *b) {
  const int64_t max = clamp_max(&b->policy);
  const int64_t lo = b->policy.initial_backoff_ns > 0
                         ? b->policy.initial_backoff_ns
                         : 0;
  /* 3 * prev in double: prev may be up to max, and max up to INT64_MAX. */
  const double hi = 3.0 * (double)(b->prev_ns > lo ? b->prev_ns : lo);
  const double v = (double)lo + grpcr_rng_uniform(&b->rng) * (hi - (double)lo);
  if (!(v < (double)max)) return max;
  return (int64_t)v < lo ? lo : (int64_t)v;
}

int64_t grpcr_backoff_next_ns(grpcr_backoff *b) {
  const int64_t d = grpcr_backoff_base_ns(&b->policy, b->retries);
  int64_t delay;
  switch (b->policy.jitter) {
    case GRPCR_JITTER_FULL:
      delay = scale(grpcr_rng_uniform(&b->rng), d);
      break;
    case GRPCR_JITTER_EQUAL: {
      const int64_t half = d / 2;
      delay = half + scale(grpcr_rng_uniform(&b->rng), d - half);
      break;
    }
    case GRPCR_JITTER_DECORRELATED:
      delay = decorrelated(b);
      break;
    case GRPCR_JITTER_NONE:
    default:
      delay = d;
      break;
  }
  b->prev_ns = delay;
  if (b->retries < UINT32_MAX) b->retries++;
  return delay;
}

int64_t grpcr_backoff_pushback_ns(grpcr_backoff *b, int64_t pushback_ns) {
  b->retries = 0;
  b->prev_ns = b->policy.initial_backoff_ns;
  return pushback_ns;
}

grpcr_pushback grpcr_pushback_from_ms(int64_t ms, int64_t *delay_ns) {
  if (ms < 0 || ms > INT64_MAX / 1000000) return GRPCR_PUSHBACK_STOP;
  if (delay_ns != NULL) *delay_ns = ms * 1000000;
  return GRPCR_PUSHBACK_DELAY;
}

grpcr_pushback grpcr_pushback_parse(const char *value, size_t len,
                                    int64_t *delay_ns) {
  if (value == NULL) return GRPCR_PUSHBACK_NONE;
  /* Strictly [0-9]+: a sign, spaces, a fraction or any other byte makes it
   * malformed, and a malformed pushback means stop, as in gRPC. */
  if (len == 0) return GRPCR_PUSHBACK_STOP;
  const int64_t limit_ms = INT64_MAX / 1000000;
  int64_t ms = 0;
  for (size_t i = 0; i < len; i++) {
    const unsigned char c = (unsigned char)value[i];
    if (c < '0' || c > '9') return GRPCR_PUSHBACK_STOP;
    /* A value whose nanoseconds do not fit in int64 cannot be honoured. */
    if (ms > (limit_ms - (c - '0')) / 10) return GRPCR_PUSHBACK_STOP;
    ms = ms * 10 + (c - '0');
  }
  return grpcr_pushback_from_ms(ms, delay_ns);
}
