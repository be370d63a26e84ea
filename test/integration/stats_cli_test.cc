// The grpcr-stats tool (GRPCR_STATS_BIN, the binary of this build) against
// a standalone stats server in this process: each output format with exact
// counters, per channel and (--by-method, --json) per method, scripted into
// the registry and once through the filter itself, and the exit codes and
// error lines operators script against.
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
                          "ATTEMPTS", "RETRIES", "DENIED", "REJECTED", "LOCAL",
                          "SENT ONCE", "UPDATES", "NO VERDICT", "BUDGET",
                          "WAIT P50", "WAIT P99", "STATUS"})
    EXPECT_NE(std::string::npos, r.out.find(col)) << col;
  std::string row = r.out.substr(r.out.find('\n') + 1);
  EXPECT_EQ(0u, row.find(name_ + " ")) << row;
  for (const char* cell : {"dns:///backend:50051", "OPEN", "4.0s", " 7 ",
                           " 8 ", " 2 ", " 1 ", " 3 ", "25.0%", "37.5ms",
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
      "print(c['requests'], c['attempts'], c['retries'], c['budget_denied'],"
      " c['breaker_rejected'], c['finished'])\n"
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
            "7 8 2 1 1 7\n"
            "2 1 3\n"
            "[6, 1, 1, 0, 0, 0, 0, 0, 0, 0]\n"
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
           "grpcr_attempts_total" + l + "} 8",
           "grpcr_retry_attempts_total" + l + ",attempt=\"1\"} 6",
           "grpcr_retry_attempts_total" + l + ",attempt=\"10+\"} 0",
           "grpcr_retries_total" + l + "} 2",
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

// ---- per method ---------------------------------------------------------------

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

// A channel whose calls ended on two methods (as in stats_service_test.cc),
// and one whose calls have not ended yet.
class StatsCliMethodsTest : public ::testing::Test {
 protected:
  StatsCliMethodsTest()
      : name_(Unique("cli-methods")),
        idle_name_(name_ + "-idle"),
        entry_(name_, "dns:///echo:50051"),
        idle_(idle_name_, "dns:///idle") {
    constexpr int64_t kMs = 1000000;
    const std::string path = "/echo.Echo/Say";
    grpcr_method_stats* say =
        grpcr_stats_method(entry_.get(), path.data(), path.size());
    grpcr_method_stats* other = grpcr_stats_method(entry_.get(), nullptr, 0);
    grpcr_method_stats_on_final(say, 1, GRPC_STATUS_OK, 0);
    grpcr_method_stats_on_final(say, 3, GRPC_STATUS_OK, 15 * kMs);
    grpcr_method_stats_on_final(say, 7, GRPC_STATUS_UNAVAILABLE, 2500 * kMs);
    grpcr_method_stats_on_final(other, 0, GRPC_STATUS_UNAVAILABLE, 0);
    grpcr_method_stats_on_final(other, 2, GRPC_STATUS_OK, 300 * kMs);
    grpcr_method_stats_on_final(other, 1, 99, 0);
    grpcr_stats_on_request(idle_.get());
  }

  std::string name_, idle_name_;
  Entry entry_, idle_;
  StandaloneServer server_;
};

TEST_F(StatsCliMethodsTest, ByMethodTableHasARowPerChannelAndMethod) {
  ShellRun r = Cli("--by-method --channel " + ShellQuote(name_) + " " +
                   server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  EXPECT_EQ("", r.err);
  auto lines = Words(r.out);
  ASSERT_EQ(3u, lines.size()) << r.out;
  EXPECT_EQ(0u, r.out.find("CHANNEL ")) << r.out;
  const std::string header = r.out.substr(0, r.out.find('\n'));
  size_t at = 0;
  for (const char* col : {"CHANNEL", "METHOD", "REQUESTS", "ATTEMPTS",
                          "RETRIES", "RETRIES/CALL", "NO TIME", "OK",
                          "NOT OK", "DELAY P50", "DELAY P99", "MEDIAN OK"}) {
    size_t p = header.find(col, at);
    EXPECT_NE(std::string::npos, p) << col << " in order in " << header;
    if (p != std::string::npos) at = p + strlen(col);
  }
  // other: 3 calls, 3 attempts, 1 retry; OK 1, not OK 2 (UNAVAILABLE and
  // UNKNOWN); one delay of 0.3 s, in (0.25, 0.5]: p50 0.375 s, p99
  // 0.4975 s. Say: 3 calls, 11 attempts, 8 retries; delays 15 ms (in
  // (0.01, 0.025]) and 2.5 s (in (1, 2.5]): p50 25 ms, p99 2.47 s.
  EXPECT_EQ((std::vector<std::string>{name_, "other", "3", "3", "1", "0.33",
                                      "0", "1", "2", "375.0ms", "497.5ms",
                                      "-"}),
            lines[1]) << r.out;
  EXPECT_EQ((std::vector<std::string>{name_, "/echo.Echo/Say", "3", "11", "8",
                                      "2.67", "0", "2", "1", "25.0ms",
                                      "2470ms", "-"}),
            lines[2]) << r.out;
  // Columns line up: every row as wide as the header, but for the last
  // cell's own width (right-aligned, so all end together).
  std::istringstream in(r.out);
  std::vector<size_t> widths;
  for (std::string line; std::getline(in, line);) widths.push_back(line.size());
  EXPECT_EQ(widths[0], widths[1]) << r.out;
  EXPECT_EQ(widths[0], widths[2]) << r.out;
}

TEST_F(StatsCliMethodsTest, ByMethodShowsAChannelWithoutEndedCallsAsDashes) {
  ShellRun r = Cli("--table --by-method --channel " + ShellQuote(idle_name_) +
                   " " + server_.addr());
  ASSERT_EQ(0, r.exit_code) << r.err;
  auto lines = Words(r.out);
  ASSERT_EQ(2u, lines.size()) << r.out;
  EXPECT_EQ((std::vector<std::string>{idle_name_, "-", "-", "-", "-", "-",
                                      "-", "-", "-", "-", "-", "-"}),
            lines[1]) << r.out;
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
  // Every field of both methods, buckets as (bound, count) pairs.
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
      "  print(w['count'], w['sum_seconds'], w['p50_seconds'], w['p99_seconds'])\n";
  ShellRun py = Shell("python3 -c " + ShellQuote(script) + " " + json);
  unlink(json.c_str());
  ASSERT_EQ(0, py.exit_code) << py.err << "\n" << r.out;
  // The quantiles exactly as the core interpolates them (Python prints the
  // shortest decimal that reads back, as the CLI writes it).
  const uint64_t say_delays[GRPCR_STATS_WAIT_BUCKETS] = {0, 0, 0, 0, 1, 0, 0, 0,
                                                         0, 0, 1, 0, 0, 0, 0, 0};
  char p99[32];
  grpcr_text_format_double(p99, sizeof(p99),
                           grpcr_stats_wait_quantile(say_delays, 0.99));
  const std::string keys =
      "['attempt_timeouts', 'attempts', 'latency_samples', "
      "'median_attempt_seconds', 'method', "
      "'requests', 'retries', 'retries_per_call', 'retries_skipped_deadline', "
      "'retry_delay', 'status_counts']\n";
  const std::string bounds[2] = {
      "[(1, 1), (2, 0), (3, 0), (4, 0), (5, 0), (10, 0), (20, 0), (50, 0), "
      "(100, 0), ('Infinity', 0)]",
      "[(1, 0), (2, 1), (3, 0), (4, 0), (5, 0), (10, 1), (20, 0), (50, 0), "
      "(100, 0), ('Infinity', 0)]"};
  EXPECT_EQ("2\n" + keys +
                "other 3 3 1\n"
                "17 [(0, 'OK', 1), (2, 'UNKNOWN', 1), (14, 'UNAVAILABLE', 1)]\n" +
                bounds[0] + " 1 1\n"
                "[(0.5, 1)] 16 Infinity\n"
                "1 0.3 0.375 0.4975\n" +
                keys +
                "/echo.Echo/Say 3 11 8\n"
                "17 [(0, 'OK', 2), (14, 'UNAVAILABLE', 1)]\n" +
                bounds[1] + " 2 8\n"
                "[(0.025, 1), (2.5, 1)] 16 Infinity\n"
                "2 2.515 0.025 " + p99 + "\n",
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
  EXPECT_EQ((std::vector<std::string>{name, "other", "2", "2", "0", "0.00", "0",
                                      "0", "2", "-", "-", "-"}),
            lines[1]) << r.out;
  // Fewer than 10 successful attempts: no median yet.
  EXPECT_EQ((std::vector<std::string>{name, "/echo.Echo/Say", "3", "5", "2",
                                      "0.67", "0", "3", "0", p50, p99, "-"}),
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
