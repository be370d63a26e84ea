// The grpcr-stats tool (GRPCR_STATS_BIN, the binary of this build) against
// a standalone stats server in this process: each output format with exact
// counters per channel, scripted into the registry, and the exit codes and
// error lines operators script against. Per method (--by-method, --json):
// stats_cli_methods_test.cc.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "stats_test_util.h"
#include "support/fixture.h"

#ifndef GRPCR_STATS_BIN
#error "GRPCR_STATS_BIN must name the grpcr-stats binary (set by CMake)"
#endif

namespace {

using namespace grpcr_stats_test;

// The plugin registered before gRPC starts (grpcr_register must come
// first), as in stats_cli_methods_test.cc, so that a channel made here has
// the filter. Whichever of this and the fixture's own environment runs
// first does both, once.
class PluginEnv : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(0, grpcr_test::EnsureGrpcInitialized()); }
};

::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new PluginEnv);

ShellRun Cli(const std::string& args) {
  return Shell(ShellQuote(GRPCR_STATS_BIN) + " " + args);
}

size_t CountLines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A scripted channel with every kind of counter, a breaker driven OPEN and
// a budget: built as in stats_service_test.cc.
class StatsCliTest : public ::testing::Test {
 protected:
  StatsCliTest() : name_(Unique("cli")), entry_(name_, "dns:///backend:50051") {
    grpcr_channel_stats* s = entry_.get();
    for (int i = 0; i < 7; i++) grpcr_stats_on_request(s);
    grpcr_stats_on_rejected(s);
    for (int i = 0; i < 6; i++) grpcr_stats_on_attempt(s, 1);
    grpcr_stats_on_retry(s, 40000000);  // 0.04 s
    grpcr_stats_on_attempt(s, 2);
    grpcr_stats_on_retry(s, 40000000);
    grpcr_stats_on_attempt(s, 3);
    grpcr_stats_on_hedge(s);  // a hedged call's second attempt
    grpcr_stats_on_attempt(s, 2);
    grpcr_stats_on_budget_denied(s);
    for (int i = 0; i < 4; i++) grpcr_stats_on_final(s, GRPC_STATUS_OK);
    for (int i = 0; i < 3; i++) grpcr_stats_on_final(s, GRPC_STATUS_UNAVAILABLE);
    for (int i = 0; i < 2; i++) grpcr_stats_on_local_error(s);
    grpcr_stats_on_committed_too_large(s);
    for (int i = 0; i < 3; i++) grpcr_stats_on_config_update(s);

    const int64_t t0 = grpcr_internal_now_ns() + 3600 * kSec;
    grpcr_breaker_config bc = grpcr_breaker_config_default();
    bc.open_duration_jitter = 0;  // an exact 30 s open period
    bc.minimum_calls = 1;
    bc.open_duration_ns = 30 * kSec;
    grpcr_breaker* b = grpcr_breaker_create(&bc, t0);
    grpcr_breaker_ticket t;
    // A call without a verdict (cancelled), then one that trips it.
    EXPECT_TRUE(grpcr_breaker_try_acquire(b, t0, &t, nullptr));
    grpcr_breaker_record_outcome(b, &t, GRPC_STATUS_CANCELLED,
                                 GRPCR_ORIGIN_CANCELLED, t0, nullptr);
    EXPECT_TRUE(grpcr_breaker_try_acquire(b, t0, &t, nullptr));
    grpcr_breaker_record(b, &t, GRPC_STATUS_UNAVAILABLE, t0, nullptr);
    EXPECT_FALSE(grpcr_breaker_try_acquire(b, t0 + 4 * kSec, &t, nullptr));
    grpcr_budget_config gc = {0.5, 0.0, 10 * kSec};
    grpcr_budget* g = grpcr_budget_create(&gc, t0);
    for (int i = 0; i < 8; i++) grpcr_budget_on_request(g, t0);
    EXPECT_TRUE(grpcr_budget_try_retry(g, t0));
    entry_.Attach(b, g);
  }

  std::string name_;
  Entry entry_;
  StandaloneServer server_;
};

TEST_F(StatsCliTest, DefaultTableHasAHeaderAndARowForTheChannel) {
  ShellRun r = Cli("--channel " + ShellQuote(name_) + " " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  EXPECT_EQ("", r.err);
  ASSERT_EQ(2u, CountLines(r.out)) << r.out;
  EXPECT_EQ(0u, r.out.find("CHANNEL ")) << r.out;
  for (const char* col : {"TARGET", "BREAKER", "IN STATE", "REQUESTS",
                          "ATTEMPTS", "RETRIES", "HEDGES", "DENIED",
                          "REJECTED", "LOCAL", "SENT ONCE", "UPDATES",
                          "NO VERDICT", "BUDGET", "WAIT P50", "WAIT P99",
                          "STATUS"})
    EXPECT_NE(std::string::npos, r.out.find(col)) << col;
  std::string row = r.out.substr(r.out.find('\n') + 1);
  EXPECT_EQ(0u, row.find(name_ + " ")) << row;
  for (const char* cell : {"dns:///backend:50051", "OPEN", "4.0s", " 7 ",
                           " 9 ", " 2 ", " 1 ", " 3 ", "25.0%", "37.5ms",
                           "OK=4 UNAVAILABLE=3"})
    EXPECT_NE(std::string::npos, row.find(cell)) << cell << " in " << row;
}

TEST_F(StatsCliTest, TableWithoutChannelsSaysSo) {
  ShellRun r = Cli("--table --channel no-such-channel " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  EXPECT_NE(std::string::npos, r.out.find("(no channels)")) << r.out;
}

TEST_F(StatsCliTest, JsonParsesAndCarriesExactCounters) {
  if (!HaveCommand("python3")) GTEST_SKIP() << "python3 is not installed";
  ShellRun r = Cli("--json --channel " + ShellQuote(name_) + " " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  std::string json = TempFile(r.out);
  // Prints the fields the test pins down, one per line.
  const char* script =
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "c=d['channels'][0]\n"
      "print(len(d['channels']), c['name'], c['target'])\n"
      "print(c['requests'], c['attempts'], c['retries'], c['hedges'],"
      " c['budget_denied'], c['breaker_rejected'], c['finished'])\n"
      "print(c['local_errors'], c['committed_too_large'], c['config_updates'])\n"
      "print(c['attempts_by_number'])\n"
      "b=c['breaker']\n"
      "print(b['state'], b['time_in_state_seconds'], b['opened_total'],"
      " b['rejected_total'], b['open_duration_seconds'])\n"
      "print(b['no_verdict_total'], b['probes_freed_total'],"
      " b['probes_expired_total'], b['probes_in_flight'],"
      " b['probe_timeout_seconds'], b['reconfigured_total'])\n"
      "g=c['budget']\n"
      "print(g['utilization'], g['requests_in_window'], g['retries_in_window'],"
      " g['reconfigured_total'])\n"
      "w=c['retry_wait']\n"
      "print(w['count'], w['buckets'][5], w['buckets'][-1])\n"
      "print([(s['code_name'], s['count']) for s in c['status_counts'] if s['count']])\n"
      "print(len(c['status_counts']), d['collected_at_unix_ms'] > 0)\n";
  ShellRun py = Shell("python3 -c " + ShellQuote(script) + " " + json);
  unlink(json.c_str());
  ASSERT_EQ(0, py.exit_code) << py.err << "\n" << r.out;
  EXPECT_EQ("1 " + name_ + " dns:///backend:50051\n"
            "7 9 3 1 1 1 7\n"
            "2 1 3\n"
            "[6, 2, 1, 0, 0, 0, 0, 0, 0, 0]\n"
            "OPEN 4 1 1 30\n"
            "1 0 0 0 10 0\n"
            "0.25 8 1 0\n"
            "2 {'upper_bound_seconds': 0.05, 'count': 2} "
            "{'upper_bound_seconds': 'Infinity', 'count': 0}\n"
            "[('OK', 4), ('UNAVAILABLE', 3)]\n"
            "17 True\n",
            py.out);
}

TEST_F(StatsCliTest, JsonEscapesAwkwardNames) {
  if (!HaveCommand("python3")) GTEST_SKIP() << "python3 is not installed";
  // Quote, backslash, newline, tab, a control byte, UTF-8, invalid UTF-8.
  const std::string awkward = Unique("we\"ird\\na\nme\t\x01-\xc3\xa9-\xff");
  Entry e(awkward, "t");
  ShellRun r = Cli("--json " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  std::string json = TempFile(r.out);
  ShellRun py = Shell(
      "python3 -c " +
      ShellQuote("import json,sys\n"
                 "d=json.load(open(sys.argv[1], encoding='utf-8'))\n"
                 "print([ascii(c['name']) for c in d['channels'] "
                 "if c['target']=='t'][0])\n") +
      " " + json);
  unlink(json.c_str());
  ASSERT_EQ(0, py.exit_code) << py.err;
  std::string want = awkward;
  // Python's ascii() of the name with the invalid byte as U+FFFD.
  std::string tail = want.substr(want.rfind('-'));  // "-<n>"
  EXPECT_EQ(std::string("'we\"ird\\\\na\\nme\\t\\x01-\\xe9-\\ufffd") + tail +
                "'\n",
            py.out);
}

TEST_F(StatsCliTest, PrometheusPassesPromtoolAndHasExactSeries) {
  // Label values need escaping.
  const std::string awkward = Unique("p\"r\\o\nm");
  Entry odd(awkward, "x");
  ShellRun r = Cli("--prometheus " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  const std::string& m = r.out;
  const std::string l =
      "{channel=\"" + name_ + "\",target=\"dns:///backend:50051\"";
  for (const std::string& line : std::vector<std::string>{
           "# TYPE grpcr_requests_total counter",
           "grpcr_requests_total" + l + "} 7",
           "grpcr_attempts_total" + l + "} 9",
           "grpcr_retry_attempts_total" + l + ",attempt=\"1\"} 6",
           "grpcr_retry_attempts_total" + l + ",attempt=\"10+\"} 0",
           "grpcr_retries_total" + l + "} 3",
           "grpcr_hedges_total" + l + "} 1",
           "grpcr_retry_budget_denied_total" + l + "} 1",
           "# TYPE grpcr_retry_budget_utilization gauge",
           "grpcr_retry_budget_utilization" + l + "} 0.25",
           "# TYPE grpcr_retry_wait_duration_seconds histogram",
           "grpcr_retry_wait_duration_seconds_bucket" + l + ",le=\"0.025\"} 0",
           "grpcr_retry_wait_duration_seconds_bucket" + l + ",le=\"0.05\"} 2",
           "grpcr_retry_wait_duration_seconds_bucket" + l + ",le=\"+Inf\"} 2",
           "grpcr_retry_wait_duration_seconds_sum" + l + "} 0.08",
           "grpcr_retry_wait_duration_seconds_count" + l + "} 2",
           "grpcr_circuit_breaker_state" + l + "} 1",
           "grpcr_circuit_breaker_open_duration_seconds" + l + "} 30",
           "grpcr_circuit_breaker_open_seconds_total" + l + "} 4",
           "grpcr_circuit_breaker_rejected_calls_total" + l + "} 1",
           "grpcr_circuit_breaker_transitions_total" + l + "} 1",
           "grpcr_circuit_breaker_no_verdict_total" + l + "} 1",
           "grpcr_circuit_breaker_probes_freed_total" + l + "} 0",
           "grpcr_circuit_breaker_probes_expired_total" + l + "} 0",
           "grpcr_circuit_breaker_probes_in_flight" + l + "} 0",
           "grpcr_local_errors_total" + l + "} 2",
           "grpcr_committed_too_large_total" + l + "} 1",
           "grpcr_config_updates_total" + l + "} 3",
           "grpcr_calls_total" + l + ",code=\"OK\"} 4",
           "grpcr_calls_total" + l + ",code=\"UNAVAILABLE\"} 3",
           "grpcr_calls_total" + l + ",code=\"DATA_LOSS\"} 0",
           // Escaped: \" \\ \n.
           "grpcr_requests_total{channel=\"p\\\"r\\\\o\\nm" +
               awkward.substr(awkward.rfind('-')) + "\",target=\"x\"} 0",
       })
    EXPECT_NE(std::string::npos, m.find(line + "\n")) << line << "\n" << m;
  // Only channels with a breaker have breaker gauges.
  EXPECT_EQ(std::string::npos,
            m.find("grpcr_circuit_breaker_state{channel=\"p"));

  if (!HaveCommand("promtool"))
    GTEST_SKIP() << "promtool is not installed (.ci/run installs it)";
  ShellRun check = PromtoolCheckMetrics(m);
  EXPECT_EQ(0, check.exit_code) << check.out << check.err;
}

TEST_F(StatsCliTest, PrometheusTellsApartChannelsWithTheSameNameAndTarget) {
  // Duplicate series would make Prometheus reject the whole scrape.
  const std::string twin = Unique("twin");
  Entry a(twin, "dns:///same");
  Entry b(twin, "dns:///same");
  grpcr_stats_on_request(a.get());
  ShellRun r = Cli("--prometheus --channel " + twin + " " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  const std::string first = "grpcr_requests_total{channel=\"" + twin +
                            "\",target=\"dns:///same\"} ";
  const std::string second = "grpcr_requests_total{channel=\"" + twin +
                             "#2\",target=\"dns:///same\"} ";
  ASSERT_NE(std::string::npos, r.out.find(first)) << r.out;
  ASSERT_NE(std::string::npos, r.out.find(second)) << r.out;
  int total = std::stoi(r.out.substr(r.out.find(first) + first.size())) +
              std::stoi(r.out.substr(r.out.find(second) + second.size()));
  EXPECT_EQ(1, total);
  if (!HaveCommand("promtool"))
    GTEST_SKIP() << "promtool is not installed (.ci/run installs it)";
  ShellRun check = PromtoolCheckMetrics(r.out);
  EXPECT_EQ(0, check.exit_code) << check.out << check.err;
}

TEST_F(StatsCliTest, WatchRefreshesUntilSigintAndExitsZero) {
  if (!HaveCommand("timeout")) GTEST_SKIP() << "timeout is not installed";
  ShellRun r = Shell("timeout --preserve-status -s INT 1.5 " +
                ShellQuote(GRPCR_STATS_BIN) + " --watch 0.2 --channel " +
                ShellQuote(name_) + " " + server_.addr());
  EXPECT_EQ(0, r.exit_code) << r.err;
  // Not a terminal: snapshots follow each other without escape codes.
  size_t headers = 0;
  for (size_t p = r.out.find("CHANNEL "); p != std::string::npos;
       p = r.out.find("CHANNEL ", p + 1))
    headers++;
  EXPECT_GE(headers, 3u) << r.out;
  EXPECT_EQ(std::string::npos, r.out.find('\033'));
}

// ---- failures ---------------------------------------------------------------

TEST(StatsCliErrorTest, UnreachableAddressIsExitTwoWithOneLine) {
  // A port nothing listens on: bound by a server we then stop.
  std::string addr;
  {
    StandaloneServer s;
    addr = s.addr();
  }
  ShellRun r = Cli(addr);
  EXPECT_EQ(2, r.exit_code);
  EXPECT_EQ("", r.out);
  EXPECT_EQ(1u, CountLines(r.err)) << r.err;
  EXPECT_EQ(0u, r.err.find("grpcr-stats: cannot reach " + addr + ": UNAVAILABLE ("))
      << r.err;
}

TEST(StatsCliErrorTest, ServerWithoutTheServiceIsExitTwo) {
  AppServer app(/*with_stats=*/false);
  ShellRun r = Cli("--json " + app.addr());
  EXPECT_EQ(2, r.exit_code);
  EXPECT_EQ("", r.out);
  EXPECT_EQ(1u, CountLines(r.err)) << r.err;
  EXPECT_NE(std::string::npos,
            r.err.find("does not serve grpcr.v1.ResilienceStats: UNIMPLEMENTED"))
      << r.err;
}

TEST(StatsCliErrorTest, TimeoutIsExitTwo) {
  // A listener that accepts and never speaks HTTP/2.
  ShellRun r = Shell(
      "python3 -c " +
      ShellQuote("import socket,subprocess,sys\n"
                 "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(8)\n"
                 "p=subprocess.run([sys.argv[1],'--timeout-ms','300',"
                 "'127.0.0.1:%d' % s.getsockname()[1]],"
                 "stdout=subprocess.PIPE,stderr=subprocess.PIPE)\n"
                 "sys.stderr.write(p.stderr.decode())\n"
                 "sys.exit(p.returncode)\n") +
      " " + ShellQuote(GRPCR_STATS_BIN));
  EXPECT_EQ(2, r.exit_code) << r.err;
  EXPECT_EQ(1u, CountLines(r.err)) << r.err;
  EXPECT_NE(std::string::npos, r.err.find("DEADLINE_EXCEEDED")) << r.err;
}

TEST(StatsCliErrorTest, UsageErrorsAreExit64WithUsage) {
  for (const char* args :
       {"", "--bogus 127.0.0.1:1", "--watch", "--watch 0 127.0.0.1:1",
        "--watch x 127.0.0.1:1", "--timeout-ms -5 127.0.0.1:1",
        "--json --prometheus 127.0.0.1:1", "a:1 b:2",
        "--by-method --json 127.0.0.1:1", "--prometheus --by-method 127.0.0.1:1"}) {
    ShellRun r = Cli(args);
    EXPECT_EQ(64, r.exit_code) << args;
    EXPECT_EQ(0u, r.err.find("grpcr-stats: ")) << args << ": " << r.err;
    EXPECT_NE(std::string::npos, r.err.find("usage: grpcr-stats")) << args;
    EXPECT_EQ("", r.out) << args;
  }
}

TEST(StatsCliErrorTest, HelpIsExitZeroOnStdout) {
  ShellRun r = Cli("--help");
  EXPECT_EQ(0, r.exit_code);
  EXPECT_EQ(0u, r.out.find("usage: grpcr-stats")) << r.out;
  EXPECT_NE(std::string::npos, r.out.find("--by-method")) << r.out;
  EXPECT_EQ("", r.err);
}

}  // namespace
