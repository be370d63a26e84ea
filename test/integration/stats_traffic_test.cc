// The stats RPC under real traffic through the filter: 16 threads make calls
// to a server that fails 30% of arrivals (UNAVAILABLE, by arrival index)
// while another thread reads GetStats over and over. Every snapshot must be
// consistent, every counter only increases, and once the traffic stops the
// counters add up exactly to what the server saw.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "stats_test_util.h"
#include "support/fixture.h"

namespace {

using grpcr_stats_test::GetStats;
using grpcr_stats_test::Response;
using grpcr_stats_test::StandaloneServer;
using grpcr_test::ChannelPtr;
using grpcr_test::Fail;
using grpcr_test::MakeChannel;
using grpcr_test::Reply;
using grpcr_test::RetrySpec;
using grpcr_test::ScriptedServer;

constexpr int kThreads = 16;
constexpr int kCallsPerThread = 150;

TEST(StatsTrafficTest, SnapshotsStayConsistentWhileSixteenThreadsCall) {
  StandaloneServer stats;
  ScriptedServer server;
  // Arrivals 3, 6, 9, ... of every 10 fail: 30%.
  server.SetHandler([](const grpcr_test::Arrival&, int index) {
    return index % 10 == 3 || index % 10 == 6 || index % 10 == 9
               ? Fail(GRPC_STATUS_UNAVAILABLE, "flaky")
               : Reply{};
  });
  RetrySpec spec;
  spec.max_attempts = 3;
  spec.initial_backoff = "0.001s";
  spec.max_backoff = "0.002s";
  // A budget that never refuses here, and a breaker that never opens: the
  // test is about counting, so every decision must be a retry or a success.
  spec.top_level =
      "\"retryBudget\": {\"ratio\": 10, \"minRetriesPerSecond\": 100000},"
      "\"circuitBreaker\": {\"failureRateThreshold\": 1, "
      "\"minimumCalls\": 1000000}";
  const std::string config = grpcr_test::ServiceConfig(spec);
  const std::string name = grpcr_test::UniqueName("traffic");
  ChannelPtr ch(MakeChannel(
      server.address(), config,
      {grpcr_test::StringArg(GRPCR_ARG_NAME, name.c_str())}));

  std::atomic<bool> done{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; t++) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; i++) {
        grpcr_test::CallResult r = grpcr_test::UnaryCall(
            ch.get(), grpcr_test::kSayMethod,
            "t" + std::to_string(t) + "-" + std::to_string(i), 10000);
        if (r.status == GRPC_STATUS_OK) {
          ok++;
        } else if (r.status == GRPC_STATUS_UNAVAILABLE) {
          unavailable++;
        } else {
          other++;
        }
      }
    });
  }
  // Read the stats while the calls run.
  int snapshots = 0;
  uint64_t last_requests = 0, last_attempts = 0, last_retries = 0,
           last_finished = 0;
  std::thread reader([&] {
    while (!done) {
      Response r = GetStats(stats.addr(), name);
      if (r == nullptr || r->n_channels != 1) continue;
      const Grpcr__V1__ChannelStats* c = r->channels[0];
      EXPECT_LE(c->finished, c->requests);
      EXPECT_LE(c->retries, c->attempts);
      EXPECT_GE(c->requests, last_requests);
      EXPECT_GE(c->attempts, last_attempts);
      EXPECT_GE(c->retries, last_retries);
      EXPECT_GE(c->finished, last_finished);
      uint64_t by_status = 0;
      for (size_t k = 0; k < c->n_status_counts; k++) {
        by_status += c->status_counts[k]->count;
      }
      EXPECT_EQ(by_status, c->finished);
      last_requests = c->requests;
      last_attempts = c->attempts;
      last_retries = c->retries;
      last_finished = c->finished;
      snapshots++;
    }
  });
  for (auto& t : callers) t.join();
  done = true;
  reader.join();
  EXPECT_GT(snapshots, 0);

  const uint64_t calls = kThreads * kCallsPerThread;
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(static_cast<uint64_t>(ok + unavailable), calls);
  Response r = GetStats(stats.addr(), name);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->n_channels, 1u);
  const Grpcr__V1__ChannelStats* c = r->channels[0];
  EXPECT_EQ(c->requests, calls);
  EXPECT_EQ(c->finished, calls);
  EXPECT_EQ(c->status_counts[GRPC_STATUS_OK]->count,
            static_cast<uint64_t>(ok.load()));
  EXPECT_EQ(c->status_counts[GRPC_STATUS_UNAVAILABLE]->count,
            static_cast<uint64_t>(unavailable.load()));
  EXPECT_EQ(c->retries, c->attempts - c->requests);
  EXPECT_EQ(c->attempts, static_cast<uint64_t>(server.arrival_count()));
  EXPECT_EQ(c->retry_wait->count, c->retries);
  EXPECT_EQ(c->budget_denied, 0u);
  EXPECT_EQ(c->breaker_rejected, 0u);
  ASSERT_NE(c->breaker, nullptr);
  EXPECT_EQ(c->breaker->state, GRPCR__V1__BREAKER_STATE__BREAKER_STATE_CLOSED);
  // Attempts by number add up to the attempts, and only 1..3 occur.
  uint64_t by_number = 0;
  for (size_t k = 0; k < c->n_attempts_by_number; k++) {
    by_number += c->attempts_by_number[k];
    if (k >= 3) {
      EXPECT_EQ(c->attempts_by_number[k], 0u) << "attempt " << k + 1;
    }
  }
  EXPECT_EQ(by_number, c->attempts);
  EXPECT_EQ(c->attempts_by_number[0], calls);
}

}  // namespace
