/* The growing string of config_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

void sb_putn(sbuf *b, const char *s, size_t n) {
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

void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

void sb_vprintf(sbuf *b, const char *fmt, va_list ap) {
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

void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
}

void sb_user_text(sbuf *b, const char *s, size_t len, bool quoted) {
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
