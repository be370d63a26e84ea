// The channel policy of include/grpcr/policy.h: a budget and a breaker made
// from one service config, and what an update from the previous policy
// keeps, carries over or replaces. Time is a plain int64 the tests pass in.
#include "grpcr/policy.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

constexpr int kOk = 0;
constexpr int kUnavailable = 14;

grpcr_breaker_config BreakerConfig() {
  grpcr_breaker_config c = grpcr_breaker_config_default();
  c.minimum_calls = 2;
  c.failure_rate_threshold = 0.5;
  c.open_duration_ns = 30 * kSec;
  return c;
}

grpcr_budget_config BudgetConfig(double ratio) {
  grpcr_budget_config c;
  c.ratio = ratio;
  c.min_retries_per_second = 0;
  c.window_ns = 10 * kSec;
  return c;
}

// No retryBudget block, no circuitBreaker block.
grpcr_channel_config Empty() {
  grpcr_channel_config c{};
  c.has_budget = false;
  c.budget = grpcr_budget_config_default();
  c.budget_scope = GRPCR_BUDGET_SCOPE_CHANNEL;
  c.has_breaker = false;
  c.breaker = grpcr_breaker_config_default();
  return c;
}

grpcr_channel_config WithBoth(double ratio, grpcr_budget_scope scope =
                                                GRPCR_BUDGET_SCOPE_CHANNEL) {
  grpcr_channel_config c = Empty();
  c.has_budget = true;
  c.budget = BudgetConfig(ratio);
  c.budget_scope = scope;
  c.has_breaker = true;
  c.breaker = BreakerConfig();
  return c;
}

grpcr_breaker_snapshot BreakerSnap(grpcr_breaker* b, int64_t now) {
  grpcr_breaker_snapshot s;
  grpcr_breaker_snapshot_get(b, now, &s);
  return s;
}

grpcr_budget_snapshot BudgetSnap(grpcr_budget* b, int64_t now) {
  grpcr_budget_snapshot s;
  grpcr_budget_snapshot_get(b, now, &s);
  return s;
}

// Two failing calls through the breaker open it (minimum_calls 2).
void Trip(grpcr_breaker* b, int64_t now) {
  for (int i = 0; i < 2; i++) {
    grpcr_breaker_ticket t;
    ASSERT_TRUE(grpcr_breaker_try_acquire(b, now, &t, nullptr));
    grpcr_breaker_record(b, &t, kUnavailable, now, nullptr);
  }
  ASSERT_EQ(BreakerSnap(b, now).state, GRPCR_BREAKER_OPEN);
}

// 100 requests and 5 retries at now.
void Spend(grpcr_budget* b, int64_t now) {
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(b, now);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(grpcr_budget_try_retry(b, now));
}

bool AnyChange(const grpcr_policy_change& ch) {
  return ch.budget_kept || ch.budget_carried || ch.breaker_kept ||
         ch.breaker_carried || ch.transition.happened;
}

TEST(PolicyTest, FirstPolicyAlwaysHasABudgetAndABreakerOnlyWithItsBlock) {
  grpcr_channel_config none = Empty();
  grpcr_policy_change ch;
  grpcr_policy* p = grpcr_policy_create(&none, "dns:///first", nullptr, 0, &ch);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(AnyChange(ch));
  ASSERT_NE(grpcr_policy_budget(p), nullptr);
  EXPECT_EQ(grpcr_policy_breaker(p), nullptr);
  // Without a block the budget is the default one: 0.1 * 10 + 10/s * 10 s.
  grpcr_budget_on_request(grpcr_policy_budget(p), 0);
  EXPECT_DOUBLE_EQ(BudgetSnap(grpcr_policy_budget(p), 0).allowed_in_window,
                   100.1);
  EXPECT_FALSE(grpcr_policy_config(p)->has_breaker);

  grpcr_channel_config both = WithBoth(0.1);
  grpcr_policy* q = grpcr_policy_create(&both, "dns:///first", nullptr, 0, &ch);
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(AnyChange(ch));
  EXPECT_NE(grpcr_policy_budget(q), nullptr);
  EXPECT_NE(grpcr_policy_budget(q), grpcr_policy_budget(p));
  ASSERT_NE(grpcr_policy_breaker(q), nullptr);
  EXPECT_EQ(BreakerSnap(grpcr_policy_breaker(q), 0).state,
            GRPCR_BREAKER_CLOSED);
  EXPECT_TRUE(grpcr_policy_config(q)->has_breaker);
  EXPECT_TRUE(grpcr_channel_config_equal(grpcr_policy_config(q), &both));
  grpcr_policy_unref(q);
  grpcr_policy_unref(p);
}

TEST(PolicyTest, AnInvalidConfigMakesNoPolicy) {
  EXPECT_EQ(grpcr_policy_create(nullptr, "t", nullptr, 0, nullptr), nullptr);
  grpcr_channel_config bad_breaker = WithBoth(0.1);
  bad_breaker.breaker.minimum_calls = 0;
  EXPECT_EQ(grpcr_policy_create(&bad_breaker, "t", nullptr, 0, nullptr),
            nullptr);
  grpcr_channel_config bad_budget = WithBoth(-1.0);
  EXPECT_EQ(grpcr_policy_create(&bad_budget, "t", nullptr, 0, nullptr),
            nullptr);
}

TEST(PolicyTest, TheSameConfigAgainKeepsTheVerySameObjects) {
  grpcr_channel_config cfg = WithBoth(0.1);
  grpcr_policy* p1 = grpcr_policy_create(&cfg, "dns:///same", nullptr, 0,
                                         nullptr);
  ASSERT_NE(p1, nullptr);
  grpcr_policy_change ch;
  grpcr_policy* p2 = grpcr_policy_create(&cfg, "dns:///same", p1, 1 * kSec,
                                         &ch);
  ASSERT_NE(p2, nullptr);
  EXPECT_NE(p2, p1);
  EXPECT_EQ(grpcr_policy_budget(p2), grpcr_policy_budget(p1));
  EXPECT_EQ(grpcr_policy_breaker(p2), grpcr_policy_breaker(p1));
  EXPECT_TRUE(ch.budget_kept);
  EXPECT_FALSE(ch.budget_carried);
  EXPECT_TRUE(ch.breaker_kept);
  EXPECT_FALSE(ch.breaker_carried);
  EXPECT_FALSE(ch.transition.happened);
  EXPECT_EQ(BudgetSnap(grpcr_policy_budget(p2), 1 * kSec).reconfigured_total,
            0u);
  EXPECT_EQ(BreakerSnap(grpcr_policy_breaker(p2), 1 * kSec).reconfigured_total,
            0u);
  // The old policy goes; the new one's parts live on.
  grpcr_policy_unref(p1);
  grpcr_budget_on_request(grpcr_policy_budget(p2), 1 * kSec);
  Trip(grpcr_policy_breaker(p2), 1 * kSec);
  grpcr_policy_unref(p2);
}

TEST(PolicyTest, ABudgetRatioChangeKeepsTheBreakerAndItsState) {
  grpcr_channel_config cfg1 = WithBoth(0.1);
  grpcr_policy* p1 = grpcr_policy_create(&cfg1, "dns:///ratio", nullptr, 0,
                                         nullptr);
  ASSERT_NE(p1, nullptr);
  grpcr_breaker* breaker = grpcr_policy_breaker(p1);
  grpcr_budget* budget = grpcr_policy_budget(p1);
  Trip(breaker, 0);
  Spend(budget, 0);

  grpcr_channel_config cfg2 = WithBoth(0.5);
  grpcr_policy_change ch;
  grpcr_policy* p2 = grpcr_policy_create(&cfg2, "dns:///ratio", p1, 1 * kSec,
                                         &ch);
  ASSERT_NE(p2, nullptr);
  // The breaker: the same object, untouched, still OPEN.
  EXPECT_EQ(grpcr_policy_breaker(p2), breaker);
  EXPECT_TRUE(ch.breaker_kept);
  EXPECT_FALSE(ch.breaker_carried);
  EXPECT_FALSE(ch.transition.happened);
  grpcr_breaker_snapshot bs = BreakerSnap(breaker, 1 * kSec);
  EXPECT_EQ(bs.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(bs.time_in_state_ns, 1 * kSec);
  EXPECT_EQ(bs.reconfigured_total, 0u);
  // The CHANNEL budget: the same object, reconfigured with its window.
  EXPECT_EQ(grpcr_policy_budget(p2), budget);
  EXPECT_FALSE(ch.budget_kept);
  EXPECT_TRUE(ch.budget_carried);
  grpcr_budget_snapshot s = BudgetSnap(budget, 1 * kSec);
  EXPECT_EQ(s.requests_in_window, 100u);
  EXPECT_EQ(s.retries_in_window, 5u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 50.0);
  EXPECT_EQ(s.reconfigured_total, 1u);
  EXPECT_EQ(s.requests_total, 100u);
  grpcr_policy_unref(p1);
  grpcr_policy_unref(p2);
}

TEST(PolicyTest, ABreakerChangeCarriesItsStateAndKeepsTheBudget) {
  grpcr_channel_config cfg1 = WithBoth(0.1);
  grpcr_policy* p1 = grpcr_policy_create(&cfg1, "dns:///brk", nullptr, 0,
                                         nullptr);
  ASSERT_NE(p1, nullptr);
  grpcr_breaker* breaker = grpcr_policy_breaker(p1);
  grpcr_budget* budget = grpcr_policy_budget(p1);
  Trip(breaker, 0);
  Spend(budget, 0);

  grpcr_channel_config cfg2 = cfg1;
  cfg2.breaker.open_duration_ns = 60 * kSec;
  grpcr_policy_change ch;
  grpcr_policy* p2 = grpcr_policy_create(&cfg2, "dns:///brk", p1, 1 * kSec,
                                         &ch);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(grpcr_policy_budget(p2), budget);
  EXPECT_TRUE(ch.budget_kept);
  EXPECT_FALSE(ch.budget_carried);
  grpcr_budget_snapshot s = BudgetSnap(budget, 1 * kSec);
  EXPECT_EQ(s.requests_in_window, 100u);
  EXPECT_EQ(s.retries_in_window, 5u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 10.0);
  EXPECT_EQ(s.reconfigured_total, 0u);

  EXPECT_EQ(grpcr_policy_breaker(p2), breaker);
  EXPECT_FALSE(ch.breaker_kept);
  EXPECT_TRUE(ch.breaker_carried);
  EXPECT_FALSE(ch.transition.happened);
  grpcr_breaker_snapshot bs = BreakerSnap(breaker, 1 * kSec);
  EXPECT_EQ(bs.state, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(bs.open_duration_ns, 60 * kSec);
  EXPECT_EQ(bs.reconfigured_total, 1u);
  EXPECT_EQ(bs.transitions_total, 1u);
  // OPEN now lasts 60 s from when it opened (0).
  grpcr_breaker_ticket t;
  EXPECT_FALSE(grpcr_breaker_try_acquire(breaker, 30 * kSec, &t, nullptr));
  EXPECT_FALSE(
      grpcr_breaker_try_acquire(breaker, 60 * kSec - 1, &t, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(breaker, 60 * kSec, &t, nullptr));
  grpcr_breaker_record(breaker, &t, kOk, 60 * kSec, nullptr);
  grpcr_policy_unref(p1);
  grpcr_policy_unref(p2);
}

TEST(PolicyTest, ABreakerChangeReportsTheTransitionItCauses) {
  grpcr_channel_config cfg1 = WithBoth(0.1);
  grpcr_policy* p1 = grpcr_policy_create(&cfg1, "dns:///tr", nullptr, 0,
                                         nullptr);
  ASSERT_NE(p1, nullptr);
  Trip(grpcr_policy_breaker(p1), 0);
  grpcr_channel_config cfg2 = cfg1;
  cfg2.breaker.open_duration_ns = 5 * kSec;  // passed 5 s ago
  grpcr_policy_change ch;
  grpcr_policy* p2 = grpcr_policy_create(&cfg2, "dns:///tr", p1, 10 * kSec,
                                         &ch);
  ASSERT_NE(p2, nullptr);
  EXPECT_TRUE(ch.breaker_carried);
  EXPECT_TRUE(ch.transition.happened);
  EXPECT_EQ(ch.transition.from, GRPCR_BREAKER_OPEN);
  EXPECT_EQ(ch.transition.to, GRPCR_BREAKER_HALF_OPEN);
  EXPECT_EQ(BreakerSnap(grpcr_policy_breaker(p2), 10 * kSec).state,
            GRPCR_BREAKER_HALF_OPEN);
  grpcr_policy_unref(p2);
  grpcr_policy_unref(p1);
}

TEST(PolicyTest, ARemovedBreakerIsGoneFromTheNewPolicyOnly) {
  grpcr_channel_config cfg1 = WithBoth(0.1);
  grpcr_policy* p1 = grpcr_policy_create(&cfg1, "dns:///rm", nullptr, 0,
                                         nullptr);
  ASSERT_NE(p1, nullptr);
  grpcr_breaker* breaker = grpcr_policy_breaker(p1);
  grpcr_channel_config cfg2 = cfg1;
  cfg2.has_breaker = false;
  grpcr_policy_change ch;
  grpcr_policy* p2 = grpcr_policy_create(&cfg2, "dns:///rm", p1, 1 * kSec,
                                         &ch);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(grpcr_policy_breaker(p2), nullptr);
  EXPECT_FALSE(ch.breaker_kept);
  EXPECT_FALSE(ch.breaker_carried);
  EXPECT_TRUE(ch.budget_kept);
  EXPECT_EQ(grpcr_policy_budget(p2), grpcr_policy_budget(p1));
  // The old policy (a running call's) still has its breaker, working.
  grpcr_policy_unref(p2);
  EXPECT_EQ(grpcr_policy_breaker(p1), breaker);
  Trip(breaker, 2 * kSec);
  grpcr_breaker_ticket t;
  EXPECT_FALSE(grpcr_breaker_try_acquire(breaker, 3 * kSec, &t, nullptr));
  EXPECT_EQ(BreakerSnap(breaker, 3 * kSec).rejected_total, 1u);
  grpcr_policy_unref(p1);
}

TEST(PolicyTest, TargetScopePoliciesWithTheSameSettingsShareOneBudget) {
  const char* target = "dns:///policy-share";
  grpcr_channel_config cfg = WithBoth(0.1, GRPCR_BUDGET_SCOPE_TARGET);
  grpcr_policy* a = grpcr_policy_create(&cfg, target, nullptr, 0, nullptr);
  grpcr_policy* b = grpcr_policy_create(&cfg, target, nullptr, 0, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(grpcr_policy_budget(a), grpcr_policy_budget(b));
  // Breakers are per channel.
  EXPECT_NE(grpcr_policy_breaker(a), grpcr_policy_breaker(b));
  grpcr_budget_on_request(grpcr_policy_budget(a), 0);
  EXPECT_EQ(BudgetSnap(grpcr_policy_budget(b), 0).requests_total, 1u);
  // Another target is another budget.
  grpcr_policy* c =
      grpcr_policy_create(&cfg, "dns:///policy-share-2", nullptr, 0, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(grpcr_policy_budget(c), grpcr_policy_budget(a));
  grpcr_policy_unref(c);
  grpcr_policy_unref(a);
  grpcr_policy_unref(b);
}

TEST(PolicyTest, TargetScopeSettingsChangeMovesToANewBudgetWithTheOldCounts) {
  const char* target = "dns:///policy-move";
  grpcr_channel_config cfg1 = WithBoth(0.1, GRPCR_BUDGET_SCOPE_TARGET);
  grpcr_policy* a = grpcr_policy_create(&cfg1, target, nullptr, 0, nullptr);
  grpcr_policy* b = grpcr_policy_create(&cfg1, target, nullptr, 0, nullptr);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  grpcr_budget* old_budget = grpcr_policy_budget(a);
  for (int i = 0; i < 100; i++) grpcr_budget_on_request(old_budget, 0);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(grpcr_budget_try_retry(old_budget, 0));

  grpcr_channel_config cfg2 = WithBoth(0.2, GRPCR_BUDGET_SCOPE_TARGET);
  grpcr_policy_change ch;
  grpcr_policy* a2 = grpcr_policy_create(&cfg2, target, a, 1 * kSec, &ch);
  ASSERT_NE(a2, nullptr);
  grpcr_budget* new_budget = grpcr_policy_budget(a2);
  EXPECT_NE(new_budget, old_budget);
  EXPECT_FALSE(ch.budget_kept);
  EXPECT_TRUE(ch.budget_carried);
  EXPECT_TRUE(ch.breaker_kept);
  grpcr_budget_snapshot s = BudgetSnap(new_budget, 1 * kSec);
  EXPECT_EQ(s.requests_in_window, 100u);
  EXPECT_EQ(s.retries_in_window, 3u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 20.0);
  EXPECT_EQ(s.requests_total, 0u);  // totals stay with the old budget
  EXPECT_EQ(s.reconfigured_total, 0u);
  // The old budget, still b's, is unchanged.
  EXPECT_EQ(grpcr_policy_budget(b), old_budget);
  s = BudgetSnap(old_budget, 1 * kSec);
  EXPECT_EQ(s.requests_in_window, 100u);
  EXPECT_DOUBLE_EQ(s.allowed_in_window, 10.0);
  EXPECT_EQ(s.requests_total, 100u);

  // b follows: it joins the existing new budget, which is not new, so the
  // old counts are not added a second time.
  grpcr_policy* b2 = grpcr_policy_create(&cfg2, target, b, 2 * kSec, &ch);
  ASSERT_NE(b2, nullptr);
  EXPECT_EQ(grpcr_policy_budget(b2), new_budget);
  EXPECT_FALSE(ch.budget_kept);
  EXPECT_FALSE(ch.budget_carried);
  EXPECT_EQ(BudgetSnap(new_budget, 2 * kSec).requests_in_window, 100u);
  EXPECT_EQ(BudgetSnap(new_budget, 2 * kSec).retries_in_window, 3u);

  grpcr_policy_unref(a);
  grpcr_policy_unref(b);
  // The old budget is gone with its last policy; the new one lives on.
  grpcr_budget_on_request(new_budget, 2 * kSec);
  EXPECT_EQ(BudgetSnap(new_budget, 2 * kSec).requests_total, 1u);
  grpcr_policy_unref(a2);
  grpcr_policy_unref(b2);
}

TEST(PolicyTest, ChannelConfigEqualTreatsAMissingBudgetBlockAsTheDefault) {
  grpcr_channel_config none = Empty();
  grpcr_channel_config dflt = Empty();
  dflt.has_budget = true;
  dflt.budget = grpcr_budget_config_default();
  dflt.budget_scope = GRPCR_BUDGET_SCOPE_CHANNEL;
  EXPECT_TRUE(grpcr_channel_config_equal(&none, &dflt));
  EXPECT_TRUE(grpcr_channel_config_equal(&dflt, &none));
  // Without a block, whatever the unused fields hold does not matter.
  grpcr_channel_config junk = Empty();
  junk.budget = BudgetConfig(0.7);
  junk.budget_scope = GRPCR_BUDGET_SCOPE_TARGET;
  EXPECT_TRUE(grpcr_channel_config_equal(&none, &junk));

  grpcr_channel_config target = dflt;
  target.budget_scope = GRPCR_BUDGET_SCOPE_TARGET;
  EXPECT_FALSE(grpcr_channel_config_equal(&none, &target));
  grpcr_channel_config ratio = dflt;
  ratio.budget.ratio = 0.2;
  EXPECT_FALSE(grpcr_channel_config_equal(&none, &ratio));
}

TEST(PolicyTest, ChannelConfigEqualComparesTheBreakerOnlyWhenPresent) {
  grpcr_channel_config a = Empty();
  grpcr_channel_config b = Empty();
  b.breaker.minimum_calls = 99;  // no block: ignored
  EXPECT_TRUE(grpcr_channel_config_equal(&a, &b));
  b.has_breaker = true;
  EXPECT_FALSE(grpcr_channel_config_equal(&a, &b));
  a.has_breaker = true;
  EXPECT_FALSE(grpcr_channel_config_equal(&a, &b));
  a.breaker.minimum_calls = 99;
  EXPECT_TRUE(grpcr_channel_config_equal(&a, &b));
  a.breaker.probe_timeout_ns += 1;
  EXPECT_FALSE(grpcr_channel_config_equal(&a, &b));
}

TEST(PolicyTest, AnExplicitDefaultBudgetBlockKeepsTheImplicitBudget) {
  grpcr_channel_config none = Empty();
  grpcr_policy* p1 = grpcr_policy_create(&none, "dns:///dflt", nullptr, 0,
                                         nullptr);
  ASSERT_NE(p1, nullptr);
  grpcr_budget_on_request(grpcr_policy_budget(p1), 0);
  grpcr_channel_config dflt = none;
  dflt.has_budget = true;
  grpcr_policy_change ch;
  grpcr_policy* p2 = grpcr_policy_create(&dflt, "dns:///dflt", p1, 1 * kSec,
                                         &ch);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(grpcr_policy_budget(p2), grpcr_policy_budget(p1));
  EXPECT_TRUE(ch.budget_kept);
  EXPECT_FALSE(ch.budget_carried);
  EXPECT_EQ(BudgetSnap(grpcr_policy_budget(p2), 1 * kSec).reconfigured_total,
            0u);
  grpcr_policy_unref(p1);
  grpcr_policy_unref(p2);
}

TEST(PolicyTest, UnrefOfTheLastReferenceFreesThePolicy) {
  grpcr_channel_config cfg = WithBoth(0.1);
  grpcr_policy* p = grpcr_policy_create(&cfg, "dns:///unref", nullptr, 0,
                                        nullptr);
  ASSERT_NE(p, nullptr);
  grpcr_policy_ref(p);
  grpcr_policy_unref(p);
  // Still alive: the other reference holds it and its parts.
  grpcr_budget_on_request(grpcr_policy_budget(p), 5 * kMs);
  EXPECT_EQ(BudgetSnap(grpcr_policy_budget(p), 5 * kMs).requests_total, 1u);
  Trip(grpcr_policy_breaker(p), 5 * kMs);
  grpcr_policy_unref(p);  // freed with its budget and breaker (sanitizers)
  grpcr_policy_unref(nullptr);
}

// A failed update (an invalid part) must not change the current policy's
// parts: they are shared with the policy the channel keeps running.
TEST(PolicyTest, AFailedUpdateLeavesTheCurrentPolicysPartsUnchanged) {
  grpcr_channel_config c1 = WithBoth(0.1);
  grpcr_policy* p1 = grpcr_policy_create(&c1, "x", nullptr, 0, nullptr);
  ASSERT_NE(p1, nullptr);
  grpcr_channel_config bad_breaker = WithBoth(0.5);
  bad_breaker.breaker.minimum_calls = 0;
  EXPECT_EQ(grpcr_policy_create(&bad_breaker, "x", p1, kSec, nullptr), nullptr);
  EXPECT_EQ(0u, BudgetSnap(grpcr_policy_budget(p1), kSec).reconfigured_total);
  grpcr_channel_config bad_budget = WithBoth(-1);
  bad_budget.breaker.open_duration_ns = 60 * kSec;
  EXPECT_EQ(grpcr_policy_create(&bad_budget, "x", p1, kSec, nullptr), nullptr);
  grpcr_breaker_snapshot b = BreakerSnap(grpcr_policy_breaker(p1), kSec);
  EXPECT_EQ(0u, b.reconfigured_total);
  EXPECT_EQ(30 * kSec, b.open_duration_ns);
  grpcr_policy_unref(p1);
}

}  // namespace
