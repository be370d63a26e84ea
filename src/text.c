/* Numbers and escaped strings for the exporters (include/grpcr/text.h). */
#include "grpcr/text.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

/* Not a code point: what a byte outside valid UTF-8 decodes as here. */
#define INVALID_BYTE UINT32_MAX

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length and
 * sets *cp, or returns 0 if the bytes there are not valid UTF-8 (overlong
 * forms, surrogates and values past U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t len;
  uint32_t min, c;
  if ((s[0] & 0xe0) == 0xc0) {
    len = 2, min = 0x80, c = s[0] & 0x1f;
  } else if ((s[0] & 0xf0) == 0xe0) {
    len = 3, min = 0x800, c = s[0] & 0x0f;
  } else if ((s[0] & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, c = s[0] & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return len;
}

/* A code point an escaping style writes as other text. */
typedef struct {
  uint32_t cp;
  const char *as;
} escape;

/* JSON's: the short escapes, then \u00XX for the other C0 controls and DEL;
 * a stray byte reads as U+FFFD. */
static const escape kJsonEscapes[] = {
    {INVALID_BYTE, "\\ufffd"}, {'"', "\\\""}, {'\\', "\\\\"}, {'\b', "\\b"},
    {'\f', "\\f"},             {'\n', "\\n"}, {'\r', "\\r"},  {'\t', "\\t"},
};

/* The exposition format's: only these three; a stray byte is U+FFFD's own
 * bytes, since label values are UTF-8 without escapes for it. */
static const escape kLabelEscapes[] = {
    {INVALID_BYTE, "\xef\xbf\xbd"},
    {'\\', "\\\\"},
    {'"', "\\\""},
    {'\n', "\\n"},
};

/* Writes s, each code point as itself unless table (n entries) says
 * otherwise; with hex_controls, the other C0 controls and DEL as \u00XX. */
static void write_escaped(FILE *f, const char *s, const escape *table,
                          size_t n, bool hex_controls) {
  const unsigned char *p = (const unsigned char *)s;
  size_t left = strlen(s);
  while (left > 0) {
    uint32_t cp;
    size_t len = utf8_decode(p, left, &cp);
    if (len == 0) cp = INVALID_BYTE, len = 1;
    size_t i = 0;
    while (i < n && table[i].cp != cp) i++;
    if (i < n)
      fputs(table[i].as, f);
    else if (hex_controls && (cp < 0x20 || cp == 0x7f))
      fprintf(f, "\\u%04x", (unsigned)cp);
    else
      fwrite(p, 1, len, f);
    p += len, left -= len;
  }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void grpcr_text_write_json_string(FILE *f, const char *s) {
  fputc('"', f);
  write_escaped(f, s, kJsonEscapes, COUNT(kJsonEscapes), true);
  fputc('"', f);
}

void grpcr_text_write_label_value(FILE *f, const char *s) {
  write_escaped(f, s, kLabelEscapes, COUNT(kLabelEscapes), false);
}

static locale_t c_numeric_locale;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void c_numeric_init(void) {
  c_numeric_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

locale_t grpcr_internal_c_numeric_locale(void) {
  pthread_once(&c_numeric_once, c_numeric_init);
  return c_numeric_locale;
}

/* grpcr_text_format_double in whatever locale the thread has. */
static void format_shortest(char *buf, size_t len, double d) {
  int prec = 1;
  for (; prec < 17; prec++) {
    snprintf(buf, len, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  snprintf(buf, len, "%.*g", prec, d);
  double mag = fabs(d);
  if (strchr(buf, 'e') != NULL && mag >= 1e-4 && mag < 1e15) {
    char fixed[64];
    int decimals = prec - 1 - (int)floor(log10(mag));
    snprintf(fixed, sizeof(fixed), "%.*f", decimals > 0 ? decimals : 0, d);
    if (strtod(fixed, NULL) == d && strlen(fixed) < len) strcpy(buf, fixed);
  }
}

/* In the "C" locale for this thread only, so that an in-process exporter
 * writes "0.25" even where the application's locale says "0,25". */
void grpcr_text_format_double(char *buf, size_t len, double d) {
  locale_t c = grpcr_internal_c_numeric_locale();
  locale_t old = c ? uselocale(c) : (locale_t)0;
  format_shortest(buf, len, d);
  if (c) uselocale(old);
}
