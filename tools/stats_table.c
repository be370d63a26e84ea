/* grpcr-stats' table: one row per channel, columns sized to their widest
 * cell, from the core's snapshots. */
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
  COL_ATTEMPTS, COL_RETRIES, COL_DENIED, COL_REJECTED, COL_LOCAL,
  COL_SENT_ONCE, COL_UPDATES, COL_NO_VERDICT, COL_BUDGET, COL_P50, COL_P99,
  COL_STATUS, NCOLS
};

static const char *const kHeaders[NCOLS] = {
    "CHANNEL",  "TARGET",     "BREAKER",  "IN STATE", "REQUESTS",
    "ATTEMPTS", "RETRIES",    "DENIED",   "REJECTED", "LOCAL",
    "SENT ONCE", "UPDATES",   "NO VERDICT", "BUDGET", "WAIT P50",
    "WAIT P99", "STATUS"};

/* Numbers are right-aligned; text (and the last column) left. */
static const bool kRightAlign[NCOLS] = {
    false, false, false, true, true, true, true, true, true,
    true,  true,  true,  true, true, true, true, false};

/* A copy of s fit for a terminal: control bytes become '?', so a channel
 * name cannot move the cursor or change colours. */
static char *printable(const char *s) {
  char *o = strdup(s);
  if (o != NULL)
    for (char *p = o; *p != '\0'; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  return o;
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
  cells[COL_NAME] = printable(c->name);
  cells[COL_TARGET] = printable(c->target);
  const grpcr_breaker_snapshot *b = c->has_breaker ? &c->breaker : NULL;
  const char *state = b != NULL ? grpcr_breaker_state_name(b->state) : "-";
  cells[COL_BREAKER] = strdup(state != NULL ? state : "UNSPECIFIED");
  if (b != NULL)
    fmt_duration(buf, sizeof(buf), (double)b->time_in_state_ns / 1e9);
  cells[COL_IN_STATE] = strdup(b != NULL ? buf : "-");
  uint64_t nums[] = {c->requests,         c->attempts,
                     c->retries,          c->budget_denied,
                     c->breaker_rejected, c->local_errors,
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

static void table_line(FILE *f, char *const *cells, const size_t *width) {
  for (size_t i = 0; i < NCOLS; i++) {
    size_t pad = width[i] - display_width(cells[i]);
    if (i + 1 == NCOLS) {
      fputs(cells[i], f);
    } else if (kRightAlign[i]) {
      fprintf(f, "%*s%s  ", (int)pad, "", cells[i]);
    } else {
      fprintf(f, "%s%*s  ", cells[i], (int)pad, "");
    }
  }
  fputc('\n', f);
}

bool stats_table_write(FILE *f, const grpcr_channel_snapshot *snaps,
                       size_t n) {
  char **cells = calloc((n + 1) * NCOLS, sizeof(*cells));
  if (cells == NULL) return false;
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++)
    ok = table_row(&cells[(i + 1) * NCOLS], &snaps[i]);
  if (ok) {
    size_t width[NCOLS];
    for (size_t j = 0; j < NCOLS; j++) {
      cells[j] = (char *)kHeaders[j];
      width[j] = display_width(kHeaders[j]);
      for (size_t i = 1; i <= n; i++) {
        size_t w = display_width(cells[i * NCOLS + j]);
        if (w > width[j]) width[j] = w;
      }
    }
    for (size_t i = 0; i <= n; i++) table_line(f, &cells[i * NCOLS], width);
    if (n == 0) fputs("(no channels)\n", f);
  }
  for (size_t i = NCOLS; i < (n + 1) * NCOLS; i++) free(cells[i]);
  free(cells);
  return ok;
}
