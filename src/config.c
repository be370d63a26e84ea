#include "grpcr/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define NS_PER_S 1000000000LL

/* Codes by name, from the same map as status.h, so no number is repeated. */
enum {
#define STATUS_XX(name, value) STATUS_##name = (value),
  GRPCR_STATUS_MAP(STATUS_XX)
#undef STATUS_XX
};

/* User text quoted in messages or used as a path is cut to this many bytes,
 * so that one absurd value cannot produce an absurd error list. */
#define SHOWN_MAX 64

typedef struct {
  grpcr_config_errors *errs;
  bool oom;
} checker;

typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    b->oom = true;
    return;
  }
  char local[128];
  char *tmp = (size_t)n < sizeof local ? local : malloc((size_t)n + 1);
  if (!tmp) {
    b->oom = true;
    return;
  }
  vsnprintf(tmp, (size_t)n + 1, fmt, ap);
  sb_putn(b, tmp, (size_t)n);
  if (tmp != local) free(tmp);
}

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
}

/* Appends user text, cut at SHOWN_MAX bytes (on a character boundary) with
 * "..." after it, escaping what would break a one-line "field:... error:..."
 * entry: control characters always, quotes and backslashes when quoted. */
static void sb_user_text(sbuf *b, const char *s, size_t len, bool quoted) {
  if (quoted) sb_putn(b, "\"", 1);
  size_t n = len;
  if (n > SHOWN_MAX) {
    n = SHOWN_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') {
      sb_puts(b, "\\n");
    } else if (c == '\t') {
      sb_puts(b, "\\t");
    } else if (c < 0x20 || c == 0x7F) {
      sb_printf(b, "\\u%04X", c);
    } else if (quoted && (c == '"' || c == '\\')) {
      char esc[2] = {'\\', (char)c};
      sb_putn(b, esc, 2);
    } else {
      sb_putn(b, (const char *)&s[i], 1);
    }
  }
  if (n < len) sb_puts(b, "...");
  if (quoted) sb_putn(b, "\"", 1);
}

/* The built string, or NULL (and everything freed) if memory ran out. */
static char *sb_take(checker *c, sbuf *b) {
  if (!b->oom && !b->p) sb_putn(b, "", 0);
  if (b->oom) {
    free(b->p);
    c->oom = true;
    return NULL;
  }
  return b->p;
}

static void push_error(checker *c, char *field, char *message) {
  grpcr_config_errors *e = c->errs;
  if (!field || !message) goto oom;
  if (e->count == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 8;
    grpcr_config_error *items = realloc(e->items, cap * sizeof *items);
    if (!items) goto oom;
    e->items = items;
    e->cap = cap;
  }
  e->items[e->count].field = field;
  e->items[e->count].message = message;
  e->count++;
  return;
oom:
  free(field);
  free(message);
  c->oom = true;
}

static void add_error(checker *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(checker *c, const char *field, const char *fmt, ...) {
  sbuf f = {0}, m = {0};
  sb_puts(&f, field);
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&m, fmt, ap);
  va_end(ap);
  char *fs = sb_take(c, &f);
  char *ms = sb_take(c, &m);
  push_error(c, fs, ms);
}

/* "base.key" ("key" when base is empty); NULL on ENOMEM. */
static char *path_key(checker *c, const char *base, const char *key,
                      size_t key_len) {
  sbuf b = {0};
  sb_puts(&b, base);
  if (*base) sb_putn(&b, ".", 1);
  sb_user_text(&b, key, key_len, false);
  return sb_take(c, &b);
}

/* "base[i]"; NULL on ENOMEM. */
static char *path_index(checker *c, const char *base, size_t i) {
  sbuf b = {0};
  sb_printf(&b, "%s[%zu]", base, i);
  return sb_take(c, &b);
}

/* A JSON string for use in a message: quoted, escaped and cut short. */
static char *shown(checker *c, const grpcr_json *s) {
  sbuf b = {0};
  sb_user_text(&b, s->u.string.ptr, s->u.string.len, true);
  return sb_take(c, &b);
}

static bool key_is(const grpcr_json_member *m, const char *name) {
  size_t n = strlen(name);
  return m->key_len == n && memcmp(m->key, name, n) == 0;
}

/* A string with "\u0000" inside can match no name: C lookups would see only
 * the part before it. */
static const char *name_of(const grpcr_json *s) {
  return memchr(s->u.string.ptr, '\0', s->u.string.len) ? NULL
                                                         : s->u.string.ptr;
}

/* 0 and *ns set; -1 if s is not of the form digits[.1-9 digits]s; -2 if it
 * is but does not fit in int64 nanoseconds. */
static int duration_parse(const char *s, size_t len, int64_t *ns) {
  size_t i = 0;
  if (i == len || s[i] < '0' || s[i] > '9') return -1;
  int64_t secs = 0;
  bool overflow = false;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    if (secs > (INT64_MAX - 9) / 10) {
      overflow = true;
    } else {
      secs = secs * 10 + (s[i] - '0');
    }
  }
  int64_t nanos = 0;
  if (i < len && s[i] == '.') {
    i++;
    int digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      if (++digits > 9) return -1;
      nanos = nanos * 10 + (s[i] - '0');
    }
    if (digits == 0) return -1;
    for (int d = digits; d < 9; d++) nanos *= 10;
  }
  if (i + 1 != len || s[i] != 's') return -1;
  if (overflow || secs > (INT64_MAX - nanos) / NS_PER_S) return -2;
  *ns = secs * NS_PER_S + nanos;
  return 0;
}

int grpcr_duration_parse(const char *s, int64_t *ns) {
  if (!s || !ns) return GRPCR_EINVAL;
  int64_t v;
  if (duration_parse(s, strlen(s), &v) != 0) return GRPCR_EINVAL;
  *ns = v;
  return 0;
}

/* ns in the same "1.5s" form the config uses, with no trailing zeros. */
static void format_duration(int64_t ns, char *buf, size_t n) {
  long long secs = (long long)(ns / NS_PER_S);
  long frac = (long)(ns % NS_PER_S);
  if (frac == 0) {
    snprintf(buf, n, "%llds", secs);
    return;
  }
  int digits = 9;
  while (frac % 10 == 0) {
    frac /= 10;
    digits--;
  }
  snprintf(buf, n, "%lld.%0*lds", secs, digits, frac);
}

/* Each read_* checks one value. On success it stores it in *out and returns
 * true; otherwise it adds the error for field and leaves *out alone. */

static bool read_number(checker *c, const char *field, const grpcr_json *v,
                        double lo, bool lo_open, double hi, double *out) {
  if (v->type != GRPCR_JSON_NUMBER) {
    add_error(c, field, "is not a number");
    return false;
  }
  double d = v->u.number.value;
  if ((lo_open ? d <= lo : d < lo) || d > hi) {
    if (lo_open) {
      add_error(c, field, "must be greater than %.15g and at most %.15g", lo,
                hi);
    } else {
      add_error(c, field, "must be between %.15g and %.15g", lo, hi);
    }
    return false;
  }
  *out = d;
  return true;
}

static bool read_uint(checker *c, const char *field, const grpcr_json *v,
                      uint32_t lo, uint32_t hi, uint32_t *out) {
  if (v->type != GRPCR_JSON_NUMBER) {
    add_error(c, field, "is not a number");
    return false;
  }
  if (!v->u.number.is_integer) {
    add_error(c, field, "must be an integer");
    return false;
  }
  double d = v->u.number.value;
  if (d < lo || d > hi) {
    add_error(c, field, "must be between %u and %u", lo, hi);
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

static bool read_duration(checker *c, const char *field, const grpcr_json *v,
                          int64_t lo, bool lo_open, int64_t hi,
                          int64_t *out) {
  if (v->type != GRPCR_JSON_STRING) {
    add_error(c, field, "is not a string");
    return false;
  }
  int64_t ns = 0;
  int rc = name_of(v) ? duration_parse(v->u.string.ptr, v->u.string.len, &ns)
                      : -1;
  if (rc == -1) {
    char *s = shown(c, v);
    if (s) {
      add_error(c, field,
                "invalid duration %s: expected seconds with up to 9 "
                "fractional digits and an \"s\" suffix, like \"0.1s\"",
                s);
    }
    free(s);
    return false;
  }
  if (rc == -2 || (lo_open ? ns <= lo : ns < lo) || ns > hi) {
    char los[32], his[32];
    format_duration(lo, los, sizeof los);
    format_duration(hi, his, sizeof his);
    if (lo_open) {
      add_error(c, field, "must be greater than %s and at most %s", los, his);
    } else {
      add_error(c, field, "must be between %s and %s", los, his);
    }
    return false;
  }
  *out = ns;
  return true;
}

/* ok_reason is the message for "OK" in the list: a success is never a
 * failure to retry or to trip on. */
static bool read_codes(checker *c, const char *field, const grpcr_json *v,
                       const char *ok_reason, grpcr_code_set *out) {
  if (v->type != GRPCR_JSON_ARRAY) {
    add_error(c, field, "is not an array");
    return false;
  }
  if (v->u.array.count == 0) {
    add_error(c, field, "must not be empty");
    return false;
  }
  grpcr_code_set set = 0;
  bool ok = true;
  for (size_t i = 0; i < v->u.array.count; i++) {
    const grpcr_json *item = v->u.array.items[i];
    char *f = path_index(c, field, i);
    if (!f) return false;
    if (item->type != GRPCR_JSON_STRING) {
      add_error(c, f, "is not a string");
      ok = false;
    } else {
      int code = grpcr_status_from_name(name_of(item));
      if (code < 0) {
        char *s = shown(c, item);
        if (s) add_error(c, f, "unknown status code %s", s);
        free(s);
        ok = false;
      } else if (code == STATUS_OK) {
        add_error(c, f, "%s", ok_reason);
        ok = false;
      } else {
        set |= GRPCR_CODE_BIT(code);
      }
    }
    free(f);
  }
  if (ok) *out = set;
  return ok;
}

static bool is_object(checker *c, const char *field, const grpcr_json *v) {
  if (v->type == GRPCR_JSON_OBJECT) return true;
  add_error(c, field, "is not an object");
  return false;
}

static void check_budget(checker *c, const grpcr_json *v, const char *path,
                         grpcr_channel_config *out) {
  if (!is_object(c, path, v)) return;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    char *f = path_key(c, path, m->key, m->key_len);
    if (!f) return;
    if (key_is(m, "ratio")) {
      read_number(c, f, m->value, 0, false, GRPCR_BUDGET_RATIO_LIMIT,
                  &out->budget.ratio);
    } else if (key_is(m, "minRetriesPerSecond")) {
      read_number(c, f, m->value, 0, false,
                  GRPCR_MIN_RETRIES_PER_SECOND_LIMIT,
                  &out->budget.min_retries_per_second);
    } else if (key_is(m, "window")) {
      read_duration(c, f, m->value, GRPCR_WINDOW_NS_MIN, false,
                    GRPCR_WINDOW_NS_MAX, &out->budget.window_ns);
    } else if (key_is(m, "scope")) {
      const grpcr_json *s = m->value;
      const char *name = s->type == GRPCR_JSON_STRING ? name_of(s) : NULL;
      if (s->type != GRPCR_JSON_STRING) {
        add_error(c, f, "is not a string");
      } else if (name && strcmp(name, "CHANNEL") == 0) {
        out->budget_scope = GRPCR_BUDGET_SCOPE_CHANNEL;
      } else if (name && strcmp(name, "TARGET") == 0) {
        out->budget_scope = GRPCR_BUDGET_SCOPE_TARGET;
      } else {
        char *q = shown(c, s);
        if (q) {
          add_error(c, f, "unknown scope %s: must be CHANNEL or TARGET", q);
        }
        free(q);
      }
    } else {
      add_error(c, f, "unknown field");
    }
    free(f);
  }
}

static void check_breaker(checker *c, const grpcr_json *v, const char *path,
                          grpcr_channel_config *out) {
  if (!is_object(c, path, v)) return;
  grpcr_breaker_config *b = &out->breaker;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    char *f = path_key(c, path, m->key, m->key_len);
    if (!f) return;
    if (key_is(m, "failureRateThreshold")) {
      read_number(c, f, m->value, 0, true, 1, &b->failure_rate_threshold);
    } else if (key_is(m, "minimumCalls")) {
      read_uint(c, f, m->value, 1, GRPCR_MINIMUM_CALLS_LIMIT,
                &b->minimum_calls);
    } else if (key_is(m, "window")) {
      read_duration(c, f, m->value, GRPCR_WINDOW_NS_MIN, false,
                    GRPCR_WINDOW_NS_MAX, &b->window_ns);
    } else if (key_is(m, "openDuration")) {
      read_duration(c, f, m->value, GRPCR_OPEN_DURATION_NS_MIN, false,
                    GRPCR_OPEN_DURATION_NS_MAX, &b->open_duration_ns);
    } else if (key_is(m, "halfOpenMaxCalls")) {
      read_uint(c, f, m->value, 1, GRPCR_HALF_OPEN_MAX_CALLS_LIMIT,
                &b->half_open_max_calls);
    } else if (key_is(m, "probeTimeout")) {
      read_duration(c, f, m->value, GRPCR_PROBE_TIMEOUT_NS_MIN, false,
                    GRPCR_PROBE_TIMEOUT_NS_MAX, &b->probe_timeout_ns);
    } else if (key_is(m, "tripOnStatusCodes")) {
      read_codes(c, f, m->value,
                 "OK cannot trip the breaker: it is not a failure",
                 &b->trip_codes);
    } else {
      add_error(c, f, "unknown field");
    }
    free(f);
  }
}

static void check_channel(checker *c, const grpcr_json *v, const char *path,
                          grpcr_channel_config *out) {
  if (!is_object(c, path, v)) return;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    char *f = path_key(c, path, m->key, m->key_len);
    if (!f) return;
    if (key_is(m, "retryBudget")) {
      out->has_budget = true;
      check_budget(c, m->value, f, out);
    } else if (key_is(m, "circuitBreaker")) {
      out->has_breaker = true;
      check_breaker(c, m->value, f, out);
    } else {
      add_error(c, f, "unknown field");
    }
    free(f);
  }
}

static void check_retry(checker *c, const grpcr_json *v, const char *path,
                        grpcr_retry_policy *out) {
  if (!is_object(c, path, v)) return;
  grpcr_backoff_policy *b = &out->backoff;
  bool has_max_attempts = false;
  bool initial_ok = true, max_ok = true, max_given = false;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    char *f = path_key(c, path, m->key, m->key_len);
    if (!f) return;
    if (key_is(m, "maxAttempts")) {
      has_max_attempts = true;
      read_uint(c, f, m->value, 1, GRPCR_MAX_ATTEMPTS_LIMIT,
                &out->max_attempts);
    } else if (key_is(m, "initialBackoff")) {
      initial_ok = read_duration(c, f, m->value, 0, true,
                                 GRPCR_MAX_BACKOFF_NS_LIMIT,
                                 &b->initial_backoff_ns);
    } else if (key_is(m, "maxBackoff")) {
      max_given = true;
      max_ok = read_duration(c, f, m->value, 0, true,
                             GRPCR_MAX_BACKOFF_NS_LIMIT, &b->max_backoff_ns);
    } else if (key_is(m, "backoffMultiplier")) {
      read_number(c, f, m->value, 1, false, GRPCR_MULTIPLIER_LIMIT,
                  &b->multiplier);
    } else if (key_is(m, "jitter")) {
      const grpcr_json *s = m->value;
      if (s->type != GRPCR_JSON_STRING) {
        add_error(c, f, "is not a string");
      } else {
        int j = grpcr_jitter_from_name(name_of(s));
        if (j >= 0) {
          b->jitter = (grpcr_jitter)j;
        } else {
          char *q = shown(c, s);
          if (q) {
            add_error(c, f,
                      "unknown jitter %s: must be NONE, FULL, EQUAL or "
                      "DECORRELATED",
                      q);
          }
          free(q);
        }
      }
    } else if (key_is(m, "retryableStatusCodes")) {
      read_codes(c, f, m->value,
                 "OK cannot be retried: it is not a failure",
                 &out->retryable_codes);
    } else {
      add_error(c, f, "unknown field");
    }
    free(f);
  }

  if (!has_max_attempts) {
    char *f = path_key(c, path, "maxAttempts", strlen("maxAttempts"));
    if (f) add_error(c, f, "is required");
    free(f);
  }
  if (initial_ok && max_ok && b->max_backoff_ns < b->initial_backoff_ns) {
    char *f = path_key(c, path, "maxBackoff", strlen("maxBackoff"));
    char init[32], max[32];
    format_duration(b->initial_backoff_ns, init, sizeof init);
    format_duration(b->max_backoff_ns, max, sizeof max);
    /* Said differently when the user never wrote maxBackoff, or the error
     * would name a field that is not in their config without saying why. */
    if (f && max_given) {
      add_error(c, f, "must be at least initialBackoff (%s)", init);
    } else if (f) {
      add_error(c, f, "must be at least initialBackoff (%s): its default is %s",
                init, max);
    }
    free(f);
  }
}

static void check_method(checker *c, const grpcr_json *entry, const char *path,
                         grpcr_retry_policy *out, bool *has_policy) {
  if (!is_object(c, path, entry)) return;
  const grpcr_json *res = grpcr_json_get(entry, "resilience");
  if (!res) return;
  *has_policy = true;
  char *f = path_key(c, path, "resilience", strlen("resilience"));
  if (!f) return;
  if (grpcr_json_get(entry, "retryPolicy")) {
    add_error(c, f,
              "cannot be combined with retryPolicy: a call must not be "
              "retried by two layers; remove one");
  }
  check_retry(c, res, f, out);
  free(f);
}

static void channel_defaults(grpcr_channel_config *out) {
  memset(out, 0, sizeof *out);
  out->budget = grpcr_budget_config_default();
  out->budget_scope = GRPCR_BUDGET_SCOPE_CHANNEL;
  out->breaker = grpcr_breaker_config_default();
}

static void retry_defaults(grpcr_retry_policy *out) {
  memset(out, 0, sizeof *out);
  out->max_attempts = 1;
  out->backoff.initial_backoff_ns = NS_PER_S / 10;
  out->backoff.max_backoff_ns = 10 * NS_PER_S;
  out->backoff.multiplier = 2.0;
  out->backoff.jitter = GRPCR_JITTER_FULL;
  out->retryable_codes = GRPCR_CODE_BIT(STATUS_UNAVAILABLE);
}

/* The parsed tree, or NULL with the syntax error added under field. */
static grpcr_json *parse_text(checker *c, const char *json, size_t len,
                              const char *field) {
  grpcr_json *root = NULL;
  char *msg = NULL;
  int rc = grpcr_json_parse(json, len, &root, &msg);
  if (rc == GRPCR_EINVAL && msg) {
    add_error(c, field, "%s", msg);
  } else if (rc != 0) {
    c->oom = true;
  }
  free(msg);
  return root;
}

static int result(const checker *c, size_t count_before) {
  if (c->oom) return GRPCR_ENOMEM;
  return c->errs->count > count_before ? GRPCR_ECONFIG : 0;
}

int grpcr_config_parse_channel(const char *json, size_t len,
                               grpcr_channel_config *out,
                               grpcr_config_errors *errs) {
  if (!out || !errs || (!json && len)) return GRPCR_EINVAL;
  checker c = {errs, false};
  size_t before = errs->count;
  channel_defaults(out);
  grpcr_json *root = parse_text(&c, json, len, "");
  if (root && is_object(&c, "", root)) {
    const grpcr_json *res = grpcr_json_get(root, "resilience");
    if (res) check_channel(&c, res, "resilience", out);
  }
  grpcr_json_free(root);
  return result(&c, before);
}

int grpcr_config_parse_method(const char *json, size_t len, const char *path,
                              grpcr_retry_policy *out, bool *has_policy,
                              grpcr_config_errors *errs) {
  if (!out || !has_policy || !errs || (!json && len)) return GRPCR_EINVAL;
  if (!path) path = "";
  checker c = {errs, false};
  size_t before = errs->count;
  retry_defaults(out);
  *has_policy = false;
  grpcr_json *root = parse_text(&c, json, len, path);
  if (root) check_method(&c, root, path, out, has_policy);
  grpcr_json_free(root);
  return result(&c, before);
}

int grpcr_config_validate(const char *json, size_t len,
                          grpcr_config_errors *errs) {
  if (!errs || (!json && len)) return GRPCR_EINVAL;
  checker c = {errs, false};
  size_t before = errs->count;
  grpcr_json *root = parse_text(&c, json, len, "");
  if (root && is_object(&c, "", root)) {
    const grpcr_json *res = grpcr_json_get(root, "resilience");
    if (res) {
      grpcr_channel_config channel;
      channel_defaults(&channel);
      check_channel(&c, res, "resilience", &channel);
    }
    /* The rest of methodConfig is gRPC's to validate, but we must reach
     * every entry's resilience block, so a non-array is reported. */
    const grpcr_json *methods = grpcr_json_get(root, "methodConfig");
    if (methods && methods->type != GRPCR_JSON_ARRAY) {
      add_error(&c, "methodConfig", "is not an array");
    } else if (methods) {
      for (size_t i = 0; i < methods->u.array.count; i++) {
        char *path = path_index(&c, "methodConfig", i);
        if (!path) break;
        grpcr_retry_policy policy;
        bool has_policy = false;
        retry_defaults(&policy);
        check_method(&c, methods->u.array.items[i], path, &policy,
                     &has_policy);
        free(path);
      }
    }
  }
  grpcr_json_free(root);
  return result(&c, before);
}

void grpcr_config_errors_free(grpcr_config_errors *errs) {
  if (!errs) return;
  for (size_t i = 0; i < errs->count; i++) {
    free(errs->items[i].field);
    free(errs->items[i].message);
  }
  free(errs->items);
  errs->items = NULL;
  errs->count = 0;
  errs->cap = 0;
}

char *grpcr_config_errors_format(const grpcr_config_errors *errs) {
  size_t total = 1;
  size_t count = errs ? errs->count : 0;
  for (size_t i = 0; i < count; i++) {
    total += strlen("field:") + strlen(errs->items[i].field) +
             strlen(" error:") + strlen(errs->items[i].message) + 1;
  }
  char *out = malloc(total);
  if (!out) return NULL;
  char *p = out;
  for (size_t i = 0; i < count; i++) {
    if (i) *p++ = '\n';
    p += sprintf(p, "field:%s error:%s", errs->items[i].field,
                 errs->items[i].message);
  }
  *p = '\0';
  return out;
}
