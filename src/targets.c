/* GRPCR_TARGETS: include and exclude patterns (grpcr/targets.h). */
#include "grpcr/targets.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *glob;
  bool exclude;
} pattern;

struct grpcr_target_filter {
  pattern *items;
  size_t count;
  bool has_include;
};

void grpcr_target_filter_free(grpcr_target_filter *f) {
  if (!f) return;
  for (size_t i = 0; i < f->count; i++) free(f->items[i].glob);
  free(f->items);
  free(f);
}

static int fail(grpcr_target_filter *f, char **error, const char *fmt,
                size_t item) {
  grpcr_target_filter_free(f);
  if (error) {
    char buf[128];
    snprintf(buf, sizeof buf, fmt, item);
    *error = strdup(buf);
    if (!*error) return GRPCR_ENOMEM;
  }
  return GRPCR_EINVAL;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t'; }

int grpcr_target_filter_parse(const char *spec, grpcr_target_filter **out,
                              char **error) {
  if (error) *error = NULL;
  if (!spec || !out) return GRPCR_EINVAL;
  *out = NULL;
  grpcr_target_filter *f = calloc(1, sizeof *f);
  size_t n = 1;
  for (const char *p = spec; *p; p++) n += *p == ',';
  if (!f || !(f->items = calloc(n, sizeof *f->items))) {
    free(f);
    return GRPCR_ENOMEM;
  }
  const char *p = spec;
  for (size_t item = 1;; item++) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *b = p, *e = end;
    while (b < e && is_space(*b)) b++;
    while (e > b && is_space(e[-1])) e--;
    bool exclude = b < e && *b == '!';
    if (exclude) b++;
    while (b < e && is_space(*b)) b++;
    if (b == e) {
      return fail(f, error,
                  exclude ? "item %zu is a '!' without a pattern"
                          : "item %zu is empty",
                  item);
    }
    char *glob = strndup(b, (size_t)(e - b));
    if (!glob) {
      grpcr_target_filter_free(f);
      return GRPCR_ENOMEM;
    }
    f->items[f->count++] = (pattern){glob, exclude};
    f->has_include |= !exclude;
    if (!*end) break;
    p = end + 1;
  }
  *out = f;
  return 0;
}

static bool matches(const pattern *pt, const char *target,
                    const char *canonical) {
  return (target && fnmatch(pt->glob, target, 0) == 0) ||
         (canonical && fnmatch(pt->glob, canonical, 0) == 0);
}

bool grpcr_target_filter_includes(const grpcr_target_filter *f,
                                  const char *target, const char *canonical) {
  if (!f) return true;
  bool included = !f->has_include;
  for (size_t i = 0; i < f->count; i++) {
    if (!matches(&f->items[i], target, canonical)) continue;
    if (f->items[i].exclude) return false;
    included = true;
  }
  return included;
}
