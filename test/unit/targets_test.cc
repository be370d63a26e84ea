// GRPCR_TARGETS: include and exclude globs against the written and the
// canonical target, and errors naming the bad item.
#include "grpcr/targets.h"

#include <gtest/gtest.h>

#include <string>

namespace {

struct Filter {
  explicit Filter(const char* spec) {
    rc = grpcr_target_filter_parse(spec, &f, &error);
  }
  ~Filter() {
    grpcr_target_filter_free(f);
    grpcr_free(error);
  }
  bool Includes(const char* target, const char* canonical = nullptr) const {
    return grpcr_target_filter_includes(f, target, canonical);
  }
  grpcr_target_filter* f = nullptr;
  char* error = nullptr;
  int rc = -1;
};

TEST(TargetsTest, NullFilterIncludesEverything) {
  EXPECT_TRUE(grpcr_target_filter_includes(nullptr, "x", nullptr));
}

TEST(TargetsTest, IncludesAndExcludes) {
  Filter f(" dns:///payments.* , !*.internal*,!dns:///payments.beta:*");
  ASSERT_EQ(f.rc, 0) << f.error;
  EXPECT_TRUE(f.Includes("payments.svc:443", "dns:///payments.svc:443"));
  EXPECT_FALSE(f.Includes("payments.svc.internal:443",
                          "dns:///payments.svc.internal:443"));
  EXPECT_FALSE(f.Includes("payments.beta:1", "dns:///payments.beta:1"));
  EXPECT_FALSE(f.Includes("orders:443", "dns:///orders:443"));
}

TEST(TargetsTest, OnlyExclusionsIncludeTheRest) {
  Filter f("!127.0.0.1:*");
  ASSERT_EQ(f.rc, 0);
  EXPECT_FALSE(f.Includes("127.0.0.1:50051", "dns:///127.0.0.1:50051"));
  EXPECT_TRUE(f.Includes("localhost:50051", "dns:///localhost:50051"));
  // The written form matches too, and '*' crosses '/'.
  Filter g("*/localhost:*");
  EXPECT_TRUE(g.Includes("localhost:1", "dns:///localhost:1"));
  EXPECT_FALSE(g.Includes("localhost:1"));
  Filter h("unix:*");
  EXPECT_TRUE(h.Includes("unix:/run/a.sock", "unix:/run/a.sock"));
}

TEST(TargetsTest, BadItemsAreNamed) {
  Filter empty("a,,b");
  EXPECT_EQ(empty.rc, GRPCR_EINVAL);
  EXPECT_STREQ(empty.error, "item 2 is empty");
  EXPECT_EQ(empty.f, nullptr);
  Filter bang("a, ! ");
  EXPECT_EQ(bang.rc, GRPCR_EINVAL);
  EXPECT_STREQ(bang.error, "item 2 is a '!' without a pattern");
  Filter blank("");
  EXPECT_STREQ(blank.error, "item 1 is empty");
  Filter trailing("a,");
  EXPECT_STREQ(trailing.error, "item 2 is empty");
  grpcr_target_filter* out = nullptr;
  EXPECT_EQ(grpcr_target_filter_parse(nullptr, &out, nullptr), GRPCR_EINVAL);
}

}  // namespace
