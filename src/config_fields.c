/* The config schema's field readers: each checks one JSON value against a
 * type and range and reports the error for its field (config_internal.h).
 * The schema itself, which fields exist and what they mean, is config.c. */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

bool key_is(const grpcr_json_member *m, const char *name) {
  size_t n = strlen(name);
  return m->key_len == n && memcmp(m->key, name, n) == 0;
}

/* A string with "\u0000" inside can match no name: C lookups would see only
 * the part before it. */
const char *name_of(const grpcr_json *s) {
  return memchr(s->u.string.ptr, '\0', s->u.string.len) ? NULL
                                                         : s->u.string.ptr;
}

/* Each read_* checks one value. On success it stores it in *out and returns
 * true; otherwise it adds the error for field and leaves *out alone. */

bool read_number(checker *c, const char *field, const grpcr_json *v,
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

bool read_uint(checker *c, const char *field, const grpcr_json *v,
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

bool read_duration(checker *c, const char *field, const grpcr_json *v,
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
bool read_codes(checker *c, const char *field, const grpcr_json *v,
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
      } else if (code == GRPCR_STATUS_OK) {
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

bool is_object(checker *c, const char *field, const grpcr_json *v) {
  if (v->type == GRPCR_JSON_OBJECT) return true;
  add_error(c, field, "is not an object");
  return false;
}

/* "<path>.<name> is required". */
void add_required(checker *c, const char *path, const char *name) {
  char *f = path_key(c, path, name, strlen(name));
  if (f) add_error(c, f, "is required");
  free(f);
}

