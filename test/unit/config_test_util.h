// Helpers the config suites share: the formatted error list, and the
// results of grpcr_config_validate and grpcr_config_parse_method.
#ifndef GRPCR_TEST_UNIT_CONFIG_TEST_UTIL_H
#define GRPCR_TEST_UNIT_CONFIG_TEST_UTIL_H

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "grpcr/config.h"

namespace {

inline std::string Format(const grpcr_config_errors &errs) {
  char *s = grpcr_config_errors_format(&errs);
  std::string out = s ? s : "<ENOMEM>";
  free(s);
  return out;
}

// The formatted errors of grpcr_config_validate; "" when valid.
inline std::string Validate(const std::string &json) {
  grpcr_config_errors errs = {};
  int rc = grpcr_config_validate(json.data(), json.size(), &errs);
  std::string out = Format(errs);
  EXPECT_EQ(rc, errs.count ? GRPCR_ECONFIG : 0) << out;
  grpcr_config_errors_free(&errs);
  return out;
}

struct Method {
  int rc;
  grpcr_retry_policy policy;
  bool has_policy;
  std::string errors;
};

inline Method ParseMethod(const std::string &entry, const char *path = "methodConfig[0]") {
  Method m;
  grpcr_config_errors errs = {};
  m.rc = grpcr_config_parse_method(entry.data(), entry.size(), path, &m.policy, &m.has_policy, &errs);
  m.errors = Format(errs);
  EXPECT_EQ(m.rc, errs.count ? GRPCR_ECONFIG : 0) << m.errors;
  grpcr_config_errors_free(&errs);
  return m;
}

// A method entry whose resilience block has maxAttempts 3 and these members.
inline Method ParseRetry(const std::string &members) {
  return ParseMethod("{\"resilience\": {\"maxAttempts\": 3" + (members.empty() ? "" : ", " + members) + "}}");
}
inline std::string RetryField(const std::string &member) { return ParseRetry(member).errors; }

const std::string kRetry = "field:methodConfig[0].resilience.";

}  // namespace

#endif  // GRPCR_TEST_UNIT_CONFIG_TEST_UTIL_H
