/* Fuzz target: the core's JSON parser and the config parsers, on text and
 * on trees.
 *
 * The input is raw bytes, not NUL-terminated (grpcr_json_parse and the
 * config parsers take a length; libFuzzer's buffer is exactly size bytes
 * long, so ASan sees any read past the end). Covered:
 *   - grpcr_json_parse (src/json.c, private header src/json.h): on success
 *     the tree is walked and checked: container nesting at most
 *     GRPCR_JSON_MAX_DEPTH, every string and key NUL-terminated at its
 *     length and valid UTF-8 (NULs allowed), numbers finite, object keys
 *     unique and found by grpcr_json_get (keys with an embedded NUL never
 *     found); on failure *out is NULL and the message is "JSON parse error
 *     at L:C: ...", valid UTF-8 with no control character. Every string
 *     that is a well-formed duration is also printed back with
 *     format_duration and must parse to the same value.
 *   - grpcr_config_parse_channel and grpcr_config_parse_method
 *     (include/grpcr/config.h) on the same text: 0 or GRPCR_ECONFIG, errors
 *     exactly with GRPCR_ECONFIG, every field and message valid UTF-8 with
 *     no control character (user text is escaped and cut on a character
 *     boundary, so an error line is always one printable line).
 *   - grpcr_json_new_number (src/json_build.c) on the whole input as the
 *     literal: the parser's number for an input that is one, an infinity
 *     of the literal's sign for a literal beyond double, NULL for anything
 *     that is not a number literal (src/json.h's contract).
 *   - the shim's path (src/json_build.c, src/config_tree.h): the tree is
 *     rebuilt node by node with the builders (as config_parser.cc does from
 *     gRPC's Json), and grpcr_config_parse_channel_tree /
 *     grpcr_config_parse_method_tree on it must give exactly what the text
 *     parsers gave: the same return code, the same config struct and the
 *     same error list. Each methodConfig entry also goes through
 *     grpcr_config_parse_method_tree. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_tree.h"
#include "grpcr/common.h"
#include "grpcr/config.h"
#include "json.h"
#include "fuzz_checks.h"

/* Text shown to people (error fields and messages): valid UTF-8 on one
 * line, every control character escaped. */
static bool printable_text(const char *s) {
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c == 0x7F) return false;
  }
  return valid_utf8((const unsigned char *)s, strlen(s));
}

static void check_duration_round_trip(const char *s, size_t len) {
  int64_t ns = -1;
  if (duration_parse(s, len, &ns) != 0) return;
  CHECK(ns >= 0);
  char buf[48];
  format_duration(ns, buf, sizeof buf);
  int64_t back = -1;
  CHECK(duration_parse(buf, strlen(buf), &back) == 0);
  CHECK(back == ns);
  if (memchr(s, '\0', len) == NULL) {
    int64_t pub = -1;
    CHECK(grpcr_duration_parse(s, &pub) == 0 && pub == ns);
  }
}

static void check_tree(const grpcr_json *v, int depth) {
  CHECK(v != NULL);
  switch (v->type) {
    case GRPCR_JSON_NULL:
    case GRPCR_JSON_BOOL:
      break;
    case GRPCR_JSON_NUMBER:
      CHECK(isfinite(v->u.number.value));
      break;
    case GRPCR_JSON_STRING:
      CHECK(v->u.string.ptr != NULL);
      CHECK(v->u.string.ptr[v->u.string.len] == '\0');
      CHECK(valid_utf8((const unsigned char *)v->u.string.ptr,
                       v->u.string.len));
      check_duration_round_trip(v->u.string.ptr, v->u.string.len);
      break;
    case GRPCR_JSON_ARRAY:
      CHECK(depth < GRPCR_JSON_MAX_DEPTH);
      CHECK(v->u.array.count == 0 || v->u.array.items != NULL);
      for (size_t i = 0; i < v->u.array.count; i++)
        check_tree(v->u.array.items[i], depth + 1);
      break;
    case GRPCR_JSON_OBJECT:
      CHECK(depth < GRPCR_JSON_MAX_DEPTH);
      CHECK(v->u.object.count == 0 || v->u.object.members != NULL);
      for (size_t i = 0; i < v->u.object.count; i++) {
        const grpcr_json_member *m = &v->u.object.members[i];
        CHECK(m->key != NULL && m->key[m->key_len] == '\0');
        CHECK(valid_utf8((const unsigned char *)m->key, m->key_len));
        for (size_t j = 0; j < i; j++) {
          const grpcr_json_member *o = &v->u.object.members[j];
          CHECK(o->key_len != m->key_len ||
                memcmp(o->key, m->key, m->key_len) != 0);
        }
        const grpcr_json *found = grpcr_json_get(v, m->key);
        if (memchr(m->key, '\0', m->key_len) == NULL) {
          CHECK(found == m->value);
        } else {
          CHECK(found != m->value);
        }
        check_tree(m->value, depth + 1);
      }
      break;
    default:
      CHECK(0);
  }
  CHECK(grpcr_json_type_name(v->type) != NULL);
}

/* A copy of v made with the builders, as the shim makes one from gRPC's
 * Json; NULL on ENOMEM. Numbers go through their shortest exact literal
 * (%.17g round-trips every double), and keep the original's is_integer, as
 * the shim passes the literal gRPC read. */
static grpcr_json *rebuild(const grpcr_json *v) {
  grpcr_json *out = NULL;
  switch (v->type) {
    case GRPCR_JSON_NULL:
      return grpcr_json_new(GRPCR_JSON_NULL);
    case GRPCR_JSON_BOOL:
      return grpcr_json_new_bool(v->u.boolean);
    case GRPCR_JSON_NUMBER: {
      char lit[64];
      int n = snprintf(lit, sizeof lit, "%.17g", v->u.number.value);
      CHECK(n > 0 && (size_t)n < sizeof lit);
      out = grpcr_json_new_number(lit, (size_t)n);
      CHECK(out != NULL && out->type == GRPCR_JSON_NUMBER);
      CHECK(memcmp(&out->u.number.value, &v->u.number.value,
                   sizeof(double)) == 0);
      out->u.number.is_integer = v->u.number.is_integer;
      return out;
    }
    case GRPCR_JSON_STRING:
      return grpcr_json_new_string(v->u.string.ptr, v->u.string.len);
    case GRPCR_JSON_ARRAY:
      out = grpcr_json_new(GRPCR_JSON_ARRAY);
      if (!out) return NULL;
      for (size_t i = 0; i < v->u.array.count; i++) {
        grpcr_json *item = rebuild(v->u.array.items[i]);
        if (!item || grpcr_json_append(out, item) != 0) {
          grpcr_json_free(out);
          return NULL;
        }
      }
      return out;
    case GRPCR_JSON_OBJECT:
      out = grpcr_json_new(GRPCR_JSON_OBJECT);
      if (!out) return NULL;
      for (size_t i = 0; i < v->u.object.count; i++) {
        const grpcr_json_member *m = &v->u.object.members[i];
        grpcr_json *item = rebuild(m->value);
        if (!item || grpcr_json_add_member(out, m->key, m->key_len, item)) {
          grpcr_json_free(out);
          return NULL;
        }
      }
      return out;
  }
  return NULL;
}

/* How the input reads as one JSON number literal (RFC 8259 grammar):
 * 0 not at all, 1 exactly (no other byte), 2 with JSON whitespace around. */
static int number_literal(const char *s, size_t n) {
  size_t i = 0, end = n;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
    i++;
  while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t' ||
                     s[end - 1] == '\n' || s[end - 1] == '\r'))
    end--;
  const bool padded = i > 0 || end < n;
#define DIGIT(k) ((k) < end && s[k] >= '0' && s[k] <= '9')
  if (i < end && s[i] == '-') i++;
  if (i < end && s[i] == '0') {
    i++;
  } else if (DIGIT(i)) {
    while (DIGIT(i)) i++;
  } else {
    return 0;
  }
  if (i < end && s[i] == '.') {
    i++;
    if (!DIGIT(i)) return 0;
    while (DIGIT(i)) i++;
  }
  if (i < end && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < end && (s[i] == '+' || s[i] == '-')) i++;
    if (!DIGIT(i)) return 0;
    while (DIGIT(i)) i++;
  }
#undef DIGIT
  if (i != end) return 0;
  return padded ? 2 : 1;
}

/* grpcr_json_new_number (src/json.h) on the whole input as its literal:
 * "reads a JSON number literal exactly as the parser does (NULL also if
 * literal is not one), except that one beyond the range of double ...
 * becomes an infinity of its sign". */
static void check_new_number(const char *text, size_t size, int parse_rc,
                             const grpcr_json *root) {
  grpcr_json *num = grpcr_json_new_number(text, size);
  int lit = number_literal(text, size);
  if (parse_rc == 0 && root->type == GRPCR_JSON_NUMBER) {
    CHECK(num != NULL && num->type == GRPCR_JSON_NUMBER);
    CHECK(memcmp(&num->u.number.value, &root->u.number.value,
                 sizeof(double)) == 0);
    CHECK(num->u.number.is_integer == root->u.number.is_integer);
  } else if (lit == 1 && parse_rc == GRPCR_EINVAL) {
    /* A literal the parser refused can only be one beyond double. */
    CHECK(num != NULL && num->type == GRPCR_JSON_NUMBER);
    CHECK(isinf(num->u.number.value));
    CHECK((num->u.number.value < 0) == (text[0] == '-'));
  } else if (lit == 0) {
    CHECK(num == NULL); /* not a number literal: NULL */
  }
  /* lit == 2 and refused (whitespace around 1e999): not pinned down. */
  grpcr_json_free(num);
}

static void check_errors(int rc, const grpcr_config_errors *errs) {
  CHECK(rc == 0 || rc == GRPCR_ECONFIG);
  CHECK((rc == GRPCR_ECONFIG) == (errs->count > 0));
  for (size_t i = 0; i < errs->count; i++) {
    CHECK(errs->items[i].field != NULL && errs->items[i].message != NULL);
    CHECK(printable_text(errs->items[i].field));
    CHECK(printable_text(errs->items[i].message));
  }
  char *text = grpcr_config_errors_format(errs);
  CHECK(text != NULL);
  grpcr_free(text);
}

/* Field by field: struct padding is not part of the result. */
static bool same_channel(const grpcr_channel_config *a,
                         const grpcr_channel_config *b) {
  return a->has_budget == b->has_budget &&
         a->budget.ratio == b->budget.ratio &&
         a->budget.min_retries_per_second == b->budget.min_retries_per_second &&
         a->budget.window_ns == b->budget.window_ns &&
         a->budget_scope == b->budget_scope &&
         a->has_breaker == b->has_breaker &&
         a->breaker.failure_rate_threshold ==
             b->breaker.failure_rate_threshold &&
         a->breaker.minimum_calls == b->breaker.minimum_calls &&
         a->breaker.window_ns == b->breaker.window_ns &&
         a->breaker.open_duration_ns == b->breaker.open_duration_ns &&
         a->breaker.half_open_max_calls == b->breaker.half_open_max_calls &&
         a->breaker.trip_codes == b->breaker.trip_codes &&
         a->breaker.probe_timeout_ns == b->breaker.probe_timeout_ns;
}

static bool same_policy(const grpcr_retry_policy *a,
                        const grpcr_retry_policy *b) {
  return a->max_attempts == b->max_attempts &&
         a->backoff.initial_backoff_ns == b->backoff.initial_backoff_ns &&
         a->backoff.max_backoff_ns == b->backoff.max_backoff_ns &&
         a->backoff.multiplier == b->backoff.multiplier &&
         a->backoff.jitter == b->backoff.jitter &&
         a->retryable_codes == b->retryable_codes;
}

static void same_errors(const grpcr_config_errors *a,
                        const grpcr_config_errors *b) {
  CHECK(a->count == b->count);
  for (size_t i = 0; i < a->count; i++) {
    CHECK(strcmp(a->items[i].field, b->items[i].field) == 0);
    CHECK(strcmp(a->items[i].message, b->items[i].message) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;

  /* The parser alone. */
  grpcr_json *root = (grpcr_json *)(uintptr_t)1; /* must be set to NULL */
  char *msg = NULL;
  int rc = grpcr_json_parse(text, size, &root, &msg);
  if (rc == 0) {
    check_tree(root, 0);
  } else {
    CHECK(rc == GRPCR_EINVAL);
    CHECK(root == NULL);
    CHECK(msg != NULL && strncmp(msg, "JSON parse error at ", 20) == 0);
    CHECK(printable_text(msg));
  }
  free(msg);
  check_new_number(text, size, rc, root);

  /* The config parsers on the text. */
  grpcr_config_errors ch_errs = {0}, m_errs = {0};
  grpcr_channel_config ch;
  int ch_rc = grpcr_config_parse_channel(text, size, &ch, &ch_errs);
  check_errors(ch_rc, &ch_errs);
  grpcr_retry_policy pol;
  bool has_pol = false;
  int m_rc = grpcr_config_parse_method(text, size, "methodConfig[0]", &pol,
                                       &has_pol, &m_errs);
  check_errors(m_rc, &m_errs);

  /* The same on a tree built the shim's way: exactly the same results. */
  if (root != NULL) {
    grpcr_json *copy = rebuild(root);
    if (copy != NULL) {
      grpcr_config_errors ct_errs = {0}, mt_errs = {0};
      grpcr_channel_config ct;
      int ct_rc = grpcr_config_parse_channel_tree(copy, &ct, &ct_errs);
      CHECK(ct_rc == ch_rc);
      CHECK(same_channel(&ct, &ch));
      same_errors(&ct_errs, &ch_errs);
      grpcr_retry_policy pt;
      bool has_pt = false;
      int mt_rc = grpcr_config_parse_method_tree(copy, "methodConfig[0]", &pt,
                                                 &has_pt, &mt_errs);
      CHECK(mt_rc == m_rc && has_pt == has_pol);
      CHECK(same_policy(&pt, &pol));
      same_errors(&mt_errs, &m_errs);
      grpcr_config_errors_free(&ct_errs);
      grpcr_config_errors_free(&mt_errs);

      /* Every methodConfig entry, as the shim parses them one by one. */
      const grpcr_json *methods = grpcr_json_get(copy, "methodConfig");
      if (methods != NULL && methods->type == GRPCR_JSON_ARRAY) {
        grpcr_config_errors e = {0};
        for (size_t i = 0; i < methods->u.array.count; i++) {
          char path[48];
          snprintf(path, sizeof path, "methodConfig[%zu]", i);
          grpcr_retry_policy p;
          bool has = false;
          int r = grpcr_config_parse_method_tree(methods->u.array.items[i],
                                                 path, &p, &has, &e);
          CHECK(r == 0 || r == GRPCR_ECONFIG);
        }
        check_errors(e.count ? GRPCR_ECONFIG : 0, &e);
        grpcr_config_errors_free(&e);
      }
      grpcr_json_free(copy);
    }
  }
  grpcr_config_errors_free(&ch_errs);
  grpcr_config_errors_free(&m_errs);
  grpcr_json_free(root);
  return 0;
}
