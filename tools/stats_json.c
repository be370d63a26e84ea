/* grpcr-stats --json: any protobuf-c message as JSON, walked through its
 * descriptors, so a field added to stats.proto prints itself.
 *
 * Keys are the proto field names, in field-number order. Unlike the
 * canonical proto3 mapping, 64-bit integers are JSON numbers (not strings),
 * so that jq can add them; an enum is its value's name without the enum's
 * prefix ("OPEN" for BREAKER_STATE_OPEN), and a value this tool does not
 * know reads as the zero value's ("UNSPECIFIED"); doubles are the shortest
 * decimal that reads back exactly, NaN null and infinities "Infinity" and
 * "-Infinity"; bytes are base64. An absent message (or a proto3 optional
 * scalar not set) is null; a oneof prints only its set member.
 *
 * Layout: the top message and the messages directly in it (the channels)
 * put one field on a line; anything deeper is on one line, but for each
 * element of a channel's repeated messages (its status counts, its
 * methods), which gets a line of its own. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "grpcr/text.h"
#include "stats_cli.h"

/* Messages nested less deep than this put one field on a line. */
#define MULTILINE_DEPTH 2

static void write_message(FILE *f, const ProtobufCMessage *m, int depth,
                          int indent);

static void new_line(FILE *f, int indent) {
  fprintf(f, "\n%*s", indent, "");
}

static void write_double(FILE *f, double d) {
  if (isnan(d)) {
    fputs("null", f);
  } else if (isinf(d)) {
    fputs(d > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
  } else {
    char buf[32];
    grpcr_text_format_double(buf, sizeof(buf), d);
    fputs(buf, f);
  }
}

static void write_base64(FILE *f, const ProtobufCBinaryData *b) {
  static const char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  fputc('"', f);
  for (size_t i = 0; i < b->len; i += 3) {
    size_t k = b->len - i < 3 ? b->len - i : 3;
    uint32_t v = (uint32_t)b->data[i] << 16;
    if (k > 1) v |= (uint32_t)b->data[i + 1] << 8;
    if (k > 2) v |= b->data[i + 2];
    for (size_t j = 0; j < 4; j++)
      fputc(j <= k ? kDigits[(v >> (18 - 6 * j)) & 0x3f] : '=', f);
  }
  fputc('"', f);
}

/* The prefix the style guide puts on an enum's values: "BREAKER_STATE_" for
 * BreakerState. */
static void enum_prefix(char *buf, size_t len, const char *short_name) {
  size_t o = 0;
  for (size_t i = 0; short_name[i] != '\0' && o + 2 < len; i++) {
    unsigned char c = (unsigned char)short_name[i];
    unsigned char prev = i > 0 ? (unsigned char)short_name[i - 1] : 0;
    unsigned char next = (unsigned char)short_name[i + 1];
    bool word = isupper(c) && i > 0 &&
                (islower(prev) || isdigit(prev) ||
                 (isupper(prev) && islower(next)));
    if (word) buf[o++] = '_';
    buf[o++] = (char)toupper(c);
  }
  buf[o++] = '_';
  buf[o] = '\0';
}

static void write_enum(FILE *f, const ProtobufCEnumDescriptor *d, int v) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  if (ev == NULL) ev = protobuf_c_enum_descriptor_get_value(d, 0);
  if (ev == NULL) {
    fprintf(f, "%d", v);
    return;
  }
  char prefix[128];
  enum_prefix(prefix, sizeof(prefix), d->short_name);
  size_t n = strlen(prefix);
  const char *name = ev->name;
  if (strncmp(name, prefix, n) == 0 && name[n] != '\0') name += n;
  grpcr_text_write_json_string(f, name);
}

/* What the writer needs of each protobuf-c type: the size of one value in
 * a repeated field's array, and whether it is an integer (and signed). */
typedef enum { NOT_INTEGER, SIGNED, UNSIGNED } integer_kind;

static const struct {
  size_t size;
  integer_kind integer;
} kTypes[] = {
    [PROTOBUF_C_TYPE_INT32] = {sizeof(int32_t), SIGNED},
    [PROTOBUF_C_TYPE_SINT32] = {sizeof(int32_t), SIGNED},
    [PROTOBUF_C_TYPE_SFIXED32] = {sizeof(int32_t), SIGNED},
    [PROTOBUF_C_TYPE_INT64] = {sizeof(int64_t), SIGNED},
    [PROTOBUF_C_TYPE_SINT64] = {sizeof(int64_t), SIGNED},
    [PROTOBUF_C_TYPE_SFIXED64] = {sizeof(int64_t), SIGNED},
    [PROTOBUF_C_TYPE_UINT32] = {sizeof(uint32_t), UNSIGNED},
    [PROTOBUF_C_TYPE_FIXED32] = {sizeof(uint32_t), UNSIGNED},
    [PROTOBUF_C_TYPE_UINT64] = {sizeof(uint64_t), UNSIGNED},
    [PROTOBUF_C_TYPE_FIXED64] = {sizeof(uint64_t), UNSIGNED},
    [PROTOBUF_C_TYPE_FLOAT] = {sizeof(float), NOT_INTEGER},
    [PROTOBUF_C_TYPE_DOUBLE] = {sizeof(double), NOT_INTEGER},
    [PROTOBUF_C_TYPE_BOOL] = {sizeof(protobuf_c_boolean), NOT_INTEGER},
    [PROTOBUF_C_TYPE_ENUM] = {sizeof(int), NOT_INTEGER},
    [PROTOBUF_C_TYPE_STRING] = {sizeof(char *), NOT_INTEGER},
    [PROTOBUF_C_TYPE_BYTES] = {sizeof(ProtobufCBinaryData), NOT_INTEGER},
    [PROTOBUF_C_TYPE_MESSAGE] = {sizeof(ProtobufCMessage *), NOT_INTEGER},
};

/* An integer of 4 or 8 bytes at p, as a JSON number. */
static void write_integer(FILE *f, integer_kind kind, size_t size,
                          const void *p) {
  if (kind == SIGNED) {
    int64_t v = size == 4 ? *(const int32_t *)p : *(const int64_t *)p;
    fprintf(f, "%" PRId64, v);
  } else {
    uint64_t v = size == 4 ? *(const uint32_t *)p : *(const uint64_t *)p;
    fprintf(f, "%" PRIu64, v);
  }
}

/* One value of field fd, stored at p; depth and indent are those of a
 * message value. */
static void write_value(FILE *f, const ProtobufCFieldDescriptor *fd,
                        const void *p, int depth, int indent) {
  if (kTypes[fd->type].integer != NOT_INTEGER) {
    write_integer(f, kTypes[fd->type].integer, kTypes[fd->type].size, p);
    return;
  }
  switch (fd->type) {
    case PROTOBUF_C_TYPE_FLOAT: write_double(f, *(const float *)p); break;
    case PROTOBUF_C_TYPE_DOUBLE: write_double(f, *(const double *)p); break;
    case PROTOBUF_C_TYPE_BOOL:
      fputs(*(const protobuf_c_boolean *)p ? "true" : "false", f);
      break;
    case PROTOBUF_C_TYPE_ENUM:
      write_enum(f, fd->descriptor, *(const int *)p);
      break;
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)p;
      grpcr_text_write_json_string(f, s != NULL ? s : "");
      break;
    }
    case PROTOBUF_C_TYPE_BYTES:
      write_base64(f, (const ProtobufCBinaryData *)p);
      break;
    case PROTOBUF_C_TYPE_MESSAGE: {
      const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
      if (m == NULL)
        fputs("null", f);
      else
        write_message(f, m, depth, indent);
      break;
    }
    default: /* the integers, above */
      break;
  }
}

/* A repeated field: its elements one to a line if they are messages of a
 * message that puts one field on a line, else all on one line. */
static void write_array(FILE *f, const ProtobufCFieldDescriptor *fd,
                        const char *base, size_t n, int depth, int indent) {
  if (n == 0) {
    fputs("[]", f);
    return;
  }
  bool multiline =
      fd->type == PROTOBUF_C_TYPE_MESSAGE && depth <= MULTILINE_DEPTH;
  const char *items = *(const char *const *)(base + fd->offset);
  size_t size = kTypes[fd->type].size;
  fputc('[', f);
  for (size_t i = 0; i < n; i++) {
    if (i > 0) fputc(',', f);
    if (multiline)
      new_line(f, indent + 2);
    else if (i > 0)
      fputc(' ', f);
    write_value(f, fd, items + i * size, depth, indent + 2);
  }
  if (multiline) new_line(f, indent);
  fputc(']', f);
}

/* Whether field fd is written at all (a oneof's other members are not),
 * and if so whether it is present (else it reads null). */
static bool field_written(const ProtobufCFieldDescriptor *fd,
                          const char *base, bool *present) {
  *present = true;
  if (fd->label != PROTOBUF_C_LABEL_OPTIONAL) return true;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)(base + fd->quantifier_offset) == fd->id;
  bool pointer = fd->type == PROTOBUF_C_TYPE_MESSAGE ||
                 fd->type == PROTOBUF_C_TYPE_STRING;
  if (!pointer && fd->quantifier_offset != 0)
    *present = *(const protobuf_c_boolean *)(base + fd->quantifier_offset);
  return true;
}

/* m at nesting depth (0: the top), starting on a line indented by indent. */
static void write_message(FILE *f, const ProtobufCMessage *m, int depth,
                          int indent) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  bool multiline = depth < MULTILINE_DEPTH;
  bool first = true;
  fputc('{', f);
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[i];
    bool present;
    if (!field_written(fd, base, &present)) continue;
    if (!first) fputc(',', f);
    if (multiline)
      new_line(f, indent + 2);
    else if (!first)
      fputc(' ', f);
    first = false;
    grpcr_text_write_json_string(f, fd->name);
    fputs(": ", f);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
      write_array(f, fd, base,
                  *(const size_t *)(base + fd->quantifier_offset), depth + 1,
                  indent + 2);
    else if (!present)
      fputs("null", f);
    else
      write_value(f, fd, base + fd->offset, depth + 1, indent + 2);
  }
  if (multiline && !first) new_line(f, indent);
  fputc('}', f);
}

void stats_json_write(FILE *f, const ProtobufCMessage *m) {
  write_message(f, m, 0, 0);
  fputc('\n', f);
}
