// Per-method figures: a method the service config names gets its own
// entry, every other method is "other"; counts are exact, and the
// retries and retry-delay histograms hold only calls that retried.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "grpcr/grpcr.h"
#include "support/fixture.h"

namespace {

using grpcr_test::Fail;
using grpcr_test::MakeChannel;
using grpcr_test::Reply;
using grpcr_test::ScriptedServer;
using grpcr_test::StringArg;
using grpcr_test::UnaryCall;
using grpcr_test::UniqueName;

struct Method {
  std::string name;
  grpcr_method_snapshot figures;
};

// The channel's per-method entries, copied.
std::vector<Method> MethodsOf(const std::string& channel) {
  grpcr_channel_snapshot* snaps = nullptr;
  size_t n = 0;
  EXPECT_EQ(grpcr_stats_get(channel.c_str(), &snaps, &n), 0);
  std::vector<Method> out;
  if (n == 1) {
    for (size_t i = 0; i < snaps[0].method_count; i++) {
      Method m{snaps[0].methods[i].method, snaps[0].methods[i]};
      m.figures.method = nullptr;
      out.push_back(m);
    }
  }
  EXPECT_EQ(n, 1u);
  grpcr_channel_snapshots_free(snaps, n);
  return out;
}

const Method* Find(const std::vector<Method>& ms, const std::string& name) {
  for (const Method& m : ms) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string Config(const std::string& names) {
  return R"({"methodConfig":[{"name":)" + names +
         R"(,"resilience":{"maxAttempts":3,"initialBackoff":"0.01s",)"
         R"("maxBackoff":"0.01s"}}]})";
}

TEST(MethodStatsTest, NamedMethodHasItsOwnEntryAndTheRestIsOther) {
  ScriptedServer server;
  // The first two arrivals (the first Say call's attempts 1 and 2) fail.
  server.Script({Fail(GRPC_STATUS_UNAVAILABLE), Fail(GRPC_STATUS_UNAVAILABLE)});
  const std::string name = UniqueName();
  grpc_arg arg = StringArg(GRPCR_ARG_NAME, name.c_str());
  grpcr_test::ChannelPtr ch(MakeChannel(
      server.address(), Config(R"([{"service":"echo.Echo","method":"Say"}])"),
      {arg}));
  EXPECT_EQ(UnaryCall(ch.get(), "/echo.Echo/Say", "a", 5000).status,
            GRPC_STATUS_OK);
  EXPECT_EQ(UnaryCall(ch.get(), "/echo.Echo/Say", "b", 5000).status,
            GRPC_STATUS_OK);
  server.SetDefault(Fail(GRPC_STATUS_NOT_FOUND));
  for (int i = 0; i < 3; i++) {
    UnaryCall(ch.get(), "/echo.Echo/Other" + std::to_string(i), "c", 5000);
  }
  std::vector<Method> ms = MethodsOf(name);
  ASSERT_EQ(ms.size(), 2u);
  const Method* say = Find(ms, "/echo.Echo/Say");
  ASSERT_NE(say, nullptr);
  EXPECT_EQ(say->figures.requests, 2u);
  EXPECT_EQ(say->figures.attempts, 4u);
  EXPECT_EQ(say->figures.retries, 2u);
  EXPECT_EQ(say->figures.status_counts[GRPC_STATUS_OK], 2u);
  EXPECT_EQ(say->figures.retried_calls, 1u);
  EXPECT_EQ(say->figures.retries_sum, 2u);
  EXPECT_EQ(say->figures.retries_buckets[1], 1u);  // le="2"
  // Two backoff delays of at most 10 ms each (FULL jitter).
  EXPECT_GE(say->figures.delay_sum_s, 0.0);
  EXPECT_LE(say->figures.delay_sum_s, 0.020);
  const Method* other = Find(ms, GRPCR_METHOD_OTHER);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->figures.requests, 3u);
  EXPECT_EQ(other->figures.attempts, 3u);
  EXPECT_EQ(other->figures.retries, 0u);
  EXPECT_EQ(other->figures.status_counts[GRPC_STATUS_NOT_FOUND], 3u);
  EXPECT_EQ(other->figures.retried_calls, 0u);
  EXPECT_EQ(server.arrival_count(), 7);
}

TEST(MethodStatsTest, AServiceNameNamesEachOfItsMethods) {
  ScriptedServer server;
  const std::string name = UniqueName();
  grpc_arg arg = StringArg(GRPCR_ARG_NAME, name.c_str());
  grpcr_test::ChannelPtr ch(
      MakeChannel(server.address(), Config(R"([{"service":"echo.Echo"}])"),
                  {arg}));
  UnaryCall(ch.get(), "/echo.Echo/Say", "a", 5000);
  UnaryCall(ch.get(), "/echo.Echo/Shout", "a", 5000);
  UnaryCall(ch.get(), "/echo.Echo/Shout", "a", 5000);
  UnaryCall(ch.get(), "/other.Svc/M", "a", 5000);
  std::vector<Method> ms = MethodsOf(name);
  ASSERT_EQ(ms.size(), 3u);
  ASSERT_NE(Find(ms, "/echo.Echo/Say"), nullptr);
  EXPECT_EQ(Find(ms, "/echo.Echo/Say")->figures.requests, 1u);
  ASSERT_NE(Find(ms, "/echo.Echo/Shout"), nullptr);
  EXPECT_EQ(Find(ms, "/echo.Echo/Shout")->figures.requests, 2u);
  ASSERT_NE(Find(ms, GRPCR_METHOD_OTHER), nullptr);
  EXPECT_EQ(Find(ms, GRPCR_METHOD_OTHER)->figures.requests, 1u);
}

// The default name ([{}]) and a channel without a config name no method.
TEST(MethodStatsTest, TheDefaultNameNamesNoMethod) {
  ScriptedServer server;
  const std::string name = UniqueName();
  grpc_arg arg = StringArg(GRPCR_ARG_NAME, name.c_str());
  grpcr_test::ChannelPtr ch(
      MakeChannel(server.address(), Config("[{}]"), {arg}));
  UnaryCall(ch.get(), "/echo.Echo/Say", "a", 5000);
  UnaryCall(ch.get(), "/x.Y/Z", "a", 5000);
  std::vector<Method> ms = MethodsOf(name);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].name, GRPCR_METHOD_OTHER);
  EXPECT_EQ(ms[0].figures.requests, 2u);
}

// A call the breaker rejects made no attempt.
TEST(MethodStatsTest, RejectedCallsCountWithNoAttempt) {
  ScriptedServer server;
  server.SetDefault(Fail(GRPC_STATUS_UNAVAILABLE));
  const std::string name = UniqueName();
  grpc_arg arg = StringArg(GRPCR_ARG_NAME, name.c_str());
  const std::string config =
      R"({"resilience":{"circuitBreaker":{"minimumCalls":2,"openDuration":"30s"}},)"
      R"("methodConfig":[{"name":[{"service":"echo.Echo"}],)"
      R"("resilience":{"maxAttempts":1}}]})";
  grpcr_test::ChannelPtr ch(MakeChannel(server.address(), config, {arg}));
  for (int i = 0; i < 5; i++) UnaryCall(ch.get(), "/echo.Echo/Say", "a", 5000);
  std::vector<Method> ms = MethodsOf(name);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].name, "/echo.Echo/Say");
  EXPECT_EQ(ms[0].figures.requests, 5u);
  EXPECT_EQ(ms[0].figures.attempts, 2u);
  EXPECT_EQ(ms[0].figures.status_counts[GRPC_STATUS_UNAVAILABLE], 5u);
  EXPECT_EQ(server.arrival_count(), 2);
}

}  // namespace
