/* The config schema: every field of the "resilience" blocks, its type,
 * range, default and error message (include/grpcr/config.h). The string
 * builder, the error list and durations are in strbuf.c, config_errors.c
 * and duration.c. */
#include "grpcr/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_tree.h"
#include "json.h"

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
  char *rate_field = NULL; /* slowCallRateThreshold, if given */
  char *max_field = NULL;  /* maxOpenDuration, if given */
  bool slow_given = false;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    char *f = path_key(c, path, m->key, m->key_len);
    if (!f) {
      free(rate_field);
      free(max_field);
      return;
    }
    if (key_is(m, "slowCallDurationThreshold")) {
      slow_given = true;
      read_duration(c, f, m->value, GRPCR_SLOW_CALL_NS_MIN, false,
                    GRPCR_SLOW_CALL_NS_MAX, &b->slow_call_duration_ns);
    } else if (key_is(m, "slowCallRateThreshold")) {
      read_number(c, f, m->value, 0, true, 1, &b->slow_call_rate_threshold);
      free(rate_field);
      rate_field = strdup(f);
    } else if (key_is(m, "openDurationMultiplier")) {
      read_number(c, f, m->value, 1, false, 10, &b->open_duration_multiplier);
    } else if (key_is(m, "maxOpenDuration")) {
      read_duration(c, f, m->value, GRPCR_OPEN_DURATION_NS_MIN, false,
                    GRPCR_OPEN_DURATION_NS_MAX, &b->max_open_duration_ns);
      free(max_field);
      max_field = strdup(f);
    } else if (key_is(m, "adaptiveThrottlingK")) {
      double k = b->throttle_k;
      read_number(c, f, m->value, 0, false, 10, &k);
      if (k > 0.0 && k < 1.0) {
        add_error(c, f, "must be 0 (no throttling) or from 1 to 10");
      } else {
        b->throttle_k = k;
      }
    } else if (key_is(m, "adaptiveThrottlingWindow")) {
      read_duration(c, f, m->value, GRPCR_WINDOW_NS_MIN, false,
                    GRPCR_WINDOW_NS_MAX, &b->throttle_window_ns);
    } else if (key_is(m, "openDurationJitter")) {
      read_number(c, f, m->value, 0, false, 0.5, &b->open_duration_jitter);
    } else if (key_is(m, "failureRateThreshold")) {
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
  if (rate_field != NULL && !slow_given) {
    add_error(c, rate_field,
              "needs slowCallDurationThreshold: a call is slow only by it");
  }
  if (max_field == NULL) {
    /* The default cap, or openDuration if that is longer. */
    if (b->max_open_duration_ns < b->open_duration_ns)
      b->max_open_duration_ns = b->open_duration_ns;
  } else if (b->max_open_duration_ns < b->open_duration_ns) {
    add_error(c, max_field, "must be at least openDuration");
  }
  free(rate_field);
  free(max_field);
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
    } else if (key_is(m, "perAttemptTimeout")) {
      read_duration(c, f, m->value, GRPCR_PER_ATTEMPT_TIMEOUT_NS_MIN, false,
                    GRPCR_PER_ATTEMPT_TIMEOUT_NS_MAX,
                    &out->per_attempt_timeout_ns);
    } else {
      add_error(c, f, "unknown field");
    }
    free(f);
  }

  if (!has_max_attempts) add_required(c, path, "maxAttempts");
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

/* A resilience block's retry fields: exclusive of "hedging". */
static bool is_retry_field(const grpcr_json_member *m) {
  static const char *const kRetryFields[] = {
      "maxAttempts", "initialBackoff",       "maxBackoff",       "backoffMultiplier",
      "jitter",      "retryableStatusCodes", "perAttemptTimeout"};
  for (size_t i = 0; i < sizeof kRetryFields / sizeof kRetryFields[0]; i++) {
    if (key_is(m, kRetryFields[i])) return true;
  }
  return false;
}

static void check_hedging(checker *c, const grpcr_json *v, const char *path,
                          grpcr_retry_policy *out) {
  if (!is_object(c, path, v)) return;
  grpcr_hedging_policy *h = &out->hedging;
  bool has_max_attempts = false, has_delay = false, has_load = false;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    char *f = path_key(c, path, m->key, m->key_len);
    if (!f) return;
    if (key_is(m, "maxAttempts")) {
      has_max_attempts = true;
      read_uint(c, f, m->value, 2, GRPCR_MAX_ATTEMPTS_LIMIT,
                &out->max_attempts);
    } else if (key_is(m, "hedgingDelay")) {
      has_delay = true;
      read_duration(c, f, m->value, 0, false, GRPCR_HEDGING_DELAY_NS_MAX,
                    &h->delay_ns);
    } else if (key_is(m, "maxExtraLoad")) {
      has_load = true;
      double r = 0;
      if (m->value->type == GRPCR_JSON_NUMBER &&
          (m->value->u.number.value <= 0 || m->value->u.number.value >= 1)) {
        add_error(c, f, "must be greater than 0 and less than 1");
      } else if (read_number(c, f, m->value, 0, true, 1, &r)) {
        h->max_extra_load = r;
      }
    } else if (key_is(m, "nonFatalStatusCodes")) {
      /* gRFC A6 allows an empty list: no status is non-fatal. */
      if (m->value->type == GRPCR_JSON_ARRAY && m->value->u.array.count == 0) {
        h->non_fatal_codes = 0;
      } else {
        read_codes(c, f, m->value,
                   "OK cannot be non-fatal: it is the answer",
                   &h->non_fatal_codes);
      }
    } else {
      add_error(c, f, "unknown field");
    }
    free(f);
  }
  if (!has_max_attempts) add_required(c, path, "maxAttempts");
  if (has_delay && has_load) {
    char *f = path_key(c, path, "maxExtraLoad", strlen("maxExtraLoad"));
    if (f) {
      add_error(c, f,
                "cannot be combined with hedgingDelay: the delay is either "
                "fixed or adaptive; remove one");
    }
    free(f);
  }
}

/* Whether a methodConfig entry's "name" list has the default name (no
 * service, or an empty one): the stats record such calls under "other". */
static bool names_default(const grpcr_json *entry) {
  const grpcr_json *names = grpcr_json_get(entry, "name");
  if (names == NULL || names->type != GRPCR_JSON_ARRAY) return false;
  for (size_t i = 0; i < names->u.array.count; i++) {
    const grpcr_json *n = names->u.array.items[i];
    if (n->type != GRPCR_JSON_OBJECT) continue;
    const grpcr_json *service = grpcr_json_get(n, "service");
    if (service == NULL ||
        (service->type == GRPCR_JSON_STRING && service->u.string.len == 0)) {
      return true;
    }
  }
  return false;
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
  const grpcr_json *hedging =
      res->type == GRPCR_JSON_OBJECT ? grpcr_json_get(res, "hedging") : NULL;
  if (hedging == NULL) {
    check_retry(c, res, f, out);
    free(f);
    return;
  }
  /* A method either retries or hedges: each retry field is named. */
  out->hedging.enabled = true;
  for (size_t i = 0; i < res->u.object.count; i++) {
    const grpcr_json_member *m = &res->u.object.members[i];
    if (key_is(m, "hedging")) continue;
    char *g = path_key(c, f, m->key, m->key_len);
    if (!g) break;
    if (is_retry_field(m)) {
      add_error(c, g,
                "cannot be combined with hedging: a method either retries "
                "or hedges; remove one");
    } else {
      add_error(c, g, "unknown field");
    }
    free(g);
  }
  char *g = path_key(c, f, "hedging", strlen("hedging"));
  if (g) check_hedging(c, hedging, g, out);
  if (g && out->hedging.max_extra_load > 0 && names_default(entry)) {
    char *h = path_key(c, g, "maxExtraLoad", strlen("maxExtraLoad"));
    if (h) {
      add_error(c, h,
                "needs the entry to name its services or methods: the default "
                "name {} covers methods whose latencies are not kept apart, "
                "so no delay would ever be known; name them, or use "
                "hedgingDelay");
    }
    free(h);
  }
  free(g);
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
  out->retryable_codes = GRPCR_CODE_BIT(GRPCR_STATUS_UNAVAILABLE);
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

static void channel_tree(checker *c, const grpcr_json *root,
                         grpcr_channel_config *out) {
  if (root && is_object(c, "", root)) {
    const grpcr_json *res = grpcr_json_get(root, "resilience");
    if (res) check_channel(c, res, "resilience", out);
  }
}

int grpcr_config_parse_channel_tree(const grpcr_json *root,
                                    grpcr_channel_config *out,
                                    grpcr_config_errors *errs) {
  if (!root || !out || !errs) return GRPCR_EINVAL;
  checker c = {errs, false};
  size_t before = errs->count;
  channel_defaults(out);
  channel_tree(&c, root, out);
  return result(&c, before);
}

int grpcr_config_parse_channel(const char *json, size_t len,
                               grpcr_channel_config *out,
                               grpcr_config_errors *errs) {
  if (!out || !errs || (!json && len)) return GRPCR_EINVAL;
  checker c = {errs, false};
  size_t before = errs->count;
  channel_defaults(out);
  grpcr_json *root = parse_text(&c, json, len, "");
  channel_tree(&c, root, out);
  grpcr_json_free(root);
  return result(&c, before);
}

int grpcr_config_parse_method_tree(const grpcr_json *entry, const char *path,
                                   grpcr_retry_policy *out, bool *has_policy,
                                   grpcr_config_errors *errs) {
  if (!entry || !out || !has_policy || !errs) return GRPCR_EINVAL;
  if (!path) path = "";
  checker c = {errs, false};
  size_t before = errs->count;
  retry_defaults(out);
  *has_policy = false;
  check_method(&c, entry, path, out, has_policy);
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

