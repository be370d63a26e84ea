/* Building a grpcr_json tree node by node (src/json.h), for trees made from
 * another parser's: the shim walks gRPC's parsed Json with these. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/common.h"
#include "json.h"

grpcr_json *grpcr_json_new(grpcr_json_type t) {
  grpcr_json *v = calloc(1, sizeof(*v));
  if (v != NULL) v->type = t;
  return v;
}

grpcr_json *grpcr_json_new_bool(bool b) {
  grpcr_json *v = grpcr_json_new(GRPCR_JSON_BOOL);
  if (v != NULL) v->u.boolean = b;
  return v;
}

/* true if the len bytes are exactly one RFC 8259 number:
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_number_literal(const char *s, size_t len) {
  size_t i = 0;
  if (i < len && s[i] == '-') i++;
  if (i < len && s[i] == '0') {
    i++;
  } else if (i < len && s[i] >= '1' && s[i] <= '9') {
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
  } else {
    return false;
  }
  if (i < len && s[i] == '.') {
    size_t start = ++i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == start) return false;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    size_t start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == start) return false;
  }
  return i == len;
}

grpcr_json *grpcr_json_new_number(const char *literal, size_t len) {
  grpcr_json *v = NULL;
  char *error = NULL;
  int rc = grpcr_json_parse(literal, len, &v, &error);
  const bool overflow = rc == GRPCR_EINVAL && error != NULL &&
                        strstr(error, "number out of range") != NULL &&
                        is_number_literal(literal, len);
  free(error);
  if (overflow) {
    /* A valid literal beyond double (gRPC's parser keeps numbers as text,
     * so 1e999 reaches us): an infinity, which every range check refuses
     * with the field's own message. */
    v = grpcr_json_new(GRPCR_JSON_NUMBER);
    if (v == NULL) return NULL;
    v->u.number.value = len > 0 && literal[0] == '-' ? -INFINITY : INFINITY;
    v->u.number.is_integer = memchr(literal, '.', len) == NULL &&
                             memchr(literal, 'e', len) == NULL &&
                             memchr(literal, 'E', len) == NULL;
    return v;
  }
  if (rc != 0) return NULL;
  if (v->type != GRPCR_JSON_NUMBER) {
    grpcr_json_free(v);
    return NULL;
  }
  return v;
}

/* len bytes and a NUL, in new memory; NULL on ENOMEM. */
static char *copy_bytes(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (copy == NULL) return NULL;
  if (len > 0) memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

grpcr_json *grpcr_json_new_string(const char *s, size_t len) {
  grpcr_json *v = grpcr_json_new(GRPCR_JSON_STRING);
  char *copy = copy_bytes(s, len);
  if (v == NULL || copy == NULL) {
    free(v);
    free(copy);
    return NULL;
  }
  v->u.string.ptr = copy;
  v->u.string.len = len;
  return v;
}

/* Room for one more of n elements of size each. The capacity is 4 for up
 * to 4 elements and the next power of two above that, so appends cost O(1)
 * amortised and need no capacity field. */
static bool grow(void **items, size_t n, size_t size) {
  if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return true;
  const size_t cap = n == 0 ? 4 : n * 2;
  if (cap > SIZE_MAX / size) return false;
  void *p = realloc(*items, cap * size);
  if (p == NULL) return false;
  *items = p;
  return true;
}

int grpcr_json_append(grpcr_json *array, grpcr_json *item) {
  if (array == NULL || array->type != GRPCR_JSON_ARRAY || item == NULL) {
    grpcr_json_free(item);
    return GRPCR_EINVAL;
  }
  void *items = array->u.array.items;
  if (!grow(&items, array->u.array.count, sizeof(grpcr_json *))) {
    grpcr_json_free(item);
    return GRPCR_ENOMEM;
  }
  array->u.array.items = items;
  array->u.array.items[array->u.array.count++] = item;
  return 0;
}

int grpcr_json_add_member(grpcr_json *object, const char *key, size_t key_len,
                          grpcr_json *item) {
  if (object == NULL || object->type != GRPCR_JSON_OBJECT || item == NULL) {
    grpcr_json_free(item);
    return GRPCR_EINVAL;
  }
  void *members = object->u.object.members;
  char *k = copy_bytes(key, key_len);
  if (k == NULL ||
      !grow(&members, object->u.object.count, sizeof(grpcr_json_member))) {
    free(k);
    grpcr_json_free(item);
    return GRPCR_ENOMEM;
  }
  object->u.object.members = members;
  grpcr_json_member *m = &object->u.object.members[object->u.object.count++];
  m->key = k;
  m->key_len = key_len;
  m->value = item;
  return 0;
}
