// Hostile and extreme service configs: every field of the schema given each
// wrong JSON type and extreme values, 1 MB strings and keys, 10,000-element
// arrays and objects, nesting 10,000 deep, duplicate keys at every level,
// invalid UTF-8 and embedded NULs. Each gives exact "field:<path>
// error:<message>" lines, one per problem, and no message holds a line
// break. The large cases record their elapsed time as a test property
// (elapsed_ms) but assert nothing about it.
#include "grpcr/config.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>

namespace {

constexpr int kInternal = 13;

// The checks every error list must pass: each entry has a field (the root is
// ""), a non-empty message, no line break in either, and the formatted list
// has exactly one "field:... error:..." line per entry.
void ExpectWellFormed(const grpcr_config_errors &errs, const std::string &text) {
  for (size_t i = 0; i < errs.count; i++) {
    ASSERT_NE(errs.items[i].field, nullptr);
    ASSERT_NE(errs.items[i].message, nullptr);
    EXPECT_NE(errs.items[i].message[0], '\0') << i;
    EXPECT_EQ(strpbrk(errs.items[i].field, "\r\n"), nullptr) << i;
    EXPECT_EQ(strpbrk(errs.items[i].message, "\r\n"), nullptr) << i;
  }
  size_t lines = text.empty() ? 0 : 1;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, errs.count);
}

std::string Format(const grpcr_config_errors &errs) {
  char *s = grpcr_config_errors_format(&errs);
  std::string out = s ? s : "<ENOMEM>";
  grpcr_free(s);
  return out;
}

struct Result {
  int rc;
  size_t count;
  std::string text;  // the formatted list; "" when valid
};

Result Finish(int rc, grpcr_config_errors *errs) {
  Result r{rc, errs->count, Format(*errs)};
  ExpectWellFormed(*errs, r.text);
  EXPECT_EQ(rc, errs->count ? GRPCR_ECONFIG : 0) << r.text.substr(0, 300);
  grpcr_config_errors_free(errs);
  return r;
}

Result Validate(const std::string &json) {
  grpcr_config_errors errs = {};
  return Finish(grpcr_config_validate(json.data(), json.size(), &errs), &errs);
}

Result ParseChannel(const std::string &json) {
  grpcr_config_errors errs = {};
  grpcr_channel_config cfg;
  return Finish(grpcr_config_parse_channel(json.data(), json.size(), &cfg, &errs), &errs);
}

Result ParseMethod(const std::string &entry) {
  grpcr_config_errors errs = {};
  grpcr_retry_policy policy;
  bool has_policy;
  return Finish(grpcr_config_parse_method(entry.data(), entry.size(), "methodConfig[0]", &policy, &has_policy, &errs),
                &errs);
}

std::string V(const std::string &json) { return Validate(json).text; }

// Runs f and records how long it took as the elapsed_ms test property.
template <typename F>
void Timed(F f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ::testing::Test::RecordProperty("elapsed_ms", static_cast<int>(ms));
}

enum Block { kBudget, kBreaker, kMethod };

// One field of the schema, with the message for a value of the wrong type
// and the JSON type it wants.
struct Field {
  Block block;
  const char *key;
  const char *wrong_type;
  const char *json_type;
};

const char kNotNumber[] = "is not a number", kNotString[] = "is not a string", kNotArray[] = "is not an array";

const Field kFields[] = {
    {kBudget, "ratio", kNotNumber, "number"},           {kBudget, "minRetriesPerSecond", kNotNumber, "number"},
    {kBudget, "window", kNotString, "string"},          {kBudget, "scope", kNotString, "string"},
    {kBreaker, "failureRateThreshold", kNotNumber, "number"}, {kBreaker, "minimumCalls", kNotNumber, "number"},
    {kBreaker, "window", kNotString, "string"},         {kBreaker, "openDuration", kNotString, "string"},
    {kBreaker, "halfOpenMaxCalls", kNotNumber, "number"}, {kBreaker, "probeTimeout", kNotString, "string"},
    {kBreaker, "tripOnStatusCodes", kNotArray, "array"}, {kMethod, "maxAttempts", kNotNumber, "number"},
    {kMethod, "initialBackoff", kNotString, "string"},  {kMethod, "maxBackoff", kNotString, "string"},
    {kMethod, "backoffMultiplier", kNotNumber, "number"}, {kMethod, "jitter", kNotString, "string"},
    {kMethod, "retryableStatusCodes", kNotArray, "array"},
};

const Field &F(Block block, const char *key) {
  for (const Field &f : kFields) {
    if (f.block == block && strcmp(f.key, key) == 0) return f;
  }
  abort();
}

std::string Path(const Field &f) {
  static const char *const base[] = {"resilience.retryBudget.", "resilience.circuitBreaker.",
                                     "methodConfig[0].resilience."};
  return base[f.block] + std::string(f.key);
}

// A methodConfig entry whose resilience block has maxAttempts 3 and f.
std::string MethodEntry(const Field &f, const std::string &value) {
  std::string other = strcmp(f.key, "maxAttempts") == 0 ? "" : "\"maxAttempts\": 3, ";
  return "{\"resilience\": {" + other + "\"" + f.key + "\": " + value + "}}";
}

// A whole service config with value for field f and nothing else to report.
std::string Doc(const Field &f, const std::string &value) {
  if (f.block == kMethod) return "{\"methodConfig\": [" + MethodEntry(f, value) + "]}";
  const char *block = f.block == kBudget ? "retryBudget" : "circuitBreaker";
  return std::string("{\"resilience\": {\"") + block + "\": {\"" + f.key + "\": " + value + "}}}";
}

// The validate errors for value in f; checks that the entry point for f's
// block (parse_channel or parse_method) reports exactly the same.
std::string FieldErrors(const Field &f, const std::string &value) {
  Result r = Validate(Doc(f, value));
  Result other = f.block == kMethod ? ParseMethod(MethodEntry(f, value)) : ParseChannel(Doc(f, value));
  EXPECT_EQ(other.text, r.text) << Path(f) << " = " << value;
  return r.text;
}

std::string Line(const Field &f, const std::string &message) { return "field:" + Path(f) + " error:" + message; }

// "field: error:JSON parse error at 1:<col of what in doc>: message".
std::string ParseErrorAt(const std::string &doc, const std::string &what, const std::string &message,
                         size_t skip = 0) {
  return "field: error:JSON parse error at 1:" + std::to_string(doc.find(what) + 1 + skip) + ": " + message;
}

const char kForm[] = ": expected seconds with up to 9 fractional digits and an \"s\" suffix, like \"0.1s\"";

std::string Repeat(const std::string &s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) out += s;
  return out;
}

const size_t kMB = 1 << 20;

TEST(ConfigHostileTest, EveryFieldGivenEveryWrongTypeNamesTheField) {
  const struct {
    const char *literal;
    const char *json_type;
  } values[] = {{"null", "null"}, {"true", "boolean"}, {"false", "boolean"}, {"0", "number"},
                {"-1.5", "number"}, {"\"x\"", "string"}, {"\"\"", "string"}, {"\"NaN\"", "string"},
                {"\"Infinity\"", "string"}, {"[]", "array"}, {"[1]", "array"}, {"{}", "object"},
                {"{\"a\": 1}", "object"}};
  int cases = 0;
  for (const Field &f : kFields) {
    for (const auto &v : values) {
      if (strcmp(v.json_type, f.json_type) == 0) continue;
      EXPECT_EQ(FieldErrors(f, v.literal), Line(f, f.wrong_type)) << v.literal;
      cases++;
    }
  }
  EXPECT_EQ(cases, 7 * 11 + 8 * 9 + 2 * 11);  // number, string and array fields
}

TEST(ConfigHostileTest, EveryBlockGivenEveryWrongTypeNamesTheBlock) {
  const char *const values[] = {"null", "true", "7", "\"x\"", "[]", "[{}]", "{}"};
  const struct {
    const char *before, *after, *line;
    const char *accepts;  // the literal of the right type, which is valid
  } blocks[] = {
      {"", "", "field: error:is not an object", "{}"},
      {"{\"resilience\": ", "}", "field:resilience error:is not an object", "{}"},
      {"{\"resilience\": {\"retryBudget\": ", "}}", "field:resilience.retryBudget error:is not an object", "{}"},
      {"{\"resilience\": {\"circuitBreaker\": ", "}}", "field:resilience.circuitBreaker error:is not an object",
       "{}"},
      {"{\"methodConfig\": ", "}", "field:methodConfig error:is not an array", "[]"},
      {"{\"methodConfig\": [", "]}", "field:methodConfig[0] error:is not an object", "{}"},
      {"{\"methodConfig\": [{\"resilience\": ", "}]}", "field:methodConfig[0].resilience error:is not an object",
       "{}"},
  };
  for (const auto &b : blocks) {
    for (const char *v : values) {
      std::string doc = b.before + std::string(v) + b.after;
      std::string want = b.line;
      if (strcmp(v, b.accepts) == 0) {
        want = strstr(b.line, "[0].resilience ") ? "field:methodConfig[0].resilience.maxAttempts error:is required"
                                                 : "";
      } else if (strcmp(b.accepts, "[]") == 0 && strcmp(v, "[{}]") == 0) {
        want = "";  // an array of one entry without a resilience block
      }
      EXPECT_EQ(V(doc), want) << doc;
    }
  }
}

// Each row: a number literal, then what each numeric field gives, in the
// order ratio, minRetriesPerSecond, failureRateThreshold, backoffMultiplier,
// minimumCalls, halfOpenMaxCalls, maxAttempts: 'o' valid, 'R' out of range,
// 'I' not an integer.
TEST(ConfigHostileTest, ExtremeNumbersInEveryNumericField) {
  const Field *fields[] = {&F(kBudget, "ratio"),        &F(kBudget, "minRetriesPerSecond"),
                           &F(kBreaker, "failureRateThreshold"), &F(kMethod, "backoffMultiplier"),
                           &F(kBreaker, "minimumCalls"), &F(kBreaker, "halfOpenMaxCalls"),
                           &F(kMethod, "maxAttempts")};
  const char *const range[] = {"must be between 0 and 10",       "must be between 0 and 1000000",
                               "must be greater than 0 and at most 1", "must be between 1 and 100",
                               "must be between 1 and 1000000",  "must be between 1 and 1000",
                               "must be between 1 and 100"};
  const struct {
    const char *literal;
    const char *want;
  } rows[] = {
      {"-1", "RRRRRRR"},
      {"0", "ooRRRRR"},
      {"-0", "ooRRRRR"},
      {"-0.0", "ooRRIII"},
      {"1", "ooooooo"},
      {"2.5", "ooRoIII"},
      {"1e2", "RoRoIII"},
      {"1E+0", "ooooIII"},
      {"1e308", "RRRRIII"},
      {"-1e308", "RRRRIII"},
      {"1.7976931348623157e308", "RRRRIII"},
      {"4.9e-324", "oooRIII"},
      {"1e-999", "ooRRIII"},   // rounds to 0
      {"-1e-999", "ooRRIII"},  // rounds to -0
      {"18446744073709551616", "RRRRRRR"},
      {"99999999999999999999", "RRRRRRR"},
      {"-18446744073709551616", "RRRRRRR"},
      {"4294967297", "RRRRRRR"},  // 2^32 + 1 must not wrap to 1
      {"100.0000000000000001", "RoRoIII"},  // rounds to 100
  };
  for (const auto &row : rows) {
    for (size_t i = 0; i < 7; i++) {
      char w = row.want[i];
      std::string want = w == 'o' ? "" : Line(*fields[i], w == 'R' ? range[i] : "must be an integer");
      EXPECT_EQ(FieldErrors(*fields[i], row.literal), want) << fields[i]->key << " = " << row.literal;
    }
  }
}

TEST(ConfigHostileTest, NegativeZeroRatioIsAcceptedAsZero) {
  grpcr_channel_config cfg;
  grpcr_config_errors errs = {};
  const char json[] = R"({"resilience": {"retryBudget": {"ratio": -0, "minRetriesPerSecond": -0.0}}})";
  ASSERT_EQ(grpcr_config_parse_channel(json, strlen(json), &cfg, &errs), 0) << Format(errs);
  EXPECT_EQ(cfg.budget.ratio, 0.0);
  EXPECT_EQ(cfg.budget.min_retries_per_second, 0.0);
}

TEST(ConfigHostileTest, NumbersBeyondDoubleAndNonJsonNumbersArePositionedParseErrors) {
  const struct {
    std::string literal;
    const char *message;
    size_t skip;  // the error is this many bytes into the literal
  } rows[] = {
      {"1e999", "number out of range", 0},
      {"-1e999", "number out of range", 0},
      {"1" + std::string(400, '0'), "number out of range", 0},
      {"NaN", "expected a value, found 'N'", 0},
      {"Infinity", "expected a value, found 'I'", 0},
      {"-Infinity", "expected a digit after '-', found 'I'", 1},
      {"0x10", "expected ',' or '}', found 'x'", 1},
      {"+1", "expected a value, found '+'", 0},
      {".5", "expected a value, found '.'", 0},
      {"05", "invalid number: leading zeros are not allowed", 1},
  };
  for (const Field &f : kFields) {
    if (strcmp(f.json_type, "number") != 0) continue;
    for (const auto &row : rows) {
      std::string doc = Doc(f, row.literal);
      EXPECT_EQ(V(doc), ParseErrorAt(doc, row.literal, row.message, row.skip)) << f.key;
    }
  }
}

// Each row: a duration string, then 'F' (malformed) or 'R' (out of range)
// for budget.window, breaker.window, openDuration, probeTimeout,
// initialBackoff and maxBackoff.
TEST(ConfigHostileTest, ExtremeDurationsInEveryDurationField) {
  const Field *fields[] = {&F(kBudget, "window"),       &F(kBreaker, "window"),
                           &F(kBreaker, "openDuration"), &F(kBreaker, "probeTimeout"),
                           &F(kMethod, "initialBackoff"), &F(kMethod, "maxBackoff")};
  const char *const range[] = {"must be between 1s and 3600s", "must be between 1s and 3600s",
                               "must be between 0.001s and 86400s", "must be between 0.001s and 86400s",
                               "must be greater than 0s and at most 3600s",
                               "must be greater than 0s and at most 3600s"};
  const struct {
    const char *text;
    char want;
  } rows[] = {
      {"99999999999999999999s", 'R'}, {"18446744073709551616s", 'R'}, {"9223372036.854775808s", 'R'},
      {"9223372036.854775807s", 'R'}, {"86401s", 'R'}, {"0s", 'R'}, {"0.000000000s", 'R'},
      {"000000000000000000000000000000s", 'R'}, {"1e3s", 'F'}, {"-1s", 'F'}, {"-0s", 'F'}, {"+1s", 'F'},
      {"0.0000000001s", 'F'}, {"1.s", 'F'}, {".5s", 'F'}, {"5", 'F'}, {"5ms", 'F'}, {"5S", 'F'}, {"NaN", 'F'},
      {"Infinity", 'F'}, {"inf", 'F'}, {"nan", 'F'}, {"NaNs", 'F'}, {"infs", 'F'}, {"0x10s", 'F'}, {"", 'F'},
      {" 1s", 'F'}, {"1s ", 'F'}, {"1,5s", 'F'}, {"1ss", 'F'}, {"s", 'F'}, {"1.5.s", 'F'},
  };
  for (const auto &row : rows) {
    for (size_t i = 0; i < 6; i++) {
      std::string want = row.want == 'R' ? range[i] : "invalid duration \"" + std::string(row.text) + "\"" + kForm;
      EXPECT_EQ(FieldErrors(*fields[i], "\"" + std::string(row.text) + "\""), Line(*fields[i], want))
          << fields[i]->key << " = " << row.text;
    }
  }
}

TEST(ConfigHostileTest, OneMegabyteStringValuesAreCutInTheMessage) {
  Timed([] {
    const std::string big(kMB, 'A');
    const std::string cut = "\"" + std::string(64, 'A') + "...\"";
    EXPECT_EQ(V(Doc(F(kBudget, "scope"), "\"" + big + "\"")),
              Line(F(kBudget, "scope"), "unknown scope " + cut + ": must be CHANNEL or TARGET"));
    EXPECT_EQ(V(Doc(F(kMethod, "jitter"), "\"" + big + "\"")),
              Line(F(kMethod, "jitter"), "unknown jitter " + cut + ": must be NONE, FULL, EQUAL or DECORRELATED"));
    EXPECT_EQ(V(Doc(F(kBreaker, "openDuration"), "\"" + big + "\"")),
              Line(F(kBreaker, "openDuration"), "invalid duration " + cut + kForm));
    EXPECT_EQ(V(Doc(F(kBreaker, "tripOnStatusCodes"), "[\"" + big + "\"]")),
              "field:resilience.circuitBreaker.tripOnStatusCodes[0] error:unknown status code " + cut);
    // A megabyte of digits is a well-formed duration too large for int64 ns.
    const std::string digits(kMB, '9');
    EXPECT_EQ(V(Doc(F(kBudget, "window"), "\"" + digits + "s\"")),
              Line(F(kBudget, "window"), "must be between 1s and 3600s"));
    EXPECT_EQ(V(Doc(F(kBudget, "window"), "\"" + digits + "\"")),
              Line(F(kBudget, "window"), "invalid duration \"" + std::string(64, '9') + "...\"" + kForm));
    // Escaped line breaks stay escaped after the cut; the cut counts bytes.
    EXPECT_EQ(V(Doc(F(kBudget, "scope"), "\"" + Repeat("\\n", kMB / 2) + "\"")),
              Line(F(kBudget, "scope"), "unknown scope \"" + Repeat("\\n", 64) + "...\": must be CHANNEL or TARGET"));
    EXPECT_EQ(V(Doc(F(kBudget, "scope"), "\"" + Repeat("\\u0000", kMB / 6) + "\"")),
              Line(F(kBudget, "scope"),
                   "unknown scope \"" + Repeat("\\u0000", 64) + "...\": must be CHANNEL or TARGET"));
  });
}

TEST(ConfigHostileTest, OneMegabyteKeysAreCutInThePath) {
  Timed([] {
    const std::string key(kMB, 'K');
    const std::string cut = std::string(64, 'K') + "...";
    EXPECT_EQ(V("{\"resilience\": {\"" + key + "\": 1}}"), "field:resilience." + cut + " error:unknown field");
    EXPECT_EQ(V("{\"resilience\": {\"retryBudget\": {\"" + key + "\": 1}}}"),
              "field:resilience.retryBudget." + cut + " error:unknown field");
    EXPECT_EQ(V("{\"resilience\": {\"circuitBreaker\": {\"" + key + "\": 1}}}"),
              "field:resilience.circuitBreaker." + cut + " error:unknown field");
    EXPECT_EQ(V("{\"methodConfig\": [{\"resilience\": {\"maxAttempts\": 2, \"" + key + "\": 1}}]}"),
              "field:methodConfig[0].resilience." + cut + " error:unknown field");
    // Outside the resilience blocks keys are gRPC's business: not checked.
    EXPECT_EQ(V("{\"" + key + "\": 1, \"methodConfig\": [{\"" + key + "\": 1}]}"), "");
  });
}

TEST(ConfigHostileTest, LongMultibyteKeyIsCutOnACharacterBoundary) {
  // "a" then two-byte characters: byte 64 is inside one, so 63 bytes show.
  std::string key = "a" + Repeat("\xC3\xA9", 100);
  EXPECT_EQ(V("{\"resilience\": {\"" + key + "\": 1}}"),
            "field:resilience.a" + Repeat("\xC3\xA9", 31) + "... error:unknown field");
}

// Regression: a long duplicate key was cut at a fixed byte count, through
// a multi-byte character (invalid UTF-8 in the message) and with no sign it
// was cut. It is now cut like other user text: 64 bytes at most, whole
// characters, then "...".
TEST(ConfigHostileTest, LongDuplicateKeyIsCutOnACharacterBoundary) {
  auto dup = [](const std::string &key) {
    std::string doc = "{\"x\": {\"" + key + "\": 1, \"" + key + "\": 2}}";
    return std::make_pair(doc, doc.rfind("\"" + key));
  };
  std::string doc;
  size_t at;
  std::tie(doc, at) = dup("a" + Repeat("\xE2\x82\xAC", 400));
  EXPECT_EQ(V(doc), "field: error:JSON parse error at 1:" + std::to_string(at + 1 - 2 * 400) +
                        ": duplicate key \"a" + Repeat("\xE2\x82\xAC", 21) + "...\"");
  std::tie(doc, at) = dup(std::string(kMB, 'K'));
  EXPECT_EQ(V(doc), "field: error:JSON parse error at 1:" + std::to_string(at + 1) + ": duplicate key \"" +
                        std::string(64, 'K') + "...\"");
  std::tie(doc, at) = dup(std::string(64, 'K'));
  EXPECT_EQ(V(doc), "field: error:JSON parse error at 1:" + std::to_string(at + 1) + ": duplicate key \"" +
                        std::string(64, 'K') + "\"");
  std::tie(doc, at) = dup(Repeat("\\n", 20));
  EXPECT_EQ(V(doc), "field: error:JSON parse error at 1:" + std::to_string(at + 1) + ": duplicate key \"" +
                        Repeat("\\u000A", 10) + "...\"");
}

TEST(ConfigHostileTest, TenThousandValidCodesAreAccepted) {
  Timed([] {
    std::string codes = "[\"INTERNAL\"" + Repeat(", \"INTERNAL\"", 9999) + "]";
    std::string json = "{\"resilience\": {\"circuitBreaker\": {\"tripOnStatusCodes\": " + codes + "}}}";
    grpcr_channel_config cfg;
    grpcr_config_errors errs = {};
    ASSERT_EQ(grpcr_config_parse_channel(json.data(), json.size(), &cfg, &errs), 0) << Format(errs);
    EXPECT_EQ(cfg.breaker.trip_codes, GRPCR_CODE_BIT(kInternal));
    EXPECT_EQ(V(json), "");
  });
}

// One error per bad element, none dropped: the list grows with the input,
// linearly, and every line is still one line.
TEST(ConfigHostileTest, TenThousandUnknownCodesGiveOneErrorEach) {
  Timed([] {
    std::string codes = "[\"X\"" + Repeat(", \"X\"", 9999) + "]";
    Result r = Validate(Doc(F(kMethod, "retryableStatusCodes"), codes));
    ASSERT_EQ(r.count, 10000u);
    const std::string base = "field:methodConfig[0].resilience.retryableStatusCodes[";
    EXPECT_EQ(r.text.substr(0, r.text.find('\n')), base + "0] error:unknown status code \"X\"");
    EXPECT_EQ(r.text.substr(r.text.rfind('\n') + 1), base + "9999] error:unknown status code \"X\"");
  });
}

TEST(ConfigHostileTest, TenThousandUnknownKeysGiveOneErrorEach) {
  Timed([] {
    std::string members;
    for (int i = 0; i < 10000; i++) members += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": null";
    Result r = Validate("{\"resilience\": {\"circuitBreaker\": {" + members + "}}}");
    ASSERT_EQ(r.count, 10000u);
    EXPECT_EQ(r.text.substr(r.text.rfind('\n') + 1), "field:resilience.circuitBreaker.k9999 error:unknown field");
  });
}

TEST(ConfigHostileTest, TenThousandMethodEntriesAreEachChecked) {
  Timed([] {
    std::string entries = "{\"resilience\": {\"maxAttempts\": 0}}" +
                          Repeat(", {\"resilience\": {\"maxAttempts\": 0}}", 9999);
    Result r = Validate("{\"methodConfig\": [" + entries + "]}");
    ASSERT_EQ(r.count, 10000u);
    EXPECT_EQ(r.text.substr(r.text.rfind('\n') + 1),
              "field:methodConfig[9999].resilience.maxAttempts error:must be between 1 and 100");
  });
}

TEST(ConfigHostileTest, NestingTenThousandDeepIsOneParseErrorAtLevel65) {
  Timed([] {
    const std::string deep = "field: error:JSON parse error at 1:";
    const std::string msg = ": nesting deeper than 64 levels";
    EXPECT_EQ(V(std::string(10000, '[')), deep + "65" + msg);
    EXPECT_EQ(V(std::string(10000, '[') + std::string(10000, ']')), deep + "65" + msg);
    EXPECT_EQ(V(Repeat("{\"a\": ", 10000)), deep + std::to_string(64 * 6 + 1) + msg);
    EXPECT_EQ(V(Repeat("[{\"a\": ", 5000)), deep + std::to_string(32 * 7 + 1) + msg);
    std::string doc = Doc(F(kBudget, "ratio"), std::string(10000, '['));
    EXPECT_EQ(V(doc), deep + std::to_string(doc.find('[') + 1 + 61) + msg);
    EXPECT_EQ(V(std::string(kMB, '[')), deep + "65" + msg);
  });
}

TEST(ConfigHostileTest, NestingOf64LevelsParsesAndIsCheckedByType) {
  EXPECT_EQ(V(std::string(64, '[') + std::string(64, ']')), "field: error:is not an object");
  // The document and two blocks are 3 levels: 61 more make 64.
  const Field &ratio = F(kBudget, "ratio");
  EXPECT_EQ(V(Doc(ratio, std::string(61, '[') + std::string(61, ']'))), Line(ratio, "is not a number"));
  std::string doc = Doc(ratio, std::string(62, '[') + std::string(62, ']'));
  EXPECT_EQ(V(doc), "field: error:JSON parse error at 1:" + std::to_string(doc.find('[') + 62) +
                        ": nesting deeper than 64 levels");
}

TEST(ConfigHostileTest, DuplicateKeysAtEveryLevelArePositionedParseErrors) {
  const char *const docs[] = {
      R"({"methodConfig": [], "methodConfig": []})",
      R"({"resilience": {"retryBudget": {}, "retryBudget": {}}})",
      R"({"resilience": {"retryBudget": {"ratio": 0.1, "ratio": 0.1}}})",
      R"({"resilience": {"circuitBreaker": {"window": "1s", "minimumCalls": 5, "window": "2s"}}})",
      R"({"methodConfig": [{"resilience": {"maxAttempts": 2}, "resilience": {"maxAttempts": 2}}]})",
      R"({"methodConfig": [{"resilience": {"maxAttempts": 2, "maxAttempts": 3}}]})",
      R"({"methodConfig": [{"name": [{"service": "a", "service": "b"}]}]})",  // outside our blocks
      R"({"resilience": {"a\u0000": 1, "a\u0000": 2}})",
  };
  // Each key as written in the document, which is also how the message shows it.
  const char *const keys[] = {"methodConfig", "retryBudget", "ratio", "window",
                              "resilience",   "maxAttempts", "service", "a\\u0000"};
  for (size_t i = 0; i < 8; i++) {
    std::string doc = docs[i];
    std::string quoted = "\"" + std::string(keys[i]) + "\"";
    size_t at = doc.find(quoted, doc.find(quoted) + 1);
    EXPECT_EQ(V(doc), "field: error:JSON parse error at 1:" + std::to_string(at + 1) + ": duplicate key " + quoted)
        << doc;
  }
  // A method entry parsed alone reports at its own path and position.
  EXPECT_EQ(ParseMethod(R"({"resilience": {"jitter": "NONE", "jitter": "FULL"}})").text,
            "field:methodConfig[0] error:JSON parse error at 1:35: duplicate key \"jitter\"");
  EXPECT_EQ(ParseChannel(R"({"resilience": {"circuitBreaker": {}, "circuitBreaker": {}}})").text,
            "field: error:JSON parse error at 1:39: duplicate key \"circuitBreaker\"");
  // "\u0073cope" is "scope": keys are compared decoded.
  EXPECT_EQ(V(R"({"resilience": {"retryBudget": {"scope": "TARGET", "\u0073cope": "TARGET"}}})"),
            "field: error:JSON parse error at 1:52: duplicate key \"scope\"");
}

TEST(ConfigHostileTest, InvalidUtf8InKeysAndValuesIsAPositionedParseError) {
  const char *const bad[] = {
      "\xFF",              // never valid
      "\x80",              // a stray continuation byte
      "\xC0\xAF",          // overlong "/"
      "\xE0\x80\xAF",      // overlong, three bytes
      "\xED\xA0\x80",      // an encoded surrogate
      "\xF4\x90\x80\x80",  // past U+10FFFF
      "\xF5\x80\x80\x80",  // lead byte past U+10FFFF
      "\xC3(",             // a lead byte without its continuation
      "\xE2\x82",          // cut short before the closing quote
  };
  for (const char *b : bad) {
    std::string key = "{\"resilience\": {\"ok" + std::string(b) + "\": 1}}";
    EXPECT_EQ(V(key), "field: error:JSON parse error at 1:20: invalid UTF-8 in string");
    std::string value = "{\"resilience\": {\"retryBudget\": {\"scope\": \"CHANNEL" + std::string(b) + "\"}}}";
    EXPECT_EQ(V(value), "field: error:JSON parse error at 1:50: invalid UTF-8 in string");
    std::string ignored = "{\"name\": \"" + std::string(b) + "\"}";  // even outside our blocks
    EXPECT_EQ(V(ignored), "field: error:JSON parse error at 1:11: invalid UTF-8 in string");
  }
  // Cut short at the very end of the input.
  EXPECT_EQ(V("{\"resilience\": {\"\xE2\x82"), "field: error:JSON parse error at 1:18: invalid UTF-8 in string");
  // Outside a string a stray byte is named by its value.
  EXPECT_EQ(V("{\"resilience\": \xFF}"), "field: error:JSON parse error at 1:16: expected a value, found byte 0xFF");
  // Unpaired surrogate escapes are invalid too.
  EXPECT_EQ(V(R"({"resilience": {"\ud800": 1}})"),
            "field: error:JSON parse error at 1:18: unpaired surrogate \\uD800 in string");
  EXPECT_EQ(V(R"({"resilience": {"retryBudget": {"scope": "\udc00"}}})"),
            "field: error:JSON parse error at 1:43: unpaired surrogate \\uDC00 in string");
  // Valid multi-byte text is shown as itself.
  EXPECT_EQ(V(R"({"resilience": {"\u00e9\ud83d\ude00": 1}})"),
            "field:resilience.\xC3\xA9\xF0\x9F\x98\x80 error:unknown field");
}

TEST(ConfigHostileTest, EmbeddedNulNeverMatchesANameAndIsShownEscaped) {
  EXPECT_EQ(V(R"({"resilience": {"retryBudget\u0000": {}}})"),
            "field:resilience.retryBudget\\u0000 error:unknown field");
  EXPECT_EQ(V(R"({"resilience": {"retryBudget": {"ratio\u0000x": 1}}})"),
            "field:resilience.retryBudget.ratio\\u0000x error:unknown field");
  EXPECT_EQ(V(R"({"resilience": {"\u0000": 1}})"), "field:resilience.\\u0000 error:unknown field");
  EXPECT_EQ(V(R"({"resilience\u0000": {"x": 1}, "methodConfig\u0000": 5})"), "");  // not ours, not checked
  EXPECT_EQ(FieldErrors(F(kBudget, "scope"), R"("CHANNEL\u0000")"),
            Line(F(kBudget, "scope"), "unknown scope \"CHANNEL\\u0000\": must be CHANNEL or TARGET"));
  EXPECT_EQ(FieldErrors(F(kMethod, "jitter"), R"("FULL\u0000")"),
            Line(F(kMethod, "jitter"), "unknown jitter \"FULL\\u0000\": must be NONE, FULL, EQUAL or DECORRELATED"));
  EXPECT_EQ(FieldErrors(F(kBreaker, "tripOnStatusCodes"), R"(["INTERNAL\u0000"])"),
            "field:resilience.circuitBreaker.tripOnStatusCodes[0] error:unknown status code \"INTERNAL\\u0000\"");
  EXPECT_EQ(FieldErrors(F(kBreaker, "probeTimeout"), R"("\u00001s")"),
            Line(F(kBreaker, "probeTimeout"), "invalid duration \"\\u00001s\"" + std::string(kForm)));
  EXPECT_EQ(V(R"({"methodConfig": [{"resilience": {"maxAttempts\u0000": 2}}]})"),
            "field:methodConfig[0].resilience.maxAttempts\\u0000 error:unknown field\n"
            "field:methodConfig[0].resilience.maxAttempts error:is required");
}

TEST(ConfigHostileTest, EveryFieldWrongAtOnceGivesOneLineEach) {
  std::string budget, breaker, method = "\"maxAttempts\": null";
  for (const Field &f : kFields) {
    if (f.block == kMethod && strcmp(f.key, "maxAttempts") == 0) continue;
    std::string &s = f.block == kBudget ? budget : f.block == kBreaker ? breaker : method;
    s += (s.empty() ? "\"" : ", \"") + std::string(f.key) + "\": {}";
  }
  std::string json = "{\"resilience\": {\"retryBudget\": {" + budget + "}, \"circuitBreaker\": {" + breaker +
                     "}}, \"methodConfig\": [{\"resilience\": {" + method + "}}, {\"resilience\": {" + method +
                     "}}]}";
  Result r = Validate(json);
  ASSERT_EQ(r.count, 4u + 7u + 2 * 6u);
  std::string want;
  for (const Field &f : kFields) {
    if (f.block == kMethod) continue;
    want += Line(f, f.wrong_type) + "\n";
  }
  for (int entry = 0; entry < 2; entry++) {
    for (const Field &f : kFields) {
      if (f.block != kMethod) continue;
      std::string path = "methodConfig[" + std::to_string(entry) + "].resilience." + f.key;
      want += "field:" + path + " error:" + f.wrong_type + "\n";
    }
  }
  want.pop_back();
  EXPECT_EQ(r.text, want);
}

// Each hostile kind as a whole document: the error count is exactly what
// the kind gives, every line is well formed (checked by Validate).
TEST(ConfigHostileTest, WholeHostileDocumentsGiveBoundedWellFormedLists) {
  Timed([] {
    const std::string big(kMB, 'z');
    const struct {
      std::string doc;
      size_t count;
    } docs[] = {
        {"{\"resilience\": {\"retryBudget\": {\"scope\": \"" + big + "\"}}}", 1},
        {"{\"resilience\": {\"" + big + "\": {\"" + big + "\": 1}}}", 1},  // an unknown block is not walked
        {"{\"resilience\": {\"circuitBreaker\": {\"tripOnStatusCodes\": [" + Repeat("\"OK\", ", 9999) + "1]}}}",
         10000},
        {std::string(kMB, '{'), 1},
        {std::string(kMB, ' ') + "{}" + std::string(kMB, '\n'), 0},
        {std::string(kMB, ' ') + "{} x", 1},
        {"{\"resilience\": {\"retryBudget\": {\"scope\": \"" + big, 1},  // unterminated
        {"{\"methodConfig\": [" + Repeat("{\"resilience\": {}}, ", 9999) + "{\"resilience\": {}}]}", 10000},
        {"{\"methodConfig\": [" + Repeat("7, ", 9999) + "{\"resilience\": {\"maxAttempts\": 2.5, \"x\": [], "
                                                         "\"jitter\": \"\\n\"}}]}",
         10002},
        {"{\"resilience\": {\"retryBudget\": {\"ratio\": 0." + std::string(kMB, '0') + "1}}}", 0},
        {"{\"resilience\": {\"retryBudget\": {\"ratio\": 1e" + std::string(kMB, '0') + "1}}}", 0},
        {"{\"resilience\": {\"retryBudget\": {\"ratio\": 1e" + std::string(kMB, '9') + "}}}", 1},
    };
    for (const auto &d : docs) EXPECT_EQ(Validate(d.doc).count, d.count) << d.doc.substr(0, 80);
  });
}

}  // namespace
