/* Private to the config code (config.c, config_fields.c, config_errors.c,
 * duration.c, strbuf.c): a growing string, the error collector the schema checks
 * report to, and duration text. Not thread-safe per object; no shared
 * state. */
#ifndef GRPCR_SRC_CONFIG_INTERNAL_H
#define GRPCR_SRC_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpcr/config.h"
#include "json.h"

#define NS_PER_S 1000000000LL

/* User text quoted in messages or used as a path is cut to this many bytes,
 * so that one absurd value cannot produce an absurd error list. */
#define SHOWN_MAX 64

/* A growing NUL-terminated string; oom sticks once memory ran out (every
 * later append is a no-op). Zero-initialise to start. */
typedef struct {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

void sb_putn(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_vprintf(sbuf *b, const char *fmt, va_list ap);
void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends user text, cut at SHOWN_MAX bytes (on a character boundary) with
 * "..." after it, escaping what would break a one-line "field:... error:..."
 * entry: control characters always, quotes and backslashes when quoted. */
void sb_user_text(sbuf *b, const char *s, size_t len, bool quoted);

/* Where the schema checks report: the caller's list, and whether memory
 * ran out on the way. */
typedef struct {
  grpcr_config_errors *errs;
  bool oom;
} checker;

/* The built string, or NULL (and everything freed, c->oom set) if memory
 * ran out. */
char *sb_take(checker *c, sbuf *b);
/* Appends "field: message" to the list (message formatted). */
void add_error(checker *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "base.key" ("key" when base is empty), the key shown as user text; NULL
 * on ENOMEM. */
char *path_key(checker *c, const char *base, const char *key, size_t key_len);
/* "base[i]"; NULL on ENOMEM. */
char *path_index(checker *c, const char *base, size_t i);
/* A JSON string for use in a message: quoted, escaped and cut short. */
char *shown(checker *c, const grpcr_json *s);

/* 0 and *ns set; -1 if s is not of the form digits[.1-9 digits]s; -2 if it
 * is but does not fit in int64 nanoseconds. */
int duration_parse(const char *s, size_t len, int64_t *ns);
/* ns in the same "1.5s" form the config uses, with no trailing zeros. */
void format_duration(int64_t ns, char *buf, size_t n);

/* The field readers (config_fields.c). Each read_* checks one value: on
 * success it stores it in *out and returns true; otherwise it adds the
 * error for field and leaves *out alone. */
bool key_is(const grpcr_json_member *m, const char *name);
/* A string's text, or NULL if it has a "\u0000" inside (no name matches). */
const char *name_of(const grpcr_json *s);
/* lo_open: lo itself is out of range. */
bool read_number(checker *c, const char *field, const grpcr_json *v, double lo,
                 bool lo_open, double hi, double *out);
bool read_uint(checker *c, const char *field, const grpcr_json *v, uint32_t lo,
               uint32_t hi, uint32_t *out);
bool read_duration(checker *c, const char *field, const grpcr_json *v,
                   int64_t lo, bool lo_open, int64_t hi, int64_t *out);
/* A non-empty list of status names; ok_reason is the message for "OK". */
bool read_codes(checker *c, const char *field, const grpcr_json *v,
                const char *ok_reason, grpcr_code_set *out);
bool is_object(checker *c, const char *field, const grpcr_json *v);
/* "<path>.<name> is required". */
void add_required(checker *c, const char *path, const char *name);

#endif /* GRPCR_SRC_CONFIG_INTERNAL_H */
