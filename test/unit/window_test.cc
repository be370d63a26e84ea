// The sliding window of src/window.h (private to the core), the ring both
// the retry budget and the breaker count in. Time is a plain int64 the
// tests pass in.
extern "C" {
#include "window.h"
}

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

struct Sums {
  uint64_t n0, n1;
};

Sums SumAt(const grpcr_window& w, int64_t now) {
  Sums s{0, 0};
  grpcr_window_sum_at(&w, now, &s.n0, &s.n1);
  return s;
}

// A 10 s window: 20 buckets of 500 ms.
grpcr_window Make(int64_t now = 0, int64_t window = 10 * kSec) {
  grpcr_window w;
  grpcr_window_init(&w, window, now);
  return w;
}

TEST(WindowTest, InitSplitsTheWindowIntoTwentyBucketsAndStartsEmpty) {
  grpcr_window w = Make(1234 * kMs);
  EXPECT_EQ(w.window_ns, 10 * kSec);
  EXPECT_EQ(w.bucket_ns, 500 * kMs);
  EXPECT_EQ(w.head, 2);  // 1.234 s is in the bucket [1 s, 1.5 s)
  EXPECT_EQ(w.head_start_ns, 1 * kSec);
  EXPECT_EQ(w.sum[0], 0u);
  EXPECT_EQ(w.sum[1], 0u);
  Sums s = SumAt(w, 1234 * kMs);
  EXPECT_EQ(s.n0, 0u);
  EXPECT_EQ(s.n1, 0u);
}

TEST(WindowTest, AddsWithinOneWindowAreSummed) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 0, 1, 2);
  grpcr_window_add(&w, 3 * kSec, 3, 0);
  grpcr_window_add(&w, 10 * kSec - 1, 0, 4);
  EXPECT_EQ(w.sum[0], 4u);
  EXPECT_EQ(w.sum[1], 6u);
  Sums s = SumAt(w, 10 * kSec - 1);
  EXPECT_EQ(s.n0, 4u);
  EXPECT_EQ(s.n1, 6u);
}

TEST(WindowTest, BucketsExpireAsWholeBucketsOnceOlderThanTheWindow) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 0, 5, 1);             // bucket [0, 500 ms)
  grpcr_window_add(&w, 499 * kMs, 5, 1);     // the same bucket
  grpcr_window_add(&w, 500 * kMs, 7, 2);     // bucket [500 ms, 1 s)
  EXPECT_EQ(SumAt(w, 10 * kSec - 1).n0, 17u);
  // At 10 s the first bucket is older than the window: all of it goes,
  // including what was added at 499 ms.
  EXPECT_EQ(SumAt(w, 10 * kSec).n0, 7u);
  EXPECT_EQ(SumAt(w, 10 * kSec).n1, 2u);
  EXPECT_EQ(SumAt(w, 10500 * kMs - 1).n0, 7u);
  EXPECT_EQ(SumAt(w, 10500 * kMs).n0, 0u);

  // advance moves the running sums the same way.
  grpcr_window_advance(&w, 10 * kSec);
  EXPECT_EQ(w.sum[0], 7u);
  EXPECT_EQ(w.sum[1], 2u);
  grpcr_window_advance(&w, 10500 * kMs);
  EXPECT_EQ(w.sum[0], 0u);
  EXPECT_EQ(w.sum[1], 0u);
}

TEST(WindowTest, ABucketSlotReusedAfterAFullTurnStartsFromZero) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 0, 3, 3);
  grpcr_window_add(&w, 20 * kSec, 1, 0);  // the same ring slot, 40 epochs on
  EXPECT_EQ(w.sum[0], 1u);
  EXPECT_EQ(w.sum[1], 0u);
  EXPECT_EQ(SumAt(w, 20 * kSec).n0, 1u);
}

TEST(WindowTest, ATimeOlderThanTheHeadCountsInTheHeadBucket) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 5 * kSec, 1, 0);  // head: [5 s, 5.5 s)
  grpcr_window_add(&w, 1 * kSec, 1, 1);  // older: counted in the head
  EXPECT_EQ(w.head_start_ns, 5 * kSec);
  EXPECT_EQ(w.sum[0], 2u);
  EXPECT_EQ(w.sum[1], 1u);
  // Had it counted at 1 s it would leave at 11 s; in the head it stays
  // until the head bucket expires at 15 s.
  EXPECT_EQ(SumAt(w, 15 * kSec - 1).n0, 2u);
  EXPECT_EQ(SumAt(w, 15 * kSec - 1).n1, 1u);
  EXPECT_EQ(SumAt(w, 15 * kSec).n0, 0u);

  // Even a time before the window was made is never lost.
  grpcr_window v = Make(7 * kSec);
  grpcr_window_add(&v, -100 * kSec, 2, 0);
  EXPECT_EQ(v.head_start_ns, 7 * kSec);
  EXPECT_EQ(SumAt(v, 7 * kSec).n0, 2u);
}

TEST(WindowTest, AdvanceToAnOlderTimeDoesNotMoveTheHead) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 8 * kSec, 4, 0);
  grpcr_window_advance(&w, 2 * kSec);
  EXPECT_EQ(w.head, 16);
  EXPECT_EQ(w.head_start_ns, 8 * kSec);
  EXPECT_EQ(w.sum[0], 4u);
}

TEST(WindowTest, SumAtDoesNotMoveTheWindow) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 0, 1, 1);
  grpcr_window before;
  memcpy(&before, &w, sizeof(w));
  // Read far in the future: nothing is inside that window...
  Sums late = SumAt(w, 100 * kSec);
  EXPECT_EQ(late.n0, 0u);
  EXPECT_EQ(late.n1, 0u);
  // ...but the window itself did not move,
  EXPECT_EQ(memcmp(&before, &w, sizeof(w)), 0);
  // so an add at an earlier time still counts together with the first.
  grpcr_window_add(&w, 1 * kSec, 2, 0);
  EXPECT_EQ(w.sum[0], 3u);
  EXPECT_EQ(w.sum[1], 1u);
  EXPECT_EQ(SumAt(w, 1 * kSec).n0, 3u);
  // A read before the head reads the window ending at the head.
  EXPECT_EQ(SumAt(w, -50 * kSec).n0, 3u);
}

TEST(WindowTest, ClearZeroesCountsAndKeepsTheHead) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 0, 3, 1);
  grpcr_window_add(&w, 4 * kSec, 5, 2);
  grpcr_window_clear(&w);
  EXPECT_EQ(w.sum[0], 0u);
  EXPECT_EQ(w.sum[1], 0u);
  EXPECT_EQ(SumAt(w, 4 * kSec).n0, 0u);
  EXPECT_EQ(SumAt(w, 4 * kSec).n1, 0u);
  EXPECT_EQ(w.head, 8);
  EXPECT_EQ(w.head_start_ns, 4 * kSec);
  for (const grpcr_window_bucket& k : w.ring) {
    EXPECT_EQ(k.n[0], 0u);
    EXPECT_EQ(k.n[1], 0u);
  }
  // Counting resumes from zero, and expiring the cleared buckets later
  // does not underflow the sums.
  grpcr_window_add(&w, 4 * kSec, 1, 0);
  EXPECT_EQ(w.sum[0], 1u);
  grpcr_window_advance(&w, 14 * kSec - 1);
  EXPECT_EQ(w.sum[0], 1u);
  grpcr_window_advance(&w, 14 * kSec);
  EXPECT_EQ(w.sum[0], 0u);
  EXPECT_EQ(w.sum[1], 0u);
}

TEST(WindowTest, NegativeTimesAreOrdinaryTimes) {
  grpcr_window w = Make(-1);  // floor division: bucket [-500 ms, 0)
  EXPECT_EQ(w.head, -1);
  EXPECT_EQ(w.head_start_ns, -500 * kMs);
  grpcr_window_add(&w, -1, 1, 0);
  grpcr_window_add(&w, 0, 1, 0);
  EXPECT_EQ(w.head, 0);
  EXPECT_EQ(SumAt(w, 10 * kSec - 500 * kMs - 1).n0, 2u);
  EXPECT_EQ(SumAt(w, 10 * kSec - 500 * kMs).n0, 1u);
  EXPECT_EQ(SumAt(w, 10 * kSec).n0, 0u);
}

TEST(WindowTest, JumpFromInt64MinToInt64MaxClearsTheWindow) {
  grpcr_window w = Make(INT64_MIN);
  EXPECT_EQ(w.head_start_ns, INT64_MIN);  // its bucket starts before it
  grpcr_window_add(&w, INT64_MIN, 3, 1);
  grpcr_window_add(&w, INT64_MIN + 1, 2, 0);
  EXPECT_EQ(w.sum[0], 5u);
  // A jump of 2^64 - 1 ns: more than INT64_MAX.
  EXPECT_EQ(SumAt(w, INT64_MAX).n0, 0u);
  EXPECT_EQ(w.sum[0], 5u);  // (sum_at moved nothing)
  grpcr_window_add(&w, INT64_MAX, 1, 0);
  EXPECT_EQ(w.sum[0], 1u);
  EXPECT_EQ(w.sum[1], 0u);
  EXPECT_EQ(SumAt(w, INT64_MAX).n0, 1u);
  EXPECT_EQ(SumAt(w, INT64_MAX).n1, 0u);
  grpcr_window_advance(&w, INT64_MAX);  // again: nothing left to expire
  EXPECT_EQ(w.sum[0], 1u);
}

TEST(WindowTest, JumpByMoreThanInt64MaxFromNearTheEdgesClearsTheWindow) {
  grpcr_window w = Make(INT64_MIN + 5);
  grpcr_window_add(&w, INT64_MIN + 5, 9, 9);
  grpcr_window_add(&w, INT64_MAX - 5, 1, 1);  // UINT64_MAX - 10 ns later
  EXPECT_EQ(w.sum[0], 1u);
  EXPECT_EQ(w.sum[1], 1u);
  EXPECT_EQ(SumAt(w, INT64_MAX).n0, 1u);

  // From just below 0 to just below INT64_MAX: also more than a window.
  grpcr_window v = Make(-1);
  grpcr_window_add(&v, -1, 4, 0);
  grpcr_window_add(&v, INT64_MAX - 1, 1, 0);
  EXPECT_EQ(v.sum[0], 1u);
}

TEST(WindowTest, AWindowLengthOfTimeOrMoreNearTheEdgesClearsTheWindow) {
  grpcr_window w = Make(INT64_MAX - 10 * kSec);
  grpcr_window_add(&w, INT64_MAX - 10 * kSec, 5, 0);
  grpcr_window_add(&w, INT64_MAX - 1, 1, 0);
  EXPECT_EQ(w.sum[0], 1u);
  grpcr_window_add(&w, INT64_MAX, 1, 0);  // the same (last) bucket
  EXPECT_EQ(w.sum[0], 2u);
  EXPECT_EQ(SumAt(w, INT64_MAX).n0, 2u);

  grpcr_window v = Make(INT64_MIN);
  grpcr_window_add(&v, INT64_MIN, 5, 0);
  grpcr_window_add(&v, INT64_MIN + 11 * kSec, 1, 0);
  EXPECT_EQ(v.sum[0], 1u);
  EXPECT_EQ(SumAt(v, INT64_MIN + 11 * kSec).n0, 1u);
}

TEST(WindowTest, JumpBackFromInt64MaxToInt64MinCountsInTheHead) {
  grpcr_window w = Make(INT64_MAX);
  grpcr_window_add(&w, INT64_MAX, 1, 0);
  grpcr_window_add(&w, INT64_MIN, 1, 1);
  EXPECT_EQ(w.sum[0], 2u);
  EXPECT_EQ(w.sum[1], 1u);
  EXPECT_EQ(SumAt(w, INT64_MIN).n0, 2u);
}

TEST(WindowTest, HugeWindowAcrossTheWholeRangeNeverOverflows) {
  grpcr_window w = Make(INT64_MIN, INT64_MAX);
  // Buckets of INT64_MAX / 20 ns: INT64_MIN is in epoch -21, whose start
  // does not fit in an int64_t; at 0 it is older than the window.
  grpcr_window_add(&w, INT64_MIN, 1, 0);
  EXPECT_EQ(SumAt(w, INT64_MIN + kSec).n0, 1u);
  EXPECT_EQ(SumAt(w, 0).n0, 0u);
  grpcr_window_add(&w, INT64_MAX, 1, 0);  // epoch 20: 41 buckets later
  EXPECT_EQ(w.sum[0], 1u);
  grpcr_window_resize(&w, 10 * kSec, INT64_MAX);
  EXPECT_EQ(w.sum[0], 1u);  // its bucket starts inside the new window
  EXPECT_EQ(SumAt(w, INT64_MAX).n0, 1u);
}

TEST(WindowTest, ResizeAtTheInt64EdgesKeepsTheHeadBucket) {
  grpcr_window hi = Make(INT64_MAX);
  grpcr_window_add(&hi, INT64_MAX, 3, 1);
  grpcr_window_resize(&hi, 5 * kSec, INT64_MAX);
  EXPECT_EQ(hi.bucket_ns, 250 * kMs);
  EXPECT_EQ(hi.sum[0], 3u);
  EXPECT_EQ(hi.sum[1], 1u);
  EXPECT_EQ(SumAt(hi, INT64_MAX).n0, 3u);

  // The bucket of INT64_MIN starts before INT64_MIN: its start saturates.
  grpcr_window lo = Make(INT64_MIN);
  grpcr_window_add(&lo, INT64_MIN, 3, 1);
  grpcr_window_resize(&lo, 5 * kSec, INT64_MIN);
  EXPECT_EQ(lo.sum[0], 3u);
  EXPECT_EQ(lo.sum[1], 1u);
  EXPECT_EQ(SumAt(lo, INT64_MIN).n0, 3u);
}

// One count in each 500 ms bucket of a 10 s window: bucket i (start
// i * 500 ms) holds i + 1 in n[0] and 1 in n[1], 210 and 20 in all.
grpcr_window Staircase() {
  grpcr_window w = Make();
  for (int i = 0; i < 20; i++)
    grpcr_window_add(&w, i * 500 * kMs, static_cast<uint64_t>(i) + 1, 1);
  EXPECT_EQ(w.sum[0], 210u);
  EXPECT_EQ(w.sum[1], 20u);
  return w;
}

TEST(WindowTest, ResizeToTheSameLengthIsANoOp) {
  grpcr_window w = Staircase();
  grpcr_window before;
  memcpy(&before, &w, sizeof(w));
  // Even with a later time: resize to the same length does not advance.
  grpcr_window_resize(&w, 10 * kSec, 100 * kSec);
  EXPECT_EQ(memcmp(&before, &w, sizeof(w)), 0);
}

TEST(WindowTest, ResizeToALongerWindowKeepsEveryCount) {
  grpcr_window w = Staircase();
  grpcr_window_resize(&w, 20 * kSec, 9500 * kMs);
  EXPECT_EQ(w.window_ns, 20 * kSec);
  EXPECT_EQ(w.bucket_ns, 1 * kSec);
  EXPECT_EQ(w.sum[0], 210u);
  EXPECT_EQ(w.sum[1], 20u);
  // Old buckets 0 and 1 (starts 0 and 500 ms) are now in the 1 s bucket
  // [0, 1 s): they stay until 20 s, then leave together.
  EXPECT_EQ(SumAt(w, 20 * kSec - 1).n0, 210u);
  EXPECT_EQ(SumAt(w, 20 * kSec).n0, 207u);
  EXPECT_EQ(SumAt(w, 20 * kSec).n1, 18u);
  EXPECT_EQ(SumAt(w, 21 * kSec).n0, 210u - 3u - 7u);  // then 3 and 4
}

TEST(WindowTest, ResizeToAShorterWindowDropsBucketsThatStartBeforeIt) {
  grpcr_window w = Staircase();
  // New window 5 s (250 ms buckets) at 9.7 s: its head is [9.5 s, 9.75 s),
  // epoch 38, so it holds the epochs 19..38, starts from 4.75 s. Old bucket
  // i starts at i * 500 ms = new epoch 2i: kept for i >= 10. Old bucket 9
  // ([4.5 s, 5 s)) starts before 4.75 s and is dropped whole.
  grpcr_window_resize(&w, 5 * kSec, 9700 * kMs);
  EXPECT_EQ(w.window_ns, 5 * kSec);
  EXPECT_EQ(w.bucket_ns, 250 * kMs);
  EXPECT_EQ(w.head, 38);
  EXPECT_EQ(w.sum[0], 155u);  // 11 + 12 + ... + 20
  EXPECT_EQ(w.sum[1], 10u);
  EXPECT_EQ(SumAt(w, 9700 * kMs).n0, 155u);
  // They now expire by the new window: old bucket 10 (5 s) at 10 s.
  EXPECT_EQ(SumAt(w, 10 * kSec - 1).n0, 155u);
  EXPECT_EQ(SumAt(w, 10 * kSec).n0, 144u);
  EXPECT_EQ(SumAt(w, 10 * kSec).n1, 9u);
  EXPECT_EQ(SumAt(w, 14500 * kMs).n0, 0u);  // old bucket 19 (9.5 s) too
  EXPECT_EQ(SumAt(w, 14500 * kMs - 1).n0, 20u);
}

TEST(WindowTest, ResizeWithAnOlderTimeUsesTheHead) {
  grpcr_window w = Staircase();
  // 1 s is before the head (9.5 s): the new window ends at 9.5 s, as above.
  grpcr_window_resize(&w, 5 * kSec, 1 * kSec);
  EXPECT_EQ(w.head, 38);
  EXPECT_EQ(w.head_start_ns, 9500 * kMs);
  EXPECT_EQ(w.sum[0], 155u);
  EXPECT_EQ(w.sum[1], 10u);
}

TEST(WindowTest, MergeAddsTheOtherWindowsCountsByBucketStart) {
  grpcr_window w = Make();
  grpcr_window_add(&w, 0, 3, 0);
  grpcr_window src = Make();
  grpcr_window_add(&src, 1 * kSec, 5, 1);
  grpcr_window_add(&src, 6 * kSec, 7, 2);
  grpcr_window src_before;
  memcpy(&src_before, &src, sizeof(src));

  grpcr_window_merge(&w, &src, 8 * kSec);
  EXPECT_EQ(memcmp(&src_before, &src, sizeof(src)), 0);  // src untouched
  EXPECT_EQ(w.head_start_ns, 8 * kSec);
  EXPECT_EQ(w.sum[0], 15u);
  EXPECT_EQ(w.sum[1], 3u);
  // Each merged count expires with the bucket of its start time.
  EXPECT_EQ(SumAt(w, 10 * kSec).n0, 12u);   // w's own 3 (at 0) left
  EXPECT_EQ(SumAt(w, 11 * kSec - 1).n0, 12u);
  EXPECT_EQ(SumAt(w, 11 * kSec).n0, 7u);    // src's 5 (at 1 s) left
  EXPECT_EQ(SumAt(w, 11 * kSec).n1, 2u);
  EXPECT_EQ(SumAt(w, 16 * kSec - 1).n0, 7u);
  EXPECT_EQ(SumAt(w, 16 * kSec).n0, 0u);
}

TEST(WindowTest, MergeAdvancesTheOtherWindowToNowFirst) {
  grpcr_window w = Make();
  grpcr_window src = Make();
  grpcr_window_add(&src, 0, 4, 4);          // out of src's window at 10 s
  grpcr_window_add(&src, 500 * kMs, 1, 0);  // still in it
  grpcr_window_merge(&w, &src, 10 * kSec);
  EXPECT_EQ(w.sum[0], 1u);
  EXPECT_EQ(w.sum[1], 0u);
  EXPECT_EQ(src.sum[0], 5u);  // the copy was advanced, not src
}

TEST(WindowTest, MergeFromADifferentLengthUsesBucketStarts) {
  grpcr_window w = Make();  // 10 s
  grpcr_window src = Make(0, 20 * kSec);
  grpcr_window_add(&src, 0, 2, 0);          // src bucket [0, 1 s)
  grpcr_window_add(&src, 12 * kSec, 3, 0);  // src bucket [12 s, 13 s)
  grpcr_window_merge(&w, &src, 15 * kSec);
  // At 15 s w holds the starts from 5.5 s on: only the 12 s bucket.
  EXPECT_EQ(w.sum[0], 3u);
  EXPECT_EQ(SumAt(w, 22 * kSec - 1).n0, 3u);
  EXPECT_EQ(SumAt(w, 22 * kSec).n0, 0u);
}

TEST(WindowTest, MergeOfCountsNewerThanTheHeadCountsThemInTheHead) {
  grpcr_window w = Make();
  grpcr_window src = Make();
  grpcr_window_add(&src, 5 * kSec, 2, 1);
  grpcr_window_merge(&w, &src, 1 * kSec);  // w's head: [1 s, 1.5 s)
  EXPECT_EQ(w.head_start_ns, 1 * kSec);
  EXPECT_EQ(w.sum[0], 2u);
  EXPECT_EQ(w.sum[1], 1u);
  EXPECT_EQ(SumAt(w, 11 * kSec - 1).n0, 2u);
  EXPECT_EQ(SumAt(w, 11 * kSec).n0, 0u);
}

}  // namespace
