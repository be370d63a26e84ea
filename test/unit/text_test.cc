// The exporters' text forms, against include/grpcr/text.h: shortest
// round-trip numbers, and JSON strings and label values safe for any bytes.
#include "grpcr/text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

// What write(f, s) puts on a stream.
std::string Written(void (*write)(FILE*, const char*), const char* s) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  EXPECT_NE(nullptr, f);
  write(f, s);
  EXPECT_EQ(0, std::fclose(f));
  std::string out(buf, len);
  std::free(buf);
  return out;
}

std::string Double(double d) {
  char buf[32];
  grpcr_text_format_double(buf, sizeof(buf), d);
  return buf;
}

TEST(TextTest, DoublesAreTheShortestDecimalThatReadsBack) {
  EXPECT_EQ("0", Double(0.0));
  EXPECT_EQ("0.001", Double(0.001));
  EXPECT_EQ("0.0025", Double(0.0025));
  EXPECT_EQ("60", Double(60.0));
  EXPECT_EQ("0.1", Double(0.1));
  EXPECT_EQ("-2.5", Double(-2.5));
  EXPECT_EQ("1.000000001", Double(1.000000001));
  EXPECT_EQ("123456789012345", Double(123456789012345.0));
  // Exponents outside [1e-4, 1e15) only.
  EXPECT_EQ("0.0001", Double(1e-4));
  EXPECT_EQ("1e-05", Double(1e-5));
  EXPECT_EQ("1e+15", Double(1e15));
  EXPECT_EQ("0.30000000000000004", Double(0.1 + 0.2));
}

TEST(TextTest, JsonStringsEscapeQuotesBackslashesAndControls) {
  EXPECT_EQ("\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f \"",
            Written(grpcr_text_write_json_string,
                    "a\"b\\c\b\f\n\r\t\x01\x1f\x7f "));
}

TEST(TextTest, JsonStringsKeepUtf8AndReplaceEachInvalidByte) {
  // é, €, 😀 pass; a stray continuation byte, an overlong '/', a surrogate
  // and a truncated sequence are \ufffd per byte.
  EXPECT_EQ("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd|"
            "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\"",
            Written(grpcr_text_write_json_string,
                    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xc0\xaf|"
                    "\xed\xa0\x80|\xe2\x82"));
}

TEST(TextTest, LabelValuesEscapeOnlyBackslashQuoteAndNewline) {
  EXPECT_EQ("a\\\"b\\\\c\\nd\te\x01\xc3\xa9\xef\xbf\xbd",
            Written(grpcr_text_write_label_value,
                    "a\"b\\c\nd\te\x01\xc3\xa9\xff"));
}

}  // namespace
