// Channel counters, the retry-wait histogram and the registry, against
// include/grpcr/stats.h. Time is a plain int64 the tests pass in.
#include "grpcr/stats.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

constexpr int kOk = 0;
constexpr int kUnknown = 2;
constexpr int kInvalidArgument = 3;
constexpr int kUnavailable = 14;

class StatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reg_ = grpcr_registry_create();
    ASSERT_NE(reg_, nullptr);
  }
  void TearDown() override { grpcr_registry_destroy(reg_); }

  // Snapshots (optionally filtered) into a vector of owned copies.
  std::vector<grpcr_channel_snapshot> Snapshot(const char* filter = nullptr,
                                               int64_t now = 0) {
    grpcr_channel_snapshot* snaps = nullptr;
    size_t n = 0;
    EXPECT_EQ(grpcr_registry_snapshot(reg_, now, filter, &snaps, &n), 0);
    std::vector<grpcr_channel_snapshot> out(snaps, snaps + n);
    for (auto& s : out) {
      names_.push_back(s.name);
      targets_.push_back(s.target);
    }
    grpcr_channel_snapshots_free(snaps, n);
    for (size_t i = 0; i < out.size(); i++) {
      out[i].name = const_cast<char*>(names_[names_.size() - n + i].c_str());
      out[i].target =
          const_cast<char*>(targets_[targets_.size() - n + i].c_str());
    }
    return out;
  }

  grpcr_channel_snapshot One(const char* name) {
    std::vector<grpcr_channel_snapshot> v = Snapshot(name);
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? grpcr_channel_snapshot{} : v[0];
  }

  grpcr_registry* reg_ = nullptr;
  // A deque, so the strings already handed out never move.
  std::deque<std::string> names_, targets_;
};

int64_t BoundNs(size_t i) {
  return std::llround(grpcr_stats_wait_bound(i) * 1e9);
}

TEST_F(StatsTest, WaitBoundsAreTheHeaderOnes) {
  const double expected[] = GRPCR_STATS_WAIT_BOUNDS;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_FINITE_BUCKETS; i++)
    EXPECT_EQ(grpcr_stats_wait_bound(i), expected[i]) << i;
  EXPECT_EQ(grpcr_stats_wait_bound(0), 0.001);
  EXPECT_EQ(grpcr_stats_wait_bound(14), 60.0);
}

TEST_F(StatsTest, NewEntryStartsAtZeroWithCopiedNames) {
  char name[] = "orders";
  char target[] = "dns:///orders:50051";
  ASSERT_NE(grpcr_registry_add(reg_, name, target), nullptr);
  std::strcpy(name, "xxxxxx");  // the registry kept its own copy
  std::strcpy(target, "yyyyyyyyyyyyyyyyyyy");
  grpcr_channel_snapshot s = One("orders");
  EXPECT_STREQ(s.name, "orders");
  EXPECT_STREQ(s.target, "dns:///orders:50051");
  EXPECT_EQ(s.requests, 0u);
  EXPECT_EQ(s.finished, 0u);
  EXPECT_EQ(s.retry_wait_count, 0u);
  EXPECT_EQ(s.retry_wait_p50_s, 0.0);
  EXPECT_EQ(s.retry_wait_p99_s, 0.0);
  EXPECT_FALSE(s.has_breaker);
  EXPECT_FALSE(s.has_budget);
}

TEST_F(StatsTest, CountersAreExactAfterAScriptedSequence) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "dns:///t");
  ASSERT_NE(c, nullptr);
  // A: one attempt, OK.
  grpcr_stats_on_request(c);
  grpcr_stats_on_attempt(c, 1);
  grpcr_stats_on_final(c, kOk);
  // B: three attempts, then the budget refuses a fourth.
  grpcr_stats_on_request(c);
  grpcr_stats_on_attempt(c, 1);
  grpcr_stats_on_retry(c, 100 * kMs);
  grpcr_stats_on_attempt(c, 2);
  grpcr_stats_on_retry(c, 200 * kMs);
  grpcr_stats_on_attempt(c, 3);
  grpcr_stats_on_budget_denied(c);
  grpcr_stats_on_final(c, kUnavailable);
  // C: failed fast by the breaker.
  grpcr_stats_on_request(c);
  grpcr_stats_on_rejected(c);
  grpcr_stats_on_final(c, kUnavailable);
  // D: still in flight.
  grpcr_stats_on_request(c);
  grpcr_stats_on_attempt(c, 1);

  grpcr_channel_snapshot s = One("ch");
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.attempts, 5u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.budget_denied, 1u);
  EXPECT_EQ(s.breaker_rejected, 1u);
  EXPECT_EQ(s.finished, 3u);
  EXPECT_EQ(s.attempts_by_number[0], 3u);
  EXPECT_EQ(s.attempts_by_number[1], 1u);
  EXPECT_EQ(s.attempts_by_number[2], 1u);
  for (size_t i = 3; i < GRPCR_STATS_ATTEMPT_SLOTS; i++)
    EXPECT_EQ(s.attempts_by_number[i], 0u);
  EXPECT_EQ(s.retry_wait_count, 2u);
  EXPECT_DOUBLE_EQ(s.retry_wait_sum_s, 0.3);
  EXPECT_EQ(s.retry_wait_buckets[6], 1u);  // 0.1 s: le 0.1
  EXPECT_EQ(s.retry_wait_buckets[7], 1u);  // 0.2 s: le 0.25
  EXPECT_EQ(s.status_counts[kOk], 1u);
  EXPECT_EQ(s.status_counts[kUnavailable], 2u);
  uint64_t statuses = 0;
  for (uint64_t n : s.status_counts) statuses += n;
  EXPECT_EQ(statuses, 3u);
}

TEST_F(StatsTest, FinalCodesOutsideTheEnumCountAsUnknown) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  grpcr_stats_on_final(c, -1);
  grpcr_stats_on_final(c, GRPCR_STATUS_COUNT);
  grpcr_stats_on_final(c, 1000);
  grpcr_stats_on_final(c, kInvalidArgument);
  grpcr_channel_snapshot s = One("ch");
  EXPECT_EQ(s.status_counts[kUnknown], 3u);
  EXPECT_EQ(s.status_counts[kInvalidArgument], 1u);
  EXPECT_EQ(s.finished, 4u);
}

TEST_F(StatsTest, AttemptsByNumberCapsInTheLastSlot) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  for (uint32_t n = 1; n <= 15; n++) grpcr_stats_on_attempt(c, n);
  grpcr_stats_on_attempt(c, 100);
  grpcr_stats_on_attempt(c, UINT32_MAX);
  grpcr_channel_snapshot s = One("ch");
  for (size_t i = 0; i + 1 < GRPCR_STATS_ATTEMPT_SLOTS; i++)
    EXPECT_EQ(s.attempts_by_number[i], 1u) << i;
  // Attempts 10..15, 100 and UINT32_MAX.
  EXPECT_EQ(s.attempts_by_number[GRPCR_STATS_ATTEMPT_SLOTS - 1], 8u);
  EXPECT_EQ(s.attempts, 17u);
}

TEST_F(StatsTest, WaitExactlyOnABoundGoesIntoThatBucket) {
  for (size_t i = 0; i < GRPCR_STATS_WAIT_FINITE_BUCKETS; i++) {
    SCOPED_TRACE(i);
    std::string name = "b" + std::to_string(i);
    grpcr_channel_stats* c = grpcr_registry_add(reg_, name.c_str(), "t");
    grpcr_stats_on_retry(c, BoundNs(i));      // le: bucket i
    grpcr_stats_on_retry(c, BoundNs(i) + 1);  // just above: bucket i + 1
    grpcr_channel_snapshot s = One(name.c_str());
    for (size_t k = 0; k < GRPCR_STATS_WAIT_BUCKETS; k++)
      EXPECT_EQ(s.retry_wait_buckets[k], (k == i || k == i + 1) ? 1u : 0u)
          << k;
  }
}

TEST_F(StatsTest, ZeroNegativeAndHugeWaitsLandAtTheEnds) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  grpcr_stats_on_retry(c, 0);
  grpcr_stats_on_retry(c, -5 * kSec);  // a clock glitch: treated as 0
  grpcr_stats_on_retry(c, 3600 * kSec);
  grpcr_channel_snapshot s = One("ch");
  EXPECT_EQ(s.retry_wait_buckets[0], 2u);
  EXPECT_EQ(s.retry_wait_buckets[GRPCR_STATS_WAIT_FINITE_BUCKETS], 1u);
  EXPECT_EQ(s.retry_wait_count, 3u);
  EXPECT_EQ(s.retry_wait_sum_s, 3600.0);
}

TEST_F(StatsTest, WaitSumIsKeptInExactNanoseconds) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  // A thousand 1 ns waits would be lost to rounding in a double sum of
  // seconds next to a large value; in integer nanoseconds they are exact.
  grpcr_stats_on_retry(c, 1000 * kSec);
  for (int i = 0; i < 1000; i++) grpcr_stats_on_retry(c, 1);
  grpcr_channel_snapshot s = One("ch");
  EXPECT_EQ(s.retry_wait_sum_s, static_cast<double>(1000 * kSec + 1000) / 1e9);
}

TEST(StatsQuantileTest, EmptyHistogramIsZero) {
  uint64_t b[GRPCR_STATS_WAIT_BUCKETS] = {};
  EXPECT_EQ(grpcr_stats_wait_quantile(b, 0.5), 0.0);
  EXPECT_EQ(grpcr_stats_wait_quantile(b, 0.99), 0.0);
}

TEST(StatsQuantileTest, InterpolatesLinearlyInsideABucket) {
  // 100 waits in (0.1, 0.25]: quantile q sits at 0.1 + 0.15 q. Tolerance
  // 1e-12 (a few ulps).
  uint64_t b[GRPCR_STATS_WAIT_BUCKETS] = {};
  b[7] = 100;
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.5), 0.175, 1e-12);
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.99), 0.2485, 1e-12);
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.1), 0.115, 1e-12);
}

TEST(StatsQuantileTest, FirstBucketStartsAtZero) {
  uint64_t b[GRPCR_STATS_WAIT_BUCKETS] = {};
  b[0] = 10;
  b[1] = 10;
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.25), 0.0005, 1e-12);
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.5), 0.001, 1e-12);
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.75), 0.00175, 1e-12);
}

TEST(StatsQuantileTest, InfBucketReportsItsLowerBound) {
  uint64_t b[GRPCR_STATS_WAIT_BUCKETS] = {};
  b[GRPCR_STATS_WAIT_FINITE_BUCKETS] = 5;
  EXPECT_EQ(grpcr_stats_wait_quantile(b, 0.5), 60.0);
  EXPECT_EQ(grpcr_stats_wait_quantile(b, 0.99), 60.0);
  b[0] = 95;  // p50 falls in the first bucket, p99 in +Inf
  EXPECT_NEAR(grpcr_stats_wait_quantile(b, 0.5), 0.001 * 50 / 95, 1e-12);
  EXPECT_EQ(grpcr_stats_wait_quantile(b, 0.99), 60.0);
}

TEST_F(StatsTest, QuantilesOfAUniformDistributionAreExactAtBounds) {
  // Waits of 1, 2, ..., 1000 ms: the true p50 is 0.5 s and p99 0.99 s. The
  // 500 samples above 0.5 s fill (0.5, 1] evenly, so interpolation recovers
  // both to within rounding; tolerance 1e-9 s.
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  for (int ms = 1; ms <= 1000; ms++) grpcr_stats_on_retry(c, ms * kMs);
  grpcr_channel_snapshot s = One("ch");
  EXPECT_EQ(s.retry_wait_count, 1000u);
  EXPECT_NEAR(s.retry_wait_p50_s, 0.5, 1e-9);
  EXPECT_NEAR(s.retry_wait_p99_s, 0.99, 1e-9);
  EXPECT_NEAR(s.retry_wait_sum_s, 500.5, 1e-9);
  EXPECT_EQ(s.retry_wait_buckets[8], 250u);  // (0.25, 0.5]
  EXPECT_EQ(s.retry_wait_buckets[9], 500u);  // (0.5, 1]
}

TEST_F(StatsTest, SnapshotFiltersByExactName) {
  grpcr_channel_stats* a1 = grpcr_registry_add(reg_, "a", "t1");
  grpcr_channel_stats* a2 = grpcr_registry_add(reg_, "a", "t2");
  grpcr_channel_stats* ab = grpcr_registry_add(reg_, "ab", "t3");
  grpcr_stats_on_request(a1);
  grpcr_stats_on_request(a2);
  grpcr_stats_on_request(a2);
  grpcr_stats_on_request(ab);

  std::vector<grpcr_channel_snapshot> v = Snapshot("a");
  ASSERT_EQ(v.size(), 2u);
  uint64_t requests = 0;
  for (const auto& s : v) {
    EXPECT_STREQ(s.name, "a");
    requests += s.requests;
  }
  EXPECT_EQ(requests, 3u);
  EXPECT_EQ(Snapshot("ab").size(), 1u);
  EXPECT_EQ(Snapshot("b").size(), 0u);
  EXPECT_EQ(Snapshot(nullptr).size(), 3u);
  EXPECT_EQ(Snapshot("").size(), 3u);
}

TEST_F(StatsTest, EmptyResultIsNullAndZero) {
  grpcr_channel_snapshot* snaps = reinterpret_cast<grpcr_channel_snapshot*>(1);
  size_t n = 99;
  EXPECT_EQ(grpcr_registry_snapshot(reg_, 0, nullptr, &snaps, &n), 0);
  EXPECT_EQ(snaps, nullptr);
  EXPECT_EQ(n, 0u);
  grpcr_channel_snapshots_free(snaps, n);
}

TEST_F(StatsTest, RemovedEntryIsExcludedFromSnapshots) {
  grpcr_channel_stats* a = grpcr_registry_add(reg_, "a", "t");
  grpcr_channel_stats* b = grpcr_registry_add(reg_, "b", "t");
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "c", "t");
  grpcr_registry_remove(reg_, b);  // middle
  std::vector<grpcr_channel_snapshot> v = Snapshot();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(Snapshot("b").size(), 0u);
  grpcr_registry_remove(reg_, c);  // head (newest first)
  grpcr_registry_remove(reg_, a);  // last one
  EXPECT_EQ(Snapshot().size(), 0u);
  ASSERT_NE(grpcr_registry_add(reg_, "d", "t"), nullptr);
  EXPECT_EQ(Snapshot().size(), 1u);
}

// Before: the "#N" that tells channels of one name apart was assigned by
// position in the registry at every scrape, so a channel created or
// destroyed relabelled the others. Now a channel's instance is fixed at
// creation: the lowest number no live channel of its name and target holds.
TEST_F(StatsTest, InstanceIsFixedAtCreationAndTheLowestFree) {
  // Each entry is told apart by a request count of its own.
  uint64_t marks = 0;
  auto instance_of = [&](grpcr_channel_stats* e) {
    ++marks;
    for (uint64_t i = 0; i < marks; i++) grpcr_stats_on_request(e);
    uint32_t found = 0;
    for (const grpcr_channel_snapshot& s : Snapshot())
      if (s.requests == marks) found = s.instance;
    return found;
  };
  grpcr_channel_stats* a = grpcr_registry_add(reg_, "pool", "t");
  EXPECT_EQ(instance_of(a), 1u);
  grpcr_channel_stats* b = grpcr_registry_add(reg_, "pool", "t");
  EXPECT_EQ(instance_of(b), 2u);
  grpcr_channel_stats* other_target = grpcr_registry_add(reg_, "pool", "u");
  EXPECT_EQ(instance_of(other_target), 1u);
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "pool", "t");
  EXPECT_EQ(instance_of(c), 3u);
  // Removing the first changes nobody's number; a new one takes the free 1.
  grpcr_registry_remove(reg_, a);
  std::vector<uint32_t> live;
  for (const grpcr_channel_snapshot& s : Snapshot("pool"))
    if (std::string(s.target) == "t") live.push_back(s.instance);
  std::sort(live.begin(), live.end());
  EXPECT_EQ((std::vector<uint32_t>{2, 3}), live);
  grpcr_channel_stats* d = grpcr_registry_add(reg_, "pool", "t");
  EXPECT_EQ(instance_of(d), 1u);
  grpcr_channel_stats* e = grpcr_registry_add(reg_, "pool", "t");
  EXPECT_EQ(instance_of(e), 4u);
}

// A pool of a thousand channels of one name: numbers 1..1000, and a gap
// left by a closed one is the next taken (one pass per add, not one per
// candidate number).
TEST_F(StatsTest, InstanceOfAThousandChannelsFillsTheLowestGap) {
  std::vector<grpcr_channel_stats*> pool;
  for (int i = 0; i < 1000; i++) {
    pool.push_back(grpcr_registry_add(reg_, "big", "t"));
    ASSERT_NE(pool.back(), nullptr);
  }
  grpcr_registry_remove(reg_, pool[499]);  // instance 500
  grpcr_registry_remove(reg_, pool[9]);    // instance 10
  grpcr_stats_on_request(grpcr_registry_add(reg_, "big", "t"));
  grpcr_stats_on_request(grpcr_registry_add(reg_, "big", "t"));
  grpcr_stats_on_request(grpcr_registry_add(reg_, "big", "t"));
  std::vector<uint32_t> fresh;
  uint32_t most = 0;
  for (const grpcr_channel_snapshot& s : Snapshot("big")) {
    if (s.requests == 1) fresh.push_back(s.instance);
    most = std::max(most, s.instance);
  }
  std::sort(fresh.begin(), fresh.end());
  EXPECT_EQ((std::vector<uint32_t>{10, 500, 1001}), fresh);
  EXPECT_EQ(1001u, most);
}

TEST_F(StatsTest, AttachedBreakerShowsItsState) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  grpcr_breaker_config cfg = grpcr_breaker_config_default();
  cfg.minimum_calls = 1;
  grpcr_breaker* br = grpcr_breaker_create(&cfg, 0);
  ASSERT_NE(br, nullptr);
  grpcr_breaker_ticket t;
  ASSERT_TRUE(grpcr_breaker_try_acquire(br, 0, &t, nullptr));
  grpcr_breaker_record(br, &t, kUnavailable, 1 * kSec, nullptr);

  grpcr_registry_attach(reg_, c, br, nullptr);
  std::vector<grpcr_channel_snapshot> v = Snapshot("ch", 3 * kSec);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].has_breaker);
  EXPECT_EQ(v[0].breaker.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(v[0].breaker.time_in_state_ns, 2 * kSec);  // read at now_ns
  EXPECT_EQ(v[0].breaker.opened_total, 1u);
  EXPECT_FALSE(v[0].has_budget);

  grpcr_registry_attach(reg_, c, nullptr, nullptr);
  EXPECT_FALSE(One("ch").has_breaker);
  grpcr_breaker_destroy(br);
}

TEST_F(StatsTest, AttachedBudgetShowsItsState) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  grpcr_budget_config cfg = grpcr_budget_config_default();
  grpcr_budget* bu = grpcr_budget_create(&cfg, 0);
  ASSERT_NE(bu, nullptr);
  for (int i = 0; i < 3; i++) grpcr_budget_on_request(bu, 0);
  grpcr_registry_attach(reg_, c, nullptr, bu);
  grpcr_channel_snapshot s = One("ch");
  EXPECT_TRUE(s.has_budget);
  EXPECT_FALSE(s.has_breaker);
  EXPECT_EQ(s.budget.requests_total, 3u);
  grpcr_registry_remove(reg_, c);  // then the budget may go
  grpcr_budget_destroy(bu);
}

TEST_F(StatsTest, DestroyFreesEntriesStillRegistered) {
  // Run under ASan: nothing may leak.
  grpcr_registry* r = grpcr_registry_create();
  ASSERT_NE(r, nullptr);
  grpcr_stats_on_request(grpcr_registry_add(r, "x", "t"));
  grpcr_registry_add(r, nullptr, nullptr);  // NULLs become ""
  grpcr_channel_snapshot* snaps = nullptr;
  size_t n = 0;
  ASSERT_EQ(grpcr_registry_snapshot(r, 0, "", &snaps, &n), 0);
  ASSERT_EQ(n, 2u);
  EXPECT_TRUE(std::strcmp(snaps[0].name, "") == 0 ||
              std::strcmp(snaps[1].name, "") == 0);
  grpcr_channel_snapshots_free(snaps, n);
  grpcr_registry_destroy(r);
  grpcr_registry_destroy(nullptr);
}

TEST_F(StatsTest, SnapshotsDuringConcurrentUpdatesStayConsistent) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "t");
  constexpr int kThreads = 8;
  constexpr int kCalls = 20000;
  std::atomic<int> running{kThreads};
  std::atomic<bool> go{false};  // writers start once the reader is reading
  std::vector<std::thread> writers;
  for (int w = 0; w < kThreads; w++) {
    writers.emplace_back([c, &running, &go] {
      while (!go.load()) std::this_thread::yield();
      // Each call in the order the interceptor reports it.
      for (int n = 0; n < kCalls; n++) {
        grpcr_stats_on_request(c);
        if (n % 10 == 0) {
          grpcr_stats_on_rejected(c);
          grpcr_stats_on_final(c, kUnavailable);
          continue;
        }
        grpcr_stats_on_attempt(c, 1);
        if (n % 3 == 0) {
          grpcr_stats_on_retry(c, (n % 1000) * kMs);
          grpcr_stats_on_attempt(c, 2);
        }
        if (n % 7 == 0) grpcr_stats_on_budget_denied(c);
        grpcr_stats_on_final(c, n % 3 == 0 ? kUnavailable : kOk);
      }
      running--;
    });
  }

  grpcr_channel_snapshot prev{};
  int snapshots = 0;
  auto check = [&](const grpcr_channel_snapshot& s) {
    EXPECT_LE(s.finished, s.requests);
    EXPECT_GE(s.attempts + s.breaker_rejected, s.finished);
    EXPECT_LE(s.retries, s.attempts);
    EXPECT_GE(s.retry_wait_count, s.retries);
    uint64_t statuses = 0, by_number = 0, waits = 0;
    for (uint64_t n : s.status_counts) statuses += n;
    for (uint64_t n : s.attempts_by_number) by_number += n;
    for (uint64_t n : s.retry_wait_buckets) waits += n;
    EXPECT_GE(statuses, s.finished);
    EXPECT_GE(by_number, s.attempts);
    EXPECT_GE(waits, s.retry_wait_count);
    EXPECT_GE(s.requests, prev.requests);
    EXPECT_GE(s.attempts, prev.attempts);
    EXPECT_GE(s.retries, prev.retries);
    EXPECT_GE(s.budget_denied, prev.budget_denied);
    EXPECT_GE(s.breaker_rejected, prev.breaker_rejected);
    EXPECT_GE(s.finished, prev.finished);
    EXPECT_GE(s.retry_wait_count, prev.retry_wait_count);
    EXPECT_GE(s.retry_wait_sum_s, prev.retry_wait_sum_s);
    for (size_t i = 0; i < GRPCR_STATUS_COUNT; i++)
      EXPECT_GE(s.status_counts[i], prev.status_counts[i]);
    for (size_t i = 0; i < GRPCR_STATS_ATTEMPT_SLOTS; i++)
      EXPECT_GE(s.attempts_by_number[i], prev.attempts_by_number[i]);
    for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++)
      EXPECT_GE(s.retry_wait_buckets[i], prev.retry_wait_buckets[i]);
    prev = s;
  };
  std::thread reader([&] {
    while (running.load() > 0 && !HasFailure()) {
      grpcr_channel_snapshot* snaps = nullptr;
      size_t n = 0;
      ASSERT_EQ(grpcr_registry_snapshot(reg_, 0, "ch", &snaps, &n), 0);
      ASSERT_EQ(n, 1u);
      check(snaps[0]);
      grpcr_channel_snapshots_free(snaps, n);
      snapshots++;
      go.store(true);
    }
  });
  for (auto& t : writers) t.join();
  reader.join();
  EXPECT_GT(snapshots, 1);

  // Per thread: 2000 rejected; 18000 attempted, 6000 of them retried once
  // (n % 3 == 0 and n % 10 != 0); 2572 denials (n % 7 == 0, n % 10 != 0).
  grpcr_channel_snapshot s = One("ch");
  constexpr uint64_t k = kThreads;
  EXPECT_EQ(s.requests, k * kCalls);
  EXPECT_EQ(s.finished, k * kCalls);
  EXPECT_EQ(s.breaker_rejected, k * 2000);
  EXPECT_EQ(s.attempts_by_number[0], k * 18000);
  EXPECT_EQ(s.retries, k * 6000);
  EXPECT_EQ(s.attempts_by_number[1], k * 6000);
  EXPECT_EQ(s.attempts, k * 24000);
  EXPECT_EQ(s.budget_denied, k * 2572);
  EXPECT_EQ(s.status_counts[kUnavailable], k * (2000 + 6000));
  EXPECT_EQ(s.status_counts[kOk], k * 12000);
  check(s);
}

}  // namespace

// ---------------------------------------------------------------------------
// Per-method figures.

class MethodStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reg_ = grpcr_registry_create();
    ASSERT_NE(reg_, nullptr);
    ch_ = grpcr_registry_add(reg_, "ch", "dns:///t");
    ASSERT_NE(ch_, nullptr);
  }
  void TearDown() override {
    grpcr_channel_snapshots_free(snaps_, n_);
    grpcr_registry_destroy(reg_);
  }
  const grpcr_channel_snapshot& Snap() {
    grpcr_channel_snapshots_free(snaps_, n_);
    EXPECT_EQ(grpcr_registry_snapshot(reg_, 0, nullptr, &snaps_, &n_), 0);
    EXPECT_EQ(n_, 1u);
    return snaps_[0];
  }
  grpcr_method_stats* Method(const std::string& path) {
    return grpcr_stats_method(ch_, path.data(), path.size());
  }
  grpcr_registry* reg_ = nullptr;
  grpcr_channel_stats* ch_ = nullptr;
  grpcr_channel_snapshot* snaps_ = nullptr;
  size_t n_ = 0;
};

TEST_F(MethodStatsTest, NoCallsNoMethods) {
  Method("/a.A/M");
  grpcr_stats_method(ch_, nullptr, 0);
  EXPECT_EQ(Snap().method_count, 0u);
  EXPECT_EQ(Snap().methods, nullptr);
}

TEST_F(MethodStatsTest, CountsPerMethodExactly) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* say = Method("/echo.Echo/Say");
  EXPECT_EQ(Method("/echo.Echo/Say"), say);
  grpcr_method_stats* other = grpcr_stats_method(ch_, nullptr, 0);
  ASSERT_NE(say, other);
  grpcr_method_stats_on_final(say, 1, kOk, 0);
  grpcr_method_stats_on_final(say, 3, kOk, 15 * kMs);        // 2 retries
  grpcr_method_stats_on_final(say, 7, kUnavailable, 2500 * kMs);  // 6
  grpcr_method_stats_on_final(other, 0, kUnavailable, 0);    // rejected
  grpcr_method_stats_on_final(other, 1, 99, 0);              // -> UNKNOWN
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(s.method_count, 2u);
  const grpcr_method_snapshot& o = s.methods[0];
  EXPECT_STREQ(o.method, GRPCR_METHOD_OTHER);
  EXPECT_EQ(o.requests, 2u);
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_EQ(o.retries, 0u);
  EXPECT_EQ(o.retried_calls, 0u);
  EXPECT_EQ(o.status_counts[kUnavailable], 1u);
  EXPECT_EQ(o.status_counts[kUnknown], 1u);
  const grpcr_method_snapshot& m = s.methods[1];
  EXPECT_STREQ(m.method, "/echo.Echo/Say");
  EXPECT_EQ(m.requests, 3u);
  EXPECT_EQ(m.attempts, 11u);
  EXPECT_EQ(m.retries, 8u);
  EXPECT_EQ(m.status_counts[kOk], 2u);
  EXPECT_EQ(m.status_counts[kUnavailable], 1u);
  // Only the two calls that retried are in the histograms: 2 retries in
  // the bucket le=2, 6 in le=10; 15 ms in le=0.025, 2.5 s in le=2.5.
  EXPECT_EQ(m.retried_calls, 2u);
  EXPECT_EQ(m.retries_sum, 8u);
  for (size_t i = 0; i < GRPCR_STATS_RETRIES_BUCKETS; i++) {
    const uint64_t want = i == 1 || i == 5 ? 1 : 0;
    EXPECT_EQ(m.retries_buckets[i], want) << "bucket " << i;
  }
  EXPECT_EQ(grpcr_stats_retries_bound(1), 2.0);
  EXPECT_EQ(grpcr_stats_retries_bound(5), 10.0);
  EXPECT_DOUBLE_EQ(m.delay_sum_s, 2.515);
  uint64_t delays = 0;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) {
    delays += m.delay_buckets[i];
    if (grpcr_stats_wait_bound(i) == 0.025 || grpcr_stats_wait_bound(i) == 2.5) {
      EXPECT_EQ(m.delay_buckets[i], 1u) << "bucket " << i;
    }
  }
  EXPECT_EQ(delays, 2u);
}

TEST_F(MethodStatsTest, MethodsPastTheBoundGoToOther) {
  grpcr_method_stats* other = grpcr_stats_method(ch_, nullptr, 0);
  for (int i = 0; i < GRPCR_METHOD_STATS_MAX; i++) {
    grpcr_method_stats* m = Method("/s/m" + std::to_string(i));
    EXPECT_NE(m, other) << i;
    grpcr_method_stats_on_final(m, 1, kOk, 0);
  }
  grpcr_method_stats* extra = Method("/s/extra");
  EXPECT_EQ(extra, other);
  grpcr_method_stats_on_final(extra, 1, kOk, 0);
  EXPECT_EQ(Method("/s/m0"), Method("/s/m0"));
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(s.method_count, GRPCR_METHOD_STATS_MAX + 1u);
  EXPECT_STREQ(s.methods[0].method, GRPCR_METHOD_OTHER);
  EXPECT_EQ(s.methods[0].requests, 1u);
}

TEST_F(MethodStatsTest, ConcurrentCallersShareOneEntryPerMethod) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([this] {
      for (int i = 0; i < 1000; i++) {
        grpcr_method_stats_on_final(Method("/s/m" + std::to_string(i % 8)), 2,
                                    kOk, 1000);
      }
    });
  }
  for (auto& t : threads) t.join();
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(s.method_count, 8u);  // "other" has no calls
  uint64_t requests = 0;
  for (size_t i = 0; i < s.method_count; i++) {
    EXPECT_EQ(s.methods[i].requests, 500u) << s.methods[i].method;
    EXPECT_EQ(s.methods[i].retries, 500u);
    requests += s.methods[i].requests;
  }
  EXPECT_EQ(requests, 4000u);
}

// A snapshot read while calls end: its finished count is always the sum of
// its status counts, and a method's requests the sum of its own (they were
// separate counters once, and a call ending between two reads made them
// disagree).
TEST(StatsSnapshotTest, FinishedIsTheSumOfStatusCountsWhileCallsEnd) {
  grpcr_registry* reg = grpcr_registry_create();
  ASSERT_NE(reg, nullptr);
  grpcr_channel_stats* ch = grpcr_registry_add(reg, "ch", "t");
  ASSERT_NE(ch, nullptr);
  grpcr_method_stats* m = grpcr_stats_method(ch, "/a/b", 4);
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 200000; i++) {
        grpcr_stats_on_final(ch, (i + t) % 3 == 0 ? kOk : kUnavailable);
        grpcr_method_stats_on_final(m, 1, kOk, 0);
      }
    });
  }
  std::thread reader([&] {
    int mismatches = 0;
    while (!done.load()) {
      grpcr_channel_snapshot* s = nullptr;
      size_t n = 0;
      ASSERT_EQ(grpcr_registry_snapshot(reg, 0, nullptr, &s, &n), 0);
      uint64_t by_status = 0;
      for (int k = 0; k < GRPCR_STATUS_COUNT; k++) by_status += s[0].status_counts[k];
      mismatches += by_status != s[0].finished;
      for (size_t k = 0; k < s[0].method_count; k++) {
        uint64_t sum = 0;
        for (int c = 0; c < GRPCR_STATUS_COUNT; c++)
          sum += s[0].methods[k].status_counts[c];
        mismatches += sum != s[0].methods[k].requests;
      }
      grpcr_channel_snapshots_free(s, n);
    }
    EXPECT_EQ(mismatches, 0);
  });
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  grpcr_registry_destroy(reg);
}

// ---------------------------------------------------------------------------
// A method's recent successful-attempt latencies: the median the retry
// decision compares with the time a retry would have (src/latency.c).

TEST_F(MethodStatsTest, NoMedianBelowTheMinimumSamples) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* m = Method("/a.A/M");
  int64_t median = -1;
  for (int i = 0; i < GRPCR_LATENCY_MIN_SAMPLES - 1; i++) {
    grpcr_method_stats_on_attempt_ok(m, 5 * kMs);
  }
  EXPECT_FALSE(grpcr_method_stats_median_ok_ns(m, &median));
  EXPECT_EQ(0, median);
  grpcr_method_stats_on_attempt_ok(m, 5 * kMs);
  EXPECT_TRUE(grpcr_method_stats_median_ok_ns(m, &median));
  EXPECT_EQ(5 * kMs, median);
  EXPECT_FALSE(grpcr_method_stats_median_ok_ns(nullptr, &median));
  EXPECT_EQ(0, median);
}

TEST_F(MethodStatsTest, TheMedianIsTheLowerMiddleOfTheLastSamples) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* m = Method("/a.A/M");
  int64_t median = 0;
  // 1..10 ms, shuffled: the lower middle of 10 is 5 ms; of 11, the 6th.
  for (int v : {7, 3, 10, 1, 9, 5, 2, 8, 6, 4}) {
    grpcr_method_stats_on_attempt_ok(m, v * kMs);
  }
  ASSERT_TRUE(grpcr_method_stats_median_ok_ns(m, &median));
  EXPECT_EQ(5 * kMs, median);
  grpcr_method_stats_on_attempt_ok(m, 11 * kMs);
  ASSERT_TRUE(grpcr_method_stats_median_ok_ns(m, &median));
  EXPECT_EQ(6 * kMs, median);
  // Only the last GRPCR_LATENCY_SAMPLES count: a ring full of 1 s, then
  // just over half of it replaced by 2 ms.
  for (int i = 0; i < GRPCR_LATENCY_SAMPLES; i++) {
    grpcr_method_stats_on_attempt_ok(m, 1000 * kMs);
  }
  ASSERT_TRUE(grpcr_method_stats_median_ok_ns(m, &median));
  EXPECT_EQ(1000 * kMs, median);
  for (int i = 0; i < GRPCR_LATENCY_SAMPLES / 2 + 1; i++) {
    grpcr_method_stats_on_attempt_ok(m, 2 * kMs);
  }
  ASSERT_TRUE(grpcr_method_stats_median_ok_ns(m, &median));
  EXPECT_EQ(2 * kMs, median);
  // Non-positive latencies are not samples.
  grpcr_method_stats* n = Method("/a.A/N");
  for (int i = 0; i < 50; i++) grpcr_method_stats_on_attempt_ok(n, 0);
  EXPECT_FALSE(grpcr_method_stats_median_ok_ns(n, &median));
}

TEST_F(MethodStatsTest, SnapshotsCarryTheMedianAndTheSkippedRetries) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* m = Method("/a.A/M");
  for (int i = 0; i < 12; i++) grpcr_method_stats_on_attempt_ok(m, 40 * kMs);
  grpcr_method_stats_on_retry_skipped_deadline(m);
  grpcr_method_stats_on_retry_skipped_deadline(m);
  grpcr_method_stats_on_retry_skipped_deadline(nullptr);
  grpcr_method_stats_on_final(m, 1, kUnavailable, 0);
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(1u, s.method_count);
  EXPECT_EQ(2u, s.methods[0].retries_skipped_deadline);
  EXPECT_DOUBLE_EQ(0.04, s.methods[0].median_attempt_s);
  EXPECT_EQ(12u, s.methods[0].latency_samples);
}

// "other" mixes every method the config does not name: one median would
// refuse a fast method's retries by a slow one's latency, so it has none.
TEST_F(MethodStatsTest, OtherKeepsNoMedian) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* other = grpcr_stats_method(ch_, nullptr, 0);
  for (int i = 0; i < 20; i++) grpcr_method_stats_on_attempt_ok(other, 500 * kMs);
  int64_t median = -1;
  EXPECT_FALSE(grpcr_method_stats_median_ok_ns(other, &median));
  EXPECT_EQ(0, median);
  grpcr_method_stats_on_final(other, 1, kOk, 0);
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(1u, s.method_count);
  EXPECT_EQ(0u, s.methods[0].latency_samples);
  EXPECT_EQ(0.0, s.methods[0].median_attempt_s);
}

// ---------------------------------------------------------------------------
// Hedging: the channel's hedges (inside its retries), a method's hedge
// counters and hedges-per-call histogram, and the adaptive delay's reads.

TEST_F(StatsTest, ChannelHedgesAreCountedInsideRetries) {
  grpcr_channel_stats* c = grpcr_registry_add(reg_, "ch", "dns:///t");
  ASSERT_NE(c, nullptr);
  // A hedged call: three attempts, two of them hedges.
  grpcr_stats_on_request(c);
  grpcr_stats_on_attempt(c, 1);
  grpcr_stats_on_hedge(c);
  grpcr_stats_on_attempt(c, 2);
  grpcr_stats_on_hedge(c);
  grpcr_stats_on_attempt(c, 3);
  grpcr_stats_on_final(c, kOk);
  // A retried call: one retry after 100 ms.
  grpcr_stats_on_request(c);
  grpcr_stats_on_attempt(c, 1);
  grpcr_stats_on_retry(c, 100 * kMs);
  grpcr_stats_on_attempt(c, 2);
  grpcr_stats_on_final(c, kOk);
  grpcr_channel_snapshot s = One("ch");
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.attempts, 5u);
  EXPECT_EQ(s.retries, 3u);
  EXPECT_EQ(s.hedges, 2u);
  // A hedge waits for no backoff: only the retry is in the wait histogram.
  EXPECT_EQ(s.retry_wait_count, 1u);
  EXPECT_DOUBLE_EQ(s.retry_wait_sum_s, 0.1);
  EXPECT_EQ(s.attempts_by_number[0], 2u);
  EXPECT_EQ(s.attempts_by_number[1], 2u);
  EXPECT_EQ(s.attempts_by_number[2], 1u);
  EXPECT_EQ(s.finished, 2u);
}

TEST_F(MethodStatsTest, HedgeCountersAndTheHedgesHistogramAreExact) {
  grpcr_method_stats* m = Method("/echo.Echo/Say");
  for (int i = 0; i < 4; i++) grpcr_method_stats_on_hedge(m);
  for (int i = 0; i < 2; i++) grpcr_method_stats_on_hedge_denied(m);
  for (int i = 0; i < 3; i++) grpcr_method_stats_on_hedge_cancelled(m);
  grpcr_method_stats_on_hedge(nullptr);
  grpcr_method_stats_on_hedge_denied(nullptr);
  grpcr_method_stats_on_hedge_cancelled(nullptr);
  // Counters alone do not list a method: it has no calls yet.
  EXPECT_EQ(Snap().method_count, 0u);
  grpcr_method_stats_on_hedged_final(m, 1, kOk, 1);     // no hedge
  grpcr_method_stats_on_hedged_final(m, 3, kOk, 2);     // 2 hedges, one won
  grpcr_method_stats_on_hedged_final(m, 3, kOk, 1);     // 2, the first won
  grpcr_method_stats_on_hedged_final(m, 2, kUnavailable, 0);  // 1, no winner
  grpcr_method_stats_on_hedged_final(m, 7, kOk, 7);     // 6, won
  grpcr_method_stats_on_hedged_final(m, 101, kOk, 50);  // 100, won
  grpcr_method_stats_on_hedged_final(m, 102, 99, 0);    // 101; UNKNOWN
  grpcr_method_stats_on_hedged_final(nullptr, 3, kOk, 2);
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(s.method_count, 1u);
  const grpcr_method_snapshot& q = s.methods[0];
  EXPECT_STREQ(q.method, "/echo.Echo/Say");
  EXPECT_EQ(q.requests, 7u);
  EXPECT_EQ(q.attempts, 219u);
  EXPECT_EQ(q.status_counts[kOk], 5u);
  EXPECT_EQ(q.status_counts[kUnavailable], 1u);
  EXPECT_EQ(q.status_counts[kUnknown], 1u);
  EXPECT_EQ(q.hedges, 4u);
  EXPECT_EQ(q.hedges_denied, 2u);
  EXPECT_EQ(q.hedges_cancelled, 3u);
  EXPECT_EQ(q.hedges_won, 3u);
  // Calls with hedges, by the retries histogram's bounds {1, 2, 3, 4, 5,
  // 10, 20, 50, 100, +Inf}: 1 -> le=1, 2 and 2 -> le=2, 6 -> le=10,
  // 100 -> le=100, 101 -> +Inf.
  EXPECT_EQ(q.hedged_calls, 6u);
  EXPECT_EQ(q.hedges_sum, 212u);
  const uint64_t want[GRPCR_STATS_RETRIES_BUCKETS] = {1, 2, 0, 0, 0, 1, 0, 0, 1, 1};
  for (size_t i = 0; i < GRPCR_STATS_RETRIES_BUCKETS; i++) EXPECT_EQ(q.hedges_buckets[i], want[i]) << "bucket " << i;
  // Hedges are not retries.
  EXPECT_EQ(q.retries, 0u);
  EXPECT_EQ(q.retried_calls, 0u);
  EXPECT_EQ(q.retries_sum, 0u);
  for (size_t i = 0; i < GRPCR_STATS_RETRIES_BUCKETS; i++) EXPECT_EQ(q.retries_buckets[i], 0u) << "bucket " << i;
  for (size_t i = 0; i < GRPCR_STATS_WAIT_BUCKETS; i++) EXPECT_EQ(q.delay_buckets[i], 0u) << "bucket " << i;
  EXPECT_EQ(q.delay_sum_s, 0.0);
  EXPECT_EQ(q.hedge_delay_s, 0.0);
  EXPECT_EQ(q.hedge_delay_samples, 0u);
}

TEST_F(MethodStatsTest, RetriedAndHedgedCallsOfAMethodAreKeptApart) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* m = Method("/a.A/M");
  grpcr_method_stats_on_final(m, 3, kOk, 10 * kMs);  // 2 retries
  grpcr_method_stats_on_hedged_final(m, 4, kOk, 4);  // 3 hedges
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(s.method_count, 1u);
  const grpcr_method_snapshot& q = s.methods[0];
  EXPECT_EQ(q.requests, 2u);
  EXPECT_EQ(q.attempts, 7u);
  EXPECT_EQ(q.retries, 2u);
  EXPECT_EQ(q.retried_calls, 1u);
  EXPECT_EQ(q.retries_sum, 2u);
  EXPECT_EQ(q.retries_buckets[1], 1u);
  EXPECT_EQ(q.hedged_calls, 1u);
  EXPECT_EQ(q.hedges_sum, 3u);
  EXPECT_EQ(q.hedges_buckets[2], 1u);
  EXPECT_EQ(q.hedges_won, 1u);
}

// The bucket of 1 ms is [983040, 1048575] ns, of 200 ms [184549376,
// 201326591]: a quantile is its bucket's upper bound.
constexpr int64_t k1msUpper = 1048575;
constexpr int64_t k200msUpper = 201326591;

TEST_F(MethodStatsTest, LatencyQuantileIsReadAtMostEvery100Ms) {
  constexpr int64_t kMs = 1000000;
  const int64_t t = 1000 * kMs;
  grpcr_method_stats* m = Method("/a.A/M");
  for (int i = 0; i < 20; i++) grpcr_method_stats_on_hedged_ok(m, t, 1 * kMs);
  int64_t d = -1;
  ASSERT_TRUE(grpcr_method_stats_latency_quantile(m, t, 0.5, 20, &d));
  EXPECT_EQ(d, k1msUpper);
  // 30 calls of 200 ms move the median, but the last read stands for 100 ms.
  for (int i = 0; i < 30; i++) grpcr_method_stats_on_hedged_ok(m, t + 50 * kMs, 200 * kMs);
  d = -1;
  ASSERT_TRUE(grpcr_method_stats_latency_quantile(m, t + 100 * kMs - 1, 0.5, 20, &d));
  EXPECT_EQ(d, k1msUpper);
  ASSERT_TRUE(grpcr_method_stats_latency_quantile(m, t + 100 * kMs, 0.5, 20, &d));
  EXPECT_EQ(d, k200msUpper);
}

TEST_F(MethodStatsTest, TooFewCallsIsAlsoKeptFor100Ms) {
  constexpr int64_t kMs = 1000000;
  const int64_t t = 1000 * kMs;
  grpcr_method_stats* m = Method("/a.A/M");
  for (int i = 0; i < 19; i++) grpcr_method_stats_on_hedged_ok(m, t, 1 * kMs);
  int64_t d = -1;
  EXPECT_FALSE(grpcr_method_stats_latency_quantile(m, t, 0.5, 20, &d));
  EXPECT_EQ(d, 0);
  grpcr_method_stats_on_hedged_ok(m, t, 1 * kMs);
  d = -1;
  EXPECT_FALSE(grpcr_method_stats_latency_quantile(m, t + 100 * kMs - 1, 0.5, 20, &d));
  EXPECT_EQ(d, 0);
  EXPECT_TRUE(grpcr_method_stats_latency_quantile(m, t + 100 * kMs, 0.5, 20, &d));
  EXPECT_EQ(d, k1msUpper);
}

// "other" mixes methods: their latencies make no one delay, so it never
// answers (and records nothing).
TEST_F(MethodStatsTest, OtherAndNullNeverAnswerTheQuantile) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* other = grpcr_stats_method(ch_, nullptr, 0);
  for (int i = 0; i < 100; i++) grpcr_method_stats_on_hedged_ok(other, 1000 * kMs, 1 * kMs);
  int64_t d = -1;
  EXPECT_FALSE(grpcr_method_stats_latency_quantile(other, 1000 * kMs, 0.5, 1, &d));
  EXPECT_EQ(d, 0);
  grpcr_method_stats_on_hedged_ok(nullptr, 1000 * kMs, 1 * kMs);
  d = -1;
  EXPECT_FALSE(grpcr_method_stats_latency_quantile(nullptr, 1000 * kMs, 0.5, 1, &d));
  EXPECT_EQ(d, 0);
  grpcr_method_stats_on_hedged_final(other, 2, kOk, 2);
  const grpcr_channel_snapshot& s = Snap();
  ASSERT_EQ(s.method_count, 1u);
  EXPECT_STREQ(s.methods[0].method, GRPCR_METHOD_OTHER);
  EXPECT_EQ(s.methods[0].hedge_delay_s, 0.0);
  EXPECT_EQ(s.methods[0].hedge_delay_samples, 0u);
  EXPECT_EQ(s.methods[0].hedges_won, 1u);
}

// The snapshot reports the delay last read and the window's count then,
// not the window now.
TEST_F(MethodStatsTest, SnapshotReportsTheLastDelayRead) {
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* m = Method("/a.A/M");
  grpcr_method_stats_on_hedged_final(m, 2, kOk, 2);
  for (int i = 0; i < 20; i++) grpcr_method_stats_on_hedged_ok(m, 1000 * kMs, 1 * kMs);
  EXPECT_EQ(Snap().methods[0].hedge_delay_s, 0.0);  // never read
  EXPECT_EQ(Snap().methods[0].hedge_delay_samples, 0u);
  int64_t d = 0;
  ASSERT_TRUE(grpcr_method_stats_latency_quantile(m, 1000 * kMs, 0.5, 20, &d));
  EXPECT_DOUBLE_EQ(Snap().methods[0].hedge_delay_s, 0.001048575);
  EXPECT_EQ(Snap().methods[0].hedge_delay_samples, 20u);
  for (int i = 0; i < 30; i++) grpcr_method_stats_on_hedged_ok(m, 1050 * kMs, 200 * kMs);
  EXPECT_DOUBLE_EQ(Snap().methods[0].hedge_delay_s, 0.001048575);  // not read again
  EXPECT_EQ(Snap().methods[0].hedge_delay_samples, 20u);
  ASSERT_TRUE(grpcr_method_stats_latency_quantile(m, 1100 * kMs, 0.5, 20, &d));
  EXPECT_DOUBLE_EQ(Snap().methods[0].hedge_delay_s, 0.201326591);
  EXPECT_EQ(Snap().methods[0].hedge_delay_samples, 50u);
  // Too few for a higher minimum: no delay, and the count it had.
  EXPECT_FALSE(grpcr_method_stats_latency_quantile(m, 1200 * kMs, 0.5, 51, &d));
  EXPECT_EQ(Snap().methods[0].hedge_delay_s, 0.0);
  EXPECT_EQ(Snap().methods[0].hedge_delay_samples, 50u);
  // Once the window has moved past them: nothing.
  EXPECT_FALSE(grpcr_method_stats_latency_quantile(m, 20000 * kMs, 0.5, 20, &d));
  EXPECT_EQ(Snap().methods[0].hedge_delay_s, 0.0);
  EXPECT_EQ(Snap().methods[0].hedge_delay_samples, 0u);
}
