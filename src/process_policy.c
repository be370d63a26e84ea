/* The process policy (GRPCR_CONFIG, GRPCR_CONFIG_FILE, grpcr-run): a
 * service config limited to what grpc-resilience reads, checked before any
 * channel sees it. Its "resilience" blocks follow the service-config schema
 * (config.c); around them only methodConfig[].name is allowed, with gRPC's
 * own rules for names, so that the config gRPC later builds from it cannot
 * fail. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "grpcr/config.h"
#include "json.h"

static void not_allowed(checker *c, const char *base,
                        const grpcr_json_member *m, const char *allowed) {
  char *f = path_key(c, base, m->key, m->key_len);
  if (f) add_error(c, f, "is not allowed in a process policy (%s)", allowed);
  free(f);
}

/* A string member of a name, or NULL (with an error if it is not one). */
static const grpcr_json *name_part(checker *c, const char *path,
                                   const grpcr_json_member *m) {
  if (m->value->type == GRPCR_JSON_STRING) return m->value;
  char *f = path_key(c, path, m->key, m->key_len);
  if (f) add_error(c, f, "is not a string");
  free(f);
  return NULL;
}

typedef struct {
  const grpcr_json *service, *method; /* NULL: absent */
  char *path;                         /* where it was written */
} seen_name;

static bool same_part(const grpcr_json *a, const grpcr_json *b) {
  size_t la = a ? a->u.string.len : 0, lb = b ? b->u.string.len : 0;
  return la == lb && (la == 0 || memcmp(a->u.string.ptr, b->u.string.ptr,
                                        la) == 0);
}

/* One methodConfig[i].name[j]: an object of "service" and "method", both
 * optional strings, a method only with a service (gRPC's rule); the same
 * name twice in the policy is an error, as gRPC makes it. */
static void check_name(checker *c, const grpcr_json *v, char *path,
                       seen_name *seen, size_t *n_seen) {
  if (v->type != GRPCR_JSON_OBJECT) {
    add_error(c, path, "is not an object");
    free(path);
    return;
  }
  const grpcr_json *service = NULL, *method = NULL;
  bool ok = true;
  for (size_t i = 0; i < v->u.object.count; i++) {
    const grpcr_json_member *m = &v->u.object.members[i];
    if (key_is(m, "service")) {
      service = name_part(c, path, m);
      ok = ok && service != NULL;
    } else if (key_is(m, "method")) {
      method = name_part(c, path, m);
      ok = ok && method != NULL;
    } else {
      char *f = path_key(c, path, m->key, m->key_len);
      if (f) add_error(c, f, "unknown field (a name has service and method)");
      free(f);
      ok = false;
    }
  }
  if (method && method->u.string.len > 0 &&
      (!service || service->u.string.len == 0)) {
    char *f = path_key(c, path, "method", strlen("method"));
    if (f) add_error(c, f, "is given without a service");
    free(f);
    ok = false;
  }
  if (!ok) {
    free(path);
    return;
  }
  for (size_t k = 0; k < *n_seen; k++) {
    if (same_part(seen[k].service, service) &&
        same_part(seen[k].method, method)) {
      add_error(c, path, "names the same methods as %s", seen[k].path);
      free(path);
      return;
    }
  }
  seen[*n_seen] = (seen_name){service, method, path};
  (*n_seen)++;
}

static void check_entry(checker *c, const grpcr_json *e, const char *path,
                        seen_name *seen, size_t *n_seen) {
  if (e->type != GRPCR_JSON_OBJECT) {
    add_error(c, path, "is not an object");
    return;
  }
  const grpcr_json *names = NULL;
  bool has_resilience = false;
  for (size_t i = 0; i < e->u.object.count; i++) {
    const grpcr_json_member *m = &e->u.object.members[i];
    if (key_is(m, "name")) {
      names = m->value;
    } else if (key_is(m, "resilience")) {
      has_resilience = true;
    } else {
      not_allowed(c, path, m,
                  "an entry has only name and resilience: gRPC's own "
                  "settings belong in the application's service config");
    }
  }
  if (!has_resilience) {
    char *f = path_key(c, path, "resilience", strlen("resilience"));
    if (f) add_error(c, f, "is required in a process policy's methodConfig");
    free(f);
  }
  char *f = path_key(c, path, "name", strlen("name"));
  if (!f) return;
  if (!names) {
    add_error(c, f, "is required: the methods the entry applies to");
  } else if (names->type != GRPCR_JSON_ARRAY) {
    add_error(c, f, "is not an array");
  } else if (names->u.array.count == 0) {
    add_error(c, f, "is empty: [{}] names every method");
  } else {
    for (size_t j = 0; j < names->u.array.count; j++) {
      char *p = path_index(c, f, j);
      if (!p) break;
      check_name(c, names->u.array.items[j], p, seen, n_seen); /* owns p */
    }
  }
  free(f);
}

static size_t count_names(const grpcr_json *methods) {
  size_t n = 0;
  for (size_t i = 0; i < methods->u.array.count; i++) {
    const grpcr_json *e = methods->u.array.items[i];
    if (e->type != GRPCR_JSON_OBJECT) continue;
    const grpcr_json *names = grpcr_json_get(e, "name");
    if (names && names->type == GRPCR_JSON_ARRAY) n += names->u.array.count;
  }
  return n;
}

/* False if methodConfig is not an array of objects (the schema check
 * would report that again). */
static bool check_methods(checker *c, const grpcr_json *methods) {
  if (methods->type != GRPCR_JSON_ARRAY) {
    add_error(c, "methodConfig", "is not an array");
    return false;
  }
  bool objects = true;
  for (size_t i = 0; i < methods->u.array.count; i++) {
    objects &= methods->u.array.items[i]->type == GRPCR_JSON_OBJECT;
  }
  size_t cap = count_names(methods);
  seen_name *seen = calloc(cap ? cap : 1, sizeof *seen);
  if (!seen) {
    c->oom = true;
    return false;
  }
  size_t n_seen = 0;
  for (size_t i = 0; i < methods->u.array.count; i++) {
    char *path = path_index(c, "methodConfig", i);
    if (!path) break;
    check_entry(c, methods->u.array.items[i], path, seen, &n_seen);
    free(path);
  }
  for (size_t k = 0; k < n_seen; k++) free(seen[k].path);
  free(seen);
  return objects;
}

int grpcr_config_validate_process(const char *json, size_t len,
                                  grpcr_config_errors *errs) {
  if (!errs || (!json && len)) return GRPCR_EINVAL;
  checker c = {errs, false};
  size_t before = errs->count;
  grpcr_json *root = NULL;
  char *msg = NULL;
  int rc = grpcr_json_parse(json, len, &root, &msg);
  if (rc == GRPCR_EINVAL && msg) {
    add_error(&c, "", "%s", msg);
  } else if (rc != 0) {
    c.oom = true;
  }
  free(msg);
  bool shaped = root && root->type == GRPCR_JSON_OBJECT;
  if (root && !shaped) {
    add_error(&c, "", "is not an object");
  } else if (root) {
    for (size_t i = 0; i < root->u.object.count; i++) {
      const grpcr_json_member *m = &root->u.object.members[i];
      if (key_is(m, "methodConfig")) {
        shaped &= check_methods(&c, m->value);
      } else if (!key_is(m, "resilience")) {
        not_allowed(&c, "", m,
                    "only resilience and methodConfig: gRPC's own settings "
                    "belong in the application's service config");
      }
    }
  }
  grpcr_json_free(root);
  if (c.oom) return GRPCR_ENOMEM;
  /* The resilience blocks themselves, by the service-config schema (which
   * would only repeat a syntax error or a shape error). */
  if (shaped && grpcr_config_validate(json, len, errs) == GRPCR_ENOMEM) {
    return GRPCR_ENOMEM;
  }
  return c.errs->count > before ? GRPCR_ECONFIG : 0;
}
