/* Fuzz target: service-config validation, as grpcr_validate_service_config
 * does it.
 *
 * grpcr_validate_service_config (interceptor/config_parser.cc) is a thin
 * wrapper around the core: a NULL check, grpcr_config_validate(json,
 * strlen(json), &errs), grpcr_config_errors_format and
 * grpcr_config_errors_free. That file is C++ and includes gRPC, so this
 * target carries a C copy of the wrapper (validate_service_config below,
 * kept line for line the same) and links only the core (the C files of src/): no gRPC
 * is needed. The fuzz input is NUL-terminated into a buffer of exactly
 * size + 1 bytes, as the public API takes a C string; an embedded NUL ends
 * the text, as strlen does in the real wrapper.
 *
 * Covered: the JSON parser (src/json.c) on whole service configs, the schema
 * (src/config.c: every field, range, duration and status code), the error
 * list and its formatting (src/config_errors.c, src/strbuf.c,
 * src/duration.c). Checked beyond "no crash, no leak, no UB": the return
 * value is 0 or GRPCR_ECONFIG (GRPCR_ENOMEM cannot happen within the RSS
 * limit), errors come exactly with GRPCR_ECONFIG, and the formatted text
 * has one line per error, each "field:<path> error:<message>", valid UTF-8
 * with no control character but the newlines between lines (user text in
 * errors is escaped and cut on a character boundary). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcr/common.h"
#include "grpcr/config.h"
#include "fuzz_checks.h"

/* The C copy of interceptor/config_parser.cc's wrapper. */
static int validate_service_config(const char *json, char **errors) {
  if (errors != NULL) *errors = NULL;
  if (json == NULL) {
    if (errors != NULL) *errors = strdup("field: error:service config is NULL");
    return GRPCR_EINVAL;
  }
  grpcr_config_errors errs = {0};
  int rc = grpcr_config_validate(json, strlen(json), &errs);
  if (rc != 0 && errors != NULL) *errors = grpcr_config_errors_format(&errs);
  grpcr_config_errors_free(&errs);
  return rc;
}

/* Valid UTF-8 with no control character other than '\n'. */
static bool printable_lines(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if ((s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7F) return false;
  }
  return valid_utf8(s, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *json = malloc(size + 1);
  if (json == NULL) return 0;
  if (size > 0) memcpy(json, data, size);
  json[size] = '\0';

  char *errors = NULL;
  int rc = validate_service_config(json, &errors);
  CHECK(rc == 0 || rc == GRPCR_ECONFIG);
  if (rc == 0) {
    CHECK(errors == NULL);
  } else {
    CHECK(errors != NULL);
    /* Every line is "field:<path> error:<message>". */
    size_t lines = 0;
    for (const char *line = errors; line != NULL;) {
      CHECK(strncmp(line, "field:", 6) == 0);
      const char *nl = strchr(line, '\n');
      const char *err = strstr(line, " error:");
      CHECK(err != NULL && (nl == NULL || err < nl));
      lines++;
      line = nl ? nl + 1 : NULL;
    }
    CHECK(lines >= 1);
    CHECK(printable_lines((const unsigned char *)errors, strlen(errors)));
  }
  grpcr_free(errors);
  free(json);
  return 0;
}
