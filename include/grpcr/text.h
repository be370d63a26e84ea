/* The text forms grpc-resilience's exporters share (the Prometheus
 * renderer in grpcr/metrics.h, the grpcr-stats tool): numbers that read back
 * exactly, and strings made safe for JSON or a Prometheus label whatever
 * bytes they hold. Thread-safe: no shared state. */
#ifndef GRPCR_TEXT_H
#define GRPCR_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include "grpcr/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shortest decimal that reads back as exactly d: "0.001", "60" (not
 * %g's "6e+01"); exponents only outside [1e-4, 1e15). For finite d; 32
 * bytes are always enough. */
GRPCR_API void grpcr_text_format_double(char *buf, size_t len, double d);

/* Writes s as a JSON string literal: quotes, backslashes and control
 * characters escaped (\b \f \n \r \t, else \u00XX, DEL included), each byte
 * that is not part of valid UTF-8 (overlong forms, surrogates and values
 * past U+10FFFF included) as \ufffd. */
GRPCR_API void grpcr_text_write_json_string(FILE *f, const char *s);

/* Writes s as the inside of a Prometheus label value: backslash, double
 * quote and newline escaped as the exposition format requires, each byte
 * that is not part of valid UTF-8 replaced by U+FFFD. */
GRPCR_API void grpcr_text_write_label_value(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif

#endif /* GRPCR_TEXT_H */
