/* grpcr-stats' tables, from the core's snapshots, columns sized to their
 * widest cell: one row per channel, or (--by-method) one per channel and
 * method. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/breaker.h"
#include "grpcr/status.h"
#include "stats_cli.h"

enum {
  COL_NAME, COL_TARGET, COL_BREAKER, COL_IN_STATE, COL_REQUESTS,
  COL_ATTEMPTS, COL_RETRIES, COL_HEDGES, COL_DENIED, COL_STOPPED,
  COL_REJECTED, COL_THROTTLED, COL_LOCAL, COL_SENT_ONCE, COL_UPDATES,
  COL_NO_VERDICT, COL_BUDGET, COL_P50, COL_P99, COL_STATUS, NCOLS
};

static const char *const kHeaders[NCOLS] = {
    "CHANNEL",    "TARGET",    "BREAKER",  "IN STATE",  "REQUESTS",
    "ATTEMPTS",   "RETRIES",   "HEDGES",   "DENIED",    "STOPPED",
    "REJECTED",   "THROTTLED", "LOCAL",    "SENT ONCE", "UPDATES",
    "NO VERDICT", "BUDGET",    "WAIT P50", "WAIT P99",  "STATUS"};

/* Numbers are right-aligned; text left. */
static const bool kRightAlign[NCOLS] = {
    false, false, false, true, true, true, true, true, true, true,
    true,  true,  true,  true, true, true, true, true, true, false};

enum {
  MCOL_CHANNEL, MCOL_METHOD, MCOL_REQUESTS, MCOL_ATTEMPTS, MCOL_RETRIES,
  MCOL_PER_CALL, MCOL_SKIPPED, MCOL_OK, MCOL_NOT_OK, MCOL_P50, MCOL_P99,
  MCOL_MEDIAN, MCOL_HEDGES, MCOL_WON, MCOL_CANCELLED, MCOL_HEDGES_DENIED,
  MCOL_HEDGE_DELAY, NMCOLS
};

static const char *const kMethodHeaders[NMCOLS] = {
    "CHANNEL",      "METHOD",    "REQUESTS", "ATTEMPTS",  "RETRIES",
    "RETRIES/CALL", "NO TIME",   "OK",       "NOT OK",    "DELAY P50",
    "DELAY P99",    "MEDIAN OK", "HEDGES",   "WON",       "CANCELLED",
    "DENIED",       "HEDGE DELAY"};

static const bool kMethodRightAlign[NMCOLS] = {
    false, false, true, true, true, true, true, true, true,
    true,  true,  true, true, true, true, true, true};

_Static_assert((int)NMCOLS <= (int)NCOLS, "table_print sizes for NCOLS");

/* A copy of s fit for a terminal: control bytes become '?', so a channel
 * name cannot move the cursor or change colours. */
static char *printable(const char *s) {
  char *o = strdup(s);
  if (o != NULL)
    for (char *p = o; *p != '\0'; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  return o;
}

/* The channel as /metrics labels it: its name, and "#n" for instance n > 1
 * (another live channel had the same name and target when it was made). */
static char *channel_label(const grpcr_channel_snapshot *c) {
  if (c->instance <= 1) return printable(c->name);
  const size_t n = strlen(c->name) + 12; /* '#', 10 digits, NUL */
  char *label = malloc(n);
  if (label == NULL) return NULL;
  snprintf(label, n, "%s#%" PRIu32, c->name, c->instance);
  char *out = printable(label);
  free(label);
  return out;
}

/* Display width: UTF-8 code points (no wide-character table). */
static size_t display_width(const char *s) {
  size_t w = 0;
  for (; *s != '\0'; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) w++;
  return w;
}

static void fmt_duration(char *buf, size_t len, double s) {
  if (s < 60)
    snprintf(buf, len, "%.1fs", s);
  else if (s < 3600)
    snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
  else if (s < 86400)
    snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
  else
    snprintf(buf, len, "%dd%02dh", (int)(s / 86400), (int)fmod(s / 3600, 24));
}

static void fmt_ms(char *buf, size_t len, double s) {
  double ms = s * 1000;
  if (ms < 10)
    snprintf(buf, len, "%.2fms", ms);
  else if (ms < 1000)
    snprintf(buf, len, "%.1fms", ms);
  else
    snprintf(buf, len, "%.0fms", ms);
}

/* The row's cells, each malloc'd; false on ENOMEM. */
static bool table_row(char **cells, const grpcr_channel_snapshot *c) {
  char buf[64];
  cells[COL_NAME] = channel_label(c);
  cells[COL_TARGET] = printable(c->target);
  const grpcr_breaker_snapshot *b = c->has_breaker ? &c->breaker : NULL;
  const char *state = b != NULL ? grpcr_breaker_state_name(b->state) : "-";
  cells[COL_BREAKER] = strdup(state != NULL ? state : "UNSPECIFIED");
  if (b != NULL)
    fmt_duration(buf, sizeof(buf), (double)b->time_in_state_ns / 1e9);
  cells[COL_IN_STATE] = strdup(b != NULL ? buf : "-");
  uint64_t nums[] = {c->requests,         c->attempts,
                     c->retries,          c->hedges,
                     c->budget_denied,    c->breaker_stopped_retries,
                     c->breaker_rejected, c->throttled, c->local_errors,
                     c->committed_too_large, c->config_updates};
  for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
    snprintf(buf, sizeof(buf), "%" PRIu64, nums[i]);
    cells[COL_REQUESTS + i] = strdup(buf);
  }
  if (b != NULL) snprintf(buf, sizeof(buf), "%" PRIu64, b->no_verdict_total);
  cells[COL_NO_VERDICT] = strdup(b != NULL ? buf : "-");
  if (c->has_budget)
    snprintf(buf, sizeof(buf), "%.1f%%", c->budget.utilisation * 100);
  cells[COL_BUDGET] = strdup(c->has_budget ? buf : "-");
  bool waits = c->retry_wait_count > 0;
  if (waits) fmt_ms(buf, sizeof(buf), c->retry_wait_p50_s);
  cells[COL_P50] = strdup(waits ? buf : "-");
  if (waits) fmt_ms(buf, sizeof(buf), c->retry_wait_p99_s);
  cells[COL_P99] = strdup(waits ? buf : "-");

  size_t len = 0;
  FILE *m = open_memstream(&cells[COL_STATUS], &len);
  if (m != NULL) {
    bool any = false;
    for (int code = 0; code < GRPCR_STATUS_COUNT; code++) {
      if (c->status_counts[code] == 0) continue;
      fprintf(m, "%s%s=%" PRIu64, any ? " " : "", grpcr_status_name(code),
              c->status_counts[code]);
      any = true;
    }
    if (!any) fputs("-", m);
    if (fclose(m) != 0) {
      free(cells[COL_STATUS]);
      cells[COL_STATUS] = NULL;
    }
  }
  for (size_t i = 0; i < NCOLS; i++)
    if (cells[i] == NULL) return false;
  return true;
}

/* A method's row (or, with m NULL, its channel's row of "-"); cells
 * malloc'd, false on ENOMEM. */
static bool method_row(char **cells, const grpcr_channel_snapshot *c,
                       const grpcr_method_snapshot *m) {
  char buf[64];
  cells[MCOL_CHANNEL] = channel_label(c);
  cells[MCOL_METHOD] = m != NULL ? printable(m->method) : strdup("-");
  uint64_t ok = 0, not_ok = 0;
  if (m != NULL) {
    ok = m->status_counts[GRPCR_STATUS_OK];
    for (int code = 0; code < GRPCR_STATUS_COUNT; code++)
      if (code != GRPCR_STATUS_OK) not_ok += m->status_counts[code];
  }
  const uint64_t nums[] = {m != NULL ? m->requests : 0,
                           m != NULL ? m->attempts : 0,
                           m != NULL ? m->retries : 0};
  for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
    snprintf(buf, sizeof(buf), "%" PRIu64, nums[i]);
    cells[MCOL_REQUESTS + i] = strdup(m != NULL ? buf : "-");
  }
  bool calls = m != NULL && m->requests > 0;
  if (calls)
    snprintf(buf, sizeof(buf), "%.2f",
             (double)m->retries / (double)m->requests);
  cells[MCOL_PER_CALL] = strdup(calls ? buf : "-");
  if (m != NULL)
    snprintf(buf, sizeof(buf), "%" PRIu64, m->retries_skipped_deadline);
  cells[MCOL_SKIPPED] = strdup(m != NULL ? buf : "-");
  const bool median = m != NULL && m->latency_samples > 0 &&
                      m->median_attempt_s > 0;
  if (median) fmt_ms(buf, sizeof(buf), m->median_attempt_s);
  cells[MCOL_MEDIAN] = strdup(median ? buf : "-");
  snprintf(buf, sizeof(buf), "%" PRIu64, ok);
  cells[MCOL_OK] = strdup(m != NULL ? buf : "-");
  snprintf(buf, sizeof(buf), "%" PRIu64, not_ok);
  cells[MCOL_NOT_OK] = strdup(m != NULL ? buf : "-");
  uint64_t delays = 0;
  for (size_t i = 0; m != NULL && i < GRPCR_STATS_WAIT_BUCKETS; i++)
    delays += m->delay_buckets[i];
  if (delays > 0)
    fmt_ms(buf, sizeof(buf), grpcr_stats_wait_quantile(m->delay_buckets, 0.5));
  cells[MCOL_P50] = strdup(delays > 0 ? buf : "-");
  if (delays > 0)
    fmt_ms(buf, sizeof(buf),
           grpcr_stats_wait_quantile(m->delay_buckets, 0.99));
  cells[MCOL_P99] = strdup(delays > 0 ? buf : "-");
  const uint64_t hedges[] = {m != NULL ? m->hedges : 0,
                             m != NULL ? m->hedges_won : 0,
                             m != NULL ? m->hedges_cancelled : 0,
                             m != NULL ? m->hedges_denied : 0};
  for (size_t i = 0; i < sizeof(hedges) / sizeof(hedges[0]); i++) {
    snprintf(buf, sizeof(buf), "%" PRIu64, hedges[i]);
    cells[MCOL_HEDGES + i] = strdup(m != NULL ? buf : "-");
  }
  /* The adaptive delay: "-" while unknown (or the method has none). */
  const bool hedge_delay = m != NULL && m->hedge_delay_s > 0;
  if (hedge_delay) fmt_ms(buf, sizeof(buf), m->hedge_delay_s);
  cells[MCOL_HEDGE_DELAY] = strdup(hedge_delay ? buf : "-");
  for (size_t i = 0; i < NMCOLS; i++)
    if (cells[i] == NULL) return false;
  return true;
}

/* One line; the last cell gets no trailing blanks. */
static void table_line(FILE *f, char *const *cells, const size_t *width,
                       const bool *right_align, size_t ncols) {
  for (size_t i = 0; i < ncols; i++) {
    size_t pad = width[i] - display_width(cells[i]);
    bool last = i + 1 == ncols;
    if (right_align[i])
      fprintf(f, "%*s%s", (int)pad, "", cells[i]);
    else if (last)
      fputs(cells[i], f);
    else
      fprintf(f, "%s%*s", cells[i], (int)pad, "");
    if (!last) fputs("  ", f);
  }
  fputc('\n', f);
}

/* The headers, then rows lines of ncols cells each, aligned. */
static void table_print(FILE *f, const char *const *headers,
                        const bool *right_align, size_t ncols,
                        char *const *cells, size_t rows) {
  size_t width[NCOLS]; /* the wider table's */
  for (size_t j = 0; j < ncols; j++) {
    width[j] = display_width(headers[j]);
    for (size_t i = 0; i < rows; i++) {
      size_t w = display_width(cells[i * ncols + j]);
      if (w > width[j]) width[j] = w;
    }
  }
  table_line(f, (char *const *)headers, width, right_align, ncols);
  for (size_t i = 0; i < rows; i++)
    table_line(f, &cells[i * ncols], width, right_align, ncols);
}

static void cells_free(char **cells, size_t count) {
  for (size_t i = 0; i < count; i++) free(cells[i]);
  free(cells);
}

bool stats_table_write(FILE *f, const grpcr_channel_snapshot *snaps,
                       size_t n) {
  char **cells = calloc(n > 0 ? n * NCOLS : 1, sizeof(*cells));
  if (cells == NULL) return false;
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++)
    ok = table_row(&cells[i * NCOLS], &snaps[i]);
  if (ok) {
    table_print(f, kHeaders, kRightAlign, NCOLS, cells, n);
    if (n == 0) fputs("(no channels)\n", f);
  }
  cells_free(cells, n * NCOLS);
  return ok;
}

bool stats_table_write_by_method(FILE *f, const grpcr_channel_snapshot *snaps,
                                 size_t n) {
  size_t rows = 0;
  for (size_t i = 0; i < n; i++)
    rows += snaps[i].method_count > 0 ? snaps[i].method_count : 1;
  char **cells = calloc(rows > 0 ? rows * NMCOLS : 1, sizeof(*cells));
  if (cells == NULL) return false;
  bool ok = true;
  size_t row = 0;
  for (size_t i = 0; i < n && ok; i++) {
    const grpcr_channel_snapshot *c = &snaps[i];
    if (c->method_count == 0) ok = method_row(&cells[row++ * NMCOLS], c, NULL);
    for (size_t k = 0; k < c->method_count && ok; k++)
      ok = method_row(&cells[row++ * NMCOLS], c, &c->methods[k]);
  }
  if (ok) {
    table_print(f, kMethodHeaders, kMethodRightAlign, NMCOLS, cells, rows);
    if (n == 0) fputs("(no channels)\n", f);
  }
  cells_free(cells, rows * NMCOLS);
  return ok;
}
