/* A small, strict RFC 8259 JSON parser producing a DOM, private to the core
 * (the config validator is its only user). Objects keep member order and
 * reject duplicate keys, as gRPC's own reader does; strings are decoded to
 * UTF-8 (invalid UTF-8 and unpaired surrogates are errors); nesting is
 * limited to GRPCR_JSON_MAX_DEPTH so that recursion stays bounded on any
 * input. Thread-safe: no shared mutable state. */
#ifndef GRPCR_JSON_H
#define GRPCR_JSON_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Arrays and objects nested deeper than this are a parse error. */
#define GRPCR_JSON_MAX_DEPTH 64

typedef enum {
  GRPCR_JSON_NULL = 0,
  GRPCR_JSON_BOOL,
  GRPCR_JSON_NUMBER,
  GRPCR_JSON_STRING,
  GRPCR_JSON_ARRAY,
  GRPCR_JSON_OBJECT,
} grpcr_json_type;

typedef struct grpcr_json grpcr_json;

typedef struct {
  char *key;      /* decoded, NUL-terminated; may hold "\u0000" as a NUL */
  size_t key_len; /* bytes, without the terminator */
  grpcr_json *value;
} grpcr_json_member;

struct grpcr_json {
  grpcr_json_type type;
  union {
    bool boolean;
    struct {
      double value;
      bool is_integer; /* the literal had no fraction and no exponent */
    } number;
    struct {
      char *ptr; /* decoded, NUL-terminated; may hold embedded NULs */
      size_t len;
    } string;
    struct {
      grpcr_json **items;
      size_t count;
    } array;
    struct {
      grpcr_json_member *members; /* in document order, keys unique */
      size_t count;
    } object;
  } u;
};

/* Parses exactly one JSON value (surrounded by optional whitespace) from len
 * bytes of text, which need not be NUL-terminated. Returns 0 and sets *out
 * (free with grpcr_json_free); or GRPCR_EINVAL on a syntax error, with
 * *error (if error is not NULL) a malloc'd "JSON parse error at L:C: ..."
 * message (lines and columns from 1, columns in characters), NULL only if
 * that message could not be allocated; or GRPCR_ENOMEM. *out is NULL on any
 * error. */
int grpcr_json_parse(const char *text, size_t len, grpcr_json **out,
                     char **error);

/* Frees a whole tree; NULL is a no-op. */
void grpcr_json_free(grpcr_json *v);

/* The value of member key in an object; NULL if v is not an object or has
 * no such member. Keys with embedded NULs never match. */
const grpcr_json *grpcr_json_get(const grpcr_json *v, const char *key);

/* Builders, for a tree made from another parser's (the shim walks gRPC's
 * parsed Json). Each returns a new node (free with grpcr_json_free), or
 * NULL on ENOMEM. new_number reads a JSON number literal exactly as the
 * parser does (NULL also if literal is not one), except that one beyond
 * the range of double (1e999, which the parser refuses) becomes an
 * infinity of its sign; new_string copies len bytes. */
grpcr_json *grpcr_json_new(grpcr_json_type t); /* NULL, ARRAY or OBJECT */
grpcr_json *grpcr_json_new_bool(bool b);
grpcr_json *grpcr_json_new_number(const char *literal, size_t len);
grpcr_json *grpcr_json_new_string(const char *s, size_t len);
/* Append to an array, add to an object (keys are not checked: the other
 * parser rejected duplicates). Both take item whatever they return: 0, or
 * GRPCR_ENOMEM (item freed) or GRPCR_EINVAL (wrong type, item freed). */
int grpcr_json_append(grpcr_json *array, grpcr_json *item);
int grpcr_json_add_member(grpcr_json *object, const char *key, size_t key_len,
                          grpcr_json *item);

/* "null", "boolean", "number", "string", "array" or "object". */
const char *grpcr_json_type_name(grpcr_json_type t);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_JSON_H */
