/* The config error list: collecting "field: message" entries with their
 * JSON paths, and the public free/format functions of grpcr/config.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

char *sb_take(checker *c, sbuf *b) {
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

void add_error(checker *c, const char *field, const char *fmt, ...) {
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

char *path_key(checker *c, const char *base, const char *key,
                      size_t key_len) {
  sbuf b = {0};
  sb_puts(&b, base);
  if (*base) sb_putn(&b, ".", 1);
  sb_user_text(&b, key, key_len, false);
  return sb_take(c, &b);
}

char *path_index(checker *c, const char *base, size_t i) {
  sbuf b = {0};
  sb_printf(&b, "%s[%zu]", base, i);
  return sb_take(c, &b);
}

char *shown(checker *c, const grpcr_json *s) {
  sbuf b = {0};
  sb_user_text(&b, s->u.string.ptr, s->u.string.len, true);
  return sb_take(c, &b);
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
