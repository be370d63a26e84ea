#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "grpcr/common.h"

typedef struct {
  const char *start;
  const char *p;
  const char *end;
  int depth;
  int err; /* 0, GRPCR_EINVAL or GRPCR_ENOMEM; only the first one counts */
  const char *err_at;
  char msg[192];
} parser;

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one:
 * overlong forms, encoded surrogates and code points past U+10FFFF are
 * rejected, as RFC 3629 requires. */
static int utf8_len(const char *s, const char *end) {
  const unsigned char *u = (const unsigned char *)s;
  size_t avail = (size_t)(end - s);
  if (avail == 0) return 0;
  unsigned char c = u[0];
  if (c < 0x80) return 1;
  int n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (avail < (size_t)n) return 0;
  if (u[1] < lo || u[1] > hi) return 0;
  for (int i = 2; i < n; i++) {
    if (u[i] < 0x80 || u[i] > 0xBF) return 0;
  }
  return n;
}

/* Describes what is at `at` for "expected X, found Y" messages: the
 * character itself when it is printable, so that a typographic quote pasted
 * from a document shows up as such. */
static void describe(const char *at, const char *end, char *buf, size_t n) {
  if (at >= end) {
    snprintf(buf, n, "end of input");
    return;
  }
  unsigned char c = (unsigned char)*at;
  if (c >= 0x20 && c < 0x7F) {
    snprintf(buf, n, "'%c'", c);
    return;
  }
  int k = c >= 0x80 ? utf8_len(at, end) : 0;
  if (k > 1) {
    snprintf(buf, n, "'%.*s'", k, at);
  } else {
    snprintf(buf, n, "byte 0x%02X", c);
  }
}

static void fail(parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(parser *ps, const char *at, const char *fmt, ...) {
  if (ps->err) return;
  ps->err = GRPCR_EINVAL;
  ps->err_at = at;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->msg, sizeof ps->msg, fmt, ap);
  va_end(ap);
}

static void fail_expected(parser *ps, const char *at, const char *expected) {
  char found[32];
  describe(at, ps->end, found, sizeof found);
  fail(ps, at, "expected %s, found %s", expected, found);
}

static void fail_nomem(parser *ps) {
  if (!ps->err) ps->err = GRPCR_ENOMEM;
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end) {
    char c = *ps->p;
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    ps->p++;
  }
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The 4 hex digits at s as a code unit, or -1. */
static long hex4(const char *s, const char *end) {
  if (end - s < 4) return -1;
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hex_value(s[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

static size_t put_utf8(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the string starting at the opening quote at ps->p into a malloc'd
 * NUL-terminated buffer. Returns false (with ps->err set) on error. */
static bool parse_string(parser *ps, char **out, size_t *out_len) {
  const char *open = ps->p;
  const char *s = open + 1;
  const char *end = ps->end;

  /* Decoding never grows the text (an escape is at least as long as what it
   * stands for), so the raw span up to the closing quote bounds the size. */
  const char *r = s;
  while (r < end && *r != '"') {
    if (*r == '\\' && r + 1 < end) r++;
    r++;
  }
  size_t cap = (size_t)(r - s);
  char *buf = malloc(cap + 1);
  if (!buf) {
    fail_nomem(ps);
    return false;
  }
  size_t n = 0;
  for (;;) {
    if (s >= end) {
      fail(ps, open, "unterminated string");
      goto error;
    }
    unsigned char c = (unsigned char)*s;
    if (c == '"') {
      s++;
      break;
    }
    if (c < 0x20) {
      fail(ps, s, "unescaped control character 0x%02X in string", c);
      goto error;
    }
    if (c != '\\') {
      int k = c < 0x80 ? 1 : utf8_len(s, end);
      if (k == 0) {
        fail(ps, s, "invalid UTF-8 in string");
        goto error;
      }
      if (n + (size_t)k > cap) goto internal;
      memcpy(buf + n, s, (size_t)k);
      n += (size_t)k;
      s += k;
      continue;
    }
    const char *esc = s++;
    if (s >= end) {
      fail(ps, open, "unterminated string");
      goto error;
    }
    char e = *s++;
    char simple = 0;
    switch (e) {
      case '"': simple = '"'; break;
      case '\\': simple = '\\'; break;
      case '/': simple = '/'; break;
      case 'b': simple = '\b'; break;
      case 'f': simple = '\f'; break;
      case 'n': simple = '\n'; break;
      case 'r': simple = '\r'; break;
      case 't': simple = '\t'; break;
      case 'u': break;
      default:
        if (e > 0x20 && e < 0x7F) {
          fail(ps, esc, "invalid escape '\\%c' in string", e);
        } else {
          fail(ps, esc, "invalid escape in string");
        }
        goto error;
    }
    if (simple) {
      if (n + 1 > cap) goto internal;
      buf[n++] = simple;
      continue;
    }
    long unit = hex4(s, end);
    if (unit < 0) {
      fail(ps, esc, "invalid \\u escape: expected 4 hex digits");
      goto error;
    }
    s += 4;
    unsigned long cp = (unsigned long)unit;
    if (unit >= 0xDC00 && unit <= 0xDFFF) {
      fail(ps, esc, "unpaired surrogate \\u%04lX in string", cp);
      goto error;
    }
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      long low = -1;
      if (end - s >= 6 && s[0] == '\\' && s[1] == 'u') low = hex4(s + 2, end);
      if (low < 0xDC00 || low > 0xDFFF) {
        fail(ps, esc, "unpaired surrogate \\u%04lX in string", cp);
        goto error;
      }
      s += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)low - 0xDC00);
    }
    char enc[4];
    size_t k = put_utf8(enc, cp);
    if (n + k > cap) goto internal;
    memcpy(buf + n, enc, k);
    n += k;
  }
  buf[n] = '\0';
  ps->p = s;
  *out = buf;
  *out_len = n;
  return true;

internal:
  /* Unreachable given the bound above; fail safely rather than overflow. */
  fail(ps, s, "internal error decoding string");
error:
  free(buf);
  return false;
}

/* strtod in the "C" locale: the application may have set a locale whose
 * decimal separator is ',', which would make "0.5" parse as 0. */
static double c_strtod(const char *s) {
  locale_t c = grpcr_internal_c_numeric_locale();
  if (c) return strtod_l(s, NULL, c);
  return strtod(s, NULL);
}

static bool is_digit(const parser *ps, const char *q) {
  return q < ps->end && *q >= '0' && *q <= '9';
}

static grpcr_json *new_node(parser *ps, grpcr_json_type t) {
  grpcr_json *v = calloc(1, sizeof *v);
  if (!v) {
    fail_nomem(ps);
    return NULL;
  }
  v->type = t;
  return v;
}

static grpcr_json *parse_number(parser *ps) {
  const char *s = ps->p;
  const char *q = s;
  bool is_integer = true;
  if (*q == '-') {
    q++;
    if (!is_digit(ps, q)) {
      fail_expected(ps, q, "a digit after '-'");
      return NULL;
    }
  }
  if (*q == '0') {
    q++;
    if (is_digit(ps, q)) {
      fail(ps, q, "invalid number: leading zeros are not allowed");
      return NULL;
    }
  } else {
    while (is_digit(ps, q)) q++;
  }
  if (q < ps->end && *q == '.') {
    q++;
    is_integer = false;
    if (!is_digit(ps, q)) {
      fail_expected(ps, q, "a digit after '.'");
      return NULL;
    }
    while (is_digit(ps, q)) q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    q++;
    is_integer = false;
    if (q < ps->end && (*q == '+' || *q == '-')) q++;
    if (!is_digit(ps, q)) {
      fail_expected(ps, q, "a digit in the exponent");
      return NULL;
    }
    while (is_digit(ps, q)) q++;
  }

  size_t len = (size_t)(q - s);
  char local[64];
  char *text = len < sizeof local ? local : malloc(len + 1);
  if (!text) {
    fail_nomem(ps);
    return NULL;
  }
  memcpy(text, s, len);
  text[len] = '\0';
  double d = c_strtod(text);
  if (text != local) free(text);
  if (isinf(d)) {
    fail(ps, s, "number out of range");
    return NULL;
  }
  grpcr_json *v = new_node(ps, GRPCR_JSON_NUMBER);
  if (!v) return NULL;
  v->u.number.value = d;
  v->u.number.is_integer = is_integer;
  ps->p = q;
  return v;
}

static grpcr_json *parse_literal(parser *ps, const char *word,
                                 grpcr_json_type t, bool b) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
    fail(ps, ps->p, "invalid literal: expected %s", word);
    return NULL;
  }
  grpcr_json *v = new_node(ps, t);
  if (!v) return NULL;
  v->u.boolean = b;
  ps->p += n;
  return v;
}

static grpcr_json *parse_value(parser *ps);

static bool enter(parser *ps) {
  if (ps->depth >= GRPCR_JSON_MAX_DEPTH) {
    fail(ps, ps->p, "nesting deeper than %d levels", GRPCR_JSON_MAX_DEPTH);
    return false;
  }
  ps->depth++;
  return true;
}

static grpcr_json *parse_array(parser *ps) {
  if (!enter(ps)) return NULL;
  grpcr_json *v = new_node(ps, GRPCR_JSON_ARRAY);
  if (!v) return NULL;
  size_t cap = 0;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == ']') {
    ps->p++;
    ps->depth--;
    return v;
  }
  for (;;) {
    skip_ws(ps);
    grpcr_json *item = parse_value(ps);
    if (!item) goto error;
    if (v->u.array.count == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      grpcr_json **items = realloc(v->u.array.items, ncap * sizeof *items);
      if (!items) {
        grpcr_json_free(item);
        fail_nomem(ps);
        goto error;
      }
      v->u.array.items = items;
      cap = ncap;
    }
    v->u.array.items[v->u.array.count++] = item;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == ']') {
      ps->p++;
      break;
    }
    fail_expected(ps, ps->p, "',' or ']'");
    goto error;
  }
  ps->depth--;
  return v;
error:
  grpcr_json_free(v);
  return NULL;
}

typedef struct {
  const char *key;
  size_t key_len;
  size_t index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, n);
  if (c) return c;
  if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Reports the first repeated key in document order, at its second
 * occurrence. Sorting keeps this O(n log n) for objects with many members
 * (a service config can come from a remote resolver). */
static bool check_duplicates(parser *ps, const grpcr_json *v,
                             const char *const *key_at) {
  size_t count = v->u.object.count;
  if (count < 2) return true;
  key_ref *refs = malloc(count * sizeof *refs);
  if (!refs) {
    fail_nomem(ps);
    return false;
  }
  for (size_t i = 0; i < count; i++) {
    refs[i].key = v->u.object.members[i].key;
    refs[i].key_len = v->u.object.members[i].key_len;
    refs[i].index = i;
  }
  qsort(refs, count, sizeof *refs, key_ref_cmp);
  size_t first_dup = SIZE_MAX;
  for (size_t i = 1; i < count; i++) {
    if (refs[i].key_len == refs[i - 1].key_len &&
        memcmp(refs[i].key, refs[i - 1].key, refs[i].key_len) == 0 &&
        refs[i].index < first_dup) {
      first_dup = refs[i].index;
    }
  }
  free(refs);
  if (first_dup == SIZE_MAX) return true;

  const grpcr_json_member *m = &v->u.object.members[first_dup];
  /* At most SHOWN_KEY_MAX bytes of the key, whole characters only (the
   * message must stay valid UTF-8), and "..." when it is cut. */
  enum { SHOWN_KEY_MAX = 64 };
  char shown[SHOWN_KEY_MAX + 1];
  const unsigned char *key = (const unsigned char *)m->key;
  size_t k = 0, i = 0;
  while (i < m->key_len) {
    unsigned char c = key[i];
    size_t n = 1; /* the key is valid UTF-8: a lead byte, continuations */
    while (i + n < m->key_len && (key[i + n] & 0xC0) == 0x80) n++;
    bool esc = c < 0x20 || c == '"' || c == '\\' || c == 0x7F;
    if (k + (esc ? 6 : n) > SHOWN_KEY_MAX) break;
    if (esc) {
      k += (size_t)snprintf(shown + k, sizeof shown - k, "\\u%04X", c);
    } else {
      memcpy(shown + k, key + i, n);
      k += n;
    }
    i += n;
  }
  shown[k] = '\0';
  fail(ps, key_at[first_dup], "duplicate key \"%s%s\"", shown,
       i < m->key_len ? "..." : "");
  return false;
}

static grpcr_json *parse_object(parser *ps) {
  if (!enter(ps)) return NULL;
  grpcr_json *v = new_node(ps, GRPCR_JSON_OBJECT);
  if (!v) return NULL;
  const char **key_at = NULL; /* where each key starts, for error positions */
  size_t cap = 0;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '}') {
    ps->p++;
    ps->depth--;
    return v;
  }
  for (;;) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') {
      fail_expected(ps, ps->p,
                    v->u.object.count ? "a string key" : "a string key or '}'");
      goto error;
    }
    const char *at = ps->p;
    char *key;
    size_t key_len;
    if (!parse_string(ps, &key, &key_len)) goto error;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
      free(key);
      fail_expected(ps, ps->p, "':'");
      goto error;
    }
    ps->p++;
    skip_ws(ps);
    grpcr_json *value = parse_value(ps);
    if (!value) {
      free(key);
      goto error;
    }
    if (v->u.object.count == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      grpcr_json_member *members =
          realloc(v->u.object.members, ncap * sizeof *members);
      if (members) v->u.object.members = members;
      const char **nkey_at = members ? realloc(key_at, ncap * sizeof *nkey_at)
                                     : NULL;
      if (!members || !nkey_at) {
        free(key);
        grpcr_json_free(value);
        fail_nomem(ps);
        goto error;
      }
      key_at = nkey_at;
      cap = ncap;
    }
    grpcr_json_member *m = &v->u.object.members[v->u.object.count];
    m->key = key;
    m->key_len = key_len;
    m->value = value;
    key_at[v->u.object.count++] = at;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == '}') {
      ps->p++;
      break;
    }
    fail_expected(ps, ps->p, "',' or '}'");
    goto error;
  }
  if (!check_duplicates(ps, v, key_at)) goto error;
  free(key_at);
  ps->depth--;
  return v;
error:
  free(key_at);
  grpcr_json_free(v);
  return NULL;
}

static grpcr_json *parse_value(parser *ps) {
  if (ps->p >= ps->end) {
    fail_expected(ps, ps->p, "a value");
    return NULL;
  }
  switch (*ps->p) {
    case '{':
      return parse_object(ps);
    case '[':
      return parse_array(ps);
    case '"': {
      char *s;
      size_t len;
      if (!parse_string(ps, &s, &len)) return NULL;
      grpcr_json *v = new_node(ps, GRPCR_JSON_STRING);
      if (!v) {
        free(s);
        return NULL;
      }
      v->u.string.ptr = s;
      v->u.string.len = len;
      return v;
    }
    case 't':
      return parse_literal(ps, "true", GRPCR_JSON_BOOL, true);
    case 'f':
      return parse_literal(ps, "false", GRPCR_JSON_BOOL, false);
    case 'n':
      return parse_literal(ps, "null", GRPCR_JSON_NULL, false);
    default:
      if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
        return parse_number(ps);
      }
      fail_expected(ps, ps->p, "a value");
      return NULL;
  }
}

/* Lines and columns count from 1; a column counts characters (UTF-8 lead
 * bytes), not bytes, so it matches what an editor shows. */
static char *format_error(const parser *ps) {
  size_t line = 1, col = 1;
  for (const char *q = ps->start; q < ps->err_at; q++) {
    if (*q == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)*q & 0xC0) != 0x80) {
      col++;
    }
  }
  const char *fmt = "JSON parse error at %zu:%zu: %s";
  int n = snprintf(NULL, 0, fmt, line, col, ps->msg);
  if (n < 0) return NULL;
  char *out = malloc((size_t)n + 1);
  if (out) snprintf(out, (size_t)n + 1, fmt, line, col, ps->msg);
  return out;
}

int grpcr_json_parse(const char *text, size_t len, grpcr_json **out,
                     char **error) {
  if (error) *error = NULL;
  if (!out) return GRPCR_EINVAL;
  *out = NULL;
  if (!text && len) return GRPCR_EINVAL;
  static const char empty[] = "";
  if (!text) text = empty;

  parser ps;
  memset(&ps, 0, sizeof ps);
  ps.start = ps.p = text;
  ps.end = text + len;
  skip_ws(&ps);
  grpcr_json *v = parse_value(&ps);
  if (v) {
    skip_ws(&ps);
    if (ps.p != ps.end) fail_expected(&ps, ps.p, "end of input");
  }
  if (ps.err) {
    grpcr_json_free(v);
    if (ps.err == GRPCR_EINVAL && error) *error = format_error(&ps);
    return ps.err;
  }
  *out = v;
  return 0;
}

void grpcr_json_free(grpcr_json *v) {
  if (!v) return;
  switch (v->type) {
    case GRPCR_JSON_STRING:
      free(v->u.string.ptr);
      break;
    case GRPCR_JSON_ARRAY:
      for (size_t i = 0; i < v->u.array.count; i++) {
        grpcr_json_free(v->u.array.items[i]);
      }
      free(v->u.array.items);
      break;
    case GRPCR_JSON_OBJECT:
      for (size_t i = 0; i < v->u.object.count; i++) {
        free(v->u.object.members[i].key);
        grpcr_json_free(v->u.object.members[i].value);
      }
      free(v->u.object.members);
      break;
    default:
      break;
  }
  free(v);
}

const grpcr_json *grpcr_json_get(const grpcr_json *v, const char *key) {
  if (!v || v->type != GRPCR_JSON_OBJECT || !key) return NULL;
  size_t n = strlen(key);
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    if (m->key_len == n && memcmp(m->key, key, n) == 0) return m->value;
  }
  return NULL;
}

const char *grpcr_json_type_name(grpcr_json_type t) {
  switch (t) {
    case GRPCR_JSON_NULL: return "null";
    case GRPCR_JSON_BOOL: return "boolean";
    case GRPCR_JSON_NUMBER: return "number";
    case GRPCR_JSON_STRING: return "string";
    case GRPCR_JSON_ARRAY: return "array";
    case GRPCR_JSON_OBJECT: return "object";
  }
  return "unknown";
}
