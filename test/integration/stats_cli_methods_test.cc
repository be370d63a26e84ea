// grpcr-stats --by-method and --json per method (GRPCR_STATS_BIN, the binary
// of this build) against a standalone stats server in this process: exact
// figures of each method, retried and hedged, scripted into the registry
// and once through the filter itself. Per channel, and the exit codes:
// stats_cli_test.cc.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "grpcr/text.h"
#include "stats_test_util.h"
#include "support/fixture.h"

#ifndef GRPCR_STATS_BIN
#error "GRPCR_STATS_BIN must name the grpcr-stats binary (set by CMake)"
#endif

namespace {

using namespace grpcr_stats_test;

// The plugin registered before gRPC starts (grpcr_register must come
// first), so that the end-to-end test's channel has the filter. Whichever of
// this and the fixture's own environment runs first does both, once.
class PluginEnv : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(0, grpcr_test::EnsureGrpcInitialized()); }
};

::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new PluginEnv);

ShellRun Cli(const std::string& args) {
  return Shell(ShellQuote(GRPCR_STATS_BIN) + " " + args);
}

// Whitespace-separated words of each line: the cells of a table whose cells
// hold no blanks (the headers aside).
std::vector<std::vector<std::string>> Words(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    lines.emplace_back();
    for (std::string w; words >> w;) lines.back().push_back(w);
  }
  return lines;
}

// A channel whose calls ended on two methods (as in stats_service_test.cc)
// and on a hedged one, and one whose calls have not ended yet.
class StatsCliMethodsTest : public ::testing::Test {
 protected:
  StatsCliMethodsTest()
      : name_(Unique("cli-methods")),
        idle_name_(name_ + "-idle"),
        entry_(name_, "dns:///echo:50051"),
        idle_(idle_name_, "dns:///idle") {
    constexpr int64_t kMs = 1000000;
    const std::string path = "/echo.Echo/Say", race_path = "/echo.Echo/Race";
    grpcr_method_stats* say =
        grpcr_stats_method(entry_.get(), path.data(), path.size());
    grpcr_method_stats* other = grpcr_stats_method(entry_.get(), nullptr, 0);
    grpcr_method_stats_on_final(say, 1, GRPC_STATUS_OK, 0);
    grpcr_method_stats_on_final(say, 3, GRPC_STATUS_OK, 15 * kMs);
    grpcr_method_stats_on_final(say, 7, GRPC_STATUS_UNAVAILABLE, 2500 * kMs);
    grpcr_method_stats_on_final(other, 0, GRPC_STATUS_UNAVAILABLE, 0);
    grpcr_method_stats_on_final(other, 2, GRPC_STATUS_OK, 300 * kMs);
    grpcr_method_stats_on_final(other, 1, 99, 0);
    // Race hedges: a call its first attempt answered (the hedge cancelled),
    // one its hedge won (the first attempt cancelled), one whose hedge the
    // budget refused; then 20 answers in 1..20 ms, and the p95 delay.
    grpcr_method_stats* race =
        grpcr_stats_method(entry_.get(), race_path.data(), race_path.size());
    for (int i = 0; i < 2; i++) {
      grpcr_method_stats_on_hedge(race);
      grpcr_method_stats_on_hedge_cancelled(race);
    }
    grpcr_method_stats_on_hedge_denied(race);
    grpcr_method_stats_on_hedged_final(race, 2, GRPC_STATUS_OK, 1);
    grpcr_method_stats_on_hedged_final(race, 2, GRPC_STATUS_OK, 2);
    grpcr_method_stats_on_hedged_final(race, 1, GRPC_STATUS_UNAVAILABLE, 1);
    const int64_t now = 100 * kSec;
    for (int i = 1; i <= 20; i++)
      grpcr_method_stats_on_hedged_ok(race, now, i * kMs);
    EXPECT_TRUE(
        grpcr_method_stats_latency_quantile(race, now, 0.95, 20, &delay_ns_));
    grpcr_stats_on_request(idle_.get());
  }

  std::string name_, idle_name_;
  Entry entry_, idle_;
  StandaloneServer server_;
  int64_t delay_ns_ = 0;  // Race's adaptive delay
};

TEST_F(StatsCliMethodsTest, ByMethodTableHasARowPerChannelAndMethod) {
  ShellRun r = Cli("--by-method --channel " + ShellQuote(name_) + " " +
                   server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  EXPECT_EQ("", r.err);
  auto lines = Words(r.out);
  ASSERT_EQ(4u, lines.size()) << r.out;
  EXPECT_EQ(0u, r.out.find("CHANNEL ")) << r.out;
  const std::string header = r.out.substr(0, r.out.find('\n'));
  size_t at = 0;
  for (const char* col : {"CHANNEL", "METHOD", "REQUESTS", "ATTEMPTS",
                          "RETRIES", "RETRIES/CALL", "NO TIME", "OK",
                          "NOT OK", "DELAY P50", "DELAY P99", "MEDIAN OK",
                          "HEDGES", "WON", "CANCELLED", "DENIED",
                          "HEDGE DELAY"}) {
    size_t p = header.find(col, at);
    EXPECT_NE(std::string::npos, p) << col << " in order in " << header;
    if (p != std::string::npos) at = p + strlen(col);
  }
  // other: 3 calls, 3 attempts, 1 retry; OK 1, not OK 2 (UNAVAILABLE and
  // UNKNOWN); one delay of 0.3 s, in (0.25, 0.5]: p50 0.375 s, p99
  // 0.4975 s. Say: 3 calls, 11 attempts, 8 retries; delays 15 ms (in
  // (0.01, 0.025]) and 2.5 s (in (1, 2.5]): p50 25 ms, p99 2.47 s. Race:
  // 3 calls, 5 attempts, no retries; 2 hedges, 1 won, 2 cancelled, 1
  // denied; its delay a log bucket's bound near 19 ms.
  EXPECT_EQ((std::vector<std::string>{name_, "other", "3", "3", "1", "0.33",
                                      "0", "1", "2", "375.0ms", "497.5ms",
                                      "-", "0", "0", "0", "0", "-"}),
            lines[1]) << r.out;
  EXPECT_EQ((std::vector<std::string>{name_, "/echo.Echo/Say", "3", "11", "8",
                                      "2.67", "0", "2", "1", "25.0ms",
                                      "2470ms", "-", "0", "0", "0", "0", "-"}),
            lines[2]) << r.out;
  ASSERT_GE(delay_ns_, 10 * 1000000);  // printed as "%.1fms" below 1 s
  ASSERT_LT(delay_ns_, 1000 * 1000000);
  char delay[32];
  snprintf(delay, sizeof(delay), "%.1fms", delay_ns_ / 1e6);
  EXPECT_EQ((std::vector<std::string>{name_, "/echo.Echo/Race", "3", "5", "0",
                                      "0.00", "0", "2", "1", "-", "-", "-",
                                      "2", "1", "2", "1", delay}),
            lines[3]) << r.out;
  // Columns line up: every row as wide as the header, but for the last
  // cell's own width (right-aligned, so all end together).
  std::istringstream in(r.out);
  std::vector<size_t> widths;
  for (std::string line; std::getline(in, line);) widths.push_back(line.size());
  EXPECT_EQ(widths[0], widths[1]) << r.out;
  EXPECT_EQ(widths[0], widths[2]) << r.out;
  EXPECT_EQ(widths[0], widths[3]) << r.out;
}

TEST_F(StatsCliMethodsTest, ByMethodShowsAChannelWithoutEndedCallsAsDashes) {
  ShellRun r = Cli("--table --by-method --channel " + ShellQuote(idle_name_) +
                   " " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  auto lines = Words(r.out);
  ASSERT_EQ(2u, lines.size()) << r.out;
  std::vector<std::string> want(17, "-");  // every column but the channel
  want[0] = idle_name_;
  EXPECT_EQ(want, lines[1]) << r.out;
}

TEST_F(StatsCliMethodsTest, ByMethodWithoutChannelsSaysSo) {
  ShellRun r = Cli("--by-method --channel no-such-channel " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  EXPECT_NE(std::string::npos, r.out.find("(no channels)")) << r.out;
}

TEST_F(StatsCliMethodsTest, JsonCarriesEveryMethodField) {
  if (!HaveCommand("python3")) GTEST_SKIP() << "python3 is not installed";
  ShellRun r = Cli("--json --channel " + ShellQuote(name_) + " " +
                   server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  std::string json = TempFile(r.out);
  // Every field of the three methods, buckets as (bound, count) pairs.
  const char* script =
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "c=d['channels'][0]\n"
      "print(len(c['methods']))\n"
      "for m in c['methods']:\n"
      "  print(sorted(m.keys()))\n"
      "  print(m['method'], m['requests'], m['attempts'], m['retries'])\n"
      "  print(len(m['status_counts']),"
      " [(s['code'], s['code_name'], s['count']) for s in m['status_counts']"
      " if s['count']])\n"
      "  h=m['retries_per_call']\n"
      "  print([(b['upper_bound'], b['count']) for b in h['buckets']],"
      " h['count'], h['sum'])\n"
      "  w=m['retry_delay']\n"
      "  print([(b['upper_bound_seconds'], b['count']) for b in w['buckets']"
      " if b['count']], len(w['buckets']), w['buckets'][-1]['upper_bound_seconds'])\n"
      "  print(w['count'], w['sum_seconds'], w['p50_seconds'], w['p99_seconds'])\n"
      "  g=m['hedges_per_call']\n"
      "  print(m['hedges'], m['hedges_won'], m['hedges_cancelled'],"
      " m['hedges_denied'], m['hedge_delay_seconds'], m['hedge_delay_samples'],"
      " [(b['upper_bound'], b['count']) for b in g['buckets']], g['count'],"
      " g['sum'])\n";
  ShellRun py = Shell("python3 -c " + ShellQuote(script) + " " + json);
  unlink(json.c_str());
  ASSERT_EQ(0, py.exit_code) << py.err << "\n" << r.out;
  // The quantiles exactly as the core interpolates them (Python prints the
  // shortest decimal that reads back, as the CLI writes it).
  const uint64_t say_delays[GRPCR_STATS_WAIT_BUCKETS] = {0, 0, 0, 0, 1, 0, 0, 0,
                                                         0, 0, 1, 0, 0, 0, 0, 0};
  char p99[32], delay[32];
  grpcr_text_format_double(p99, sizeof(p99),
                           grpcr_stats_wait_quantile(say_delays, 0.99));
  grpcr_text_format_double(delay, sizeof(delay), delay_ns_ / 1e9);
  const std::string keys =
      "['attempt_timeouts', 'attempts', 'hedge_delay_samples', "
      "'hedge_delay_seconds', 'hedges', 'hedges_cancelled', 'hedges_denied', "
      "'hedges_per_call', 'hedges_won', 'latency_samples', "
      "'median_attempt_seconds', 'method', "
      "'requests', 'retries', 'retries_per_call', 'retries_skipped_deadline', "
      "'retry_delay', 'status_counts']\n";
  const std::string bounds[3] = {
      "[(1, 1), (2, 0), (3, 0), (4, 0), (5, 0), (10, 0), (20, 0), (50, 0), "
      "(100, 0), ('Infinity', 0)]",
      "[(1, 0), (2, 1), (3, 0), (4, 0), (5, 0), (10, 1), (20, 0), (50, 0), "
      "(100, 0), ('Infinity', 0)]",
      "[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (10, 0), (20, 0), (50, 0), "
      "(100, 0), ('Infinity', 0)]"};
  const std::string no_hedges = "0 0 0 0 0 0 " + bounds[2] + " 0 0\n";
  EXPECT_EQ("3\n" + keys +
                "other 3 3 1\n"
                "17 [(0, 'OK', 1), (2, 'UNKNOWN', 1), (14, 'UNAVAILABLE', 1)]\n" +
                bounds[0] + " 1 1\n"
                "[(0.5, 1)] 16 Infinity\n"
                "1 0.3 0.375 0.4975\n" + no_hedges +
                keys +
                "/echo.Echo/Say 3 11 8\n"
                "17 [(0, 'OK', 2), (14, 'UNAVAILABLE', 1)]\n" +
                bounds[1] + " 2 8\n"
                "[(0.025, 1), (2.5, 1)] 16 Infinity\n"
                "2 2.515 0.025 " + p99 + "\n" + no_hedges +
                keys +
                "/echo.Echo/Race 3 5 0\n"
                "17 [(0, 'OK', 2), (14, 'UNAVAILABLE', 1)]\n" +
                bounds[2] + " 0 0\n"
                "[] 16 Infinity\n"
                "0 0 0 0\n"
                "2 1 2 1 " + delay + " 20 " +
                "[(1, 2), (2, 0), (3, 0), (4, 0), (5, 0), (10, 0), (20, 0), "
                "(50, 0), (100, 0), ('Infinity', 0)] 2 2\n",
            py.out) << r.out;
}

// Through the filter: a channel whose service config names /echo.Echo/Say.
// Three Say calls, the first retried twice; two calls of a method the
// config does not name, which count as "other".
TEST(StatsCliEndToEndTest, ByMethodShowsTheNamedMethodAndTheRestAsOther) {
  StandaloneServer stats;
  grpcr_test::ScriptedServer server;
  server.Script({grpcr_test::Fail(GRPC_STATUS_UNAVAILABLE),
                 grpcr_test::Fail(GRPC_STATUS_UNAVAILABLE)});
  const std::string name = Unique("cli-e2e");
  grpc_arg arg = grpcr_test::StringArg(GRPCR_ARG_NAME, name.c_str());
  grpcr_test::RetrySpec spec;
  spec.initial_backoff = "0.01s";
  spec.max_backoff = "0.01s";  // JITTER NONE: each wait is 10 ms
  grpcr_test::ChannelPtr ch(grpcr_test::MakeChannel(
      server.address(), grpcr_test::ServiceConfig(spec), {arg}));
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(GRPC_STATUS_OK,
              grpcr_test::UnaryCall(ch.get(), "/echo.Echo/Say", "a", 5000).status);
  server.SetDefault(grpcr_test::Fail(GRPC_STATUS_NOT_FOUND));
  for (int i = 0; i < 2; i++)
    EXPECT_EQ(GRPC_STATUS_NOT_FOUND,
              grpcr_test::UnaryCall(ch.get(), "/echo.Echo/Shout", "b", 5000).status);

  ShellRun r = Cli("--by-method --channel " + ShellQuote(name) + " " +
                   stats.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  auto lines = Words(r.out);
  ASSERT_EQ(3u, lines.size()) << r.out;
  // "other" is the channel's first entry. Say's one retried call waited
  // 10 ms twice: one delay of 20 ms, in (0.01, 0.025], printed as the CLI
  // prints milliseconds from 10 to 1000.
  const uint64_t delays[GRPCR_STATS_WAIT_BUCKETS] = {0, 0, 0, 0, 1};
  char p50[32], p99[32];
  snprintf(p50, sizeof(p50), "%.1fms",
           grpcr_stats_wait_quantile(delays, 0.5) * 1000);
  snprintf(p99, sizeof(p99), "%.1fms",
           grpcr_stats_wait_quantile(delays, 0.99) * 1000);
  EXPECT_STREQ("17.5ms", p50);
  // No method hedges: 0 hedges and no delay.
  EXPECT_EQ((std::vector<std::string>{name, "other", "2", "2", "0", "0.00", "0",
                                      "0", "2", "-", "-", "-", "0", "0", "0",
                                      "0", "-"}),
            lines[1]) << r.out;
  // Fewer than 10 successful attempts: no median yet.
  EXPECT_EQ((std::vector<std::string>{name, "/echo.Echo/Say", "3", "5", "2",
                                      "0.67", "0", "3", "0", p50, p99, "-",
                                      "0", "0", "0", "0", "-"}),
            lines[2]) << r.out;

  if (!HaveCommand("python3")) GTEST_SKIP() << "python3 is not installed";
  r = Cli("--json --channel " + ShellQuote(name) + " " + stats.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  std::string json = TempFile(r.out);
  ShellRun py = Shell(
      "python3 -c " +
      ShellQuote("import json,sys\n"
                 "c=json.load(open(sys.argv[1]))['channels'][0]\n"
                 "for m in c['methods']:\n"
                 "  h=m['retries_per_call']; d=m['retry_delay']\n"
                 "  print(m['method'], m['requests'], m['attempts'], m['retries'],"
                 " [(s['code_name'], s['count']) for s in m['status_counts']"
                 " if s['count']], [b['count'] for b in h['buckets']], h['count'],"
                 " h['sum'], [b['count'] for b in d['buckets']][:6], d['count'],"
                 " d['sum_seconds'])\n") +
      " " + json);
  unlink(json.c_str());
  ASSERT_EQ(0, py.exit_code) << py.err << "\n" << r.out;
  EXPECT_EQ("other 2 2 0 [('NOT_FOUND', 2)] [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] "
            "0 0 [0, 0, 0, 0, 0, 0] 0 0\n"
            "/echo.Echo/Say 3 5 2 [('OK', 3)] [0, 1, 0, 0, 0, 0, 0, 0, 0, 0] "
            "1 2 [0, 0, 0, 0, 1, 0] 1 0.02\n",
            py.out) << r.out;
}

}  // namespace
