// The private strict JSON parser under the config validator: RFC 8259
// grammar, string decoding, limits, error positions, and a mutation loop
// that must never crash or leak (run it under ASan).
#include "json.h"

#include <gtest/gtest.h>

#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "grpcr/common.h"

namespace {

// Owns a parse result; error is the message on failure, "" on success.
struct Parsed {
  int rc = 0;
  grpcr_json *root = nullptr;
  std::string error;
  ~Parsed() { grpcr_json_free(root); }
};

Parsed *Parse(const std::string &text, Parsed *p) {
  char *err = nullptr;
  p->rc = grpcr_json_parse(text.data(), text.size(), &p->root, &err);
  if (err) p->error = err;
  free(err);
  return p;
}

// The error message for text, which must fail to parse.
std::string ErrorOf(const std::string &text) {
  Parsed p;
  Parse(text, &p);
  EXPECT_EQ(p.rc, GRPCR_EINVAL) << text;
  EXPECT_EQ(p.root, nullptr);
  return p.error;
}

std::string StringOf(const std::string &text) {
  Parsed p;
  Parse(text, &p);
  EXPECT_EQ(p.rc, 0) << p.error;
  if (!p.root || p.root->type != GRPCR_JSON_STRING) return "<not a string>";
  return std::string(p.root->u.string.ptr, p.root->u.string.len);
}

TEST(JsonTest, ParsesLiterals) {
  Parsed t, f, n;
  Parse("true", &t);
  Parse(" false ", &f);
  Parse("\n\tnull\r\n", &n);
  ASSERT_EQ(t.rc, 0);
  ASSERT_EQ(f.rc, 0);
  ASSERT_EQ(n.rc, 0);
  EXPECT_EQ(t.root->type, GRPCR_JSON_BOOL);
  EXPECT_TRUE(t.root->u.boolean);
  EXPECT_EQ(f.root->type, GRPCR_JSON_BOOL);
  EXPECT_FALSE(f.root->u.boolean);
  EXPECT_EQ(n.root->type, GRPCR_JSON_NULL);
}

TEST(JsonTest, LiteralsMustBeSpelledExactly) {
  EXPECT_EQ(ErrorOf("tru"), "JSON parse error at 1:1: invalid literal: expected true");
  EXPECT_EQ(ErrorOf("[nul]"), "JSON parse error at 1:2: invalid literal: expected null");
  EXPECT_EQ(ErrorOf("True"), "JSON parse error at 1:1: expected a value, found 'T'");
  EXPECT_EQ(ErrorOf("truex"), "JSON parse error at 1:5: expected end of input, found 'x'");
}

TEST(JsonTest, NumbersCarryAnIntegerLiteralFlag) {
  struct Case {
    const char *text;
    double value;
    bool is_integer;
  } cases[] = {
      {"42", 42, true},     {"-7", -7, true},       {"0", 0, true},
      {"-0", 0, true},      {"42.0", 42, false},    {"4e1", 40, false},
      {"2.5", 2.5, false},  {"1E+2", 100, false},   {"0.1", 0.1, false},
      {"1e-400", 0, false}, {"123456789012345678901234567890", 1.2345678901234568e29, true},
  };
  for (const Case &c : cases) {
    Parsed p;
    Parse(c.text, &p);
    ASSERT_EQ(p.rc, 0) << c.text << ": " << p.error;
    ASSERT_EQ(p.root->type, GRPCR_JSON_NUMBER) << c.text;
    EXPECT_EQ(p.root->u.number.value, c.value) << c.text;
    EXPECT_EQ(p.root->u.number.is_integer, c.is_integer) << c.text;
  }
}

TEST(JsonTest, MalformedNumbersAreErrors) {
  EXPECT_EQ(ErrorOf("01"), "JSON parse error at 1:2: invalid number: leading zeros are not allowed");
  EXPECT_EQ(ErrorOf("-"), "JSON parse error at 1:2: expected a digit after '-', found end of input");
  EXPECT_EQ(ErrorOf("-a"), "JSON parse error at 1:2: expected a digit after '-', found 'a'");
  EXPECT_EQ(ErrorOf("1."), "JSON parse error at 1:3: expected a digit after '.', found end of input");
  EXPECT_EQ(ErrorOf("1.e5"), "JSON parse error at 1:3: expected a digit after '.', found 'e'");
  EXPECT_EQ(ErrorOf("1e"), "JSON parse error at 1:3: expected a digit in the exponent, found end of input");
  EXPECT_EQ(ErrorOf("1e+"), "JSON parse error at 1:4: expected a digit in the exponent, found end of input");
  EXPECT_EQ(ErrorOf(".5"), "JSON parse error at 1:1: expected a value, found '.'");
  EXPECT_EQ(ErrorOf("+1"), "JSON parse error at 1:1: expected a value, found '+'");
  EXPECT_EQ(ErrorOf("0x10"), "JSON parse error at 1:2: expected end of input, found 'x'");
  EXPECT_EQ(ErrorOf("NaN"), "JSON parse error at 1:1: expected a value, found 'N'");
  EXPECT_EQ(ErrorOf("Infinity"), "JSON parse error at 1:1: expected a value, found 'I'");
}

TEST(JsonTest, NumberBeyondDoubleRangeIsAnError) {
  EXPECT_EQ(ErrorOf("[1e400]"), "JSON parse error at 1:2: number out of range");
  EXPECT_EQ(ErrorOf("-1e309"), "JSON parse error at 1:1: number out of range");
}

TEST(JsonTest, NumbersIgnoreTheProcessLocale) {
  const char *old = setlocale(LC_NUMERIC, nullptr);
  std::string saved = old ? old : "C";
  if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
    GTEST_SKIP() << "no locale with a ',' decimal separator installed";
  }
  Parsed p;
  Parse("0.5", &p);
  setlocale(LC_NUMERIC, saved.c_str());
  ASSERT_EQ(p.rc, 0);
  EXPECT_EQ(p.root->u.number.value, 0.5);
}

TEST(JsonTest, ObjectsKeepMemberOrder) {
  Parsed p;
  Parse(R"({"z": 1, "a": [true, null], "m": {}})", &p);
  ASSERT_EQ(p.rc, 0) << p.error;
  ASSERT_EQ(p.root->type, GRPCR_JSON_OBJECT);
  ASSERT_EQ(p.root->u.object.count, 3u);
  EXPECT_STREQ(p.root->u.object.members[0].key, "z");
  EXPECT_STREQ(p.root->u.object.members[1].key, "a");
  EXPECT_STREQ(p.root->u.object.members[2].key, "m");
  const grpcr_json *a = p.root->u.object.members[1].value;
  ASSERT_EQ(a->type, GRPCR_JSON_ARRAY);
  ASSERT_EQ(a->u.array.count, 2u);
  EXPECT_EQ(a->u.array.items[0]->type, GRPCR_JSON_BOOL);
  EXPECT_EQ(a->u.array.items[1]->type, GRPCR_JSON_NULL);
  EXPECT_EQ(p.root->u.object.members[2].value->type, GRPCR_JSON_OBJECT);
  EXPECT_EQ(p.root->u.object.members[2].value->u.object.count, 0u);
}

TEST(JsonTest, GetFindsAMemberByItsExactKey) {
  Parsed p;
  Parse(R"({"ab": 1, "a": 2, "a\u0000b": 3})", &p);
  ASSERT_EQ(p.rc, 0) << p.error;
  const grpcr_json *a = grpcr_json_get(p.root, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->u.number.value, 2);
  EXPECT_EQ(grpcr_json_get(p.root, "b"), nullptr);
  EXPECT_EQ(grpcr_json_get(p.root->u.object.members[0].value, "a"), nullptr);
  EXPECT_EQ(grpcr_json_get(nullptr, "a"), nullptr);
}

TEST(JsonTest, DuplicateKeyIsAnErrorAtItsSecondOccurrence) {
  EXPECT_EQ(ErrorOf(R"({"a":1,"b":2,"a":3})"), "JSON parse error at 1:14: duplicate key \"a\"");
  EXPECT_EQ(ErrorOf("{\"x\": {\"k\": 1,\n \"k\": 2}}"), "JSON parse error at 2:2: duplicate key \"k\"");
  // Keys are compared after decoding.
  EXPECT_EQ(ErrorOf(R"({"a":1,"\u0061":2})"), "JSON parse error at 1:8: duplicate key \"a\"");
}

TEST(JsonTest, DuplicateKeyInALargeObjectIsTheFirstRepeat) {
  std::string text = "{";
  for (int i = 0; i < 1000; i++) text += "\"k" + std::to_string(i) + "\":0,";
  text += "\"k500\":1,\"k7\":2}";
  size_t col = text.find("\"k500\":1") + 1;
  EXPECT_EQ(ErrorOf(text), "JSON parse error at 1:" + std::to_string(col) + ": duplicate key \"k500\"");
}

TEST(JsonTest, SimilarKeysAreNotDuplicates) {
  Parsed p;
  Parse(R"({"a":1,"A":2,"a ":3,"":4,"ab":5})", &p);
  ASSERT_EQ(p.rc, 0) << p.error;
  EXPECT_EQ(p.root->u.object.count, 5u);
}

TEST(JsonTest, DecodesSimpleEscapes) {
  EXPECT_EQ(StringOf(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(StringOf(R"("")"), "");
}

TEST(JsonTest, DecodesUnicodeEscapesToUtf8) {
  EXPECT_EQ(StringOf(R"("\u0041")"), "A");
  EXPECT_EQ(StringOf(R"("\u00e9\u00E9")"), "\xC3\xA9\xC3\xA9");
  EXPECT_EQ(StringOf(R"("\u20AC")"), "\xE2\x82\xAC");
  EXPECT_EQ(StringOf(R"("\uFFFF")"), "\xEF\xBF\xBF");
}

TEST(JsonTest, DecodesSurrogatePairsToOneCodePoint) {
  EXPECT_EQ(StringOf(R"("\uD83D\uDE00")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(StringOf(R"("\uDBFF\uDFFF")"), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(StringOf(R"("\ud800\udc00x")"), std::string("\xF0\x90\x80\x80x"));
}

TEST(JsonTest, UnpairedSurrogatesAreErrors) {
  EXPECT_EQ(ErrorOf(R"("\uD83D")"), "JSON parse error at 1:2: unpaired surrogate \\uD83D in string");
  EXPECT_EQ(ErrorOf(R"("\uDE00")"), "JSON parse error at 1:2: unpaired surrogate \\uDE00 in string");
  EXPECT_EQ(ErrorOf(R"("\uD83Dx")"), "JSON parse error at 1:2: unpaired surrogate \\uD83D in string");
  EXPECT_EQ(ErrorOf(R"("\uD83D\u0041")"), "JSON parse error at 1:2: unpaired surrogate \\uD83D in string");
  EXPECT_EQ(ErrorOf(R"("\uD83D\uD83D")"), "JSON parse error at 1:2: unpaired surrogate \\uD83D in string");
}

TEST(JsonTest, EscapedNulIsKeptWithTheStringLength) {
  Parsed p;
  Parse(R"("a\u0000b")", &p);
  ASSERT_EQ(p.rc, 0);
  EXPECT_EQ(p.root->u.string.len, 3u);
  EXPECT_EQ(std::string(p.root->u.string.ptr, 3), std::string("a\0b", 3));
}

TEST(JsonTest, InvalidEscapesAreErrors) {
  EXPECT_EQ(ErrorOf(R"("ab\x")"), "JSON parse error at 1:4: invalid escape '\\x' in string");
  EXPECT_EQ(ErrorOf(R"("\u12G4")"), "JSON parse error at 1:2: invalid \\u escape: expected 4 hex digits");
  EXPECT_EQ(ErrorOf(R"("\u12")"), "JSON parse error at 1:2: invalid \\u escape: expected 4 hex digits");
  EXPECT_EQ(ErrorOf("\"\\\x01\""), "JSON parse error at 1:2: invalid escape in string");
  EXPECT_EQ(ErrorOf("\"\\"), "JSON parse error at 1:1: unterminated string");
}

TEST(JsonTest, RawControlCharactersInStringsAreErrors) {
  EXPECT_EQ(ErrorOf("\"a\nb\""), "JSON parse error at 1:3: unescaped control character 0x0A in string");
  EXPECT_EQ(ErrorOf("\"\t\""), "JSON parse error at 1:2: unescaped control character 0x09 in string");
  EXPECT_EQ(ErrorOf(std::string("\"\0\"", 3)), "JSON parse error at 1:2: unescaped control character 0x00 in string");
}

TEST(JsonTest, ValidUtf8IsKeptAsIs) {
  EXPECT_EQ(StringOf("\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\""), "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(StringOf("\"\x7F\""), "\x7F");
}

TEST(JsonTest, InvalidUtf8IsAnError) {
  const char *bad[] = {
      "\"\xC0\xAF\"",          // overlong '/'
      "\"\xE0\x80\xAF\"",      // overlong, 3 bytes
      "\"\xED\xA0\x80\"",      // an encoded surrogate
      "\"\xF4\x90\x80\x80\"",  // past U+10FFFF
      "\"\xE2\x82\"",          // truncated sequence
      "\"\x80\"",              // a lone continuation byte
      "\"\xFF\"",
  };
  for (const char *s : bad) {
    EXPECT_EQ(ErrorOf(s), "JSON parse error at 1:2: invalid UTF-8 in string") << s;
  }
}

TEST(JsonTest, UnterminatedStringPointsAtItsOpeningQuote) {
  EXPECT_EQ(ErrorOf("{\"a\": \"abc"), "JSON parse error at 1:7: unterminated string");
  EXPECT_EQ(ErrorOf("\"abc\\\""), "JSON parse error at 1:1: unterminated string");
}

TEST(JsonTest, NestingUpToTheLimitIsAccepted) {
  std::string text = std::string(GRPCR_JSON_MAX_DEPTH, '[') + std::string(GRPCR_JSON_MAX_DEPTH, ']');
  Parsed p;
  Parse(text, &p);
  EXPECT_EQ(p.rc, 0) << p.error;
}

TEST(JsonTest, NestingBeyondTheLimitIsAnError) {
  std::string text = std::string(GRPCR_JSON_MAX_DEPTH + 1, '[') + std::string(GRPCR_JSON_MAX_DEPTH + 1, ']');
  EXPECT_EQ(ErrorOf(text), "JSON parse error at 1:65: nesting deeper than 64 levels");
  std::string objects;
  for (int i = 0; i <= GRPCR_JSON_MAX_DEPTH; i++) objects += "{\"a\":";
  EXPECT_EQ(ErrorOf(objects), "JSON parse error at 1:321: nesting deeper than 64 levels");
}

TEST(JsonTest, VeryDeepNestingFailsWithoutExhaustingTheStack) {
  EXPECT_EQ(ErrorOf(std::string(1000000, '[')), "JSON parse error at 1:65: nesting deeper than 64 levels");
}

TEST(JsonTest, TrailingGarbageIsAnError) {
  EXPECT_EQ(ErrorOf("{} x"), "JSON parse error at 1:4: expected end of input, found 'x'");
  EXPECT_EQ(ErrorOf("{}{}"), "JSON parse error at 1:3: expected end of input, found '{'");
  EXPECT_EQ(ErrorOf("1 2"), "JSON parse error at 1:3: expected end of input, found '2'");
  EXPECT_EQ(ErrorOf(std::string("{}\0", 3)), "JSON parse error at 1:3: expected end of input, found byte 0x00");
}

TEST(JsonTest, TrailingCommasAreErrors) {
  EXPECT_EQ(ErrorOf("[1,]"), "JSON parse error at 1:4: expected a value, found ']'");
  EXPECT_EQ(ErrorOf(R"({"a":1,})"), "JSON parse error at 1:8: expected a string key, found '}'");
}

TEST(JsonTest, StructuralErrorsSayWhatWasExpected) {
  EXPECT_EQ(ErrorOf("{\n\"a\": 1\n\"b\": 2}"), "JSON parse error at 3:1: expected ',' or '}', found '\"'");
  EXPECT_EQ(ErrorOf("[1 2]"), "JSON parse error at 1:4: expected ',' or ']', found '2'");
  EXPECT_EQ(ErrorOf(R"({"a" 1})"), "JSON parse error at 1:6: expected ':', found '1'");
  EXPECT_EQ(ErrorOf("{a: 1}"), "JSON parse error at 1:2: expected a string key or '}', found 'a'");
  EXPECT_EQ(ErrorOf("{'a': 1}"), "JSON parse error at 1:2: expected a string key or '}', found '''");
  EXPECT_EQ(ErrorOf("[1,"), "JSON parse error at 1:4: expected a value, found end of input");
}

TEST(JsonTest, EmptyInputIsAnError) {
  EXPECT_EQ(ErrorOf(""), "JSON parse error at 1:1: expected a value, found end of input");
  EXPECT_EQ(ErrorOf(" \n "), "JSON parse error at 2:2: expected a value, found end of input");
  Parsed p;
  char *err = nullptr;
  EXPECT_EQ(grpcr_json_parse(nullptr, 0, &p.root, &err), GRPCR_EINVAL);
  EXPECT_NE(err, nullptr);
  free(err);
}

TEST(JsonTest, ErrorColumnsCountCharactersNotBytes) {
  EXPECT_EQ(ErrorOf("[\"\xC3\xA9\xE2\x82\xAC\", x]"), "JSON parse error at 1:8: expected a value, found 'x'");
}

TEST(JsonTest, ErrorShowsANonAsciiCharacterItFound) {
  // A typographic quote pasted from a document.
  EXPECT_EQ(ErrorOf("{\xE2\x80\x9C" "a\xE2\x80\x9D: 1}"),
            "JSON parse error at 1:2: expected a string key or '}', found '\xE2\x80\x9C'");
  EXPECT_EQ(ErrorOf("\xEF\xBB\xBF{}"), "JSON parse error at 1:1: expected a value, found '\xEF\xBB\xBF'");
  EXPECT_EQ(ErrorOf("\xFF"), "JSON parse error at 1:1: expected a value, found byte 0xFF");
}

TEST(JsonTest, OnlyLenBytesAreRead) {
  const char text[] = "123456";
  grpcr_json *root = nullptr;
  ASSERT_EQ(grpcr_json_parse(text, 3, &root, nullptr), 0);
  EXPECT_EQ(root->u.number.value, 123);
  grpcr_json_free(root);
}

TEST(JsonTest, ErrorMessageIsOptional) {
  grpcr_json *root = reinterpret_cast<grpcr_json *>(0x1);
  EXPECT_EQ(grpcr_json_parse("[", 1, &root, nullptr), GRPCR_EINVAL);
  EXPECT_EQ(root, nullptr);
  EXPECT_EQ(grpcr_json_parse("[]", 2, nullptr, nullptr), GRPCR_EINVAL);
  grpcr_json_free(nullptr);
}

TEST(JsonTest, TypeNamesAreTheJsonNames) {
  EXPECT_STREQ(grpcr_json_type_name(GRPCR_JSON_NULL), "null");
  EXPECT_STREQ(grpcr_json_type_name(GRPCR_JSON_BOOL), "boolean");
  EXPECT_STREQ(grpcr_json_type_name(GRPCR_JSON_NUMBER), "number");
  EXPECT_STREQ(grpcr_json_type_name(GRPCR_JSON_STRING), "string");
  EXPECT_STREQ(grpcr_json_type_name(GRPCR_JSON_ARRAY), "array");
  EXPECT_STREQ(grpcr_json_type_name(GRPCR_JSON_OBJECT), "object");
}

// Truncations at every length and seeded random mutations of valid documents
// must each give a tree or an error, never a crash, a leak (LeakSanitizer
// checks at exit) or an out-of-bounds read (the input is copied into a buffer
// of exactly its length, so ASan catches reads past len).
TEST(JsonTest, TruncatedAndMutatedInputsNeverCrashOrLeak) {
  const std::string seeds[] = {
      R"({"a": [1, -2.5e3, true, false, null, {"b": "c\n\u00e9\uD83D\uDE00"}], "d": {}})",
      R"([[[[{"x": [0.1, 1E+2, -0, "\"\\\/"]}]]]])",
      "{\"k\u00e9y\": \"h\xC3\xA9llo \xE2\x82\xAC\", \"n\": 123456789012345678901234567890}",
  };
  const char specials[] = "{}[],:\"\\u0123456789eE+-.tfn \n\x00\x80\xC3\xED\xF4\xFF";
  std::mt19937_64 rng(20240601);
  int inputs = 0, parsed = 0;
  auto feed = [&](const std::string &s) {
    char *buf = static_cast<char *>(malloc(s.size() ? s.size() : 1));
    if (!s.empty()) memcpy(buf, s.data(), s.size());
    grpcr_json *root = nullptr;
    char *err = nullptr;
    int rc = grpcr_json_parse(buf, s.size(), &root, &err);
    EXPECT_TRUE(rc == 0 || rc == GRPCR_EINVAL) << rc;
    EXPECT_EQ(rc == 0, root != nullptr);
    EXPECT_EQ(rc == GRPCR_EINVAL, err != nullptr);
    if (err) {
      EXPECT_EQ(std::string(err).rfind("JSON parse error at ", 0), 0u) << err;
    }
    parsed += rc == 0;
    grpcr_json_free(root);
    free(err);
    free(buf);
    inputs++;
  };
  for (const std::string &seed : seeds) {
    feed(seed);
    for (size_t n = 0; n < seed.size(); n++) feed(seed.substr(0, n));
    for (int i = 0; i < 1500; i++) {
      std::string s = seed;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); e++) {
        size_t pos = rng() % s.size();
        char c = specials[rng() % (sizeof specials - 1)];
        switch (rng() % 5) {
          case 0: s[pos] = c; break;
          case 1: s.insert(pos, 1, c); break;
          case 2: s.erase(pos, 1 + rng() % 8); break;
          case 3: s[pos] = static_cast<char>(rng()); break;
          case 4: s.insert(pos, s.substr(rng() % s.size(), rng() % 16)); break;
        }
      }
      feed(s);
    }
  }
  EXPECT_GT(inputs, 4500);
  EXPECT_GT(parsed, 3);  // the seeds themselves at least
}

// The builders make the same tree the parser makes (the shim walks gRPC's
// parsed Json with them), numbers read the same way.
TEST(JsonTest, BuildersMakeTheTreeTheParserMakes) {
  grpcr_json *parsed = nullptr;
  const std::string text = R"({"a": [1, 2.5, "x", true, null], "b": {}})";
  ASSERT_EQ(0, grpcr_json_parse(text.data(), text.size(), &parsed, nullptr));
  grpcr_json *built = grpcr_json_new(GRPCR_JSON_OBJECT);
  grpcr_json *a = grpcr_json_new(GRPCR_JSON_ARRAY);
  ASSERT_EQ(0, grpcr_json_append(a, grpcr_json_new_number("1", 1)));
  ASSERT_EQ(0, grpcr_json_append(a, grpcr_json_new_number("2.5", 3)));
  ASSERT_EQ(0, grpcr_json_append(a, grpcr_json_new_string("x", 1)));
  ASSERT_EQ(0, grpcr_json_append(a, grpcr_json_new_bool(true)));
  ASSERT_EQ(0, grpcr_json_append(a, grpcr_json_new(GRPCR_JSON_NULL)));
  ASSERT_EQ(0, grpcr_json_add_member(built, "a", 1, a));
  ASSERT_EQ(0, grpcr_json_add_member(built, "b", 1,
                                     grpcr_json_new(GRPCR_JSON_OBJECT)));
  const grpcr_json *pa = grpcr_json_get(parsed, "a");
  const grpcr_json *ba = grpcr_json_get(built, "a");
  ASSERT_NE(nullptr, ba);
  ASSERT_EQ(pa->u.array.count, ba->u.array.count);
  for (size_t i = 0; i < pa->u.array.count; i++) {
    const grpcr_json *x = pa->u.array.items[i], *y = ba->u.array.items[i];
    EXPECT_EQ(x->type, y->type) << i;
    if (x->type == GRPCR_JSON_NUMBER) {
      EXPECT_EQ(x->u.number.value, y->u.number.value);
      EXPECT_EQ(x->u.number.is_integer, y->u.number.is_integer);
    }
  }
  EXPECT_EQ(GRPCR_JSON_OBJECT, grpcr_json_get(built, "b")->type);
  grpcr_json_free(parsed);
  grpcr_json_free(built);
}

// gRPC's own parser keeps 1e999 as text; the tree must still carry it, so
// the schema names the field ("must be between ...") instead of the shim
// reporting it as out of memory.
TEST(JsonTest, BuilderNumberBeyondDoubleIsAnInfinity) {
  grpcr_json *big = grpcr_json_new_number("1e999", 5);
  const std::string minus_1e309 = "-1" + std::string(309, '0');
  grpcr_json *neg = grpcr_json_new_number(minus_1e309.data(), minus_1e309.size());
  ASSERT_NE(nullptr, big);
  ASSERT_NE(nullptr, neg);
  EXPECT_TRUE(std::isinf(big->u.number.value) && big->u.number.value > 0);
  EXPECT_FALSE(big->u.number.is_integer);
  EXPECT_TRUE(std::isinf(neg->u.number.value) && neg->u.number.value < 0);
  EXPECT_TRUE(neg->u.number.is_integer);
  grpcr_json_free(big);
  grpcr_json_free(neg);
  // Only a number literal itself (found by fuzzing: an array holding one
  // was taken for it).
  EXPECT_EQ(nullptr, grpcr_json_new_number("[1e999]", 7));
  EXPECT_EQ(nullptr, grpcr_json_new_number(" 1e999", 6));
  EXPECT_EQ(nullptr, grpcr_json_new_number("1e999x", 6));
}

TEST(JsonTest, BuildersRefuseWhatIsNotTheirs) {
  EXPECT_EQ(nullptr, grpcr_json_new_number("1.", 2));
  EXPECT_EQ(nullptr, grpcr_json_new_number("\"1\"", 3));
  grpcr_json *s = grpcr_json_new_string("a\0b", 3);
  ASSERT_NE(nullptr, s);
  EXPECT_EQ(3u, s->u.string.len);
  EXPECT_EQ(GRPCR_EINVAL, grpcr_json_append(s, grpcr_json_new_bool(false)));
  EXPECT_EQ(GRPCR_EINVAL,
            grpcr_json_add_member(s, "k", 1, grpcr_json_new_bool(false)));
  grpcr_json_free(s);
}

// Appends double their room, so 10,000 elements stay linear.
TEST(JsonTest, BuildersGrowArraysAndObjectsToAnySize) {
  grpcr_json *a = grpcr_json_new(GRPCR_JSON_ARRAY);
  grpcr_json *o = grpcr_json_new(GRPCR_JSON_OBJECT);
  for (int i = 0; i < 10000; i++) {
    ASSERT_EQ(0, grpcr_json_append(a, grpcr_json_new_bool(i % 2 == 0)));
    std::string k = "k" + std::to_string(i);
    ASSERT_EQ(0, grpcr_json_add_member(o, k.data(), k.size(),
                                       grpcr_json_new_bool(true)));
  }
  EXPECT_EQ(10000u, a->u.array.count);
  EXPECT_TRUE(a->u.array.items[9998]->u.boolean);
  EXPECT_EQ(10000u, o->u.object.count);
  EXPECT_NE(nullptr, grpcr_json_get(o, "k9999"));
  grpcr_json_free(a);
  grpcr_json_free(o);
}

}  // namespace
