// grpcr.v1.ResilienceStats/GetStats over a real C-core server on 127.0.0.1:
// counters scripted straight into the shim's registry, per channel and per
// method, come back exactly (and so does a hand-built snapshot through the
// service's encoder);
// the service works on an application's own server and on the standalone
// one, and both shut down cleanly.
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "stats_encode.h"
#include "stats_test_util.h"

namespace {

using namespace grpcr_stats_test;

::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new GrpcEnv);

// ---- exact counters --------------------------------------------------------

TEST(StatsServiceTest, ReportsExactCountersOfAScriptedChannel) {
  StandaloneServer server;
  const std::string name = Unique("exact");
  Entry e(name, "dns:///backend.example:50051");
  grpcr_channel_stats* s = e.get();
  // 5 calls: 2 rejected by a breaker, 3 sent; one of those retried twice
  // (waits 0.5 ms and 20 ms), one retried once (0.3 s) then denied a second
  // retry, and one attempt number 12 (the 10+ slot).
  for (int i = 0; i < 5; i++) grpcr_stats_on_request(s);
  grpcr_stats_on_rejected(s);
  grpcr_stats_on_rejected(s);
  for (int i = 0; i < 3; i++) grpcr_stats_on_attempt(s, 1);
  grpcr_stats_on_retry(s, 500000);  // 0.0005 s -> le 0.001
  grpcr_stats_on_attempt(s, 2);
  grpcr_stats_on_retry(s, 20000000);  // 0.02 s -> le 0.025
  grpcr_stats_on_attempt(s, 3);
  grpcr_stats_on_retry(s, 300000000);  // 0.3 s -> le 0.5
  grpcr_stats_on_attempt(s, 2);
  grpcr_stats_on_budget_denied(s);
  grpcr_stats_on_attempt(s, 12);
  grpcr_stats_on_final(s, GRPC_STATUS_OK);
  grpcr_stats_on_final(s, GRPC_STATUS_UNAVAILABLE);
  grpcr_stats_on_final(s, GRPC_STATUS_UNAVAILABLE);
  grpcr_stats_on_final(s, GRPC_STATUS_UNAVAILABLE);
  grpcr_stats_on_final(s, 99);  // out of range: UNKNOWN

  int64_t before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Response r = GetStats(server.addr(), name);
  ASSERT_NE(nullptr, r);
  EXPECT_GE(r->collected_at_unix_ms, before_ms);
  EXPECT_LE(r->collected_at_unix_ms, before_ms + 60000);
  ASSERT_EQ(1u, r->n_channels);
  const Grpcr__V1__ChannelStats* c = r->channels[0];
  EXPECT_STREQ(name.c_str(), c->name);
  EXPECT_STREQ("dns:///backend.example:50051", c->target);
  EXPECT_EQ(nullptr, c->breaker);
  EXPECT_EQ(nullptr, c->budget);
  EXPECT_EQ(5u, c->requests);
  EXPECT_EQ(7u, c->attempts);
  EXPECT_EQ(3u, c->retries);
  EXPECT_EQ(1u, c->budget_denied);
  EXPECT_EQ(2u, c->breaker_rejected);
  EXPECT_EQ(5u, c->finished);

  ASSERT_EQ(10u, c->n_attempts_by_number);
  const uint64_t want_attempts[10] = {3, 2, 1, 0, 0, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < 10; i++)
    EXPECT_EQ(want_attempts[i], c->attempts_by_number[i]) << "attempt " << i + 1;

  ASSERT_NE(nullptr, c->retry_wait);
  const Grpcr__V1__RetryWaitHistogram* w = c->retry_wait;
  ASSERT_EQ(16u, w->n_buckets);
  const double bounds[] = GRPCR_STATS_WAIT_BOUNDS;
  uint64_t core_buckets[GRPCR_STATS_WAIT_BUCKETS] = {};
  for (size_t i = 0; i < 16; i++) {
    if (i < 15)
      EXPECT_EQ(bounds[i], w->buckets[i]->upper_bound_seconds);
    else
      EXPECT_TRUE(std::isinf(w->buckets[i]->upper_bound_seconds) &&
                  w->buckets[i]->upper_bound_seconds > 0);
    // Non-cumulative: 0.001 (index 0), 0.025 (4), 0.5 (8).
    uint64_t want = (i == 0 || i == 4 || i == 8) ? 1 : 0;
    EXPECT_EQ(want, w->buckets[i]->count) << "bucket " << i;
    core_buckets[i] = want;
  }
  EXPECT_EQ(3u, w->count);
  EXPECT_DOUBLE_EQ(0.3205, w->sum_seconds);
  EXPECT_EQ(grpcr_stats_wait_quantile(core_buckets, 0.5), w->p50_seconds);
  EXPECT_EQ(grpcr_stats_wait_quantile(core_buckets, 0.99), w->p99_seconds);
  EXPECT_GT(w->p50_seconds, 0.01);
  EXPECT_LE(w->p50_seconds, 0.025);
  EXPECT_GT(w->p99_seconds, 0.25);
  EXPECT_LE(w->p99_seconds, 0.5);

  ASSERT_EQ(17u, c->n_status_counts);
  for (int code = 0; code < 17; code++) {
    const Grpcr__V1__StatusCount* sc = c->status_counts[code];
    EXPECT_EQ(code, sc->code);
    EXPECT_STREQ(grpcr_status_name(code), sc->code_name);
    uint64_t want = code == GRPC_STATUS_OK        ? 1
                    : code == GRPC_STATUS_UNKNOWN ? 1
                    : code == GRPC_STATUS_UNAVAILABLE ? 3
                                                      : 0;
    EXPECT_EQ(want, sc->count) << sc->code_name;
  }
}

TEST(StatsServiceTest, ReportsAnOpenBreakerAndItsBudgetExactlyAndStillAnswers) {
  StandaloneServer server;
  const std::string name = Unique("breaker");
  Entry e(name, "ipv4:10.0.0.1:443");
  // Drive the breaker and the budget an hour ahead of the real clock: the
  // snapshot (taken at the real now) then reads them at their latest time,
  // so every duration is exact.
  const int64_t t0 = grpcr_internal_now_ns() + 3600 * kSec;
  grpcr_breaker_config bc = grpcr_breaker_config_default();
  bc.open_duration_jitter = 0;  // an exact 30 s open period
  bc.minimum_calls = 2;
  bc.failure_rate_threshold = 0.5;
  bc.window_ns = 10 * kSec;
  bc.open_duration_ns = 30 * kSec;
  grpcr_breaker* b = grpcr_breaker_create(&bc, t0);
  ASSERT_NE(nullptr, b);
  grpcr_budget_config gc = {0.5, 0.0, 10 * kSec};
  grpcr_budget* g = grpcr_budget_create(&gc, t0);
  ASSERT_NE(nullptr, g);
  e.Attach(b, g);

  grpcr_breaker_ticket t1, t2, t3;
  ASSERT_TRUE(grpcr_breaker_try_acquire(b, t0, &t1, nullptr));
  ASSERT_TRUE(grpcr_breaker_try_acquire(b, t0, &t2, nullptr));
  grpcr_breaker_record(b, &t1, GRPC_STATUS_UNAVAILABLE, t0 + 1 * kSec, nullptr);
  grpcr_breaker_record(b, &t2, GRPC_STATUS_UNAVAILABLE, t0 + 2 * kSec, nullptr);
  // Open since t0 + 2 s; two calls rejected, the last at t0 + 7 s.
  EXPECT_FALSE(grpcr_breaker_try_acquire(b, t0 + 3 * kSec, &t3, nullptr));
  EXPECT_FALSE(grpcr_breaker_try_acquire(b, t0 + 7 * kSec, &t3, nullptr));
  for (int i = 0; i < 8; i++) grpcr_budget_on_request(g, t0);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(grpcr_budget_try_retry(g, t0));

  Response r = GetStats(server.addr(), name);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  const Grpcr__V1__BreakerStats* bs = r->channels[0]->breaker;
  ASSERT_NE(nullptr, bs);
  EXPECT_EQ(GRPCR__V1__BREAKER_STATE__BREAKER_STATE_OPEN, bs->state);
  EXPECT_EQ(5.0, bs->time_in_state_seconds);
  EXPECT_EQ(1u, bs->transitions_total);
  EXPECT_EQ(1u, bs->opened_total);
  EXPECT_EQ(2u, bs->rejected_total);
  EXPECT_EQ(5.0, bs->open_seconds_total);
  EXPECT_EQ(30.0, bs->open_duration_seconds);
  EXPECT_EQ(2u, bs->calls_in_window);
  EXPECT_EQ(2u, bs->failures_in_window);
  EXPECT_EQ(0u, bs->stale_results_total);
  const Grpcr__V1__BudgetStats* gs = r->channels[0]->budget;
  ASSERT_NE(nullptr, gs);
  EXPECT_EQ(0.75, gs->utilization);  // 3 of 0.5 * 8
  EXPECT_EQ(8u, gs->requests_in_window);
  EXPECT_EQ(3u, gs->retries_in_window);
  EXPECT_EQ(4.0, gs->allowed_in_window);
  EXPECT_EQ(8u, gs->requests_total);
  EXPECT_EQ(3u, gs->retries_total);
  EXPECT_EQ(0u, gs->denied_total);

  // After the open duration the next call is a HALF_OPEN probe; its success
  // closes the breaker. The budget runs out and denies.
  ASSERT_TRUE(grpcr_breaker_try_acquire(b, t0 + 32 * kSec, &t3, nullptr));
  grpcr_breaker_record(b, &t3, GRPC_STATUS_OK, t0 + 33 * kSec, nullptr);
  EXPECT_TRUE(grpcr_budget_try_retry(g, t0));
  EXPECT_FALSE(grpcr_budget_try_retry(g, t0));
  r = GetStats(server.addr(), name);
  ASSERT_NE(nullptr, r);
  bs = r->channels[0]->breaker;
  gs = r->channels[0]->budget;
  EXPECT_EQ(GRPCR__V1__BREAKER_STATE__BREAKER_STATE_CLOSED, bs->state);
  EXPECT_EQ(0.0, bs->time_in_state_seconds);
  EXPECT_EQ(3u, bs->transitions_total);  // OPEN, HALF_OPEN, CLOSED
  EXPECT_EQ(1u, bs->opened_total);
  EXPECT_EQ(30.0, bs->open_seconds_total);  // t0+2 s .. t0+32 s
  EXPECT_EQ(0u, bs->calls_in_window);       // cleared on closing
  EXPECT_EQ(1.0, gs->utilization);
  EXPECT_EQ(4u, gs->retries_total);
  EXPECT_EQ(1u, gs->denied_total);
}

TEST(StatsServiceTest, FiltersByChannelName) {
  StandaloneServer server;
  const std::string a = Unique("filter-a"), b = Unique("filter-b");
  Entry ea(a, "dns:///a");
  Entry eb1(b, "dns:///b1");
  Entry eb2(b, "dns:///b2");
  grpcr_stats_on_request(eb2.get());

  Response only_b = GetStats(server.addr(), b);
  ASSERT_NE(nullptr, only_b);
  ASSERT_EQ(2u, only_b->n_channels);
  std::vector<std::string> targets;
  for (size_t i = 0; i < 2; i++) {
    EXPECT_EQ(b, only_b->channels[i]->name);
    targets.push_back(only_b->channels[i]->target);
  }
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ((std::vector<std::string>{"dns:///b1", "dns:///b2"}), targets);

  Response none = GetStats(server.addr(), Unique("no-such-channel"));
  ASSERT_NE(nullptr, none);
  EXPECT_EQ(0u, none->n_channels);

  Response all = GetStats(server.addr(), "");
  ASSERT_NE(nullptr, all);
  EXPECT_EQ(1u, Named(*all, a).size());
  EXPECT_EQ(2u, Named(*all, b).size());
}

TEST(StatsServiceTest, CountersOnlyIncreaseAcrossCallsWhileTrafficRuns) {
  StandaloneServer server;
  const std::string name = Unique("monotonic");
  Entry e(name, "dns:///m");
  std::atomic<bool> stop{false};
  // A writer that plays whole calls in the order the filter reports them.
  std::thread writer([&] {
    uint32_t n = 0;
    while (!stop) {
      grpcr_stats_on_request(e.get());
      grpcr_stats_on_attempt(e.get(), 1);
      if (++n % 3 == 0) {
        grpcr_stats_on_retry(e.get(), 1000000 * (n % 50));
        grpcr_stats_on_attempt(e.get(), 2);
      }
      if (n % 7 == 0) grpcr_stats_on_budget_denied(e.get());
      grpcr_stats_on_final(e.get(), static_cast<int>(n % 17));
      // Leave the CPU to the RPCs now and then (valgrind runs one thread at
      // a time).
      if (n % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      t.join();
    }
  } joiner{stop, writer};
  uint64_t last[6] = {};
  uint64_t last_status[17] = {};
  for (int i = 0; i < 30; i++) {
    Response r = GetStats(server.addr(), name);
    ASSERT_NE(nullptr, r);
    ASSERT_EQ(1u, r->n_channels);
    const Grpcr__V1__ChannelStats* c = r->channels[0];
    const uint64_t now[6] = {c->requests,      c->attempts, c->retries,
                             c->budget_denied, c->finished, c->retry_wait->count};
    for (int k = 0; k < 6; k++) {
      EXPECT_GE(now[k], last[k]) << "counter " << k << " went down";
      last[k] = now[k];
    }
    for (int k = 0; k < 17; k++) {
      EXPECT_GE(c->status_counts[k]->count, last_status[k]);
      last_status[k] = c->status_counts[k]->count;
    }
    EXPECT_LE(c->finished, c->requests);
    EXPECT_LE(c->retries, c->attempts);
  }
  EXPECT_GT(last[0], 0u);
}

TEST(StatsServiceTest, AnswersManyConcurrentCallers) {
  StandaloneServer server;
  const std::string name = Unique("concurrent");
  Entry e(name, "dns:///c");
  grpcr_stats_on_request(e.get());
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; t++)
    callers.emplace_back([&] {
      for (int i = 0; i < 10; i++) {
        Response r = GetStats(server.addr(), name);
        if (r != nullptr && r->n_channels == 1 &&
            r->channels[0]->requests == 1)
          ok++;
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(60, ok.load());
}

TEST(StatsServiceTest, MalformedRequestIsInvalidArgument) {
  StandaloneServer server;
  // Field 1 (string) claims 5 bytes but carries 2.
  CallResult r = UnaryCall(server.addr(), kGetStats, std::string("\x0a\x05" "ab", 4));
  EXPECT_EQ(GRPC_STATUS_INVALID_ARGUMENT, r.status) << r.details;
  EXPECT_FALSE(r.has_message);
  EXPECT_NE(std::string::npos, r.details.find("GetStatsRequest")) << r.details;
  // The service goes on answering.
  EXPECT_NE(nullptr, GetStats(server.addr()));
}

// ---- per method --------------------------------------------------------------

// What one MethodStats must carry, in the snapshot's terms.
struct WantMethod {
  std::string method;
  uint64_t requests, attempts, retries;
  std::vector<std::pair<int, uint64_t>> statuses;  // the non-zero codes
  uint64_t retries_buckets[GRPCR_STATS_RETRIES_BUCKETS];
  uint64_t retried_calls, retries_sum;
  uint64_t delay_buckets[GRPCR_STATS_WAIT_BUCKETS];
  double delay_sum_s;
};

// Every field of m against want: all 17 codes, all 10 retries buckets with
// their bounds, all 16 delay buckets with theirs, the quantiles as the core
// interpolates them.
void ExpectMethod(const WantMethod& want, const Grpcr__V1__MethodStats* m) {
  ASSERT_NE(nullptr, m);
  SCOPED_TRACE(want.method);
  EXPECT_STREQ(want.method.c_str(), m->method);
  EXPECT_EQ(want.requests, m->requests);
  EXPECT_EQ(want.attempts, m->attempts);
  EXPECT_EQ(want.retries, m->retries);
  ASSERT_EQ(17u, m->n_status_counts);
  for (int code = 0; code < 17; code++) {
    const Grpcr__V1__StatusCount* sc = m->status_counts[code];
    EXPECT_EQ(code, sc->code);
    EXPECT_STREQ(grpcr_status_name(code), sc->code_name);
    uint64_t count = 0;
    for (const auto& [c, n] : want.statuses)
      if (c == code) count = n;
    EXPECT_EQ(count, sc->count) << sc->code_name;
  }

  const Grpcr__V1__RetriesHistogram* r = m->retries_per_call;
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(10u, r->n_buckets);
  const double retries_bounds[] = {1, 2, 3, 4, 5, 10, 20, 50, 100};
  for (size_t i = 0; i < 10; i++) {
    if (i < 9)
      EXPECT_EQ(retries_bounds[i], r->buckets[i]->upper_bound);
    else
      EXPECT_TRUE(std::isinf(r->buckets[i]->upper_bound) &&
                  r->buckets[i]->upper_bound > 0);
    EXPECT_EQ(want.retries_buckets[i], r->buckets[i]->count) << "bucket " << i;
  }
  EXPECT_EQ(want.retried_calls, r->count);
  EXPECT_EQ(want.retries_sum, r->sum);

  const Grpcr__V1__RetryWaitHistogram* d = m->retry_delay;
  ASSERT_NE(nullptr, d);
  ASSERT_EQ(16u, d->n_buckets);
  const double wait_bounds[] = GRPCR_STATS_WAIT_BOUNDS;
  for (size_t i = 0; i < 16; i++) {
    if (i < 15)
      EXPECT_EQ(wait_bounds[i], d->buckets[i]->upper_bound_seconds);
    else
      EXPECT_TRUE(std::isinf(d->buckets[i]->upper_bound_seconds) &&
                  d->buckets[i]->upper_bound_seconds > 0);
    EXPECT_EQ(want.delay_buckets[i], d->buckets[i]->count) << "bucket " << i;
  }
  EXPECT_EQ(want.retried_calls, d->count);
  EXPECT_EQ(want.delay_sum_s, d->sum_seconds);
  EXPECT_EQ(grpcr_stats_wait_quantile(want.delay_buckets, 0.5), d->p50_seconds);
  EXPECT_EQ(grpcr_stats_wait_quantile(want.delay_buckets, 0.99), d->p99_seconds);
}

grpcr_method_stats* MethodOf(grpcr_channel_stats* s, const std::string& path) {
  return grpcr_stats_method(s, path.data(), path.size());
}

TEST(StatsServiceTest, ReportsExactPerMethodFiguresOfAScriptedChannel) {
  StandaloneServer server;
  const std::string name = Unique("methods");
  Entry e(name, "dns:///echo:50051");
  constexpr int64_t kMs = 1000000;
  grpcr_method_stats* say = MethodOf(e.get(), "/echo.Echo/Say");
  grpcr_method_stats* other = grpcr_stats_method(e.get(), nullptr, 0);
  MethodOf(e.get(), "/echo.Echo/Idle");  // no call ends: left out
  // Say: one call at once, one after 2 retries (15 ms waited in all), one
  // after 6 (2.5 s), failing.
  grpcr_method_stats_on_final(say, 1, GRPC_STATUS_OK, 0);
  grpcr_method_stats_on_final(say, 3, GRPC_STATUS_OK, 15 * kMs);
  grpcr_method_stats_on_final(say, 7, GRPC_STATUS_UNAVAILABLE, 2500 * kMs);
  // other: one the breaker rejected, one retried once (0.3 s), one with a
  // code out of range (UNKNOWN).
  grpcr_method_stats_on_final(other, 0, GRPC_STATUS_UNAVAILABLE, 0);
  grpcr_method_stats_on_final(other, 2, GRPC_STATUS_OK, 300 * kMs);
  grpcr_method_stats_on_final(other, 1, 99, 0);

  Response r = GetStats(server.addr(), name);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  const Grpcr__V1__ChannelStats* c = r->channels[0];
  ASSERT_EQ(2u, c->n_methods);
  // "other" first (made first), then Say.
  WantMethod want_other = {
      "other", 3, 3, 1, {{GRPC_STATUS_OK, 1}, {GRPC_STATUS_UNKNOWN, 1},
                         {GRPC_STATUS_UNAVAILABLE, 1}},
      {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 1,
      // 0.3 s: le 0.5 (index 8)
      {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0.3};
  ExpectMethod(want_other, c->methods[0]);
  WantMethod want_say = {
      "/echo.Echo/Say", 3, 11, 8,
      {{GRPC_STATUS_OK, 2}, {GRPC_STATUS_UNAVAILABLE, 1}},
      // 2 retries: le 2 (index 1); 6: le 10 (index 5)
      {0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 2, 8,
      // 15 ms: le 0.025 (index 4); 2.5 s: le 2.5 (index 10)
      {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 2.515};
  ExpectMethod(want_say, c->methods[1]);
  // The quantiles are the core's interpolation: between 15 ms's bucket and
  // 2.5 s's.
  EXPECT_GT(c->methods[1]->retry_delay->p50_seconds, 0.01);
  EXPECT_LE(c->methods[1]->retry_delay->p50_seconds, 0.025);
  EXPECT_GT(c->methods[1]->retry_delay->p99_seconds, 1.0);
  EXPECT_LE(c->methods[1]->retry_delay->p99_seconds, 2.5);
  // Per-method figures leave the channel's own counters alone.
  EXPECT_EQ(0u, c->requests);
  EXPECT_EQ(0u, c->finished);
}

TEST(StatsServiceTest, ChannelWithoutEndedCallsHasNoMethods) {
  StandaloneServer server;
  const std::string name = Unique("no-methods");
  Entry e(name, "dns:///idle");
  MethodOf(e.get(), "/echo.Echo/Say");
  grpcr_stats_method(e.get(), nullptr, 0);
  Response r = GetStats(server.addr(), name);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  EXPECT_EQ(0u, r->channels[0]->n_methods);
}

TEST(StatsServiceTest, CarriesEveryMethodUpToTheBoundAndTheRestAsOther) {
  StandaloneServer server;
  const std::string name = Unique("many-methods");
  Entry e(name, "dns:///many");
  grpcr_method_stats* other = grpcr_stats_method(e.get(), nullptr, 0);
  for (int i = 0; i < GRPCR_METHOD_STATS_MAX + 6; i++) {
    grpcr_method_stats* m = MethodOf(e.get(), "/svc.S/M" + std::to_string(i));
    EXPECT_EQ(i >= GRPCR_METHOD_STATS_MAX, m == other) << i;
    grpcr_method_stats_on_final(m, 1, GRPC_STATUS_OK, 0);
  }
  Response r = GetStats(server.addr(), name);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  const Grpcr__V1__ChannelStats* c = r->channels[0];
  ASSERT_EQ(GRPCR_METHOD_STATS_MAX + 1u, c->n_methods);
  EXPECT_STREQ("other", c->methods[0]->method);
  EXPECT_EQ(6u, c->methods[0]->requests);
  for (int i = 0; i < GRPCR_METHOD_STATS_MAX; i++) {
    const Grpcr__V1__MethodStats* m = c->methods[i + 1];
    EXPECT_EQ("/svc.S/M" + std::to_string(i), m->method);
    EXPECT_EQ(1u, m->requests);
    EXPECT_EQ(1u, m->attempts);
    EXPECT_EQ(1u, m->status_counts[GRPC_STATUS_OK]->count);
    EXPECT_EQ(0u, m->retries_per_call->count);
    EXPECT_EQ(0u, m->retry_delay->count);
  }
}

// The encoder on its own, from a snapshot built by hand with values no
// scripted call would give (counters near 2^64, the +Inf buckets, counts
// that do not add up): each comes back exactly as it was.
TEST(StatsEncodeTest, EveryMethodFieldOfAHandBuiltSnapshotComesBackExactly) {
  std::string say = "/echo.Echo/Say", odd = "/we\"ird/\xc3\xa9";
  grpcr_method_snapshot methods[2] = {};
  methods[0].method = say.data();
  methods[0].requests = UINT64_MAX;
  methods[0].attempts = UINT64_MAX - 1;
  methods[0].retries = 1ull << 63;
  for (size_t k = 0; k < GRPCR_STATUS_COUNT; k++)
    methods[0].status_counts[k] = 1000 + k;
  for (size_t k = 0; k < GRPCR_STATS_RETRIES_BUCKETS; k++)
    methods[0].retries_buckets[k] = 10 * k + 1;
  methods[0].retried_calls = 7;
  methods[0].retries_sum = UINT64_MAX;
  for (size_t k = 0; k < GRPCR_STATS_WAIT_BUCKETS; k++)
    methods[0].delay_buckets[k] = k == 15 ? 5 : k;
  methods[0].delay_sum_s = 1e9 + 0.125;
  methods[1].method = odd.data();  // all zero but its name
  grpcr_channel_snapshot snap = {};
  std::string name = "hand", target = "dns:///hand";
  snap.name = name.data();
  snap.target = target.data();
  snap.methods = methods;
  snap.method_count = 2;

  size_t len = 0;
  uint8_t* buf = grpcr_internal_stats_encode(&snap, 1, 42, &len);
  ASSERT_NE(nullptr, buf);
  Response r(grpcr__v1__get_stats_response__unpack(nullptr, len, buf));
  free(buf);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  ASSERT_EQ(2u, r->channels[0]->n_methods);
  WantMethod want = {say, UINT64_MAX, UINT64_MAX - 1, 1ull << 63, {}, {}, 7,
                     UINT64_MAX, {}, 1e9 + 0.125};
  for (int k = 0; k < GRPCR_STATUS_COUNT; k++)
    want.statuses.push_back({k, 1000 + k});
  for (size_t k = 0; k < GRPCR_STATS_RETRIES_BUCKETS; k++)
    want.retries_buckets[k] = 10 * k + 1;
  for (size_t k = 0; k < GRPCR_STATS_WAIT_BUCKETS; k++)
    want.delay_buckets[k] = k == 15 ? 5 : k;
  ExpectMethod(want, r->channels[0]->methods[0]);
  ExpectMethod(WantMethod{odd, 0, 0, 0, {}, {}, 0, 0, {}, 0.0},
               r->channels[0]->methods[1]);
}

// ---- on an application's server --------------------------------------------

TEST(StatsServiceTest, ServesOnAnApplicationServerBesideItsOwnMethods) {
  const std::string name = Unique("app");
  Entry e(name, "dns:///app");
  grpcr_stats_on_request(e.get());
  AppServer app(/*with_stats=*/true);
  ASSERT_EQ(0, app.register_rc());

  CallResult pong = UnaryCall(app.addr(), "/app.Echo/Say", "ping");
  EXPECT_EQ(GRPC_STATUS_OK, pong.status) << pong.details;
  EXPECT_EQ("pong", pong.message);
  Response r = GetStats(app.addr(), name);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  EXPECT_EQ(1u, r->channels[0]->requests);
  pong = UnaryCall(app.addr(), "/app.Echo/Say", "ping");
  EXPECT_EQ(GRPC_STATUS_OK, pong.status) << pong.details;
  EXPECT_EQ(2, app.answered());

  EXPECT_TRUE(app.Shutdown());
}

TEST(StatsServiceTest, ServerThatNeverStartedShutsDownCleanly) {
  AppServer app(/*with_stats=*/true, /*start=*/false);
  ASSERT_EQ(0, app.register_rc());
  EXPECT_TRUE(app.Shutdown());
}

TEST(StatsServiceTest, RegisteringTwiceOnOneServerIsBusy) {
  AppServer app(/*with_stats=*/true, /*start=*/false);
  ASSERT_EQ(0, app.register_rc());
  EXPECT_EQ(GRPCR_EBUSY, grpcr_stats_register_service(app.server()));
  app.Start();
  EXPECT_NE(nullptr, GetStats(app.addr()));
  EXPECT_TRUE(app.Shutdown());
}

TEST(StatsServiceTest, RegisteringOnNullIsInvalid) {
  EXPECT_EQ(GRPCR_EINVAL, grpcr_stats_register_service(nullptr));
}

// ---- the standalone server -------------------------------------------------

TEST(StatsServerTest, SecondStartIsBusy) {
  StandaloneServer server;
  int port = -1;
  EXPECT_EQ(GRPCR_EBUSY, grpcr_stats_server_start("127.0.0.1:0", &port));
  EXPECT_EQ(-1, port);
  EXPECT_NE(nullptr, GetStats(server.addr()));
}

TEST(StatsServerTest, UnbindableAddressIsBindError) {
  int port = -1;
  // TEST-NET-1: no local interface has it (and, not being loopback, it
  // needs credentials).
  grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
  EXPECT_EQ(GRPCR_EBIND, grpcr_stats_server_start_with_credentials(
                             "192.0.2.1:0", creds, &port));
  grpc_server_credentials_release(creds);
  // A Unix socket in a directory that does not exist.
  EXPECT_EQ(GRPCR_EBIND,
            grpcr_stats_server_start("unix:/nonexistent-grpcr-dir/s", &port));
  EXPECT_EQ(-1, port);
  EXPECT_EQ(GRPCR_EINVAL, grpcr_stats_server_start(nullptr, &port));
  // Nothing is left running: a start now succeeds.
  StandaloneServer server;
  EXPECT_GT(server.port(), 0);
}

TEST(StatsServerTest, StartStopStartAgain) {
  const std::string name = Unique("restart");
  Entry e(name, "dns:///r");
  std::string first;
  {
    StandaloneServer server;
    first = server.addr();
    Response r = GetStats(server.addr(), name);
    ASSERT_NE(nullptr, r);
    EXPECT_EQ(1u, r->n_channels);
  }
  CallResult gone = UnaryCall(first, kGetStats, "", 2000);
  EXPECT_EQ(GRPC_STATUS_UNAVAILABLE, gone.status) << gone.details;
  grpcr_stats_on_request(e.get());
  StandaloneServer again;
  Response r = GetStats(again.addr(), name);
  ASSERT_NE(nullptr, r);
  ASSERT_EQ(1u, r->n_channels);
  EXPECT_EQ(1u, r->channels[0]->requests);
}

TEST(StatsServerTest, StopWithoutStartIsANoOp) {
  grpcr_stats_server_stop();
  grpcr_stats_server_stop();
}

TEST(StatsServerTest, StopDoesNotWaitForAClientThatNeverFinishesItsRequest) {
  StandaloneServer* server = new StandaloneServer;
  grpc_channel_credentials* creds = grpc_insecure_credentials_create();
  grpc_channel* ch = grpc_channel_create(server->addr().c_str(), creds, nullptr);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue* cq = grpc_completion_queue_create_for_next(nullptr);
  grpc_call* call = grpc_channel_create_call(
      ch, nullptr, GRPC_PROPAGATE_DEFAULTS, cq,
      grpc_slice_from_static_string(kGetStats), nullptr,
      gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  // Initial metadata only: the request message never comes.
  grpc_metadata_array trailing_md;
  grpc_metadata_array_init(&trailing_md);
  grpc_status_code status = GRPC_STATUS_OK;
  grpc_slice details;
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].flags = 0;
  ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[1].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[1].data.recv_status_on_client.status = &status;
  ops[1].data.recv_status_on_client.status_details = &details;
  ASSERT_EQ(GRPC_CALL_OK, grpc_call_start_batch(call, ops, 2, call, nullptr));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  auto t = std::chrono::steady_clock::now();
  delete server;  // grpcr_stats_server_stop()
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(5));
  // The client's side of it is gRPC's business; end it and clean up.
  grpc_call_cancel(call, nullptr);
  grpc_event ev = grpc_completion_queue_next(
      cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                       gpr_time_from_seconds(10, GPR_TIMESPAN)),
      nullptr);
  EXPECT_EQ(GRPC_OP_COMPLETE, ev.type);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&trailing_md);
  grpc_call_unref(call);
  grpc_channel_destroy(ch);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    nullptr)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

}  // namespace
